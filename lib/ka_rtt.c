/*
 * Round-trip figures of an endpoint: the latest sample, RFC 6298's smoothed
 * RTT and variation, minimum and maximum, in microseconds packed in 24 bits.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include "keepalive_int.h"

uint32_t sipflow__ka_rtt_get(const sipflow__ka_ep *e, int which) {
  const uint8_t *p = e->rtt[which];
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static void put(sipflow__ka_ep *e, int which, uint32_t v) {
  uint8_t *p = e->rtt[which];
  if (v > SIPFLOW__KA_RTT_CAP)
    v = SIPFLOW__KA_RTT_CAP;
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
}

void sipflow__ka_rtt_reset(sipflow__ka_ep *e) {
  for (int i = 0; i < SIPFLOW__KA_RTT_N; i++)
    put(e, i, 0);
  e->flags &= (uint8_t)~SIPFLOW__KA_F_RTT;
}

/* RFC 6298 §2: the first sample sets SRTT = R and RTTVAR = R/2; later ones
 * update RTTVAR first, from the old SRTT, with beta 1/4, then SRTT with
 * alpha 1/8. Integer microseconds, rounding down. */
void sipflow__ka_rtt_sample(sipflow__ka_ep *e, sipflow_duration rtt) {
  uint64_t us = rtt / SIPFLOW_MICROSECONDS;
  uint32_t r = us > SIPFLOW__KA_RTT_CAP ? SIPFLOW__KA_RTT_CAP : (uint32_t)us;
  put(e, SIPFLOW__KA_RTT_LAST, r);
  if (!(e->flags & SIPFLOW__KA_F_RTT)) {
    put(e, SIPFLOW__KA_RTT_SRTT, r);
    put(e, SIPFLOW__KA_RTT_VAR, r / 2);
    put(e, SIPFLOW__KA_RTT_MIN, r);
    put(e, SIPFLOW__KA_RTT_MAX, r);
    e->flags |= SIPFLOW__KA_F_RTT;
    return;
  }
  uint32_t srtt = sipflow__ka_rtt_get(e, SIPFLOW__KA_RTT_SRTT);
  uint32_t var = sipflow__ka_rtt_get(e, SIPFLOW__KA_RTT_VAR);
  uint32_t delta = srtt > r ? srtt - r : r - srtt;
  put(e, SIPFLOW__KA_RTT_VAR, (uint32_t)(((uint64_t)var * 3 + delta) / 4));
  put(e, SIPFLOW__KA_RTT_SRTT, (uint32_t)(((uint64_t)srtt * 7 + r) / 8));
  if (r < sipflow__ka_rtt_get(e, SIPFLOW__KA_RTT_MIN))
    put(e, SIPFLOW__KA_RTT_MIN, r);
  if (r > sipflow__ka_rtt_get(e, SIPFLOW__KA_RTT_MAX))
    put(e, SIPFLOW__KA_RTT_MAX, r);
}
