#!/usr/bin/env python3
"""Counts what a meson test run ran: each TAP subtest (Criterion --tap, fuzz
replays, wire scripts) once, each plain exit-code test once. Prints
"PASSED FAILED" and lists failures on stderr, and the TAP TODO lines (known
failures, counted as neither)."""
import json
import re
import sys

passed = failed = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    rec = json.loads(line)
    ok_lines = not_ok = 0
    for out in (rec.get("stdout") or "").splitlines():
        if re.match(r"^not ok\b.*#\s*TODO\b", out, re.I):
            # A known failure the script marks TODO: shown, not counted.
            print(f"TODO: {rec['name']}: {out}", file=sys.stderr)
        elif re.match(r"^not ok\b", out):
            not_ok += 1
            print(f"FAILED: {rec['name']}: {out}", file=sys.stderr)
        elif re.match(r"^ok\b", out):
            ok_lines += 1
    if ok_lines or not_ok:
        passed += ok_lines
        failed += not_ok
        # A TAP test can also fail outside its lines (crash, bad plan).
        if rec["result"] not in ("OK", "EXPECTEDFAIL", "SKIP") and not_ok == 0:
            failed += 1
            print(f"FAILED: {rec['name']}: {rec['result']}", file=sys.stderr)
    elif rec["result"] in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif rec["result"] != "SKIP":
        failed += 1
        print(f"FAILED: {rec['name']}: {rec['result']}", file=sys.stderr)
print(passed, failed)
