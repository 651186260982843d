/*
 * Flow tokens and the key ring: minting, every verification outcome, escaped
 * input, key rotation, and the documented record layout.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "fail_alloc.h"
#include "flow_token_int.h"
#include "sipflow/token.h"

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

static sipflow_ctx *ctx;
static sipflow_keyring *kr;

static void fixed_key(uint8_t key[SIPFLOW_TOKEN_KEY_LEN], uint8_t seed) {
  for (int i = 0; i < SIPFLOW_TOKEN_KEY_LEN; i++)
    key[i] = (uint8_t)(seed + i);
}

static void setup(void) {
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN];
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL), 0);
  cr_assert_eq(sipflow_keyring_new(&kr, ctx), 0);
  fixed_key(key, 1);
  cr_assert_eq(sipflow_keyring_add(kr, 1, key, sizeof(key)), 0);
}

static void teardown(void) {
  sipflow_keyring_del(kr);
  sipflow_ctx_del(ctx);
}

TestSuite(token, .init = setup, .fini = teardown);

static sipflow_flow_tuple tuple_of(int transport, const char *local,
                                   uint16_t lport, const char *remote,
                                   uint16_t rport, uint32_t generation) {
  sipflow_flow_tuple t;
  memset(&t, 0, sizeof(t));
  t.transport = (uint8_t)transport;
  cr_assert_eq(sipflow_addr_parse(&t.local, local, lport), 0);
  cr_assert_eq(sipflow_addr_parse(&t.remote, remote, rport), 0);
  t.generation = generation;
  return t;
}

static sipflow_flow_tuple v4(void) {
  return tuple_of(SIPFLOW_TRANSPORT_TCP, "192.0.2.10", 5060, "198.51.100.7",
                  49152, 7);
}

static sipflow_flow_tuple v6(void) {
  return tuple_of(SIPFLOW_TRANSPORT_TLS, "2001:db8::10", 5061,
                  "2001:db8:ffff::7", 65535, 0xfffffffe);
}

static void mint(const sipflow_flow_tuple *t, char *buf, size_t *len) {
  cr_assert_eq(sipflow_token_mint(kr, t, buf, SIPFLOW_TOKEN_BUFLEN, len), 0);
}

static int verify_str(const char *s, sipflow_token_info *info) {
  return sipflow_token_verify(kr, s, strlen(s), info);
}

static void expect_same_tuple(const sipflow_flow_tuple *a,
                              const sipflow_flow_tuple *b) {
  cr_expect_eq(a->transport, b->transport);
  cr_expect(sipflow_addr_equal(&a->local, &b->local));
  cr_expect(sipflow_addr_equal(&a->remote, &b->remote));
  cr_expect_eq(a->generation, b->generation);
}

static bool base64url_only(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  }
  return true;
}

/* ---- minting ------------------------------------------------------------- */

Test(token, ipv4_token_is_46_base64url_characters_and_round_trips) {
  sipflow_flow_tuple t = v4();
  sipflow_token_info info;
  char tok[SIPFLOW_TOKEN_BUFLEN];
  size_t len = 0;
  mint(&t, tok, &len);
  cr_expect_eq(len, 46);
  cr_expect_leq(len, 48, "issue 3: an IPv4 token is at most 48 characters");
  cr_expect_eq(strlen(tok), len);
  /* RFC 3261 §25.1: unreserved characters need no escaping in a user part */
  cr_expect(base64url_only(tok, len), "%s", tok);
  cr_assert_eq(sipflow_token_verify(kr, tok, len, &info), 0);
  cr_expect_eq(info.version, SIPFLOW_TOKEN_VERSION);
  cr_expect_eq(info.key_id, 1);
  cr_expect_eq(info.slot, 0);
  expect_same_tuple(&info.tuple, &t);
}

Test(token, ipv6_token_is_78_characters_and_round_trips) {
  sipflow_flow_tuple t = v6();
  sipflow_token_info info;
  char tok[SIPFLOW_TOKEN_BUFLEN];
  size_t len = 0;
  mint(&t, tok, &len);
  cr_expect_eq(len, SIPFLOW_TOKEN_IPV6_LEN);
  cr_expect(base64url_only(tok, len));
  cr_assert_eq(sipflow_token_verify(kr, tok, len, &info), 0);
  expect_same_tuple(&info.tuple, &t);
}

