/*
 * +sip.instance values: stripping the quoting UAs vary in, and URN equality
 * (RFC 5626 §4.1): urn:uuid compares its hex without case (RFC 4122 §3),
 * other namespaces by RFC 2141 §5 lexical equivalence.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "registrar_int.h"

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

static bool is_alnum(char c) {
  return (sipflow__reg_class(c) & SIPFLOW__REG_CC_ALNUM) != 0;
}

static bool is_space(int c) { return c == ' ' || c == '\t'; }

/* Length of the NID of "urn:NID:NSS", or 0 when malformed (RFC 2141 §2). */
static size_t nid_len(const char *s, size_t len) {
  size_t i = 4;
  if (i >= len || !is_alnum(s[i]))
    return 0;
  while (i < len && s[i] != ':') {
    if (!is_alnum(s[i]) && s[i] != '-')
      return 0;
    i++;
  }
  if (i == len || i - 4 > 32 || i + 1 == len)
    return 0;
  return i - 4;
}

/* NSS bytes: printable ASCII without the quoting characters; every '%'
 * starts an escape. The same rule as for URI bytes. */
static bool nss_ok(const char *s, const char *end) {
  return sipflow__reg_bytes_ok(s, end);
}

void sipflow__reg_instance_unwrap(const char *s, size_t len, const char **out,
                                  size_t *out_len) {
  while (len && is_space((unsigned char)s[0]))
    s++, len--;
  while (len && is_space((unsigned char)s[len - 1]))
    len--;
  /* Lenient about quoting (checklist 11.18): "<urn>", <urn> or urn. */
  if (len >= 2 && s[0] == '"' && s[len - 1] == '"')
    s++, len -= 2;
  if (len >= 2 && s[0] == '<' && s[len - 1] == '>')
    s++, len -= 2;
  *out = s;
  *out_len = len;
}

bool sipflow__reg_instance_is_urn(const char *s, size_t len) {
  size_t nid;
  if (len < 4 || lower((unsigned char)s[0]) != 'u' ||
      lower((unsigned char)s[1]) != 'r' || lower((unsigned char)s[2]) != 'n' ||
      s[3] != ':')
    return false;
  nid = nid_len(s, len);
  return nid != 0 && nss_ok(s + 5 + nid, s + len);
}

int sipflow__reg_instance_strip(const char *s, size_t len, const char **out,
                                size_t *out_len) {
  const char *u;
  size_t ulen;
  if (!s)
    return SIPFLOW_ERR_MALFORMED;
  sipflow__reg_instance_unwrap(s, len, &u, &ulen);
  if (!sipflow__reg_instance_is_urn(u, ulen))
    return SIPFLOW_ERR_MALFORMED;
  *out = u;
  *out_len = ulen;
  return 0;
}

static bool ci_equal(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
      return false;
  return true;
}

/* RFC 2141 §5: the NSS is case-sensitive except the hex of %-escapes. */
static bool nss_equal(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (a[i] == '%' && b[i] == '%' && i + 2 < n) {
      if (!ci_equal(a + i + 1, b + i + 1, 2))
        return false;
      i += 2;
      continue;
    }
    if (a[i] != b[i])
      return false;
  }
  return true;
}

bool sipflow__reg_instance_equal(const char *a, size_t alen, const char *b,
                                 size_t blen) {
  size_t na, nb, off;
  if (alen != blen || alen < 4)
    return false; /* escapes are never decoded, so lengths must agree */
  if (memcmp(a, b, alen) == 0)
    return true; /* a UA sends the same text every time */
  na = nid_len(a, alen);
  nb = nid_len(b, blen);
  if (na == 0 || na != nb || !ci_equal(a, b, 5 + na)) /* "urn:" + NID + ':' */
    return false;
  off = 5 + na;
  if (na == 4 && ci_equal(a + 4, "uuid", 4))
    return ci_equal(a + off, b + off, alen - off);
  return nss_equal(a + off, b + off, alen - off);
}
