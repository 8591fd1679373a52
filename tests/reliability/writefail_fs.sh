#!/bin/bash
# writefail_fs.sh — the CLI's writers on a real full filesystem and a
# read-only one (label e2e): a 64 KiB tmpfs and a read-only tmpfs, mounted in
# a private mount namespace (unshare -m as root, unshare -rm otherwise). Skips
# (exit 77) where mounting is not permitted; test_writefail covers the same
# writers everywhere with RLIMIT_FSIZE.
#   For `lmsens report --out` (JSON, Markdown, SVG), `lmsens mkmodel --out`
#   (safetensors, index, config.json, tokenizer) and a whole `lmsens -cn demo`
#   run (HDF5 statistics, manifests, reports, .lmsens/): exit code 1 or 2
#   with an "error:" line that names the path, and no file under a final
#   name that is partial (every .json parses, every .h5 opens, every
#   .safetensors has its full declared size), no temporary file left.
set -u
BIN=${LMSENS_BIN:?}
if [ "${1:-}" != "--inside" ]; then
	if [ "$(id -u)" = 0 ]; then
		exec unshare -m --propagation private bash "$0" --inside
	fi
	unshare -rm true 2>/dev/null || { echo "cannot make a mount namespace: skipped"; exit 77; }
	exec unshare -rm --propagation private bash "$0" --inside
fi
T=$(mktemp -d)
cleanup() {
	umount "$T/full" "$T/ro" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/full" "$T/ro"
mount -t tmpfs -o size=64k tmpfs "$T/full" 2>/dev/null &&
	mount -t tmpfs -o ro,size=64k tmpfs "$T/ro" 2>/dev/null ||
	{ echo "mount not permitted: skipped"; exit 77; }
export LMSENS_MPI=0 LMS_LOG_LEVEL=warn
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

complete_files() { # dir label
	[ -z "$(find "$1" -name '*.tmp.*' 2>/dev/null)" ] || bad "$2: temporary file left"
	local f
	while IFS= read -r f; do
		python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$f" 2>/dev/null || bad "$2: partial $f"
	done < <(find "$1" -name '*.json' 2>/dev/null)
	while IFS= read -r f; do
		h5dump -H "$f" >/dev/null 2>&1 || bad "$2: partial $f"
	done < <(find "$1" -name '*.h5' 2>/dev/null)
	while IFS= read -r f; do
		python3 - "$f" <<'EOF' || bad "$2: partial $f"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
end = max([v["data_offsets"][1] for k, v in h.items() if k != "__metadata__"] + [0])
sys.exit(0 if len(b) == 8 + n + end else 1)
EOF
	done < <(find "$1" -name '*.safetensors' 2>/dev/null)
}

expect_error() { # label rc errfile path-substring
	if [ "$2" = 1 ] || [ "$2" = 2 ]; then ok "$1: rc $2"; else bad "$1: rc $2, want 1 or 2"; fi
	grep -q "^error: .*$4" "$3" && ok "$1: the error names the path" ||
		{ bad "$1: no error naming $4"; head -3 "$3"; }
}

# A model and a finished job to report on, outside the small filesystems.
"$BIN" mkmodel --preset tiny --out "$T/model" >/dev/null || { echo "mkmodel failed"; exit 1; }
(cd "$T" && "$BIN" -cn demo "model.path=$T/model" dataset.max_calib_samples=8 autoquant.score_size=8 \
	runner.output_dir="$T/job" hydra.run.dir="$T/hydra" >/dev/null 2>"$T/job.err") ||
	{ echo "demo run failed"; cat "$T/job.err"; exit 1; }

for fs in full ro; do
	# fill the full one first with a file, so that only a few KiB are left
	[ $fs = full ] && head -c 56000 /dev/zero >"$T/full/filler"
	"$BIN" report --out "$T/$fs/report" "$T/job" 2>"$T/e" >/dev/null
	expect_error "report on $fs fs" $? "$T/e" "$T/$fs"
	complete_files "$T/$fs" "report on $fs fs"
	"$BIN" mkmodel --preset tiny --out "$T/$fs/model" 2>"$T/e" >/dev/null
	expect_error "mkmodel on $fs fs" $? "$T/e" "$T/$fs"
	complete_files "$T/$fs" "mkmodel on $fs fs"
	(cd "$T" && "$BIN" -cn demo "model.path=$T/model" dataset.max_calib_samples=8 autoquant.score_size=8 \
		runner.output_dir="$T/$fs/run" hydra.run.dir="$T/$fs/hydra" >/dev/null 2>"$T/e")
	expect_error "demo run on $fs fs" $? "$T/e" "$T/$fs"
	complete_files "$T/$fs" "demo run on $fs fs"
	[ $fs = full ] && rm -f "$T/full/filler"
done
echo "$fails failed"
[ $fails = 0 ]
