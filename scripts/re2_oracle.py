"""Compiles regex patterns with Google's RE2 (default options, as Envoy does).

Reads one JSON string per line on stdin; writes one JSON object per line on stdout:
{"ok": true, "programSize": N} or {"ok": false, "error": "..."}. Used by
tests/re2_differential.rs through scripts/re2-oracle.sh.
"""
import json
import sys

import re2

for line in sys.stdin:
    pattern = json.loads(line)
    try:
        compiled = re2.compile(pattern)
        print(json.dumps({"ok": True, "programSize": compiled.programsize}))
    except re2.error as e:
        message = e.args[0] if e.args else str(e)
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        print(json.dumps({"ok": False, "error": str(message)}))
