/*
 * Stream framing: SIP messages by Content-Length and CRLF keepalives at
 * message boundaries (RFC 3261 §18.3, §7.5; RFC 5626 §4.4.1).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>

#include "sipflow/framer.h"
#include "sipflow_int.h"

#define DEFAULT_MAX_MESSAGE 65535
/* Bytes a host may feed beyond one full message before draining. */
#define FEED_SLACK 65536
#define MAX_CL_DIGITS 10

struct sipflow_framer {
  sipflow_mem mem;
  uint8_t *buf;
  size_t start; /* first byte not yet taken out */
  size_t len;   /* bytes in buf */
  size_t cap;
  size_t max_message;
  size_t scanned; /* header bytes of the message in progress already
                     searched for the blank line */
  int expect_pong;
  int failed;
};

int sipflow_framer_new(sipflow_framer **pframer, const sipflow_mem *mem,
                       size_t max_message) {
  sipflow_framer *f;
  if (!pframer)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *pframer = NULL;
  if (!mem)
    mem = sipflow_mem_default();
  if (!sipflow__mem_valid(mem))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  f = sipflow__calloc(mem, 1, sizeof(*f));
  if (!f)
    return SIPFLOW_ERR_NOMEM;
  f->mem = *mem;
  f->max_message = max_message ? max_message : DEFAULT_MAX_MESSAGE;
  *pframer = f;
  return 0;
}

void sipflow_framer_del(sipflow_framer *f) {
  if (!f)
    return;
  sipflow__free(&f->mem, f->buf);
  sipflow__free(&f->mem, f);
}

void sipflow_framer_expect_pong(sipflow_framer *f, int expecting) {
  if (f)
    f->expect_pong = expecting != 0;
}

size_t sipflow_framer_pending(const sipflow_framer *f) {
  return f ? f->len - f->start : 0;
}

/* Drops what was taken out; frees the buffer when nothing is left so that
 * idle connections hold no memory. */
static void compact(sipflow_framer *f) {
  if (f->start == 0)
    return;
  if (f->start == f->len) {
    sipflow__free(&f->mem, f->buf);
    f->buf = NULL;
    f->start = f->len = f->cap = 0;
    return;
  }
  memmove(f->buf, f->buf + f->start, f->len - f->start);
  f->len -= f->start;
  f->start = 0;
}

int sipflow_framer_feed(sipflow_framer *f, const uint8_t *data, size_t len) {
  if (!f || (!data && len))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  if (f->failed)
    return SIPFLOW_ERR_BAD_STATE;
  compact(f);
  if (len > f->max_message + FEED_SLACK - f->len) {
    f->failed = 1;
    return SIPFLOW_ERR_TOO_LARGE;
  }
  if (f->len + len > f->cap) {
    size_t cap = f->cap ? f->cap : 512;
    while (cap < f->len + len)
      cap *= 2;
    uint8_t *nb = sipflow__realloc(&f->mem, f->buf, cap);
    if (!nb)
      return SIPFLOW_ERR_NOMEM;
    f->buf = nb;
    f->cap = cap;
  }
  if (len)
    memcpy(f->buf + f->len, data, len);
  f->len += len;
  return 0;
}

static int fail(sipflow_framer *f, int err) {
  f->failed = 1;
  return err;
}

static char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int name_is(const char *s, size_t n, const char *name) {
  size_t i;
  if (strlen(name) != n)
    return 0;
  for (i = 0; i < n && lower(s[i]) == name[i]; i++)
    ;
  return i == n;
}

/*
 * Finds Content-Length (or its compact form "l") among the header lines in
 * [p, end). On a stream it MUST be present (RFC 3261 §18.3): without it the
 * end of the message is unknown, and taking it as "no body" would read the
 * body as a message of its own (request smuggling). Returns 0 or an error.
 */
