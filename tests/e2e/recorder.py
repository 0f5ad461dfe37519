#!/usr/bin/env python3
"""Stand-in for an exporter (mongodb_exporter) where a test wants the exact
environment it was given.  vaultexec execs it in the exporter's place; it writes its
argv and the variables named in RECORD_VARS to RECORD_TO (mode 0600) as
JSON, for the test to compare, and exits 0."""
import json
import os
import sys

out = os.environ["RECORD_TO"]
names = os.environ.get("RECORD_VARS", "").split(",")
fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump({"argv": sys.argv, "env": {n: os.environ.get(n) for n in names if n}}, f)
