/*
 * Registrar benchmark: 1 million AoRs with 2 Outbound bindings each (one
 * instance, reg-id 1 and 2, each on its own flow). Prints REGISTERs applied
 * per second (new bindings, then refreshes), lookups per second (lookup,
 * first group, delete the plan; one at a time, then in batches) and the
 * memory per binding measured with the counting allocator; GRUU lookups
 * (RFC 5627 §6.1: a public GRUU, then temporary GRUUs minted for a sample
 * of the AoRs); then removes and adds again one binding per AoR (new REGISTERs
 * on memory the process already has). Prints figures only; never fails on time.
 * Every cost is also printed in dependent cache misses measured in the same run
 * (bench_miss.h); SIPFLOW_BENCH_HUGE=1 advises the large tables onto huge pages
 * (see huge_malloc below).
 *
 * Usage: bench_registrar [number of AoRs [lookup rounds]]
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "bench_miss.h"
#include "fail_alloc.h"
#include "sipflow/registrar.h"
#include "sipflow/token.h"

#define SEC SIPFLOW_SECONDS

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall time, and this thread's CPU time: on a shared machine the second
 * leaves out the time other processes held the core. */
typedef struct span {
  double wall, cpu;
} span;

static span span_start(void) {
  span s = {clock_s(CLOCK_MONOTONIC), clock_s(CLOCK_THREAD_CPUTIME_ID)};
  return s;
}

/* The miss is measured again after each phase and the phase priced in
 * the mean of the figures just before and just after it: on a shared
 * machine the load, and with it the miss, drifts within a run. */
static void span_print(const char *what, span s, double ops) {
  double wall = clock_s(CLOCK_MONOTONIC) - s.wall;
  double cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - s.cpu;
  double before = bench_miss_ns_value, after = bench_miss_again();
  double miss = (before + after) / 2;
  printf("%-26s %10.0f /s of CPU time, %10.0f /s of wall time (%.0f in "
         "%.3f s CPU) = %.0f ns, %.2f misses each (miss %.0f/%.0f ns)\n",
         what, ops / cpu, ops / wall, ops, cpu, cpu / ops * 1e9,
         miss > 0 ? cpu / ops * 1e9 / miss : 0, before, after);
}

/* Writes |v| as 7 decimal digits at |p| (the templates' placeholders). */
static void digits7(char *p, uint32_t v) {
  for (int i = 6; i >= 0; i--) {
    p[i] = (char)('0' + v % 10);
    v /= 10;
  }
}

