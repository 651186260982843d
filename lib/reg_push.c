/*
 * Push-reachable bindings (RFC 8599): the pn-* Contact URI parameters, the
 * host's list of push services, suspending a binding whose flow failed,
 * and the refresh pushes due before a binding expires.
 *
 * The pn-* values are not stored apart: they are parameters of the Contact
 * URI the binding keeps anyway, so every store of bindings (the change
 * stream, SQLite, Redis) carries them, and a view reads them from the URI.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "registrar_int.h"

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

static bool name_is(const char *s, size_t len, const char *name) {
  size_t n = strlen(name);
  if (len != n)
    return false;
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)s[i]) != name[i])
      return false;
  return true;
}

bool sipflow__reg_uri_param(const char *uri, size_t len, const char *name,
                            sipflow_str *val) {
  sipflow__reg_uri u;
  const char *p, *end;
  if (sipflow__reg_uri_parse(uri, len, &u) != 0 || !u.params)
    return false;
  p = u.params;
  end = u.params + u.params_len;
  while (p < end) {
    const char *stop = memchr(p, ';', (size_t)(end - p));
    const char *eq;
    if (!stop)
      stop = end;
    eq = memchr(p, '=', (size_t)(stop - p));
    if (name_is(p, (size_t)((eq ? eq : stop) - p), name)) {
      val->ptr = eq ? eq + 1 : stop;
      val->len = eq ? (size_t)(stop - eq - 1) : 0;
      return true;
    }
    p = stop + 1;
  }
  return false;
}

bool sipflow__reg_params_has(sipflow_str params, const char *name) {
  const char *p = params.ptr, *end = params.ptr + params.len;
  if (!p)
    return false;
  while (p < end) {
    const char *stop = memchr(p, ';', (size_t)(end - p));
    const char *eq, *a, *z;
    if (!stop)
      stop = end;
    eq = memchr(p, '=', (size_t)(stop - p));
    a = p;
    z = eq ? eq : stop;
    while (a < z && (*a == ' ' || *a == '\t'))
      a++;
    while (z > a && (z[-1] == ' ' || z[-1] == '\t'))
      z--;
    if (name_is(a, (size_t)(z - a), name))
      return true;
    p = stop + 1;
  }
  return false;
}

/* RFC 6809 §6: fc-value = "*" *(SEMI feature-cap), feature-cap = "+"
 * fcap-name [EQUAL LDQUOT (fcap-value-list / fcap-string-value) RDQUOT].
 * A ';' inside the quotes belongs to the value. */
int sipflow_reg_feature_caps_pns(const char *value, size_t len) {
  size_t i = 0;
  if (!value)
    return 0;
  while (i < len) {
    size_t a, z;
    while (i < len && value[i] != ';') {
      if (value[i] == '"') /* skip a quoted string */
        for (i++; i < len && value[i] != '"'; i++)
          if (value[i] == '\\')
            i++;
      i++;
    }
    if (i >= len)
      break;
    a = ++i;
    while (a < len && (value[a] == ' ' || value[a] == '\t'))
      a++;
    z = a;
    while (z < len && value[z] != '=' && value[z] != ';' && value[z] != ',' &&
           value[z] != ' ' && value[z] != '\t')
      z++;
    if (name_is(value + a, z - a, "+sip.pns"))
      return 1;
    i = z;
  }
  return 0;
}

/* Whether "pn-" occurs in |s|, in any case: most Contacts have none, and
 * this spares them a URI parse on every REGISTER. */
static bool maybe_pn(const char *s, size_t len) {
  for (size_t i = 0; i + 3 <= len; i++)
    if (lower((unsigned char)s[i]) == 'p' &&
        lower((unsigned char)s[i + 1]) == 'n' && s[i + 2] == '-')
      return true;
  return false;
}

bool sipflow__reg_uri_is_push(const char *uri, size_t len) {
  sipflow_str v;
  if (!maybe_pn(uri, len))
    return false;
  return sipflow__reg_uri_param(uri, len, "pn-provider", &v) && v.len > 0 &&
         sipflow__reg_uri_param(uri, len, "pn-prid", &v) && v.len > 0;
}

/* RFC 8599 §5.3: pn-provider (a token, any case), pn-prid and pn-param
 * (absent in both, or the same bytes) equal. */
