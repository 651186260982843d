#!/usr/bin/env python3
"""COUNT plain UDP phones, one socket each, registered with the proxy at
once and answering every OPTIONS keepalive for SECONDS: their probes fall
due close together, so the proxy sends several in one timer callback.

usage: ka_many.py HOST PORT USER_PREFIX COUNT SECONDS
Prints "fewest total": the fewest OPTIONS one phone answered, and the
total answered. Exits 1 if any phone answered none.
"""
import os
import select
import socket
import sys
import time


def register(s, host, port, user):
    lport = s.getsockname()[1]
    s.sendto((f"REGISTER sip:example.com SIP/2.0\r\n"
              f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{os.urandom(6).hex()};rport\r\n"
              f"Max-Forwards: 70\r\nFrom: <sip:{user}@example.com>;tag=km{lport}\r\n"
              f"To: <sip:{user}@example.com>\r\nCall-ID: km{lport}@kamany\r\n"
              f"CSeq: 1 REGISTER\r\nContact: <sip:{user}@127.0.0.1:{lport}>\r\n"
              f"Expires: 600\r\nContent-Length: 0\r\n\r\n").encode(), (host, port))


def main():
    host, port, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    count, secs = int(sys.argv[4]), float(sys.argv[5])
    socks = []
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        register(s, host, port, f"{prefix}{i}")
    answered = {s: 0 for s in socks}
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        ready, _, _ = select.select(socks, [], [], max(0, deadline - time.monotonic()))
        for s in ready:
            data, src = s.recvfrom(65536)
            if not data.startswith(b"OPTIONS "):
                continue
            head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
            keep = [h for h in head[1:]
                    if h.split(b":", 1)[0].strip().lower() in (b"via", b"from", b"to",
                                                                b"call-id", b"cseq")]
            s.sendto(b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) +
                     b"\r\nContent-Length: 0\r\n\r\n", src)
            answered[s] += 1
    fewest = min(answered.values())
    print(fewest, sum(answered.values()))
    return 0 if fewest else 1


if __name__ == "__main__":
    sys.exit(main())
