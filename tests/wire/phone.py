#!/usr/bin/env python3
"""A scriptable phone for the wire tests (standard library only, loopback
only, bounded in time): registers over UDP or TCP, with or without
Outbound, then answers what reaches it as told and logs each request.

usage: phone.py HOST PORT [options]
  --transport udp|tcp     default udp
  --user NAME             user part of the AoR and Contact
  --aor-host HOST[:PORT]  host of the To AoR (default example.com)
  --to-params ;a=b        parameters put on the To URI
  --ob INSTANCE:REGID     register with +sip.instance and reg-id (RFC 5626)
  --answer 200|430|none   final answer to INVITE and MESSAGE (default 200)
  --options 200|none      answer to OPTIONS (default 200)
  --crlf SECONDS          send a double CRLF keepalive this often (a
                          datagram on UDP)
  --crlf-for SECONDS      ... and stop sending them after this long
  --life SECONDS          exit after this long (default 60)
  --log FILE              one line per event: "registered",
                          "REQ METHOD URI from=USER"
  --gruu                  list gruu in Supported (RFC 5627) and log the
                          200's GRUUs for our Contact: "gruu PUB TEMP"
Exits on SIGTERM; a TCP phone's connection closes with it.
"""
import argparse
import os
import select
import signal
import socket
import sys
import time


def parse_args():
    a = argparse.ArgumentParser()
    a.add_argument("host")
    a.add_argument("port", type=int)
    a.add_argument("--transport", default="udp")
    a.add_argument("--user", default="phone")
    a.add_argument("--aor-host", default="example.com")
    a.add_argument("--to-params", default="")
    a.add_argument("--ob", default="")
    a.add_argument("--answer", default="200")
    a.add_argument("--options", default="200")
    a.add_argument("--crlf", type=float, default=0)
    a.add_argument("--crlf-for", type=float, default=1e9)
    a.add_argument("--life", type=float, default=60)
    a.add_argument("--log", default="")
    a.add_argument("--gruu", action="store_true")
    return a.parse_args()


ARGS = parse_args()
LOG = open(ARGS.log, "a", buffering=1) if ARGS.log else sys.stdout


def log(line):
    LOG.write(line + "\n")


def headers_of(msg):
    head = msg.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    lines = head.split("\r\n")
    return lines[0], lines[1:]


def from_user(msg):
    """The user part of the From URI: who sent the request."""
    for h in headers_of(msg)[1]:
        name, _, value = h.partition(":")
        if name.strip().lower() in ("from", "f") and "sip:" in value:
            return value.split("sip:", 1)[1].split("@", 1)[0]
    return ""


def answer(msg, code, reason, contact):
    first, hdrs = headers_of(msg)
    out = [f"SIP/2.0 {code} {reason}"]
    for h in hdrs:
        name = h.split(":", 1)[0].strip().lower()
        if name in ("via", "v", "from", "f", "call-id", "i", "cseq",
                    "record-route"):
            out.append(h)
        elif name in ("to", "t"):
            out.append(h if ";tag=" in h else h + ";tag=ph" + os.urandom(3).hex())
    if code == 200 and first.startswith("INVITE"):
        out.append(f"Contact: <{contact}>")
    out.append("Content-Length: 0")
    return ("\r\n".join(out) + "\r\n\r\n").encode()


def gruus_of(msg, contact):
    """The pub-gruu and temp-gruu on our Contact in a 200 (RFC 5627)."""
    for h in headers_of(msg)[1]:
        name, _, value = h.partition(":")
        if name.strip().lower() in ("contact", "m") and contact in value:
            got = {}
            for k in ("pub-gruu", "temp-gruu"):
                if k + '="' in value:
                    got[k] = value.split(k + '="', 1)[1].split('"', 1)[0]
            return f"gruu {got.get('pub-gruu', '-')} {got.get('temp-gruu', '-')}"
    return "gruu - -"


