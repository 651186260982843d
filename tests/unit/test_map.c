/*
 * The intrusive hash map (white box).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "fail_alloc.h"
#include "sipflow_int.h"

typedef struct node {
  sipflow__map_entry me;
  char key[16];
} node;

static node *find(sipflow__map *m, const sipflow_ctx *ctx, const char *key) {
  uint64_t h = sipflow__hash(ctx, key, strlen(key));
  SIPFLOW__MAP_FOREACH(m, h, e) {
    node *n = sipflow__container_of(e, node, me);
    if (strcmp(n->key, key) == 0)
      return n;
  }
  return NULL;
}

Test(map, inserts_finds_and_removes_through_growth) {
  enum { N = 5000 };
  static node nodes[N];
  sipflow_ctx *ctx;
  sipflow__map m;
  cr_assert_eq(sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL), 0);
  sipflow__map_init(&m, sipflow_mem_default());
  for (int i = 0; i < N; i++) {
    snprintf(nodes[i].key, sizeof(nodes[i].key), "k%d", i);
    cr_assert_eq(sipflow__map_insert(
                     &m, &nodes[i].me,
                     sipflow__hash(ctx, nodes[i].key, strlen(nodes[i].key))),
                 0);
  }
  cr_expect_eq(m.len, N);
  cr_expect_geq(m.nbuckets, N);
  for (int i = 0; i < N; i++)
    cr_assert_eq(find(&m, ctx, nodes[i].key), &nodes[i]);
  cr_expect_null(find(&m, ctx, "absent"));
  for (int i = 0; i < N; i += 2)
    sipflow__map_remove(&m, &nodes[i].me);
  cr_expect_eq(m.len, N / 2);
  for (int i = 0; i < N; i++)
    cr_assert_eq(find(&m, ctx, nodes[i].key), i % 2 ? &nodes[i] : NULL);
  sipflow__map_free(&m);
  sipflow_ctx_del(ctx);
}

Test(map, chains_hold_equal_hashes_apart_by_key) {
  node a = {{0, 0}, "a"}, b = {{0, 0}, "b"};
  sipflow__map m;
  sipflow__map_init(&m, sipflow_mem_default());
  sipflow__map_insert(&m, &a.me, 42);
  sipflow__map_insert(&m, &b.me, 42);
  int seen = 0;
  SIPFLOW__MAP_FOREACH(&m, 42, e) { seen++; }
  cr_expect_eq(seen, 2);
  cr_expect_null(sipflow__map_first(&m, 43));
  sipflow__map_free(&m);
}

Test(map, failed_growth_leaves_a_working_table) {
  enum { N = 64 };
  static node nodes[N];
  fail_alloc fa;
  sipflow__map m;
  fail_alloc_init(&fa);
  sipflow__map_init(&m, &fa.mem);
  fail_alloc_arm(&fa, 1, 0);
  cr_expect_eq(sipflow__map_insert(&m, &nodes[0].me, 0), SIPFLOW_ERR_NOMEM);
  fail_alloc_arm(&fa, 2, 1); /* the first table works, growth fails */
  for (int i = 0; i < N; i++)
    cr_assert_eq(sipflow__map_insert(&m, &nodes[i].me, (uint64_t)i), 0);
  cr_expect_eq(m.nbuckets, 16);
  for (int i = 0; i < N; i++)
    cr_expect_eq(sipflow__map_first(&m, (uint64_t)i), &nodes[i].me);
  sipflow__map_free(&m);
  cr_expect_eq(fa.live, 0);
}

Test(map, hash_is_keyed_by_the_context) {
  sipflow_ctx *a, *b;
  sipflow_ctx_settings s;
  sipflow_ctx_settings_default(&s);
  cr_assert_eq(sipflow_ctx_new(&a, NULL, &s, NULL, NULL), 0);
  s.hash_key[0] = 1;
  cr_assert_eq(sipflow_ctx_new(&b, NULL, &s, NULL, NULL), 0);
  cr_expect_eq(sipflow__hash(a, "x", 1), sipflow__hash(a, "x", 1));
  cr_expect_neq(sipflow__hash(a, "x", 1), sipflow__hash(b, "x", 1));
  sipflow_ctx_del(a);
  sipflow_ctx_del(b);
}
