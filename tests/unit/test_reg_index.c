/*
 * The registrar's open-addressed index (white box): every object stays
 * reachable from its home slot through inserts and backward-shift
 * removals, colliding and wrapping hashes included; a reserve makes the
 * inserts it covers allocation-free; a failed growth changes nothing.
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
    if (!idx->slots[i].obj)
      continue;
    used++;
    for (size_t k = sipflow__reg_index_home(idx, idx->slots[i].hash); k != i;
         k = (k + 1) & idx->mask)
      if (!idx->slots[k].obj)
        return false;
  }
  return used == idx->len;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

Test(reg_index, random_inserts_and_removals_keep_every_object_findable) {
  fail_alloc fa;
  sipflow__reg_index idx;
  uint64_t hash[N_OBJ];
  bool in[N_OBJ] = {false};
  size_t live = 0;
  fail_alloc_init(&fa);
  sipflow__reg_index_init(&idx, &fa.mem);
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
      in[i] = true;
      live++;
    }
    cr_assert_eq(idx.len, live);
    if (step % 97 == 0) {
      cr_assert(probes_reach_everything(&idx), "step %d", step);
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
  sipflow__reg_index_free(&idx);
  cr_expect_eq(fa.live, 0);
}

Test(reg_index, a_reserve_makes_the_inserts_it_covers_allocation_free) {
  fail_alloc fa;
  sipflow__reg_index idx;
  fail_alloc_init(&fa);
  sipflow__reg_index_init(&idx, &fa.mem);
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
  sipflow__reg_index_init(&idx, &fa.mem);
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
