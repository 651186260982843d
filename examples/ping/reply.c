/*
 * sipflow-ping: the two things it reads from a SIP response, the status
 * code and the probe id in the top Via's branch (or else the From tag).
 *
 * Not a SIP parser: the bytes come from the network, so every read is
 * bounded by |len|, and anything unexpected just makes the response
 * unusable (the probe then times out). Folded header lines are skipped,
 * which at worst loses the branch; the From tag is the fallback.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>
#include <strings.h>

#include "reply.h"

typedef struct span {
  const char *p;
  size_t n;
} span;

/* The next line of |*s| without its CRLF (or LF); advances |*s|. */
static int next_line(span *s, span *line) {
  const char *nl;
  if (s->n == 0)
    return 0;
  nl = memchr(s->p, '\n', s->n);
  line->p = s->p;
  line->n = nl ? (size_t)(nl - s->p) : s->n;
  s->p += nl ? line->n + 1 : s->n;
  s->n -= nl ? line->n + 1 : s->n;
  if (line->n && line->p[line->n - 1] == '\r')
    line->n--;
  return 1;
}

static int name_is(span name, const char *full, const char *compact) {
  while (name.n && (name.p[name.n - 1] == ' ' || name.p[name.n - 1] == '\t'))
    name.n--;
  return (name.n == strlen(full) && strncasecmp(name.p, full, name.n) == 0) ||
         (name.n == 1 && (name.p[0] | 0x20) == compact[0]);
}

/* The value of parameter |param| ("branch=") in the first value of a header
 * (up to a comma), or an empty span. */
static span param(span v, const char *param) {
  size_t plen = strlen(param);
  span out = {NULL, 0};
  for (size_t i = 0; i < v.n && v.p[i] != ','; i++) {
    if (v.p[i] != ';')
      continue;
    size_t j = i + 1;
    while (j < v.n && (v.p[j] == ' ' || v.p[j] == '\t'))
      j++;
    if (v.n - j > plen && strncasecmp(v.p + j, param, plen) == 0) {
      out.p = v.p + j + plen;
      while (out.n < v.n - j - plen && !strchr(";, \t", out.p[out.n]))
        out.n++;
      return out;
    }
  }
  return out;
}

static int read_status(span line, unsigned *status) {
  const char *s = line.p;
  if (line.n < 12 || memcmp(s, "SIP/2.0 ", 8) != 0)
    return -1;
  for (int i = 8; i < 11; i++)
    if (s[i] < '0' || s[i] > '9')
      return -1;
  if (s[11] != ' ')
    return -1;
  *status = (unsigned)((s[8] - '0') * 100 + (s[9] - '0') * 10 + (s[10] - '0'));
  return *status >= 100 && *status <= 699 ? 0 : -1;
}

int ping_reply_parse(const uint8_t *data, size_t len, unsigned *status,
                     const char **id, size_t *idlen) {
  span s = {(const char *)data, len}, line, branch = {NULL, 0}, tag = {NULL, 0};
  int via_seen = 0;
  if (!next_line(&s, &line) || read_status(line, status) != 0)
    return -1;
  while (next_line(&s, &line) && line.n) {
    const char *colon = memchr(line.p, ':', line.n);
    span name, value;
    if (!colon || line.p[0] == ' ' || line.p[0] == '\t')
      continue;
    name.p = line.p;
    name.n = (size_t)(colon - line.p);
    value.p = colon + 1;
    value.n = line.n - name.n - 1;
    if (!via_seen && name_is(name, "Via", "v")) {
      via_seen = 1; /* only the top Via is ours */
      branch = param(value, "branch=");
    } else if (!tag.p && name_is(name, "From", "f")) {
      tag = param(value, "tag=");
    }
  }
  if (!branch.n)
    branch = tag;
  if (!branch.n)
    return -1;
  *id = branch.p;
  *idlen = branch.n;
  return 0;
}
