#!/usr/bin/env python3
"""A fleet of SIP phones on loopback for the soak: UDP phones and TCP phones
register with the proxy and refresh, answer OPTIONS keepalives, INVITE and
BYE. While churning, some UDP phones vanish for good (their socket closes
without an un-REGISTER) and some TCP phones close their connection, then
reconnect and register again from a new port.

After --seconds the fleet writes what the registrar should hold to --expect
(JSON: AoR -> Contact URI) and keeps answering for --linger seconds so the
checker can read `ctl dump` while every phone is still alive. Churn stops
--quiet seconds before the end, so that vanished phones have been found dead
or expired by then. Prints its counters as JSON on exit."""
import argparse
import heapq
import json
import os
import random
import selectors
import socket
import time

PROXY = ("127.0.0.1", 0)


def hdrs(msg):
    """Start line and (name, value) pairs of a message's head."""
    head = msg.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
    out = []
    for line in head[1:]:
        if ":" in line:
            n, v = line.split(":", 1)
            out.append((n.strip().lower(), v.strip()))
    return head[0], out


COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact"}


def response(msg, code, reason, extra=""):
    start, hs = hdrs(msg)
    keep = []
    for n, v in hs:
        n = COMPACT.get(n, n)
        if n in ("via", "from", "call-id", "cseq", "record-route"):
            keep.append(f"{n.title()}: {v}")
        elif n == "to":
            keep.append(f"To: {v}" + ("" if "tag=" in v else ";tag=soak"))
    return (f"SIP/2.0 {code} {reason}\r\n" + "\r\n".join(keep) + "\r\n" + extra +
            "Content-Length: 0\r\n\r\n").encode()


class Phone:
    def __init__(self, fleet, name, transport, expires):
        self.fleet, self.name, self.transport = fleet, name, transport
        self.expires = expires
        self.sock = None
        self.gen = 0
        self.cseq = 0
        self.rxbuf = b""
        self.alive = True
        self.open()

    def open(self):
        if self.transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
        else:
            self.sock = socket.create_connection(PROXY, timeout=3)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.gen += 1
        self.cseq = 0
        self.fleet.sel.register(self.sock, selectors.EVENT_READ, self)

    def close(self):
        self.fleet.sel.unregister(self.sock)
        self.sock.close()
        self.sock = None

    def contact(self):
        t = ";transport=tcp" if self.transport == "tcp" else ""
        return f"sip:{self.name}@127.0.0.1:{self.port}{t}"

    def send(self, data):
        try:
            if self.transport == "udp":
                self.sock.sendto(data, PROXY)
            else:
                self.sock.sendall(data)
        except OSError:
            self.fleet.c["send_errors"] += 1

    def register(self):
        self.cseq += 1
        tr = self.transport.upper()
        msg = (f"REGISTER sip:example.com SIP/2.0\r\n"
               f"Via: SIP/2.0/{tr} 127.0.0.1:{self.port};branch=z9hG4bK{os.urandom(6).hex()};rport\r\n"
               f"Max-Forwards: 70\r\n"
               f"From: <sip:{self.name}@example.com>;tag={self.gen}\r\n"
               f"To: <sip:{self.name}@example.com>\r\n"
               f"Call-ID: {self.name}-{self.gen}@soak\r\n"
               f"CSeq: {self.cseq} REGISTER\r\n"
               f"Contact: <{self.contact()}>\r\n"
               f"Expires: {self.expires}\r\nContent-Length: 0\r\n\r\n")
        self.fleet.c["registers_sent"] += 1
        self.send(msg.encode())

    def on_readable(self):
        try:
            if self.transport == "udp":
                data = self.sock.recvfrom(65536)[0]
                self.on_message(data)
                return
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the proxy closed the connection: count it, reconnect
            self.fleet.c["closed_by_proxy"] += 1
            self.close()
            self.fleet.later(1, self.reconnect)
            return
        self.rxbuf += data
        while True:
            self.rxbuf = self.rxbuf.lstrip(b"\r\n")
            end = self.rxbuf.find(b"\r\n\r\n")
            if end < 0:
                return
            _, hs = hdrs(self.rxbuf[:end + 4])
            cl = int(dict(hs).get("content-length", dict(hs).get("l", "0")) or 0)
            if len(self.rxbuf) < end + 4 + cl:
                return
            msg, self.rxbuf = self.rxbuf[:end + 4 + cl], self.rxbuf[end + 4 + cl:]
            self.on_message(msg)

    def on_message(self, msg):
        c = self.fleet.c
        if msg.startswith(b"SIP/2.0 "):
            code = int(msg[8:11])
            if b"REGISTER" in msg.split(b"CSeq:", 1)[-1][:40]:
                c["register_200" if code == 200 else "register_other"] += 1
            return
        method = msg.split(b" ", 1)[0]
        if method == b"OPTIONS":
            c["options_answered"] += 1
            self.send(response(msg, 200, "OK"))
        elif method == b"INVITE":
            c["invites_answered"] += 1
            self.send(response(msg, 200, "OK", f"Contact: <{self.contact()}>\r\n"))
        elif method == b"BYE":
            c["byes_answered"] += 1
            self.send(response(msg, 200, "OK"))
        elif method == b"ACK":
            c["acks"] += 1

    def reconnect(self):
        try:
            self.open()
        except OSError:
            self.fleet.c["connect_errors"] += 1
            self.fleet.later(2, self.reconnect)
            return
        self.register()


