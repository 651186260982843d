/*
 * Edge-proxy decisions (RFC 5626 §5.1, §5.3) and Path / Record-Route values.
 * Pure functions over plain structs.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "sipflow/edge.h"
#include "sipflow_int.h"

/* ---- names --------------------------------------------------------------- */

static const struct {
  const char *name;
  int method;
} methods[] = {
    {"REGISTER", SIPFLOW_EDGE_METHOD_REGISTER},
    {"INVITE", SIPFLOW_EDGE_METHOD_INVITE},
    {"SUBSCRIBE", SIPFLOW_EDGE_METHOD_SUBSCRIBE},
    {"REFER", SIPFLOW_EDGE_METHOD_REFER},
};

int sipflow_edge_method_parse(const char *name, size_t len) {
  if (!name)
    return SIPFLOW_EDGE_METHOD_OTHER;
  for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
    if (strlen(methods[i].name) == len &&
        memcmp(methods[i].name, name, len) == 0)
      return methods[i].method;
  return SIPFLOW_EDGE_METHOD_OTHER;
}

static const char *const reason_strs[] = {
    [SIPFLOW_EDGE_REASON_NOT_APPLICABLE] =
        "no Outbound rule applies to this request (RFC 5626 §5)",
    [SIPFLOW_EDGE_REASON_FORCED_OFF] = "Outbound forced off by the host",
    [SIPFLOW_EDGE_REASON_FORCED_ON] = "Outbound forced on by the host",
    [SIPFLOW_EDGE_REASON_REGISTER_FIRST_HOP] =
        "REGISTER with reg-id from the first hop: Path with token and ;ob "
        "(RFC 5626 §5.1)",
    [SIPFLOW_EDGE_REASON_REGISTER_NOT_FIRST_HOP] =
        "REGISTER with reg-id past the first hop: no ;ob may be added "
        "(RFC 5626 §5.1)",
    [SIPFLOW_EDGE_REASON_REGISTER_NO_REG_ID] =
        "REGISTER without reg-id: not an Outbound registration (RFC 5626 §5.1)",
    [SIPFLOW_EDGE_REASON_PATH_UNSUPPORTED] =
        "REGISTER without Supported: path: answer 421 with Require: path "
        "(RFC 3327 §5.2)",
    [SIPFLOW_EDGE_REASON_DIALOG_CONTACT_OB] =
        "dialog-forming request whose Contact has ;ob: Record-Route with "
        "token (RFC 5626 §5.3.2)",
    [SIPFLOW_EDGE_REASON_DIALOG_ROUTE_OB] =
        "dialog-forming request whose top Route has ;ob: Record-Route with "
        "token (RFC 5626 §5.3.2)",
    [SIPFLOW_EDGE_REASON_DIALOG_NOT_FIRST_HOP] =
        "dialog-forming request with ;ob past the first hop: the arrival "
        "flow is not the UA's (RFC 5626 §5.3.2)",
    [SIPFLOW_EDGE_REASON_TOKEN_TO_UA] =
        "token names another flow: send over it (RFC 5626 §5.3.1)",
    [SIPFLOW_EDGE_REASON_TOKEN_FROM_UA] =
        "token names the arrival flow: from the UA, forward normally "
        "(RFC 5626 §5.3.2, §9.5)",
    [SIPFLOW_EDGE_REASON_TOKEN_TAMPERED] =
        "token failed its integrity check: answer 403 (RFC 5626 §5.3.1)",
    [SIPFLOW_EDGE_REASON_TOKEN_STALE] =
        "token's flow no longer exists: answer 430 (RFC 5626 §5.3.1)",
    [SIPFLOW_EDGE_REASON_TOKEN_MALFORMED] =
        "Route names this proxy but carries no token of ours: answer 403 "
        "(RFC 5626 §5.3.1)",
};

const char *sipflow_edge_reason_str(int reason) {
  if (reason < 0 ||
      (size_t)reason >= sizeof(reason_strs) / sizeof(*reason_strs))
    return "unknown reason";
  return reason_strs[reason];
}

static const char *const action_names[] = {"none", "add-token-ob", "add-token",
                                           "route-flow", "reject"};

const char *sipflow_edge_action_name(int action) {
  if (action < SIPFLOW_EDGE_NONE || action > SIPFLOW_EDGE_REJECT)
    return NULL;
  return action_names[action];
}

void sipflow_edge_facts_default_versioned(int facts_version,
                                          sipflow_edge_facts *f) {
  (void)facts_version;
  if (f)
    memset(f, 0, sizeof(*f));
}

/* ---- the decision -------------------------------------------------------- */

static bool dialog_forming(const sipflow_edge_facts *f) {
  return !f->to_tag && (f->method == SIPFLOW_EDGE_METHOD_INVITE ||
                        f->method == SIPFLOW_EDGE_METHOD_SUBSCRIBE ||
                        f->method == SIPFLOW_EDGE_METHOD_REFER);
}

