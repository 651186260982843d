/*
 * STUN codec, the Binding responder and the datagram classifier
 * (RFC 5389, RFC 5769 test vectors, RFC 5626 §8).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "sipflow/responder.h"
#include "sipflow/stun.h"

/* RFC 5769 §2.1: sample request (SOFTWARE, PRIORITY, ICE-CONTROLLED,
 * USERNAME, MESSAGE-INTEGRITY, FINGERPRINT). */
static const uint8_t rfc5769_request[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
    0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10,
    0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x63, 0x6c,
    0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
    0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76,
    0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c,
    0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf};

/* RFC 5769 §2.2: sample IPv4 response, 192.0.2.1 port 32853. */
static const uint8_t rfc5769_ipv4[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
    0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b,
    0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
    0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
    0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7,
    0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96};

/* RFC 5769 §2.3: sample IPv6 response,
 * 2001:db8:1234:5678:11:2233:4455:6677 port 32853. */
static const uint8_t rfc5769_ipv6[] = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
    0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b,
    0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
    0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
    0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1,
    0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41,
    0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c};

static const uint8_t txid5769[12] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                     0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

Test(stun, rfc5769_request_has_its_fingerprint_and_an_unknown_attribute) {
  sipflow_stun_msg m;
  /* PRIORITY (0x0024) is ICE's, comprehension-required and unknown to a
   * plain RFC 5389 agent: the decoder says so and lists it (§7.3). */
  cr_assert_eq(
      sipflow_stun_decode(&m, rfc5769_request, sizeof(rfc5769_request)),
      SIPFLOW_ERR_UNSUPPORTED);
  cr_expect_eq(m.type, SIPFLOW_STUN_BINDING_REQUEST);
  cr_expect_eq(m.method, 1);
  cr_expect_eq(m.cls, 0);
  cr_expect_eq(memcmp(m.txid, txid5769, 12), 0);
  cr_expect(m.has_fingerprint);
  cr_expect(m.has_integrity);
  cr_expect_eq(m.n_unknown, 1);
  cr_expect_eq(m.unknown[0], 0x0024);
  cr_expect_eq(m.length, sizeof(rfc5769_request));
}

Test(stun, rfc5769_ipv4_response_gives_192_0_2_1_port_32853) {
  sipflow_stun_msg m;
  sipflow_addr want;
  cr_assert_eq(sipflow_addr_parse(&want, "192.0.2.1", 32853), 0);
  cr_assert_eq(sipflow_stun_decode(&m, rfc5769_ipv4, sizeof(rfc5769_ipv4)), 0);
  cr_expect_eq(m.type, SIPFLOW_STUN_BINDING_SUCCESS);
  cr_expect_eq(m.cls, 2);
  cr_expect(m.has_fingerprint);
  cr_assert(m.has_xor_mapped);
  cr_expect(sipflow_addr_equal(&m.xor_mapped, &want));
}

Test(stun, rfc5769_ipv6_response_gives_the_published_address) {
  sipflow_stun_msg m;
  sipflow_addr want;
  cr_assert_eq(
      sipflow_addr_parse(&want, "2001:db8:1234:5678:11:2233:4455:6677", 32853),
      0);
  cr_assert_eq(sipflow_stun_decode(&m, rfc5769_ipv6, sizeof(rfc5769_ipv6)), 0);
  cr_assert(m.has_xor_mapped);
  cr_expect(sipflow_addr_equal(&m.xor_mapped, &want));
}

Test(stun, encoded_success_matches_rfc5769_xor_mapped_bytes) {
  uint8_t buf[64];
  size_t len;
  sipflow_addr a;
  static const uint8_t attr[] = {0x00, 0x20, 0x00, 0x08, 0x00, 0x01,
                                 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43};
  sipflow_addr_parse(&a, "192.0.2.1", 32853);
  cr_assert_eq(
      sipflow_stun_encode_success(buf, sizeof(buf), txid5769, &a, 0, &len), 0);
  cr_expect_eq(len, 32); /* checklist 8.9: header + XOR-MAPPED-ADDRESS */
  cr_expect_eq(memcmp(buf + 20, attr, sizeof(attr)), 0);
  cr_expect_eq(buf[0], 0x01);
  cr_expect_eq(buf[1], 0x01);
  cr_expect_eq(buf[3], 12);
}

