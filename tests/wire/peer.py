#!/usr/bin/env python3
"""A UA's side of a flow for the wire tests: an Outbound registration kept
alive by one kind of keepalive, and a stream that tries to smuggle a request
(standard library only, loopback only, every wait bounded).

  peer.py keep HOST PORT USER KIND SECONDS [--tcp]
      REGISTERs USER with Outbound (+sip.instance, reg-id, ;ob) and then,
      for SECONDS, sends only KIND every 0.7 s on the same flow: stun (a
      STUN Binding request, RFC 5626 §4.4.2), crlf (a double CRLF), nat4
      (a 4-byte datagram of zeros, nathelper's ping), options (an OPTIONS
      to the proxy), answer (nothing but a 200 to each request that comes
      in) or none. Exit 0 if the REGISTER got 200 (and, for
      stun and crlf on TCP, every keepalive was answered), 2 if the proxy
      closed the TCP connection.
  peer.py poke HOST PORT USER SECONDS
      Sends an OPTIONS for USER through the proxy every 0.7 s (UDP).
  peer.py smuggle HOST PORT USER
      On one TCP connection: an OPTIONS without Content-Length whose
      "body" is a REGISTER for USER. Exit 0 if the proxy answered nothing
      and closed the connection (RFC 3261 §18.3: a framing error).
"""
import os
import select
import socket
import struct
import sys
import time

COOKIE = 0x2112A442


def register(user, host, port, lport, transport, cseq=1, callid=None):
    branch = "z9hG4bK" + os.urandom(6).hex()
    t = transport.upper()
    return (f"REGISTER sip:{host}:{port};transport={transport} SIP/2.0\r\n"
            f"Via: SIP/2.0/{t} 127.0.0.1:{lport};branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:{user}@127.0.0.1>;tag={os.urandom(4).hex()}\r\n"
            f"To: <sip:{user}@127.0.0.1>\r\n"
            f"Call-ID: {callid or os.urandom(8).hex()}@peer\r\n"
            f"CSeq: {cseq} REGISTER\r\n"
            f"Supported: outbound, path\r\n"
            f"Contact: <sip:{user}@127.0.0.1:{lport};transport={transport};ob>"
            f";+sip.instance=\"<urn:uuid:00000000-0000-4000-8000-"
            f"{os.urandom(6).hex()}>\";reg-id=1;expires=300\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def options(host, port, lport, transport):
    branch = "z9hG4bK" + os.urandom(6).hex()
    return (f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport.upper()} 127.0.0.1:{lport};"
            f"branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:peer@127.0.0.1>;tag={os.urandom(4).hex()}\r\n"
            f"To: <sip:{host}>\r\n"
            f"Call-ID: {os.urandom(8).hex()}@peer\r\n"
            f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()


def ok_for(request):
    """A 200 to |request|: its Vias, From, To, Call-ID and CSeq."""
    head = request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    keep = [h for h in head if h.split(b":", 1)[0].strip().lower() in
            (b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i",
             b"cseq")]
    return (b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) +
            b"\r\nContent-Length: 0\r\n\r\n")


