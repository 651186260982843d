/*
 * Time helpers.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include "sipflow_int.h"

uint64_t sipflow_ms_until(sipflow_tstamp deadline, sipflow_tstamp now) {
  sipflow_duration d;
  if (deadline == SIPFLOW_TSTAMP_NONE)
    return UINT64_MAX;
  if (deadline <= now)
    return 0;
  d = deadline - now;
  return d / SIPFLOW_MILLISECONDS + (d % SIPFLOW_MILLISECONDS != 0);
}

uint64_t sipflow_ns_until_armed(sipflow_tstamp deadline, sipflow_tstamp now) {
  if (deadline == SIPFLOW_TSTAMP_NONE)
    return UINT64_MAX;
  return deadline > now ? deadline - now : 1;
}