bool sipflow__reg_push_same(const char *a, size_t alen, const char *b,
                            size_t blen) {
  static const char *const names[] = {"pn-provider", "pn-prid", "pn-param"};
  for (size_t i = 0; i < 3; i++) {
    sipflow_str va = {NULL, 0}, vb = {NULL, 0};
    bool ha = sipflow__reg_uri_param(a, alen, names[i], &va);
    bool hb = sipflow__reg_uri_param(b, blen, names[i], &vb);
    if (ha != hb || va.len != vb.len)
      return false;
    if (!ha || va.len == 0)
      continue;
    if (i == 0) {
      for (size_t k = 0; k < va.len; k++)
        if (lower((unsigned char)va.ptr[k]) != lower((unsigned char)vb.ptr[k]))
          return false;
    } else if (memcmp(va.ptr, vb.ptr, va.len) != 0) {
      return false;
    }
  }
  return true;
}

/* ---- the host's list: "apns,fcm:300" --------------------------------------
 */

static bool token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

typedef struct item {
  sipflow_str name;
  bool has_secs;
  uint32_t secs;
} item;

/* The next item of |list| from *pos: true with *it set, false at the end
 * or on a syntax error (*bad set). */
static bool next_item(sipflow_str list, size_t *pos, item *it, bool *bad) {
  size_t i = *pos, start;
  *bad = false;
  if (i >= list.len)
    return false;
  start = i;
  while (i < list.len && token_char(list.ptr[i]))
    i++;
  it->name.ptr = list.ptr + start;
  it->name.len = i - start;
  it->has_secs = false;
  it->secs = 0;
  if (it->name.len == 0 || it->name.len > 64)
    return !(*bad = true);
  if (i < list.len && list.ptr[i] == ':') {
    uint64_t v = 0;
    size_t digits = 0;
    for (i++; i < list.len && list.ptr[i] >= '0' && list.ptr[i] <= '9'; i++) {
      v = v * 10 + (uint64_t)(list.ptr[i] - '0');
      if (++digits > 9)
        return !(*bad = true);
    }
    if (digits == 0)
      return !(*bad = true);
    it->has_secs = true;
    it->secs = (uint32_t)v;
  }
  if (i < list.len && list.ptr[i] != ',')
    return !(*bad = true);
  if (i < list.len && i + 1 == list.len)
    return !(*bad = true); /* a trailing comma */
  *pos = i + 1;
  return true;
}

bool sipflow__reg_push_list_valid(sipflow_str list) {
  size_t pos = 0;
  item it;
  bool bad = false;
  if (!list.ptr || list.len == 0)
    return true;
  if (list.len > 4096)
    return false;
  while (next_item(list, &pos, &it, &bad))
    ;
  return !bad;
}

int sipflow__reg_push_init(sipflow_registrar *reg) {
  sipflow_str l = reg->set.push_providers;
  reg->push_list = NULL;
  reg->set.push_providers.ptr = NULL;
  reg->set.push_providers.len = 0;
  if (!l.ptr || l.len == 0)
    return 0;
  if (!(reg->push_list = sipflow__malloc(&reg->ctx->mem, l.len)))
    return SIPFLOW_ERR_NOMEM;
  memcpy(reg->push_list, l.ptr, l.len);
  reg->set.push_providers.ptr = reg->push_list;
  reg->set.push_providers.len = l.len;
  return 0;
}

static bool same_name(sipflow_str a, sipflow_str b) {
  if (a.len != b.len)
    return false;
  for (size_t i = 0; i < a.len; i++)
    if (lower((unsigned char)a.ptr[i]) != lower((unsigned char)b.ptr[i]))
      return false;
  return true;
}

bool sipflow__reg_push_find(const sipflow_registrar *reg, sipflow_str provider,
                            sipflow_str *name, uint32_t *refresh) {
  size_t pos = 0;
  item it;
  bool bad;
  while (next_item(reg->set.push_providers, &pos, &it, &bad))
    if (same_name(it.name, provider)) {
      *name = it.name;
      *refresh = it.has_secs ? it.secs : reg->set.push_refresh;
      return true;
    }
  return false;
}

/* ---- views, suspension, the push callback ----------------------------------
 */

void sipflow__reg_push_view(const sipflow__reg_binding *b,
                            sipflow_reg_binding *v) {
  const char *uri = sipflow__reg_b_uri(b);
  memset(&v->pn_provider, 0, sizeof(v->pn_provider));
  v->pn_param = v->pn_prid = v->pn_provider;
  v->push = (b->flags & SIPFLOW__REG_F_PUSH) != 0;
  v->suspended = sipflow__reg_suspended(b);
  if (!v->push)
    return;
  (void)sipflow__reg_uri_param(uri, b->uri_len, "pn-provider", &v->pn_provider);
  (void)sipflow__reg_uri_param(uri, b->uri_len, "pn-param", &v->pn_param);
  (void)sipflow__reg_uri_param(uri, b->uri_len, "pn-prid", &v->pn_prid);
}

