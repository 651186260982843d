#!/usr/bin/env python3
"""Server-transaction probes for test_txn.sh: REGISTER retransmissions over
UDP and TCP (standard library only, loopback only, every wait bounded).
Each command exits 0 when what it checks holds, and says why not."""
import os
import socket
import sys
import time


def register(lport, user, branch, call_id, cseq=1, vias=None, transport="UDP"):
    via = vias or f"SIP/2.0/{transport} 127.0.0.1:{lport};branch={branch};rport"
    return (
        f"REGISTER sip:example.com SIP/2.0\r\n"
        f"Via: {via}\r\n"
        f"Max-Forwards: 70\r\n"
        f"From: <sip:{user}@example.com>;tag=f{branch[-6:]}\r\n"
        f"To: <sip:{user}@example.com>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} REGISTER\r\n"
        f"Contact: <sip:{user}@127.0.0.1:{lport}>\r\n"
        f"Expires: 600\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


def udp(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(3)
    s.connect((host, port))
    return s


def status(answer):
    return int(answer.split(b" ", 2)[1])


def headers(answer, name):
    out = []
    for line in answer.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name.lower().encode():
            out.append(v.strip().decode())
    return out


def fail(why, answer=b""):
    sys.stderr.write(f"{why}\n{answer.decode(errors='replace')}\n")
    sys.exit(1)


def same_answer(host, port, late=0.0):
    """A retransmission gets the very bytes of the first answer (RFC 3261
    §17.2.2); with |late| seconds between, the request is new again."""
    s = udp(host, port)
    lport = s.getsockname()[1]
    req = register(lport, f"rt{lport}", f"z9hG4bKrt{lport}", f"rt{lport}@t")
    s.send(req)
    first = s.recv(65535)
    if status(first) != 200:
        fail("first answer is not a 200", first)
    to = headers(first, "To")
    if len(to) != 1 or ";tag=px" not in to[0]:
        fail("no To-tag of ours", first)
    if len(headers(first, "Date")) != 1 or headers(first, "Content-Length") != ["0"]:
        fail("Date or Content-Length missing", first)
    via = headers(first, "Via")
    if len(via) != 1 or f"rport={lport}" not in via[0]:
        fail("Via not echoed with rport (RFC 3581)", first)
    time.sleep(late)
    s.send(req)
    again = s.recv(65535)
    if late == 0 and again != first:
        fail("retransmission answered differently", first + b"\n----\n" + again)
    # After the linger the copy is a new request with the stored binding's
    # Call-ID and CSeq: RFC 3261 §10.3 step 7 refuses it.
    want = b"SIP/2.0 400 Stale CSeq\r\n" if late else b"SIP/2.0 200 "
    if not again.startswith(want):
        fail(f"second answer does not start with {want!r}", again)
    return 0


def two_vias(host, port):
    """Every Via of the request comes back, one per line, in order, even
    when they shared one header line."""
    s = udp(host, port)
    lport = s.getsockname()[1]
    vias = (f"SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bKtv{lport};rport, "
            f"SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKfar")
    s.send(register(lport, f"tv{lport}", f"z9hG4bKtv{lport}", f"tv{lport}@t",
                    vias=vias))
    ans = s.recv(65535)
    via = headers(ans, "Via")
    if (len(via) != 2
            or not via[0].startswith(f"SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bKtv{lport}")
            or via[1] != "SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKfar"):
        fail("Vias not echoed one per line in order", ans)
    return 0


def recv_all(s, n, deadline):
    got = {}
    while len(got) < n and time.time() < deadline:
        try:
            a = s.recv(65535)
        except socket.timeout:
            break
        cid = headers(a, "Call-ID")
        if cid:
            got[cid[0]] = a
    return got


def send_paced(s, reqs):
    """Sends |reqs| 50 at a time (the proxy's socket buffer is finite) and
    returns the answers by Call-ID."""
    got = {}
    for i in range(0, len(reqs), 50):
        for r in reqs[i:i + 50]:
            s.send(r)
        got.update(recv_all(s, min(50, len(reqs) - i), time.time() + 5))
    return got


def burst_socket(host, port, tag, n):
    s = udp(host, port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    lport = s.getsockname()[1]
    reqs = [register(lport, f"{tag}{i}x{lport}", f"z9hG4bK{tag}{i}x{lport}",
                     f"{tag}{i}x{lport}@t") for i in range(n)]
    return s, reqs


def check_same(first, again, n):
    if len(first) != n or len(again) != n:
        fail(f"answers: {len(first)} and {len(again)} of {n}")
    for cid, a in first.items():
        if status(a) != 200 or again.get(cid) != a:
            fail(f"{cid}: retransmission answered differently", a)


def burst(host, port, n):
    """|n| REGISTERs in flight at once, then every one retransmitted: each
    retransmission finds its own transaction among the others."""
    s, reqs = burst_socket(host, port, "b", n)
    first = send_paced(s, reqs)
    check_same(first, send_paced(s, reqs), n)
    return 0


def staggered(host, port, n, gap):
    """Two bursts |gap| s apart; once the first has lingered out, the
    second's retransmissions still find every transaction (the table loses
    none while others are removed around them), and the first's are new
    requests again."""
    sa, a = burst_socket(host, port, "sa", n)
    first_a = send_paced(sa, a)
    time.sleep(gap)
    sb, b = burst_socket(host, port, "sb", n)
    first_b = send_paced(sb, b)
    time.sleep(5.6 - gap)
    check_same(first_b, send_paced(sb, b), n)
    if len(first_a) != n:
        fail(f"first burst: {len(first_a)} answers of {n}")
    late = send_paced(sa, a[:10])
    if len(late) != 10 or not all(
            v.startswith(b"SIP/2.0 400 Stale CSeq\r\n") for v in late.values()):
        fail("first burst's copies were not new requests",
             b"".join(late.values()))
    return 0


def tcp_twice(host, port):
    """Over TCP nothing is retransmitted (RFC 3261 §17.2.2): the same
    request sent again later is a new one, and the registrar refuses its
    repeated Call-ID and CSeq (RFC 3261 §10.3 step 7)."""
    s = socket.create_connection((host, port), timeout=3)
    lport = s.getsockname()[1]
    req = register(lport, f"tc{lport}", f"z9hG4bKtc{lport}", f"tc{lport}@t",
                   transport="TCP")
    for want in (b"SIP/2.0 200 ", b"SIP/2.0 400 Stale CSeq\r\n"):
        s.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65535)
            if not chunk:
                fail("connection closed", buf)
            buf += chunk
        if not buf.startswith(want):
            fail(f"answer does not start with {want!r}", buf)
        time.sleep(0.3)
    return 0


def main():
    cmd, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if cmd == "same-answer":
        return same_answer(host, port)
    if cmd == "late":
        return same_answer(host, port, float(sys.argv[4]))
    if cmd == "two-vias":
        return two_vias(host, port)
    if cmd == "burst":
        return burst(host, port, int(sys.argv[4]))
    if cmd == "staggered":
        return staggered(host, port, int(sys.argv[4]), float(sys.argv[5]))
    if cmd == "tcp-twice":
        return tcp_twice(host, port)
    sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    sys.exit(main())
