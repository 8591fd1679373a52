#!/bin/sh
# Runs test_quant_ref.py with the project's reference Python ($LMSENS_PYTHON);
# skips (77) when none is configured. Usage: run_quant_ref.sh QUANT_DRIVER
if [ -z "$LMSENS_PYTHON" ] || [ ! -x "$LMSENS_PYTHON" ]; then
	echo "SKIP: LMSENS_PYTHON is not set to a Python with torch"
	exit 77
fi
exec "$LMSENS_PYTHON" "$(dirname "$0")/test_quant_ref.py" "$1"
