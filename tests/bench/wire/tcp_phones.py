#!/usr/bin/env python3
"""N TCP phones for the CRLF keepalive cost: each connects, REGISTERs once
and answers every double-CRLF ping with a CRLF pong (RFC 5626 §4.4.1).
Writes "registered pings" to --status every 0.2 s; runs --seconds.

usage: tcp_phones.py PORT N [--seconds S] [--status FILE]
"""
import argparse
import resource
import selectors
import socket
import time


def register(lport, i):
    return (
        f"REGISTER sip:example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 127.0.0.1:{lport};branch=z9hG4bKtcp{i}\r\n"
        f"Max-Forwards: 70\r\n"
        f"From: <sip:tcp{i}@example.com>;tag=t{i}\r\n"
        f"To: <sip:tcp{i}@example.com>\r\n"
        f"Call-ID: tcp{i}@127.0.0.1\r\n"
        f"CSeq: 1 REGISTER\r\n"
        f"Contact: <sip:tcp{i}@127.0.0.1:{lport};transport=tcp>\r\n"
        f"Expires: 3600\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--status", default=None)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.n + 100), hard))
    sel = selectors.DefaultSelector()
    registered = pings = 0
    buf = {}
    for i in range(a.n):
        s = socket.create_connection(("127.0.0.1", a.port))
        s.sendall(register(s.getsockname()[1], i))
        s.setblocking(False)
        buf[s] = b""
        sel.register(s, selectors.EVENT_READ)
        if i % 200 == 199:
            time.sleep(0.05)  # about 4 000 connections a second
    end = time.monotonic() + a.seconds
    last = 0.0
    while time.monotonic() < end:
        for key, _ in sel.select(0.2):
            s = key.fileobj
            try:
                d = s.recv(65536)
            except (BlockingIOError, ConnectionError):
                continue
            if not d:
                sel.unregister(s)
                continue
            b = buf[s] + d
            while True:
                if b.startswith(b"\r\n\r\n"):
                    pings += 1
                    b = b[4:]
                    try:
                        s.send(b"\r\n")
                    except OSError:
                        pass
                    continue
                j = b.find(b"\r\n\r\n")
                if j > 0 and b.startswith(b"SIP/2.0 "):
                    if b.startswith(b"SIP/2.0 200"):
                        registered += 1
                    b = b[j + 4:]
                    continue
                break
            buf[s] = b
        now = time.monotonic()
        if a.status and now - last > 0.2:
            last = now
            with open(a.status + ".tmp", "w") as f:
                f.write(f"{registered} {pings}\n")
            import os

            os.replace(a.status + ".tmp", a.status)


if __name__ == "__main__":
    main()
