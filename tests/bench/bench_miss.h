/*
 * The cost of one dependent cache miss on this machine, measured in the
 * benchmark's own run, so that per-operation costs can be printed in
 * misses as well as in nanoseconds: a rate moves with the machine, a
 * count of misses much less.
 *
 * A pointer chase over a random cyclic permutation of cache lines in a
 * buffer twice the last-level cache (at least 64 MiB, at most 1 GiB, or
 * SIPFLOW_BENCH_MISS_MB MiB): every load depends on the one before and
 * almost every one misses every cache (and most miss the TLB, as lookups
 * in a large table do). The best of three passes is kept. Some virtual
 * machines report the whole package's L3 (hundreds of MiB) as the
 * last-level cache: hence the cap.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_BENCH_MISS_H
#define SIPFLOW_BENCH_MISS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double bench_miss_ns_value;

static size_t bench_miss_llc_bytes(void) {
  long v = -1;
#ifdef _SC_LEVEL3_CACHE_SIZE
  v = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (v <= 0)
    v = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
  return v > 0 ? (size_t)v : (size_t)8 << 20;
}

static double bench_miss_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Measures (once), prints one line and returns the ns of one dependent
 * miss; 0 if the buffer could not be had. */
static double bench_miss_measure(void) {
  size_t llc = bench_miss_llc_bytes(), bytes = 2 * llc, lines, i;
  const size_t steps = (size_t)1 << 20;
  const char *env = getenv("SIPFLOW_BENCH_MISS_MB");
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  double best = 0;
  if (bytes < ((size_t)64 << 20))
    bytes = (size_t)64 << 20;
  if (bytes > ((size_t)1 << 30))
    bytes = (size_t)1 << 30;
  if (env && atol(env) > 0)
    bytes = (size_t)atol(env) << 20;
  lines = bytes / 64;
  uint64_t *buf = malloc(bytes);
  uint32_t *order = malloc(lines * sizeof(*order));
  if (!buf || !order) {
    free(buf);
    free(order);
    return 0;
  }
  /* Sattolo's shuffle: one cycle through every line. */
  for (i = 0; i < lines; i++)
    order[i] = (uint32_t)i;
  for (i = lines - 1; i > 0; i--) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    size_t j = (size_t)(seed % i);
    uint32_t t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (i = 0; i < lines; i++)
    buf[(size_t)order[i] * 8] = (uint64_t)order[(i + 1) % lines] * 8;
  free(order);
  for (int pass = 0; pass < 3; pass++) {
    volatile uint64_t sink;
    uint64_t at = 0;
    double t0 = bench_miss_now();
    for (size_t s = 0; s < steps; s++)
      at = buf[at];
    double ns = (bench_miss_now() - t0) / (double)steps;
    sink = at;
    (void)sink;
    if (pass == 0 || ns < best)
      best = ns;
  }
  free(buf);
  printf("one dependent cache miss: %.1f ns (pointer chase over %zu MiB; "
         "last-level cache %zu KiB)\n",
         best, bytes >> 20, llc >> 10);
  bench_miss_ns_value = best;
  return best;
}

/* ns per operation as a multiple of one miss (0 when not measured). */
static inline double bench_misses(double ns_per_op) {
  return bench_miss_ns_value > 0 ? ns_per_op / bench_miss_ns_value : 0;
}

#endif
