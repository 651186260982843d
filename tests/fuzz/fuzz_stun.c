/*
 * Fuzz target: the STUN decoder, the Binding responder and the datagram
 * classifier on raw bytes, checking what each promises.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sipflow/responder.h"
#include "sipflow/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c))                                                                  \
      abort();                                                                 \
  } while (0)

static void check_decode(const uint8_t *data, size_t size) {
  sipflow_stun_msg m;
  int rv = sipflow_stun_decode(&m, data, size);
  CHECK(rv == 0 || rv == SIPFLOW_ERR_MALFORMED || rv == SIPFLOW_ERR_TOO_LARGE ||
        rv == SIPFLOW_ERR_UNSUPPORTED);
  if (rv != 0 && rv != SIPFLOW_ERR_UNSUPPORTED)
    return;
  CHECK(m.length == size && size <= SIPFLOW_STUN_MAX_LEN);
  CHECK(sipflow_stun_is_message(data, size));
  CHECK((rv == SIPFLOW_ERR_UNSUPPORTED) == (m.n_unknown > 0));
  CHECK(memcmp(m.txid, data + 8, SIPFLOW_STUN_TXID_LEN) == 0);
  CHECK(m.cls <= 3);
  if (m.has_xor_mapped)
    CHECK(m.xor_mapped.family == SIPFLOW_AF_INET ||
          m.xor_mapped.family == SIPFLOW_AF_INET6);
  if (m.error_code)
    CHECK(m.error_code >= 300 && m.error_code <= 699);
}

static void check_respond(const uint8_t *data, size_t size) {
  uint8_t out[SIPFLOW_STUN_MAX_LEN];
  size_t olen = 0;
  sipflow_addr src;
  sipflow_stun_msg req, ans;
  int rv;
  memset(&src, 0, sizeof(src));
  src.family =
      size && (data[size - 1] & 1) ? SIPFLOW_AF_INET6 : SIPFLOW_AF_INET;
  memcpy(src.bytes,
         "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00"
         "\x00\x00\x07",
         16);
  src.port = 5060;
  rv = sipflow_stun_respond(data, size, &src, out, sizeof(out), &olen);
  if (rv != 0)
    return;
  /* An answer is only ever given to a Binding request, and decodes. */
  CHECK(sipflow_stun_decode(&req, data, size) == 0 || req.n_unknown > 0);
  CHECK(req.type == SIPFLOW_STUN_BINDING_REQUEST);
  CHECK(olen <= sizeof(out));
  CHECK(sipflow_stun_decode(&ans, out, olen) == 0);
  CHECK(memcmp(ans.txid, req.txid, SIPFLOW_STUN_TXID_LEN) == 0);
  CHECK(ans.has_fingerprint == req.has_fingerprint);
  if (req.n_unknown) {
    CHECK(ans.type == SIPFLOW_STUN_BINDING_ERROR && ans.error_code == 420);
  } else {
    CHECK(ans.type == SIPFLOW_STUN_BINDING_SUCCESS);
    CHECK(sipflow_addr_equal(&ans.xor_mapped, &src));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int kind = sipflow_datagram_classify(data, size);
  CHECK(kind >= SIPFLOW_DATAGRAM_GARBAGE && kind <= SIPFLOW_DATAGRAM_NAT_PING);
  if (kind == SIPFLOW_DATAGRAM_STUN)
    CHECK(sipflow_stun_is_message(data, size));
  check_decode(data, size);
  check_respond(data, size);
  return 0;
}
