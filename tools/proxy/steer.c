/*
 * --workers: each UDP source stays with one worker, across restarts.
 *
 * The workers share each public UDP port with SO_REUSEPORT. Left to
 * itself the kernel picks a socket of the group by the datagram's hash,
 * scaled to the group's size, over the sockets in the order they joined;
 * a worker that dies and is started again joins at the end, so the order
 * changes and most UDP phones' datagrams reach another worker than the one
 * that holds their flow (docs/proxy.md, "Using more than one core").
 *
 * So the supervisor makes, for each public UDP listener, a socket array
 * of N slots (BPF_MAP_TYPE_REUSEPORT_SOCKARRAY) and a small program for
 * the group (BPF_PROG_TYPE_SK_REUSEPORT): slot = hash % N, the socket in
 * that slot is chosen. Worker i puts its socket in slot i, a restarted
 * worker i too, so a source keeps its worker. While a slot is empty (its
 * worker is down) the program chooses nothing and the kernel falls back
 * to its own pick over the sockets there are. Where the kernel refuses
 * (no BPF), the workers run as before and say so in the log.
 *
 * The program is thirteen instructions, written here as such: no compiler
 * for BPF or loader library is needed for it.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proxy.h"

#ifndef SO_ATTACH_REUSEPORT_EBPF
#define SO_ATTACH_REUSEPORT_EBPF 52
#endif

static int sys_bpf(int cmd, union bpf_attr *a) {
  return (int)syscall(SYS_bpf, cmd, a, sizeof(*a));
}

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off,
                            int32_t imm) {
  struct bpf_insn i;
  memset(&i, 0, sizeof(i));
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

/* The program for a group of |n| sockets whose array is |map|. */
static int prog_new(int map, unsigned n) {
  struct bpf_insn p[13];
  union bpf_attr a;
  int k = 0;
  /* r6 = ctx; r0 = ctx->hash % n; *(u32 *)(fp - 4) = r0 */
  p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0);
  p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, 0, 6,
                offsetof(struct sk_reuseport_md, hash), 0);
  p[k++] = insn(BPF_ALU | BPF_MOD | BPF_K, 0, 0, 0, (int32_t)n);
  p[k++] = insn(BPF_STX | BPF_MEM | BPF_W, 10, 0, -4, 0);
  /* bpf_sk_select_reuseport(ctx, map, fp - 4, 0) */
  p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, 1, 6, 0, 0);
  p[k++] = insn(BPF_LD | BPF_DW | BPF_IMM, 2, BPF_PSEUDO_MAP_FD, 0, map);
  p[k++] = insn(0, 0, 0, 0, 0); /* the upper half of the 64-bit load */
  p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, 3, 10, 0, 0);
  p[k++] = insn(BPF_ALU64 | BPF_ADD | BPF_K, 3, 0, 0, -4);
  p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 4, 0, 0, 0);
  p[k++] = insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_sk_select_reuseport);
  /* return SK_PASS: with no socket chosen, the kernel picks by hash */
  p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, SK_PASS);
  p[k++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  memset(&a, 0, sizeof(a));
  a.prog_type = BPF_PROG_TYPE_SK_REUSEPORT;
  a.insns = (uint64_t)(uintptr_t)p;
  a.insn_cnt = (uint32_t)k;
  a.license = (uint64_t)(uintptr_t) "Dual MIT/GPL";
  return sys_bpf(BPF_PROG_LOAD, &a);
}

int px_steer_prepare(px_config *cfg) {
  int made = 0;
  for (int i = 0; i < PX_MAX_LISTENERS; i++)
    cfg->steer_map[i] = cfg->steer_prog[i] = -1;
  for (int i = 0; i < cfg->nlisten; i++) {
    union bpf_attr a;
    int map, prog;
    if (cfg->listen[i].transport != SIPFLOW_TRANSPORT_UDP)
      continue;
    memset(&a, 0, sizeof(a));
    a.map_type = BPF_MAP_TYPE_REUSEPORT_SOCKARRAY;
    a.key_size = sizeof(uint32_t);
    a.value_size = sizeof(uint64_t);
    a.max_entries = cfg->workers;
    if ((map = sys_bpf(BPF_MAP_CREATE, &a)) < 0)
      return -errno;
    if ((prog = prog_new(map, cfg->workers)) < 0) {
      int e = errno;
      close(map);
      return -e;
    }
    cfg->steer_map[i] = map;
    cfg->steer_prog[i] = prog;
    made++;
  }
  cfg->steer = made > 0;
  return made;
}

int px_steer_join(const px_config *cfg, int listener, int fd) {
  union bpf_attr a;
  uint32_t slot = cfg->worker_index;
  uint64_t value = (uint64_t)fd;
  int prog;
  if (!cfg->steer || listener < 0 || listener >= PX_MAX_LISTENERS ||
      cfg->steer_map[listener] < 0 || cfg->steer_prog[listener] < 0)
    return 0;
  prog = cfg->steer_prog[listener];
  memset(&a, 0, sizeof(a));
  a.map_fd = (uint32_t)cfg->steer_map[listener];
  a.key = (uint64_t)(uintptr_t)&slot;
  a.value = (uint64_t)(uintptr_t)&value;
  a.flags = BPF_ANY;
  if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a) != 0)
    return -errno;
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &prog,
                 sizeof(prog)) != 0)
    return -errno;
  return 1;
}
