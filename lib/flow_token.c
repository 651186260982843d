/*
 * Flow tokens: minting and verifying the base64url record of a flow.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <sodium.h>
#include <string.h>

#include "flow_token_int.h"

#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define IPV6_FLAG 0x08
#define TRANSPORT_MASK 0x07

static size_t addr_len(uint8_t family) {
  return family == SIPFLOW_AF_INET6 ? 16 : 4;
}

bool sipflow__token_tuple_valid(const sipflow_flow_tuple *t) {
  if (t->transport < SIPFLOW_TRANSPORT_UDP ||
      t->transport > SIPFLOW_TRANSPORT_WSS)
    return false;
  if (t->local.family != SIPFLOW_AF_INET && t->local.family != SIPFLOW_AF_INET6)
    return false;
  return t->remote.family == t->local.family;
}

static uint8_t *put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
  return p + 2;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
  return p + 4;
}

static uint16_t get_u16(const uint8_t *p) {
  return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static uint8_t *put_addr(uint8_t *p, const sipflow_addr *a, size_t alen) {
  memcpy(p, a->bytes, alen);
  return put_u16(p + alen, a->port);
}

static const uint8_t *get_addr(const uint8_t *p, sipflow_addr *a,
                               uint8_t family) {
  size_t alen = addr_len(family);
  a->family = family;
  memcpy(a->bytes, p, alen);
  a->port = get_u16(p + alen);
  return p + alen + 2;
}

/* Computes the tag of the |len| - TAG_LEN bytes in front of it. */
static void compute_tag(uint8_t tag[SIPFLOW__TOKEN_TAG_LEN], const uint8_t *key,
                        const uint8_t *rec, size_t len) {
  uint8_t full[crypto_shorthash_siphashx24_BYTES];
  crypto_shorthash_siphashx24(full, rec, len - SIPFLOW__TOKEN_TAG_LEN, key);
  memcpy(tag, full, SIPFLOW__TOKEN_TAG_LEN);
}

int sipflow__token_mint(const sipflow_keyring *kr, const sipflow_flow_tuple *t,
                        uint32_t slot, char *buf, size_t buflen,
                        size_t *token_len) {
  uint8_t rec[SIPFLOW__TOKEN_REC_V6], *p = rec;
  size_t alen, rlen, tlen;
  bool v6;

  if (!kr || !t || !buf || !sipflow__token_tuple_valid(t))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!kr->has_current)
    return SIPFLOW_ERR_BAD_STATE;
  v6 = t->local.family == SIPFLOW_AF_INET6;
  rlen = v6 ? SIPFLOW__TOKEN_REC_V6 : SIPFLOW__TOKEN_REC_V4;
  tlen = v6 ? SIPFLOW_TOKEN_IPV6_LEN : SIPFLOW_TOKEN_IPV4_LEN;
  if (buflen < tlen + 1)
    return SIPFLOW_ERR_BUFFER_TOO_SMALL;

  alen = addr_len(t->local.family);
  *p++ = (uint8_t)(SIPFLOW_TOKEN_VERSION << 4 | (v6 ? IPV6_FLAG : 0) |
                   t->transport);
  *p++ = kr->current;
  p = put_addr(p, &t->local, alen);
  p = put_addr(p, &t->remote, alen);
  p = put_u32(p, slot);
  p = put_u32(p, t->generation);
  compute_tag(p, kr->mac_key[kr->current], rec, rlen);
  sodium_bin2base64(buf, buflen, rec, rlen, B64_VARIANT);
  sodium_memzero(rec, sizeof(rec));
  if (token_len)
    *token_len = tlen;
  return 0;
}

int sipflow_token_mint(const sipflow_keyring *kr,
                       const sipflow_flow_tuple *tuple, char *buf,
                       size_t buflen, size_t *token_len) {
  return sipflow__token_mint(kr, tuple, 0, buf, buflen, token_len);
}

/* The base64url alphabet, as a table: checking 46 characters is on the
 * verification fast path. libsodium 1.0.18's decoder takes every byte from
 * 0x80 up as '_', so the alphabet is checked here first: otherwise one token
 * would have many spellings. */
static const uint8_t b64url_chars[256] = {
    ['-'] = 1, ['_'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1,
    ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,
    ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
    ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,
    ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1,
    ['z'] = 1,
};

static bool b64url_char(char c) { return b64url_chars[(unsigned char)c]; }

static bool b64url_only(const char *s, size_t len) {
  unsigned ok = 1;
  /* no early exit: a branch per character costs more than it saves */
  for (size_t i = 0; i < len; i++)
    ok &= b64url_chars[(unsigned char)s[i]];
  return ok;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/*
 * RFC 3261 §19.1.4: a %-escaped user part equals its unescaped form, and some
 * stacks escape characters that need no escaping. Decode once (so "%2541"
 * stays "%41", which then fails the alphabet check) into |out|, which holds
 * the longest token. Every decoded character must be base64url.
 */
static int unescape(const char *in, size_t len, char *out, size_t *outlen) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    char c = in[i];
    if (c == '%') {
      int hi, lo;
      if (len - i < 3)
        return SIPFLOW_ERR_MALFORMED;
      hi = hex_value(in[i + 1]);
      lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0)
        return SIPFLOW_ERR_MALFORMED;
      c = (char)(hi << 4 | lo);
      i += 2;
    }
    if (o == SIPFLOW_TOKEN_MAX_LEN || !b64url_char(c))
      return SIPFLOW_ERR_MALFORMED;
    out[o++] = c;
  }
  *outlen = o;
  return 0;
}

