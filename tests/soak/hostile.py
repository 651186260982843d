#!/usr/bin/env python3
"""Hostile traffic for the soak (tests/soak/run.sh): the attacks of
docs/hardening.md, each from a loopback address of its own, for SECONDS,
while the fleet of legitimate phones runs. Every 5 s an OPTIONS from yet
another address checks that the proxy still answers a stranger (a locked
out phone would not be). Prints one JSON line of counts at the end; exits
nonzero when a check OPTIONS went unanswered.

usage: hostile.py PORT SECONDS
"""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "wire"))
import limits  # noqa: E402

HOST = "127.0.0.1"
counts = {}
lock = threading.Lock()


def count(key, n=1):
    with lock:
        counts[key] = counts.get(key, 0) + n


def until(deadline):
    return time.monotonic() < deadline


def unknown_user_messages(port, deadline):
    """MESSAGEs to users nobody registered (the relay path)."""
    s = limits.udp("127.0.0.2")
    s.settimeout(1)
    lp = s.getsockname()[1]
    while until(deadline):
        for _ in range(20):
            s.sendto(limits.msg("MESSAGE", f"sip:nobody{os.urandom(3).hex()}@example.com", lp,
                                src="127.0.0.2"), (HOST, port))
            count("message_sent")
        for _ in range(20):
            try:
                s.recv(65536)
                count("message_answered")
            except socket.timeout:
                break
        time.sleep(0.5)


def unread_pings(port, deadline):
    """A TCP peer that sends a request and CRLF pings and never reads."""
    while until(deadline):
        t = socket.socket()
        t.bind(("127.0.0.3", 0))
        t.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        t.settimeout(5)
        try:
            t.connect((HOST, port))
            t.sendall(limits.msg("OPTIONS", f"sip:{HOST}:{port}", t.getsockname()[1], "TCP",
                                 src="127.0.0.3"))
            for _ in range(64):
                t.sendall(b"\r\n\r\n" * 16384)
            count("unread_4mib_sent")  # the close may come later
        except socket.timeout:
            count("unread_slow")
        except OSError:
            count("unread_closed_by_proxy")
        t.close()
        time.sleep(5)


def silent_connections(port, deadline):
    """40 TCP connections that never send anything, reopened when closed."""
    held = []
    while until(deadline):
        alive = []
        for t in held:
            try:
                if t.recv(1, socket.MSG_DONTWAIT) == b"":
                    count("silent_closed_by_proxy")
                    t.close()
                    continue
            except BlockingIOError:
                pass
            except OSError:
                count("silent_closed_by_proxy")
                t.close()
                continue
            alive.append(t)
        held = alive
        while len(held) < 40:
            t = socket.socket()
            t.bind(("127.0.0.4", 0))
            try:
                t.connect((HOST, port))
                held.append(t)
                count("silent_opened")
            except OSError:
                t.close()
                break
        time.sleep(1)
    for t in held:
        t.close()


def register_flood(port, deadline):
    """Bursts of 6000 new AoRs (Expires 30) from one address every 60 s:
    past the soak's --register-burst (5000) they get 503."""
    s = limits.udp("127.0.0.5")
    s.settimeout(2)
    lp = s.getsockname()[1]
    while until(deadline):
        for i in range(6000):
            s.sendto(limits.msg("REGISTER", "sip:example.com", lp,
                                to=f"sip:flood{os.urandom(4).hex()}@example.com",
                                extra=f"Contact: <sip:f@127.0.0.5:{lp}>\r\nExpires: 30\r\n",
                                src="127.0.0.5"), (HOST, port))
            if i % 32 == 31:
                for _ in range(32):
                    try:
                        d = s.recv(65536)
                        if d.startswith(b"SIP/2.0 "):
                            count("flood_" + d[8:11].decode())
                    except socket.timeout:
                        break
        time.sleep(60)


def reflection_and_protocol(port, deadline):
    """REGISTER queries over UDP for a busy AoR, and protocol errors."""
    while until(deadline):
        q = limits.msg("REGISTER", "sip:example.com", 5999, to="sip:sp1@example.com",
                       src="127.0.0.6")
        code, ans = limits.status(port, q, "127.0.0.6")
        count("query_" + str(code))
        if len(ans) > max(3 * len(q), 1200) + 200:
            count("query_amplified")
        for m, want in ((limits.msg("OPTIONS", f"sip:{HOST}:{port}", 5999, version="SIP/3.0",
                                    src="127.0.0.7"), 505),
                        (limits.msg("OPTIONS", f"sip:{HOST}:{port}", 5999, cseq="1 INVITE",
                                    src="127.0.0.7"), 400),
                        (limits.msg("OPTIONS", f"sip:{HOST}:{port}", 5999, body="x", clen=500,
                                    src="127.0.0.7"), 400)):
            code, _ = limits.status(port, m, "127.0.0.7")
            count("protocol_as_documented" if code == want else "protocol_other")
        time.sleep(1)


def watchdog(port, deadline):
    """A stranger's OPTIONS every 5 s; unanswered counts when a second try
    3 s later fails too (a slow moment under a burst is not a lock-out)."""
    while until(deadline):
        codes = []
        for _ in range(2):
            code, _ = limits.status(port, limits.msg("OPTIONS", f"sip:{HOST}:{port}", 5999,
                                                     src="127.0.0.8"), "127.0.0.8")
            codes.append(code)
            if code == 200:
                break
        count("check_answered" if 200 in codes else "check_unanswered")
        if codes[0] != 200:
            count("check_answered_late")
        time.sleep(5)


def main():
    port, secs = int(sys.argv[1]), float(sys.argv[2])
    deadline = time.monotonic() + secs
    threads = [threading.Thread(target=f, args=(port, deadline), daemon=True)
               for f in (unknown_user_messages, unread_pings, silent_connections,
                         register_flood, reflection_and_protocol, watchdog)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(secs + 60)
    print(json.dumps(counts, sort_keys=True))
    return 1 if counts.get("check_unanswered") or counts.get("query_amplified") else 0


if __name__ == "__main__":
    sys.exit(main())
