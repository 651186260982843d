#!/usr/bin/env python3
"""Drives real phones for the wire tests: baresip through its ctrl_tcp
module (netstring JSON commands and events) and linphone-daemon through its
--pipe unix socket (text commands). Standard library only, loopback only,
every wait bounded.

  realphone.py baresip-config DIR SIP-PORT CTRL-PORT ACCOUNT
      Writes DIR/config and DIR/accounts for one baresip phone: SIP on
      127.0.0.1:SIP-PORT, ctrl_tcp on 127.0.0.1:CTRL-PORT, no sound card
      (aubridge as source and player), PCMU/PCMA only.
  realphone.py linphone-config FILE SIP-PORT RTP-PORT
      Writes a linphonerc for linphone-daemon: UDP on 127.0.0.1:SIP-PORT.
  realphone.py ready PHONE [SECONDS]
      Exit 0 once the phone answers commands.
  realphone.py register PHONE IDENTITY PROXY
      linphone-daemon only: register IDENTITY through PROXY.
  realphone.py registered PHONE [SECONDS]
      Exit 0 once the phone says its registration is OK.
  realphone.py call CALLER CALLEE URI [SECONDS]
      CALLER dials URI; CALLEE answers by itself (auto answer). Prints one
      line per step reached: dialed, ringing (baresip callers: a 180
      arrived), established-caller, established-callee, hung-up,
      closed-callee, closed-caller. Exit 0 if all were reached.
  realphone.py dial PHONE URI [SECONDS]
      PHONE calls URI (answered by a peer not driven here), stays in the
      call one second and hangs up. Prints the steps reached: dialed,
      established-caller, hung-up, closed-caller. Exit 0 if all were.
  realphone.py dial-wait PHONE URI [SECONDS]
      PHONE calls URI and stays in the call until the peer hangs up.
      Prints: dialed, established-caller, closed-by-peer. Exit 0 if all were.
  realphone.py hangup-answered PHONE [SECONDS]
      Waits for a call PHONE answered by itself (auto answer) to be up,
      stays one second and hangs up. Prints: established-callee, hung-up,
      closed-callee. Exit 0 if all were.
  realphone.py free-ports N
      Prints N loopback ports, each with the next one free too (baresip
      listens for TLS on its SIP port plus one), UDP and TCP.
  realphone.py trace LOG PEER
      Reads a baresip SIP trace (-s) and prints one line per message
      exchanged with PEER (HOST:PORT): "out METHOD", "in METHOD",
      "out CODE METHOD" or "in CODE METHOD".

PHONE is baresip:PORT (ctrl_tcp) or linphone:PATH (the daemon's socket).
"""
import json
import os
import re
import socket
import sys
import time


