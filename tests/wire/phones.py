#!/usr/bin/env python3
"""Many RFC 5626 phones in one process, and callers, for the cluster wire
tests (standard library only, loopback only, every wait bounded).

  phones.py farm SPEC      register the phones of SPEC (lines "user
                           transport host port [reg-id]"), print
                           "registered OK FAILED", then answer OPTIONS,
                           INVITE and BYE and CRLF pings until killed;
                           SIGUSR1 registers them all again (CSeq + 1;
                           a TCP phone whose connection closed connects
                           again first).
  phones.py calls HOST PORT SECONDS USER...
                           an INVITE to each user at once over UDP; prints
                           "attempted N completed N codes {...} max_ms N".
  phones.py agree PROXY N CTL@PORT...
                           every node holds N bindings, each with its flow
                           on one node and a Path through it elsewhere.
  phones.py unreg HOST PORT USER
                           REGISTER Contact: * Expires: 0; prints the status.
"""
import os
import selectors
import signal
import socket
import sys
import time


def instance(user):
    return "00000000-0000-1000-8000-" + user.encode().hex()[-12:].rjust(12, "0")


def headers(msg):
    head = msg.split("\r\n\r\n", 1)[0]
    lines = head.split("\r\n")
    out = []
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            out.append((k.strip().lower(), v.strip()))
    return lines[0], out


def hget(hs, name):
    for k, v in hs:
        if k == name:
            return v
    return None


def response(msg, code, reason, contact=None):
    first, hs = headers(msg)
    out = [f"SIP/2.0 {code} {reason}"]
    for k, v in hs:
        if k in ("via", "v"):
            out.append("Via: " + v)
    for name in ("from", "call-id", "cseq"):
        out.append(f"{name.title()}: {hget(hs, name)}")
    to = hget(hs, "to") or ""
    if "tag=" not in to and code > 100:
        to += ";tag=" + os.urandom(4).hex()
    out.append("To: " + to)
    if contact:  # a dialog-forming answer: the route set goes back
        out.extend("Record-Route: " + v for k, v in hs if k == "record-route")
        out.append(f"Contact: <{contact}>")
    out.append("Content-Length: 0")
    return ("\r\n".join(out) + "\r\n\r\n").encode()


class Phone:
    def __init__(self, farm, user, transport, host, port, regid):
        self.farm, self.user, self.transport = farm, user, transport
        self.dst = (host, int(port))
        self.regid = int(regid)
        self.callid = os.urandom(8).hex() + "@phones"
        self.cseq = 0
        self.registered = None  # None: waiting; else the status
        self.buf = b""
        self.s = None
        self.open()

    def open(self):
        if self.transport == "udp":
            self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.s.bind(("127.0.0.1", 0))
        else:
            self.s = socket.create_connection(self.dst, timeout=3)
        self.s.setblocking(False)
        self.lport = self.s.getsockname()[1]
        self.farm.sel.register(self.s, selectors.EVENT_READ, self)

    def register(self):
        if self.s is None:  # a TCP connection the server closed: a new flow
            try:
                self.open()
            except OSError:
                pass
        self.cseq += 1
        self.registered = None
        self.sent_at = time.monotonic()
        t = self.transport
        msg = (f"REGISTER sip:example.com SIP/2.0\r\n"
               f"Via: SIP/2.0/{t.upper()} 127.0.0.1:{self.lport};branch=z9hG4bK{os.urandom(6).hex()};rport\r\n"
               f"Max-Forwards: 70\r\n"
               f"From: <sip:{self.user}@example.com>;tag={os.urandom(4).hex()}\r\n"
               f"To: <sip:{self.user}@example.com>\r\n"
               f"Call-ID: {self.callid}\r\n"
               f"CSeq: {self.cseq} REGISTER\r\n"
               f"Supported: path, outbound\r\n"
               f"Contact: <sip:{self.user}@127.0.0.1:{self.lport};transport={t};ob>"
               f";reg-id={self.regid};+sip.instance=\"<urn:uuid:{instance(self.user)}>\"\r\n"
               f"Expires: 600\r\n"
               f"Content-Length: 0\r\n\r\n").encode()
        self.last = msg
        self.send(msg)

    def send(self, data, addr=None):
        if self.s is None:
            return
        try:
            if self.transport == "udp":
                self.s.sendto(data, addr or self.dst)
            else:
                self.s.sendall(data)
        except OSError:
            pass

    def readable(self):
        try:
            if self.transport == "udp":
                data, addr = self.s.recvfrom(65536)
                self.message(data.decode(errors="replace"), addr)
                return
            data = self.s.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.farm.sel.unregister(self.s)
            self.s.close()
            self.s = None
            return
        self.buf += data
        while True:
            if self.buf.startswith(b"\r\n\r\n"):
                self.buf = self.buf[4:]
                self.send(b"\r\n")
                continue
            if self.buf.startswith(b"\r\n"):
                self.buf = self.buf[2:]
                continue
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode(errors="replace")
            clen = 0
            for ln in head.split("\r\n"):
                if ln.lower().startswith(("content-length:", "l:")):
                    clen = int(ln.split(":", 1)[1])
            total = end + 4 + clen
            if len(self.buf) < total:
                return
            msg, self.buf = self.buf[:total], self.buf[total:]
            self.message(msg.decode(errors="replace"), None)

    def message(self, msg, addr):
        first, hs = headers(msg)
        if first.startswith("SIP/2.0"):
            code = int(first.split()[1])
            if (hget(hs, "call-id") == self.callid and code >= 200
                    and (hget(hs, "cseq") or "").startswith(f"{self.cseq} ")):
                self.registered = code
            return
        method = first.split()[0] if first else ""
        if method == "ACK" or not method:
            return
        if method == "INVITE":
            self.farm.invites += 1
            contact = f"sip:{self.user}@127.0.0.1:{self.lport};transport={self.transport}"
            self.send(response(msg, 200, "OK", contact), addr)
        else:
            self.send(response(msg, 200, "OK"), addr)