Test(token, every_transport_round_trips) {
  for (int tr = SIPFLOW_TRANSPORT_UDP; tr <= SIPFLOW_TRANSPORT_WSS; tr++) {
    sipflow_flow_tuple t =
        tuple_of(tr, "10.0.0.1", 1, "203.0.113.255", 0, (uint32_t)tr);
    sipflow_token_info info;
    char tok[SIPFLOW_TOKEN_BUFLEN];
    mint(&t, tok, NULL);
    cr_assert_eq(verify_str(tok, &info), 0, "transport %d", tr);
    expect_same_tuple(&info.tuple, &t);
  }
}

Test(token, internal_mint_carries_the_flow_table_slot) {
  sipflow_flow_tuple t = v6();
  sipflow_token_info info;
  char tok[SIPFLOW_TOKEN_BUFLEN];
  cr_assert_eq(sipflow__token_mint(kr, &t, 0xabcdef01, tok, sizeof(tok), NULL),
               0);
  cr_assert_eq(verify_str(tok, &info), 0);
  cr_expect_eq(info.slot, 0xabcdef01);
}

Test(token, a_new_generation_on_the_same_addresses_gets_another_token) {
  /* RFC 5626 §3.4: a token must not also name a later connection. */
  sipflow_flow_tuple a = v4(), b = v4();
  char ta[SIPFLOW_TOKEN_BUFLEN], tb[SIPFLOW_TOKEN_BUFLEN];
  b.generation++;
  mint(&a, ta, NULL);
  mint(&b, tb, NULL);
  cr_expect_str_neq(ta, tb);
}

Test(token, mint_rejects_tuples_it_cannot_encode) {
  struct {
    const char *what;
    int transport;
    uint8_t lfamily, rfamily;
  } rows[] = {
      {"transport 0", 0, 4, 4},
      {"transport 7", 7, 4, 4},
      {"family none", SIPFLOW_TRANSPORT_UDP, 0, 0},
      {"mixed families", SIPFLOW_TRANSPORT_UDP, 4, 6},
      {"unknown family", SIPFLOW_TRANSPORT_UDP, 5, 5},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    sipflow_flow_tuple t = v4();
    char tok[SIPFLOW_TOKEN_BUFLEN];
    t.transport = (uint8_t)rows[i].transport;
    t.local.family = rows[i].lfamily;
    t.remote.family = rows[i].rfamily;
    cr_expect_eq(sipflow_token_mint(kr, &t, tok, sizeof(tok), NULL),
                 SIPFLOW_ERR_INVALID_ARGUMENT, "%s", rows[i].what);
  }
}

