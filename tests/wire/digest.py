#!/usr/bin/env python3
"""A phone that answers digest challenges (RFC 3261 §22, RFC 8760) with
hashlib, for the wire tests of sipflow-proxy's authentication. Standard
library only, loopback only, every wait bounded. Each command exits 0 when
what it checks holds, and says why not on stderr.

usage: digest.py COMMAND HOST PORT [options]   (see main())"""
import argparse
import hashlib
import os
import re
import socket
import sys
import time

DOMAIN = "example.com"
LOWER_ALG = False  # --lower-alg: "sha-256", a token compared without case


def H(alg, s):
    h = hashlib.sha256 if alg == "SHA-256" else hashlib.md5
    return h(s.encode()).hexdigest()


def parse_challenges(data, name):
    """The Digest challenges of header |name| in order: dicts of params."""
    out = []
    for line in data.split("\r\n"):
        if ":" not in line:
            continue
        hn, val = line.split(":", 1)
        if hn.strip().lower() != name.lower():
            continue
        val = val.strip()
        if not val.lower().startswith("digest "):
            continue
        params = dict((k.lower(), v1 if v1 else v2) for k, v1, v2 in re.findall(
            r'([\w-]+)=(?:"([^"]*)"|([^\s,]+))', val[7:]))
        out.append(params)
    return out


class Phone:
    def __init__(self, host, port, user, transport="udp", lport=0):
        self.host, self.port, self.user = host, port, user
        self.transport = transport
        if transport == "udp":
            self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            if lport:  # a port from free_port, possibly just released
                self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.s.bind(("127.0.0.1", lport))
        else:
            self.s = socket.create_connection((host, port), timeout=3)
        self.s.settimeout(3)
        self.lport = self.s.getsockname()[1]
        self.call_id = os.urandom(8).hex() + "@digest"
        self.cseq = 0
        self.nc = 0
        self.buf = b""

    def close(self):
        self.s.close()

    def send(self, data):
        if self.transport == "udp":
            self.s.sendto(data.encode(), (self.host, self.port))
        else:
            self.s.sendall(data.encode())

    def recv_msg(self, timeout=3.0):
        """The next SIP message (text), or None."""
        end = time.time() + timeout
        while time.time() < end:
            self.s.settimeout(max(0.05, end - time.time()))
            try:
                if self.transport == "udp":
                    return self.s.recvfrom(65536)[0].decode(errors="replace")
                chunk = self.s.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                return None
            self.buf += chunk
            if b"\r\n\r\n" in self.buf:
                head, rest = self.buf.split(b"\r\n\r\n", 1)
                m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
                n = int(m.group(1)) if m else 0
                if len(rest) >= n:
                    self.buf = rest[n:]
                    return (head + b"\r\n\r\n" + rest[:n]).decode(errors="replace")
        return None

    def transact(self, msg):
        """Send a request; the first final response (text) or None. Over
        UDP it is sent again after 0.5, 1 and 2 s (RFC 3261 Timer E)."""
        self.send(msg)
        end = time.time() + 4
        wait = 0.5
        resend = time.time() + wait
        while time.time() < end:
            got = self.recv_msg(min(end, resend) - time.time())
            if got is None:
                if self.transport == "udp" and time.time() >= resend:
                    self.send(msg)
                    wait *= 2
                    resend = time.time() + wait
                continue
            first = got.split("\r\n", 1)[0].split()
            if len(first) >= 2 and first[0] == "SIP/2.0" and int(first[1]) >= 200:
                return got
        return None

    def request(self, method, ruri, to_user, contact=None, expires=None,
                auth=None, instance=None, reg_id=None, from_user=None):
        self.cseq += 1
        branch = "z9hG4bK" + os.urandom(6).hex()
        t = self.transport.upper()
        lines = [f"{method} {ruri} SIP/2.0",
                 f"Via: SIP/2.0/{t} 127.0.0.1:{self.lport};branch={branch};rport",
                 "Max-Forwards: 70",
                 f"From: <sip:{from_user or self.user}@{DOMAIN}>;tag=dg{self.lport}",
                 f"To: <sip:{to_user}@{DOMAIN}>",
                 f"Call-ID: {self.call_id}",
                 f"CSeq: {self.cseq} {method}"]
        if contact == "*":
            lines.append("Contact: *")
        elif contact is not None:
            c = f"<sip:{self.user}@127.0.0.1:{self.lport};transport={self.transport}"
            c += ";ob>" if instance else ">"
            if instance:
                c += f';+sip.instance="<urn:uuid:{instance}>";reg-id={reg_id}'
            lines.append("Contact: " + c)
            lines.append("Supported: outbound, path")
        if expires is not None:
            lines.append(f"Expires: {expires}")
        if auth:
            lines.append(auth)
        lines.append("Content-Length: 0")
        return "\r\n".join(lines) + "\r\n\r\n", branch

    def answer(self, ch, method, ruri, user, password, alg, nc=None,
               header="Authorization", realm=None, cnonce=None):
        realm = realm or ch["realm"]
        self.nc = nc if nc is not None else self.nc + 1
        ncs = "%08x" % self.nc
        cnonce = cnonce or os.urandom(6).hex()
        ha1 = H(alg, f"{user}:{realm}:{password}")
        ha2 = H(alg, f"{method}:{ruri}")
        resp = H(alg, f"{ha1}:{ch['nonce']}:{ncs}:{cnonce}:auth:{ha2}")
        return (f'{header}: Digest username="{user}", realm="{realm}", '
                f'nonce="{ch["nonce"]}", uri="{ruri}", response="{resp}", '
                f'algorithm={alg.lower() if LOWER_ALG else alg}, qop=auth, '
                f'nc={ncs}, cnonce="{cnonce}"')


