#!/usr/bin/env python3
"""N plain UDP phones on N loopback addresses, served by ONE socket.

Phone i lives at 127.100.(i // 250).(1 + i % 250):PORT. The socket is bound
to 0.0.0.0:PORT, so it receives for every one of those addresses, and it
answers from the address a datagram was sent to (IP_PKTINFO), so each phone
is its own UDP peer, hence its own flow, for the server under test: both
servers get one contact per address and ping each one.

First every phone REGISTERs (paced, resent until answered, at most
--passes rounds); then every OPTIONS is answered with 200 until --seconds
pass. Progress goes to --status as one line rewritten in place:
"registered options_received answers_sent" (read by run.sh)."""
import argparse
import collections
import os
import socket
import struct
import time

IP_PKTINFO = 8  # <linux/in.h>; Python does not export it
SO_RCVBUFFORCE = 33  # root may exceed net.core.rmem_max
SO_SNDBUFFORCE = 32


def addr_of(i):
    return f"127.100.{i // 250}.{1 + i % 250}"


def index_of(ip):
    p = ip.split(".")
    return int(p[2]) * 250 + int(p[3]) - 1


def pktinfo(src_ip):
    return [(socket.IPPROTO_IP, IP_PKTINFO,
             struct.pack("=I4s4s", 0, socket.inet_aton(src_ip), bytes(4)))]


def register_msg(i, port, proxy_port, cseq):
    ip = addr_of(i)
    return (f"REGISTER sip:example.com SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {ip}:{port};branch=z9hG4bK{i:x}r{cseq};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:ka{i}@example.com>;tag=k{i}\r\n"
            f"To: <sip:ka{i}@example.com>\r\nCall-ID: ka{i}@{ip}\r\n"
            f"CSeq: {cseq} REGISTER\r\nContact: <sip:ka{i}@{ip}:{port}>\r\n"
            f"Expires: 3600\r\nContent-Length: 0\r\n\r\n").encode()


KEEP = (b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq")


def answer(data):
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    keep = [h for h in head[1:] if h.split(b":", 1)[0].strip().lower() in KEEP]
    return b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + \
        b"\r\nContent-Length: 0\r\n\r\n"


class Status:
    def __init__(self, path):
        self.path = path
        self.last = 0.0

    def write(self, *vals, force=False):
        now = time.monotonic()
        if not self.path or (not force and now - self.last < 0.1):
            return
        self.last = now
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(" ".join(str(v) for v in vals) + "\n")
        os.replace(tmp, self.path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("proxy_port", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--passes", type=int, default=4)
    ap.add_argument("--answer-rate", type=int, default=10000,
                    help="most answers per second (queued beyond)")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--status", default="")
    a = ap.parse_args()
    if a.count > 250 * 256:
        raise SystemExit("at most 64000 phones")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    for opt, fallback in ((SO_RCVBUFFORCE, socket.SO_RCVBUF),
                          (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, 256 << 20)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, fallback, 256 << 20)
    s.bind(("0.0.0.0", a.port))
    proxy = ("127.0.0.1", a.proxy_port)
    status = Status(a.status)
    registered = set()
    options = answers = 0
    end = time.monotonic() + a.seconds
    # Answers wait in a queue and leave at --answer-rate at most: a server
    # that sends a whole burst at once must not lose the answers to its own
    # socket buffer (that would make its keepalives look cheaper).
    queue = collections.deque()
    bucket = [0.0, time.monotonic()]

    def drain():
        nonlocal answers
        now = time.monotonic()
        cap = max(1.0, a.answer_rate / 100)
        bucket[0] = min(cap, bucket[0] + (now - bucket[1]) * a.answer_rate)
        bucket[1] = now
        while queue and bucket[0] >= 1:
            payload, dst, src = queue.popleft()
            bucket[0] -= 1
            try:
                s.sendmsg([payload], pktinfo(dst), 0, src)
                answers += 1
            except OSError:
                pass

    def serve(deadline):
        """Reads until deadline: 200s to REGISTERs, answers to OPTIONS."""
        nonlocal options
        while True:
            drain()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            s.settimeout(min(left, 0.2, 0.002 if queue else 0.2))
            try:
                data, anc, _, src = s.recvmsg(65536, 64)
            except socket.timeout:
                status.write(len(registered), options, answers)
                continue
            dst = None
            for level, typ, val in anc:
                if level == socket.IPPROTO_IP and typ == IP_PKTINFO:
                    dst = socket.inet_ntoa(val[8:12])
            if dst is None:
                continue
            if data.startswith(b"SIP/2.0 200") and b"REGISTER" in data:
                registered.add(index_of(dst))
            elif data.startswith(b"OPTIONS "):
                options += 1
                queue.append((answer(data), dst, src))
            status.write(len(registered), options, answers)

    # Registration: paced in slices of 1/100 s, resent to the unanswered.
    for cseq in range(1, a.passes + 1):
        todo = [i for i in range(a.count) if i not in registered]
        if not todo:
            break
        per_slice = max(1, a.rate // 100)
        for k in range(0, len(todo), per_slice):
            t0 = time.monotonic()
            for i in todo[k:k + per_slice]:
                try:
                    s.sendmsg([register_msg(i, a.port, a.proxy_port, cseq)],
                              pktinfo(addr_of(i)), 0, proxy)
                except OSError:
                    pass
            serve(t0 + 0.01)
        serve(time.monotonic() + 2)
    status.write(len(registered), options, answers, force=True)
    serve(end)
    status.write(len(registered), options, answers, force=True)
    print(len(registered), options, answers)


if __name__ == "__main__":
    main()
