/*
 * Stream framing: Content-Length, CRLF ping/pong at boundaries, limits.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "fail_alloc.h"
#include "sipflow/framer.h"

static const char register_msg[] =
    "REGISTER sip:example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
    "Content-Length: 5\r\n"
    "\r\n"
    "hello";

static sipflow_framer *new_framer(size_t max) {
  sipflow_framer *f;
  cr_assert_eq(sipflow_framer_new(&f, NULL, max), 0);
  return f;
}

static int feed_str(sipflow_framer *f, const char *s) {
  return sipflow_framer_feed(f, (const uint8_t *)s, strlen(s));
}

static sipflow_frame next(sipflow_framer *f) {
  sipflow_frame fr;
  cr_assert_eq(sipflow_framer_next(f, &fr), 0);
  return fr;
}

Test(framer, one_message_with_body_by_content_length) {
  sipflow_framer *f = new_framer(0);
  cr_assert_eq(feed_str(f, register_msg), 0);
  sipflow_frame fr = next(f);
  cr_assert_eq(fr.type, SIPFLOW_FRAME_MESSAGE);
  cr_expect_eq(fr.len, strlen(register_msg));
  cr_expect_eq(memcmp(fr.data + fr.body_offset, "hello", 5), 0);
  cr_expect_eq(next(f).type, SIPFLOW_FRAME_NONE);
  cr_expect_eq(sipflow_framer_pending(f), 0);
  sipflow_framer_del(f);
}

Test(framer, message_fed_one_byte_at_a_time) {
  sipflow_framer *f = new_framer(0);
  size_t n = strlen(register_msg);
  for (size_t i = 0; i < n; i++) {
    cr_assert_eq(sipflow_framer_feed(f, (const uint8_t *)register_msg + i, 1),
                 0);
    sipflow_frame fr = next(f);
    if (i + 1 < n)
      cr_assert_eq(fr.type, SIPFLOW_FRAME_NONE, "early frame at byte %zu", i);
    else
      cr_assert_eq(fr.type, SIPFLOW_FRAME_MESSAGE);
  }
  sipflow_framer_del(f);
}

Test(framer, pipelined_messages_and_keepalives_in_one_read) {
  char buf[1024];
  sipflow_framer *f = new_framer(0);
  snprintf(buf, sizeof(buf), "\r\n\r\n%s\r\n\r\n%s", register_msg,
           register_msg);
  cr_assert_eq(feed_str(f, buf), 0);
  cr_expect_eq(next(f).type, SIPFLOW_FRAME_PING);
  cr_expect_eq(next(f).type, SIPFLOW_FRAME_MESSAGE);
  cr_expect_eq(next(f).type, SIPFLOW_FRAME_PING);
  cr_expect_eq(next(f).type, SIPFLOW_FRAME_MESSAGE);
  cr_expect_eq(next(f).type, SIPFLOW_FRAME_NONE);
  sipflow_framer_del(f);
}

/* RFC 5626 §4.4.1: ping = CRLFCRLF, pong = CRLF. */
Test(framer, lone_crlf_waits_unless_a_pong_is_expected) {
  sipflow_framer *f = new_framer(0);
  cr_assert_eq(feed_str(f, "\r\n"), 0);
  cr_expect_eq(next(f).type, SIPFLOW_FRAME_NONE);
  cr_assert_eq(feed_str(f, "\r\n"), 0); /* it was a split ping */
  cr_expect_eq(next(f).type, SIPFLOW_FRAME_PING);

  sipflow_framer_expect_pong(f, 1);
  cr_assert_eq(feed_str(f, "\r\n"), 0);
  cr_expect_eq(next(f).type, SIPFLOW_FRAME_PONG);
  /* the expectation is used up by the pong */
  cr_assert_eq(feed_str(f, "\r\n"), 0);
  cr_expect_eq(next(f).type, SIPFLOW_FRAME_NONE);
  sipflow_framer_del(f);
}

/* RFC 3261 §7.5: a CRLF before a start line is skipped (seen as a pong). */
Test(framer, stray_crlf_before_a_message_is_a_pong) {
  char buf[512];
  sipflow_framer *f = new_framer(0);
  snprintf(buf, sizeof(buf), "\r\n%s", register_msg);
  cr_assert_eq(feed_str(f, buf), 0);
  cr_expect_eq(next(f).type, SIPFLOW_FRAME_PONG);
  cr_expect_eq(next(f).type, SIPFLOW_FRAME_MESSAGE);
  sipflow_framer_del(f);
}

Test(framer, compact_content_length_and_zero_length) {
  sipflow_framer *f = new_framer(0);
  cr_assert_eq(feed_str(f, "OPTIONS sip:a SIP/2.0\r\nl:  2 \r\n\r\nokSIP/2.0 "
                           "200 OK\r\nVia: x\r\nl: 0\r\n\r\n"),
               0);
  sipflow_frame fr = next(f);
  cr_assert_eq(fr.type, SIPFLOW_FRAME_MESSAGE);
  cr_expect_eq(fr.len - fr.body_offset, 2);
  fr = next(f);
  cr_assert_eq(fr.type, SIPFLOW_FRAME_MESSAGE);
  cr_expect_eq(fr.len, fr.body_offset);
  sipflow_framer_del(f);
}

/* RFC 3261 §18.3: Content-Length MUST be present on a stream. Taking a
 * message without it as bodiless would hand its body on as a second
 * request, one no front end in the path had seen (request smuggling). */
