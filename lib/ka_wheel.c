/*
 * The keepalive timing wheel (keepalive_int.h gives the geometry and why).
 *
 * Every level is a ring. An entry goes to the lowest level whose ring still
 * reaches its tick: level 0 holds ticks up to 16383 ahead of the cursor, one
 * per slot; level L > 0 holds whole blocks of 2^shift[L] ticks, up to
 * mask[L] blocks ahead. When the cursor enters a block, the slot holding it
 * one level up is cascaded down (highest level first), which places every
 * entry of that block in a lower ring. Deadlines stay exact: each endpoint
 * keeps its nanosecond deadline, each level-0 slot its earliest one, and
 * above level 0 a short slot is scanned (a long one gives its start, a lower
 * bound at which the cascade happens).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include "keepalive_int.h"

#define NONE SIPFLOW__KA_NONE
#define BASE SIPFLOW__KA_SENT_BASE
#define L0_MASK ((uint64_t)SIPFLOW__KA_L0_SLOTS - 1)

static const unsigned shift[SIPFLOW__KA_LEVELS] = {0, 14, 24, 34};
static const uint64_t mask[SIPFLOW__KA_LEVELS] = {L0_MASK, 1023, 1023, 255};
static const uint32_t first_sent[SIPFLOW__KA_LEVELS] = {
    0, SIPFLOW__KA_L0_SLOTS, SIPFLOW__KA_L0_SLOTS + 1024,
    SIPFLOW__KA_L0_SLOTS + 2048};

/* Lists are walked through cold endpoints, each found through the previous
 * one: start loading the next while the current one is handled. An endpoint
 * (112 bytes) spans up to three cache lines. */
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch((p), 1)
#else
#define PREFETCH(p) ((void)(p))
#endif

static uint64_t tick_of(sipflow_tstamp t) {
  return t >> SIPFLOW__KA_TICK_SHIFT;
}

static sipflow__ka_link *node(sipflow_keepalive *ka, uint32_t i) {
  if (i >= BASE)
    return &ka->wheel.sent[i - BASE];
  /* next/prev are adjacent in an endpoint as in a link. */
  return (sipflow__ka_link *)(void *)&sipflow__ka_ep_at(ka, i)->next;
}

static void prefetch_ep(const sipflow_keepalive *ka, uint32_t i) {
  if (i < BASE) {
    const char *p = (const char *)sipflow__ka_ep_at(ka, i);
    PREFETCH(p);
    PREFETCH(p + 63);
    PREFETCH(p + sizeof(sipflow__ka_ep) - 1);
  }
}

/* Prefetch the entry two after |i|: the one after it was prefetched one
 * round ago and has usually arrived, so reading its link costs little and
 * gives the prefetch two rounds to land. */
static void prefetch_ahead(const sipflow_keepalive *ka, uint32_t i) {
  uint32_t n = sipflow__ka_ep_at(ka, i)->next;
  if (n < BASE)
    prefetch_ep(ka, sipflow__ka_ep_at(ka, n)->next);
}

static uint32_t sentinel(unsigned level, uint64_t slot) {
  return BASE + first_sent[level] + (uint32_t)(slot & mask[level]);
}

SIPFLOW__NO_COVERAGE
void sipflow__ka_wheel_init(sipflow__ka_wheel *w, sipflow_tstamp now) {
  w->cur = tick_of(now);
  for (uint32_t i = 0; i < SIPFLOW__KA_NSENT; i++)
    w->sent[i].next = w->sent[i].prev = BASE + i;
  for (int l = 0; l < SIPFLOW__KA_LEVELS; l++)
    w->count[l] = 0;
  /* l0_min is meaningful only where the busy bit is set, so it needs no
   * initialising: a scheduler that stays small never touches most of it. */
  for (size_t i = 0; i < sizeof(w->busy) / sizeof(w->busy[0]); i++)
    w->busy[i] = 0;
  w->expiry = SIPFLOW_TSTAMP_NONE;
  w->dirty = 0;
}

static void push_back(sipflow_keepalive *ka, uint32_t head, uint32_t i) {
  sipflow__ka_link *h = node(ka, head), *n = node(ka, i);
  uint32_t last = h->prev;
  n->prev = last;
  n->next = head;
  node(ka, last)->next = i;
  h->prev = i;
}