/* Whether the host pushes to |b|: a push callback, and |b|'s provider in
 * the host's list. */
static bool pushable(const sipflow_registrar *reg,
                     const sipflow__reg_binding *b, uint32_t *refresh) {
  sipflow_str prov, name;
  uint32_t r = 0;
  if (!(b->flags & SIPFLOW__REG_F_PUSH) || !reg->cb.on_push ||
      !sipflow__reg_uri_param(sipflow__reg_b_uri(b), b->uri_len, "pn-provider",
                              &prov) ||
      !sipflow__reg_push_find(reg, prov, &name, &r))
    return false;
  if (refresh)
    *refresh = r;
  return true;
}

bool sipflow__reg_push_suspend(sipflow_registrar *reg,
                               sipflow__reg_binding *b) {
  sipflow_flow_id prev = b->flow_id;
  if (!pushable(reg, b, NULL))
    return false;
  /* The flow is gone; the binding stays until it expires, reached by push
   * (RFC 8599 §5.6.2). The edge's Path is kept: the woken UA's REGISTER
   * brings the new one. */
  sipflow__reg_set_flow(reg, b, 0);
  b->health = SIPFLOW_HEALTH_DEAD;
  sipflow__reg_report_moved(reg, SIPFLOW_REG_UPDATED, b, prev);
  return true;
}

void sipflow__reg_push_call(sipflow_registrar *reg,
                            const sipflow__reg_binding *b,
                            sipflow_reg_push_reason reason) {
  sipflow_reg_binding v;
  if (!reg->cb.on_push)
    return;
  sipflow__reg_view(reg, b, sipflow__reg_aor_key(b->aor), b->aor->len, &v);
  reg->in_callback = 1;
  reg->cb.on_push(reg, reason, &v, reg->user_data);
  reg->in_callback = 0;
}

/* ---- refresh pushes (RFC 8599 §5.5)
 * ---------------------------------------- */

/* Refresh pushes go out |lead| before the expiry and, while no REGISTER
 * comes, again after 1/8, then 2/8, then 4/8 of |lead| (backoff): at
 * expiry - lead * {8, 7, 5, 1} / 8. */
#define PUSH_TRIES 4
static const uint8_t eighths[PUSH_TRIES] = {8, 7, 5, 1};

static sipflow_tstamp point(sipflow_tstamp exp, uint32_t lead, int k) {
  uint64_t back = (uint64_t)lead * SIPFLOW_SECONDS / 8 * eighths[k];
  return back < exp ? exp - back : 0;
}

sipflow_tstamp sipflow__reg_push_first(const sipflow_registrar *reg,
                                       const sipflow__reg_binding *b,
                                       sipflow_tstamp exp) {
  uint32_t lead = 0;
  sipflow_tstamp now = sipflow__ctx_now(reg->ctx);
  if (!(b->flags & SIPFLOW__REG_F_PUSH) || !pushable(reg, b, &lead) || !lead)
    return exp;
  for (int k = 0; k < PUSH_TRIES; k++)
    if (point(exp, lead, k) > now)
      return point(exp, lead, k);
  return exp;
}

sipflow_tstamp sipflow__reg_push_due(sipflow_registrar *reg,
                                     sipflow__reg_binding *b,
                                     sipflow_tstamp deadline,
                                     sipflow_tstamp now) {
  uint32_t lead = 0;
  sipflow_tstamp exp = b->expires_at;
  if (!(b->flags & SIPFLOW__REG_F_PUSH) || !pushable(reg, b, &lead) || !lead)
    return exp;
  /* The heap holds either a refresh point of the current expiry or an
   * older, earlier deadline (the binding was refreshed since): push only
   * for a point that falls between the deadline and now. */
  for (int k = 0; k < PUSH_TRIES; k++) {
    sipflow_tstamp at = point(exp, lead, k);
    if (at >= deadline && at <= now) {
      sipflow__reg_push_call(reg, b, SIPFLOW_REG_PUSH_REFRESH);
      break;
    }
  }
  for (int k = 0; k < PUSH_TRIES; k++)
    if (point(exp, lead, k) > now)
      return point(exp, lead, k);
  return exp;
}
