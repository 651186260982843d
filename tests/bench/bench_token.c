/*
 * Flow tokens and the flow table, on one core: tokens minted and verified per
 * second (IPv4, IPv6), flow-table adds and lookups per second with a million
 * flows, bytes per flow, and the MAC candidates docs/tokens.md compares.
 * Prints figures; never passes or fails on time. Figures from a shared
 * machine are noisy: run it two or three times and take the best.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_miss.h"
#include "fail_alloc.h"
#include "sipflow/flow.h"
#include "sipflow/token.h"

#define FLOWS 1000000u
/* Distinct tokens cycled through. HOT: a token just parsed out of a packet
 * is in cache, so verification is measured over a set that stays there.
 * COLD: 65536 tokens (5 MB) mostly miss the cache, the worst case. */
#define HOT 256u
#define SAMPLE 65536u

/* This thread's CPU time, as the cache-miss figure is taken: on a shared
 * machine wall time counts the time other processes held the core. */
static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *what, double ops, double secs) {
  printf("%-34s %6.2f M/s  (%.0f ns each = %.2f misses)\n", what,
         ops / secs / 1e6, secs / ops * 1e9, bench_misses(secs / ops * 1e9));
}

static volatile unsigned sink; /* keeps results alive */

static sipflow_flow_tuple tuple_for(uint32_t n, int v6) {
  sipflow_flow_tuple t;
  memset(&t, 0, sizeof(t));
  t.transport = SIPFLOW_TRANSPORT_TCP;
  if (v6) {
    sipflow_addr_parse(&t.local, "2001:db8::1", 5060);
    sipflow_addr_parse(&t.remote, "2001:db8:1::", 0);
    memcpy(t.remote.bytes + 12, &n, 4);
  } else {
    sipflow_addr_parse(&t.local, "192.0.2.1", 5060);
    sipflow_addr_parse(&t.remote, "10.0.0.0", 0);
    memcpy(t.remote.bytes, &n, 4);
    t.remote.bytes[0] = 10;
  }
  t.remote.port = (uint16_t)(1024 + n % 64000);
  t.generation = n;
  return t;
}

/* ---- tokens -------------------------------------------------------------- */

static void bench_mint(const sipflow_keyring *kr, int v6, unsigned iters) {
  char tok[SIPFLOW_TOKEN_BUFLEN];
  sipflow_flow_tuple t = tuple_for(1, v6);
  double t0 = seconds();
  for (unsigned i = 0; i < iters; i++) {
    t.generation = i;
    if (sipflow_token_mint(kr, &t, tok, sizeof(tok), NULL) != 0)
      abort();
    sink += (unsigned char)tok[5];
  }
  report(v6 ? "token mint ipv6:" : "token mint ipv4:", iters, seconds() - t0);
}

static char (*mint_sample(const sipflow_keyring *kr,
                          int v6))[SIPFLOW_TOKEN_BUFLEN] {
  char(*toks)[SIPFLOW_TOKEN_BUFLEN] = malloc(SAMPLE * sizeof(*toks));
  for (uint32_t i = 0; i < SAMPLE; i++) {
    sipflow_flow_tuple t = tuple_for(i, v6);
    if (!toks || sipflow_token_mint(kr, &t, toks[i], sizeof(toks[i]), NULL))
      abort();
  }
  return toks;
}

static void time_verify(const sipflow_keyring *kr, int v6, unsigned iters,
                        char (*toks)[SIPFLOW_TOKEN_BUFLEN], unsigned n,
                        const char *what) {
  size_t len = v6 ? SIPFLOW_TOKEN_IPV6_LEN : SIPFLOW_TOKEN_IPV4_LEN;
  sipflow_token_info info;
  double t0 = seconds();
  for (unsigned i = 0; i < iters; i++) {
    if (sipflow_token_verify(kr, toks[i % n], len, &info) != 0)
      abort();
    sink += info.tuple.remote.port;
  }
  report(what, iters, seconds() - t0);
}