static uint64_t rng = 88172645463325252ull;
static uint64_t xorshift(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static uint32_t *permutation(uint32_t n) {
  uint32_t *p = malloc(n * sizeof(*p));
  for (uint32_t i = 0; i < n; i++)
    p[i] = i;
  for (uint32_t i = n - 1; i > 0; i--) {
    uint32_t j = (uint32_t)(xorshift() % (i + 1)), t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/* The facts of one REGISTER, rewritten in place for each AoR. */
typedef struct templ {
  char aor[32], uri[64], inst[64], call_id[32];
  sipflow_reg_contact c;
  sipflow_reg_request req;
} templ;

static void templ_init(templ *t) {
  strcpy(t->aor, "sip:u0000000@example.com");
  strcpy(t->uri, "sip:u0000000@10.0.0.1:5060;transport=tcp");
  strcpy(t->inst, "\"<urn:uuid:00000000-0000-1000-8000-000000000000>\"");
  strcpy(t->call_id, "0000000-1@host.example.com");
  sipflow_reg_request_default(&t->req);
  sipflow_reg_contact_default(&t->c);
  t->req.aor.ptr = t->aor;
  t->req.aor.len = strlen(t->aor);
  t->req.call_id.ptr = t->call_id;
  t->req.call_id.len = strlen(t->call_id);
  t->req.via_count = 1;
  t->req.supported = SIPFLOW_REG_OPT_OUTBOUND | SIPFLOW_REG_OPT_PATH;
  t->req.flow.transport = SIPFLOW_TRANSPORT_TCP;
  t->req.contacts = &t->c;
  t->req.n_contacts = 1;
  t->c.uri.ptr = t->uri;
  t->c.uri.len = strlen(t->uri);
  t->c.instance.ptr = t->inst;
  t->c.instance.len = strlen(t->inst);
}

static void templ_set(templ *t, uint32_t aor, int reg_id, uint32_t cseq) {
  static const char *const ids[] = {"1", "2"};
  digits7(t->aor + 5, aor);
  digits7(t->uri + 5, aor);
  digits7(t->inst + strlen(t->inst) - 9, aor); /* the uuid's last digits */
  digits7(t->call_id, aor);
  t->call_id[8] = (char)('0' + reg_id);
  t->c.reg_id.ptr = ids[reg_id - 1];
  t->c.reg_id.len = 1;
  t->req.cseq = cseq;
  t->req.flow_id = (sipflow_flow_id)aor * 2 + (sipflow_flow_id)reg_id;
}

/*
 * The host's allocator hooks (this benchmark is the host). With
 * SIPFLOW_BENCH_HUGE=1 set, every block of 2 MiB or more (the registrar's
 * two index tables and its expiry heap, nothing else) is advised onto
 * transparent huge pages before it is first written, so that the first
 * load of a lookup or REGISTER, the AoR table's slot, seldom misses the
 * TLB. The library makes no system call; this is a choice of the host, as
 * docs/performance.md says. The counting stays with fail_alloc below.
 */
#define HUGE_BYTES ((size_t)2 << 20)
static const sipflow_mem *huge_base;

static void advise_huge(void *p, size_t size) {
#ifdef MADV_HUGEPAGE
  uintptr_t a = ((uintptr_t)p + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1);
  uintptr_t e = ((uintptr_t)p + size) & ~(uintptr_t)(HUGE_BYTES - 1);
  if (size >= HUGE_BYTES && e > a)
    (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
  (void)p;
  (void)size;
#endif
}

static void *huge_malloc(size_t size, void *ud) {
  void *p = huge_base->malloc(size, huge_base->user_data);
  (void)ud;
  if (p)
    advise_huge(p, size);
  return p;
}

static void *huge_calloc(size_t n, size_t size, void *ud) {
  void *p;
  if (size && n > SIZE_MAX / size)
    return NULL;
  if ((p = huge_malloc(n * size, ud)))
    memset(p, 0, n * size);
  return p;
}

static void *huge_realloc(void *ptr, size_t size, void *ud) {
  void *p = huge_base->realloc(ptr, size, huge_base->user_data);
  (void)ud;
  if (p)
    advise_huge(p, size);
  return p;
}

static void huge_free(void *ptr, void *ud) {
  (void)ud;
  huge_base->free(ptr, huge_base->user_data);
}

/* Lookups per sipflow_registrar_lookup_batch() call. */
#define BATCH 16
#define BATCH_S "16"
static char batch_aor[BATCH][32];
static sipflow_str batch_uri[BATCH];

/* Bytes of the strings stored for one binding and one AoR. */
static size_t binding_string_bytes(const templ *t) {
  /* URI + instance without quotes and brackets + Call-ID */
  return strlen(t->uri) + (strlen(t->inst) - 4) + strlen(t->call_id);
}

int main(int argc, char **argv) {
  uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1000000;
  int rounds = argc > 2 ? atoi(argv[2]) : 1;
  fail_alloc fa;
  sipflow_ctx *ctx;
  sipflow_registrar *reg;
  sipflow_registrar_settings set;
  templ t;
  uint32_t *perm;
  sipflow_tstamp now = 1000 * SEC;
  span t0;
  uint64_t failures = 0;

  sipflow_mem huge = {NULL, huge_malloc, huge_free, huge_calloc, huge_realloc};
  const char *huge_env = getenv("SIPFLOW_BENCH_HUGE");
  bool use_huge = huge_env && atoi(huge_env) > 0;

  fail_alloc_init(&fa);
  huge_base = &fa.mem;
  sipflow_registrar_settings_default(&set);
  if (sipflow_ctx_new(&ctx, NULL, NULL, use_huge ? &huge : &fa.mem, NULL) !=
          0 ||
      sipflow_registrar_new(&reg, ctx, NULL, &set, NULL) != 0) {
    fprintf(stderr, "setup failed\n");
    return 1;
  }
  templ_init(&t);
  perm = permutation(n);
  printf("registrar bench: %u AoRs x 2 Outbound bindings, one core%s\n", n,
         use_huge ? "; tables advised onto huge pages" : "");
  bench_miss_measure_keep(1);

  /* 1. New bindings: 2 REGISTERs per AoR, AoRs in random order. */
  t0 = span_start();
  for (int reg_id = 1; reg_id <= 2; reg_id++)
    for (uint32_t i = 0; i < n; i++) {
      const sipflow_reg_result *res;
      templ_set(&t, perm[i], reg_id, 1);
      if (sipflow_registrar_process(reg, &t.req, now++, &res) != 0 ||
          res->status != 200)
        failures++;
    }
  span_print("REGISTER (new binding):", t0, 2.0 * n);

  size_t bindings = sipflow_registrar_binding_count(reg);
  size_t aor_len = strlen(t.aor);
  double strings = (double)binding_string_bytes(&t) * (double)bindings +
                   (double)aor_len * sipflow_registrar_aor_count(reg);
  printf("bindings: %zu, AoRs: %zu\n", bindings,
         sipflow_registrar_aor_count(reg));
  printf("bytes per binding:        %10.1f  with its strings (live %lld B)\n",
         (double)fa.live_bytes / (double)bindings, (long long)fa.live_bytes);
  printf("bytes per binding:        %10.1f  beside its strings (%.1f string "
         "bytes each, AoR shared by 2)\n",
         ((double)fa.live_bytes - strings) / (double)bindings,
         strings / (double)bindings);
  printf("allocations per binding:  %10.2f  (live %lld)\n",
         (double)fa.live / (double)bindings, (long long)fa.live);

  /* 2. Refreshes: same Call-ID, CSeq + 1, random order. */
  free(perm);
  perm = permutation(n);
  t0 = span_start();
  for (int reg_id = 1; reg_id <= 2; reg_id++)
    for (uint32_t i = 0; i < n; i++) {
      const sipflow_reg_result *res;
      templ_set(&t, perm[i], reg_id, 2);
      if (sipflow_registrar_process(reg, &t.req, now++, &res) != 0 ||
          res->status != 200 || res->n_contacts != 2)
        failures++;
    }
  span_print("REGISTER (refresh):", t0, 2.0 * n);

  for (uint32_t k = 0; k < BATCH; k++) {
    strcpy(batch_aor[k], t.aor);
    batch_uri[k].ptr = batch_aor[k];
    batch_uri[k].len = aor_len;
  }

  /* 3. Lookups: plan, first group, delete; each round in a new order. */
  for (int round = 0; round < rounds; round++) {
    free(perm);
    perm = permutation(n);
    t0 = span_start();
    for (uint32_t i = 0; i < n; i++) {
      sipflow_reg_plan *plan;
      const sipflow_reg_branch *br;
      size_t nb;
      sipflow_str uri = {t.aor, aor_len};
      digits7(t.aor + 5, perm[i]);
      if (sipflow_registrar_lookup(reg, uri, now, &plan) != 0 ||
          sipflow_reg_plan_next_group(plan, &br, &nb) != 0 || nb != 1)
        failures++;
      sipflow_reg_plan_del(plan);
    }
    span_print("lookup (plan+group+del):", t0, (double)n);
  }

  /* 4. The same through sipflow_registrar_lookup_batch(), BATCH at a time:
   * a host holding several requests at once. */
  for (int round = 0; round < rounds; round++) {
    free(perm);
    perm = permutation(n);
    t0 = span_start();
    for (uint32_t i = 0; i < n; i += BATCH) {
      uint32_t m = n - i < BATCH ? n - i : BATCH;
      sipflow_reg_plan *plans[BATCH];
      int results[BATCH];
      for (uint32_t k = 0; k < m; k++)
        digits7(batch_aor[k] + 5, perm[i + k]);
      if (sipflow_registrar_lookup_batch(reg, batch_uri, m, now, plans,
                                         results) != 0)
        failures += m;
      for (uint32_t k = 0; k < m; k++) {
        const sipflow_reg_branch *br;
        size_t nb;
        if (results[k] != 0 ||
            sipflow_reg_plan_next_group(plans[k], &br, &nb) != 0 || nb != 1)
          failures++;
        sipflow_reg_plan_del(plans[k]);
      }
    }
    span_print("lookup batch of " BATCH_S ":", t0, (double)n);
  }

  /* 5. GRUUs: a public GRUU (the AoR with the instance in gr), then the
   * temporary GRUUs of a random sample of the AoRs, minted by a refresh
   * with Supported: gruu. Each is a plan of the one instance. */
  {
    static const uint8_t key[SIPFLOW_TOKEN_KEY_LEN] = {7};
    sipflow_keyring *kr = NULL;
    char pub[160];
    uint32_t sample = n < 65536 ? n : 65536;
    char(*temps)[256] = calloc(sample, sizeof(*temps));
    if (!temps || sipflow_keyring_new(&kr, ctx) != 0 ||
        sipflow_keyring_add(kr, 1, key, sizeof(key)) != 0 ||
        sipflow_registrar_set_gruu(reg, kr) != 0) {
      fprintf(stderr, "GRUU setup failed\n");
      return 1;
    }
    for (int round = 0; round < rounds; round++) {
      free(perm);
      perm = permutation(n);
      t0 = span_start();
      for (uint32_t i = 0; i < n; i++) {
        sipflow_reg_plan *plan;
        const sipflow_reg_branch *br;
        size_t nb;
        int len;
        templ_set(&t, perm[i], 1, 2);
        /* the instance without its quotes and angle brackets */
        len = snprintf(pub, sizeof(pub), "%s;gr=%.*s", t.aor,
                       (int)strlen(t.inst) - 4, t.inst + 2);
        sipflow_str uri = {pub, (size_t)len};
        if (sipflow_registrar_lookup_gruu(reg, uri, now, &plan) != 0 ||
            sipflow_reg_plan_next_group(plan, &br, &nb) != 0 || nb != 1)
          failures++;
        sipflow_reg_plan_del(plan);
      }
      span_print("lookup pub-gruu:", t0, (double)n);
    }
    free(perm);
    perm = permutation(n);
    t.req.supported |= SIPFLOW_REG_OPT_GRUU;
    for (uint32_t i = 0; i < sample; i++) {
      const sipflow_reg_result *res;
      templ_set(&t, perm[i], 1, 3);
      if (sipflow_registrar_process(reg, &t.req, now, &res) != 0 ||
          res->status != 200 || res->n_contacts != 2 ||
          !res->contacts[0].temp_gruu.len ||
          res->contacts[0].temp_gruu.len >= sizeof(temps[i])) {
        failures++;
        continue;
      }
      memcpy(temps[i], res->contacts[0].temp_gruu.ptr,
             res->contacts[0].temp_gruu.len);
    }
    t.req.supported &= ~(unsigned)SIPFLOW_REG_OPT_GRUU;
    for (int round = 0; round < rounds; round++) {
      t0 = span_start();
      for (uint32_t i = 0; i < sample; i++) {
        sipflow_reg_plan *plan;
        const sipflow_reg_branch *br;
        size_t nb;
        sipflow_str uri = {temps[i], strlen(temps[i])};
        if (sipflow_registrar_lookup_gruu(reg, uri, now, &plan) != 0 ||
            sipflow_reg_plan_next_group(plan, &br, &nb) != 0 || nb != 1)
          failures++;
        sipflow_reg_plan_del(plan);
      }
      span_print("lookup temp-gruu:", t0, (double)sample);
    }
    sipflow_registrar_set_gruu(reg, NULL);
    sipflow_keyring_del(kr);
    free(temps);
  }

  /* 6. The steady state of a registrar whose phones come and go: every
   * AoR's reg-id 2 binding removed (a REGISTER with expires=0), then
   * registered again. The new bindings take memory the removed ones gave
   * back, as they do in a registrar that has run for a while; phase 1
   * also pays for the heap's first growth (page faults, the kernel
   * zeroing pages), which a running registrar paid long ago. */
  free(perm);
  perm = permutation(n);
  t.c.expires.ptr = "0";
  t.c.expires.len = 1;
  t0 = span_start();
  for (uint32_t i = 0; i < n; i++) {
    const sipflow_reg_result *res;
    templ_set(&t, perm[i], 2, 3);
    if (sipflow_registrar_process(reg, &t.req, now++, &res) != 0 ||
        res->status != 200 || res->n_contacts != 1)
      failures++;
  }
  span_print("REGISTER (remove binding):", t0, (double)n);
  t.c.expires.ptr = NULL;
  t.c.expires.len = 0;
  free(perm);
  perm = permutation(n);
  t0 = span_start();
  for (uint32_t i = 0; i < n; i++) {
    const sipflow_reg_result *res;
    templ_set(&t, perm[i], 2, 4);
    if (sipflow_registrar_process(reg, &t.req, now++, &res) != 0 ||
        res->status != 200 || res->n_contacts != 2)
      failures++;
  }
  span_print("REGISTER (new, heap warm):", t0, (double)n);
  printf("peak bytes:               %10lld\n", (long long)fa.peak_bytes);
  if (failures)
    printf("UNEXPECTED: %llu calls did not succeed\n",
           (unsigned long long)failures);

  free(perm);
  bench_miss_release();
  t0 = span_start();
  sipflow_registrar_del(reg);
  sipflow_ctx_del(ctx);
  span_print("teardown (bindings freed):", t0, 2.0 * n);
  printf("allocations left:          %10lld\n", (long long)fa.live);
  return failures ? 1 : 0;
}
