/*
 * Counting, failing allocator for tests. Each block carries a small header
 * with its size so live bytes can be tracked exactly.
 */
#include "fail_alloc.h"

#include <stdlib.h>
#include <string.h>

typedef union hdr {
  size_t size;
  max_align_t align;
} hdr;

static int should_fail(fail_alloc *fa) {
  fa->calls++;
  if (fa->fail_at && (fa->calls == fa->fail_at ||
                      (fa->fail_after && fa->calls > fa->fail_at))) {
    fa->failures++;
    return 1;
  }
  return 0;
}

static void account(fail_alloc *fa, int64_t bytes, int64_t count) {
  fa->live += count;
  fa->live_bytes += bytes;
  if (fa->live_bytes > fa->peak_bytes)
    fa->peak_bytes = fa->live_bytes;
}

static void *fa_malloc(size_t size, void *ud) {
  fail_alloc *fa = ud;
  hdr *h;
  if (should_fail(fa) || size > SIZE_MAX - sizeof(hdr))
    return NULL;
  h = malloc(sizeof(hdr) + size);
  if (!h)
    return NULL;
  h->size = size;
  account(fa, (int64_t)size, 1);
  return h + 1;
}

static void fa_free(void *ptr, void *ud) {
  fail_alloc *fa = ud;
  hdr *h;
  if (!ptr)
    return;
  h = (hdr *)ptr - 1;
  account(fa, -(int64_t)h->size, -1);
  free(h);
}

static void *fa_calloc(size_t n, size_t size, void *ud) {
  void *p;
  if (size && n > SIZE_MAX / size)
    return NULL;
  p = fa_malloc(n * size, ud);
  if (p)
    memset(p, 0, n * size);
  return p;
}

static void *fa_realloc(void *ptr, size_t size, void *ud) {
  fail_alloc *fa = ud;
  hdr *h, *nh;
  if (!ptr)
    return fa_malloc(size, ud);
  if (should_fail(fa) || size > SIZE_MAX - sizeof(hdr))
    return NULL;
  h = (hdr *)ptr - 1;
  int64_t old = (int64_t)h->size;
  nh = realloc(h, sizeof(hdr) + size);
  if (!nh)
    return NULL;
  nh->size = size;
  account(fa, (int64_t)size - old, 0);
  return nh + 1;
}

void fail_alloc_init(fail_alloc *fa) {
  memset(fa, 0, sizeof(*fa));
  fa->mem.user_data = fa;
  fa->mem.malloc = fa_malloc;
  fa->mem.free = fa_free;
  fa->mem.calloc = fa_calloc;
  fa->mem.realloc = fa_realloc;
}

void fail_alloc_arm(fail_alloc *fa, uint64_t n, int sticky) {
  fa->calls = 0;
  fa->fail_at = n;
  fa->fail_after = sticky;
}
