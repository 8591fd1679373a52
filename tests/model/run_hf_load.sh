#!/usr/bin/env bash
# run_hf_load.sh — runs hf_load.py with LMSENS_PYTHON; exit 77 (skip) without it.
[ -n "${LMSENS_PYTHON:-}" ] || { echo "SKIP: LMSENS_PYTHON is not set"; exit 77; }
exec "$LMSENS_PYTHON" "$(dirname "$0")/hf_load.py" --lmsens "${LMSENS_BIN:?}" "$@"
