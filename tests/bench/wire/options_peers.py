#!/usr/bin/env python3
"""N UDP phones on N loopback ports: each registers with the proxy, then
answers every OPTIONS with 200. Runs until killed or --seconds pass."""
import argparse
import os
import selectors
import socket
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("proxy_port", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("--seconds", type=float, default=60)
    a = ap.parse_args()
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(a.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    for i, s in enumerate(socks):
        port = s.getsockname()[1]
        msg = (f"REGISTER sip:example.com SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{os.urandom(6).hex()};rport\r\n"
               f"Max-Forwards: 70\r\nFrom: <sip:peer{i}@example.com>;tag={i}\r\n"
               f"To: <sip:peer{i}@example.com>\r\nCall-ID: peer{i}-{port}\r\n"
               f"CSeq: 1 REGISTER\r\nContact: <sip:peer{i}@127.0.0.1:{port}>\r\n"
               f"Expires: 3600\r\nContent-Length: 0\r\n\r\n")
        s.sendto(msg.encode(), ("127.0.0.1", a.proxy_port))
        if i % 200 == 199:
            time.sleep(0.02)
    end = time.monotonic() + a.seconds
    answered = 0
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                data, addr = s.recvfrom(65536)
            except BlockingIOError:
                continue
            if not data.startswith(b"OPTIONS"):
                continue
            head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
            keep = [h for h in head[1:] if h.split(b":", 1)[0].lower() in
                    (b"via", b"from", b"to", b"call-id", b"cseq")]
            resp = b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n"
            s.sendto(resp, addr)
            answered += 1
    print(answered)


if __name__ == "__main__":
    main()
