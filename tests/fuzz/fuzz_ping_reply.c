/*
 * Fuzz target for sipflow-ping's response reader (examples/ping/reply.c):
 * whatever arrives on its socket must give either nothing or a status code
 * and a probe id lying inside the datagram.
 */
#include <stdlib.h>

#include "../../examples/ping/reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A copy of exactly |size| bytes, so ASan sees any read past the end. */
  uint8_t *copy = malloc(size ? size : 1);
  const char *id;
  size_t idlen;
  unsigned status;
  if (!copy)
    return 0;
  for (size_t i = 0; i < size; i++)
    copy[i] = data[i];
  if (ping_reply_parse(copy, size, &status, &id, &idlen) == 0) {
    const char *base = (const char *)copy;
    if (status < 100 || status > 699 || idlen == 0 || id < base ||
        id + idlen > base + size)
      abort();
  }
  free(copy);
  return 0;
}