Test(token, mint_reports_a_small_buffer_and_null_arguments) {
  sipflow_flow_tuple t = v4(), t6 = v6();
  char tok[SIPFLOW_TOKEN_BUFLEN];
  cr_expect_eq(sipflow_token_mint(kr, &t, tok, 46, NULL),
               SIPFLOW_ERR_BUFFER_TOO_SMALL);
  cr_expect_eq(sipflow_token_mint(kr, &t, tok, 47, NULL), 0);
  cr_expect_eq(sipflow_token_mint(kr, &t6, tok, 78, NULL),
               SIPFLOW_ERR_BUFFER_TOO_SMALL);
  cr_expect_eq(sipflow_token_mint(NULL, &t, tok, sizeof(tok), NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_token_mint(kr, NULL, tok, sizeof(tok), NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_token_mint(kr, &t, NULL, sizeof(tok), NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

Test(token, mint_without_a_key_is_bad_state) {
  sipflow_keyring *empty;
  sipflow_flow_tuple t = v4();
  char tok[SIPFLOW_TOKEN_BUFLEN];
  cr_assert_eq(sipflow_keyring_new(&empty, ctx), 0);
  cr_expect_eq(sipflow_token_mint(empty, &t, tok, sizeof(tok), NULL),
               SIPFLOW_ERR_BAD_STATE);
  sipflow_keyring_del(empty);
}

/*
 * The layout and MAC in docs/tokens.md, computed here independently: if this
 * fails, either the code or the document is wrong.
 */
Test(token, minted_token_matches_the_documented_construction) {
  sipflow_flow_tuple t = v4();
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN], mac_key[16], rec[34], full[16];
  char expect[SIPFLOW_TOKEN_BUFLEN], tok[SIPFLOW_TOKEN_BUFLEN];
  const uint8_t head[] = {
      0x12, 1,                       /* version 1, IPv4, TCP; key id 1 */
      192,  0,  2,   10, 0x13, 0xc4, /* 192.0.2.10:5060 */
      198,  51, 100, 7,  0xc0, 0x00, /* 198.51.100.7:49152 */
      0,    0,  0,   0,              /* slot 0 */
      0,    0,  0,   7};             /* generation 7 */
  fixed_key(key, 1);
  cr_assert_eq(crypto_kdf_derive_from_key(mac_key, 16, 1, "sfltoken", key), 0);
  memcpy(rec, head, sizeof(head));
  crypto_shorthash_siphashx24(full, rec, 22, mac_key);
  memcpy(rec + 22, full, 12);
  sodium_bin2base64(expect, sizeof(expect), rec, sizeof(rec), B64);
  mint(&t, tok, NULL);
  cr_expect_str_eq(tok, expect);
}

/* ---- verification outcomes ----------------------------------------------- */

/* Re-encodes |rec| after flipping one bit. */
static int verify_flipped(const uint8_t *rec, size_t len, size_t bit) {
  uint8_t r[SIPFLOW__TOKEN_REC_V6];
  char tok[SIPFLOW_TOKEN_BUFLEN];
  memcpy(r, rec, len);
  r[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  sodium_bin2base64(tok, sizeof(tok), r, len, B64);
  return verify_str(tok, NULL);
}

/* Byte 0 is judged before the MAC: version 1, the IPv6 flag agreeing with
 * the length, a transport from 1 to 6. */
static bool byte0_well_formed(uint8_t b, size_t len) {
  size_t want = (b & 0x08) ? SIPFLOW__TOKEN_REC_V6 : SIPFLOW__TOKEN_REC_V4;
  return b >> 4 == 1 && len == want && (b & 7) >= 1 && (b & 7) <= 6;
}

static void flip_every_bit(const sipflow_flow_tuple *t) {
  uint8_t rec[SIPFLOW__TOKEN_REC_V6];
  char tok[SIPFLOW_TOKEN_BUFLEN];
  size_t len;
  mint(t, tok, NULL);
  cr_assert_eq(sodium_base642bin(rec, sizeof(rec), tok, strlen(tok), NULL, &len,
                                 NULL, B64),
               0);
  for (size_t bit = 0; bit < len * 8; bit++) {
    int rv = verify_flipped(rec, len, bit), want;
    if (bit < 8)
      want = byte0_well_formed((uint8_t)(rec[0] ^ (1u << bit)), len)
                 ? SIPFLOW_ERR_TAMPERED
                 : SIPFLOW_ERR_MALFORMED;
    else if (bit / 8 == 1)
      want = SIPFLOW_ERR_STALE; /* another key id, not in the ring */
    else
      want = SIPFLOW_ERR_TAMPERED;
    cr_expect_eq(rv, want, "bit %zu of %zu: got %s", bit, len * 8,
                 sipflow_err_name(rv));
  }
}

Test(token, every_single_bit_flip_of_an_ipv4_record_is_caught) {
  sipflow_flow_tuple t = v4();
  flip_every_bit(&t);
}

Test(token, every_single_bit_flip_of_an_ipv6_record_is_caught) {
  sipflow_flow_tuple t = v6();
  flip_every_bit(&t);
}

Test(token, a_key_id_flipped_onto_another_key_in_the_ring_is_tampered) {
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN], rec[SIPFLOW__TOKEN_REC_V4];
  sipflow_flow_tuple t = v4();
  char tok[SIPFLOW_TOKEN_BUFLEN];
  size_t len;
  fixed_key(key, 2);
  cr_assert_eq(sipflow_keyring_add(kr, 3, key, sizeof(key)), 0);
  mint(&t, tok, NULL);
  cr_assert_eq(sodium_base642bin(rec, sizeof(rec), tok, strlen(tok), NULL, &len,
                                 NULL, B64),
               0);
  cr_expect_eq(verify_flipped(rec, len, 8 + 1), SIPFLOW_ERR_TAMPERED,
               "key id 1 -> 3");
}

Test(token, every_character_substitution_is_rejected) {
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.~";
  sipflow_flow_tuple t = v4();
  char tok[SIPFLOW_TOKEN_BUFLEN];
  size_t len;
  mint(&t, tok, &len);
  for (size_t i = 0; i < len; i++) {
    char orig = tok[i];
    for (const char *c = alphabet; *c; c++) {
      int rv;
      if (*c == orig)
        continue;
      tok[i] = *c;
      rv = verify_str(tok, NULL);
      cr_expect(rv == SIPFLOW_ERR_TAMPERED || rv == SIPFLOW_ERR_MALFORMED ||
                    rv == SIPFLOW_ERR_STALE,
                "position %zu '%c': %s", i, *c, sipflow_err_name(rv));
    }
    tok[i] = orig;
  }
  cr_expect_eq(verify_str(tok, NULL), 0);
}

Test(token, a_key_that_left_the_ring_gives_stale_not_tampered) {
  /* Checklist 11.8/11.9: our own old token gets 430, not 403. */
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN];
  sipflow_flow_tuple t = v4();
  sipflow_token_info info;
  char tok[SIPFLOW_TOKEN_BUFLEN];
  mint(&t, tok, NULL);
  fixed_key(key, 9);
  cr_assert_eq(sipflow_keyring_add(kr, 2, key, sizeof(key)), 0);
  cr_assert_eq(sipflow_keyring_set_current(kr, 2), 0);
  cr_assert_eq(sipflow_keyring_remove(kr, 1), 0);
  cr_expect_eq(verify_str(tok, &info), SIPFLOW_ERR_STALE);
  cr_expect_eq(info.key_id, 1, "the stale key's id is reported");
  cr_expect_eq(sipflow_token_sip_status(SIPFLOW_ERR_STALE), 430);
}

Test(token, rotation_keeps_tokens_under_keys_still_in_the_ring) {
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN];
  sipflow_flow_tuple t = v4();
  sipflow_token_info info;
  char old_tok[SIPFLOW_TOKEN_BUFLEN], new_tok[SIPFLOW_TOKEN_BUFLEN];
  uint8_t cur = 0;
  mint(&t, old_tok, NULL);
  fixed_key(key, 77);
  cr_assert_eq(sipflow_keyring_add(kr, 200, key, sizeof(key)), 0);
  cr_assert_eq(sipflow_keyring_get_current(kr, &cur), 0);
  cr_expect_eq(cur, 1, "adding a key does not make it current");
  cr_assert_eq(sipflow_keyring_set_current(kr, 200), 0);
  mint(&t, new_tok, NULL);
  cr_assert_eq(verify_str(new_tok, &info), 0);
  cr_expect_eq(info.key_id, 200);
  cr_assert_eq(verify_str(old_tok, &info), 0, "old key still in the ring");
  cr_expect_eq(info.key_id, 1);
}

Test(token, the_same_key_id_with_another_key_is_tampered) {
  /* A node restarted with a fresh key under the old id cannot tell its old
   * tokens from forgeries: docs/tokens.md says to persist keys or use a new
   * id. */
  sipflow_keyring *other;
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN];
  sipflow_flow_tuple t = v4();
  char tok[SIPFLOW_TOKEN_BUFLEN];
  mint(&t, tok, NULL);
  cr_assert_eq(sipflow_keyring_new(&other, ctx), 0);
  fixed_key(key, 99);
  cr_assert_eq(sipflow_keyring_add(other, 1, key, sizeof(key)), 0);
  cr_expect_eq(sipflow_token_verify(other, tok, strlen(tok), NULL),
               SIPFLOW_ERR_TAMPERED);
  sipflow_keyring_del(other);
}

Test(token, every_truncation_is_malformed) {
  sipflow_flow_tuple t = v6();
  char tok[SIPFLOW_TOKEN_BUFLEN];
  size_t len;
  mint(&t, tok, &len);
  for (size_t n = 0; n < len; n++) {
    int rv = sipflow_token_verify(kr, tok, n, NULL);
    cr_expect_eq(rv, SIPFLOW_ERR_MALFORMED, "length %zu: %s", n,
                 sipflow_err_name(rv));
  }
}

Test(token, a_token_with_extra_characters_is_malformed) {
  sipflow_flow_tuple t = v4();
  char tok[SIPFLOW_TOKEN_BUFLEN + 8];
  mint(&t, tok, NULL);
  strcat(tok, "A");
  cr_expect_eq(verify_str(tok, NULL), SIPFLOW_ERR_MALFORMED);
}

Test(token, oversized_input_is_rejected_without_being_read) {
  /* Only one byte exists: under AddressSanitizer any read past it fails. */
  char one = 'A';
  char big[SIPFLOW_TOKEN_MAX_INPUT + 1];
  memset(big, 'A', sizeof(big));
  cr_expect_eq(
      sipflow_token_verify(kr, &one, SIPFLOW_TOKEN_MAX_INPUT + 1, NULL),
      SIPFLOW_ERR_MALFORMED);
  cr_expect_eq(sipflow_token_verify(kr, &one, SIZE_MAX, NULL),
               SIPFLOW_ERR_MALFORMED);
  cr_expect_eq(sipflow_token_verify(kr, big, sizeof(big), NULL),
               SIPFLOW_ERR_MALFORMED);
}

Test(token, an_unknown_version_is_malformed_even_with_a_valid_mac) {
  uint8_t rec[SIPFLOW__TOKEN_REC_V4], full[16];
  sipflow_flow_tuple t = v4();
  char tok[SIPFLOW_TOKEN_BUFLEN];
  size_t len;
  mint(&t, tok, NULL);
  cr_assert_eq(sodium_base642bin(rec, sizeof(rec), tok, strlen(tok), NULL, &len,
                                 NULL, B64),
               0);
  for (unsigned version = 0; version < 16; version++) {
    if (version == SIPFLOW_TOKEN_VERSION)
      continue;
    rec[0] = (uint8_t)(version << 4 | (rec[0] & 0x0f));
    crypto_shorthash_siphashx24(full, rec, len - 12,
                                sipflow__keyring_key(kr, 1));
    memcpy(rec + len - 12, full, 12);
    sodium_bin2base64(tok, sizeof(tok), rec, len, B64);
    cr_expect_eq(verify_str(tok, NULL), SIPFLOW_ERR_MALFORMED, "version %u",
                 version);
  }
}

Test(token, an_authentic_record_with_impossible_fields_is_malformed) {
  /* Even with a valid MAC these are refused: the structure is checked before
   * the key is used. */
  struct {
    const char *what;
    uint8_t byte0;
  } rows[] = {{"transport 0", 0x10},
              {"transport 7", 0x17},
              {"IPv6 flag on an IPv4-sized record", 0x1a}};
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    uint8_t rec[SIPFLOW__TOKEN_REC_V4] = {0}, full[16];
    char tok[SIPFLOW_TOKEN_BUFLEN];
    rec[0] = rows[i].byte0;
    rec[1] = 1;
    crypto_shorthash_siphashx24(full, rec, sizeof(rec) - 12,
                                sipflow__keyring_key(kr, 1));
    memcpy(rec + sizeof(rec) - 12, full, 12);
    sodium_bin2base64(tok, sizeof(tok), rec, sizeof(rec), B64);
    cr_expect_eq(verify_str(tok, NULL), SIPFLOW_ERR_MALFORMED, "%s",
                 rows[i].what);
  }
}

