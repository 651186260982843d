#!/usr/bin/env python3
"""Push (RFC 8599) on the wire, standard library only, loopback only, every
wait bounded. One process plays the push gateway (an HTTP server taking the
proxy's JSON POSTs), the phones (TCP, Outbound, pn-* Contact parameters;
a pushed phone re-registers over a NEW connection and answers the call
there) and the caller (UDP).

usage: pushgw.py PROXY_PORT STEP
  STEP register-NAME  register phone NAME, then close its connection
  STEP call-NAME      call NAME; the gateway wakes it; expect 200
  STEP sleepy-NAME    call NAME, whose phone never wakes; expect 480
  STEP refresh-NAME   register NAME (Expires 8); expect a refresh push
                      before it expires
  STEP udpsleep-NAME  register NAME over UDP, then answer nothing for
                      $PUSHGW_LISTEN s, noting each request in $PUSHGW_PROBES
With $PUSHGW_REG_PORT a woken phone registers at that port instead of
PROXY_PORT. With $PUSHGW_PLAIN=1 the phones register without +sip.instance and
reg-id (their Contact URI changes with every connection).
The gateway listens on the port in $PUSHGW_PORT and appends every POST to
$PUSHGW_LOG as one JSON line.
"""
import http.server
import json
import os
import socket
import sys
import threading
import time
import uuid
import zlib

HOST = "127.0.0.1"
DOMAIN = "example.com"
WAKE = {}  # prid -> phone name, for the phones that wake when pushed
RESULT = {}
# PUSHGW_PLAIN=1: phones register without +sip.instance and reg-id.
PLAIN = os.environ.get("PUSHGW_PLAIN") == "1"
# PUSHGW_PROVIDER: the pn-provider of Outbound phones (default apns).
PROVIDER = os.environ.get("PUSHGW_PROVIDER", "apns")


def inst(name):
    """The phone's +sip.instance, the same in every process."""
    return "00000000-0000-1000-8000-%012x" % zlib.crc32(name.encode())