Test(stun, success_with_fingerprint_round_trips_ipv4_and_ipv6) {
  const char *hosts[] = {"10.1.2.3", "2001:db8::77"};
  for (int i = 0; i < 2; i++) {
    uint8_t buf[80];
    size_t len;
    sipflow_addr a;
    sipflow_stun_msg m;
    sipflow_addr_parse(&a, hosts[i], (uint16_t)(5060 + i));
    cr_assert_eq(
        sipflow_stun_encode_success(buf, sizeof(buf), txid5769, &a, 1, &len),
        0);
    cr_expect_eq(len, i ? 52u : 40u);
    cr_assert_eq(sipflow_stun_decode(&m, buf, len), 0);
    cr_expect(m.has_fingerprint);
    cr_expect(sipflow_addr_equal(&m.xor_mapped, &a));
    /* One flipped bit anywhere before FINGERPRINT breaks it (§15.5). */
    buf[len - 9] ^= 1;
    cr_expect_eq(sipflow_stun_decode(&m, buf, len), SIPFLOW_ERR_MALFORMED);
  }
}

Test(stun, request_is_the_twenty_bytes_rfc5626_sends) {
  uint8_t buf[20];
  size_t len;
  sipflow_stun_msg m;
  cr_assert_eq(sipflow_stun_encode_request(buf, sizeof(buf), txid5769, &len),
               0);
  cr_expect_eq(len, 20);
  cr_assert_eq(sipflow_stun_decode(&m, buf, len), 0);
  cr_expect_eq(m.type, SIPFLOW_STUN_BINDING_REQUEST);
  cr_expect_eq(memcmp(m.txid, txid5769, 12), 0);
  cr_expect_eq(sipflow_stun_encode_request(buf, 19, txid5769, &len),
               SIPFLOW_ERR_BUFFER_TOO_SMALL);
}

