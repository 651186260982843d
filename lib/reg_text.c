/*
 * libsipflow: the registrar's text, for hosts with their own SIP parser.
 * Reading one Contact value into a sipflow_reg_contact (RFC 3261 §20.10,
 * §25.1; RFC 5626 §4.2 and §6), and writing the header fields of the answer
 * (RFC 3261 §10.3 step 8; RFC 5626 §6; RFC 3327 §5.3) without printf.
 * Neither allocates, and every read stays within the given length.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "sipflow/registrar.h"

/* ---- reading --------------------------------------------------------------
 */

static int is_lws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 3261 §25.1 token characters. */
static int is_token(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9'))
    return 1;
  return c && strchr("-.!%*_+`'~", c) != NULL;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int name_is(const char *p, size_t n, const char *name) {
  size_t i;
  for (i = 0; i < n && name[i]; i++)
    if (lower((unsigned char)p[i]) != name[i])
      return 0;
  return i == n && name[i] == '\0';
}

typedef struct scan {
  const char *s;
  size_t len, i;
} scan;

static void skip_lws(scan *sc) {
  while (sc->i < sc->len && is_lws(sc->s[sc->i]))
    sc->i++;
}

static int at(const scan *sc, char c) {
  return sc->i < sc->len && sc->s[sc->i] == c;
}

/* A quoted-string from its opening quote to after its closing one, with
 * backslash escapes (RFC 3261 §25.1). -1 if it does not end. */
static int skip_quoted(scan *sc) {
  for (sc->i++; sc->i < sc->len; sc->i++) {
    char c = sc->s[sc->i];
    if (c == '\\') {
      if (++sc->i >= sc->len)
        return -1;
    } else if (c == '"') {
      sc->i++;
      return 0;
    }
  }
  return -1;
}

int sipflow_reg_q_parse(const char *s, size_t len, int32_t *q) {
  int32_t whole, frac = 0;
  size_t i, digits = 0;
  if (!s || !q)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  /* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
  if (len == 0 || (s[0] != '0' && s[0] != '1'))
    return SIPFLOW_ERR_MALFORMED;
  whole = s[0] - '0';
  i = 1;
  if (i < len && s[i] == '.') {
    for (i++; i < len && s[i] >= '0' && s[i] <= '9' && digits < 3;
         i++, digits++)
      frac = frac * 10 + (s[i] - '0');
    for (; digits < 3; digits++)
      frac *= 10;
  }
  if (i != len || (whole == 1 && frac != 0))
    return SIPFLOW_ERR_MALFORMED;
  *q = whole * 1000 + frac;
  return 0;
}

/* Whether the URI's own parameters (after the host, before any '?')
 * include "ob" (RFC 5626 §5.4: the edge's and the UA's ;ob flag). */
static int uri_has_ob(const char *u, size_t n) {
  size_t i = 0;
  while (i < n && u[i] != ';' && u[i] != '?')
    i++;
  while (i < n && u[i] == ';') {
    size_t start = ++i;
    while (i < n && u[i] != ';' && u[i] != '?' && u[i] != '=')
      i++;
    if (name_is(u + start, i - start, "ob"))
      return 1;
    while (i < n && u[i] != ';' && u[i] != '?')
      i++;
  }
  return 0;
}

/* The URI of a name-addr (between < and >) or of an addr-spec (up to the
 * first ';', ',' or blank: RFC 3261 §20.10 gives every parameter after an
 * addr-spec to the header field). */
static int read_uri(scan *sc, sipflow_str *uri) {
  size_t start;
  skip_lws(sc);
  if (at(sc, '"')) { /* a quoted display name: a name-addr follows */
    if (skip_quoted(sc) != 0)
      return -1;
    skip_lws(sc);
    if (!at(sc, '<'))
      return -1;
  } else {
    /* Display-name tokens, if a '<' follows them. */
    size_t j = sc->i;
    while (j < sc->len && (is_token(sc->s[j]) || is_lws(sc->s[j])))
      j++;
    if (j < sc->len && sc->s[j] == '<')
      sc->i = j;
  }
  if (at(sc, '<')) {
    start = ++sc->i;
    while (sc->i < sc->len && sc->s[sc->i] != '>')
      sc->i++;
    if (sc->i >= sc->len)
      return -1;
    uri->ptr = sc->s + start;
    uri->len = sc->i - start;
    sc->i++;
  } else {
    start = sc->i;
    while (sc->i < sc->len && sc->s[sc->i] != ';' && sc->s[sc->i] != ',' &&
           !is_lws(sc->s[sc->i]))
      sc->i++;
    uri->ptr = sc->s + start;
    uri->len = sc->i - start;
  }
  if (uri->len == 0 || memchr(uri->ptr, ':', uri->len) == NULL)
    return -1;
  /* "*" alone is the wildcard, which is not a Contact to bind. */
  return 0;
}

/* Appends ";" and one parameter's text to the caller's buffer. */
static int keep_param(char *buf, size_t cap, size_t *used, const char *p,
                      size_t n) {
  if (!buf || cap - *used < n + 1)
    return -1;
  buf[(*used)++] = ';';
  memcpy(buf + *used, p, n);
  *used += n;
  return 0;
}

/* One ";name[=value]" of the header field. |sc| is after the ';'. */
static int read_param(scan *sc, sipflow_reg_contact *c, char *buf, size_t cap,
                      size_t *used) {
  size_t name_at, name_len, val_at = 0, val_len = 0, end;
  sipflow_str val;
  skip_lws(sc);
  name_at = sc->i;
  while (sc->i < sc->len && is_token(sc->s[sc->i]))
    sc->i++;
  name_len = sc->i - name_at;
  if (name_len == 0)
    return SIPFLOW_ERR_MALFORMED;
  skip_lws(sc);
  if (at(sc, '=')) {
    sc->i++;
    skip_lws(sc);
    val_at = sc->i;
    if (at(sc, '"')) {
      if (skip_quoted(sc) != 0)
        return SIPFLOW_ERR_MALFORMED;
    } else if (at(sc, '[')) { /* an IPv6 reference as a value */
      while (sc->i < sc->len && sc->s[sc->i] != ']')
        sc->i++;
      if (sc->i >= sc->len)
        return SIPFLOW_ERR_MALFORMED;
      sc->i++;
    } else {
      while (sc->i < sc->len && (is_token(sc->s[sc->i]) || sc->s[sc->i] == ':'))
        sc->i++;
    }
    val_len = sc->i - val_at;
    if (val_len == 0)
      return SIPFLOW_ERR_MALFORMED;
  }
  end = sc->i;
  val.ptr = sc->s + val_at;
  val.len = val_len;
  if (name_is(sc->s + name_at, name_len, "expires")) {
    if (!c->expires.ptr)
      c->expires = val;
  } else if (name_is(sc->s + name_at, name_len, "+sip.instance")) {
    if (!c->instance.ptr)
      c->instance = val;
  } else if (name_is(sc->s + name_at, name_len, "reg-id")) {
    if (!c->reg_id.ptr)
      c->reg_id = val;
  } else if (name_is(sc->s + name_at, name_len, "q")) {
    if (sipflow_reg_q_parse(val.ptr, val.len, &c->q) != 0)
      return SIPFLOW_ERR_MALFORMED;
  } else if (keep_param(buf, cap, used, sc->s + name_at, end - name_at) != 0) {
    return SIPFLOW_ERR_BUFFER_TOO_SMALL;
  }
  return 0;
}

int sipflow_reg_contact_parse(const char *value, size_t len,
                              sipflow_reg_contact *contact, char *params_buf,
                              size_t params_cap, size_t *consumed) {
  scan sc = {value, len, 0};
  size_t used = 0;
  int rv;
  if (!value || !contact || (!params_buf && params_cap))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  sipflow_reg_contact_default(contact);
  if (read_uri(&sc, &contact->uri) != 0)
    return SIPFLOW_ERR_MALFORMED;
  contact->ob = uri_has_ob(contact->uri.ptr, contact->uri.len);
  for (;;) {
    skip_lws(&sc);
    if (sc.i >= sc.len || at(&sc, ','))
      break;
    if (!at(&sc, ';'))
      return SIPFLOW_ERR_MALFORMED;
    sc.i++;
    if ((rv = read_param(&sc, contact, params_buf, params_cap, &used)) != 0)
      return rv;
  }
  if (used) {
    contact->params.ptr = params_buf;
    contact->params.len = used;
  }
  if (consumed)
    *consumed = sc.i < sc.len ? sc.i + 1 : sc.i; /* past the ',' */
  return 0;
}

/* ---- writing --------------------------------------------------------------
 * Appended with memcpy, not printf: an answer is made for every REGISTER.
 */

typedef struct out_buf {
  char *buf;
  size_t cap, len;
  int overflow;
} out_buf;

static void put_mem(out_buf *o, const char *s, size_t n) {
  /* One byte stays free for the terminating NUL. */
  if (o->overflow || n >= o->cap - o->len) {
    o->overflow = 1;
    return;
  }
  memcpy(o->buf + o->len, s, n);
  o->len += n;
  o->buf[o->len] = '\0';
}

static void put_str(out_buf *o, const char *s) { put_mem(o, s, strlen(s)); }

static void put_uint(out_buf *o, unsigned long v) {
  char d[24];
  size_t i = sizeof(d);
  do {
    d[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put_mem(o, d + i, sizeof(d) - i);
}

static void put_options(out_buf *o, const char *name, unsigned opts) {
  static const struct {
    unsigned bit;
    const char *tag;
  } tags[] = {{SIPFLOW_REG_OPT_OUTBOUND, "outbound"},
              {SIPFLOW_REG_OPT_PATH, "path"},
              {SIPFLOW_REG_OPT_GRUU, "gruu"}};
  const char *sep = ": ";
  if (!opts)
    return;
  put_str(o, name);
  for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
    if (opts & tags[i].bit) {
      put_str(o, sep);
      put_str(o, tags[i].tag);
      sep = ", ";
    }
  put_str(o, "\r\n");
}

static void put_q(out_buf *o, int32_t q) {
  char frac[3];
  int32_t f = q % 1000;
  frac[0] = (char)('0' + f / 100);
  frac[1] = (char)('0' + f / 10 % 10);
  frac[2] = (char)('0' + f % 10);
  put_str(o, ";q=");
  put_uint(o, (unsigned long)(q / 1000));
  put_str(o, ".");
  put_mem(o, frac, sizeof(frac));
}

static void put_contact(out_buf *o, const sipflow_reg_binding *b) {
  put_str(o, "Contact: <");
  put_mem(o, b->uri.ptr, b->uri.len);
  put_str(o, ">;expires=");
  put_uint(o, (unsigned long)b->expires);
  if (b->instance.len) {
    put_str(o, ";+sip.instance=\"<");
    put_mem(o, b->instance.ptr, b->instance.len);
    put_str(o, ">\"");
  }
  if (b->reg_id) {
    put_str(o, ";reg-id=");
    put_uint(o, (unsigned long)b->reg_id);
  }
  if (b->q >= 0 && b->q <= 1000)
    put_q(o, b->q);
  if (b->params.len)
    put_mem(o, b->params.ptr, b->params.len);
  /* RFC 5627 §5.2 and §7: quoted URIs. */
  if (b->pub_gruu.len) {
    put_str(o, ";pub-gruu=\"");
    put_mem(o, b->pub_gruu.ptr, b->pub_gruu.len);
    put_str(o, "\"");
  }
  if (b->temp_gruu.len) {
    put_str(o, ";temp-gruu=\"");
    put_mem(o, b->temp_gruu.ptr, b->temp_gruu.len);
    put_str(o, "\"");
  }
  put_str(o, "\r\n");
}

static void put_path(out_buf *o, sipflow_str v) {
  int wrap = v.len == 0 || v.ptr[0] != '<';
  put_str(o, "Path: ");
  if (wrap)
    put_str(o, "<");
  put_mem(o, v.ptr, v.len);
  put_str(o, wrap ? ">\r\n" : "\r\n");
}

int sipflow_reg_answer_format(const sipflow_reg_result *result,
                              const sipflow_reg_request *req, char *buf,
                              size_t buflen, size_t *outlen) {
  out_buf o = {buf, buflen, 0, 0};
  if (!result || !buf || buflen == 0)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  buf[0] = '\0';
  if (result->status == 200) {
    for (size_t i = 0; i < result->n_contacts; i++)
      put_contact(&o, &result->contacts[i]);
    if (result->echo_path && req)
      for (size_t i = 0; i < req->n_path; i++)
        if (req->path[i].ptr)
          put_path(&o, req->path[i]);
    put_options(&o, "Require", result->require);
    if (result->flow_timer) {
      put_str(&o, "Flow-Timer: ");
      put_uint(&o, (unsigned long)result->flow_timer);
      put_str(&o, "\r\n");
    }
    /* RFC 8599 §5.4, §5.6.1.1, RFC 6809: the push service and the refresh lead.
     */
    /* One Feature-Caps per service (§5.4); |pns| is a list ("apns,fcm:300",
     * each lead after a colon dropped) for a query naming none. */
    for (size_t at = 0; result->pns.ptr && at < result->pns.len;) {
      const char *item = result->pns.ptr + at;
      size_t left = result->pns.len - at, n = 0, len;
      while (n < left && item[n] != ',')
        n++;
      at += n + 1;
      for (len = 0; len < n && item[len] != ':'; len++)
        ;
      if (len == 0)
        continue;
      put_str(&o, "Feature-Caps: *;+sip.pns=\"");
      put_mem(&o, item, len);
      put_str(&o, "\"");
      if (result->pnsreg && n == left) {
        put_str(&o, ";+sip.pnsreg=\"");
        put_uint(&o, (unsigned long)result->pnsreg);
        put_str(&o, "\"");
      }
      put_str(&o, "\r\n");
    }
  } else if (result->status == 423) {
    put_str(&o, "Min-Expires: ");
    put_uint(&o, (unsigned long)result->min_expires);
    put_str(&o, "\r\n");
  } else if (result->status == 420) {
    put_options(&o, "Unsupported", result->unsupported);
    if (result->unsupported_unknown && req)
      for (size_t i = 0; i < req->n_require_unknown; i++)
        if (req->require_unknown[i].ptr && req->require_unknown[i].len) {
          put_str(&o, "Unsupported: ");
          put_mem(&o, req->require_unknown[i].ptr, req->require_unknown[i].len);
          put_str(&o, "\r\n");
        }
  } else if (result->status == 421) {
    put_options(&o, "Require", result->require);
  }
  put_options(&o, "Supported", result->supported);
  if (o.overflow)
    return SIPFLOW_ERR_BUFFER_TOO_SMALL;
  if (outlen)
    *outlen = o.len;
  return 0;
}
