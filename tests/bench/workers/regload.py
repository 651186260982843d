#!/usr/bin/env python3
"""REGISTERs at a fixed rate from many UDP source ports, for the
CPU-per-REGISTER figure of sipflow-proxy --workers (run.sh).

Each REGISTER is a new AoR (its own Call-ID), sent from one of SOCKETS
sockets in turn, so the kernel's SO_REUSEPORT hash spreads them over the
workers. A schedule, not a closed loop. Prints "sent N answered N".

usage: regload.py PORT RATE COUNT [SOCKETS] [PREFIX]
"""
import os
import select
import socket
import sys
import time


def main():
    port, rate, count = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    nsock = int(sys.argv[4]) if len(sys.argv) > 4 else 64
    prefix = sys.argv[5] if len(sys.argv) > 5 else "w%d" % os.getpid()
    socks = []
    for _ in range(nsock):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        socks.append(s)
    dst = ("127.0.0.1", port)
    answered = 0

    def drain(ready):
        nonlocal answered
        for s in ready:
            while True:
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    break
                if data.startswith(b"SIP/2.0 200"):
                    answered += 1

    t0 = time.monotonic()
    for i in range(count):
        s = socks[i % nsock]
        lport = s.getsockname()[1]
        due = t0 + i / rate
        while True:
            now = time.monotonic()
            if now >= due:
                break
            r, _, _ = select.select(socks, [], [], due - now)
            drain(r)
        u = f"{prefix}u{i}"
        s.sendto((f"REGISTER sip:example.com SIP/2.0\r\n"
                  f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{prefix}{i};rport\r\n"
                  f"Max-Forwards: 70\r\nFrom: <sip:{u}@example.com>;tag=t{i}\r\n"
                  f"To: <sip:{u}@example.com>\r\nCall-ID: {prefix}c{i}@127.0.0.1\r\n"
                  f"CSeq: 1 REGISTER\r\nContact: <sip:{u}@127.0.0.1:{lport}>\r\n"
                  f"Expires: 3600\r\nContent-Length: 0\r\n\r\n").encode(), dst)
    end = time.monotonic() + 3
    while answered < count and time.monotonic() < end:
        r, _, _ = select.select(socks, [], [], 0.05)
        drain(r)
    print(f"sent {count} answered {answered}", flush=True)


main()