class Farm:
    def __init__(self, spec):
        self.sel = selectors.DefaultSelector()
        self.invites = 0
        self.phones = []
        for ln in open(spec):
            f = ln.split()
            if f:
                self.phones.append(Phone(self, f[0], f[1], f[2], f[3],
                                         f[4] if len(f) > 4 else 1))
        self.again = False
        signal.signal(signal.SIGUSR1, self.on_usr1)

    def on_usr1(self, *_):
        self.again = True

    def register_all(self):
        for p in self.phones:
            p.register()
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            self.poll(0.1)
            waiting = [p for p in self.phones if p.registered is None]
            if not waiting:
                break
            for p in waiting:  # UDP: retransmit (RFC 3261 Timer E, roughly)
                if p.transport == "udp" and time.monotonic() - p.sent_at > 0.5:
                    p.sent_at = time.monotonic()
                    p.send(p.last)
        ok = sum(1 for p in self.phones if p.registered == 200)
        print(f"registered {ok} {len(self.phones) - ok}", flush=True)

    def poll(self, timeout):
        for key, _ in self.sel.select(timeout):
            key.data.readable()

    def run(self):
        self.register_all()
        end = time.monotonic() + 600
        while time.monotonic() < end:
            if self.again:
                self.again = False
                self.register_all()
            self.poll(0.2)


