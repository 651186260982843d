#!/usr/bin/env python3
"""Raw SIP, CRLF and STUN probes for the wire tests (standard library only,
loopback only, every wait bounded)."""
import os
import select
import socket
import struct
import sys
import time

COOKIE = 0x2112A442


def free_port():
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port))
        except OSError:
            u.close()
            continue
        t.close()
        u.close()
        return port
    raise SystemExit("no free port")


def crlf(host, port):
    """A double CRLF on a TCP connection must come back as one CRLF."""
    s = socket.create_connection((host, port), timeout=3)
    s.sendall(b"\r\n\r\n")
    got = s.recv(16)
    s.close()
    return got == b"\r\n"


def stun(host, port):
    """A Binding request gets a success with our address XOR-mapped."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.bind(("::1" if fam == socket.AF_INET6 else "127.0.0.1", 0))
    tid = os.urandom(12)
    s.sendto(struct.pack("!HHI", 0x0001, 0, COOKIE) + tid, (host, port))
    data, _ = s.recvfrom(2048)
    mtype, mlen, cookie = struct.unpack("!HHI", data[:8])
    if mtype != 0x0101 or cookie != COOKIE or data[8:20] != tid:
        return False
    pos = 20
    while pos + 4 <= 20 + mlen:
        atype, alen = struct.unpack("!HH", data[pos:pos + 4])
        val = data[pos + 4:pos + 4 + alen]
        if atype == 0x0020:
            xport = struct.unpack("!H", val[2:4])[0] ^ (COOKIE >> 16)
            mine = s.getsockname()
            if val[1] == 0x02:  # IPv6: XOR with cookie and transaction id
                key = struct.pack("!I", COOKIE) + tid
                raw = bytes(a ^ b for a, b in zip(val[4:20], key))
                return (socket.inet_ntop(socket.AF_INET6, raw), xport) == mine[:2]
            xaddr = struct.unpack("!I", val[4:8])[0] ^ COOKIE
            ip = socket.inet_ntoa(struct.pack("!I", xaddr))
            return (ip, xport) == mine
        pos += 4 + ((alen + 3) & ~3)
    return False


def request(host, port, method, ruri, extra="", transport="udp", via_tail="",
            answer=None):
    """Sends one request and returns the status of the first final
    response (or of any response for non-INVITE). |via_tail| is appended
    to the top Via's line (", SIP/2.0/UDP ..." puts a second Via on it);
    |answer|, a dict, receives the local port and the answer's bytes."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    local = "::1" if fam == socket.AF_INET6 else "127.0.0.1"
    if transport == "udp":
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind((local, 0))
    else:
        s = socket.create_connection((host, port), timeout=3)
    s.settimeout(3)
    lport = s.getsockname()[1]
    sent_by = f"[{local}]:{lport}" if fam == socket.AF_INET6 else f"{local}:{lport}"
    branch = "z9hG4bK" + os.urandom(6).hex()
    msg = (f"{method} {ruri} SIP/2.0\r\n"
           f"Via: SIP/2.0/{transport.upper()} {sent_by};branch={branch};rport"
           f"{via_tail}\r\n"
           f"Max-Forwards: 70\r\n"
           f"From: <sip:raw@example.com>;tag={os.urandom(4).hex()}\r\n"
           f"To: <{ruri}>\r\n"
           f"Call-ID: {os.urandom(8).hex()}@sipraw\r\n"
           f"CSeq: 1 {method}\r\n"
           f"{extra}"
           f"Content-Length: 0\r\n\r\n").encode()
    if transport == "udp":
        s.sendto(msg, (host, port))
    else:
        s.sendall(msg)
    try:
        while True:
            data = s.recv(65536) if transport != "udp" else s.recvfrom(65536)[0]
            # A stream may carry several answers in one read (100 and 200):
            # the last status line read is the one that counts.
            lines = [l for l in data.split(b"\r\n") if l.startswith(b"SIP/2.0 ")]
            line = (lines[-1] if lines else data.split(b"\r\n", 1)[0]).decode(
                errors="replace")
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "SIP/2.0":
                code = int(parts[1])
                if answer is not None:
                    answer.update(port=lport, data=data)
                if code >= 200 or method != "INVITE":
                    if method == "INVITE" and code >= 300:
                        ack = msg.replace(b"INVITE " + ruri.encode(), b"ACK " + ruri.encode(), 1)
                        ack = ack.replace(b"CSeq: 1 INVITE", b"CSeq: 1 ACK")
                        if transport == "udp":
                            s.sendto(ack, (host, port))
                    return code
    except socket.timeout:
        return 0
    finally:
        s.close()


