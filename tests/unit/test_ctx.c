/*
 * The context: creation, versions, the single deadline, logging, randomness.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "fail_alloc.h"
#include "sipflow_int.h"

typedef struct fake_source {
  sipflow__timer_source src;
  sipflow_tstamp expiry;
  sipflow_tstamp handled_at;
  int handled;
  int rv;
} fake_source;

static sipflow_tstamp fake_get(const void *obj) {
  return ((const fake_source *)obj)->expiry;
}
static int fake_handle(void *obj, sipflow_tstamp now) {
  fake_source *f = obj;
  f->handled++;
  f->handled_at = now;
  f->expiry = now + SIPFLOW_SECONDS;
  return f->rv;
}
static void fake_init(fake_source *f, sipflow_tstamp expiry) {
  memset(f, 0, sizeof(*f));
  f->src.get_expiry = fake_get;
  f->src.handle_expiry = fake_handle;
  f->src.obj = f;
  f->expiry = expiry;
}

Test(ctx, new_and_del_with_defaults) {
  sipflow_ctx *ctx = (sipflow_ctx *)1;
  int ud;
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, &ud), 0);
  cr_assert_not_null(ctx);
  cr_expect_eq(sipflow_ctx_get_user_data(ctx), &ud);
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), SIPFLOW_TSTAMP_NONE);
  sipflow_ctx_del(ctx);
  sipflow_ctx_del(NULL);
  cr_expect_null(sipflow_ctx_get_user_data(NULL));
  cr_expect_eq(sipflow_ctx_get_expiry(NULL), SIPFLOW_TSTAMP_NONE);
}

Test(ctx, new_rejects_bad_arguments) {
  sipflow_ctx *ctx;
  sipflow_ctx_callbacks cb = {0};
  sipflow_ctx_settings s;
  sipflow_mem bad = *sipflow_mem_default();
  sipflow_ctx_settings_default(&s);
  cr_expect_eq(sipflow_ctx_new(NULL, NULL, NULL, NULL, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_ctx_new_versioned(&ctx, 99, &cb, 1, &s, NULL, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_null(ctx);
  cr_expect_eq(sipflow_ctx_new_versioned(&ctx, 1, &cb, 0, &s, NULL, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  bad.calloc = NULL;
  cr_expect_eq(sipflow_ctx_new(&ctx, &cb, &s, &bad, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

Test(ctx, settings_default_fills_documented_values) {
  sipflow_ctx_settings s;
  memset(&s, 0xab, sizeof(s));
  sipflow_ctx_settings_default(&s);
  cr_expect_eq(s.log_level, SIPFLOW_LOG_WARN);
  cr_expect_eq(s.log_rate_per_second, 10);
  for (size_t i = 0; i < sizeof(s.hash_key); i++)
    cr_expect_eq(s.hash_key[i], 0);
  sipflow_ctx_settings_default(NULL); /* harmless */
}

Test(ctx, allocation_failure_is_reported_and_leaks_nothing) {
  fail_alloc fa;
  sipflow_ctx *ctx;
  fail_alloc_init(&fa);
  fail_alloc_arm(&fa, 1, 0);
  cr_expect_eq(sipflow_ctx_new(&ctx, NULL, NULL, &fa.mem, NULL),
               SIPFLOW_ERR_NOMEM);
  cr_expect_null(ctx);
  cr_expect_eq(fa.live, 0);
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, &fa.mem, NULL), 0);
  cr_expect_eq(fa.live, 1);
  sipflow_ctx_del(ctx);
  cr_expect_eq(fa.live, 0);
}

Test(ctx, expiry_is_the_earliest_source_and_handling_moves_it_past_now) {
  sipflow_ctx *ctx;
  fake_source a, b;
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL), 0);
  fake_init(&a, 5 * SIPFLOW_SECONDS);
  fake_init(&b, 3 * SIPFLOW_SECONDS);
  sipflow__ctx_attach(ctx, &a.src);
  sipflow__ctx_attach(ctx, &b.src);
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), 3 * SIPFLOW_SECONDS);

  cr_expect_eq(sipflow_ctx_handle_expiry(ctx, 3 * SIPFLOW_SECONDS), 0);
  cr_expect_eq(b.handled, 1);
  cr_expect_eq(a.handled, 0); /* not due: not called */
  cr_expect_gt(sipflow_ctx_get_expiry(ctx), 3 * SIPFLOW_SECONDS);
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), 4 * SIPFLOW_SECONDS);

  sipflow__ctx_detach(&b.src);
  sipflow__ctx_detach(&b.src); /* twice is harmless */
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), 5 * SIPFLOW_SECONDS);
  sipflow__ctx_detach(&a.src);
  sipflow_ctx_del(ctx);
}

Test(ctx, handle_expiry_refuses_time_going_backwards) {
  sipflow_ctx *ctx;
  fake_source a;
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL), 0);
  fake_init(&a, 1);
  sipflow__ctx_attach(ctx, &a.src);
  cr_expect_eq(sipflow_ctx_handle_expiry(ctx, 100), 0);
  cr_expect_eq(sipflow_ctx_handle_expiry(ctx, 99), SIPFLOW_ERR_TIME_BACKWARDS);
  cr_expect_eq(a.handled, 1);
  cr_expect_eq(sipflow__ctx_now(ctx), 100);
  cr_expect_eq(sipflow_ctx_handle_expiry(NULL, 1),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  sipflow_ctx_del(ctx); /* detaches |a| itself */
  cr_expect_null(a.src.next);
}

