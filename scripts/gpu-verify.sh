#!/usr/bin/env bash
# gpu-verify.sh — every gpu-labelled check of the repository in one command on
# the GPU machine, with a one-line-per-test summary (docs/cuda.md, "Whole
# suite at one commit"). CTest cannot run there as built here (its recorded
# Python is this machine's .venv), so this script calls what ctest -L gpu
# would: the op, engine, FP8-replay and KL-prep binaries, the whole-job,
# kl_div, debug-mode and debug-dump scripts, the NCCL group test when two or
# more GPUs are visible, and the ModelOpt comparison when the wheels are there.
#
#   here:  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
#              -DCMAKE_CUDA_ARCHITECTURES=90 -DLMSENS_CUDA=ON -DLMSENS_MPI=ON && cmake --build build-gpu -j2
#          scripts/gpu-verify.sh stage build-gpu     (packs the binaries into .gpubin/)
#          scripts/modelopt-gpu.sh prepare           (optional: .whl/ for the ModelOpt check;
#                                                     its lmsens is replaced by .gpubin's there)
#   there (carry .gpubin .devlibs [.whl]):  bash scripts/gpu-verify.sh run
#
# GPUBIN=DIR (default .gpubin) names the folder that stage writes and run
# reads, so that several people can stage at once.
# Logs go to $OUT (or /tmp/gpu-verify); the summary is $OUT/verify.txt. Exit
# status 1 when any check failed, else 0 (skipped checks are listed as such).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
gb=${GPUBIN:-.gpubin}
bins=(lmsens h5cmp sweepcmp test_ops_cuda test_engine_cuda test_fp8_replay test_kl_prep)

case "${1:-}" in
stage)
	build=${2:?usage: gpu-verify.sh stage BUILD_DIR}
	# Seven statically linked CUDA binaries are ~60 MB, the carry limit 64 MiB:
	# they travel stripped and xz-compressed (~12 MB) and are unpacked there.
	rm -rf "$gb" && mkdir -p "$gb/x"
	for b in "${bins[@]}"; do
		f=$(find "$build" -type f -name "$b" -perm -u+x | head -n 1)
		[ -n "$f" ] || { echo "gpu-verify: $b not built in $build" >&2; exit 2; }
		cp "$f" $gb/x/ && strip $gb/x/"$b"
	done
	tar -C $gb/x -cf - . | xz -T2 -6 >$gb/bin.tar.xz && rm -rf $gb/x
	[ -d .devlibs ] || bash ../shared/device/stage-libs.sh
	du -sh $gb .devlibs
	;;
run)
	out=${OUT:-/tmp/gpu-verify}
	mkdir -p "$out"
	if [ -f $gb/bin.tar.xz ]; then
		xz -dc $gb/bin.tar.xz | tar -C $gb -xf - || exit 2
	fi
	if [ -d .whl ]; then
		mkdir -p .gpubin-modelopt && cp $gb/lmsens .gpubin-modelopt/
	fi
	export LD_LIBRARY_PATH=$root/.devlibs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	export LMSENS_BIN=$root/$gb/lmsens LMSENS_SOURCE_DIR=$root LMSENS_CONF_DIR=$root/conf
	export LMSENS_PYTHON=python3 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0
	h5cmp=$root/$gb/h5cmp
	sum=$out/verify.txt
	: >"$sum"
	nvidia-smi --query-gpu=name --format=csv,noheader | sort | uniq -c | tee -a "$sum"
	fails=0
	check() { # name command...
		local name=$1 t0 rc last
		shift
		t0=$(date +%s)
		"$@" >"$out/$name.log" 2>&1
		rc=$?
		last=$(grep -v '^\s*$' "$out/$name.log" | tail -n 1 | cut -c1-140)
		local line
		case $rc in
		0) line=$(printf '%-24s passed  %4ss  %s' "$name" $(($(date +%s) - t0)) "$last") ;;
		77) line=$(printf '%-24s skipped %4ss  %s' "$name" $(($(date +%s) - t0)) "$last") ;;
		*)
			line=$(printf '%-24s FAILED  %4ss  rc=%s %s' "$name" $(($(date +%s) - t0)) "$rc" "$last")
			fails=$((fails + 1))
			;;
		esac
		echo "$line" | tee -a "$sum"
	}
	check test_ops_cuda $gb/test_ops_cuda
	check test_engine_cuda $gb/test_engine_cuda
	check test_fp8_replay $gb/test_fp8_replay
	check test_kl_prep $gb/test_kl_prep
	check test_pipeline_cuda bash tests/gpu/test_pipeline_cuda.sh "$h5cmp"
	check test_kldiv_cuda bash tests/gpu/test_kldiv_cuda.sh "$h5cmp"
	check test_debug_nan_cuda bash tests/debug/test_debug_nan.sh cuda "$h5cmp"
	check test_debug_dump_cuda python3 tests/debug/test_debug_dump.py cuda "$h5cmp"
	if [ "$(nvidia-smi -L | wc -l)" -ge 2 ]; then
		check test_dp_gpu bash tests/dist/test_dp_gpu.sh "$root/$gb/sweepcmp" mpirun
	fi
	if [ -d .whl ] && [ -x .gpubin-modelopt/lmsens ]; then
		check modelopt_gpu bash scripts/modelopt-gpu.sh run
	fi
	echo "gpu-verify: $fails failed (logs in $out)" | tee -a "$sum"
	[ "$fails" -eq 0 ]
	;;
*)
	sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