Test(framer, missing_content_length_is_a_framing_error_not_a_second_request) {
  sipflow_framer *f = new_framer(0);
  sipflow_frame fr;
  cr_assert_eq(feed_str(f, "OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n"
                           "INVITE sip:b SIP/2.0\r\nContent-Length: 0\r\n"
                           "\r\n"),
               0);
  cr_expect_eq(sipflow_framer_next(f, &fr), SIPFLOW_ERR_MALFORMED);
  cr_expect_eq(fr.type, SIPFLOW_FRAME_NONE);
  cr_expect_eq(sipflow_framer_next(f, &fr), SIPFLOW_ERR_BAD_STATE);
  cr_expect_eq(fr.type, SIPFLOW_FRAME_NONE);
  sipflow_framer_del(f);
}

Test(framer, missing_content_length_after_a_good_message_fails_there) {
  sipflow_framer *f = new_framer(0);
  sipflow_frame fr;
  cr_assert_eq(feed_str(f, register_msg), 0);
  cr_assert_eq(feed_str(f, "SIP/2.0 200 OK\r\nVia: x\r\n\r\n"), 0);
  cr_expect_eq(next(f).type, SIPFLOW_FRAME_MESSAGE);
  cr_expect_eq(sipflow_framer_next(f, &fr), SIPFLOW_ERR_MALFORMED);
  sipflow_framer_del(f);
}

struct bad_case {
  const char *bytes;
  int err;
};

Test(framer, bad_streams_fail_and_stay_failed) {
  static const struct bad_case cases[] = {
      {"INVITE sip:a SIP/2.0\r\nContent-Length: x\r\n\r\n", -203},
      {"INVITE sip:a SIP/2.0\r\nContent-Length: 1 2\r\n\r\n", -203},
      {"INVITE sip:a SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\n", -203},
      {"INVITE sip:a SIP/2.0\r\nContent-Length: 99999999999\r\n\r\n", -204},
      {"INVITE sip:a SIP/2.0\r\nContent-Length: 70000\r\n\r\n", -204},
      {"INVITE sip:a SIP/2.0\r\nVia: x\r\n\r\n", -203},
      {"INVITE sip:a SIP/2.0\r\nX-Content-Length: 0\r\n\r\n", -203},
      {"INVITE sip:a SIP/2.0\r\n Content-Length: 0\r\n\r\n", -203},
      {"\x16\x03\x01 binary", -203},
      {"\rX", -203},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    sipflow_framer *f = new_framer(0);
    sipflow_frame fr;
    cr_assert_eq(feed_str(f, cases[i].bytes), 0);
    cr_expect_eq(sipflow_framer_next(f, &fr), cases[i].err, "case %zu", i);
    cr_expect_eq(fr.type, SIPFLOW_FRAME_NONE);
    cr_expect_eq(sipflow_framer_next(f, &fr), SIPFLOW_ERR_BAD_STATE);
    cr_expect_eq(feed_str(f, "x"), SIPFLOW_ERR_BAD_STATE);
    sipflow_framer_del(f);
  }
}

Test(framer, header_section_over_the_limit_is_too_large) {
  sipflow_framer *f = new_framer(64);
  sipflow_frame fr;
  cr_assert_eq(feed_str(f, "INVITE sip:a SIP/2.0\r\n"), 0);
  cr_expect_eq(sipflow_framer_next(f, &fr), 0);
  for (int i = 0; i < 5; i++)
    cr_assert_eq(feed_str(f, "X-Filler: aaaaaaaa\r\n"), 0);
  cr_expect_eq(sipflow_framer_next(f, &fr), SIPFLOW_ERR_TOO_LARGE);
  sipflow_framer_del(f);
}

Test(framer, feeding_far_past_the_limit_is_refused) {
  static uint8_t big[200000];
  sipflow_framer *f = new_framer(1000);
  memset(big, 'A', sizeof(big));
  cr_expect_eq(sipflow_framer_feed(f, big, sizeof(big)), SIPFLOW_ERR_TOO_LARGE);
  sipflow_framer_del(f);
}

Test(framer, idle_framer_holds_no_buffer_and_nomem_is_survivable) {
  fail_alloc fa;
  sipflow_framer *f;
  fail_alloc_init(&fa);
  fail_alloc_arm(&fa, 1, 0);
  cr_expect_eq(sipflow_framer_new(&f, &fa.mem, 0), SIPFLOW_ERR_NOMEM);
  cr_assert_eq(sipflow_framer_new(&f, &fa.mem, 0), 0);
  fail_alloc_arm(&fa, 1, 0);
  cr_expect_eq(feed_str(f, register_msg), SIPFLOW_ERR_NOMEM);
  cr_expect_eq(sipflow_framer_pending(f), 0);
  cr_assert_eq(feed_str(f, register_msg), 0);
  cr_expect_eq(fa.live, 2);
  cr_expect_eq(next(f).type, SIPFLOW_FRAME_MESSAGE);
  cr_expect_eq(next(f).type, SIPFLOW_FRAME_NONE);
  cr_expect_eq(fa.live, 1); /* buffer released once empty */
  sipflow_framer_del(f);
  cr_expect_eq(fa.live, 0);
}

Test(framer, bad_arguments) {
  sipflow_frame fr;
  cr_expect_eq(sipflow_framer_new(NULL, NULL, 0), SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_framer_next(NULL, &fr), SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_framer_feed(NULL, NULL, 0),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_framer_pending(NULL), 0);
  sipflow_framer_expect_pong(NULL, 1);
  sipflow_framer_del(NULL);
}
