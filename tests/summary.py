#!/usr/bin/env python3
"""Adds up the JUnit XML files of the test command's pytest runs and the
meson test logs, and prints one closing line: 'N passed, N failed, N
skipped'.  Exits 1 on any failure or error, or if nothing ran."""
import glob
import json
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
for path in sys.argv[1:]:
    for f in glob.glob(path):
        if f.endswith(".xml"):
            for suite in ET.parse(f).getroot().iter("testsuite"):
                t = int(suite.get("tests", 0))
                fl = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
                sk = int(suite.get("skipped", 0))
                passed += t - fl - sk
                failed += fl
                skipped += sk
        elif f.endswith(".json"):  # meson's testlog.json: one object per line
            for line in open(f):
                r = json.loads(line)
                res = r.get("result")
                if res in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif res == "SKIP":
                    skipped += 1
                else:
                    failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
