#!/bin/sh
# h5py_schema.sh — runs check_h5_schema.py (h5py + json only) on the job
# directory that test_report leaves in $LMSENS_BUILD_DIR/report-fixture/run.
# Skips (77) only when no project Python is configured.
set -eu
if [ -z "${LMSENS_PYTHON:-}" ]; then
	echo "LMSENS_PYTHON is not set (run scripts/setup-python.sh): skipping"
	exit 77
fi
exec "$LMSENS_PYTHON" "$LMSENS_SOURCE_DIR/tests/report/check_h5_schema.py" \
	"$LMSENS_BUILD_DIR/report-fixture/run"