static int list_empty(sipflow_keepalive *ka, uint32_t head) {
  return node(ka, head)->next == head;
}

void sipflow__ka_unlink(sipflow_keepalive *ka, uint32_t idx) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  if (e->loc == SIPFLOW__KA_LOC_NONE)
    return;
  node(ka, e->prev)->next = e->next;
  node(ka, e->next)->prev = e->prev;
  if (e->loc >= SIPFLOW__KA_LOC_WHEEL &&
      e->loc < SIPFLOW__KA_LOC_WHEEL + SIPFLOW__KA_LEVELS) {
    ka->wheel.count[e->loc - SIPFLOW__KA_LOC_WHEEL]--;
    ka->wheel.dirty = 1;
  }
  e->next = e->prev = NONE;
  e->loc = SIPFLOW__KA_LOC_NONE;
}

/* Put |idx| (unlinked) into the slot its deadline calls for. */
static void place(sipflow_keepalive *ka, uint32_t idx, sipflow_tstamp d) {
  sipflow__ka_wheel *w = &ka->wheel;
  uint64_t t = tick_of(d), cur = w->cur, slot;
  unsigned level;
  if (t < cur)
    t = cur;                /* already due: the current slot */
  if (t - cur <= L0_MASK) { /* the common case: within 34 s */
    level = 0;
    slot = t;
  } else {
    for (level = 1; level < SIPFLOW__KA_LEVELS - 1; level++)
      if ((t >> shift[level]) - (cur >> shift[level]) <= mask[level])
        break;
    slot = t >> shift[level];
    if (slot - (cur >> shift[level]) > mask[level])
      slot = (cur >> shift[level]) + mask[level]; /* beyond 292 years */
  }
  push_back(ka, sentinel(level, slot), idx);
  sipflow__ka_ep_at(ka, idx)->loc = (uint8_t)(SIPFLOW__KA_LOC_WHEEL + level);
  if (level == 0) {
    /* The first entry of a list sets the slot's minimum afresh: a slot
     * emptied by removals may still have its bit and an old minimum, from
     * an earlier turn of the ring if the cursor jumped past it. */
    uint64_t s0 = slot & L0_MASK;
    if (node(ka, sentinel(0, s0))->next == idx || d < w->l0_min[s0])
      w->l0_min[s0] = d;
    w->busy[s0 / 64] |= 1ull << (s0 % 64);
  }
  w->count[level]++;
  w->dirty = 1;
}

void sipflow__ka_schedule(sipflow_keepalive *ka, uint32_t idx) {
  sipflow__ka_ep *e = sipflow__ka_ep_at(ka, idx);
  sipflow_tstamp d;
  sipflow__ka_unlink(ka, idx);
  d = sipflow__ka_deadline(e);
  if (d != SIPFLOW_TSTAMP_NONE)
    place(ka, idx, d);
}

void sipflow__ka_fifo_push(sipflow_keepalive *ka, uint32_t idx) {
  sipflow__ka_unlink(ka, idx);
  push_back(ka, BASE + SIPFLOW__KA_SENT_FIFO, idx);
  sipflow__ka_ep_at(ka, idx)->loc = SIPFLOW__KA_LOC_FIFO;
}

uint32_t sipflow__ka_fifo_first(const sipflow_keepalive *ka) {
  uint32_t first = ka->wheel.sent[SIPFLOW__KA_SENT_FIFO].next;
  return first >= BASE ? NONE : first;
}

/* ---- moving the cursor --------------------------------------------------- */

/* Re-place every entry of one higher-level slot relative to the cursor. */
static void cascade_slot(sipflow_keepalive *ka, unsigned level, uint64_t slot) {
  uint32_t head = sentinel(level, slot);
  while (!list_empty(ka, head)) {
    uint32_t i = node(ka, head)->next;
    sipflow__ka_ep *e = sipflow__ka_ep_at(ka, i);
    prefetch_ahead(ka, i);
    sipflow__ka_unlink(ka, i);
    place(ka, i, sipflow__ka_deadline(e));
  }
}

