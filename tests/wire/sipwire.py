#!/usr/bin/env python3
"""Reads the SIP messages a baresip phone traced (baresip -s) and checks
their bytes, for the wire tests.

  sipwire.py LOG PEER WAY START [HEADER]
      Prints the values of HEADER (all of them, in order, one a line; a
      comma-separated header counts as several) of the first message
      exchanged with PEER (HOST:PORT), WAY "in" (from PEER) or "out",
      whose first line starts with START ("INVITE ", "SIP/2.0 200"; a
      response also matches on CSeq: "SIP/2.0 200|INVITE"). Without
      HEADER prints the whole message. Exit 1 if there is none.
"""
import re
import sys

HEAD = re.compile(r"^(UDP|TCP|TLS) (\S+) -> (\S+)$")


def messages(log):
    with open(log, "rb") as f:
        text = f.read().decode(errors="replace")
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", l).rstrip("\r") for l in text.split("\n")]
    i = 0
    while i < len(lines):
        m = HEAD.match(lines[i].strip())
        i += 1
        if not m:
            continue
        body = []
        while i < len(lines) and lines[i].strip() and not HEAD.match(lines[i].strip()):
            body.append(lines[i].strip())
            i += 1
        yield m.group(2), m.group(3), body


def values(body, name):
    out = []
    for line in body[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            # Header values split at commas outside <>.
            depth, cur = 0, ""
            for ch in v:
                depth += ch == "<"
                depth -= ch == ">"
                if ch == "," and depth == 0:
                    out.append(cur.strip())
                    cur = ""
                else:
                    cur += ch
            out.append(cur.strip())
    return out


def main():
    log, peer, way, start = sys.argv[1:5]
    header = sys.argv[5] if len(sys.argv) > 5 else None
    start, _, cseq = start.partition("|")
    for src, dst, body in messages(log):
        if not body or (way == "in") != (src == peer) or peer not in (src, dst):
            continue
        if not body[0].startswith(start):
            continue
        if cseq and not any(v.endswith(" " + cseq) for v in values(body, "CSeq")):
            continue
        print("\n".join(values(body, header) if header else body))
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
