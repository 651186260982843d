/*
 * Chunked slab: fixed-size elements by 32-bit index, in chunks that never
 * move (see keepalive_int.h for why).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "keepalive_int.h"

void sipflow__ka_slab_init(sipflow__ka_slab *s, uint32_t elem_size,
                           uint32_t link_off, uint32_t max) {
  memset(s, 0, sizeof(*s));
  s->elem_size = elem_size;
  s->link_off = link_off;
  s->free_head = SIPFLOW__KA_NONE;
  s->max = max;
}

void sipflow__ka_slab_free_all(sipflow__ka_slab *s, const sipflow_mem *mem) {
  for (uint32_t i = 0; i < s->nchunks; i++)
    sipflow__free(mem, s->chunks[i]);
  sipflow__free(mem, s->chunks);
  sipflow__ka_slab_init(s, s->elem_size, s->link_off, s->max);
}

static uint32_t *free_link(const sipflow__ka_slab *s, uint32_t idx) {
  return (uint32_t *)(void *)((uint8_t *)sipflow__ka_slab_at(s, idx) +
                              s->link_off);
}

static int add_chunk(sipflow__ka_slab *s, const sipflow_mem *mem) {
  uint8_t *chunk;
  if (s->nchunks == s->chunks_cap) {
    uint32_t cap = s->chunks_cap ? s->chunks_cap * 2 : 8;
    uint8_t **chunks =
        sipflow__realloc(mem, s->chunks, (size_t)cap * sizeof(*chunks));
    if (!chunks)
      return SIPFLOW_ERR_NOMEM;
    s->chunks = chunks;
    s->chunks_cap = cap;
  }
  chunk = sipflow__calloc(mem, SIPFLOW__KA_CHUNK, s->elem_size);
  if (!chunk)
    return SIPFLOW_ERR_NOMEM;
  s->chunks[s->nchunks++] = chunk;
  return 0;
}

int sipflow__ka_slab_alloc(sipflow__ka_slab *s, const sipflow_mem *mem,
                           uint32_t *idx) {
  uint32_t i;
  if (s->free_head != SIPFLOW__KA_NONE) {
    i = s->free_head;
    s->free_head = *free_link(s, i);
  } else {
    if (s->used >= s->max)
      return SIPFLOW_ERR_LIMIT;
    if (s->used == s->nchunks * SIPFLOW__KA_CHUNK) {
      int rv = add_chunk(s, mem);
      if (rv != 0)
        return rv;
    }
    i = s->used++;
  }
  memset(sipflow__ka_slab_at(s, i), 0, s->elem_size);
  s->live++;
  *idx = i;
  return 0;
}

void sipflow__ka_slab_release(sipflow__ka_slab *s, uint32_t idx) {
  *free_link(s, idx) = s->free_head;
  s->free_head = idx;
  s->live--;
}

size_t sipflow__ka_slab_bytes(const sipflow__ka_slab *s) {
  return (size_t)s->nchunks * SIPFLOW__KA_CHUNK * s->elem_size +
         (size_t)s->chunks_cap * sizeof(*s->chunks);
}