static void reject(sipflow_edge_decision *d, int reason, int status) {
  d->action = SIPFLOW_EDGE_REJECT;
  d->reason = reason;
  d->status = status;
}

static void add_token(sipflow_edge_decision *d, const sipflow_edge_facts *f,
                      int action, int header, int reason) {
  d->action = action;
  d->header = header;
  d->reason = reason;
  d->flow = f->arrival_flow;
}

/* A valid token of ours in a Route naming us (RFC 5626 §5.3). */
static void decide_token(const sipflow_edge_facts *f,
                         sipflow_edge_decision *d) {
  bool from_ua = f->token_flow ? f->token_flow == f->arrival_flow
                               : f->token_tuple_is_arrival != 0;
  if (!from_ua) {
    d->action = SIPFLOW_EDGE_ROUTE_FLOW;
    d->reason = SIPFLOW_EDGE_REASON_TOKEN_TO_UA;
    d->direction = SIPFLOW_EDGE_DIR_TO_UA;
    d->flow = f->token_flow;
    /* §5.3.1: keep later in-dialog requests on this instance. */
    d->record_route = dialog_forming(f) && f->route_ob;
    return;
  }
  d->direction = SIPFLOW_EDGE_DIR_FROM_UA;
  d->reason = SIPFLOW_EDGE_REASON_TOKEN_FROM_UA;
  if (f->force == SIPFLOW_EDGE_FORCE_OFF || !dialog_forming(f))
    return;
  if (f->contact_ob || f->route_ob || f->force == SIPFLOW_EDGE_FORCE_ON)
    add_token(d, f, SIPFLOW_EDGE_ADD_TOKEN, SIPFLOW_EDGE_HEADER_RECORD_ROUTE,
              SIPFLOW_EDGE_REASON_TOKEN_FROM_UA);
}

static void decide_route_token(const sipflow_edge_facts *f,
                               sipflow_edge_decision *d) {
  switch (f->token_result) {
  case 0:
    decide_token(f, d);
    break;
  case SIPFLOW_ERR_STALE:
    reject(d, SIPFLOW_EDGE_REASON_TOKEN_STALE, 430);
    break;
  case SIPFLOW_ERR_TAMPERED:
    reject(d, SIPFLOW_EDGE_REASON_TOKEN_TAMPERED, 403);
    break;
  default:
    reject(d, SIPFLOW_EDGE_REASON_TOKEN_MALFORMED, 403);
    break;
  }
}

/* RFC 5626 §5.1; RFC 3327 §5.2 for Supported: path. */
static void decide_register(const sipflow_edge_facts *f,
                            sipflow_edge_decision *d) {
  bool forced = f->force == SIPFLOW_EDGE_FORCE_ON;
  bool first_hop = f->via_count == 1;

  if (!f->contact_reg_id && !forced) {
    d->reason = SIPFLOW_EDGE_REASON_REGISTER_NO_REG_ID;
    return;
  }
  if (!first_hop && !forced) {
    d->reason = SIPFLOW_EDGE_REASON_REGISTER_NOT_FIRST_HOP;
    return;
  }
  if (f->no_supported_path) {
    reject(d, SIPFLOW_EDGE_REASON_PATH_UNSUPPORTED, 421);
    return;
  }
  if (first_hop)
    add_token(d, f, SIPFLOW_EDGE_ADD_TOKEN_OB, SIPFLOW_EDGE_HEADER_PATH,
              f->contact_reg_id ? SIPFLOW_EDGE_REASON_REGISTER_FIRST_HOP
                                : SIPFLOW_EDGE_REASON_FORCED_ON);
  else
    add_token(d, f, SIPFLOW_EDGE_ADD_TOKEN, SIPFLOW_EDGE_HEADER_PATH,
              SIPFLOW_EDGE_REASON_FORCED_ON);
}

/* RFC 5626 §5.3.2: ;ob in Contact or top Route, and no Supported: outbound
 * needed (checklist 11.16). */
static void decide_dialog(const sipflow_edge_facts *f,
                          sipflow_edge_decision *d) {
  bool route_ob = f->route_is_us && f->route_ob;
  bool forced = f->force == SIPFLOW_EDGE_FORCE_ON;
  int reason = f->contact_ob ? SIPFLOW_EDGE_REASON_DIALOG_CONTACT_OB
               : route_ob    ? SIPFLOW_EDGE_REASON_DIALOG_ROUTE_OB
                             : SIPFLOW_EDGE_REASON_FORCED_ON;

  if (!f->contact_ob && !route_ob && !forced)
    return;
  if (f->via_count != 1 && !forced) {
    d->reason = SIPFLOW_EDGE_REASON_DIALOG_NOT_FIRST_HOP;
    return;
  }
  if (f->via_count != 1)
    reason = SIPFLOW_EDGE_REASON_FORCED_ON;
  add_token(d, f, SIPFLOW_EDGE_ADD_TOKEN, SIPFLOW_EDGE_HEADER_RECORD_ROUTE,
            reason);
}

