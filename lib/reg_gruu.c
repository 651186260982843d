/*
 * GRUUs (RFC 5627): public GRUUs made from the AoR and the instance
 * (§3.1.1, §5.1), temporary GRUUs minted with the token key ring and verified
 * without state (§3.1.2, §5.1, §5.4), and the target plan of the one instance a
 * GRUU names (§6.1).
 *
 * A temporary GRUU's user part is "tgruu." and the base64url of a record:
 *   [0]      key id
 *   [1..17)  SIV: keyed BLAKE2b-128 over the key id and the plaintext
 *   [17..)   the plaintext, XChaCha20 with the SIV as nonce:
 *            version (1), AoR length (2), AoR, instance length (2),
 *            instance, Call-ID hash (8), CSeq (4)
 * The SIV is both the nonce and the tag (a deterministic authenticated
 * encryption): without the key nobody reads the AoR out of a temporary
 * GRUU or makes one. The CSeq makes every REGISTER's GRUU a new one; the
 * Call-ID hash ties it to the registration (docs/gruu.md).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <sodium.h>
#include <string.h>

#include "flow_token_int.h"
#include "registrar_int.h"

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define TGRUU "tgruu."
#define TGRUU_LEN (sizeof(TGRUU) - 1)
#define SIV_LEN 16
#define CID_LEN 8
#define REC_VERSION 1
/* Record bytes beside the AoR and the instance. */
#define REC_FIXED (1 + SIV_LEN + 1 + 2 + 2 + CID_LEN + 4)

typedef struct gruu_keys {
  uint8_t mac[32]; /* SIV and Call-ID hash */
  uint8_t enc[32]; /* XChaCha20 */
} gruu_keys;

/* The GRUU keys are derived from the ring's key for this use alone, so a
 * temporary GRUU and a flow token never share a key. */
static int derive(const sipflow_keyring *kr, uint8_t id, gruu_keys *k) {
  static const char label[] = "sipflow temp-gruu v1";
  const uint8_t *mk = sipflow__keyring_key(kr, id);
  uint8_t out[64];
  if (!mk)
    return SIPFLOW_ERR_TAMPERED;
  if (crypto_generichash(out, sizeof(out), (const uint8_t *)label,
                         sizeof(label) - 1, mk,
                         SIPFLOW__TOKEN_MAC_KEY_LEN) != 0)
    return SIPFLOW_ERR_INTERNAL;
  memcpy(k->mac, out, 32);
  memcpy(k->enc, out + 32, 32);
  sodium_memzero(out, sizeof(out));
  return 0;
}

/* Keyed BLAKE2b-128 of |tag| then |a|, first |outlen| bytes. */
static void mac(const gruu_keys *k, uint8_t tag, const uint8_t *a, size_t alen,
                uint8_t *out, size_t outlen) {
  crypto_generichash_state st;
  uint8_t h[16];
  crypto_generichash_init(&st, k->mac, sizeof(k->mac), sizeof(h));
  crypto_generichash_update(&st, &tag, 1);
  crypto_generichash_update(&st, a, alen);
  crypto_generichash_final(&st, h, sizeof(h));
  memcpy(out, h, outlen);
}

static void cid_hash(const gruu_keys *k, const char *cid, size_t len,
                     uint8_t out[CID_LEN]) {
  mac(k, 1, (const uint8_t *)cid, len, out, CID_LEN);
}

static size_t rec_max(const sipflow_registrar *reg) {
  return REC_FIXED + reg->set.max_aor_len + reg->set.max_instance_len;
}

static size_t b64_max(const sipflow_registrar *reg) {
  return sodium_base64_ENCODED_LEN(rec_max(reg), B64);
}

void sipflow__reg_gruu_free(sipflow_registrar *reg) {
  const sipflow_mem *mem = &reg->ctx->mem;
  sipflow__free(mem, reg->gruu_text);
  sipflow__free(mem, reg->gruu_scratch);
  reg->gruu_text = NULL;
  reg->gruu_scratch = NULL;
  reg->gruu_kr = NULL;
}

