/*
 * SIP URIs for the registrar: a parser that never allocates, RFC 3261
 * §19.1.4 equality for matching Contacts, and the canonical AoR of §10.3
 * step 5 that keys the location service.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "registrar_int.h"

/* The byte classes, written as the rules they encode. */
#define CC_BAD(c)                                                              \
  ((c) <= 0x20 || (c) >= 0x7f || (c) == '<' || (c) == '>' || (c) == '"' ||     \
   (c) == '\\')
#define CC_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define CC_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define CC_HEX(c)                                                              \
  (CC_DIGIT(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
#define CC(c)                                                                  \
  (uint8_t)(                                                                   \
      (CC_BAD(c) ? SIPFLOW__REG_CC_BAD : 0) |                                  \
      ((c) == '%' ? SIPFLOW__REG_CC_PCT : 0) |                                 \
      (CC_HEX(c) ? SIPFLOW__REG_CC_HEX : 0) |                                  \
      (CC_DIGIT(c) || CC_ALPHA(c) || (c) == '-' || (c) == '.' || (c) == '_'    \
           ? SIPFLOW__REG_CC_HOST                                              \
           : 0) |                                                              \
      (CC_DIGIT(c) || CC_ALPHA(c) ? SIPFLOW__REG_CC_ALNUM : 0) |               \
      ((c) <= 0x20 || (c) >= 0x7f ? SIPFLOW__REG_CC_NOTOK : 0) |               \
      (((c) < 0x20 && (c) != '\t') || (c) == 0x7f ? SIPFLOW__REG_CC_NOTXT      \
                                                  : 0))
#define CC4(c) CC(c), CC((c) + 1), CC((c) + 2), CC((c) + 3)
#define CC16(c) CC4(c), CC4((c) + 4), CC4((c) + 8), CC4((c) + 12)
#define CC64(c) CC16(c), CC16((c) + 16), CC16((c) + 32), CC16((c) + 48)

const uint8_t sipflow__reg_cc[256] = {CC64(0), CC64(64), CC64(128), CC64(192)};

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* "sip:" -> 4, "sips:" -> 5 (any case), otherwise 0. Letters differ from
 * their upper case only in bit 5. */
static size_t sip_scheme_len(const char *s, size_t len) {
  if (len < 4 || (s[0] | 0x20) != 's' || (s[1] | 0x20) != 'i' ||
      (s[2] | 0x20) != 'p')
    return 0;
  if (s[3] == ':')
    return 4;
  return len >= 5 && (s[3] | 0x20) == 's' && s[4] == ':' ? 5 : 0;
}

/* RFC 3261 §19.1.4: an escaped character equals the character itself,
 * except for the reserved set, whose escaped form stays distinct. */
static bool is_reserved(int c) {
  return c != 0 && strchr(";/?:@&=+$,", c) != NULL;
}

/*
 * The next unit of a URI component: a decoded byte, or -1 at the end.
 * *esc is set when the unit was an escaped reserved character.
 */
static int next_unit(const char **p, const char *end, bool *esc) {
  const char *s = *p;
  *esc = false;
  if (s >= end)
    return -1;
  if (*s == '%' && end - s >= 3 && hexval((unsigned char)s[1]) >= 0 &&
      hexval((unsigned char)s[2]) >= 0) {
    int c = hexval((unsigned char)s[1]) * 16 + hexval((unsigned char)s[2]);
    *esc = is_reserved(c);
    *p = s + 3;
    return c;
  }
  *p = s + 1;
  return (unsigned char)*s;
}

/* Escape-aware comparison of two URI components; |fold| ignores case. */
static bool comp_equal(const char *a, size_t alen, const char *b, size_t blen,
                       bool fold) {
  const char *ae = a + alen, *be = b + blen;
  for (;;) {
    bool ea, eb;
    int ca = next_unit(&a, ae, &ea), cb = next_unit(&b, be, &eb);
    if (ca < 0 || cb < 0)
      return ca == cb;
    if (ea != eb)
      return false;
    if (fold ? lower(ca) != lower(cb) : ca != cb)
      return false;
  }
}

/* Every byte acceptable (no controls, space, non-ASCII or name-addr
 * delimiters) and every '%' followed by two hex digits. */
static bool bytes_ok(const char *s, const char *end) {
  return sipflow__reg_bytes_ok(s, end);
}

static const char *parse_host(const char *p, const char *end,
                              sipflow__reg_uri *u) {
  const char *h = p;
  if (p < end && *p == '[') {
    const char *q = memchr(p, ']', (size_t)(end - p));
    if (!q || q == p + 1)
      return NULL;
    for (const char *c = p + 1; c < q; c++)
      if (!(sipflow__reg_class(*c) & SIPFLOW__REG_CC_HEX) && *c != ':' &&
          *c != '.')
        return NULL;
    p = q + 1;
  } else {
    /* ':', ';' and '?' are not host characters: one test ends the name. */
    while (p < end && (sipflow__reg_class(*p) & SIPFLOW__REG_CC_HOST))
      p++;
    if (p < end && *p != ':' && *p != ';' && *p != '?')
      return NULL;
  }
  if (p == h)
    return NULL;
  u->host = h;
  u->host_len = (size_t)(p - h);
  return p;
}

static const char *parse_port(const char *p, const char *end,
                              sipflow__reg_uri *u) {
  uint32_t port = 0;
  const char *d = ++p; /* past ':' */
  while (p < end && *p >= '0' && *p <= '9') {
    port = port * 10 + (uint32_t)(*p - '0');
    if (port > 65535)
      return NULL;
    p++;
  }
  if (p == d)
    return NULL;
  u->has_port = 1;
  u->port = (uint16_t)port;
  return p;
}

/* Every ';'-separated parameter has a name. */
static bool params_ok(const char *s, size_t len) {
  const char *end = s + len;
  while (s <= end) {
    const char *semi = memchr(s, ';', (size_t)(end - s));
    const char *stop = semi ? semi : end;
    if (stop == s || *s == '=')
      return false;
    if (!semi)
      return true;
    s = semi + 1;
  }
  return false;
}

int sipflow__reg_uri_parse(const char *s, size_t len, sipflow__reg_uri *u) {
  const char *p, *end, *at;
  size_t scheme;
  memset(u, 0, sizeof(*u));
  if (!s)
    return SIPFLOW_ERR_MALFORMED;
  end = s + len;
  scheme = sip_scheme_len(s, len);
  if (scheme == 0)
    return SIPFLOW_ERR_MALFORMED;
  u->sips = scheme == 5;
  p = s + scheme;
  if (!bytes_ok(p, end))
    return SIPFLOW_ERR_MALFORMED;
  at = memchr(p, '@', (size_t)(end - p));
  if (at) {
    if (at == p)
      return SIPFLOW_ERR_MALFORMED;
    u->user = p;
    u->user_len = (size_t)(at - p);
    p = at + 1;
  }
  if (!(p = parse_host(p, end, u)))
    return SIPFLOW_ERR_MALFORMED;
  if (p < end && *p == ':' && !(p = parse_port(p, end, u)))
    return SIPFLOW_ERR_MALFORMED;
  if (p < end && *p == ';') {
    const char *q = memchr(p, '?', (size_t)(end - p));
    u->params = p + 1;
    u->params_len = (size_t)((q ? q : end) - u->params);
    if (!params_ok(u->params, u->params_len))
      return SIPFLOW_ERR_MALFORMED;
    p = q ? q : end;
  }
  if (p < end && *p == '?') {
    u->headers = p + 1;
    u->headers_len = (size_t)(end - u->headers);
    if (u->headers_len == 0)
      return SIPFLOW_ERR_MALFORMED;
    p = end;
  }
  return p == end ? 0 : SIPFLOW_ERR_MALFORMED;
}

/* scheme ":" rest, RFC 3986 scheme syntax, printable rest. */
static size_t generic_scheme_len(const char *s, size_t len) {
  size_t i = 0;
  if (len == 0 || !((lower((unsigned char)s[0]) >= 'a' &&
                     lower((unsigned char)s[0]) <= 'z')))
    return 0;
  while (i < len && s[i] != ':') {
    int c = lower((unsigned char)s[i]);
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
          c == '-' || c == '.'))
      return 0;
    i++;
  }
  if (i == len || i + 1 == len || !bytes_ok(s + i + 1, s + len))
    return 0;
  return i;
}

