/*
 * The names of the public enums: every value named, each name distinct
 * within its enum, and NULL for every value the enum does not have.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <sipflow/sipflow.h>

typedef const char *(*name_fn)(int);

/* |fn| names exactly |values| (distinct, lower-case, no spaces) and
 * nothing else in [-2, 64]. */
static void names_exactly(const char *what, name_fn fn, const int *values,
                          size_t n) {
  for (size_t i = 0; i < n; i++) {
    const char *a = fn(values[i]);
    cr_assert_not_null(a, "%s: value %d has no name", what, values[i]);
    for (const char *c = a; *c; c++)
      cr_assert((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                    *c == '-',
                "%s: name '%s' is not lower-case words", what, a);
    for (size_t j = 0; j < i; j++)
      cr_assert_str_neq(a, fn(values[j]), "%s: %d and %d share '%s'", what,
                        values[i], values[j], a);
  }
  for (int v = -2; v <= 64; v++) {
    int member = 0;
    for (size_t i = 0; i < n; i++)
      member |= values[i] == v;
    if (!member)
      cr_assert_null(fn(v), "%s: %d is not a value but is named '%s'", what, v,
                     fn(v));
  }
}

#define EXACTLY(fn, ...)                                                       \
  do {                                                                         \
    static const int v[] = {__VA_ARGS__};                                      \
    names_exactly(#fn, fn, v, sizeof(v) / sizeof(v[0]));                       \
  } while (0)

Test(names, every_value_of_every_reported_enum_is_named) {
  EXACTLY(sipflow_log_level_name, SIPFLOW_LOG_ERROR, SIPFLOW_LOG_WARN,
          SIPFLOW_LOG_INFO, SIPFLOW_LOG_DEBUG);
  EXACTLY(sipflow_family_name, SIPFLOW_AF_INET, SIPFLOW_AF_INET6);
  EXACTLY(sipflow_health_name, SIPFLOW_HEALTH_UNKNOWN, SIPFLOW_HEALTH_ALIVE,
          SIPFLOW_HEALTH_SUSPECT, SIPFLOW_HEALTH_DEAD);
  EXACTLY(sipflow_keepalive_method_name, SIPFLOW_KEEPALIVE_AUTO,
          SIPFLOW_KEEPALIVE_CRLF, SIPFLOW_KEEPALIVE_STUN,
          SIPFLOW_KEEPALIVE_OPTIONS, SIPFLOW_KEEPALIVE_UDP_PING,
          SIPFLOW_KEEPALIVE_PASSIVE, SIPFLOW_KEEPALIVE_WS_PING);
  EXACTLY(sipflow_ws_message_name, SIPFLOW_WS_MESSAGE_GARBAGE,
          SIPFLOW_WS_MESSAGE_SIP, SIPFLOW_WS_MESSAGE_CRLF_PING,
          SIPFLOW_WS_MESSAGE_CRLF_PONG, SIPFLOW_WS_MESSAGE_BLANK);
  EXACTLY(sipflow_keepalive_reason_name, SIPFLOW_KEEPALIVE_REGISTRATION,
          SIPFLOW_KEEPALIVE_SUBSCRIPTION, SIPFLOW_KEEPALIVE_DIALOG,
          SIPFLOW_KEEPALIVE_OTHER);
  EXACTLY(sipflow_keepalive_event_name, SIPFLOW_KEEPALIVE_ALIVE,
          SIPFLOW_KEEPALIVE_SUSPECT, SIPFLOW_KEEPALIVE_DEAD,
          SIPFLOW_KEEPALIVE_REBOUND);
  EXACTLY(sipflow_keepalive_removal_name, SIPFLOW_KEEPALIVE_REMOVED_ENDED,
          SIPFLOW_KEEPALIVE_REMOVED_EXPIRED, SIPFLOW_KEEPALIVE_REMOVED_REJECTED,
          SIPFLOW_KEEPALIVE_REMOVED_DEAD, SIPFLOW_KEEPALIVE_REMOVED_HOST);
  EXACTLY(sipflow_reg_change_name, SIPFLOW_REG_ADDED, SIPFLOW_REG_REFRESHED,
          SIPFLOW_REG_UPDATED, SIPFLOW_REG_REMOVED, SIPFLOW_REG_EXPIRED,
          SIPFLOW_REG_FLOW_FAILED);
  EXACTLY(sipflow_change_kind_name, SIPFLOW_CHANGE_BINDING,
          SIPFLOW_CHANGE_ENDPOINT, SIPFLOW_CHANGE_KEY);
  EXACTLY(sipflow_change_op_name, SIPFLOW_CHANGE_PUT, SIPFLOW_CHANGE_DEL);
  EXACTLY(sipflow_frame_type_name, SIPFLOW_FRAME_NONE, SIPFLOW_FRAME_MESSAGE,
          SIPFLOW_FRAME_PING, SIPFLOW_FRAME_PONG);
  EXACTLY(sipflow_edge_method_name, SIPFLOW_EDGE_METHOD_OTHER,
          SIPFLOW_EDGE_METHOD_REGISTER, SIPFLOW_EDGE_METHOD_INVITE,
          SIPFLOW_EDGE_METHOD_SUBSCRIBE, SIPFLOW_EDGE_METHOD_REFER);
  EXACTLY(sipflow_edge_header_name, SIPFLOW_EDGE_HEADER_NONE,
          SIPFLOW_EDGE_HEADER_PATH, SIPFLOW_EDGE_HEADER_RECORD_ROUTE);
  EXACTLY(sipflow_edge_direction_name, SIPFLOW_EDGE_DIR_NONE,
          SIPFLOW_EDGE_DIR_FROM_UA, SIPFLOW_EDGE_DIR_TO_UA);
  /* The names that were there in 0.1 keep the same rules. */
  EXACTLY(sipflow_edge_action_name, SIPFLOW_EDGE_NONE,
          SIPFLOW_EDGE_ADD_TOKEN_OB, SIPFLOW_EDGE_ADD_TOKEN,
          SIPFLOW_EDGE_ROUTE_FLOW, SIPFLOW_EDGE_REJECT);
  EXACTLY(sipflow_flow_end_reason_name, SIPFLOW_FLOW_END_CLOSED,
          SIPFLOW_FLOW_END_RESET, SIPFLOW_FLOW_END_KEEPALIVE_TIMEOUT,
          SIPFLOW_FLOW_END_ICMP_ERROR, SIPFLOW_FLOW_END_LOCAL_CLOSE);
}

Test(names, names_read_as_the_documentation_says) {
  cr_assert_str_eq(sipflow_health_name(SIPFLOW_HEALTH_SUSPECT), "suspect");
  cr_assert_str_eq(sipflow_keepalive_method_name(SIPFLOW_KEEPALIVE_UDP_PING),
                   "udp-ping");
  cr_assert_str_eq(sipflow_reg_change_name(SIPFLOW_REG_FLOW_FAILED),
                   "flow-failed");
  cr_assert_str_eq(sipflow_edge_header_name(SIPFLOW_EDGE_HEADER_RECORD_ROUTE),
                   "record-route");
  cr_assert_str_eq(sipflow_family_name(SIPFLOW_AF_INET6), "ipv6");
}