int sipflow_registrar_set_gruu(sipflow_registrar *reg,
                               const sipflow_keyring *kr) {
  const sipflow_mem *mem;
  size_t room, scratch;
  char *text;
  unsigned char *sc;
  if (!reg)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!kr) {
    sipflow__reg_gruu_free(reg);
    return 0;
  }
  if (reg->gruu_text) {
    reg->gruu_kr = kr;
    return 0;
  }
  mem = &reg->ctx->mem;
  /* pub: scheme, AoR, ";gr=", the instance escaped; temp: scheme, prefix,
   * token (with its NUL), "@", host, ";gr". */
  room = 5 + reg->set.max_aor_len + 4 + 3 * (size_t)reg->set.max_instance_len +
         5 + TGRUU_LEN + b64_max(reg) + 1 + reg->set.max_aor_len + 3;
  scratch = 2 * rec_max(reg) + b64_max(reg);
  text = sipflow__malloc(mem, room * reg->set.max_contacts);
  sc = sipflow__malloc(mem, scratch);
  if (!text || !sc) {
    sipflow__free(mem, text);
    sipflow__free(mem, sc);
    return SIPFLOW_ERR_NOMEM;
  }
  reg->gruu_text = text;
  reg->gruu_room = room;
  reg->gruu_scratch = sc;
  reg->gruu_scratch_len = scratch;
  reg->gruu_kr = kr;
  return 0;
}

/* ---- writing ------------------------------------------------------------- */

typedef struct out {
  char *p;
  size_t cap, len;
  int overflow;
} out;

static void put(out *o, const void *s, size_t n) {
  if (o->overflow || n > o->cap - o->len) {
    o->overflow = 1;
    return;
  }
  memcpy(o->p + o->len, s, n);
  o->len += n;
}

static void puts_(out *o, const char *s) { put(o, s, strlen(s)); }

/* RFC 3261 §25.1 paramchar without escaping: unreserved and
 * param-unreserved. */
static int param_char(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9'))
    return 1;
  return c && strchr("-_.!~*'()[]/:&+$", c) != NULL;
}

static void put_escaped(out *o, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char e[3] = {'%', hex[c >> 4], hex[c & 15]};
    if (param_char(c))
      put(o, s + i, 1);
    else
      put(o, e, 3);
  }
}

static uint8_t *put_u16(uint8_t *p, size_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
  return p + 2;
}

/* The temporary GRUU's record into |rec|; its length. */
static size_t seal(const gruu_keys *k, uint8_t id, sipflow_str aor,
                   sipflow_str inst, sipflow_str cid, uint32_t cseq,
                   uint8_t *rec, uint8_t *plain) {
  uint8_t *p = plain, nonce[crypto_stream_xchacha20_NONCEBYTES] = {0};
  size_t n;
  *p++ = REC_VERSION;
  p = put_u16(p, aor.len);
  memcpy(p, aor.ptr, aor.len);
  p += aor.len;
  p = put_u16(p, inst.len);
  memcpy(p, inst.ptr, inst.len);
  p += inst.len;
  cid_hash(k, cid.ptr, cid.len, p);
  p += CID_LEN;
  p[0] = (uint8_t)(cseq >> 24);
  p[1] = (uint8_t)(cseq >> 16);
  p[2] = (uint8_t)(cseq >> 8);
  p[3] = (uint8_t)cseq;
  p += 4;
  n = (size_t)(p - plain);
  rec[0] = id;
  {
    crypto_generichash_state st;
    uint8_t tag = 0, h[SIV_LEN];
    crypto_generichash_init(&st, k->mac, sizeof(k->mac), sizeof(h));
    crypto_generichash_update(&st, &tag, 1);
    crypto_generichash_update(&st, rec, 1);
    crypto_generichash_update(&st, plain, n);
    crypto_generichash_final(&st, h, sizeof(h));
    memcpy(rec + 1, h, SIV_LEN);
  }
  memcpy(nonce, rec + 1, SIV_LEN);
  crypto_stream_xchacha20_xor(rec + 1 + SIV_LEN, plain, n, nonce, k->enc);
  return 1 + SIV_LEN + n;
}

