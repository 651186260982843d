#!/usr/bin/env python3
"""A scriptable SIP client over TLS, WS and WSS for the wire tests: a
hand-made WebSocket client (RFC 6455, subprotocol sip as RFC 7118 asks),
Python's ssl module for TLS. It registers with Outbound (+sip.instance,
reg-id), answers WebSocket Pings, INVITE and BYE, and reports what it saw
on stdout, one line per event.

usage: wsclient.py MODE HOST PORT USER [options]
  MODE tls|ws|wss
  --hold S         stay connected S seconds after the 200 (default 5)
  --instance UUID  +sip.instance (default: random)
  --crlf           send a CRLF keepalive in a WebSocket message, expect CRLF
  --no-register    connect (and hand-shake) only, then wait for --hold
  --drop           at the end close the socket without a Close frame
  --protocol P     offer subprotocol P instead of sip
  --sips           sips: URIs in the REGISTER (Request-URI, From, To, Contact)
"""
import base64
import os
import socket
import ssl
import struct
import sys
import time
import uuid


class Conn:
    def __init__(self, mode, host, port, protocol="sip"):
        self.protocol = protocol
        self.mode = mode
        raw = socket.create_connection((host, port), timeout=5)
        if mode in ("tls", "wss"):
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            raw = ctx.wrap_socket(raw)
        self.s = raw
        self.buf = b""
        self.local = raw.getsockname()
        if mode in ("ws", "wss"):
            self.handshake(host, port)

    def handshake(self, host, port):
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n"
                        "\r\n" % (host, port, key, self.protocol)).encode())
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101") or b"sip" not in head.lower():
            print("handshake-refused %s" % head.split(b"\r\n")[0].decode(),
                  flush=True)
            raise SystemExit(3)
        print("ws-open", flush=True)

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError
        self.buf += d

    def frame(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.s.sendall(head + mask + body)

    def send(self, text):
        data = text.encode() if isinstance(text, str) else text
        if self.mode in ("ws", "wss"):
            self.frame(1, data)
        else:
            self.s.sendall(data)

    def next_ws(self):
        """(opcode, payload) of the next frame; Pings answered here."""
        while True:
            while len(self.buf) < 2:
                self.fill()
            b0, b1 = self.buf[0], self.buf[1]
            n, off = b1 & 0x7F, 2
            if n == 126:
                while len(self.buf) < 4:
                    self.fill()
                n, off = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                while len(self.buf) < 10:
                    self.fill()
                n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
            while len(self.buf) < off + n:
                self.fill()
            payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
            op = b0 & 0x0F
            if op == 9:
                print("ws-ping %d" % len(payload), flush=True)
                self.frame(10, payload)
                continue
            if op == 8:
                raise EOFError
            return op, payload

    def next_message(self):
        """The next SIP message (or a bare CRLF) as bytes."""
        if self.mode in ("ws", "wss"):
            return self.next_ws()[1]
        while True:
            while self.buf.startswith(b"\r\n"):
                self.buf = self.buf[2:]
                return b"\r\n"
            if b"\r\n\r\n" in self.buf:
                head = self.buf.split(b"\r\n\r\n", 1)[0]
                clen = 0
                for line in head.split(b"\r\n"):
                    k, _, v = line.partition(b":")
                    if k.strip().lower() in (b"content-length", b"l"):
                        clen = int(v.strip())
                total = len(head) + 4 + clen
                if len(self.buf) >= total:
                    m, self.buf = self.buf[:total], self.buf[total:]
                    return m
            self.fill()

    def close(self, frame=True):
        try:
            if frame and self.mode in ("ws", "wss"):
                self.frame(8, struct.pack("!H", 1000))
                self.s.settimeout(2)
                try:
                    while True:
                        self.next_ws()
                except (EOFError, OSError):
                    pass
            self.s.close()
        except OSError:
            pass


def header(msg, name):
    for line in msg.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return ""


def answer(msg, status, phrase, contact):
    lines = ["SIP/2.0 %d %s" % (status, phrase)]
    for line in msg.split("\r\n")[1:]:
        k = line.partition(":")[0].strip().lower()
        if k in ("via", "v", "from", "f", "call-id", "i", "cseq", "record-route"):
            lines.append(line)
        elif k in ("to", "t"):
            lines.append(line if "tag=" in line else line + ";tag=ws%d" % os.getpid())
    if contact:
        lines.append("Contact: " + contact)
    lines.append("Content-Length: 0")
    return "\r\n".join(lines) + "\r\n\r\n"


def main():
    a = sys.argv[1:]
    mode, host, port, user = a[0], a[1], int(a[2]), a[3]
    opts = a[4:]
    hold = float(opts[opts.index("--hold") + 1]) if "--hold" in opts else 5.0
    inst = opts[opts.index("--instance") + 1] if "--instance" in opts \
        else str(uuid.uuid4())
    c = Conn(mode, host, port,
             opts[opts.index("--protocol") + 1] if "--protocol" in opts
             else "sip")
    print("local %s:%d" % c.local[:2], flush=True)
    vhost = "%s.invalid" % uuid.uuid4().hex[:12] if mode in ("ws", "wss") \
        else c.local[0]
    tp = mode.upper()
    contact = '<sip:%s@%s;transport=%s;ob>;reg-id=1;+sip.instance="<urn:uuid:%s>"' % (
        user, vhost, mode, inst)
    if "--crlf" in opts:
        c.send("\r\n\r\n")
        m = c.next_message()
        print("crlf-pong" if m == b"\r\n" else "crlf-answer %r" % m[:20], flush=True)
    if "--no-register" not in opts:
        call_id = uuid.uuid4().hex
        sch = "sips" if "--sips" in opts else "sip"
        c.send(("REGISTER sip:example.com SIP/2.0\r\n"
               "Via: SIP/2.0/%s %s;branch=z9hG4bK%s;rport\r\n"
               "Max-Forwards: 70\r\nFrom: <sip:%s@example.com>;tag=%s\r\n"
               "To: <sip:%s@example.com>\r\nCall-ID: %s\r\nCSeq: 1 REGISTER\r\n"
               "Supported: path, outbound\r\nContact: %s\r\nExpires: 600\r\n"
               "Content-Length: 0\r\n\r\n"
               % (tp, vhost, uuid.uuid4().hex, user, call_id[:8], user, call_id,
                  contact)).replace("sip:", sch + ":"))
    # --hold counts from the 200 to the REGISTER (a loaded machine may take
    # a while to answer); 30 s at most to get it.
    registered = "--no-register" in opts
    end = time.time() + (hold if registered else 30)
    c.s.settimeout(0.2)
    try:
        while time.time() < end:
            try:
                m = c.next_message().decode(errors="replace")
            except (socket.timeout, ssl.SSLWantReadError, TimeoutError):
                continue
            first = m.split("\r\n", 1)[0]
            if m.startswith("SIP/2.0 "):
                print("response %s via=%s" % (first[8:11], header(m, "Via")),
                      flush=True)
                if first[8:9] == "2" and not registered:
                    registered = True
                    end = time.time() + hold
            elif first.startswith("INVITE "):
                print("invite record-route=%s" % header(m, "Record-Route"),
                      flush=True)
                c.send(answer(m, 200, "OK", "<sip:%s@%s;transport=%s>" % (
                    user, vhost, mode)))
            elif first.startswith("BYE "):
                print("bye", flush=True)
                c.send(answer(m, 200, "OK", None))
            elif first.startswith("OPTIONS "):
                c.send(answer(m, 200, "OK", None))
            elif first.startswith("ACK "):
                print("ack", flush=True)
            elif m == "\r\n":
                print("crlf", flush=True)
    except EOFError:
        print("closed-by-server after %.1f s" % (hold - (end - time.time())),
              flush=True)
        return 0
    c.close("--drop" not in opts)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