/* The cursor just entered tick |cur|: bring down what the blocks starting
 * there hold, the highest level first. */
static void cascade(sipflow_keepalive *ka, uint64_t cur) {
  for (unsigned l = SIPFLOW__KA_LEVELS - 1; l > 0; l--)
    if ((cur & ((1ull << shift[l]) - 1)) == 0 && ka->wheel.count[l])
      cascade_slot(ka, l, cur >> shift[l]);
}

/* The next tick after the cursor where a cascade has something to bring
 * down: a block boundary of the lowest busy level above 0. */
static uint64_t next_cascade(const sipflow__ka_wheel *w) {
  for (unsigned l = 1; l < SIPFLOW__KA_LEVELS; l++)
    if (w->count[l])
      return (w->cur | ((1ull << shift[l]) - 1)) + 1;
  return UINT64_MAX;
}

static unsigned lowest_bit(uint64_t v) {
#if defined(__GNUC__) || defined(__clang__)
  return (unsigned)__builtin_ctzll(v);
#else
  unsigned n = 0;
  while (!(v & 1)) {
    v >>= 1;
    n++;
  }
  return n;
#endif
}

/* The first tick at or after the cursor whose level-0 slot is busy, or
 * UINT64_MAX. Bits found over empty slots are cleared on the way. The ring
 * is read from the cursor's slot round to just before it. */
static uint64_t next_busy(sipflow_keepalive *ka) {
  sipflow__ka_wheel *w = &ka->wheel;
  const unsigned words = SIPFLOW__KA_L0_SLOTS / 64;
  uint64_t start = w->cur & L0_MASK;
  unsigned first = (unsigned)(start / 64), off = (unsigned)(start % 64);
  for (unsigned k = 0; k <= words; k++) {
    unsigned wi = (first + k) % words;
    uint64_t bits = w->busy[wi];
    if (k == 0)
      bits &= ~0ull << off; /* from the cursor on */
    else if (k == words)
      bits &= off ? (1ull << off) - 1 : 0; /* wrapped: before the cursor */
    while (bits) {
      uint64_t slot = (uint64_t)wi * 64 + lowest_bit(bits);
      if (!list_empty(ka, sentinel(0, slot)))
        return w->cur + ((slot - start) & L0_MASK);
      w->busy[wi] &= ~(1ull << (slot % 64));
      bits &= bits - 1;
    }
  }
  return UINT64_MAX;
}

/* Fire every entry of a list (a level-0 slot before the current tick, or the
 * due list): all of them are due. Entries are taken one at a time because
 * the host's callbacks may change the list. */
static void fire_list(sipflow_keepalive *ka, uint32_t head,
                      sipflow_tstamp now) {
  while (!list_empty(ka, head)) {
    uint32_t i = node(ka, head)->next;
    prefetch_ahead(ka, i);
    sipflow__ka_unlink(ka, i);
    sipflow__ka_fire(ka, i, now);
  }
}

/* The cursor's own slot holds entries both before and after |now|: move the
 * due ones to the due list first, then fire them. The walk also makes the
 * slot's earliest deadline exact again. */
static void fire_current(sipflow_keepalive *ka, sipflow_tstamp now) {
  uint64_t s0 = ka->wheel.cur & L0_MASK;
  uint32_t head = sentinel(0, s0);
  uint32_t due = BASE + SIPFLOW__KA_SENT_DUE;
  sipflow_tstamp min = SIPFLOW_TSTAMP_NONE;
  /* A host timer finer than a tick visits a slot several times: skip the
   * walk while its earliest deadline (exact or a lower bound) is ahead. */
  if (ka->wheel.l0_min[s0] > now)
    return;
  for (uint32_t i = node(ka, head)->next; i != head;) {
    sipflow__ka_ep *e = sipflow__ka_ep_at(ka, i);
    uint32_t next = e->next;
    sipflow_tstamp d = sipflow__ka_deadline(e);
    prefetch_ahead(ka, i);
    if (d <= now) {
      sipflow__ka_unlink(ka, i);
      push_back(ka, due, i);
      e->loc = SIPFLOW__KA_LOC_DUE;
    } else if (d < min) {
      min = d;
    }
    i = next;
  }
  ka->wheel.l0_min[s0] = min;
  fire_list(ka, due, now);
}