Test(token, characters_outside_base64url_are_malformed) {
  const char bad[] = {'+', '/', '=', ' ', '\0', '\n', '*', (char)0xc3};
  sipflow_flow_tuple t = v4();
  char tok[SIPFLOW_TOKEN_BUFLEN];
  size_t len;
  mint(&t, tok, &len);
  for (size_t i = 0; i < sizeof(bad); i++) {
    char copy[SIPFLOW_TOKEN_BUFLEN];
    memcpy(copy, tok, len + 1);
    copy[10] = bad[i];
    cr_expect_eq(sipflow_token_verify(kr, copy, len, NULL),
                 SIPFLOW_ERR_MALFORMED, "byte 0x%02x", (unsigned char)bad[i]);
  }
}

/* ---- escaped input (RFC 3261 §19.1.4) ------------------------------------ */

static void escape_all(const char *in, char *out, const char *fmt) {
  for (; *in; in++, out += 3)
    snprintf(out, 4, fmt, (unsigned char)*in);
}

Test(token, a_fully_escaped_token_is_accepted_in_either_hex_case) {
  sipflow_flow_tuple t = v6();
  sipflow_token_info info;
  char tok[SIPFLOW_TOKEN_BUFLEN], esc[SIPFLOW_TOKEN_MAX_INPUT + 1];
  mint(&t, tok, NULL);
  escape_all(tok, esc, "%%%02X");
  cr_expect_eq(strlen(esc), SIPFLOW_TOKEN_MAX_INPUT);
  cr_assert_eq(verify_str(esc, &info), 0);
  expect_same_tuple(&info.tuple, &t);
  escape_all(tok, esc, "%%%02x");
  cr_expect_eq(verify_str(esc, NULL), 0);
}