int sipflow_registrar_gruu(const sipflow_registrar *reg,
                           const sipflow_reg_binding *b, char *buf, size_t cap,
                           sipflow_str *pub, sipflow_str *temp) {
  sipflow__reg_uri u;
  gruu_keys k;
  uint8_t id;
  size_t n, pub_len;
  int rv;
  out o = {buf, cap, 0, 0};
  if (!reg || !b || !buf || !pub || !temp)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (!reg->gruu_kr)
    return SIPFLOW_ERR_BAD_STATE;
  if (!b->instance.len || !b->instance.ptr)
    return SIPFLOW_ERR_NOT_FOUND;
  if (!b->aor.ptr || b->aor.len > reg->set.max_aor_len ||
      b->instance.len > reg->set.max_instance_len ||
      sipflow__reg_uri_parse(b->aor.ptr, b->aor.len, &u) != 0)
    return SIPFLOW_ERR_MALFORMED;
  if (sipflow_keyring_get_current(reg->gruu_kr, &id) != 0)
    return SIPFLOW_ERR_BAD_STATE;
  if ((rv = derive(reg->gruu_kr, id, &k)) != 0)
    return rv;
  /* RFC 5627 §5.1: the AoR with the instance ID as the "gr" value. */
  put(&o, b->aor.ptr, b->aor.len);
  puts_(&o, ";gr=");
  put_escaped(&o, b->instance.ptr, b->instance.len);
  pub_len = o.len;
  /* §3.1.2, §5.4: an opaque user part at our domain with a valueless "gr". The
   * scratch is the registrar's; one thread uses a context at a time. */
  uint8_t *rec = ((sipflow_registrar *)reg)->gruu_scratch;
  n = seal(&k, id, b->aor, b->instance, b->call_id, b->cseq, rec,
           rec + rec_max(reg));
  sodium_memzero(&k, sizeof(k));
  puts_(&o, u.sips ? "sips:" TGRUU : "sip:" TGRUU);
  if (!o.overflow && o.cap - o.len >= sodium_base64_ENCODED_LEN(n, B64)) {
    sodium_bin2base64(o.p + o.len, o.cap - o.len, rec, n, B64);
    o.len += strlen(o.p + o.len);
  } else {
    o.overflow = 1;
  }
  puts_(&o, "@");
  put(&o, u.host, u.host_len);
  if (u.has_port) {
    char port[8];
    size_t i = sizeof(port);
    unsigned v = u.port;
    do
      port[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    port[--i] = ':';
    put(&o, port + i, sizeof(port) - i);
  }
  puts_(&o, ";gr");
  if (o.overflow)
    return SIPFLOW_ERR_BUFFER_TOO_SMALL;
  pub->ptr = buf;
  pub->len = pub_len;
  temp->ptr = buf + pub_len;
  temp->len = o.len - pub_len;
  return 0;
}

void sipflow__reg_gruu_view(sipflow_registrar *reg, size_t k,
                            sipflow_reg_binding *v) {
  sipflow_str pub, temp;
  if (!v->instance.len)
    return;
  if (sipflow_registrar_gruu(reg, v, reg->gruu_text + k * reg->gruu_room,
                             reg->gruu_room, &pub, &temp) == 0) {
    v->pub_gruu = pub;
    v->temp_gruu = temp;
  }
}

/* ---- reading ------------------------------------------------------------- */

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* The "gr" parameter among a URI's parameters: 1 when there, with its
 * value (len 0 when it has none). */
static int find_gr(const sipflow__reg_uri *u, sipflow_str *val) {
  const char *p = u->params, *end = u->params + u->params_len;
  if (!u->params)
    return 0;
  while (p < end) {
    const char *e = memchr(p, ';', (size_t)(end - p));
    const char *eq;
    if (!e)
      e = end;
    eq = memchr(p, '=', (size_t)(e - p));
    size_t nlen = (size_t)((eq ? eq : e) - p);
    if (nlen == 2 && lower((unsigned char)p[0]) == 'g' &&
        lower((unsigned char)p[1]) == 'r') {
      val->ptr = eq ? eq + 1 : e;
      val->len = eq ? (size_t)(e - eq - 1) : 0;
      return 1;
    }
    p = e + 1;
  }
  return 0;
}

int sipflow_reg_uri_is_gruu(sipflow_str uri) {
  sipflow__reg_uri u;
  sipflow_str v;
  if (!uri.ptr || sipflow__reg_uri_parse(uri.ptr, uri.len, &u) != 0)
    return 0;
  return find_gr(&u, &v);
}

static int hexval(char c) {
  int l = lower((unsigned char)c);
  if (l >= '0' && l <= '9')
    return l - '0';
  return l >= 'a' && l <= 'f' ? l - 'a' + 10 : -1;
}

/* %-unescape |v| into |dst| (|cap| bytes): its length, or 0 when it does
 * not fit or has a broken escape. */
static size_t unescape(sipflow_str v, char *dst, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < v.len; i++) {
    char c = v.ptr[i];
    if (c == '%') {
      int h, l;
      if (i + 2 >= v.len)
        return 0;
      h = hexval(v.ptr[i + 1]);
      l = hexval(v.ptr[i + 2]);
      if (h < 0 || l < 0)
        return 0;
      c = (char)(h << 4 | l);
      i += 2;
    }
    if (n == cap)
      return 0;
    dst[n++] = c;
  }
  return n;
}

