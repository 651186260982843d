/*
 * Fuzz target: stream bytes from the network through the framer, split at
 * points taken from the input, checking that every message it returns lies
 * inside what was fed and that errors are sticky.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sipflow/framer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sipflow_framer *f;
  size_t pos = 0;
  size_t max = size && data[0] & 1 ? 256 : 0;
  if (sipflow_framer_new(&f, NULL, max) != 0)
    return 0;
  while (pos < size) {
    size_t chunk = 1 + (data[pos] % 64);
    if (chunk > size - pos)
      chunk = size - pos;
    if (data[pos] & 0x80)
      sipflow_framer_expect_pong(f, 1);
    if (sipflow_framer_feed(f, data + pos, chunk) != 0)
      break;
    pos += chunk;
    for (;;) {
      sipflow_frame fr;
      int rv = sipflow_framer_next(f, &fr);
      if (rv != 0) {
        if (sipflow_framer_next(f, &fr) != SIPFLOW_ERR_BAD_STATE)
          abort();
        goto done;
      }
      if (fr.type == SIPFLOW_FRAME_NONE)
        break;
      if (fr.type == SIPFLOW_FRAME_MESSAGE &&
          (fr.len == 0 || fr.body_offset > fr.len || fr.len > pos))
        abort();
    }
  }
done:
  sipflow_framer_del(f);
  return 0;
}