def poke(host, port, user, seconds):
    """OPTIONS to USER through the proxy every 0.7 s; answers are read and
    dropped. Exit 0 if at least one 200 came back."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.connect((host, port))
    lport = s.getsockname()[1]
    oks = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        branch = "z9hG4bK" + os.urandom(6).hex()
        s.send((f"OPTIONS sip:{user}@127.0.0.1 SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch={branch};rport\r\n"
                f"Max-Forwards: 70\r\n"
                f"From: <sip:poke@127.0.0.1>;tag={os.urandom(4).hex()}\r\n"
                f"To: <sip:{user}@127.0.0.1>\r\n"
                f"Call-ID: {os.urandom(8).hex()}@peer\r\n"
                f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode())
        stop = time.monotonic() + 0.7
        while time.monotonic() < stop:
            r, _, _ = select.select([s], [], [], max(0, stop - time.monotonic()))
            if r and status_of(s.recv(65536)) == 200:
                oks += 1
    print(f"poke {user}: {oks} answered 200")
    return 0 if oks else 1


def status_of(data):
    parts = data.split(b"\r\n", 1)[0].split()
    if len(parts) >= 2 and parts[0] == b"SIP/2.0" and parts[1].isdigit():
        return int(parts[1])
    return 0


def keep(host, port, user, kind, seconds, transport):
    if transport == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.connect((host, port))
    else:
        s = socket.create_connection((host, port), timeout=3)
    lport = s.getsockname()[1]
    s.sendall(register(user, host, port, lport, transport))
    deadline = time.monotonic() + 3
    got = b""
    while time.monotonic() < deadline and b"\r\n\r\n" not in got:
        r, _, _ = select.select([s], [], [], max(0, deadline - time.monotonic()))
        if r:
            got += s.recv(65536)
    if status_of(got) != 200:
        print(f"REGISTER of {user}: {got[:60]!r}", file=sys.stderr)
        return 1
    sent = answered = 0
    end = time.monotonic() + seconds
    next_ka = time.monotonic()
    while time.monotonic() < end:
        now = time.monotonic()
        if kind not in ("none", "answer") and now >= next_ka:
            if kind == "stun":
                pkt = struct.pack("!HHI", 0x0001, 0, COOKIE) + os.urandom(12)
            elif kind == "crlf":
                pkt = b"\r\n\r\n"
            elif kind == "nat4":
                pkt = b"\x00\x00\x00\x00"
            else:
                pkt = options(host, port, lport, transport)
            s.sendall(pkt)
            sent += 1
            next_ka = now + 0.7
        r, _, _ = select.select([s], [], [], max(0, min(next_ka, end) - now))
        if r:
            data = s.recv(65536)
            if not data:
                print(f"{user}: connection closed", file=sys.stderr)
                return 2
            if data[:2] == b"\x01\x01" or data == b"\r\n":
                answered += 1
            elif kind == "answer" and data[:1].isalpha() and \
                    not data.startswith(b"SIP/2.0"):
                s.sendall(ok_for(data))
                sent += 1
    s.close()
    print(f"{user}: {kind} sent {sent}, answered {answered}")
    if kind == "stun" or (kind == "crlf" and transport == "tcp"):
        return 0 if sent and answered >= sent - 1 else 1
    return 0


def smuggle(host, port, user):
    s = socket.create_connection((host, port), timeout=3)
    lport = s.getsockname()[1]
    hidden = register(user, host, port, lport, "tcp")
    front = (f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
             f"Via: SIP/2.0/TCP 127.0.0.1:{lport};branch=z9hG4bKsm{lport}\r\n"
             f"Max-Forwards: 70\r\n"
             f"From: <sip:peer@127.0.0.1>;tag=sm\r\nTo: <sip:{host}>\r\n"
             f"Call-ID: smuggle{lport}@peer\r\nCSeq: 1 OPTIONS\r\n"
             f"\r\n").encode()
    s.sendall(front + hidden)
    got = b""
    deadline = time.monotonic() + 3
    closed = False
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], max(0, deadline - time.monotonic()))
        if not r:
            continue
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            closed = True
            break
        got += data
    s.close()
    if got:
        print(f"answered: {got[:80]!r}", file=sys.stderr)
    if not closed:
        print("connection left open", file=sys.stderr)
    return 0 if closed and not got else 1


def main():
    cmd, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if cmd == "keep":
        transport = "tcp" if "--tcp" in sys.argv else "udp"
        return keep(host, port, sys.argv[4], sys.argv[5], float(sys.argv[6]),
                    transport)
    if cmd == "poke":
        return poke(host, port, sys.argv[4], float(sys.argv[5]))
    if cmd == "smuggle":
        return smuggle(host, port, sys.argv[4])
    raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    sys.exit(main())
