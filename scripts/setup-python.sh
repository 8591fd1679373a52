#!/usr/bin/env bash
# setup-python.sh — creates .venv/ with the independent references the tests
# compare lmsens against: HF transformers (the model math), HF tokenizers (the
# token ids), NVIDIA ModelOpt (quantizers and AutoQuantize scores), torch,
# numpy, safetensors and h5py (reading lmsens's HDF5). Versions are pinned in
# scripts/requirements-reference.txt. Packages come from PyPI only.
# Re-running is cheap: it does nothing when the pins are already satisfied.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
req="$root/scripts/requirements-reference.txt"
stamp="$venv/.lmsens-requirements"

if [ -f "$stamp" ] && cmp -s "$stamp" "$req"; then
  echo "setup-python: .venv is up to date"
  exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -r "$req"
"$venv/bin/python" -c "import torch, transformers, tokenizers, safetensors, h5py, numpy, modelopt.torch.quantization" 2>/dev/null
cp "$req" "$stamp"
echo "setup-python: .venv ready ($("$venv/bin/python" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'))"
