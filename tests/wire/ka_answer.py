#!/usr/bin/env python3
"""Plain UDP phones for the keepalive-answer checks: each registers with the
proxy from its own socket, then answers every OPTIONS keepalive for
SECONDS, in one FORM:

  plain   the usual 200 (status line, the Via echoed, CSeq OPTIONS), which
          sipflow-proxy reads before its SIP parser;
  folded  the same with a folded header line (RFC 3261 §7.3.1), a form that
          reader leaves to the full parser.

usage: ka_answer.py HOST PORT USER FORM SECONDS [COUNT]
One phone, USER: prints how many OPTIONS it answered; exits 1 if none.
COUNT phones, USER0 to USER<COUNT-1>, registered at once so that their
probes fall due close together: prints the fewest OPTIONS one phone
answered and the total; exits 1 if any phone answered none.
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
              f"Max-Forwards: 70\r\nFrom: <sip:{user}@example.com>;tag=ka{lport}\r\n"
              f"To: <sip:{user}@example.com>\r\nCall-ID: ka{lport}@kaanswer\r\n"
              f"CSeq: 1 REGISTER\r\nContact: <sip:{user}@127.0.0.1:{lport}>\r\n"
              f"Expires: 600\r\nContent-Length: 0\r\n\r\n").encode(), (host, port))


def main():
    host, port, user, form, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
        sys.argv[4], float(sys.argv[5])
    count = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    users = [f"{user}{i}" for i in range(count)] if count else [user]
    socks = []
    for u in users:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        register(s, host, port, u)
    answered = {s: 0 for s in socks}
    extra = b"Subject: keepalive\r\n answer\r\n" if form == "folded" else b""
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
            s.sendto(b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + b"\r\n" + extra +
                     b"Content-Length: 0\r\n\r\n", src)
            answered[s] += 1
    fewest = min(answered.values())
    if count:
        print(fewest, sum(answered.values()))
    else:
        print(fewest)
    return 0 if fewest else 1


if __name__ == "__main__":
    sys.exit(main())