static size_t get_u16(const uint8_t *p) { return (size_t)p[0] << 8 | p[1]; }

/* Open a temporary GRUU's token: its AoR, instance and Call-ID hash (in
 * the scratch), and its keys. */
static int open_temp(sipflow_registrar *reg, const char *tok, size_t len,
                     sipflow_str *aor, sipflow_str *inst, const uint8_t **cid,
                     gruu_keys *k) {
  size_t max = rec_max(reg), n, alen, ilen;
  uint8_t *rec = reg->gruu_scratch, *plain = rec + max;
  uint8_t nonce[crypto_stream_xchacha20_NONCEBYTES] = {0}, siv[SIV_LEN];
  const char *end;
  int rv;
  if (len == 0 || len > b64_max(reg) ||
      sodium_base642bin(rec, max, tok, len, NULL, &n, &end, B64) != 0 ||
      end != tok + len || n < REC_FIXED)
    return SIPFLOW_ERR_TAMPERED;
  if ((rv = derive(reg->gruu_kr, rec[0], k)) != 0)
    return rv;
  memcpy(nonce, rec + 1, SIV_LEN);
  crypto_stream_xchacha20_xor(plain, rec + 1 + SIV_LEN, n - 1 - SIV_LEN, nonce,
                              k->enc);
  {
    crypto_generichash_state st;
    uint8_t tag = 0;
    crypto_generichash_init(&st, k->mac, sizeof(k->mac), sizeof(siv));
    crypto_generichash_update(&st, &tag, 1);
    crypto_generichash_update(&st, rec, 1);
    crypto_generichash_update(&st, plain, n - 1 - SIV_LEN);
    crypto_generichash_final(&st, siv, sizeof(siv));
  }
  if (sodium_memcmp(siv, rec + 1, SIV_LEN) != 0 || plain[0] != REC_VERSION)
    return SIPFLOW_ERR_TAMPERED;
  /* Authentic, so the lengths are ours; checked all the same. */
  alen = get_u16(plain + 1);
  if (3 + alen + 2 > n - 1 - SIV_LEN)
    return SIPFLOW_ERR_TAMPERED;
  ilen = get_u16(plain + 3 + alen);
  if (REC_FIXED + alen + ilen != n)
    return SIPFLOW_ERR_TAMPERED;
  aor->ptr = (const char *)plain + 3;
  aor->len = alen;
  inst->ptr = (const char *)plain + 5 + alen;
  inst->len = ilen;
  *cid = plain + 5 + alen + ilen;
  return 0;
}

/* The instance group of |inst| in |aor|; 0 when no binding has it. */
static uint16_t group_of(const sipflow__reg_aor *aor, sipflow_str inst) {
  SIPFLOW__REG_FOREACH(aor, b) {
    if (b->inst_len &&
        sipflow__reg_instance_equal(sipflow__reg_b_inst(b), b->inst_len,
                                    inst.ptr, inst.len))
      return b->inst_group;
  }
  return 0;
}