/* Points |*tok| at plain base64url text, unescaping into |plain| if the
 * input was %-escaped. */
static int plain_text(const char **tok, size_t *len, char *plain) {
  int rv;
  if (b64url_only(*tok, *len))
    return 0;
  if (!memchr(*tok, '%', *len))
    return SIPFLOW_ERR_MALFORMED;
  if ((rv = unescape(*tok, *len, plain, len)) != 0)
    return rv;
  *tok = plain;
  return 0;
}

/* Base64url to the record; the length picks the family it must claim. */
static int decode(const char *tok, size_t len, uint8_t *rec, size_t *rlen) {
  size_t want, got = 0;
  if (len == SIPFLOW_TOKEN_IPV4_LEN)
    want = SIPFLOW__TOKEN_REC_V4;
  else if (len == SIPFLOW_TOKEN_IPV6_LEN)
    want = SIPFLOW__TOKEN_REC_V6;
  else
    return SIPFLOW_ERR_MALFORMED;
  /* libsodium also rejects nonzero trailing bits, so with the alphabet
   * checked each record has exactly one encoding. */
  if (sodium_base642bin(rec, SIPFLOW__TOKEN_REC_V6, tok, len, NULL, &got, NULL,
                        B64_VARIANT) != 0 ||
      got != want)
    return SIPFLOW_ERR_MALFORMED;
  *rlen = got;
  return 0;
}

/* What can be judged without the key: a version we read, a family flag that
 * agrees with the length (so a truncated IPv6 token is malformed, not
 * tampered), a known transport. */
static int check_structure(const uint8_t *rec, size_t rlen) {
  size_t want =
      (rec[0] & IPV6_FLAG) ? SIPFLOW__TOKEN_REC_V6 : SIPFLOW__TOKEN_REC_V4;
  uint8_t transport = rec[0] & TRANSPORT_MASK;
  if (rec[0] >> 4 != SIPFLOW_TOKEN_VERSION || rlen != want ||
      transport < SIPFLOW_TRANSPORT_UDP || transport > SIPFLOW_TRANSPORT_WSS)
    return SIPFLOW_ERR_MALFORMED;
  return 0;
}

static void parse(const uint8_t *rec, sipflow_token_info *info) {
  uint8_t family = (rec[0] & IPV6_FLAG) ? SIPFLOW_AF_INET6 : SIPFLOW_AF_INET;
  const uint8_t *p = rec + 2;
  memset(&info->tuple, 0, sizeof(info->tuple)); /* padding too */
  info->tuple.transport = rec[0] & TRANSPORT_MASK;
  p = get_addr(p, &info->tuple.local, family);
  p = get_addr(p, &info->tuple.remote, family);
  info->slot = get_u32(p);
  info->tuple.generation = get_u32(p + 4);
}

int sipflow_token_verify(const sipflow_keyring *kr, const char *token,
                         size_t token_len, sipflow_token_info *info) {
  char plain[SIPFLOW_TOKEN_MAX_LEN];
  uint8_t rec[SIPFLOW__TOKEN_REC_V6], tag[SIPFLOW__TOKEN_TAG_LEN];
  const uint8_t *key;
  size_t rlen;
  int rv;

  if (!kr || (!token && token_len))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (token_len > SIPFLOW_TOKEN_MAX_INPUT)
    return SIPFLOW_ERR_MALFORMED;
  if ((rv = plain_text(&token, &token_len, plain)) != 0 ||
      (rv = decode(token, token_len, rec, &rlen)) != 0 ||
      (rv = check_structure(rec, rlen)) != 0)
    return rv;
  if (info) {
    info->version = SIPFLOW_TOKEN_VERSION;
    info->key_id = rec[1];
    info->slot = 0;
  }
  /* Made by us under a key that has been retired: 430, not 403 (RFC 5626
   * §5.3.1 with checklist 11.8/11.9). */
  if (!(key = sipflow__keyring_key(kr, rec[1])))
    return SIPFLOW_ERR_STALE;
  compute_tag(tag, key, rec, rlen);
  if (sodium_memcmp(tag, rec + rlen - SIPFLOW__TOKEN_TAG_LEN,
                    SIPFLOW__TOKEN_TAG_LEN) != 0)
    return SIPFLOW_ERR_TAMPERED;
  if (info)
    parse(rec, info);
  return 0;
}

int sipflow_token_sip_status(int verify_result) {
  switch (verify_result) {
  case 0:
    return 0;
  case SIPFLOW_ERR_STALE:
    return 430;
  case SIPFLOW_ERR_TAMPERED:
  case SIPFLOW_ERR_MALFORMED:
    return 403;
  default:
    return 500;
  }
}
