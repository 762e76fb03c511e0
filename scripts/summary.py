#!/usr/bin/env python3
"""Print the suite summary from Meson's testlog.json; exit 1 on failure.

The last line is always `N passed, N failed` (CI reads it).  A skipped test
is not counted as passed: it is listed and counted as failed, because a
test that could not run has not shown anything.
"""
import json
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "build/meson-logs/testlog.json"
passed, failed = 0, []
try:
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            if t.get("result") in ("OK", "EXPECTEDFAIL"):
                passed += 1
            else:
                failed.append((t.get("name"), t.get("result")))
except FileNotFoundError:
    print(f"no test log at {path}")
    print("0 passed, 1 failed")
    sys.exit(1)
for name, result in failed:
    print(f"FAILED: {name} ({result})")
print(f"{passed} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