static int content_length(const char *p, const char *end, size_t max,
                          size_t *cl) {
  int seen = 0;
  *cl = 0;
  while (p < end) {
    const char *eol = memchr(p, '\r', (size_t)(end - p));
    const char *colon, *name_end, *v;
    size_t value = 0, digits = 0;
    if (!eol)
      eol = end;
    colon = memchr(p, ':', (size_t)(eol - p));
    if (colon && *p != ' ' && *p != '\t') {
      name_end = colon;
      while (name_end > p && (name_end[-1] == ' ' || name_end[-1] == '\t'))
        name_end--;
      if (name_is(p, (size_t)(name_end - p), "content-length") ||
          name_is(p, (size_t)(name_end - p), "l")) {
        for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
          ;
        for (; v < eol && *v >= '0' && *v <= '9'; v++, digits++) {
          if (digits >= MAX_CL_DIGITS)
            return SIPFLOW_ERR_TOO_LARGE;
          value = value * 10 + (size_t)(*v - '0');
        }
        for (; v < eol && (*v == ' ' || *v == '\t'); v++)
          ;
        if (digits == 0 || v != eol)
          return SIPFLOW_ERR_MALFORMED;
        if (seen && value != *cl)
          return SIPFLOW_ERR_MALFORMED;
        if (value > max)
          return SIPFLOW_ERR_TOO_LARGE;
        *cl = value;
        seen = 1;
      }
    }
    p = eol + 2;
  }
  return seen ? 0 : SIPFLOW_ERR_MALFORMED;
}

static void take(sipflow_framer *f, sipflow_frame *frame,
                 sipflow_frame_type type, size_t n, size_t body_offset) {
  frame->type = type;
  frame->data = type == SIPFLOW_FRAME_MESSAGE ? f->buf + f->start : NULL;
  frame->len = type == SIPFLOW_FRAME_MESSAGE ? n : 0;
  frame->body_offset = type == SIPFLOW_FRAME_MESSAGE ? body_offset : 0;
  f->start += n;
  f->scanned = 0;
}

/* CRLF keepalives at a message boundary. Returns 1 if an event was made,
 * 0 to wait for more bytes, or an error. */
static int crlf_event(sipflow_framer *f, sipflow_frame *frame, const uint8_t *d,
                      size_t avail) {
  if (avail >= 4 && memcmp(d, "\r\n\r\n", 4) == 0) {
    take(f, frame, SIPFLOW_FRAME_PING, 4, 0);
    return 1;
  }
  if (avail < 2)
    return 0;
  if (d[1] != '\n')
    return fail(f, SIPFLOW_ERR_MALFORMED);
  if (avail == 2 || (avail == 3 && d[2] == '\r')) {
    if (!f->expect_pong)
      return 0; /* maybe the first half of a ping */
  }
  f->expect_pong = 0;
  take(f, frame, SIPFLOW_FRAME_PONG, 2, 0);
  return 1;
}

int sipflow_framer_next(sipflow_framer *f, sipflow_frame *frame) {
  const uint8_t *d, *hdr_end;
  size_t avail, scan, hdr_len, cl;
  int rv;

  if (!f || !frame)
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  memset(frame, 0, sizeof(*frame));
  if (f->failed)
    return SIPFLOW_ERR_BAD_STATE;
  compact(f);
  for (;;) {
    avail = f->len - f->start;
    if (avail == 0)
      return 0; /* buf may be NULL: no pointer is formed from it */
    d = f->buf + f->start;
    if (d[0] == '\n') { /* a bare LF between messages: skip it */
      f->start++;
      continue;
    }
    break;
  }
  if (d[0] == '\r') {
    rv = crlf_event(f, frame, d, avail);
    return rv < 0 ? rv : 0;
  }
  if (!((d[0] >= 'A' && d[0] <= 'Z') || (d[0] >= 'a' && d[0] <= 'z')))
    return fail(f, SIPFLOW_ERR_MALFORMED);

  scan = avail < f->max_message ? avail : f->max_message;
  hdr_end = NULL;
  for (size_t i = f->scanned; i + 4 <= scan; i++) {
    if (d[i] == '\r' && memcmp(d + i, "\r\n\r\n", 4) == 0) {
      hdr_end = d + i;
      break;
    }
  }
  if (!hdr_end) {
    f->scanned = scan >= 3 ? scan - 3 : 0;
    if (avail >= f->max_message)
      return fail(f, SIPFLOW_ERR_TOO_LARGE);
    return 0;
  }
  hdr_len = (size_t)(hdr_end - d) + 4;
  rv = content_length((const char *)d, (const char *)hdr_end + 2,
                      f->max_message, &cl);
  if (rv != 0)
    return fail(f, rv);
  if (hdr_len + cl > f->max_message)
    return fail(f, SIPFLOW_ERR_TOO_LARGE);
  if (avail < hdr_len + cl)
    return 0;
  take(f, frame, SIPFLOW_FRAME_MESSAGE, hdr_len + cl, hdr_len);
  return 0;
}
