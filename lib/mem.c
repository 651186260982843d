/*
 * The default allocator and small allocation helpers.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <stdlib.h>
#include <string.h>

#include "sipflow_int.h"

static void *default_malloc(size_t size, void *ud) {
  (void)ud;
  return malloc(size);
}
static void default_free(void *ptr, void *ud) {
  (void)ud;
  free(ptr);
}
static void *default_calloc(size_t n, size_t size, void *ud) {
  (void)ud;
  return calloc(n, size);
}
static void *default_realloc(void *ptr, size_t size, void *ud) {
  (void)ud;
  return realloc(ptr, size);
}

static const sipflow_mem default_mem = {NULL, default_malloc, default_free,
                                        default_calloc, default_realloc};

const sipflow_mem *sipflow_mem_default(void) { return &default_mem; }

bool sipflow__mem_valid(const sipflow_mem *mem) {
  return mem && mem->malloc && mem->free && mem->calloc && mem->realloc;
}

char *sipflow__strndup(const sipflow_mem *mem, const char *s, size_t len) {
  char *p = sipflow__malloc(mem, len + 1);
  if (!p)
    return NULL;
  if (len)
    memcpy(p, s, len);
  p[len] = '\0';
  return p;
}
