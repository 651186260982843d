#!/usr/bin/env python3
"""A plain UDP phone for the keepalive-answer checks: registers USER with the
proxy, then answers every OPTIONS keepalive for SECONDS, in one FORM:

  plain   the usual 200 (status line, the Via echoed, CSeq OPTIONS), which
          sipflow-proxy reads before its SIP parser;
  folded  the same with a folded header line (RFC 3261 §7.3.1), a form that
          reader leaves to the full parser.

usage: ka_answer.py HOST PORT USER FORM SECONDS
Prints how many OPTIONS it answered; exits 1 if it answered none.
"""
import os
import select
import socket
import sys
import time


def main():
    host, port, user, form, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
        sys.argv[4], float(sys.argv[5])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    lport = s.getsockname()[1]
    s.sendto((f"REGISTER sip:example.com SIP/2.0\r\n"
              f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{os.urandom(6).hex()};rport\r\n"
              f"Max-Forwards: 70\r\nFrom: <sip:{user}@example.com>;tag=ka{lport}\r\n"
              f"To: <sip:{user}@example.com>\r\nCall-ID: ka{lport}@kaanswer\r\n"
              f"CSeq: 1 REGISTER\r\nContact: <sip:{user}@127.0.0.1:{lport}>\r\n"
              f"Expires: 600\r\nContent-Length: 0\r\n\r\n").encode(), (host, port))
    answered = 0
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        ready, _, _ = select.select([s], [], [], max(0, deadline - time.monotonic()))
        if not ready:
            continue
        data, src = s.recvfrom(65536)
        if not data.startswith(b"OPTIONS "):
            continue
        head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        keep = [h for h in head[1:]
                if h.split(b":", 1)[0].strip().lower() in (b"via", b"from", b"to",
                                                            b"call-id", b"cseq")]
        extra = b"Subject: keepalive\r\n answer\r\n" if form == "folded" else b""
        s.sendto(b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + b"\r\n" + extra +
                 b"Content-Length: 0\r\n\r\n", src)
        answered += 1
    print(answered)
    return 0 if answered else 1


if __name__ == "__main__":
    sys.exit(main())
