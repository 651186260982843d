#!/usr/bin/env python3
"""Kamailio's JSON-RPC (jsonrpcs module, Unix datagram socket) for the
comparison scripts, with its answers reshaped into sipflow-proxy's `ctl`
JSON so that one check can be written for both servers.

usage: kamrpc.py SOCKET dump|stats|contacts|call METHOD [PARAM...]
  dump      {"bindings": [...]} with the fields test checks use
  stats     {"contacts": N, "rx_bad": N, ...} from Kamailio's counters
  contacts  the number of contacts in the location table
  call      the raw answer of METHOD
Every wait is bounded (3 s)."""
import json
import os
import socket
import sys
import tempfile


def call(path, method, *params):
    me = os.path.join(tempfile.mkdtemp(prefix="kamrpc."), "c.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.bind(me)
        s.settimeout(3)
        req = {"jsonrpc": "2.0", "method": method, "id": 1}
        if params:
            req["params"] = list(params)
        s.sendto(json.dumps(req).encode(), path)
        data = s.recv(64 * 1024 * 1024)
    finally:
        s.close()
        os.unlink(me)
        os.rmdir(os.path.dirname(me))
    ans = json.loads(data)
    if "error" in ans:
        raise SystemExit(f"{method}: {ans['error']}")
    return ans["result"]


def flow_of(c):
    """(transport, remote) of a contact: the `received` address fixed by
    fix_nated_register() when present, else the Contact URI's."""
    uri = c.get("Received") or c.get("Address", "")
    if uri in ("", "[not set]"):
        uri = c.get("Address", "")
    params = uri.split(";")[1:]
    transport = "udp"
    for p in params:
        if p.lower().startswith("transport="):
            transport = p.split("=", 1)[1].lower()
    # WebSocket over TLS: Kamailio writes transport=ws, its socket is tls.
    if transport == "ws" and c.get("Socket", "").startswith("tls:"):
        transport = "wss"
    hostport = uri.split(";")[0].split("@")[-1]
    if hostport.startswith("sip:"):
        hostport = hostport[4:]
    return transport, hostport


def dump(path):
    res = call(path, "ul.dump")
    out = []
    for dom in res.get("Domains", []):
        for rec in dom.get("Domain", {}).get("AoRs", []):
            info = rec.get("Info", {})
            aor = info.get("AoR", "")
            for item in info.get("Contacts", []):
                c = item.get("Contact", {})
                transport, remote = flow_of(c)
                inst = c.get("Instance", "")
                rtt = c.get("KA-Roundtrip", 0)
                out.append({
                    "aor": aor if aor.startswith("sip:") else "sip:" + aor,
                    "contact": c.get("Address", ""),
                    "reg_id": c.get("Reg-Id", 0),
                    "instance": None if inst in ("", "[not set]") else inst,
                    "outbound": c.get("Reg-Id", 0) not in (0, None),
                    "flow": {"transport": transport, "remote": remote},
                    "keepalive": {"method": "options",
                                  "rtt_us": rtt if rtt else None},
                    "raw": c,
                })
    return {"bindings": out}


def all_stats(path):
    out = {}
    for line in call(path, "stats.get_statistics", "all"):
        k, _, v = line.partition(" = ")
        try:
            out[k.strip()] = int(v)
        except ValueError:
            pass
    return out


def stats(path):
    a = all_stats(path)
    return {
        "contacts": a.get("usrloc:location_contacts", 0),
        "rx_bad": sum(a.get("core:" + k, 0) for k in
                      ("bad_msg_hdr", "err_requests", "err_replies",
                       "bad_URIs_rcvd", "drop_requests")),
        "rcv_requests": a.get("core:rcv_requests", 0),
        "rcv_replies": a.get("core:rcv_replies", 0),
        "drop_replies": a.get("core:drop_replies", 0),
        "accepted_regs": a.get("registrar:accepted_regs", 0),
    }


def main():
    path, cmd = sys.argv[1], sys.argv[2]
    if cmd == "dump":
        print(json.dumps(dump(path)))
    elif cmd == "stats":
        print(json.dumps(stats(path)))
    elif cmd == "contacts":
        print(all_stats(path).get("usrloc:location_contacts", 0))
    elif cmd == "call":
        print(json.dumps(call(path, sys.argv[3], *sys.argv[4:]), indent=1))
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main()