Test(token, a_partly_escaped_token_is_accepted) {
  sipflow_flow_tuple t = v4();
  char tok[SIPFLOW_TOKEN_BUFLEN], esc[SIPFLOW_TOKEN_MAX_INPUT + 1];
  size_t len;
  mint(&t, tok, &len);
  /* escape the first, a middle and the last character only */
  snprintf(esc, sizeof(esc), "%%%02X%.*s%%%02x%.*s%%%02X",
           (unsigned char)tok[0], 20, tok + 1, (unsigned char)tok[21],
           (int)(len - 23), tok + 22, (unsigned char)tok[len - 1]);
  cr_expect_eq(verify_str(esc, NULL), 0, "%s", esc);
}

Test(token, bad_escapes_are_malformed) {
  sipflow_flow_tuple t = v4();
  char tok[SIPFLOW_TOKEN_BUFLEN];
  const char *suffixes[] = {"%", "%4", "%G1", "%1G", "%%41"};
  size_t len;
  mint(&t, tok, &len);
  for (size_t i = 0; i < sizeof(suffixes) / sizeof(*suffixes); i++) {
    char s[SIPFLOW_TOKEN_BUFLEN + 8];
    snprintf(s, sizeof(s), "%.*s%s", (int)(len - 1), tok, suffixes[i]);
    cr_expect_eq(verify_str(s, NULL), SIPFLOW_ERR_MALFORMED, "%s", suffixes[i]);
  }
}