static void bench_verify(const sipflow_keyring *kr, int v6, unsigned iters) {
  char(*toks)[SIPFLOW_TOKEN_BUFLEN] = mint_sample(kr, v6);
  size_t len = v6 ? SIPFLOW_TOKEN_IPV6_LEN : SIPFLOW_TOKEN_IPV4_LEN;
  double t0;
  time_verify(kr, v6, iters, toks, HOT,
              v6 ? "token verify ipv6:" : "token verify ipv4:");
  time_verify(kr, v6, iters, toks, SAMPLE,
              v6 ? "token verify ipv6, 65536 cold:"
                 : "token verify ipv4, 65536 cold:");
  /* the rejection path: one character changed, MAC mismatch */
  for (uint32_t i = 0; i < HOT; i++)
    toks[i][20] = toks[i][20] == 'A' ? 'B' : 'A';
  t0 = seconds();
  for (unsigned i = 0; i < iters; i++)
    sink += (unsigned)sipflow_token_verify(kr, toks[i % HOT], len, NULL);
  report(v6 ? "token reject tampered ipv6:" : "token reject tampered ipv4:",
         iters, seconds() - t0);
  free(toks);
}

static void bench_verify_escaped(const sipflow_keyring *kr, unsigned iters) {
  char tok[SIPFLOW_TOKEN_BUFLEN], esc[SIPFLOW_TOKEN_MAX_INPUT + 1];
  sipflow_flow_tuple t = tuple_for(7, 0);
  double t0;
  if (sipflow_token_mint(kr, &t, tok, sizeof(tok), NULL) != 0)
    abort();
  for (size_t i = 0; tok[i]; i++)
    snprintf(esc + 3 * i, 4, "%%%02X", (unsigned char)tok[i]);
  t0 = seconds();
  for (unsigned i = 0; i < iters; i++)
    if (sipflow_token_verify(kr, esc, strlen(esc), NULL) != 0)
      abort();
  report("token verify ipv4, all escaped:", iters, seconds() - t0);
}

/* ---- the flow table
 * ---------------------------------------------------------- */

static void bench_table(sipflow_ctx *ctx, const sipflow_keyring *kr,
                        fail_alloc *fa) {
  sipflow_flow_table *ft;
  sipflow_flow_id *ids = malloc(FLOWS * sizeof(*ids));
  char(*toks)[SIPFLOW_TOKEN_BUFLEN] = malloc(SAMPLE * sizeof(*toks));
  sipflow_flow_info info;
  int64_t before = fa->live_bytes;
  double t0;
  unsigned iters = 4000000;

  if (!ids || !toks ||
      sipflow_flow_table_new(&ft, ctx, kr, NULL, NULL, NULL) != 0)
    abort();
  t0 = seconds();
  for (uint32_t i = 0; i < FLOWS; i++) {
    sipflow_flow_tuple t = tuple_for(i, i % 4 == 0);
    if (sipflow_flow_add(ft, &t, i, 1, &ids[i]) != 0)
      abort();
  }
  report("flow add (to 1M flows):", FLOWS, seconds() - t0);
  printf("%-34s %6.1f bytes/flow (%.1f MB for %u flows)\n",
         "flow table memory:", (double)(fa->live_bytes - before) / FLOWS,
         (double)(fa->live_bytes - before) / 1e6, FLOWS);

  srand(1);
  for (uint32_t i = 0; i < SAMPLE; i++) {
    uint32_t pick = (uint32_t)rand() % FLOWS;
    if (sipflow_flow_token(ft, ids[pick], toks[i], sizeof(toks[i]), NULL))
      abort();
  }
  t0 = seconds();
  for (unsigned i = 0; i < iters; i++) {
    const char *tok = toks[i % SAMPLE];
    if (sipflow_flow_lookup(ft, tok, strlen(tok), &info) != 0)
      abort();
    sink += (unsigned)info.handle;
  }
  report("flow lookup by token (1M flows):", iters, seconds() - t0);

  t0 = seconds();
  for (unsigned i = 0; i < iters; i++) {
    if (sipflow_flow_get(ft, ids[((uint64_t)i * 2654435761u) % FLOWS], &info) !=
        0)
      abort();
    sink += (unsigned)info.handle;
  }
  report("flow get by id (1M flows):", iters, seconds() - t0);

  t0 = seconds();
  for (unsigned i = 0; i < iters / 4; i++) {
    uint32_t n = (uint32_t)(((uint64_t)i * 2654435761u) % FLOWS);
    sipflow_flow_tuple t = tuple_for(n, n % 4 == 0);
    sipflow_flow_id id;
    if (sipflow_flow_find(ft, &t, &id) != 0)
      abort();
    sink += (unsigned)id;
  }
  report("flow find by tuple (1M flows):", iters / 4, seconds() - t0);

  t0 = seconds();
  for (uint32_t i = 0; i < FLOWS; i++)
    if (sipflow_flow_end(ft, ids[i], SIPFLOW_FLOW_END_CLOSED, 2) != 0)
      abort();
  report("flow end (1M flows):", FLOWS, seconds() - t0);
  sipflow_flow_table_del(ft);
  free(toks);
  free(ids);
}

