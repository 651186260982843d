/*
 * The deadline heap behind every module's timers (white box).
 */
#include <criterion/criterion.h>

#include "fail_alloc.h"
#include "sipflow_int.h"

typedef struct item {
  int id;
  sipflow__pq_entry pe;
} item;

static uint64_t lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 33;
}

Test(pq, pops_in_deadline_order_after_random_sets_and_removes) {
  enum { N = 2000 };
  static item items[N];
  sipflow__pq pq;
  uint64_t seed = 7;
  sipflow__pq_init(&pq, sipflow_mem_default());
  for (int i = 0; i < N; i++) {
    items[i].id = i;
    sipflow__pq_entry_init(&items[i].pe);
    cr_assert_eq(sipflow__pq_set(&pq, &items[i].pe, lcg(&seed) % 100000), 0);
  }
  for (int i = 0; i < N; i += 3) /* move some */
    sipflow__pq_set(&pq, &items[i].pe, lcg(&seed) % 100000);
  for (int i = 1; i < N; i += 5) /* remove some */
    sipflow__pq_remove(&pq, &items[i].pe);
  sipflow_tstamp last = 0;
  uint32_t popped = 0;
  while (sipflow__pq_top(&pq)) {
    sipflow__pq_entry *e = sipflow__pq_top(&pq);
    cr_assert_geq(e->deadline, last);
    last = e->deadline;
    sipflow__pq_remove(&pq, e);
    cr_assert_not(sipflow__pq_queued(e));
    popped++;
  }
  cr_expect_eq(popped, N - N / 5);
  cr_expect_eq(sipflow__pq_expiry(&pq), SIPFLOW_TSTAMP_NONE);
  sipflow__pq_free(&pq);
}

Test(pq, moving_an_entry_earlier_makes_it_the_top) {
  item a = {1, {0, 0}}, b = {2, {0, 0}};
  sipflow__pq pq;
  sipflow__pq_init(&pq, sipflow_mem_default());
  sipflow__pq_entry_init(&a.pe);
  sipflow__pq_entry_init(&b.pe);
  sipflow__pq_set(&pq, &a.pe, 100);
  sipflow__pq_set(&pq, &b.pe, 200);
  cr_expect_eq(sipflow__pq_top(&pq), &a.pe);
  sipflow__pq_set(&pq, &b.pe, 50);
  cr_expect_eq(sipflow__pq_top(&pq), &b.pe);
  cr_expect_eq(sipflow__pq_expiry(&pq), 50);
  cr_expect_eq(sipflow__container_of(sipflow__pq_top(&pq), item, pe)->id, 2);
  sipflow__pq_remove(&pq, &a.pe);
  sipflow__pq_remove(&pq, &a.pe); /* twice is harmless */
  cr_expect_eq(pq.len, 1);
  sipflow__pq_free(&pq);
  cr_expect_not(sipflow__pq_queued(&b.pe));
}

Test(pq, failed_growth_reports_nomem_and_keeps_the_heap) {
  fail_alloc fa;
  item a, b;
  sipflow__pq pq;
  fail_alloc_init(&fa);
  sipflow__pq_init(&pq, &fa.mem);
  sipflow__pq_entry_init(&a.pe);
  sipflow__pq_entry_init(&b.pe);
  fail_alloc_arm(&fa, 1, 0);
  cr_expect_eq(sipflow__pq_set(&pq, &a.pe, 1), SIPFLOW_ERR_NOMEM);
  cr_expect_not(sipflow__pq_queued(&a.pe));
  cr_expect_eq(sipflow__pq_set(&pq, &a.pe, 1), 0);
  cr_expect_eq(sipflow__pq_reserve(&pq, 10), 0);
  cr_expect_eq(sipflow__pq_set(&pq, &b.pe, 2), 0);
  cr_expect_eq(pq.len, 2);
  sipflow__pq_free(&pq);
  cr_expect_eq(fa.live, 0);
}