def status(msg):
    if msg is None:
        return 0
    return int(msg.split("\r\n", 1)[0].split()[1])


def fail(why):
    print(why, file=sys.stderr)
    return 1


def pick(chs, alg):
    for c in chs:
        if c.get("algorithm", "MD5").upper() == alg:
            return c
    return None


def register(ph, a, to_user=None, contact=True, expires=None, password=None,
             alg=None):
    """REGISTER, answer the challenge; returns (final status, answer text)."""
    to_user = to_user or ph.user
    ruri = f"sip:{DOMAIN}"
    cont = "*" if contact == "*" else ("" if contact else None)
    msg, _ = ph.request("REGISTER", ruri, to_user, cont, expires,
                        instance=a.instance, reg_id=a.regid)
    got = ph.transact(msg)
    if status(got) != 401 or (password or a.password) == "-":
        return status(got), got
    ch = pick(parse_challenges(got, "WWW-Authenticate"), alg or a.alg)
    if not ch:
        return -1, got
    auth = ph.answer(ch, "REGISTER", ruri, a.user, password or a.password,
                     alg or a.alg)
    msg, _ = ph.request("REGISTER", ruri, to_user, cont, expires, auth,
                        instance=a.instance, reg_id=a.regid)
    got = ph.transact(msg)
    return status(got), got


def cmd_challenge(a):
    """An unauthenticated REGISTER gets 401 with SHA-256 then MD5."""
    ph = Phone(a.host, a.port, a.user, a.transport)
    msg, _ = ph.request("REGISTER", f"sip:{DOMAIN}", a.user, "", None)
    got = ph.transact(msg)
    if status(got) != 401:
        return fail(f"expected 401, got {status(got)}")
    chs = parse_challenges(got, "WWW-Authenticate")
    algs = [c.get("algorithm", "").upper() for c in chs]
    if algs != ["SHA-256", "MD5"]:
        return fail(f"challenges {algs}")
    for c in chs:
        if c.get("realm") != a.realm or "auth" not in c.get("qop", "") or \
                not c.get("nonce"):
            return fail(f"challenge {c}")
    return 0


def cmd_register(a):
    """REGISTER with the challenge answered: the final status is |expect|."""
    ph = Phone(a.host, a.port, a.user, a.transport, a.lport)
    code, got = register(ph, a, a.to, contact="*" if a.star else True,
                         expires=a.expires)
    if code != a.expect:
        return fail(f"expected {a.expect}, got {code}\n{got}")
    return 0


def cmd_replay(a):
    """A request that reuses a nonce-count is refused; the next count is
    accepted."""
    ph = Phone(a.host, a.port, a.user, a.transport)
    ruri = f"sip:{DOMAIN}"
    msg, _ = ph.request("REGISTER", ruri, a.user, "", None)
    ch = pick(parse_challenges(ph.transact(msg) or "", "WWW-Authenticate"),
              a.alg)
    if not ch:
        return fail("no challenge")
    auth = ph.answer(ch, "REGISTER", ruri, a.user, a.password, a.alg, nc=1)
    msg, _ = ph.request("REGISTER", ruri, a.user, "", None, auth)
    if status(ph.transact(msg)) != 200:
        return fail("first use of the nonce refused")
    # The same Authorization line again, in a new transaction.
    msg, _ = ph.request("REGISTER", ruri, a.user, "", None, auth)
    got = ph.transact(msg)
    if status(got) == 200:
        return fail("a replayed nonce-count was accepted")
    if status(got) != 401 or "stale=true" in got:
        return fail(f"replay answered {status(got)}")
    auth = ph.answer(ch, "REGISTER", ruri, a.user, a.password, a.alg, nc=2)
    msg, _ = ph.request("REGISTER", ruri, a.user, "", None, auth)
    if status(ph.transact(msg)) != 200:
        return fail("the next nonce-count was refused")
    return 0


