#!/usr/bin/env python3
"""N plain UDP phones on N loopback addresses, served by ONE socket.

Phone i lives at 127.100.(i // 250).(1 + i % 250):PORT. The socket is bound
to 0.0.0.0:PORT, so it receives for every one of those addresses, and it
answers from the address a datagram was sent to (IP_PKTINFO), so each phone
is its own UDP peer, hence its own flow, for the server under test: both
servers get one contact per address and ping each one.

First every phone REGISTERs (paced, resent until answered, at most
--passes rounds); then every OPTIONS is answered with 200 until --seconds
pass. Progress goes to --status as one line rewritten in place:
"registered options_received answers_sent drops send_errors late max_lag_ms"
(run.sh reads the first three): drops is what the kernel dropped on the
phones' sockets for lack of buffer (SO_RXQ_OVFL), send_errors the answers
and REGISTERs the kernel refused, late the answers sent 1 s or more after
their OPTIONS was read (queued behind --answer-rate), max_lag_ms the longest
such wait.

With --procs K the phones are split over K processes, phone i in process
i % K, each with its own socket (the first on --port, the others on ports
the kernel picks), so K cores can answer; the status is their sum (max_lag_ms
their maximum), and --rate and --answer-rate are per process."""
import argparse
import collections
import os
import signal
import socket
import struct
import time

IP_PKTINFO = 8  # <linux/in.h>; Python does not export it
SO_RCVBUFFORCE = 33  # root may exceed net.core.rmem_max
SO_SNDBUFFORCE = 32
SO_RXQ_OVFL = 40  # ancillary: the socket's dropped-datagram count


def addr_of(i):
    return f"127.100.{i // 250}.{1 + i % 250}"


def index_of(ip):
    p = ip.split(".")
    return int(p[2]) * 250 + int(p[3]) - 1


def pktinfo(src_ip):
    return [(socket.IPPROTO_IP, IP_PKTINFO,
             struct.pack("=I4s4s", 0, socket.inet_aton(src_ip), bytes(4)))]


def register_msg(i, port, proxy_port, cseq):
    ip = addr_of(i)
    return (f"REGISTER sip:example.com SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {ip}:{port};branch=z9hG4bK{i:x}r{cseq};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:ka{i}@example.com>;tag=k{i}\r\n"
            f"To: <sip:ka{i}@example.com>\r\nCall-ID: ka{i}@{ip}\r\n"
            f"CSeq: {cseq} REGISTER\r\nContact: <sip:ka{i}@{ip}:{port}>\r\n"
            f"Expires: 3600\r\nContent-Length: 0\r\n\r\n").encode()


