/*
 * Fuzz target for sipflow_keepalive_options_response_parse(), which hosts
 * run on every datagram before their SIP parser: whatever arrives must give
 * NOT_FOUND, or a status 100..699 and a probe id whose text ("sfka" and 16
 * hex digits) is in the message, and never a read past |size|.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sipflow/keepalive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether |needle| (no NUL inside) occurs in |hay|, ignoring case. */
static int contains(const uint8_t *hay, size_t n, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (strncasecmp((const char *)hay + i, needle, k) == 0)
      return 1;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A copy of exactly |size| bytes, so ASan sees any read past the end. */
  uint8_t *copy = malloc(size ? size : 1);
  uint64_t id;
  unsigned status;
  char text[32];
  int rv;
  if (!copy)
    return 0;
  if (size)
    memcpy(copy, data, size);
  rv = sipflow_keepalive_options_response_parse(copy, size, &id, &status);
  if (rv == 0) {
    snprintf(text, sizeof(text), "sfka%016llx", (unsigned long long)id);
    if (status < 100 || status > 699 || !contains(copy, size, text) ||
        !contains(copy, size, "OPTIONS"))
      abort();
  } else if (rv != SIPFLOW_ERR_NOT_FOUND) {
    abort();
  }
  free(copy);
  return 0;
}