def cmd_stale(a):
    """A nonce past its lifetime gets 401 stale=true; the new one works."""
    ph = Phone(a.host, a.port, a.user, a.transport)
    ruri = f"sip:{DOMAIN}"
    msg, _ = ph.request("REGISTER", ruri, a.user, "", None)
    ch = pick(parse_challenges(ph.transact(msg) or "", "WWW-Authenticate"),
              a.alg)
    if not ch:
        return fail("no challenge")
    time.sleep(a.wait)
    auth = ph.answer(ch, "REGISTER", ruri, a.user, a.password, a.alg)
    msg, _ = ph.request("REGISTER", ruri, a.user, "", None, auth)
    got = ph.transact(msg)
    chs = parse_challenges(got or "", "WWW-Authenticate")
    if status(got) != 401 or not chs or \
            any(c.get("stale", "").lower() != "true" for c in chs):
        return fail(f"expected 401 stale=true, got {status(got)}\n{got}")
    auth = ph.answer(pick(chs, a.alg), "REGISTER", ruri, a.user, a.password,
                     a.alg)
    msg, _ = ph.request("REGISTER", ruri, a.user, "", None, auth)
    if status(ph.transact(msg)) != 200:
        return fail("the fresh nonce was refused")
    return 0


def cmd_crossnode(a):
    """A challenge from one worker or node (PORT) answered at another
    (--other-port) that shares its key ring: the other answers 401 with
    stale=true on every challenge (so a UA retries without asking its
    user, RFC 2617 §3.2.1), and its fresh nonce gives 200. Prints the
    statuses."""
    one = Phone(a.host, a.port, a.user, a.transport)
    two = Phone(a.host, a.other_port, a.user, a.transport)
    two.call_id, two.cseq = one.call_id, 10
    ruri = f"sip:{DOMAIN}"
    msg, _ = one.request("REGISTER", ruri, a.user, "", None,
                         instance=a.instance, reg_id=a.regid)
    ch = pick(parse_challenges(one.transact(msg) or "", "WWW-Authenticate"),
              a.alg)
    if not ch:
        return fail("no challenge from the first")
    auth = two.answer(ch, "REGISTER", ruri, a.user, a.password, a.alg)
    msg, _ = two.request("REGISTER", ruri, a.user, "", None, auth,
                         instance=a.instance, reg_id=a.regid)
    got = two.transact(msg)
    chs = parse_challenges(got or "", "WWW-Authenticate")
    stale = [c.get("stale", "").lower() for c in chs]
    print(f"other: {status(got)} stale {stale}")
    if status(got) != 401 or not chs or any(x != "true" for x in stale):
        return fail(f"expected 401 stale=true from the other, got "
                    f"{status(got)}\n{got}")
    auth = two.answer(pick(chs, a.alg), "REGISTER", ruri, a.user, a.password,
                      a.alg)
    msg, _ = two.request("REGISTER", ruri, a.user, "", None, auth,
                         instance=a.instance, reg_id=a.regid)
    got = two.transact(msg)
    print(f"fresh nonce: {status(got)}")
    if status(got) != 200:
        return fail(f"the other's fresh nonce got {status(got)}\n{got}")
    return 0


def cmd_invite(a):
    """--auth all: an INVITE from a user of ours gets 407; answered, it is
    routed (any final answer but 401/403/407)."""
    ph = Phone(a.host, a.port, a.user, a.transport)
    ruri = f"sip:{a.to}@{DOMAIN}"

    def invite(auth=None):
        msg, branch = ph.request("INVITE", ruri, a.to, "", None, auth)
        got = ph.transact(msg)
        if got is not None and status(got) >= 300:  # ACK the failure
            ack = msg.replace(f"INVITE {ruri}", f"ACK {ruri}", 1)
            ack = re.sub(r"CSeq: (\d+) INVITE", r"CSeq: \1 ACK", ack)
            to = re.search(r"(?im)^To:.*$", got).group(0)
            ack = re.sub(r"(?im)^To:.*$", to, ack)
            ph.send(ack)
        return got

    got = invite()
    if status(got) != 407:
        return fail(f"expected 407, got {status(got)}")
    ch = pick(parse_challenges(got, "Proxy-Authenticate"), a.alg)
    if not ch:
        return fail("no Proxy-Authenticate")
    if a.password == "-":
        return 0
    got = invite(ph.answer(ch, "INVITE", ruri, a.user, a.password, a.alg,
                           header="Proxy-Authorization"))
    if status(got) in (0, 401, 403, 407):
        return fail(f"authenticated INVITE got {status(got)}")
    return 0


