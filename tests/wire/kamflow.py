#!/usr/bin/env python3
"""Flow-token checks against a Kamailio with sipflow.so (test_kamailio.sh).
Standard library only, loopback only, every wait bounded.

  kamflow.py flow udp|tcp PROXY_PORT DIR SECONDS
      Phone A calls phone B through the proxy; B writes the Record-Route
      token the proxy added to DIR/token, then A waits up to SECONDS for
      requests routed to it by that token, answering each with 200 and
      counting them in DIR/routed (and answers the proxy's keepalive
      OPTIONS, its call keeping its flow alive). For tcp, A's connection is closed when
      DIR/close appears.
  kamflow.py bye PROXY_PORT TOKEN
      Sends an in-dialog BYE whose Route carries TOKEN; prints the final
      status the proxy sends back (or 'none').
  kamflow.py tlsphone PROXY_PORT USER SECONDS OUT
      An RFC 5626 phone over TLS (certificate not checked): REGISTERs with
      +sip.instance, reg-id and ;ob, then for SECONDS answers the proxy's
      OPTIONS with 200 and sends a CRLFCRLF ping every 0.5 s, timing each
      CRLF pong (RFC 5626 section 4.4.1). Writes to OUT, as it goes:
      "registered R options O pongs P rtt_us MAX".
"""
import os
import re
import socket
import ssl
import sys
import time
import uuid

LO = "127.0.0.1"


def msg(first, headers, via):
    lines = [first, "Via: " + via] + headers + ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def reply_to(req, code, reason):
    text = req.decode(errors="replace")
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    keep = [h for h in head[1:] if re.match(
        r"(?i)^(via|from|to|call-id|cseq|record-route)\s*:", h)]
    out = ["SIP/2.0 %d %s" % (code, reason)]
    for h in keep:
        if re.match(r"(?i)^to\s*:", h) and ";tag=" not in h:
            h += ";tag=" + uuid.uuid4().hex[:8]
        out.append(h)
    out += ["Content-Length: 0", "", ""]
    return "\r\n".join(out).encode()


def read_stream(conn, buf):
    """One SIP message (no body expected) off a stream, or None."""
    while b"\r\n\r\n" not in buf[0]:
        data = conn.recv(4096)
        if not data:
            return None
        buf[0] += data
    m, buf[0] = buf[0].split(b"\r\n\r\n", 1)
    return m + b"\r\n\r\n"


def flow(transport, pport, d, seconds):
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b.bind((LO, 0))
    b.settimeout(5)
    bport = b.getsockname()[1]
    if transport == "udp":
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        a.bind((LO, 0))
        a.connect((LO, pport))
    else:
        a = socket.create_connection((LO, pport), timeout=5)
    aport = a.getsockname()[1]
    via = "SIP/2.0/%s %s:%d;branch=z9hG4bK%s;rport" % (
        transport.upper(), LO, aport, uuid.uuid4().hex[:12])
    inv = msg("INVITE sip:b@%s:%d SIP/2.0" % (LO, bport), [
        "Max-Forwards: 70", "From: <sip:a@example.com>;tag=a%d" % aport,
        "To: <sip:b@example.com>", "Call-ID: %s" % uuid.uuid4().hex,
        "CSeq: 1 INVITE",
        "Contact: <sip:a@%s:%d;transport=%s;ob>" % (LO, aport, transport)],
        via)
    a.send(inv)
    data, src = b.recvfrom(65535)
    m = re.search(rb"(?im)^Record-Route:\s*<sip:([^@>]+)@", data)
    if not m:
        sys.exit("no token in Record-Route")
    b.sendto(reply_to(data, 200, "OK"), src)
    with open(os.path.join(d, "token.tmp"), "wb") as f:
        f.write(m.group(1))
    os.rename(os.path.join(d, "token.tmp"), os.path.join(d, "token"))
    routed = 0
    end = time.time() + seconds
    buf = [b""]
    a.settimeout(0.2)
    while time.time() < end:
        if transport == "tcp" and os.path.exists(os.path.join(d, "close")):
            a.close()
            return
        try:
            data = a.recv(65535) if transport == "udp" else read_stream(a, buf)
        except socket.timeout:
            continue
        except OSError:
            continue
        if data is None:
            return
        if data.startswith(b"OPTIONS "):  # the proxy's keepalive probe
            a.send(reply_to(data, 200, "OK"))
            continue
        if data.startswith(b"BYE "):
            routed += 1
            with open(os.path.join(d, "routed"), "w") as f:
                f.write(str(routed))
            a.send(reply_to(data, 200, "OK"))