class Baresip:
    def __init__(self, port, timeout=5.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.events = []
        self.n = 0

    def _frames(self, wait):
        """Reads what arrives within |wait| seconds; returns decoded frames."""
        out = []
        self.s.settimeout(max(0.01, wait))
        try:
            data = self.s.recv(65536)
            if data:
                self.buf += data
        except socket.timeout:
            pass
        while True:
            colon = self.buf.find(b":")
            if colon <= 0 or not self.buf[:colon].isdigit():
                break
            n = int(self.buf[:colon])
            if len(self.buf) < colon + 1 + n + 1:
                break
            body = self.buf[colon + 1:colon + 1 + n]
            self.buf = self.buf[colon + 2 + n:]
            try:
                out.append(json.loads(body))
            except ValueError:
                pass
        for f in out:
            if f.get("event"):
                self.events.append(f)
        return out

    def command(self, cmd, params=None, wait=5.0):
        self.n += 1
        token = "t%d" % self.n
        msg = {"command": cmd, "token": token}
        if params:
            msg["params"] = params
        body = json.dumps(msg).encode()
        self.s.sendall(str(len(body)).encode() + b":" + body + b",")
        end = time.monotonic() + wait
        while time.monotonic() < end:
            for f in self._frames(end - time.monotonic()):
                if f.get("response") and f.get("token") == token:
                    return f.get("ok", False), f.get("data", "")
        return False, "no response"

    def poll(self, wait):
        self._frames(wait)

    def seen(self, etype):
        return any(e.get("type") == etype for e in self.events)

    def dial(self, uri):
        return self.command("dial", uri)[0]

    def hangup(self):
        return self.command("hangup")[0]

    def registered(self):
        ok, data = self.command("reginfo")
        return ok and "OK" in data and "ERR" not in data

    def call_state(self):
        """'established', 'none' or 'other' for the current call."""
        ok, data = self.command("listcalls")
        if ok and "ESTABLISHED" in data:
            return "established"
        if ok and "Active calls (0)" in data:
            return "none"
        return "other"


class Linphone:
    def __init__(self, path, timeout=5.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.path = path

    def command(self, line, wait=5.0):
        """Sends one command; returns the daemon's answer text."""
        self.s.sendall(line.encode() + b"\n")
        buf = b""
        end = time.monotonic() + wait
        while time.monotonic() < end:
            self.s.settimeout(max(0.01, min(0.3, end - time.monotonic())))
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                if buf.endswith(b"\n\n"):
                    break
                continue
            if not data:
                break
            buf += data
            if buf.endswith(b"\n\n") or buf.endswith(b"\n\n\n"):
                break
        return buf.decode(errors="replace")

    def poll(self, wait):
        time.sleep(wait)

    def seen(self, etype):
        return False

    def dial(self, uri):
        return "Status: Ok" in self.command("call " + uri)

    def hangup(self):
        return "Status: Ok" in self.command("terminate")

    def registered(self):
        return "LinphoneRegistrationOk" in self.command("register-status ALL")

    def call_state(self):
        out = self.command("call-status")
        if "No current call" in out:
            return "none"
        if "StreamsRunning" in out or "LinphoneCallConnected" in out:
            return "established"
        return "other"


def open_phone(spec, timeout=5.0):
    kind, _, where = spec.partition(":")
    if kind == "baresip":
        return Baresip(int(where), timeout)
    if kind == "linphone":
        return Linphone(where, timeout)
    raise SystemExit("unknown phone " + spec)


def until(secs, fn):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            if fn():
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def baresip_config(d, sip_port, ctrl_port, account):
    os.makedirs(d, exist_ok=True)
    dev = "b%d" % sip_port
    with open(os.path.join(d, "config"), "w") as f:
        f.write(f"""poll_method epoll
sip_listen 127.0.0.1:{sip_port}
call_local_timeout 30
audio_player aubridge,{dev}
audio_source aubridge,{dev}
audio_alert aubridge,{dev}
module_path /usr/lib/baresip/modules
module g711.so
module aubridge.so
module_tmp uuid.so
module_tmp account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl_port}
""")
    with open(os.path.join(d, "accounts"), "w") as f:
        f.write(account + "\n")
    with open(os.path.join(d, "contacts"), "w") as f:
        f.write("")


def linphone_config(path, sip_port, rtp_port):
    with open(path, "w") as f:
        f.write(f"""[sip]
sip_port={sip_port}
sip_tcp_port=-1
sip_tls_port=-1
bind_address=127.0.0.1
[rtp]
audio_rtp_port={rtp_port}
video_rtp_port={rtp_port + 2}
[net]
auto_net_state_mon=0
[video]
capture=0
display=0
""")


def call(caller_spec, callee_spec, uri, secs):
    caller = open_phone(caller_spec)
    callee = open_phone(callee_spec)
    steps = []

    def step(name, ok):
        if ok:
            steps.append(name)
            print(name, flush=True)
        return ok

    if not step("dialed", caller.dial(uri)):
        return 1
    time.sleep(0.2)
    # Up, or already over (a final error): no waiting out a failed call.
    state = [None]

    def settled():
        state[0] = caller.call_state()
        return state[0] in ("established", "none")
    ok = until(secs, settled) and state[0] == "established"
    if isinstance(caller, Baresip):
        step("ringing", caller.seen("CALL_RINGING"))
    step("established-caller", ok)
    step("established-callee",
         until(secs, lambda: callee.call_state() == "established"))
    time.sleep(0.5)
    step("hung-up", caller.hangup())
    step("closed-callee", until(secs, lambda: callee.call_state() == "none"))
    step("closed-caller", until(secs, lambda: caller.call_state() == "none"))
    want = 7 if isinstance(caller, Baresip) else 6
    return 0 if len(steps) == want else 1


def _dial_established(phone, uri, secs, steps):
    """Dials uri; appends "dialed" and "established-caller" to steps as
    they happen; True when the call is established within secs."""
    if not phone.dial(uri):
        return False
    steps.append("dialed")
    state = [None]

    def settled():
        state[0] = phone.call_state()
        return state[0] in ("established", "none")
    time.sleep(0.2)
    if not (until(secs, settled) and state[0] == "established"):
        return False
    steps.append("established-caller")
    return True


def dial(spec, uri, secs):
    phone = open_phone(spec)
    steps = []
    if _dial_established(phone, uri, secs, steps):
        time.sleep(1)
        if phone.hangup():
            steps.append("hung-up")
        if until(secs, lambda: phone.call_state() == "none"):
            steps.append("closed-caller")
    for s in steps:
        print(s)
    return 0 if len(steps) == 4 else 1


def dial_wait(spec, uri, secs):
    phone = open_phone(spec)
    steps = []
    if _dial_established(phone, uri, secs, steps):
        if until(secs, lambda: phone.call_state() == "none"):
            steps.append("closed-by-peer")
    for s in steps:
        print(s)
    return 0 if len(steps) == 3 else 1


def hangup_answered(spec, secs):
    phone = open_phone(spec)
    steps = []
    if until(secs, lambda: phone.call_state() == "established"):
        steps.append("established-callee")
        time.sleep(1)
        if phone.hangup():
            steps.append("hung-up")
        if until(secs, lambda: phone.call_state() == "none"):
            steps.append("closed-callee")
    for s in steps:
        print(s)
    return 0 if len(steps) == 3 else 1


# baresip's other threads print to the same log (its call status is
# written over and over with a carriage return and no newline), so any
# line of a trace may start with their text, and a line of theirs may
# come between a trace's head and its start line: the head, the start
# line and CSeq are found wherever they sit in a line.
TRACE_HEAD = re.compile(r"(UDP|TCP|TLS) (\S+) -> (\S+)$")
START_LINE = re.compile(r"(SIP/2\.0 \d{3} |[A-Z]+ \S+ SIP/2\.0$)")
CSEQ = re.compile(r"(?i)cseq:\s*\d+\s+(\S+)")


def trace(log, peer):
    with open(log, "rb") as f:
        text = f.read().decode(errors="replace")
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", l).rstrip("\r")
             for l in text.split("\n")]
    for i, line in enumerate(lines):
        m = TRACE_HEAD.search(line.strip())
        if not m:
            continue
        src, dst = m.group(2), m.group(3)
        if peer not in (src, dst):
            continue
        way = "out" if dst == peer else "in"
        start = None
        for j in range(i + 1, min(i + 6, len(lines))):
            if TRACE_HEAD.search(lines[j].strip()):
                break
            sm = START_LINE.search(lines[j])
            if sm:
                start = j
                first = lines[j][sm.start():].strip().split()
                break
        if start is None:
            continue
        cseq = ""
        for l in lines[start + 1:start + 40]:
            cm = CSEQ.search(l)
            if cm:
                cseq = cm.group(1)
                break
            if not l.strip():
                break
        if first[0] == "SIP/2.0":
            print(f"{way} {first[1]} {cseq}")
        else:
            print(f"{way} {first[0]}")


def free_ports(n):
    held, out = [], []
    for _ in range(50 * n):
        if len(out) == n:
            break
        socks = []
        try:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(u)
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            if port >= 65535:
                raise OSError
            for p, kind in ((port, socket.SOCK_STREAM),
                            (port + 1, socket.SOCK_DGRAM),
                            (port + 1, socket.SOCK_STREAM)):
                t = socket.socket(socket.AF_INET, kind)
                socks.append(t)
                t.bind(("127.0.0.1", p))
        except OSError:
            for t in socks:
                t.close()
            continue
        held += socks
        out.append(port)
    for t in held:
        t.close()
    if len(out) < n:
        raise SystemExit("no free ports")
    print(" ".join(map(str, out)))


def main():
    cmd = sys.argv[1]
    a = sys.argv[2:]
    if cmd == "baresip-config":
        baresip_config(a[0], int(a[1]), int(a[2]), a[3])
        return 0
    if cmd == "linphone-config":
        linphone_config(a[0], int(a[1]), int(a[2]))
        return 0
    if cmd == "ready":
        secs = float(a[1]) if len(a) > 1 else 10

        def answers():
            p = open_phone(a[0], 1.0)
            if isinstance(p, Baresip):
                return p.command("reginfo", wait=1.0)[0]
            return "Status" in p.command("help register", wait=1.0)
        return 0 if until(secs, answers) else 1
    if cmd == "register":
        out = open_phone(a[0]).command(f"register {a[1]} {a[2]}")
        print(out)
        return 0 if "Status: Ok" in out else 1
    if cmd == "registered":
        secs = float(a[1]) if len(a) > 1 else 10
        p = open_phone(a[0])
        return 0 if until(secs, p.registered) else 1
    if cmd == "call":
        return call(a[0], a[1], a[2], float(a[3]) if len(a) > 3 else 10)
    if cmd == "dial":
        return dial(a[0], a[1], float(a[2]) if len(a) > 2 else 10)
    if cmd == "dial-wait":
        return dial_wait(a[0], a[1], float(a[2]) if len(a) > 2 else 10)
    if cmd == "hangup-answered":
        return hangup_answered(a[0], float(a[1]) if len(a) > 1 else 10)
    if cmd == "free-ports":
        free_ports(int(a[0]))
        return 0
    if cmd == "trace":
        trace(a[0], a[1])
        return 0
    raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    sys.exit(main())