Test(token, escapes_are_decoded_once_only) {
  /* "%2541" is "%41" after one decoding, not "A". */
  sipflow_flow_tuple t = v4();
  char tok[SIPFLOW_TOKEN_BUFLEN], s[SIPFLOW_TOKEN_BUFLEN + 8];
  size_t len;
  mint(&t, tok, &len);
  snprintf(s, sizeof(s), "%%25%02X%s", (unsigned char)tok[0], tok + 1);
  cr_expect_eq(verify_str(s, NULL), SIPFLOW_ERR_MALFORMED);
}

Test(token, escaped_input_that_decodes_too_long_is_malformed) {
  char s[SIPFLOW_TOKEN_MAX_INPUT + 1];
  memset(s, 'A', sizeof(s) - 1);
  s[sizeof(s) - 1] = '\0';
  s[0] = '%';
  s[1] = '4';
  s[2] = '1'; /* one escape, then 234 plain characters */
  cr_expect_eq(verify_str(s, NULL), SIPFLOW_ERR_MALFORMED);
}

/* ---- status mapping and arguments ---------------------------------------- */

Test(token, sip_status_follows_rfc_5626_section_5_3_1) {
  struct {
    int rv, status;
  } rows[] = {
      {0, 0},                       /* route the request */
      {SIPFLOW_ERR_TAMPERED, 403},  /* §5.3.1 */
      {SIPFLOW_ERR_STALE, 430},     /* §5.3.1, checklist 11.8 */
      {SIPFLOW_ERR_MALFORMED, 403}, /* our Route, no token of ours */
      {SIPFLOW_ERR_INVALID_ARGUMENT, 500},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
    cr_expect_eq(sipflow_token_sip_status(rows[i].rv), rows[i].status,
                 "row %zu", i);
}

Test(token, verify_checks_its_arguments) {
  cr_expect_eq(sipflow_token_verify(NULL, "x", 1, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_token_verify(kr, NULL, 1, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_token_verify(kr, NULL, 0, NULL), SIPFLOW_ERR_MALFORMED);
  cr_expect_eq(sipflow_token_verify(kr, "", 0, NULL), SIPFLOW_ERR_MALFORMED);
}

/* ---- the key ring -------------------------------------------------------- */

Test(token, keyring_add_checks_ids_and_lengths) {
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN];
  fixed_key(key, 5);
  cr_expect_eq(sipflow_keyring_add(kr, 1, key, sizeof(key)),
               SIPFLOW_ERR_EXISTS);
  cr_expect_eq(sipflow_keyring_add(kr, 2, key, sizeof(key) - 1),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_keyring_add(kr, 2, NULL, sizeof(key)),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_keyring_add(NULL, 2, key, sizeof(key)),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_not(sipflow_keyring_has(kr, 2));
  cr_expect_eq(sipflow_keyring_add(kr, 0, key, sizeof(key)), 0);
  cr_expect_eq(sipflow_keyring_add(kr, 255, key, sizeof(key)), 0);
  cr_expect(sipflow_keyring_has(kr, 0));
  cr_expect(sipflow_keyring_has(kr, 255));
  cr_expect_not(sipflow_keyring_has(NULL, 0));
}

Test(token, keyring_refuses_to_remove_the_current_key) {
  uint8_t cur;
  cr_expect_eq(sipflow_keyring_remove(kr, 1), SIPFLOW_ERR_BAD_STATE);
  cr_expect_eq(sipflow_keyring_remove(kr, 2), SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(sipflow_keyring_remove(NULL, 2), SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_keyring_set_current(kr, 2), SIPFLOW_ERR_NOT_FOUND);
  cr_expect_eq(sipflow_keyring_set_current(NULL, 2),
               SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_assert_eq(sipflow_keyring_get_current(kr, &cur), 0);
  cr_expect_eq(cur, 1);
  cr_expect_eq(sipflow_keyring_get_current(kr, NULL),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

Test(token, an_empty_ring_has_no_current_key) {
  sipflow_keyring *empty;
  uint8_t cur;
  cr_assert_eq(sipflow_keyring_new(&empty, ctx), 0);
  cr_expect_eq(sipflow_keyring_get_current(empty, &cur), SIPFLOW_ERR_NOT_FOUND);
  sipflow_keyring_del(empty);
  sipflow_keyring_del(NULL);
  cr_expect_eq(sipflow_keyring_new(NULL, ctx), SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_keyring_new(&empty, NULL), SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_null(empty);
}

Test(token, removed_key_material_is_wiped) {
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN], zero[16] = {0};
  fixed_key(key, 40);
  cr_assert_eq(sipflow_keyring_add(kr, 9, key, sizeof(key)), 0);
  cr_expect_neq(memcmp(kr->mac_key[9], zero, 16), 0);
  cr_assert_eq(sipflow_keyring_remove(kr, 9), 0);
  cr_expect_eq(memcmp(kr->mac_key[9], zero, 16), 0);
}

Test(token, key_generate_gives_fresh_random_keys) {
  uint8_t a[SIPFLOW_TOKEN_KEY_LEN], b[SIPFLOW_TOKEN_KEY_LEN];
  cr_assert_eq(sipflow_token_key_generate(a, sizeof(a)), 0);
  cr_assert_eq(sipflow_token_key_generate(b, sizeof(b)), 0);
  cr_expect_neq(memcmp(a, b, sizeof(a)), 0);
  cr_expect_eq(sipflow_token_key_generate(a, 16), SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_token_key_generate(NULL, sizeof(a)),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

Test(token, keyring_new_survives_allocation_failure) {
  fail_alloc fa;
  sipflow_ctx *c;
  sipflow_keyring *k = (sipflow_keyring *)1;
  fail_alloc_init(&fa);
  cr_assert_eq(sipflow_ctx_new(&c, NULL, NULL, &fa.mem, NULL), 0);
  fail_alloc_arm(&fa, 1, 0);
  cr_expect_eq(sipflow_keyring_new(&k, c), SIPFLOW_ERR_NOMEM);
  cr_expect_null(k);
  cr_expect_eq(fa.live, 1, "only the context is left");
  fail_alloc_arm(&fa, 0, 0);
  cr_assert_eq(sipflow_keyring_new(&k, c), 0);
  sipflow_keyring_del(k);
  sipflow_ctx_del(c);
  cr_expect_eq(fa.live, 0);
}