int sipflow_edge_decide_versioned(int facts_version,
                                  const sipflow_edge_facts *f,
                                  sipflow_edge_decision *d) {
  if (!f || !d || facts_version < SIPFLOW_EDGE_FACTS_V1 ||
      facts_version > SIPFLOW_EDGE_FACTS_VERSION)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (f->via_count == 0 || f->force < SIPFLOW_EDGE_FORCE_NONE ||
      f->force > SIPFLOW_EDGE_FORCE_OFF)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  memset(d, 0, sizeof(*d));
  d->reason = SIPFLOW_EDGE_REASON_NOT_APPLICABLE;
  /* A token of ours is honoured whatever the force setting: it is how the
   * rest of the network reaches the UA (RFC 5626 §5.3). */
  if (f->route_is_us && f->route_has_user) {
    decide_route_token(f, d);
    return 0;
  }
  if (f->force == SIPFLOW_EDGE_FORCE_OFF) {
    d->reason = SIPFLOW_EDGE_REASON_FORCED_OFF;
    return 0;
  }
  if (f->method == SIPFLOW_EDGE_METHOD_REGISTER)
    decide_register(f, d);
  else if (dialog_forming(f))
    decide_dialog(f, d);
  return 0;
}

/* ---- Path / Record-Route values ------------------------------------------ */

typedef struct writer {
  char *buf;
  size_t cap, len;
} writer;

static void put(writer *w, const char *s, size_t n) {
  if (w->len < w->cap && n <= w->cap - w->len)
    memcpy(w->buf + w->len, s, n);
  w->len += n;
}

static void puts_(writer *w, const char *s) { put(w, s, strlen(s)); }

static void put_port(writer *w, uint16_t port) {
  char digits[6];
  size_t n = sizeof(digits);
  do {
    digits[--n] = (char)('0' + port % 10);
    port /= 10;
  } while (port);
  put(w, ":", 1);
  put(w, digits + n, sizeof(digits) - n);
}

static bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

static bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

/* RFC 3261 §25.1 hostname / IPv4address, or IPv6 reference without the
 * brackets. Returns 1 for a name or IPv4, 2 for IPv6, 0 if invalid. */
static int host_kind(const char *h, size_t len) {
  bool colon = memchr(h, ':', len) != NULL;
  if (len == 0)
    return 0;
  for (size_t i = 0; i < len; i++) {
    char c = h[i];
    if (colon ? !(is_hex(c) || c == ':' || c == '.')
              : !(is_alnum(c) || c == '.' || c == '-'))
      return 0;
  }
  return colon ? 2 : 1;
}

static bool token_chars_ok(const char *t, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (!is_alnum(t[i]) && t[i] != '-' && t[i] != '_')
      return false;
  return true;
}

int sipflow_edge_format_uri(const sipflow_edge_local *local, const char *token,
                            size_t token_len, unsigned flags, char *buf,
                            size_t buflen, size_t *out_len) {
  writer w = {buf, buflen, 0};
  const char *host;
  size_t hlen;
  int kind;

  if (!local || !local->host.ptr || !buf || (token_len && !token) ||
      (flags & ~(unsigned)(SIPFLOW_EDGE_URI_OB | SIPFLOW_EDGE_URI_SIPS)))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (local->transport && !sipflow_transport_name(local->transport))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  host = local->host.ptr;
  hlen = local->host.len;
  if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
    host++;
    hlen -= 2;
    if (host_kind(host, hlen) != 2)
      return SIPFLOW_ERR_INVALID_ARGUMENT;
  }
  if (!(kind = host_kind(host, hlen)) || !token_chars_ok(token, token_len))
    return SIPFLOW_ERR_INVALID_ARGUMENT;

  puts_(&w, flags & SIPFLOW_EDGE_URI_SIPS ? "<sips:" : "<sip:");
  if (token_len) {
    put(&w, token, token_len);
    put(&w, "@", 1);
  }
  if (kind == 2)
    put(&w, "[", 1);
  put(&w, host, hlen);
  if (kind == 2)
    put(&w, "]", 1);
  if (local->port)
    put_port(&w, local->port);
  if (local->transport && !((flags & SIPFLOW_EDGE_URI_SIPS) &&
                            local->transport == SIPFLOW_TRANSPORT_TLS)) {
    puts_(&w, ";transport=");
    puts_(&w, sipflow_transport_name(local->transport));
  }
  puts_(&w, ";lr");
  if (flags & SIPFLOW_EDGE_URI_OB)
    puts_(&w, ";ob");
  put(&w, ">", 1);
  if (w.len >= buflen)
    return SIPFLOW_ERR_BUFFER_TOO_SMALL;
  buf[w.len] = '\0';
  if (out_len)
    *out_len = w.len;
  return 0;
}
