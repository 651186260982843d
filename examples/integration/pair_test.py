#!/usr/bin/env python3
"""The edge and the registrar examples as two real processes on loopback,
each on its own event loop (docs/integration/registrar.md): a UA
registers two Outbound flows through the edge, a call reaches it over
its flow, then one flow falls silent, the edge ends it, and the next call
fails over from the 430 the edge answers to the instance's other flow.

usage: pair_test.py EDGE_PROGRAM REGISTRAR_PROGRAM
Standard library only. Every process started is stopped by its PID.
"""
import re
import socket
import struct
import subprocess
import sys
import time

INSTANCE = "urn:uuid:00000000-0000-0000-0000-0000000000a1"


def start(argv):
    """Starts a program on port 0 and reads the address it bound."""
    p = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    m = re.search(r" on 127\.0\.0\.1:(\d+) ", line)
    if not m:
        p.kill()
        sys.exit(f"pair_test: {argv[0]} did not start: {line!r}")
    return p, int(m.group(1))


def stop(p):
    """Stops a program by its PID; gives what it wrote to stderr."""
    p.terminate()
    try:
        return p.communicate(timeout=5)[1]
    except subprocess.TimeoutExpired:
        p.kill()
        return p.communicate()[1]


def sock():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    return s, s.getsockname()[1]


def send(s, port, text):
    data = text.replace("\n", "\r\n") + "Content-Length: 0\r\n\r\n"
    s.sendto(data.encode(), ("127.0.0.1", port))


def recv(s, prefix):
    """The next message starting with |prefix| (others are skipped)."""
    while True:
        data = s.recvfrom(65535)[0]
        text = data.decode(errors="replace")
        if text.startswith(prefix):
            return text


def answer(s, port, request, status):
    """A UAS's answer: Vias, From, To with a tag, Call-ID, CSeq, and the
    Record-Route of a 2xx."""
    keep = ("Via:", "From:", "Call-ID:", "CSeq:")
    if status.startswith("2"):
        keep += ("Record-Route:",)
    lines = [f"SIP/2.0 {status}"]
    for line in request.split("\r\n")[1:]:
        if line.startswith(keep):
            lines.append(line)
        elif line.startswith("To:"):
            lines.append(line + ";tag=ua")
    send(s, port, "\n".join(lines) + "\n")


def register(ua, port, edge, reg_id, cseq):
    send(ua, edge, f"""REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKreg{reg_id};rport
Max-Forwards: 70
From: <sip:alice@example.com>;tag=r{reg_id}
To: <sip:alice@example.com>
Call-ID: reg@pair
CSeq: {cseq} REGISTER
Supported: outbound, path
Contact: <sip:alice@127.0.0.1:{port};ob>;reg-id={reg_id};+sip.instance="<{INSTANCE}>"
Expires: 600
""")
    return recv(ua, "SIP/2.0 ")


def call(caller, port, registrar, n):
    send(caller, registrar, f"""INVITE sip:alice@example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKcall{n};rport
Max-Forwards: 70
From: <sip:bob@example.com>;tag=c{n}
To: <sip:alice@example.com>
Call-ID: call{n}@pair
CSeq: 1 INVITE
Contact: <sip:bob@127.0.0.1:{port}>
""")


def stun_ping(s, port):
    """An RFC 5626 §4.4.2 keepalive: a STUN Binding request."""
    s.sendto(struct.pack("!HHI12s", 1, 0, 0x2112A442, b"pairtest0001"),
             ("127.0.0.1", port))


def check(what, ok):
    print(("ok: " if ok else "FAILED: ") + what)
    if not ok:
        raise SystemExit(1)


def main():
    edge_prog, reg_prog = sys.argv[1], sys.argv[2]
    procs = []
    try:
        reg, rport = start([reg_prog, "--listen", "127.0.0.1:0",
                            "--domain", "example.com", "--run-ms", "30000"])
        procs.append(reg)
        edge, eport = start([edge_prog, "--listen", "127.0.0.1:0",
                             "--registrar", f"127.0.0.1:{rport}",
                             "--flow-timer", "1", "--grace-ms", "500",
                             "--run-ms", "30000"])
        procs.append(edge)
        ua1, p1 = sock()
        ua2, p2 = sock()
        caller, pc = sock()

        ok = register(ua1, p1, eport, 1, 1)
        check("REGISTER of flow 1 through the edge: 200, Require: outbound, "
              "Flow-Timer", ok.startswith("SIP/2.0 200") and
              "Require: outbound" in ok and "Flow-Timer: 1" in ok)
        ok = register(ua2, p2, eport, 2, 2)
        check("REGISTER of flow 2: both bindings in the 200",
              "reg-id=1" in ok and "reg-id=2" in ok)

        call(caller, pc, rport, 1)
        invite = recv(ua1, "INVITE ")
        check("a call reaches the UA over flow 1 (lowest reg-id), "
              "Record-Routed by the edge", "Record-Route: <sip:" in invite)
        answer(ua1, eport, invite, "200 OK")
        check("the caller gets the 200",
              recv(caller, "SIP/2.0 2").startswith("SIP/2.0 200"))

        # Flow 2 keeps sending STUN keepalives; flow 1 falls silent and the
        # edge ends it after Flow-Timer plus the grace.
        deadline = time.time() + 3
        while time.time() < deadline:
            stun_ping(ua2, eport)
            time.sleep(0.3)
        call(caller, pc, rport, 2)
        invite = recv(ua2, "INVITE ")
        check("the next call: the edge answers 430 for the dead flow 1 and "
              "the registrar fails over to flow 2", invite.startswith("INVITE "))
        answer(ua2, eport, invite, "486 Busy Here")
        check("the caller gets the UA's answer",
              recv(caller, "SIP/2.0 4").startswith("SIP/2.0 486"))
        logs = [stop(p) for p in procs]
        check("both programs exit cleanly on SIGTERM",
              all(p.returncode == 0 for p in procs))
        procs = []
        check("the registrar removed the binding of the failed flow",
              "flow failed: sip:alice@example.com" in logs[0])
        check("the edge ended flow 1 and answered 430 for it",
              "keepalive-timeout" in logs[1] and "edge: 430:" in logs[1])
    finally:
        for p in procs:
            stop(p)


if __name__ == "__main__":
    main()