class Stream:
    """SIP messages framed off a TCP byte stream by Content-Length."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            while self.buf.startswith(b"\r\n"):
                self.buf = self.buf[2:]  # a pong or a keepalive
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return out
            length = 0
            for h in self.buf[:end].split(b"\r\n")[1:]:
                k, _, v = h.partition(b":")
                if k.strip().lower() in (b"content-length", b"l"):
                    length = int(v.strip() or 0)
            if len(self.buf) < end + 4 + length:
                return out
            out.append(self.buf[:end + 4 + length])
            self.buf = self.buf[end + 4 + length:]


def main():
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    dst = (ARGS.host, ARGS.port)
    tcp = ARGS.transport == "tcp"
    if tcp:
        s = socket.create_connection(dst, timeout=3)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
    lport = s.getsockname()[1]
    tp = "TCP" if tcp else "UDP"
    contact = f"sip:{ARGS.user}@127.0.0.1:{lport};transport={tp.lower()}"
    cparams = ""
    supported = "Supported: path\r\n"
    if ARGS.ob:
        inst, regid = ARGS.ob.split(":")
        contact += ";ob"
        cparams = f';reg-id={regid};+sip.instance="<urn:uuid:{inst}>"'
        supported = "Supported: path, outbound\r\n"
    if ARGS.gruu:
        supported = supported.replace("\r\n", ", gruu\r\n")
    to = f"sip:{ARGS.user}@{ARGS.aor_host}{ARGS.to_params}"
    callid = os.urandom(8).hex() + "@phone"
    reg = (f"REGISTER sip:{ARGS.aor_host.split(';')[0]} SIP/2.0\r\n"
           f"Via: SIP/2.0/{tp} 127.0.0.1:{lport};branch=z9hG4bK{os.urandom(6).hex()};rport\r\n"
           f"Max-Forwards: 70\r\nFrom: <{to}>;tag={os.urandom(4).hex()}\r\n"
           f"To: <{to}>\r\nCall-ID: {callid}\r\nCSeq: 1 REGISTER\r\n{supported}"
           f"Contact: <{contact}>{cparams}\r\nExpires: 600\r\n"
           f"Content-Length: 0\r\n\r\n").encode()

    def send(data, to_addr=None):
        if tcp:
            s.sendall(data)
        else:
            s.sendto(data, to_addr or dst)

    send(reg)
    stream = Stream()
    start = time.monotonic()
    last_reg = start
    last_crlf = start
    registered = False
    while not stop and time.monotonic() - start < ARGS.life:
        now = time.monotonic()
        if not registered and now - last_reg > 0.5 and not tcp:
            send(reg)
            last_reg = now
        if (registered and ARGS.crlf and now - last_crlf >= ARGS.crlf
                and now - start < ARGS.crlf_for):
            send(b"\r\n\r\n")
            last_crlf = now
        r, _, _ = select.select([s], [], [], 0.1)
        if not r:
            continue
        if tcp:
            data = s.recv(65536)
            if not data:
                log("closed")
                return 0
            msgs = [(m, None) for m in stream.feed(data)]
        else:
            data, src = s.recvfrom(65536)
            msgs = [(data, src)]
        for m, src in msgs:
            first, _ = headers_of(m)
            if first.startswith("SIP/2.0"):
                if not registered and first.split()[1] == "200":
                    registered = True
                    log("registered")
                    if ARGS.gruu:
                        log(gruus_of(m, contact))
                continue
            method, uri = first.split()[0], first.split()[1]
            log(f"REQ {method} {uri} from={from_user(m)}")
            if method == "ACK":
                continue
            if method == "OPTIONS":
                if ARGS.options != "none":
                    send(answer(m, 200, "OK", contact), src)
                continue
            if method in ("BYE", "CANCEL"):
                send(answer(m, 200, "OK", contact), src)
                continue
            if ARGS.answer == "none":
                continue
            code = int(ARGS.answer)
            send(answer(m, code, "OK" if code == 200 else "Flow Failed",
                        contact), src)
    return 0


if __name__ == "__main__":
    sys.exit(main())