KEEP = (b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq")


def answer(data):
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    keep = [h for h in head[1:] if h.split(b":", 1)[0].strip().lower() in KEEP]
    return b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + \
        b"\r\nContent-Length: 0\r\n\r\n"


class Status:
    def __init__(self, path):
        self.path = path
        self.last = 0.0

    def write(self, *vals, force=False):
        now = time.monotonic()
        if not self.path or (not force and now - self.last < 0.1):
            return
        self.last = now
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(" ".join(str(v) for v in vals) + "\n")
        os.replace(tmp, self.path)


def open_socket(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    s.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
    for opt, fallback in ((SO_RCVBUFFORCE, socket.SO_RCVBUF),
                          (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, 256 << 20)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, fallback, 256 << 20)
    s.bind(("0.0.0.0", port))
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("proxy_port", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--passes", type=int, default=4)
    ap.add_argument("--answer-rate", type=int, default=10000,
                    help="most answers per second (queued beyond)")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--status", default="")
    ap.add_argument("--procs", type=int, default=1)
    a = ap.parse_args()
    if a.count > 250 * 256:
        raise SystemExit("at most 64000 phones")
    k = max(1, min(a.procs, a.count))
    socks = [open_socket(a.port if j == 0 else 0) for j in range(k)]
    if k == 1:
        phones(a, socks[0], range(a.count), a.status)
        return
    kids = []
    for j in range(k):
        pid = os.fork()
        if pid == 0:
            for o in socks:
                if o is not socks[j]:
                    o.close()
            try:
                phones(a, socks[j], range(j, a.count, k),
                       f"{a.status}.{j}" if a.status else "")
            finally:
                os._exit(0)
        kids.append(pid)
    for o in socks:
        o.close()

    def stop(*_):
        for pid in kids:  # our own children, by PID
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    status = Status(a.status)
    total = [0] * 7
    while kids:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            kids.remove(pid)
        total = [0] * 7
        for j in range(k):
            try:
                with open(f"{a.status}.{j}") as f:
                    v = [int(x) for x in f.read().split()]
            except (OSError, ValueError):
                continue
            for n, x in enumerate(v[:7]):
                total[n] = max(total[n], x) if n == 6 else total[n] + x
        status.write(*total, force=True)
        time.sleep(0.1)
    print(*total)


def phones(a, s, mine, status_path):
    """Serves the phones |mine| on socket |s|."""
    proxy = ("127.0.0.1", a.proxy_port)
    my_port = s.getsockname()[1]
    status = Status(status_path)
    registered = set()
    options = answers = drops = send_errors = late = 0
    max_lag = 0.0
    end = time.monotonic() + a.seconds
    # Answers wait in a queue and leave at --answer-rate at most: a server
    # that sends a whole burst at once must not lose the answers to its own
    # socket buffer (that would make its keepalives look cheaper).
    queue = collections.deque()
    bucket = [0.0, time.monotonic()]

    def drain():
        nonlocal answers, send_errors, late, max_lag
        now = time.monotonic()
        cap = max(1.0, a.answer_rate / 100)
        bucket[0] = min(cap, bucket[0] + (now - bucket[1]) * a.answer_rate)
        bucket[1] = now
        while queue and bucket[0] >= 1:
            payload, dst, src, t_in = queue.popleft()
            bucket[0] -= 1
            lag = now - t_in
            max_lag = max(max_lag, lag)
            if lag >= 1:
                late += 1
            try:
                s.sendmsg([payload], pktinfo(dst), 0, src)
                answers += 1
            except OSError:
                send_errors += 1

    def serve(deadline):
        """Reads until deadline: 200s to REGISTERs, answers to OPTIONS."""
        nonlocal options, drops
        while True:
            drain()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            s.settimeout(min(left, 0.2, 0.002 if queue else 0.2))
            try:
                data, anc, _, src = s.recvmsg(65536, 64)
            except socket.timeout:
                report()
                continue
            dst = None
            for level, typ, val in anc:
                if level == socket.IPPROTO_IP and typ == IP_PKTINFO:
                    dst = socket.inet_ntoa(val[8:12])
                elif level == socket.SOL_SOCKET and typ == SO_RXQ_OVFL:
                    drops = struct.unpack("=I", val[:4])[0]
            if dst is None:
                continue
            if data.startswith(b"SIP/2.0 200") and b"REGISTER" in data:
                registered.add(index_of(dst))
            elif data.startswith(b"OPTIONS "):
                options += 1
                queue.append((answer(data), dst, src, time.monotonic()))
            report()

    def report(force=False):
        status.write(len(registered), options, answers, drops, send_errors,
                     late, int(max_lag * 1000), force=force)

    # Registration: paced in slices of 1/100 s, resent to the unanswered.
    for cseq in range(1, a.passes + 1):
        todo = [i for i in mine if i not in registered]
        if not todo:
            break
        per_slice = max(1, a.rate // 100)
        for k in range(0, len(todo), per_slice):
            t0 = time.monotonic()
            for i in todo[k:k + per_slice]:
                try:
                    s.sendmsg([register_msg(i, my_port, a.proxy_port, cseq)],
                              pktinfo(addr_of(i)), 0, proxy)
                except OSError:
                    send_errors += 1
            serve(t0 + 0.01)
        serve(time.monotonic() + 2)
    report(True)
    serve(end)
    report(True)
    print(len(registered), options, answers, drops, send_errors, late,
          int(max_lag * 1000))


if __name__ == "__main__":
    main()