def bye(pport, token):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((LO, 0))
    s.settimeout(0.5)
    port = s.getsockname()[1]
    req = msg("BYE sip:a@%s:9 SIP/2.0" % LO, [
        "Route: <sip:%s@%s:%d;lr;ob>" % (token, LO, pport),
        "Max-Forwards: 70", "From: <sip:b@example.com>;tag=b1",
        "To: <sip:a@example.com>;tag=a1",
        "Call-ID: %s" % uuid.uuid4().hex, "CSeq: 2 BYE"],
        "SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport" % (
            LO, port, uuid.uuid4().hex[:12]))
    end = time.time() + 5
    sent = 0
    while time.time() < end:
        if time.time() >= sent + 0.5:
            s.sendto(req, (LO, pport))
            sent = time.time()
        try:
            data = s.recv(65535)
        except socket.timeout:
            continue
        code = int(data.split(b" ", 2)[1])
        if code >= 200:
            print(code)
            return
    print("none")


def tlsphone(pport, user, seconds, out):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((LO, pport), timeout=5)
    a = ctx.wrap_socket(raw)
    aport = a.getsockname()[1]
    via = "SIP/2.0/TLS %s:%d;branch=z9hG4bK%s;rport" % (
        LO, aport, uuid.uuid4().hex[:12])
    a.send(msg("REGISTER sip:example.com SIP/2.0", [
        "Max-Forwards: 70", "From: <sip:%s@example.com>;tag=r%d" % (user, aport),
        "To: <sip:%s@example.com>" % user, "Call-ID: %s" % uuid.uuid4().hex,
        "CSeq: 1 REGISTER", "Supported: path, outbound",
        "Contact: <sip:%s@%s:%d;transport=tls;ob>;reg-id=1;"
        "+sip.instance=\"<urn:uuid:%s-0000-1111>\"" % (user, LO, aport, user),
        "Expires: 600"], via))
    st = {"registered": 0, "options": 0, "pongs": 0, "rtt_us": 0}

    def report():
        with open(out + ".tmp", "w") as f:
            f.write(" ".join("%s %d" % kv for kv in st.items()) + "\n")
        os.replace(out + ".tmp", out)

    buf = b""
    ping_at = None
    next_ping = time.time() + 0.5
    end = time.time() + seconds
    a.settimeout(0.1)
    while time.time() < end:
        if ping_at is None and st["registered"] and time.time() >= next_ping:
            a.send(b"\r\n\r\n")
            ping_at = time.time()
        try:
            data = a.recv(65535)
            if not data:
                break
            buf += data
        except (socket.timeout, ssl.SSLWantReadError):
            pass
        while buf:
            if buf.startswith(b"\r\n"):  # a pong
                buf = buf[2:]
                if ping_at is not None:
                    st["pongs"] += 1
                    st["rtt_us"] = max(st["rtt_us"],
                                       int((time.time() - ping_at) * 1e6))
                    ping_at = None
                    next_ping = time.time() + 0.5
                continue
            if b"\r\n\r\n" not in buf:
                break
            m, buf = buf.split(b"\r\n\r\n", 1)
            m += b"\r\n\r\n"
            if m.startswith(b"SIP/2.0 200") and b"REGISTER" in m:
                st["registered"] = 1
            elif m.startswith(b"OPTIONS "):
                st["options"] += 1
                a.send(reply_to(m, 200, "OK"))
        report()
    a.close()


def main():
    if sys.argv[1] == "flow":
        flow(sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5]))
    elif sys.argv[1] == "bye":
        bye(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "tlsphone":
        tlsphone(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]),
                 sys.argv[5])
    else:
        sys.exit("usage: see the docstring")


if __name__ == "__main__":
    main()
