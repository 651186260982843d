#!/usr/bin/env python3
"""Counts what a meson test run ran, one test per behaviour: each TAP subtest
of a Criterion binary or a wire script once, each plain exit-code test once,
and each fuzz target's corpus replay once (its seed files are inputs of one
test, not tests). Prints "PASSED FAILED" on stdout; on stderr the totals per
suite, every failure, and the TAP TODO lines (known failures a script marks
"# TODO": shown, counted as neither)."""
import json
import re
import sys
from collections import defaultdict

passed = failed = 0
per_suite = defaultdict(lambda: [0, 0])


def suite_of(name):
    # meson names tests "project:suite / name"
    m = re.match(r"^[^:]*:([^ ]+) / ", name)
    return m.group(1) if m else "other"


for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    rec = json.loads(line)
    suite = suite_of(rec["name"])
    ok_lines = not_ok = 0
    for out in (rec.get("stdout") or "").splitlines():
        if re.match(r"^not ok\b.*#\s*TODO\b", out, re.I):
            print(f"TODO: {rec['name']}: {out}", file=sys.stderr)
        elif re.match(r"^not ok\b", out):
            not_ok += 1
            print(f"FAILED: {rec['name']}: {out}", file=sys.stderr)
        elif re.match(r"^ok\b", out):
            ok_lines += 1
    good = rec["result"] in ("OK", "EXPECTEDFAIL")
    if suite.startswith("fuzz"):
        # One test per target: every seed replayed, no crash.
        p, f = (1, 0) if good and not_ok == 0 else (0, 1)
        if f and not not_ok:
            print(f"FAILED: {rec['name']}: {rec['result']}", file=sys.stderr)
    elif ok_lines or not_ok:
        p, f = ok_lines, not_ok
        # A TAP test can also fail outside its lines (crash, bad plan).
        if rec["result"] not in ("OK", "EXPECTEDFAIL", "SKIP") and not_ok == 0:
            f += 1
            print(f"FAILED: {rec['name']}: {rec['result']}", file=sys.stderr)
    elif good:
        p, f = 1, 0
    elif rec["result"] != "SKIP":
        p, f = 0, 1
        print(f"FAILED: {rec['name']}: {rec['result']}", file=sys.stderr)
    else:
        p, f = 0, 0
    passed += p
    failed += f
    per_suite[suite][0] += p
    per_suite[suite][1] += f

for suite in sorted(per_suite):
    p, f = per_suite[suite]
    print(f"  suite {suite}: {p} passed, {f} failed", file=sys.stderr)
print(passed, failed)
