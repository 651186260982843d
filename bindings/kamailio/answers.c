/*
 * The answer socket (README.md, "Answers read in batches").
 *
 * Each answer to a UDP probe otherwise wakes one of Kamailio's UDP
 * receivers, which reads it with one recvfrom(): a wake-up and a system
 * call per answer, most of the module's CPU. Here a second socket joins
 * Kamailio's on its address and port (SO_REUSEPORT), and a program on the
 * group (BPF_PROG_TYPE_SK_REUSEPORT) looks at the first bytes of every
 * datagram: one that starts as our probes' 200 OK does ("SIP/2.0 200
 * OK\r\nVia: SIP/2.0/UDP <our address>;branch=z9hG4bKsfka") goes to the
 * new socket, everything else to Kamailio's. The timer process reads the
 * new socket once per tick, many answers per recvmmsg(), with the kernel's
 * receive time of each, so a round-trip time is not lengthened by the wait.
 *
 * Kamailio 5.6 does not set SO_REUSEPORT on its UDP sockets; we set it on
 * the bound socket before ours binds, which makes the kernel form the
 * group of the two. That lets other sockets of the same user join the port
 * too (the kernel's rule for SO_REUSEPORT).
 *
 * The program is written as instructions, as tools/proxy/steer.c's is: no
 * compiler for BPF or loader library is needed.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include "answers.h"

#include <errno.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_ATTACH_REUSEPORT_EBPF
#define SO_ATTACH_REUSEPORT_EBPF 52
#endif

/* The longest prefix the program compares (an IPv6 address with its port
 * is about 110 bytes of it). */
#define SFA_PREFIX_MAX 192
/* The longest answer read: a longer datagram goes to Kamailio's socket
 * (the program checks), so none is cut. */
#define SFA_DGRAM 8192
#define SFA_INSNS (48 + 4 * (SFA_PREFIX_MAX / 8 + 3))

static int sys_bpf(int cmd, union bpf_attr *a) {
  return (int)syscall(SYS_bpf, cmd, a, sizeof(*a));
}

typedef struct {
  struct bpf_insn p[SFA_INSNS];
  int n;
} prog;

static void put(prog *g, uint8_t code, uint8_t dst, uint8_t src, int16_t off,
                int32_t imm) {
  struct bpf_insn *i = &g->p[g->n++];
  memset(i, 0, sizeof(*i));
  i->code = code;
  i->dst_reg = dst & 0xf;
  i->src_reg = src & 0xf;
  i->off = off;
  i->imm = imm;
}

/* dst = a 64-bit constant (or, with src BPF_PSEUDO_MAP_FD, a map) */
static void put_imm64(prog *g, uint8_t dst, uint8_t src, uint64_t v) {
  put(g, BPF_LD | BPF_DW | BPF_IMM, dst, src, 0, (int32_t)(uint32_t)v);
  put(g, 0, 0, 0, 0, (int32_t)(uint32_t)(v >> 32));
}

/* bpf_sk_select_reuseport(ctx = r6, map, &slot, 0), the key at fp + key */
static void put_select(prog *g, int map, int16_t key, uint32_t slot) {
  put(g, BPF_ST | BPF_MEM | BPF_W, 10, 0, key, (int32_t)slot);
  put(g, BPF_ALU64 | BPF_MOV | BPF_X, 1, 6, 0, 0);
  put_imm64(g, 2, BPF_PSEUDO_MAP_FD, (uint32_t)map);
  put(g, BPF_ALU64 | BPF_MOV | BPF_X, 3, 10, 0, 0);
  put(g, BPF_ALU64 | BPF_ADD | BPF_K, 3, 0, 0, key);
  put(g, BPF_ALU64 | BPF_MOV | BPF_K, 4, 0, 0, 0);
  put(g, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_sk_select_reuseport);
}

/*
 * Slot 1 for a datagram whose payload starts with |prefix|, else slot 0:
 *   r6 = ctx; longer than SFA_DGRAM: other; load len(prefix) bytes after
 *   the UDP header onto the stack;
 *   compare them 8, 4, 2, 1 bytes at a time (aligned stack reads, as the
 *   verifier wants); select slot 1, or slot 0 if that fails or it is not
 *   ours; return SK_PASS.
 * The jumps to "other" are patched once its place is known.
 */
