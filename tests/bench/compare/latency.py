#!/usr/bin/env python3
"""Latency of REGISTER answers at a fixed rate, with kernel receive times.

One UDP socket sends REGISTERs at a steady rate (a schedule, not a closed
loop: a slow answer does not slow the sender). Each send is stamped with
CLOCK_REALTIME just before sendto(); each answer carries the time the kernel
received it (SO_TIMESTAMPNS), so the time Python takes to get round to
reading it is not counted. Latency = kernel receive time - send stamp (it
includes our sendto() call, the same for every server).

Passes over N AoRs, CSeq --first-cseq, then one more each pass: with CSeq 1
every REGISTER is a new AoR (a Call-ID each); with a later CSeq, from the
same local port and --prefix, it is a refresh (same Call-ID and Contact,
CSeq + 1). Prints one line per pass:
"new|refresh sent answered p50_ms p99_ms p999_ms max_ms".

usage: latency.py PORT [--rate R] [--aors N] [--first-cseq C] [--passes K]
                  [--prefix P] [--lport L]
"""
import argparse
import os
import select
import socket
import struct
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


def register(port, lport, user, callid, cseq, branch):
    tag = callid.split("@")[0]
    return (
        f"REGISTER sip:example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch={branch};rport\r\n"
        f"Max-Forwards: 70\r\n"
        f"From: <sip:{user}@example.com>;tag={tag}\r\n"
        f"To: <sip:{user}@example.com>\r\n"
        f"Call-ID: {callid}\r\n"
        f"CSeq: {cseq} REGISTER\r\n"
        f"Contact: <sip:{user}@127.0.0.1:{lport}>\r\n"
        f"Expires: 3600\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


def branch_of(data):
    i = data.find(b";branch=")
    if i < 0:
        return None
    j = i + 8
    k = j
    while k < len(data) and data[k : k + 1] not in (b";", b"\r", b",", b" "):
        k += 1
    return data[j:k]


def pct(xs, q):
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def run_phase(sock, port, name, msgs, rate):
    """msgs: list of (branch bytes, datagram). Returns latencies (ns)."""
    sent = {}
    lat = []
    dst = ("127.0.0.1", port)
    t0 = time.monotonic()
    i = 0

    def drain():
        while True:
            try:
                data, anc, _, _ = sock.recvmsg(4096, 256, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            if not data.startswith(b"SIP/2.0 200"):
                continue
            rx = None
            for lvl, typ, val in anc:
                if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                    s, ns = struct.unpack("qq", val[:16])
                    rx = s * 1_000_000_000 + ns
            b = branch_of(data)
            tx = sent.pop(b, None)
            if tx is not None and rx is not None:
                lat.append(rx - tx)

    while i < len(msgs):
        due = t0 + i / rate
        now = time.monotonic()
        if now >= due:
            b, m = msgs[i]
            sent[b] = time.clock_gettime_ns(time.CLOCK_REALTIME)
            sock.sendto(m, dst)
            i += 1
            continue
        r, _, _ = select.select([sock], [], [], due - now)
        if r:
            drain()
    end = time.monotonic() + 2.0
    while sent and time.monotonic() < end:
        r, _, _ = select.select([sock], [], [], 0.05)
        if r:
            drain()
    lat.sort()
    ms = [x / 1e6 for x in lat]
    print(f"{name} {len(msgs)} {len(lat)} {pct(ms, 0.5):.3f} {pct(ms, 0.99):.3f} "
          f"{pct(ms, 0.999):.3f} {(ms[-1] if ms else float('nan')):.3f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--rate", type=float, default=2000)
    ap.add_argument("--aors", type=int, default=10000)
    ap.add_argument("--first-cseq", type=int, default=1)
    ap.add_argument("--passes", type=int, default=1)
    ap.add_argument("--prefix", default="lat%d" % os.getpid())
    ap.add_argument("--lport", type=int, default=0)
    a = ap.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", a.lport))
    lport = sock.getsockname()[1]
    users = [f"{a.prefix}u{i}" for i in range(a.aors)]
    callids = [f"{a.prefix}c{i}@127.0.0.1" for i in range(a.aors)]
    for cseq in range(a.first_cseq, a.first_cseq + a.passes):
        msgs = []
        for i, u in enumerate(users):
            br = f"z9hG4bK{a.prefix}-{i}-{cseq}"
            msgs.append((br.encode(), register(a.port, lport, u, callids[i], cseq, br)))
        run_phase(sock, a.port, "new" if cseq == 1 else "refresh", msgs, a.rate)


if __name__ == "__main__":
    main()