def flood(host, port, count):
    """Garbage, CRLF, zero-byte and STUN datagrams, bad and huge messages."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.setblocking(False)
    kinds = [b"\x16\x03\x01garbage", b"\r\n\r\n", b"\r\n", b"\x00\x00\x00\x00",
             struct.pack("!HHI", 1, 0, COOKIE) + b"\x01" * 12,
             struct.pack("!HHI", 1, 8, COOKIE) + b"\x02" * 12 + b"\x00\x06\x00\x04abcd",
             b"INVITE sip:x SIP/2.0\r\n\r\n", b"SIP/2.0 200 OK\r\n\r\n",
             b"REGISTER sip:example.com SIP/2.0\r\nVia: bogus\r\n\r\n",
             os.urandom(1200)]
    for i in range(count):
        try:
            u.sendto(kinds[i % len(kinds)], (host, port))
        except BlockingIOError:
            pass
    # Streams: an oversized message, a partial one, and bytes that are not SIP.
    for payload in (b"OPTIONS sip:x SIP/2.0\r\nX: " + b"a" * 70000 + b"\r\n\r\n",
                    b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 10\r\n\r\nab",
                    b"\x80\x81\x82 not sip at all"):
        try:
            t = socket.create_connection((host, port), timeout=3)
            t.sendall(payload)
            t.close()
        except OSError:
            pass
    u.close()
    return True


def lookalikes(host, port, seconds, rate):
    """200 OKs that start as the Kamailio module's probe answers (our Via,
    the sfka branch mark) with ids nobody sent, |rate| a second for
    |seconds|, in bursts of 1 ms. Returns the number sent."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    head = ("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bKsfka"
            % (host, port)).encode()
    sent, start = 0, time.monotonic()
    while True:
        now = time.monotonic() - start
        if now >= seconds:
            break
        while sent < now * rate:
            msg = head + b"%016x;rport\r\nCSeq: 1 OPTIONS\r\n\r\n" % sent
            try:
                u.sendto(msg, (host, port))
            except OSError:
                pass
            sent += 1
        time.sleep(0.001)
    u.close()
    return sent


def peers(host, port, count, wait=3.0):
    """OPTIONS from |count| sockets of their own (distinct UDP peers); waits
    at most |wait| seconds and returns how many were answered."""
    socks, answered = [], 0
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        lport = s.getsockname()[1]
        s.sendto((f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
                  f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bKp{i}x{lport}\r\n"
                  f"Max-Forwards: 70\r\nFrom: <sip:peer@example.com>;tag=p{i}\r\n"
                  f"To: <sip:{host}>\r\nCall-ID: peer{i}-{lport}@sipraw\r\n"
                  f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode(),
                 (host, port))
        socks.append(s)
    deadline = time.monotonic() + wait
    waiting = set(socks)
    while waiting and time.monotonic() < deadline:
        ready, _, _ = select.select(list(waiting), [], [],
                                    max(0, deadline - time.monotonic()))
        for s in ready:
            waiting.discard(s)
            if s.recv(65536).startswith(b"SIP/2.0 200"):
                answered += 1
    for s in socks:
        s.close()
    return answered


def main():
    cmd = sys.argv[1]
    if cmd == "free-port":
        print(free_port())
        return 0
    host, port = sys.argv[2], int(sys.argv[3])
    if cmd == "crlf":
        return 0 if crlf(host, port) else 1
    if cmd == "stun":
        return 0 if stun(host, port) else 1
    if cmd == "flood":
        return 0 if flood(host, port, int(sys.argv[4])) else 1
    if cmd == "lookalikes":
        print(lookalikes(host, port, float(sys.argv[4]), float(sys.argv[5])))
        return 0
    if cmd == "peers":
        print(peers(host, port, int(sys.argv[4]),
                    float(sys.argv[5]) if len(sys.argv) > 5 else 3.0))
        return 0
    if cmd == "expect":
        # expect HOST PORT CODE METHOD RURI [EXTRA-HEADER-LINE...] [--tcp]
        #   [--has TEXT]... [--lacks TEXT]...: the answer holds / lacks TEXT
        args = sys.argv[4:]
        transport = "udp"
        has, lacks = [], []
        if "--tcp" in args:
            args.remove("--tcp")
            transport = "tcp"
        for flag, into in (("--has", has), ("--lacks", lacks)):
            while flag in args:
                i = args.index(flag)
                into.append(args[i + 1])
                del args[i:i + 2]
        code, method, ruri = int(args[0]), args[1], args[2]
        extra = "".join(h + "\r\n" for h in args[3:])
        answer = {}
        got = request(host, port, method, ruri, extra, transport,
                      answer=answer)
        if got != code:
            print(f"expected {code}, got {got}", file=sys.stderr)
            return 1
        text = answer.get("data", b"").decode(errors="replace")
        for t in has:
            if t not in text:
                print(f"answer lacks {t!r}:\n{text}", file=sys.stderr)
                return 1
        for t in lacks:
            if t in text:
                print(f"answer has {t!r}:\n{text}", file=sys.stderr)
                return 1
        return 0
    if cmd == "vias":
        # vias HOST PORT METHOD RURI VIA-TAIL: the Via lines of the answer,
        # one per line, after "port=<our source port>"
        answer = {}
        request(host, port, sys.argv[4], sys.argv[5], via_tail=sys.argv[6],
                answer=answer)
        if not answer:
            print("no answer", file=sys.stderr)
            return 1
        print("port=%d" % answer["port"])
        for line in answer["data"].decode(errors="replace").split("\r\n"):
            if line.lower().startswith(("via:", "v:")):
                print(line)
        return 0
    raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    sys.exit(main())