class Fleet:
    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.timers = []
        self.seq = 0
        self.c = {k: 0 for k in (
            "registers_sent", "register_200", "register_other", "options_answered",
            "invites_answered", "byes_answered", "acks", "vanished", "tcp_closed",
            "closed_by_proxy", "send_errors", "connect_errors")}

    def later(self, delay, fn):
        self.seq += 1
        heapq.heappush(self.timers, (time.monotonic() + delay, self.seq, fn))

    def run_until(self, deadline):
        while time.monotonic() < deadline:
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, fn = heapq.heappop(self.timers)
                fn()
            wait = min(deadline, self.timers[0][0] if self.timers else deadline) - now
            for key, _ in self.sel.select(timeout=max(0.0, min(wait, 0.5))):
                key.data.on_readable()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("proxy_port", type=int)
    ap.add_argument("--udp", type=int, default=2000)
    ap.add_argument("--tcp", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--quiet", type=float, default=90)
    ap.add_argument("--linger", type=float, default=30)
    ap.add_argument("--expect", required=True)
    ap.add_argument("--ready", required=True, help="written once all registered")
    a = ap.parse_args()
    global PROXY
    PROXY = ("127.0.0.1", a.proxy_port)
    rnd = random.Random(5626)
    f = Fleet()
    start = time.monotonic()
    end = start + a.seconds
    churn_end = end - a.quiet
    udp = [Phone(f, f"ua{i}", "udp", 60) for i in range(a.udp)]
    tcp = [Phone(f, f"tc{i}", "tcp", 300) for i in range(a.tcp)]
    phones = udp + tcp

    def refresh(p):
        def go():
            if p.alive and p.sock is not None:
                p.register()
            if p.alive:
                f.later(rnd.uniform(20, 30), go)
        return go

    for i, p in enumerate(phones):  # first REGISTERs spread over 5 s
        f.later(5.0 * i / len(phones), refresh(p))
    # Only the second half of the UDP phones may vanish; the first half
    # are the callees of the calls the soak places.
    mortal = udp[a.udp // 2:]

    def vanish():
        if time.monotonic() >= churn_end:
            return
        alive = [p for p in mortal if p.alive]
        if alive:
            p = rnd.choice(alive)
            p.alive = False
            p.close()
            f.c["vanished"] += 1
        f.later(2, vanish)

    def drop_tcp():
        if time.monotonic() >= churn_end:
            return
        p = rnd.choice(tcp)
        if p.sock is not None:
            p.close()
            f.c["tcp_closed"] += 1
            f.later(3, p.reconnect)
        f.later(5, drop_tcp)

    f.later(20, vanish)
    f.later(20, drop_tcp)
    f.run_until(start + 8)
    with open(a.ready, "w") as fh:
        fh.write(json.dumps(f.c))
    f.run_until(end)
    expect = {f"sip:{p.name}@example.com": p.contact()
              for p in phones if p.alive and p.sock is not None}
    with open(a.expect + ".tmp", "w") as fh:
        json.dump(expect, fh)
    os.rename(a.expect + ".tmp", a.expect)
    f.run_until(time.monotonic() + a.linger)
    print(json.dumps(f.c))


if __name__ == "__main__":
    main()