static int build(prog *g, int map, const char *prefix, size_t plen) {
  int room = (int)((plen + 7) & ~(size_t)7); /* the prefix's stack bytes */
  int16_t buf = (int16_t)(0 - room);
  int16_t key = (int16_t)(buf - 8);
  int to_other[SFA_INSNS], nj = 0, pass_jump, other;
  size_t o = 0;
  g->n = 0;
  put(g, BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0);
  /* longer than our buffers (ctx->len counts the UDP header): not ours */
  put(g, BPF_LDX | BPF_MEM | BPF_W, 2, 6, offsetof(struct sk_reuseport_md, len),
      0);
  to_other[nj++] = g->n;
  put(g, BPF_JMP | BPF_JGT | BPF_K, 2, 0, 0, 8 + SFA_DGRAM);
  put(g, BPF_ALU64 | BPF_MOV | BPF_K, 2, 0, 0, 8); /* sizeof(udphdr) */
  put(g, BPF_ALU64 | BPF_MOV | BPF_X, 3, 10, 0, 0);
  put(g, BPF_ALU64 | BPF_ADD | BPF_K, 3, 0, 0, buf);
  put(g, BPF_ALU64 | BPF_MOV | BPF_K, 4, 0, 0, (int32_t)plen);
  put(g, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_skb_load_bytes);
  to_other[nj++] = g->n;
  put(g, BPF_JMP | BPF_JNE | BPF_K, 0, 0, 0, 0);
  while (o < plen) {
    size_t left = plen - o, w = left >= 8   ? 8
                                : left >= 4 ? 4
                                : left >= 2 ? 2
                                            : 1;
    uint8_t size = w == 8 ? BPF_DW : w == 4 ? BPF_W : w == 2 ? BPF_H : BPF_B;
    uint64_t v = 0;
    memcpy(&v, prefix + o, w); /* the host's byte order, as the load's */
    put(g, BPF_LDX | BPF_MEM | size, 1, 10, (int16_t)(buf + (int)o), 0);
    put_imm64(g, 2, 0, v);
    to_other[nj++] = g->n;
    put(g, BPF_JMP | BPF_JNE | BPF_X, 1, 2, 0, 0);
    o += w;
  }
  put_select(g, map, key, 1);
  pass_jump = g->n;
  put(g, BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 0, 0);
  other = g->n;
  put_select(g, map, key, 0);
  g->p[pass_jump].off = (int16_t)(g->n - pass_jump - 1);
  /* SK_PASS: the socket chosen, or (none chosen) the kernel's own pick */
  put(g, BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, SK_PASS);
  put(g, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  for (int j = 0; j < nj; j++)
    g->p[to_other[j]].off = (int16_t)(other - to_other[j] - 1);
  return g->n;
}

static int prog_load(prog *g, char *log, size_t logcap) {
  union bpf_attr a;
  int fd;
  memset(&a, 0, sizeof(a));
  a.prog_type = BPF_PROG_TYPE_SK_REUSEPORT;
  a.insns = (uint64_t)(uintptr_t)g->p;
  a.insn_cnt = (uint32_t)g->n;
  a.license = (uint64_t)(uintptr_t) "Dual MIT/GPL";
  fd = sys_bpf(BPF_PROG_LOAD, &a);
  if (fd < 0 && log && logcap > 1) { /* again, for the verifier's reasons */
    int e = errno;
    log[0] = '\0';
    a.log_level = 1;
    a.log_buf = (uint64_t)(uintptr_t)log;
    a.log_size = (uint32_t)logcap;
    (void)sys_bpf(BPF_PROG_LOAD, &a);
    errno = e;
  }
  return fd;
}

static int slot_set(int map, uint32_t slot, int fd) {
  union bpf_attr a;
  uint64_t value = (uint64_t)fd;
  memset(&a, 0, sizeof(a));
  a.map_fd = (uint32_t)map;
  a.key = (uint64_t)(uintptr_t)&slot;
  a.value = (uint64_t)(uintptr_t)&value;
  a.flags = BPF_ANY;
  return sys_bpf(BPF_MAP_UPDATE_ELEM, &a);
}

int sfa_open(int kfd, const char *prefix, size_t plen, int rcvbuf, char *log,
             size_t logcap) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss), ol;
  union bpf_attr a;
  prog *g = NULL;
  int one = 1, fd = -1, map = -1, pfd = -1, e, v6only = 0;
  static prog gp; /* ~1 KiB of instructions; the main process, once a socket */
  if (log && logcap)
    log[0] = '\0';
  if (plen == 0 || plen > SFA_PREFIX_MAX)
    return -EINVAL;
  if (getsockname(kfd, (struct sockaddr *)&ss, &sl) != 0)
    return -errno;
  if (ss.ss_family == AF_INET6) {
    ol = sizeof(v6only);
    if (getsockopt(kfd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &ol) != 0)
      return -errno;
  }
  fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) != 0 ||
      (ss.ss_family == AF_INET6 &&
       setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) != 0))
    goto fail;
  /* root may go past net.core.rmem_max; anyone else gets up to it */
  if (rcvbuf > 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  /* the program first, so that a kernel without it changes nothing */
  memset(&a, 0, sizeof(a));
  a.map_type = BPF_MAP_TYPE_REUSEPORT_SOCKARRAY;
  a.key_size = sizeof(uint32_t);
  a.value_size = sizeof(uint64_t);
  a.max_entries = 2;
  if ((map = sys_bpf(BPF_MAP_CREATE, &a)) < 0)
    goto fail;
  g = &gp;
  build(g, map, prefix, plen);
  if ((pfd = prog_load(g, log, logcap)) < 0)
    goto fail;
  /* From here until the program is on the group the kernel spreads the
   * port's datagrams over both sockets; Kamailio reads none yet. */
  if (setsockopt(kfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
      bind(fd, (struct sockaddr *)&ss, sl) != 0 || slot_set(map, 0, kfd) != 0 ||
      slot_set(map, 1, fd) != 0 ||
      setsockopt(kfd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &pfd,
                 sizeof(pfd)) != 0)
    goto fail;
  close(pfd); /* the group holds the program, the program the map */
  close(map);
  return fd;
fail:
  e = errno ? errno : EINVAL;
  if (pfd >= 0)
    close(pfd);
  if (map >= 0)
    close(map);
  close(fd); /* Kamailio's socket is alone in its group again */
  return -e;
}

#define SFA_BATCH 64

int sfa_drain(int fd, unsigned max,
              void (*fn)(const sfa_dgram *d, unsigned n, void *ud), void *ud,
              uint32_t *drops) {
  /* Only the timer process reads: its pages alone are touched. */
  static char bufs[SFA_BATCH][SFA_DGRAM];
  static union {
    char
        buf[CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(sizeof(uint32_t))];
    struct cmsghdr align;
  } ctl[SFA_BATCH];
  static struct iovec iov[SFA_BATCH];
  static struct mmsghdr mh[SFA_BATCH];
  static sfa_dgram d[SFA_BATCH];
  int total = 0;
  if (max == 0 || max > SFA_BATCH)
    max = SFA_BATCH;
  for (;;) {
    int n;
    for (unsigned i = 0; i < max; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = SFA_DGRAM;
      memset(&mh[i], 0, sizeof(mh[i]));
      mh[i].msg_hdr.msg_iov = &iov[i];
      mh[i].msg_hdr.msg_iovlen = 1;
      mh[i].msg_hdr.msg_control = ctl[i].buf;
      mh[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
    }
    n = recvmmsg(fd, mh, max, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return total;
      return total ? total : -errno;
    }
    for (int i = 0; i < n; i++) {
      struct msghdr *m = &mh[i].msg_hdr;
      d[i].data = bufs[i];
      d[i].len = (int)mh[i].msg_len;
      d[i].truncated = (m->msg_flags & MSG_TRUNC) != 0;
      d[i].rx_ns = 0;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET)
          continue;
        if (c->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec ts;
          memcpy(&ts, CMSG_DATA(c), sizeof(ts));
          d[i].rx_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        } else if (c->cmsg_type == SO_RXQ_OVFL && drops) {
          memcpy(drops, CMSG_DATA(c), sizeof(*drops));
        }
      }
    }
    if (n > 0)
      fn(d, (unsigned)n, ud);
    total += n;
    if ((unsigned)n < max)
      return total;
  }
}
