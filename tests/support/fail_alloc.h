/*
 * A sipflow_mem for tests: counts live allocations and bytes, and can fail
 * the Nth allocation (an out-of-memory sweep, as nghttp2's failmalloc).
 */
#ifndef SIPFLOW_TEST_FAIL_ALLOC_H
#define SIPFLOW_TEST_FAIL_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "sipflow/common.h"

typedef struct fail_alloc {
  sipflow_mem mem;  /* hand &fa.mem to the library */
  uint64_t calls;   /* allocations attempted so far */
  uint64_t fail_at; /* 1-based attempt to fail; 0 = never */
  int fail_after;   /* nonzero: fail every attempt from fail_at on */
  int64_t live;     /* allocations not yet freed */
  int64_t live_bytes;
  int64_t peak_bytes;
  uint64_t failures; /* how many attempts were failed */
} fail_alloc;

/* Prepare |fa|: no failures, counters at zero. */
void fail_alloc_init(fail_alloc *fa);
/* Fail attempt number |n| (1-based) and, if |sticky|, every one after. */
void fail_alloc_arm(fail_alloc *fa, uint64_t n, int sticky);

#endif