def cmd_reach(a):
    """Register over one socket, then an OPTIONS sent to the registrar for
    the AoR must arrive on that socket (through the edge's Path token)."""
    ph = Phone(a.host, a.port, a.user, a.transport)
    code, got = register(ph, a)
    if code != 200:
        return fail(f"REGISTER through the edge: {code}\n{got}")
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind(("127.0.0.1", 0))
    cport = caller.getsockname()[1]
    ruri = f"sip:{a.user}@{DOMAIN}"
    opt = (f"OPTIONS {ruri} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK{os.urandom(6).hex()};rport\r\n"
           "Max-Forwards: 70\r\n"
           f"From: <sip:caller@{DOMAIN}>;tag=c1\r\nTo: <{ruri}>\r\n"
           f"Call-ID: {os.urandom(8).hex()}@c\r\nCSeq: 1 OPTIONS\r\n"
           "Content-Length: 0\r\n\r\n")
    caller.sendto(opt.encode(), (a.host, a.reg_port))
    got = ph.recv_msg(4)
    caller.close()
    if not got or not got.startswith("OPTIONS "):
        return fail(f"the phone got no OPTIONS: {got!r}")
    return 0


def cmd_moves(a):
    """--count REGISTERs of one Outbound binding (same AoR, instance and
    reg-id), each from a new port, as after NAT rebindings; every one must
    get 200."""
    for i in range(a.count):
        ph = Phone(a.host, a.port, a.user, a.transport)
        ph.cseq = i
        ph.call_id = "moves-" + a.user
        code, got = register(ph, a, expires=600)
        ph.close()
        if code != 200:
            return fail(f"move {i}: {code}\n{got}")
    return 0


def cmd_indialog(a):
    """An in-dialog BYE (To tag) with --route: its final status is
    |expect|."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(4)
    lport = s.getsockname()[1]
    ruri = f"sip:{a.user}@127.0.0.1:{a.lport or 9};transport=udp"
    msg = (f"BYE {ruri} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{os.urandom(6).hex()};rport\r\n"
           "Max-Forwards: 70\r\n"
           f"Route: {a.route}\r\n"
           f"From: <sip:caller@{DOMAIN}>;tag=c1\r\n"
           f"To: <sip:{a.user}@{DOMAIN}>;tag=p1\r\n"
           f"Call-ID: {os.urandom(8).hex()}@dialog\r\nCSeq: 2 BYE\r\n"
           "Content-Length: 0\r\n\r\n")
    s.sendto(msg.encode(), (a.host, a.port))
    try:
        while True:
            got = s.recvfrom(65536)[0].decode(errors="replace")
            if status(got) >= 200:
                break
    except socket.timeout:
        got = None
    s.close()
    if status(got) != a.expect:
        return fail(f"expected {a.expect}, got {status(got)}")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--user", default="alice")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--alg", default="MD5", choices=["MD5", "SHA-256"])
    ap.add_argument("--realm", default=DOMAIN)
    ap.add_argument("--to")
    ap.add_argument("--expect", type=int, default=200)
    ap.add_argument("--expires", type=int)
    ap.add_argument("--star", action="store_true")
    ap.add_argument("--instance")
    ap.add_argument("--regid", default="1")
    ap.add_argument("--lport", type=int, default=0)
    ap.add_argument("--transport", default="udp", choices=["udp", "tcp"])
    ap.add_argument("--wait", type=float, default=0)
    ap.add_argument("--reg-port", type=int)
    ap.add_argument("--other-port", type=int)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--route")
    ap.add_argument("--lower-alg", action="store_true")
    a = ap.parse_args()
    global LOWER_ALG
    LOWER_ALG = a.lower_alg
    cmds = {"challenge": cmd_challenge, "register": cmd_register,
            "replay": cmd_replay, "stale": cmd_stale, "invite": cmd_invite,
            "reach": cmd_reach, "moves": cmd_moves,
            "crossnode": cmd_crossnode,
            "indialog": cmd_indialog}
    return cmds[a.command](a)


if __name__ == "__main__":
    sys.exit(main())
