/*
 * The registrar's open-addressed index (white box): every object stays
 * reachable from its home slot through inserts and backward-shift
 * removals, colliding and wrapping hashes included, and in a hinted index
 * each slot's hints move with its object; a reserve makes the inserts it
 * covers allocation-free; a failed growth changes nothing.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "fail_alloc.h"
#include "registrar_int.h"

enum { N_OBJ = 600 };

/* Objects are the cells of this array; their hashes come from a table the
 * test chooses, so that collisions and wrap-around are certain. */
static char objs[N_OBJ];

static size_t find(const sipflow__reg_index *idx, uint64_t hash,
                   const void *obj) {
  size_t pos = sipflow__reg_index_home(idx, hash), seen = 0;
  sipflow__reg_slot *s;
  while ((s = sipflow__reg_index_next(idx, hash, &pos)))
    seen += s->obj == obj;
  return seen;
}

/* No free slot between an entry and its home: what a probe relies on. */
static bool probes_reach_everything(const sipflow__reg_index *idx) {
  size_t used = 0;
  for (size_t i = 0; idx->slots && i <= idx->mask; i++) {
    const sipflow__reg_slot *s = sipflow__reg_index_at(idx, i);
    if (!s->obj)
      continue;
    used++;
    for (size_t k = sipflow__reg_index_home(idx, s->hash); k != i;
         k = (k + 1) & idx->mask)
      if (!sipflow__reg_index_at(idx, k)->obj)
        return false;
  }
  return used == idx->len;
}

/* In a hinted index the test sets each object's hints to the object and
 * one past it: they must still say so wherever the slot moved. */
static void set_hints(const sipflow__reg_index *idx, uint64_t hash,
                      const char *obj) {
  size_t pos = sipflow__reg_index_home(idx, hash);
  sipflow__reg_slot *s;
  while ((s = sipflow__reg_index_next(idx, hash, &pos)))
    if (s->obj == obj) {
      s->hint[0] = obj;
      s->hint[1] = obj + 1;
    }
}

static bool hints_moved_along(const sipflow__reg_index *idx) {
  for (size_t i = 0; idx->slots && i <= idx->mask; i++) {
    const sipflow__reg_slot *s = sipflow__reg_index_at(idx, i);
    if (s->obj &&
        (s->hint[0] != s->obj || s->hint[1] != (const char *)s->obj + 1))
      return false;
    if (!s->obj && (s->hint[0] || s->hint[1]))
      return false; /* a freed slot is cleared */
  }
  return true;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void random_inserts_and_removals(bool hinted) {
  fail_alloc fa;
  sipflow__reg_index idx;
  uint64_t hash[N_OBJ];
  bool in[N_OBJ] = {false};
  size_t live = 0;
  fail_alloc_init(&fa);
  sipflow__reg_index_init(&idx, &fa.mem, hinted);
  cr_assert_eq(idx.stride, hinted ? 32u : 16u);
  /* Few distinct home slots (low bits shared), and some hashes equal in
   * full: long clusters, shifts across the table's end, equal hashes. */
  for (size_t i = 0; i < N_OBJ; i++)
    hash[i] = (next_rand() % 5 == 0) ? 0xfffffff0u + i % 7
                                     : (next_rand() << 8) | (i % 3 * 0x5f);
  for (int step = 0; step < 20000; step++) {
    size_t i = (size_t)(next_rand() % N_OBJ);
    if (in[i]) {
      sipflow__reg_index_remove(&idx, hash[i], &objs[i]);
      in[i] = false;
      live--;
    } else {
      cr_assert_eq(sipflow__reg_index_reserve(&idx, 1), 0);
      cr_assert_eq(sipflow__reg_index_insert(&idx, hash[i], &objs[i]), 0);
      if (hinted)
        set_hints(&idx, hash[i], &objs[i]);
      in[i] = true;
      live++;
    }
    cr_assert_eq(idx.len, live);
    if (step % 97 == 0) {
      cr_assert(probes_reach_everything(&idx), "step %d", step);
      cr_assert(!hinted || hints_moved_along(&idx), "step %d", step);
      cr_assert_eq((uintptr_t)idx.slots % idx.stride, 0u);
      for (size_t k = 0; k < N_OBJ; k++)
        cr_assert_eq(find(&idx, hash[k], &objs[k]), in[k] ? 1u : 0u,
                     "object %zu at step %d", k, step);
    }
  }
  /* Removing what is not there changes nothing. */
  for (size_t k = 0; k < N_OBJ; k++)
    if (!in[k])
      sipflow__reg_index_remove(&idx, hash[k], &objs[k]);
  cr_expect_eq(idx.len, live);
  cr_expect(probes_reach_everything(&idx));
  cr_expect(!hinted || hints_moved_along(&idx));
  sipflow__reg_index_free(&idx);
  cr_expect_eq(fa.live, 0);
}

Test(reg_index, random_inserts_and_removals_keep_every_object_findable) {
  random_inserts_and_removals(false);
}

Test(reg_index, hints_move_with_their_object_through_shifts_and_growth) {
  random_inserts_and_removals(true);
}

Test(reg_index, a_reserve_makes_the_inserts_it_covers_allocation_free) {
  fail_alloc fa;
  sipflow__reg_index idx;
  fail_alloc_init(&fa);
  sipflow__reg_index_init(&idx, &fa.mem, false);
  cr_assert_eq(sipflow__reg_index_reserve(&idx, 100), 0);
  fail_alloc_arm(&fa, 1, 1); /* every allocation from now on fails */
  for (size_t i = 0; i < 100; i++)
    cr_assert_eq(sipflow__reg_index_insert(&idx, next_rand(), &objs[i]), 0);
  cr_expect_eq(fa.failures, 0);
  cr_expect_eq(sipflow__reg_index_reserve(&idx, 0), 0);
  /* Growing beyond the reserve fails and leaves the index as it was. */
  cr_expect_eq(sipflow__reg_index_reserve(&idx, 1000), SIPFLOW_ERR_NOMEM);
  cr_expect_eq(idx.len, 100);
  cr_expect(probes_reach_everything(&idx));
  sipflow__reg_index_free(&idx);
  cr_expect_eq(fa.live, 0);
}

Test(reg_index, an_insert_without_room_fails_instead_of_filling_the_table) {
  fail_alloc fa;
  sipflow__reg_index idx;
  size_t ok = 0;
  fail_alloc_init(&fa);
  sipflow__reg_index_init(&idx, &fa.mem, false);
  cr_assert_eq(sipflow__reg_index_reserve(&idx, 1), 0);
  fail_alloc_arm(&fa, 1, 1);
  for (size_t i = 0; i < 64; i++)
    ok += sipflow__reg_index_insert(&idx, next_rand(), &objs[i]) == 0;
  /* One slot stays free so that every probe ends. */
  cr_expect_eq(ok, idx.mask);
  cr_expect_eq(idx.len, idx.mask);
  cr_expect(probes_reach_everything(&idx));
  cr_expect_eq(find(&idx, 12345, &objs[599]), 0);
  sipflow__reg_index_free(&idx);
  cr_expect_eq(fa.live, 0);
}
