#!/usr/bin/env bash
# modelopt-gpu.sh — lmsens's gradient scores vs NVIDIA ModelOpt's
# mtq.auto_quantize on a GPU (tests/autoquant_e2e/score_ref_gpu.py; results in
# docs/numerics.md §9). The GPU machine has no network and no ModelOpt, so
# this has two halves (see shared/GPU-MACHINE.md):
#
#   scripts/modelopt-gpu.sh prepare   (here, with network and nvcc)
#       downloads the py3.12 manylinux wheels of nvidia-modelopt 0.47.0 and the
#       dependencies that machine lacks into .whl/ (~21 MB; pins from
#       scripts/requirements-reference.txt), builds lmsens with CUDA (sm_90,
#       Release) in $BUILD (default build-gpu) and copies the binary into
#       .gpubin-modelopt/; stages .devlibs/ if it is missing.
#   scripts/modelopt-gpu.sh run       (there, repository root; carry .whl,
#                                      .gpubin-modelopt, .devlibs)
#       installs the wheels into /tmp/site (no index, no dependencies), then
#       runs score_ref_gpu.py, which JIT-builds ModelOpt's CUDA extensions with
#       the machine's nvcc + ninja (~1-2 min) and compares. Log: $OUT/modelopt-gpu.log
#       (or /tmp/modelopt-gpu.log). Exit status: the test's (0, 1, 77).
#
# Also registered as the CTest test test_pipeline_modelopt_gpu (label gpu),
# which skips (77) without a GPU or without ModelOpt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bindir=.gpubin-modelopt
# The machine's Python has torch, transformers, numpy, ninja, nvidia-ml-py,
# scipy, rich, regex, tqdm, pyyaml, safetensors: only these travel.
wheels=(nvidia-modelopt==0.47.0 PuLP==3.3.2 pydantic==2.14.3 pydantic-core==2.50.4
	annotated-types==0.8.0 typing-inspection==0.4.5 omegaconf==2.4.0 typing-extensions==4.16.0)

case "${1:-}" in
prepare)
	py=python3
	[ -x .venv/bin/python ] && py=.venv/bin/python
	grep -qx '/.whl/' .git/info/exclude 2>/dev/null || grep -qx '/.whl/' .gitignore || echo /.whl/ >>.git/info/exclude
	mkdir -p .whl
	"$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${wheels[@]}"
	build=${BUILD:-build-gpu}
	cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DLMSENS_CUDA=ON >/dev/null
	cmake --build "$build" -j2 --target lmsens
	mkdir -p "$bindir"
	cp "$build/lmsens" "$bindir/"
	[ -d .devlibs ] || bash ../shared/device/stage-libs.sh
	[ -f .devlibs/libgomp.so.1 ] || cp -L /lib/x86_64-linux-gnu/libgomp.so.1 .devlibs/
	du -sh .whl "$bindir" .devlibs
	echo "now on the GPU machine (carry .whl $bindir .devlibs): scripts/modelopt-gpu.sh run"
	;;
run)
	log=${OUT:-/tmp}/modelopt-gpu.log
	[ -d /tmp/site/modelopt ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
	export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
	export LD_LIBRARY_PATH=$root/.devlibs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	export LMSENS_BIN=$root/$bindir/lmsens LMSENS_SOURCE_DIR=$root LMSENS_CONF_DIR=$root/conf
	export LMSENS_PYTHON=python3 PYTHONUNBUFFERED=1
	nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
	set +e
	python3 tests/autoquant_e2e/score_ref_gpu.py 2>&1 | tee "$log" | grep -v "it/s]\|^Loading weights\|^Inserted\|Warning\|warnings.warn"
	rc=${PIPESTATUS[0]}
	echo "score_ref_gpu.py exit status $rc (log $log)"
	exit "$rc"
	;;
*)
	sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