def calls(host, port, seconds, users):
    socks = {}
    sel = selectors.DefaultSelector()
    start = time.monotonic()
    for u in users:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        lport = s.getsockname()[1]
        msg = (f"INVITE sip:{u}@example.com SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{os.urandom(6).hex()};rport\r\n"
               f"Max-Forwards: 70\r\n"
               f"From: <sip:caller@example.com>;tag={os.urandom(4).hex()}\r\n"
               f"To: <sip:{u}@example.com>\r\n"
               f"Call-ID: {os.urandom(8).hex()}@calls\r\n"
               f"CSeq: 1 INVITE\r\n"
               f"Contact: <sip:caller@127.0.0.1:{lport}>\r\n"
               f"Content-Length: 0\r\n\r\n").encode()
        s.sendto(msg, (host, port))
        socks[s] = {"user": u, "msg": msg, "code": 0, "at": start, "prov": False}
        sel.register(s, selectors.EVENT_READ, s)
    deadline = start + seconds
    last_tx = start
    while time.monotonic() < deadline and any(v["code"] == 0 for v in socks.values()):
        for key, _ in sel.select(0.1):
            s = key.data
            try:
                data = s.recv(65536).decode(errors="replace")
            except OSError:
                continue
            parts = data.split("\r\n", 1)[0].split()
            if len(parts) < 2 or parts[0] != "SIP/2.0":
                continue
            code = int(parts[1])
            st = socks[s]
            if code < 200:
                st["prov"] = True
            elif st["code"] == 0:
                st["code"] = code
                st["ms"] = (time.monotonic() - start) * 1000
        if time.monotonic() - last_tx > 0.5:
            last_tx = time.monotonic()
            for s, st in socks.items():
                if st["code"] == 0 and not st["prov"]:
                    s.sendto(st["msg"], (host, port))
    codes = {}
    for st in socks.values():
        codes[st["code"]] = codes.get(st["code"], 0) + 1
    done = sum(1 for st in socks.values() if st["code"] == 200)
    mx = max([st.get("ms", seconds * 1000) for st in socks.values()] or [0])
    bad = [st["user"] for st in socks.values() if st["code"] != 200]
    print(f"attempted {len(users)} completed {done} codes {codes} "
          f"max_ms {int(mx)} failed {' '.join(bad[:10])}", flush=True)
    return done == len(users)


def unreg(host, port, user):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(3)
    lport = s.getsockname()[1]
    msg = (f"REGISTER sip:example.com SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{os.urandom(6).hex()};rport\r\n"
           f"Max-Forwards: 70\r\n"
           f"From: <sip:{user}@example.com>;tag={os.urandom(4).hex()}\r\n"
           f"To: <sip:{user}@example.com>\r\n"
           f"Call-ID: {os.urandom(8).hex()}@unreg\r\n"
           f"CSeq: 1 REGISTER\r\n"
           f"Contact: *\r\n"
           f"Expires: 0\r\n"
           f"Content-Length: 0\r\n\r\n").encode()
    s.sendto(msg, (host, port))
    try:
        data = s.recv(65536).decode(errors="replace")
        print(data.split("\r\n", 1)[0].split()[1])
    except (socket.timeout, IndexError):
        print(0)


def agree(proxy, n, ctls):
    """Every node holds the N live bindings; each AoR/instance/reg-id has
    its flow on exactly one node, and every other node routes through that
    node's Path (no node routes through a node that does not hold it)."""
    import json
    import subprocess
    dumps, ports = [], []
    for cp in ctls:
        c, port = cp.rsplit("@", 1)
        ports.append(port)
        out = subprocess.run([proxy, "ctl", "--control", c, "dump"],
                             capture_output=True, text=True, timeout=10).stdout
        dumps.append(json.loads(out)["bindings"])
    counts = [len(d) for d in dumps]
    owners = {}
    for i, d in enumerate(dumps):
        for b in d:
            key = (b["aor"], b.get("instance", ""), b.get("reg_id", 0))
            owners.setdefault(key, []).append((i, b))
    single = 0
    crossed = []
    for key, held in owners.items():
        flows = [i for i, b in held if b["flow"]]
        via = f"127.0.0.1:{ports[flows[0]]};" if len(flows) == 1 else None
        if (len(flows) == 1 and len(held) == len(ctls) and
                all(b["flow"] or via in (b["path"] or "") for _, b in held)):
            single += 1
        elif len(flows) != 1:
            crossed.append(key[0])
    ok = counts == [n] * len(ctls) and single == n == len(owners)
    print(f"bindings {counts} expected {n} identities {len(owners)} "
          f"one_owner {single} bad {len(crossed)} {' '.join(crossed[:5])}",
          flush=True)
    return ok


def main():
    cmd = sys.argv[1]
    if cmd == "agree":
        sys.exit(0 if agree(sys.argv[2], int(sys.argv[3]), sys.argv[4:]) else 1)
    if cmd == "farm":
        Farm(sys.argv[2]).run()
    elif cmd == "calls":
        ok = calls(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5:])
        sys.exit(0 if ok else 1)
    elif cmd == "unreg":
        unreg(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit("unknown command")


if __name__ == "__main__":
    main()
