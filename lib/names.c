/*
 * libsipflow: the names of the public enums, for logs, JSON and bindings.
 * Each returns a static lower-case string, or NULL for a value the enum
 * does not have. No state; callback-safe.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stddef.h>

#include "sipflow/changes.h"
#include "sipflow/common.h"
#include "sipflow/edge.h"
#include "sipflow/framer.h"
#include "sipflow/keepalive.h"
#include "sipflow/registrar.h"

/* names[v] for 0 <= v < n, NULL for holes and everything else. */
static const char *pick(const char *const *names, size_t n, int v) {
  return v >= 0 && (size_t)v < n ? names[v] : NULL;
}

#define PICK(names, v) pick((names), sizeof(names) / sizeof((names)[0]), (v))

const char *sipflow_log_level_name(int level) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  return PICK(names, level);
}

const char *sipflow_family_name(int family) {
  static const char *const names[] = {NULL,   NULL, NULL,  NULL,
                                      "ipv4", NULL, "ipv6"};
  return PICK(names, family);
}

const char *sipflow_health_name(int health) {
  static const char *const names[] = {"unknown", "alive", "suspect", "dead"};
  return PICK(names, health);
}

const char *sipflow_keepalive_method_name(int method) {
  static const char *const names[] = {
      "auto", "crlf", "stun", "options", "udp-ping", "passive", "ws-ping"};
  return PICK(names, method);
}

const char *sipflow_keepalive_reason_name(int kind) {
  static const char *const names[] = {NULL, "registration", "subscription",
                                      "dialog", "other"};
  return PICK(names, kind);
}

const char *sipflow_keepalive_event_name(int event) {
  static const char *const names[] = {NULL, "alive", "suspect", "dead",
                                      "rebound"};
  return PICK(names, event);
}

const char *sipflow_keepalive_removal_name(int removal) {
  static const char *const names[] = {NULL,       "ended", "expired",
                                      "rejected", "dead",  "host"};
  return PICK(names, removal);
}

const char *sipflow_reg_change_name(int change) {
  static const char *const names[] = {NULL,         "added",   "refreshed",
                                      "updated",    "removed", "expired",
                                      "flow-failed"};
  return PICK(names, change);
}

const char *sipflow_change_kind_name(int kind) {
  static const char *const names[] = {NULL, "binding", "endpoint", "key"};
  return PICK(names, kind);
}

const char *sipflow_change_op_name(int op) {
  static const char *const names[] = {NULL, "put", "del"};
  return PICK(names, op);
}

const char *sipflow_frame_type_name(int type) {
  static const char *const names[] = {"none", "message", "ping", "pong"};
  return PICK(names, type);
}

const char *sipflow_edge_method_name(int method) {
  static const char *const names[] = {"other", "register", "invite",
                                      "subscribe", "refer"};
  return PICK(names, method);
}

const char *sipflow_edge_header_name(int header) {
  static const char *const names[] = {"none", "path", "record-route"};
  return PICK(names, header);
}

const char *sipflow_edge_direction_name(int direction) {
  static const char *const names[] = {"none", "from-ua", "to-ua"};
  return PICK(names, direction);
}