Test(ctx, handle_expiry_returns_the_first_error_and_runs_the_rest) {
  sipflow_ctx *ctx;
  fake_source a, b;
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL), 0);
  fake_init(&a, 1);
  fake_init(&b, 1);
  a.rv = SIPFLOW_ERR_CALLBACK_FAILURE;
  sipflow__ctx_attach(ctx, &a.src);
  sipflow__ctx_attach(ctx, &b.src);
  cr_expect_eq(sipflow_ctx_handle_expiry(ctx, 10),
               SIPFLOW_ERR_CALLBACK_FAILURE);
  cr_expect_eq(b.handled, 1);
  sipflow_ctx_del(ctx);
}

typedef struct log_rec {
  int lines;
  sipflow_log_level last_level;
  char last[256];
} log_rec;

static void rec_log(sipflow_log_level level, const char *msg, void *ud) {
  log_rec *r = ud;
  r->lines++;
  r->last_level = level;
  snprintf(r->last, sizeof(r->last), "%s", msg);
}

Test(ctx, log_respects_the_level) {
  sipflow_ctx *ctx;
  log_rec r = {0};
  sipflow_ctx_callbacks cb = {.log = rec_log};
  cr_assert_eq(sipflow_ctx_new(&ctx, &cb, NULL, NULL, &r), 0);
  sipflow__log(ctx, SIPFLOW_LOG_DEBUG, "hidden %d", 1);
  cr_expect_eq(r.lines, 0);
  sipflow__log(ctx, SIPFLOW_LOG_ERROR, "shown %d", 2);
  cr_expect_eq(r.lines, 1);
  cr_expect_str_eq(r.last, "shown 2");
  sipflow_ctx_del(ctx);
}

Test(ctx, network_log_lines_are_rate_limited_and_summarised) {
  sipflow_ctx *ctx;
  log_rec r = {0};
  sipflow_ctx_callbacks cb = {.log = rec_log};
  sipflow_ctx_settings s;
  sipflow_ctx_settings_default(&s);
  s.log_rate_per_second = 3;
  cr_assert_eq(sipflow_ctx_new(&ctx, &cb, &s, NULL, &r), 0);
  for (int i = 0; i < 1000; i++)
    sipflow__log_net(ctx, SIPFLOW_SECONDS + (sipflow_tstamp)i, SIPFLOW_LOG_WARN,
                     "bad datagram %d", i);
  cr_expect_eq(r.lines, 3);
  sipflow__log_net(ctx, 3 * SIPFLOW_SECONDS, SIPFLOW_LOG_WARN, "later");
  cr_expect_eq(r.lines, 5); /* summary + the line */
  cr_expect_str_eq(r.last, "later");
  sipflow_ctx_del(ctx);
}

Test(ctx, suppressed_lines_are_summarised_on_the_timer_when_no_line_follows) {
  sipflow_ctx *ctx;
  log_rec r = {0};
  sipflow_ctx_callbacks cb = {.log = rec_log};
  sipflow_ctx_settings s;
  sipflow_ctx_settings_default(&s);
  s.log_rate_per_second = 2;
  cr_assert_eq(sipflow_ctx_new(&ctx, &cb, &s, NULL, &r), 0);
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), SIPFLOW_TSTAMP_NONE);
  for (int i = 0; i < 7; i++)
    sipflow__log_net(ctx, SIPFLOW_SECONDS + (sipflow_tstamp)i, SIPFLOW_LOG_WARN,
                     "flood %d", i);
  cr_expect_eq(r.lines, 2);
  /* The summary is due when the window closes: the host's timer fires. */
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), 2 * SIPFLOW_SECONDS);
  cr_expect_eq(sipflow_ctx_handle_expiry(ctx, 2 * SIPFLOW_SECONDS - 1), 0);
  cr_expect_eq(r.lines, 2);
  cr_expect_eq(sipflow_ctx_handle_expiry(ctx, 2 * SIPFLOW_SECONDS), 0);
  cr_expect_eq(r.lines, 3);
  cr_expect_str_eq(r.last, "5 log lines about network input suppressed");
  cr_expect_eq(sipflow_ctx_get_expiry(ctx), SIPFLOW_TSTAMP_NONE);
  sipflow_ctx_del(ctx);
}

static void counting_rand(uint8_t *dest, size_t len, void *ud) {
  uint64_t *state = ud;
  for (size_t i = 0; i < len; i++) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    dest[i] = (uint8_t)(*state >> 56);
  }
}

Test(ctx, rand_range_stays_in_bounds_and_covers_them) {
  sipflow_ctx *ctx;
  uint64_t state = 1;
  sipflow_ctx_callbacks cb = {.rand = counting_rand};
  int seen[11] = {0};
  cr_assert_eq(sipflow_ctx_new(&ctx, &cb, NULL, NULL, &state), 0);
  for (int i = 0; i < 5000; i++) {
    uint64_t v = sipflow__rand_range(ctx, 80, 90);
    cr_assert(v >= 80 && v <= 90);
    seen[v - 80]++;
  }
  for (int i = 0; i <= 10; i++)
    cr_expect_gt(seen[i], 300);
  cr_expect_eq(sipflow__rand_range(ctx, 7, 7), 7);
  cr_expect_eq(sipflow__rand_range(ctx, 9, 3), 9);
  sipflow_ctx_del(ctx);
}

Test(ctx, without_a_rand_callback_randomness_is_zero) {
  sipflow_ctx *ctx;
  uint8_t buf[4] = {1, 2, 3, 4};
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL), 0);
  sipflow__rand(ctx, buf, sizeof(buf));
  cr_expect_eq(buf[0] | buf[1] | buf[2] | buf[3], 0);
  cr_expect_eq(sipflow__rand_range(ctx, 10, 20), 10);
  sipflow_ctx_del(ctx);
}
