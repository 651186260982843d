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
 * last-level cache: hence the cap. The buffer is on 4 KiB pages, as a
 * process's memory is by default.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_BENCH_MISS_H
#define SIPFLOW_BENCH_MISS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double bench_miss_ns_value;
/* The chase's buffer, when kept for bench_miss_again(). */
static uint64_t *bench_miss_buf;
static size_t bench_miss_buf_bytes;

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

/* The best of three passes of 2^20 dependent loads over |buf|, in ns. */
static double bench_miss_chase(const uint64_t *buf) {
  const size_t steps = (size_t)1 << 20;
  double best = 0;
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
  return best;
}

/* Measures (once), prints one line and returns the ns of one dependent
 * miss; 0 if the buffer could not be had. With |keep|, the buffer stays
 * for bench_miss_again() until bench_miss_release(). */
static double bench_miss_measure_keep(int keep) {
  size_t llc = bench_miss_llc_bytes(), bytes = 2 * llc, lines, i;
  const char *env = getenv("SIPFLOW_BENCH_MISS_MB");
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  double best;
  if (bytes < ((size_t)64 << 20))
    bytes = (size_t)64 << 20;
  if (bytes > ((size_t)1 << 30))
    bytes = (size_t)1 << 30;
  if (env && atol(env) > 0)
    bytes = (size_t)atol(env) << 20;
  lines = bytes / 64;
  /* Mapped here, not by malloc, and kept on small pages: the unit stays a
   * miss through 4 KiB pages whatever the host's allocator is told
   * (GLIBC_TUNABLES=glibc.malloc.hugetlb=1, say). */
  uint64_t *buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uint32_t *order = malloc(lines * sizeof(*order));
  if (buf == MAP_FAILED || !order) {
    if (buf != MAP_FAILED)
      munmap(buf, bytes);
    free(order);
    return 0;
  }
#ifdef MADV_NOHUGEPAGE
  (void)madvise(buf, bytes, MADV_NOHUGEPAGE);
#endif
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
  best = bench_miss_chase(buf);
  if (keep) {
    bench_miss_buf = buf;
    bench_miss_buf_bytes = bytes;
  } else {
    munmap(buf, bytes);
  }
  printf("one dependent cache miss: %.1f ns (pointer chase over %zu MiB; "
         "last-level cache %zu KiB)\n",
         best, bytes >> 20, llc >> 10);
  bench_miss_ns_value = best;
  return best;
}

static inline double bench_miss_measure(void) {
  return bench_miss_measure_keep(0);
}

/* Measures the miss again over the kept buffer (the load of a shared
 * machine changes within a run: a figure taken next to each operation
 * moves less than one taken at the start) and returns it; the last value
 * when no buffer was kept. Prints nothing. */
static inline double bench_miss_again(void) {
  if (bench_miss_buf)
    bench_miss_ns_value = bench_miss_chase(bench_miss_buf);
  return bench_miss_ns_value;
}

static inline void bench_miss_release(void) {
  if (bench_miss_buf)
    munmap(bench_miss_buf, bench_miss_buf_bytes);
  bench_miss_buf = NULL;
}

/* ns per operation as a multiple of one miss (0 when not measured). */
static inline double bench_misses(double ns_per_op) {
  return bench_miss_ns_value > 0 ? ns_per_op / bench_miss_ns_value : 0;
}

#endif
