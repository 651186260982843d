/*
 * Errors, allocator, time helpers, addresses, transports and the version.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "sipflow/sipflow.h"

Test(common, strerror_gives_the_message_of_every_listed_code) {
#define CHECK_MSG_(name, val, msg) cr_expect_str_eq(sipflow_strerror(val), msg);
  SIPFLOW_ERRNO_MAP(CHECK_MSG_)
#undef CHECK_MSG_
  cr_expect_str_eq(sipflow_strerror(0), "success");
  cr_expect_str_eq(sipflow_strerror(-9999), "unknown error");
  cr_expect_str_eq(sipflow_strerror(42), "unknown error");
}

Test(common, err_name_gives_the_symbolic_name) {
  cr_expect_str_eq(sipflow_err_name(SIPFLOW_ERR_NOMEM), "SIPFLOW_ERR_NOMEM");
  cr_expect_str_eq(sipflow_err_name(SIPFLOW_ERR_TAMPERED),
                   "SIPFLOW_ERR_TAMPERED");
  cr_expect_str_eq(sipflow_err_name(0), "SIPFLOW_OK");
  cr_expect_str_eq(sipflow_err_name(-1), "SIPFLOW_ERR_UNKNOWN");
}

Test(common, error_codes_are_negative_and_distinct) {
  int codes[] = {
#define CODE_(name, val, msg) SIPFLOW_ERR_##name,
      SIPFLOW_ERRNO_MAP(CODE_)
#undef CODE_
  };
  size_t n = sizeof(codes) / sizeof(codes[0]);
  for (size_t i = 0; i < n; i++) {
    cr_expect_lt(codes[i], 0);
    for (size_t j = i + 1; j < n; j++)
      cr_expect_neq(codes[i], codes[j]);
  }
}

Test(common, fatal_threshold_splits_the_codes) {
  cr_expect(sipflow_err_is_fatal(SIPFLOW_ERR_NOMEM));
  cr_expect(sipflow_err_is_fatal(SIPFLOW_ERR_CALLBACK_FAILURE));
  cr_expect(sipflow_err_is_fatal(SIPFLOW_ERR_INTERNAL));
  cr_expect_not(sipflow_err_is_fatal(SIPFLOW_ERR_MALFORMED));
  cr_expect_not(sipflow_err_is_fatal(SIPFLOW_ERR_INVALID_ARGUMENT));
  cr_expect_not(sipflow_err_is_fatal(0));
}

Test(common, default_allocator_allocates_and_frees) {
  const sipflow_mem *m = sipflow_mem_default();
  cr_assert_not_null(m);
  char *p = m->malloc(16, m->user_data);
  cr_assert_not_null(p);
  memset(p, 'x', 16);
  p = m->realloc(p, 64, m->user_data);
  cr_assert_not_null(p);
  cr_expect_eq(p[15], 'x');
  m->free(p, m->user_data);
  int *z = m->calloc(4, sizeof(int), m->user_data);
  cr_assert_not_null(z);
  cr_expect_eq(z[0] | z[1] | z[2] | z[3], 0);
  m->free(z, m->user_data);
  m->free(NULL, m->user_data);
}

Test(common, ms_until_rounds_up_and_handles_none_and_past) {
  sipflow_tstamp now = 5 * SIPFLOW_SECONDS;
  cr_expect_eq(sipflow_ms_until(now + SIPFLOW_MILLISECONDS, now), 1);
  cr_expect_eq(sipflow_ms_until(now + 1, now), 1);
  cr_expect_eq(sipflow_ms_until(now + 1500 * SIPFLOW_MICROSECONDS, now), 2);
  cr_expect_eq(sipflow_ms_until(now, now), 0);
  cr_expect_eq(sipflow_ms_until(now - 1, now), 0);
  cr_expect_eq(sipflow_ms_until(SIPFLOW_TSTAMP_NONE, now), UINT64_MAX);
  /* For timers where 0 disarms (timerfd): a passed deadline fires at once. */
  cr_expect_eq(sipflow_ns_until_armed(now + 1500, now), 1500);
  cr_expect_eq(sipflow_ns_until_armed(now + 1, now), 1);
  cr_expect_eq(sipflow_ns_until_armed(now, now), 1);
  cr_expect_eq(sipflow_ns_until_armed(now - 5, now), 1);
  cr_expect_eq(sipflow_ns_until_armed(0, now), 1);
  cr_expect_eq(sipflow_ns_until_armed(SIPFLOW_TSTAMP_NONE, now), UINT64_MAX);
  cr_expect_eq(SIPFLOW_SECONDS, 1000 * SIPFLOW_MILLISECONDS);
  cr_expect_eq(SIPFLOW_MILLISECONDS, 1000 * SIPFLOW_MICROSECONDS);
  cr_expect_eq(SIPFLOW_MICROSECONDS, 1000 * SIPFLOW_NANOSECONDS);
}