void sipflow__ka_wheel_run(sipflow_keepalive *ka, sipflow_tstamp now) {
  sipflow__ka_wheel *w = &ka->wheel;
  uint64_t now_tick = tick_of(now);
  while (w->cur < now_tick) {
    uint64_t nc = next_cascade(w), target = nc < now_tick ? nc : now_tick;
    if (w->count[0]) {
      uint64_t busy = next_busy(ka);
      if (busy < target) {
        w->cur = busy;
        w->l0_min[busy & L0_MASK] = SIPFLOW_TSTAMP_NONE;
        fire_list(ka, sentinel(0, busy), now);
        w->cur++;
        cascade(ka, w->cur);
        continue;
      }
    }
    w->cur = target;
    cascade(ka, w->cur);
  }
  fire_current(ka, now);
  w->dirty = 1;
}

/* ---- the earliest deadline --------------------------------------------------
 */

/* Earliest deadline in a higher-level slot, or |bound| if the slot is longer
 * than 256 entries (a long slot is scanned when it is cascaded, not here). */
static sipflow_tstamp slot_min(sipflow_keepalive *ka, uint32_t head,
                               sipflow_tstamp bound) {
  sipflow_tstamp min = SIPFLOW_TSTAMP_NONE;
  uint32_t seen = 0;
  for (uint32_t i = node(ka, head)->next; i != head; seen++) {
    const sipflow__ka_ep *e = sipflow__ka_ep_at(ka, i);
    sipflow_tstamp d = sipflow__ka_deadline(e);
    if (seen == 256)
      return bound;
    if (d < min)
      min = d;
    i = e->next;
  }
  return min;
}

/* The earliest deadline at |level| > 0 when every level below is empty: it
 * lies in the first busy slot after the cursor's block. */
static sipflow_tstamp level_min(sipflow_keepalive *ka, unsigned level) {
  uint64_t base = ka->wheel.cur >> shift[level];
  for (uint64_t k = 1; k <= mask[level]; k++) {
    uint32_t head = sentinel(level, base + k);
    if (!list_empty(ka, head))
      return slot_min(ka, head,
                      ((base + k) << shift[level]) << SIPFLOW__KA_TICK_SHIFT);
  }
  return SIPFLOW_TSTAMP_NONE;
}

/* The earliest deadline is in the lowest busy level, except that a higher
 * level may hold an earlier one: an entry goes up when it is placed more
 * than a ring ahead of the cursor, and stays there until the cursor enters
 * its block, while entries placed after the cursor has moved land lower
 * with later deadlines. Every entry of a higher level lies in a block after
 * the cursor's, so the next block boundary of the lowest busy higher level
 * is a lower bound for all of them: the wheel wakes there at the latest and
 * brings that block down (at most one extra wake-up per turn of the ring,
 * 34 s). */
sipflow_tstamp sipflow__ka_wheel_expiry(sipflow_keepalive *ka) {
  sipflow__ka_wheel *w = &ka->wheel;
  unsigned above = 1;
  if (!w->dirty)
    return w->expiry;
  w->expiry = SIPFLOW_TSTAMP_NONE;
  if (w->count[0]) {
    uint64_t t = next_busy(ka);
    if (t != UINT64_MAX)
      w->expiry = w->l0_min[t & L0_MASK];
  } else {
    for (unsigned l = 1; l < SIPFLOW__KA_LEVELS; l++)
      if (w->count[l]) {
        w->expiry = level_min(ka, l);
        above = l + 1;
        break;
      }
  }
  for (unsigned l = above; l < SIPFLOW__KA_LEVELS; l++)
    if (w->count[l]) {
      uint64_t b = ((w->cur >> shift[l]) + 1) << shift[l];
      if (b < (SIPFLOW_TSTAMP_NONE >> SIPFLOW__KA_TICK_SHIFT) &&
          (b << SIPFLOW__KA_TICK_SHIFT) < w->expiry)
        w->expiry = b << SIPFLOW__KA_TICK_SHIFT;
      break;
    }
  w->dirty = 0;
  return w->expiry;
}