/* §5.1: valid while a binding of the instance has the Call-ID the
 * temporary GRUU was minted for. */
static bool call_id_current(const sipflow__reg_aor *aor, uint16_t group,
                            const gruu_keys *k, const uint8_t *cid) {
  SIPFLOW__REG_FOREACH(aor, b) {
    uint8_t h[CID_LEN];
    if (b->inst_group != group)
      continue;
    cid_hash(k, sipflow__reg_b_call_id(b), b->call_id_len, h);
    if (sodium_memcmp(h, cid, CID_LEN) == 0)
      return true;
  }
  return false;
}

int sipflow_registrar_lookup_gruu(sipflow_registrar *reg, sipflow_str uri,
                                  sipflow_tstamp now,
                                  sipflow_reg_plan **pplan) {
  sipflow__reg_uri u;
  sipflow_str gr, aor, inst;
  const sipflow__reg_aor *rec;
  uint16_t group;
  int rv;
  if (pplan)
    *pplan = NULL;
  if (!reg || !pplan)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if ((rv = sipflow__reg_enter(reg, now)) != 0)
    return rv;
  if (!reg->gruu_kr)
    return SIPFLOW_ERR_BAD_STATE;
  if (!uri.ptr || sipflow__reg_uri_parse(uri.ptr, uri.len, &u) != 0 ||
      !find_gr(&u, &gr))
    return SIPFLOW_ERR_MALFORMED;
  if (u.user && u.user_len > TGRUU_LEN &&
      memcmp(u.user, TGRUU, TGRUU_LEN) == 0) {
    gruu_keys k;
    const uint8_t *cid;
    rv = open_temp(reg, u.user + TGRUU_LEN, u.user_len - TGRUU_LEN, &aor, &inst,
                   &cid, &k);
    if (rv != 0)
      return rv;
    rec = sipflow__reg_aor_find(reg, aor.ptr, aor.len,
                                sipflow__reg_hash_aor(reg, aor.ptr, aor.len),
                                SIPFLOW__REG_FIND_LOOKUP);
    group = rec ? group_of(rec, inst) : 0;
    if (!group) {
      sodium_memzero(&k, sizeof(k));
      return SIPFLOW_ERR_NOT_FOUND;
    }
    rv = call_id_current(rec, group, &k, cid) ? 0 : SIPFLOW_ERR_STALE;
    sodium_memzero(&k, sizeof(k));
    if (rv != 0)
      return rv;
  } else {
    /* A public GRUU: the AoR is the URI without its parameters. */
    char *ibuf = (char *)reg->gruu_scratch;
    size_t ilen, klen, plen = (size_t)(u.params - 1 - uri.ptr);
    if (gr.len == 0 || plen > reg->set.max_aor_len ||
        !(ilen = unescape(gr, ibuf, reg->set.max_instance_len)) ||
        sipflow__reg_aor_canon(uri.ptr, plen, reg->aor_buf, &klen) != 0)
      return SIPFLOW_ERR_MALFORMED;
    inst.ptr = ibuf;
    inst.len = ilen;
    rec = sipflow__reg_aor_find(reg, reg->aor_buf, klen,
                                sipflow__reg_hash_aor(reg, reg->aor_buf, klen),
                                SIPFLOW__REG_FIND_LOOKUP);
    group = rec ? group_of(rec, inst) : 0;
    if (!group)
      return SIPFLOW_ERR_NOT_FOUND;
  }
  return sipflow__reg_plan_build(reg, rec, group, pplan);
}

int sipflow_reg_gruu_status(int r) {
  switch (r) {
  case 0:
    return 0;
  case SIPFLOW_ERR_NOT_FOUND:
    return 480;
  case SIPFLOW_ERR_TAMPERED:
  case SIPFLOW_ERR_STALE:
  case SIPFLOW_ERR_MALFORMED:
    return 404;
  default:
    return 500;
  }
}