Test(stun, error_420_lists_unknown_attributes) {
  uint8_t buf[100];
  size_t len;
  sipflow_stun_msg m;
  uint16_t unk[] = {0x0024, 0x0003, 0x7777};
  cr_assert_eq(sipflow_stun_encode_error(buf, sizeof(buf), txid5769, 420, unk,
                                         3, 1, &len),
               0);
  cr_assert_eq(sipflow_stun_decode(&m, buf, len), 0);
  cr_expect_eq(m.type, SIPFLOW_STUN_BINDING_ERROR);
  cr_expect_eq(m.cls, 3);
  cr_expect_eq(m.error_code, 420);
  cr_expect(m.has_fingerprint);
  /* UNKNOWN-ATTRIBUTES follows ERROR-CODE (4 + 4 + "Unknown Attribute"'s
   * 17 bytes padded to 20 = 28 bytes): 3 types, 6 bytes padded to 8. */
  cr_expect_eq(buf[20 + 28], 0x00);
  cr_expect_eq(buf[20 + 29], 0x0A);
  cr_expect_eq(buf[20 + 31], 6);
  cr_expect_eq(buf[20 + 32], 0x00);
  cr_expect_eq(buf[20 + 33], 0x24);
  cr_expect_eq(buf[20 + 36], 0x77);
  cr_expect_eq(len, 20u + 28 + 12 + 8);
  cr_expect_eq(sipflow_stun_encode_error(buf, sizeof(buf), txid5769, 299, NULL,
                                         0, 0, &len),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

/* A header with |body| bytes of attributes copied after it. */
static size_t msg(uint8_t *out, uint16_t type, const uint8_t *body,
                  size_t blen) {
  out[0] = (uint8_t)(type >> 8);
  out[1] = (uint8_t)type;
  out[2] = (uint8_t)(blen >> 8);
  out[3] = (uint8_t)blen;
  out[4] = 0x21;
  out[5] = 0x12;
  out[6] = 0xa4;
  out[7] = 0x42;
  memcpy(out + 8, txid5769, 12);
  if (blen)
    memcpy(out + 20, body, blen);
  return 20 + blen;
}

typedef struct bad_row {
  const char *rule;
  int expect;
} bad_row;

Test(stun, bad_input_is_rejected_with_a_code) {
  uint8_t b[700];
  sipflow_stun_msg m;
  size_t n;
  /* RFC 5389 §6: shorter than the header. */
  n = msg(b, 0x0101, NULL, 0);
  cr_expect_eq(sipflow_stun_decode(&m, b, 19), SIPFLOW_ERR_MALFORMED);
  /* §6: the magic cookie. */
  b[7] = 0x43;
  cr_expect_eq(sipflow_stun_decode(&m, b, n), SIPFLOW_ERR_MALFORMED);
  /* §6: the two most significant bits are zero. */
  n = msg(b, 0x0101, NULL, 0);
  b[0] |= 0x80;
  cr_expect_eq(sipflow_stun_decode(&m, b, n), SIPFLOW_ERR_MALFORMED);
  /* §6: the length counts the attributes and is a multiple of 4. */
  n = msg(b, 0x0101, (const uint8_t *)"\x80\x22\x00\x01x\0\0\0", 8);
  b[3] = 6;
  cr_expect_eq(sipflow_stun_decode(&m, b, n), SIPFLOW_ERR_MALFORMED);
  b[3] = 4; /* says 4, datagram holds 8: trailing bytes */
  cr_expect_eq(sipflow_stun_decode(&m, b, n), SIPFLOW_ERR_MALFORMED);
  /* §15: an attribute may not run past the message. */
  n = msg(b, 0x0101, (const uint8_t *)"\x80\x22\x00\x09xxxx", 8);
  cr_expect_eq(sipflow_stun_decode(&m, b, n), SIPFLOW_ERR_MALFORMED);
  /* §15.2: family 0x01 or 0x02, and a value of 8 or 20 bytes. */
  n = msg(b, 0x0101, (const uint8_t *)"\x00\x20\x00\x08\x00\x03\xa1\x47xxxx",
          12);
  cr_expect_eq(sipflow_stun_decode(&m, b, n), SIPFLOW_ERR_MALFORMED);
  n = msg(b, 0x0101,
          (const uint8_t *)"\x00\x20\x00\x0c\x00\x01\xa1\x47xxxxxxxx", 16);
  cr_expect_eq(sipflow_stun_decode(&m, b, n), SIPFLOW_ERR_MALFORMED);
  /* §15.6: the error class is 3 to 6. */
  n = msg(b, 0x0111, (const uint8_t *)"\x00\x09\x00\x04\x00\x00\x07\x00", 8);
  cr_expect_eq(sipflow_stun_decode(&m, b, n), SIPFLOW_ERR_MALFORMED);
  /* §15.5: FINGERPRINT is the last attribute. */
  n = msg(b, 0x0101,
          (const uint8_t *)"\x80\x28\x00\x04xxxx\x80\x22\x00\x04"
                           "abcd",
          16);
  cr_expect_eq(sipflow_stun_decode(&m, b, n), SIPFLOW_ERR_MALFORMED);
  /* §7.1: nothing above 548 bytes over UDP without a known MTU. */
  memset(b + 20, 0, 580);
  for (int i = 0; i < 580; i += 4) {
    b[20 + i] = 0x80; /* optional attributes of length 0 */
    b[21 + i] = 0x22;
  }
  n = msg(b, 0x0101, b + 20, 580);
  cr_expect_eq(sipflow_stun_decode(&m, b, n), SIPFLOW_ERR_TOO_LARGE);
  /* Arguments. */
  cr_expect_eq(sipflow_stun_decode(NULL, b, n), SIPFLOW_ERR_INVALID_ARGUMENT);
  cr_expect_eq(sipflow_stun_decode(&m, NULL, 4), SIPFLOW_ERR_INVALID_ARGUMENT);
}

Test(stun, optional_unknowns_are_ignored_and_required_ones_listed) {
  uint8_t b[64];
  sipflow_stun_msg m;
  /* §15: 0x8000-0xFFFF optional: ignored. */
  size_t n = msg(b, 0x0001, (const uint8_t *)"\x80\x55\x00\x02xy\0\0", 8);
  cr_expect_eq(sipflow_stun_decode(&m, b, n), 0);
  cr_expect_eq(m.n_unknown, 0);
  /* §7.3: 0x0000-0x7FFF unknown: listed, UNSUPPORTED. */
  n = msg(b, 0x0001, (const uint8_t *)"\x00\x03\x00\x04xxxx\x7f\x01\x00\x00",
          12);
  cr_expect_eq(sipflow_stun_decode(&m, b, n), SIPFLOW_ERR_UNSUPPORTED);
  cr_expect_eq(m.n_unknown, 2);
  cr_expect_eq(m.unknown[0], 0x0003);
  cr_expect_eq(m.unknown[1], 0x7f01);
  /* §15.4: after MESSAGE-INTEGRITY, everything but FINGERPRINT is ignored. */
  uint8_t body[28] = {0x00, 0x08, 0x00, 0x14};
  memcpy(body + 24, "\x00\x03\x00\x00", 4);
  n = msg(b, 0x0001, body, sizeof(body));
  cr_expect_eq(sipflow_stun_decode(&m, b, n), 0);
  cr_expect(m.has_integrity);
}

Test(stun, is_message_checks_cookie_bits_and_length) {
  uint8_t b[24];
  size_t n = msg(b, 0x0001, NULL, 0);
  cr_expect(sipflow_stun_is_message(b, n));
  cr_expect_not(sipflow_stun_is_message(b, n - 1));
  cr_expect_not(sipflow_stun_is_message(NULL, 20));
  b[5] = 0;
  cr_expect_not(sipflow_stun_is_message(b, n));
}

/* ---- responder -------------------------------------------------------------
 */

Test(responder, binding_request_gets_its_source_as_xor_mapped_address) {
  uint8_t req[20], out[SIPFLOW_STUN_MAX_LEN];
  size_t len, olen;
  sipflow_addr src;
  sipflow_stun_msg m;
  sipflow_addr_parse(&src, "203.0.113.9", 40000);
  sipflow_stun_encode_request(req, sizeof(req), txid5769, &len);
  /* RFC 5389 §7.3.1.1, RFC 5626 §8. */
  cr_assert_eq(sipflow_stun_respond(req, len, &src, out, sizeof(out), &olen),
               0);
  cr_expect_eq(olen, 32);
  cr_assert_eq(sipflow_stun_decode(&m, out, olen), 0);
  cr_expect_eq(m.type, SIPFLOW_STUN_BINDING_SUCCESS);
  cr_expect_eq(memcmp(m.txid, txid5769, 12), 0);
  cr_expect(sipflow_addr_equal(&m.xor_mapped, &src));
  cr_expect_not(m.has_fingerprint);
  cr_expect_eq(sipflow_stun_respond(req, len, &src, out, 31, &olen),
               SIPFLOW_ERR_BUFFER_TOO_SMALL);
}

/* CRC-32 as RFC 5389 §15.5 names it (ISO 3309); the RFC 5769 vectors above
 * check the library's own. */
static uint32_t crc32_ref(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  while (n--) {
    c ^= *p++;
    for (int k = 0; k < 8; k++)
      c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
  }
  return ~c;
}

Test(responder, fingerprint_in_request_gets_fingerprint_back) {
  uint8_t req[28], out[SIPFLOW_STUN_MAX_LEN];
  size_t olen;
  uint32_t fp;
  sipflow_addr src;
  sipflow_stun_msg m;
  sipflow_addr_parse(&src, "2001:db8::5", 5060);
  msg(req, 0x0001, (const uint8_t *)"\x80\x28\x00\x04\0\0\0\0", 8);
  fp = crc32_ref(req, 20) ^ 0x5354554Eu;
  req[24] = (uint8_t)(fp >> 24);
  req[25] = (uint8_t)(fp >> 16);
  req[26] = (uint8_t)(fp >> 8);
  req[27] = (uint8_t)fp;
  cr_assert_eq(
      sipflow_stun_respond(req, sizeof(req), &src, out, sizeof(out), &olen), 0);
  cr_expect_eq(olen, 20 + 24 + 8);
  cr_assert_eq(sipflow_stun_decode(&m, out, olen), 0);
  cr_expect_eq(m.type, SIPFLOW_STUN_BINDING_SUCCESS);
  cr_expect(m.has_fingerprint);
  cr_expect(sipflow_addr_equal(&m.xor_mapped, &src));
  /* A request with a wrong FINGERPRINT is dropped (§7.3). */
  req[27] ^= 0x40;
  cr_expect_eq(
      sipflow_stun_respond(req, sizeof(req), &src, out, sizeof(out), &olen),
      SIPFLOW_ERR_MALFORMED);
}

Test(responder, rfc5769_request_gets_420_with_fingerprint) {
  uint8_t out[SIPFLOW_STUN_MAX_LEN];
  size_t olen;
  sipflow_addr src;
  sipflow_stun_msg m;
  sipflow_addr_parse(&src, "192.0.2.1", 32853);
  /* A response is never answered (RFC 5389 §7.3). */
  cr_expect_eq(sipflow_stun_respond(rfc5769_ipv4, sizeof(rfc5769_ipv4), &src,
                                    out, sizeof(out), &olen),
               SIPFLOW_ERR_UNSUPPORTED);
  /* The RFC 5769 request carries ICE's PRIORITY: 420 listing it (§7.3.1),
   * with FINGERPRINT since the request had one. */
  cr_assert_eq(sipflow_stun_respond(rfc5769_request, sizeof(rfc5769_request),
                                    &src, out, sizeof(out), &olen),
               0);
  cr_assert_eq(sipflow_stun_decode(&m, out, olen), 0);
  cr_expect_eq(m.type, SIPFLOW_STUN_BINDING_ERROR);
  cr_expect_eq(m.error_code, 420);
  cr_expect(m.has_fingerprint);
  cr_expect_eq(memcmp(m.txid, txid5769, 12), 0);
}

Test(responder, indications_garbage_and_bad_arguments_get_no_answer) {
  uint8_t b[24], out[64];
  size_t olen;
  sipflow_addr src, none;
  memset(&none, 0, sizeof(none));
  sipflow_addr_parse(&src, "192.0.2.7", 1);
  size_t n = msg(b, SIPFLOW_STUN_BINDING_INDICATION, NULL, 0);
  cr_expect_eq(sipflow_stun_respond(b, n, &src, out, sizeof(out), &olen),
               SIPFLOW_ERR_UNSUPPORTED);
  n = msg(b, 0x0002, NULL, 0); /* another method's request */
  cr_expect_eq(sipflow_stun_respond(b, n, &src, out, sizeof(out), &olen),
               SIPFLOW_ERR_UNSUPPORTED);
  cr_expect_eq(sipflow_stun_respond((const uint8_t *)"hello", 5, &src, out,
                                    sizeof(out), &olen),
               SIPFLOW_ERR_MALFORMED);
  n = msg(b, 0x0001, NULL, 0);
  cr_expect_eq(sipflow_stun_respond(b, n, &none, out, sizeof(out), &olen),
               SIPFLOW_ERR_INVALID_ARGUMENT);
}

typedef struct class_row {
  const char *what;
  const char *bytes;
  size_t len;
  int kind;
} class_row;

Test(responder, datagrams_are_sorted_as_checklist_1_2_5_and_11_15_say) {
  uint8_t stun[20];
  size_t sl;
  sipflow_stun_encode_request(stun, sizeof(stun), txid5769, &sl);
  class_row rows[] = {
      /* 11.15: empty, zero and whitespace NAT pings of non-Outbound phones */
      {"empty", "", 0, SIPFLOW_DATAGRAM_NAT_PING},
      {"4 zero bytes (nathelper)", "\0\0\0\0", 4, SIPFLOW_DATAGRAM_NAT_PING},
      {"spaces", "  \t ", 4, SIPFLOW_DATAGRAM_NAT_PING},
      {"three CRLF", "\r\n\r\n\r\n", 6, SIPFLOW_DATAGRAM_NAT_PING},
      /* RFC 5626 §4.4.1: the ping and the pong */
      {"double CRLF", "\r\n\r\n", 4, SIPFLOW_DATAGRAM_CRLF_PING},
      {"single CRLF", "\r\n", 2, SIPFLOW_DATAGRAM_CRLF_PONG},
      /* 1.2.5: SIP starts with a letter (after CRLFs, RFC 3261 §7.5) */
      {"request", "OPTIONS sip:a SIP/2.0\r\n", 23, SIPFLOW_DATAGRAM_SIP},
      {"response", "SIP/2.0 200 OK\r\n", 16, SIPFLOW_DATAGRAM_SIP},
      {"CRLF then request", "\r\nBYE sip:a SIP/2.0", 19, SIPFLOW_DATAGRAM_SIP},
      /* 1.2.5: STUN top bits 00, SigComp 11, anything else garbage */
      {"STUN", (const char *)stun, sl, SIPFLOW_DATAGRAM_STUN},
      {"SigComp", "\xf8\x01\x02\x03", 4, SIPFLOW_DATAGRAM_GARBAGE},
      {"digits", "1234", 4, SIPFLOW_DATAGRAM_GARBAGE},
      {"CRLF then digit", "\r\n7", 3, SIPFLOW_DATAGRAM_GARBAGE},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
    cr_expect_eq(
        sipflow_datagram_classify((const uint8_t *)rows[i].bytes, rows[i].len),
        rows[i].kind, "%s", rows[i].what);
  cr_expect_eq(sipflow_datagram_classify(NULL, 0), SIPFLOW_DATAGRAM_NAT_PING);
}
