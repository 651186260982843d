/*
 * RFC 6223: the Via "keep" parameter, negotiated like Flow-Timer.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include "keepalive_int.h"

/* The longest interval an endpoint keeps (65535 steps of 100 ms). */
#define MAX_SECONDS 6553u

int sipflow_keep_parse(const char *value, size_t len, int *has_value,
                       uint32_t *seconds) {
  uint64_t v = 0;
  if (!has_value || !seconds || (!value && len))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *has_value = 0;
  *seconds = 0;
  if (len == 0)
    return 0; /* a bare "keep" */
  for (size_t i = 0; i < len; i++) {
    if (value[i] < '0' || value[i] > '9')
      return SIPFLOW_ERR_MALFORMED;
    v = v * 10 + (uint64_t)(value[i] - '0');
    if (v > UINT32_MAX)
      return SIPFLOW_ERR_TOO_LARGE;
  }
  *has_value = 1;
  *seconds = (uint32_t)v;
  return 0;
}

int sipflow_keep_response_value(int request_has_keep, int willing,
                                uint32_t interval_seconds,
                                uint32_t flow_timer_seconds, uint32_t *value) {
  if (!value)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!request_has_keep || !willing)
    return 0;
  /* RFC 6223 §5: with Flow-Timer in the same message the two MUST match. */
  *value = flow_timer_seconds ? flow_timer_seconds : interval_seconds;
  return 1;
}

sipflow_duration sipflow_keep_interval(uint32_t seconds, int transport) {
  if (seconds == 0)
    seconds = sipflow_transport_is_stream(transport) ? 120 : 29;
  if (seconds > MAX_SECONDS)
    seconds = MAX_SECONDS;
  return (sipflow_duration)seconds * SIPFLOW_SECONDS;
}
