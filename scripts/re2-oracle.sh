#!/usr/bin/env bash
# Installs (or reuses) the real RE2 that tests/re2_differential.rs compares our RE2 syntax
# checker (crates/appmesh2istio/src/validate/re2.rs) with: Google's `google-re2` Python
# binding, whose wheels carry RE2 itself, pinned, in a private virtualenv in the cache.
# Nothing is installed system-wide and nothing ships with the plugin.
#
#   scripts/re2-oracle.sh ensure   create or reuse the virtualenv; prints its python
#   scripts/re2-oracle.sh python   print the virtualenv's python (may not exist yet)
#
# Environment: XDG_CACHE_HOME (cache root, default ~/.cache), PYTHON (default python3).
set -euo pipefail

GOOGLE_RE2_VERSION=1.1.20251105
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/appmesh2istio"
VENV="$CACHE_ROOT/re2-oracle-$GOOGLE_RE2_VERSION"
PY="$VENV/bin/python"

log() { printf '[re2-oracle] %s\n' "$*" >&2; }

case "${1:-}" in
    python)
        echo "$PY"
        ;;
    ensure)
        if [[ -x "$PY" ]] && "$PY" -c 'import re2' 2>/dev/null; then
            echo "$PY"
            exit 0
        fi
        log "creating $VENV with google-re2==$GOOGLE_RE2_VERSION"
        rm -rf "$VENV"
        mkdir -p "$CACHE_ROOT"
        "${PYTHON:-python3}" -m venv "$VENV" >&2
        "$PY" -m pip install --quiet --disable-pip-version-check \
            "google-re2==$GOOGLE_RE2_VERSION" >&2
        "$PY" -c 'import re2' >&2
        echo "$PY"
        ;;
    *)
        sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