bool sipflow__reg_uri_valid(const char *s, size_t len) {
  sipflow__reg_uri u;
  if (!s || len == 0)
    return false;
  if (sip_scheme_len(s, len))
    return sipflow__reg_uri_parse(s, len, &u) == 0;
  return generic_scheme_len(s, len) > 0;
}

/* One "name[=value]" item of a ';' or '&' separated list. */
typedef struct kv {
  const char *name, *val;
  size_t name_len, val_len;
} kv;

static bool next_kv(const char **p, const char *end, char sep, kv *out) {
  const char *s = *p, *stop, *eq;
  if (!s || s >= end)
    return false;
  stop = memchr(s, sep, (size_t)(end - s));
  if (!stop)
    stop = end;
  eq = memchr(s, '=', (size_t)(stop - s));
  out->name = s;
  out->name_len = (size_t)((eq ? eq : stop) - s);
  out->val = eq ? eq + 1 : stop;
  out->val_len = eq ? (size_t)(stop - eq - 1) : 0;
  *p = stop < end ? stop + 1 : end;
  return true;
}

static bool find_kv(const char *list, size_t len, char sep, const kv *want,
                    kv *found) {
  const char *p = list;
  kv it;
  if (!list)
    return false;
  while (next_kv(&p, list + len, sep, &it))
    if (comp_equal(it.name, it.name_len, want->name, want->name_len, true)) {
      *found = it;
      return true;
    }
  return false;
}