def read_msg(sock, deadline):
    """One SIP message from a TCP socket (Content-Length framing)."""
    buf = getattr(sock, "_buf", b"")
    while True:
        while buf.startswith(b"\r\n"):
            buf = buf[2:]
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode("utf-8", "replace")
            clen = 0
            for line in head.split("\r\n")[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() in ("content-length", "l"):
                    clen = int(v.strip())
            if len(buf) >= end + 4 + clen:
                sock._buf = buf[end + 4 + clen:]
                return head
        left = deadline - time.time()
        if left <= 0:
            raise TimeoutError("no SIP message")
        sock.settimeout(left)
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        buf += data


class Sock:
    def __init__(self, port):
        self.s = socket.create_connection((HOST, port), timeout=3)
        self._buf = b""

    def recv(self, n):
        return self.s.recv(n)

    def settimeout(self, t):
        self.s.settimeout(t)

    def send(self, text):
        self.s.sendall(text.encode())

    def close(self):
        self.s.close()


def register(port, name, prid, cseq, expires=600, sock=None):
    """REGISTER phone |name| over |sock| (a new connection when None)."""
    s = sock or Sock(port)
    lport = s.s.getsockname()[1]
    if PLAIN:
        # No instance, no reg-id: the Contact URI names this connection's
        # port, so a woken phone registers another URI (RFC 8599 §5.3).
        contact = ("<sip:%s@%s:%d;transport=tcp;pn-provider=apns;"
                   "pn-param=ABCD1234.com.example.voip;pn-prid=%s>"
                   % (name, HOST, lport, prid))
    else:
        contact = ("<sip:%s@%s:%d;transport=tcp;ob;pn-provider=%s;"
                   "pn-param=ABCD1234.com.example.voip;pn-prid=%s>"
                   ";+sip.instance=\"<urn:uuid:%s>\";reg-id=1"
                   % (name, HOST, lport, PROVIDER, prid, inst(name)))
    msg = ("REGISTER sip:%s SIP/2.0\r\n"
           "Via: SIP/2.0/TCP %s:%d;branch=z9hG4bK%s\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:%s@%s>;tag=%s\r\n"
           "To: <sip:%s@%s>\r\n"
           "Call-ID: reg-%s@pushgw\r\n"
           "CSeq: %d REGISTER\r\n"
           "Contact: %s\r\n"
           "Supported: outbound, path\r\n"
           "Expires: %d\r\n"
           "Content-Length: 0\r\n\r\n"
           % (DOMAIN, HOST, lport, uuid.uuid4().hex, name, DOMAIN,
              uuid.uuid4().hex[:8], name, DOMAIN, name, cseq, contact,
              expires))
    s.send(msg)
    deadline = time.time() + 5
    while True:
        head = read_msg(s, deadline)
        if head.startswith("SIP/2.0 ") and not head.startswith("SIP/2.0 1"):
            return s, head


def answer_invite(s, deadline):
    """Answer the INVITE that comes over |s| with 200."""
    head = read_msg(s, deadline)
    if not head.startswith("INVITE "):
        raise RuntimeError("expected INVITE, got " + head.split("\r\n")[0])
    keep = [l for l in head.split("\r\n")[1:]
            if l.split(":")[0].strip().lower() in
            ("via", "v", "from", "f", "call-id", "i", "cseq",
             "record-route")]
    to = [l for l in head.split("\r\n") if l.lower().startswith(("to:", "t:"))]
    resp = ("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\n" +
            to[0] + ";tag=phone\r\n" +
            "Contact: <sip:phone@%s:%d;transport=tcp>\r\n"
            % (HOST, s.s.getsockname()[1]) +
            "Content-Length: 0\r\n\r\n")
    RESULT["invite_seen"] = time.time()
    s.send(resp)


class Gateway(http.server.BaseHTTPRequestHandler):
    proxy_port = 0

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n))
        body["t"] = time.time()
        RESULT.setdefault("post", body["t"])
        with open(os.environ["PUSHGW_LOG"], "a") as f:
            f.write(json.dumps(body) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        name = WAKE.get(body.get("prid"))
        if body.get("reason") == "call" and name:
            threading.Thread(target=self.wake, args=(name, body["prid"]),
                             daemon=True).start()

    def wake(self, name, prid):
        try:
            RESULT["reg_sent"] = time.time()
            s, head = register(self.proxy_port, name, prid, 100)
            RESULT["reg_ok"] = time.time()
            RESULT["woke"] = head.split("\r\n")[0]
            answer_invite(s, time.time() + 5)
            time.sleep(0.5)
            s.close()
        except Exception as e:  # reported by the caller's result
            RESULT["wake_error"] = repr(e)

    def log_message(self, *args):
        pass


def serve(proxy_port):
    # A woken phone registers at $PUSHGW_REG_PORT when set (another node of
    # a cluster than the one the call went to), else where the call went.
    Gateway.proxy_port = int(os.environ.get("PUSHGW_REG_PORT") or proxy_port)
    srv = http.server.ThreadingHTTPServer(
        (HOST, int(os.environ["PUSHGW_PORT"])), Gateway)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def call(port, name, wait):
    """INVITE sip:NAME@example.com over UDP: the final status and seconds."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((HOST, 0))
    lport = u.getsockname()[1]
    branch = "z9hG4bK" + uuid.uuid4().hex
    cid = uuid.uuid4().hex
    msg = ("INVITE sip:%s@%s SIP/2.0\r\n"
           "Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:caller@%s>;tag=c1\r\n"
           "To: <sip:%s@%s>\r\n"
           "Call-ID: %s\r\n"
           "CSeq: 1 INVITE\r\n"
           "Contact: <sip:caller@%s:%d>\r\n"
           "Content-Length: 0\r\n\r\n"
           % (name, DOMAIN, HOST, lport, branch, DOMAIN, name, DOMAIN, cid,
              HOST, lport))
    t0 = time.time()
    RESULT["invite_sent"] = t0
    u.sendto(msg.encode(), (HOST, port))
    deadline = t0 + wait
    while time.time() < deadline:
        u.settimeout(max(0.01, deadline - time.time()))
        try:
            data, _ = u.recvfrom(65536)
        except socket.timeout:
            break
        line = data.decode("utf-8", "replace").split("\r\n")[0]
        parts = line.split(" ")
        if parts[0] == "SIP/2.0" and int(parts[1]) >= 200:
            status = int(parts[1])
            if status >= 300:  # ACK the final non-2xx, hop by hop
                to = [l for l in data.decode().split("\r\n")
                      if l.lower().startswith(("to:", "t:"))][0]
                ack = ("ACK sip:%s@%s SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
                       "Max-Forwards: 70\r\nFrom: <sip:caller@%s>;tag=c1\r\n"
                       "%s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\n"
                       "Content-Length: 0\r\n\r\n"
                       % (name, DOMAIN, HOST, lport, branch, DOMAIN, to, cid))
                u.sendto(ack.encode(), (HOST, port))
            return status, time.time() - t0
    return 0, time.time() - t0


def main():
    port = int(sys.argv[1])
    step, _, name = sys.argv[2].partition("-")
    prid = "prid-" + name
    if step == "register":
        s, head = register(port, name, prid, 1)
        ok = head.startswith("SIP/2.0 200") and \
            ('+sip.pns="%s"' % PROVIDER) in head
        s.close()
        print(head.split("\r\n")[0], "feature-caps" if ok else "no caps")
        return 0 if ok else 1
    if step == "unsupported":
        s = Sock(port)
        lport = s.s.getsockname()[1]
        s, head = register(port, name, prid, 1, sock=s)
        s.close()
        return 0
    if step == "udpsleep":
        # A UDP phone that registers with pn-* and then sleeps: it answers
        # nothing, and notes every request that reaches it (the proxy's
        # keepalive probes) in $PUSHGW_PROBES, one "METHOD SECONDS" a line.
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind((HOST, 0))
        lport = u.getsockname()[1]
        msg = ("REGISTER sip:%s SIP/2.0\r\n"
               "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\n"
               "Max-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=u1\r\n"
               "To: <sip:%s@%s>\r\nCall-ID: udp-%s@pushgw\r\n"
               "CSeq: 1 REGISTER\r\n"
               "Contact: <sip:%s@%s:%d;pn-provider=apns;pn-prid=%s>\r\n"
               "Expires: 600\r\nContent-Length: 0\r\n\r\n"
               % (DOMAIN, HOST, lport, uuid.uuid4().hex, name, DOMAIN, name,
                  DOMAIN, name, name, HOST, lport, prid))
        u.sendto(msg.encode(), (HOST, port))
        t0 = time.time()
        end = t0 + float(os.environ.get("PUSHGW_LISTEN", "14"))
        status = 0
        with open(os.environ["PUSHGW_PROBES"], "w") as f:
            while time.time() < end:
                u.settimeout(max(0.01, end - time.time()))
                try:
                    data, _ = u.recvfrom(65536)
                except socket.timeout:
                    break
                line = data.decode("utf-8", "replace").split("\r\n")[0]
                if line.startswith("SIP/2.0 2") and not status:
                    status = 200
                elif not line.startswith("SIP/2.0"):
                    f.write("%s %.3f\n" % (line.split(" ")[0],
                                           time.time() - t0))
                    f.flush()
        print("register", status)
        return 0 if status == 200 else 1
    if step in ("call", "sleepy"):
        if step == "call":
            WAKE[prid] = name
        srv = serve(port)
        wait = float(os.environ.get("PUSHGW_WAIT", "10"))
        # $PUSHGW_CALLS > 1: as many calls at once (one push is enough).
        extra = []
        more = [threading.Thread(target=lambda: extra.append(
            call(port, name, wait)[0])) for _ in
            range(int(os.environ.get("PUSHGW_CALLS", "1")) - 1)]
        for t in more:
            t.start()
        status, secs = call(port, name, wait)
        for t in more:
            t.join()
        srv.shutdown()
        if any(x != status for x in extra):
            print("the other calls got", extra)
            return 1
        print("status %d after %.3f s %s" % (status, secs, RESULT))
        if "invite_seen" in RESULT and "reg_ok" in RESULT:
            r = RESULT
            # The proxy's share: INVITE to push, REGISTER to its 200, 200
            # to the forked INVITE (the gateway and phone taken out).
            print("share_ms %.3f %.3f %.3f" % (
                1000 * (r["post"] - r["invite_sent"]),
                1000 * (r["reg_ok"] - r["reg_sent"]),
                1000 * (r["invite_seen"] - r["reg_ok"])))
        if step == "call":
            return 0 if status == 200 else 1
        most = float(os.environ.get("PUSHGW_MAX", "60"))
        return 0 if status == 480 and secs < most else 1
    if step == "sleepyseq":
        # sleepyseq-A+B+A: calls to phones that never wake, 0.3 s apart,
        # all at once in flight; each must end in 480.
        names = name.split("+")
        srv = serve(port)
        wait = float(os.environ.get("PUSHGW_WAIT", "10"))
        got = []
        threads = []
        for n in names:
            t = threading.Thread(target=lambda n=n: got.append(
                call(port, n, wait)[0]))
            t.start()
            threads.append(t)
            time.sleep(0.3)
        for t in threads:
            t.join()
        srv.shutdown()
        print("statuses", got)
        return 0 if got == [480] * len(names) else 1
    if step == "refresh":
        srv = serve(port)
        t0 = time.time()
        s, head = register(port, name, prid, 1, expires=8)
        s.close()
        ok = head.startswith("SIP/2.0 200")
        # The schedule's last push is due 0.5 s before the 8 s expiry.
        time.sleep(8.2)
        srv.shutdown()
        log = [json.loads(l) for l in open(os.environ["PUSHGW_LOG"])]
        got = [round(e["t"] - t0, 3) for e in log
               if e["reason"] == "refresh" and e["prid"] == prid and
               e["t"] < t0 + 8]
        print("refresh pushes before expiry, seconds after the REGISTER:",
              got)
        # $PUSHGW_REFRESH_N: how many pushes the schedule must have sent;
        # $PUSHGW_REFRESH_FIRST: none before that many seconds.
        want = int(os.environ.get("PUSHGW_REFRESH_N", "0"))
        first = float(os.environ.get("PUSHGW_REFRESH_FIRST", "0"))
        if want and len(got) != want:
            return 1
        if got and min(got) < first:
            return 1
        return 0 if ok and got else 1
    print("unknown step", step)
    return 2


if __name__ == "__main__":
    sys.exit(main())