/* ---- MAC candidates (docs/tokens.md)
 * ------------------------------------------ */

static void bench_macs(unsigned iters) {
  uint8_t msg[46], key16[16], key32[32], out[32];
  char b64[SIPFLOW_TOKEN_BUFLEN];
  uint8_t bin[64];
  size_t lens[] = {22, 46}; /* the MAC'd part of an IPv4 / IPv6 record */
  crypto_auth_hmacsha256_state hbase, h;
  crypto_generichash_state gbase, g;
  char what[64];
  double t0;

  randombytes_buf(msg, sizeof(msg));
  randombytes_buf(key16, sizeof(key16));
  randombytes_buf(key32, sizeof(key32));
  crypto_auth_hmacsha256_init(&hbase, key32, sizeof(key32));
  crypto_generichash_init(&gbase, key32, sizeof(key32), 16);
  for (size_t l = 0; l < 2; l++) {
    size_t n = lens[l];
    t0 = seconds();
    for (unsigned i = 0; i < iters; i++) {
      msg[0] = (uint8_t)i;
      crypto_shorthash_siphashx24(out, msg, n, key16);
      sink += out[0];
    }
    snprintf(what, sizeof(what), "mac siphash-2-4-128, %zu B:", n);
    report(what, iters, seconds() - t0);
    t0 = seconds();
    for (unsigned i = 0; i < iters / 8; i++) {
      msg[0] = (uint8_t)i;
      h = hbase;
      crypto_auth_hmacsha256_update(&h, msg, n);
      crypto_auth_hmacsha256_final(&h, out);
      sink += out[0];
    }
    snprintf(what, sizeof(what), "mac hmac-sha256 (state copy), %zu B:", n);
    report(what, iters / 8, seconds() - t0);
    t0 = seconds();
    for (unsigned i = 0; i < iters / 8; i++) {
      msg[0] = (uint8_t)i;
      g = gbase;
      crypto_generichash_update(&g, msg, n);
      crypto_generichash_final(&g, out, 16);
      sink += out[0];
    }
    snprintf(what, sizeof(what), "mac blake2b keyed (state copy), %zu B:", n);
    report(what, iters / 8, seconds() - t0);
  }
  for (size_t rl = 34; rl <= 58; rl += 24) {
    size_t got;
    sodium_bin2base64(b64, sizeof(b64), msg, rl,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    t0 = seconds();
    for (unsigned i = 0; i < iters / 4; i++) {
      sodium_base642bin(bin, sizeof(bin), b64, strlen(b64), NULL, &got, NULL,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING);
      sink += bin[0];
    }
    snprintf(what, sizeof(what),
             "libsodium base64 decode, %zu chars:", strlen(b64));
    report(what, iters / 4, seconds() - t0);
  }
}

int main(void) {
  fail_alloc fa;
  sipflow_ctx *ctx;
  sipflow_keyring *kr;
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN];

  if (sodium_init() < 0)
    return 1;
  fail_alloc_init(&fa);
  if (sipflow_ctx_new(&ctx, NULL, NULL, &fa.mem, NULL) != 0 ||
      sipflow_keyring_new(&kr, ctx) != 0 ||
      sipflow_token_key_generate(key, sizeof(key)) != 0 ||
      sipflow_keyring_add(kr, 1, key, sizeof(key)) != 0)
    return 1;
  printf("libsipflow bench_token: one core; noisy on a shared machine, so "
         "run it 2-3 times\n");
  bench_miss_measure();
  bench_mint(kr, 0, 3000000);
  bench_mint(kr, 1, 2000000);
  bench_verify(kr, 0, 6000000);
  bench_verify(kr, 1, 4000000);
  bench_verify_escaped(kr, 1000000);
  bench_table(ctx, kr, &fa);
  bench_macs(8000000);
  sipflow_keyring_del(kr);
  sipflow_ctx_del(ctx);
  printf("(checksum %u)\n", sink); /* keeps the measured work alive */
  return 0;
}
