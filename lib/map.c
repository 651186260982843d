/*
 * Intrusive hash map with separate chaining. Callers hash keys with
 * sipflow__hash() (keyed SipHash) and compare keys themselves while walking a
 * chain. A failed growth leaves the table working with longer chains.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include "sipflow_int.h"

void sipflow__map_init(sipflow__map *map, const sipflow_mem *mem) {
  map->buckets = NULL;
  map->nbuckets = 0;
  map->len = 0;
  map->mem = mem;
}

void sipflow__map_free(sipflow__map *map) {
  sipflow__free(map->mem, map->buckets);
  map->buckets = NULL;
  map->nbuckets = 0;
  map->len = 0;
}

static void rehash(sipflow__map *map, size_t nbuckets) {
  sipflow__map_entry **nb = sipflow__calloc(map->mem, nbuckets, sizeof(*nb));
  if (!nb)
    return;
  for (size_t i = 0; i < map->nbuckets; i++) {
    sipflow__map_entry *e = map->buckets[i];
    while (e) {
      sipflow__map_entry *next = e->next;
      size_t j = (size_t)e->hash & (nbuckets - 1);
      e->next = nb[j];
      nb[j] = e;
      e = next;
    }
  }
  sipflow__free(map->mem, map->buckets);
  map->buckets = nb;
  map->nbuckets = nbuckets;
}

int sipflow__map_insert(sipflow__map *map, sipflow__map_entry *e,
                        uint64_t hash) {
  size_t i;
  if (map->nbuckets == 0) {
    rehash(map, 16);
    if (map->nbuckets == 0)
      return SIPFLOW_ERR_NOMEM;
  } else if (map->len >= map->nbuckets &&
             map->nbuckets <= SIZE_MAX / 2 / sizeof(void *)) {
    rehash(map, map->nbuckets * 2);
  }
  e->hash = hash;
  i = (size_t)hash & (map->nbuckets - 1);
  e->next = map->buckets[i];
  map->buckets[i] = e;
  map->len++;
  return 0;
}

void sipflow__map_remove(sipflow__map *map, sipflow__map_entry *e) {
  sipflow__map_entry **pp;
  if (map->nbuckets == 0)
    return;
  pp = &map->buckets[(size_t)e->hash & (map->nbuckets - 1)];
  while (*pp) {
    if (*pp == e) {
      *pp = e->next;
      e->next = NULL;
      map->len--;
      return;
    }
    pp = &(*pp)->next;
  }
}

sipflow__map_entry *sipflow__map_first(const sipflow__map *map, uint64_t hash) {
  sipflow__map_entry *e;
  if (map->nbuckets == 0)
    return NULL;
  e = map->buckets[(size_t)hash & (map->nbuckets - 1)];
  while (e && e->hash != hash)
    e = e->next;
  return e;
}

sipflow__map_entry *sipflow__map_next(const sipflow__map_entry *e,
                                      uint64_t hash) {
  sipflow__map_entry *n = e->next;
  while (n && n->hash != hash)
    n = n->next;
  return n;
}