/* user, ttl, method and maddr must appear in both URIs or neither. */
static bool must_match(const kv *k) {
  static const char *const names[] = {"user", "ttl", "method", "maddr"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (comp_equal(k->name, k->name_len, names[i], strlen(names[i]), true))
      return true;
  return false;
}

/* Parameters present in both must match; the must_match ones must be in
 * both. Checked from each side so that neither has an extra must_match. */
static bool params_one_way(const sipflow__reg_uri *a,
                           const sipflow__reg_uri *b) {
  const char *p = a->params;
  kv it, other;
  if (!p)
    return true;
  while (next_kv(&p, a->params + a->params_len, ';', &it)) {
    if (!find_kv(b->params, b->params_len, ';', &it, &other)) {
      if (must_match(&it))
        return false;
      continue;
    }
    if (!comp_equal(it.val, it.val_len, other.val, other.val_len, true))
      return false;
  }
  return true;
}

/* Headers are never ignored: each side's headers must all be in the other
 * with equal values (compared case-insensitively). */
static bool headers_one_way(const sipflow__reg_uri *a,
                            const sipflow__reg_uri *b) {
  const char *p = a->headers;
  kv it, other;
  if (!p)
    return true;
  while (next_kv(&p, a->headers + a->headers_len, '&', &it)) {
    if (!find_kv(b->headers, b->headers_len, '&', &it, &other) ||
        !comp_equal(it.val, it.val_len, other.val, other.val_len, true))
      return false;
  }
  return true;
}

static bool generic_equal(const char *a, size_t alen, const char *b,
                          size_t blen) {
  size_t sa = generic_scheme_len(a, alen), sb = generic_scheme_len(b, blen);
  if (sa == 0 || sa != sb || alen != blen)
    return false;
  for (size_t i = 0; i < sa; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
      return false;
  return memcmp(a + sa, b + sb, alen - sa) == 0;
}

bool sipflow__reg_uri_equal(const char *a, size_t alen, const char *b,
                            size_t blen) {
  sipflow__reg_uri ua, ub;
  bool sip_a = sipflow__reg_uri_parse(a, alen, &ua) == 0;
  bool sip_b = sipflow__reg_uri_parse(b, blen, &ub) == 0;
  if (sip_a != sip_b)
    return false;
  if (!sip_a)
    return generic_equal(a, alen, b, blen);
  if (ua.sips != ub.sips || (ua.user == NULL) != (ub.user == NULL))
    return false;
  if (ua.user && !comp_equal(ua.user, ua.user_len, ub.user, ub.user_len,
                             false)) /* userinfo is case-sensitive */
    return false;
  if (!comp_equal(ua.host, ua.host_len, ub.host, ub.host_len, true))
    return false;
  if (ua.has_port != ub.has_port || ua.port != ub.port)
    return false; /* 5060 is not the same as no port */
  return params_one_way(&ua, &ub) && params_one_way(&ub, &ua) &&
         headers_one_way(&ua, &ub) && headers_one_way(&ub, &ua);
}

int sipflow__reg_aor_canon(const char *s, size_t len, char *out,
                           size_t *out_len) {
  sipflow__reg_uri u;
  char *o = out;
  if (sipflow__reg_uri_parse(s, len, &u) != 0)
    return SIPFLOW_ERR_MALFORMED;
  memcpy(o, u.sips ? "sips:" : "sip:", u.sips ? 5 : 4);
  o += u.sips ? 5 : 4;
  if (u.user && !memchr(u.user, '%', u.user_len)) {
    memcpy(o, u.user, u.user_len); /* the usual case: nothing escaped */
    o += u.user_len;
    *o++ = '@';
  } else if (u.user) {
    /* Every escape decoded (step 5), so %61lice and alice are one AoR. */
    const char *p = u.user, *end = u.user + u.user_len;
    bool esc;
    int c;
    while ((c = next_unit(&p, end, &esc)) >= 0)
      *o++ = (char)c;
    *o++ = '@';
  }
  for (size_t i = 0; i < u.host_len; i++) {
    char c = u.host[i];
    *o++ = (char)((unsigned char)(c - 'A') < 26 ? c + ('a' - 'A') : c);
  }
  if (u.has_port) {
    char digits[6];
    int n = 0;
    uint16_t port = u.port;
    do {
      digits[n++] = (char)('0' + port % 10);
      port /= 10;
    } while (port);
    *o++ = ':';
    while (n)
      *o++ = digits[--n];
  }
  *out_len = (size_t)(o - out);
  return 0;
}

bool sipflow__reg_path_has_ob(const char *s, size_t len) {
  const char *lt = memchr(s, '<', len), *end = s + len;
  sipflow__reg_uri u;
  const char *p;
  kv it;
  if (lt) {
    const char *gt = memchr(lt, '>', (size_t)(end - lt));
    if (!gt)
      return false;
    s = lt + 1;
    end = gt;
  }
  if (sipflow__reg_uri_parse(s, (size_t)(end - s), &u) != 0 || !u.params)
    return false;
  p = u.params;
  while (next_kv(&p, u.params + u.params_len, ';', &it))
    if (comp_equal(it.name, it.name_len, "ob", 2, true))
      return true;
  return false;
}