Test(common, addr_parse_and_format_round_trip) {
  sipflow_addr a, b;
  char buf[64];
  cr_assert_eq(sipflow_addr_parse(&a, "192.0.2.7", 5060), 0);
  cr_expect_eq(a.family, SIPFLOW_AF_INET);
  cr_expect_eq(a.bytes[0], 192);
  cr_expect_eq(a.bytes[3], 7);
  cr_assert_eq(sipflow_addr_format(&a, buf, sizeof(buf)), 0);
  cr_expect_str_eq(buf, "192.0.2.7:5060");
  cr_assert_eq(sipflow_addr_parse(&a, "0.0.0.0", 0), 0);
  cr_assert_eq(sipflow_addr_format(&a, buf, sizeof(buf)), 0);
  cr_expect_str_eq(buf, "0.0.0.0:0");
  cr_assert_eq(sipflow_addr_parse(&a, "255.255.255.255", 65535), 0);
  cr_assert_eq(sipflow_addr_format(&a, buf, 22), 0);
  cr_expect_str_eq(buf, "255.255.255.255:65535");
  cr_expect_eq(sipflow_addr_format(&a, buf, 21), SIPFLOW_ERR_BUFFER_TOO_SMALL);

  cr_assert_eq(sipflow_addr_parse(&b, "[2001:db8::1]", 5061), 0);
  cr_expect_eq(b.family, SIPFLOW_AF_INET6);
  cr_assert_eq(sipflow_addr_format(&b, buf, sizeof(buf)), 0);
  cr_expect_str_eq(buf, "[2001:db8::1]:5061");
  cr_assert_eq(sipflow_addr_parse(&b, "::1", 7), 0);
  cr_expect_eq(b.bytes[15], 1);
}

Test(common, addr_parse_rejects_garbage) {
  sipflow_addr a;
  cr_expect_eq(sipflow_addr_parse(&a, "", 1), SIPFLOW_ERR_MALFORMED);
  cr_expect_eq(sipflow_addr_parse(&a, "300.1.1.1", 1), SIPFLOW_ERR_MALFORMED);
  cr_expect_eq(sipflow_addr_parse(&a, "example.com", 1), SIPFLOW_ERR_MALFORMED);
  cr_expect_eq(sipflow_addr_parse(&a, "[::1", 1), SIPFLOW_ERR_MALFORMED);
  cr_expect_eq(sipflow_addr_parse(NULL, "::1", 1),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

Test(common, addr_format_reports_small_buffer_and_bad_family) {
  sipflow_addr a;
  char buf[8];
  sipflow_addr_parse(&a, "192.0.2.7", 5060);
  cr_expect_eq(sipflow_addr_format(&a, buf, sizeof(buf)),
               SIPFLOW_ERR_BUFFER_TOO_SMALL);
  memset(&a, 0, sizeof(a));
  cr_expect_eq(sipflow_addr_format(&a, buf, sizeof(buf)),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

Test(common, addr_equal_compares_family_bytes_and_port) {
  sipflow_addr a, b;
  sipflow_addr_parse(&a, "10.0.0.1", 5060);
  sipflow_addr_parse(&b, "10.0.0.1", 5060);
  b.bytes[10] = 99; /* beyond the IPv4 bytes: ignored */
  cr_expect(sipflow_addr_equal(&a, &b));
  b.port = 5061;
  cr_expect_not(sipflow_addr_equal(&a, &b));
  sipflow_addr_parse(&b, "::ffff:10.0.0.1", 5060);
  cr_expect_not(sipflow_addr_equal(&a, &b));
  cr_expect_not(sipflow_addr_equal(&a, NULL));
}

Test(common, transport_names_parse_and_stream_flag) {
  cr_expect_str_eq(sipflow_transport_name(SIPFLOW_TRANSPORT_UDP), "udp");
  cr_expect_str_eq(sipflow_transport_name(SIPFLOW_TRANSPORT_WSS), "wss");
  cr_expect_null(sipflow_transport_name(0));
  cr_expect_null(sipflow_transport_name(7));
  cr_expect_eq(sipflow_transport_parse("TCP", 3), SIPFLOW_TRANSPORT_TCP);
  cr_expect_eq(sipflow_transport_parse("sctp", 4), SIPFLOW_TRANSPORT_SCTP);
  cr_expect_eq(sipflow_transport_parse("wsx", 3), SIPFLOW_ERR_UNSUPPORTED);
  cr_expect_eq(sipflow_transport_parse("udpx", 3), SIPFLOW_TRANSPORT_UDP);
  cr_expect_eq(sipflow_transport_parse(NULL, 0), SIPFLOW_ERR_UNSUPPORTED);
  cr_expect_not(sipflow_transport_is_stream(SIPFLOW_TRANSPORT_UDP));
  cr_expect(sipflow_transport_is_stream(SIPFLOW_TRANSPORT_TCP));
  cr_expect(sipflow_transport_is_stream(SIPFLOW_TRANSPORT_WSS));
  cr_expect_not(sipflow_transport_is_stream(0));
}

Test(common, version_query_matches_the_header) {
  const sipflow_info *info = sipflow_version(0);
  cr_assert_not_null(info);
  cr_expect_eq(info->age, 1);
  cr_expect_eq(info->version_num, SIPFLOW_VERSION_NUM);
  cr_expect_str_eq(info->version_str, SIPFLOW_VERSION);
  cr_expect_not_null(sipflow_version(SIPFLOW_VERSION_NUM));
  cr_expect_null(sipflow_version(SIPFLOW_VERSION_NUM + 1));
  cr_expect_eq(SIPFLOW_VERSION_NUM, (uint32_t)((SIPFLOW_VERSION_MAJOR << 16) |
                                               (SIPFLOW_VERSION_MINOR << 8) |
                                               SIPFLOW_VERSION_PATCH));
}
