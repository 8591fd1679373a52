#!/usr/bin/env python3
"""Regenerates tests/data/autoquant_e2e/modelopt_manifest/
qwen3_tiny_w4a16_fp8_quant_manifest.json: ModelOpt's own AutoQuantize search
state (candidate_stats + best, formats as QuantRecipe strings) for the tiny
qwen3 checkpoint, written the way a Python runner dumps it.

    LMSENS_BIN=build/lmsens LMSENS_SOURCE_DIR=. .venv/bin/python \
        tests/autoquant_e2e/make_modelopt_manifest.py OUT.json

Settings: lmsens mkmodel --preset tiny --format qwen3 (seed 0), the first 16
captions of datasets/vlm-quantize-calib/coco2017_captions_small.txt, seq 48,
batch 4, 4 calibration and 3 scoring batches, formats INT4_BLOCKWISE_WEIGHT_ONLY
and FP8_DEFAULT, disabled *lm_head*, effective_bits 9.0, nvidia-modelopt 0.47.0
on the CPU."""
import json
import os
import subprocess
import sys
import tempfile

import modelopt.torch.quantization as mtq
import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import score_ref  # noqa: E402  (batches_for, the shared batch builder)


def main():
    out = sys.argv[1]
    work = tempfile.mkdtemp(prefix="lmsens-momanifest-")
    model_dir = os.path.join(work, "model")
    subprocess.run([os.environ["LMSENS_BIN"], "mkmodel", "--preset", "tiny", "--format", "qwen3",
                    "--out", model_dir], check=True, capture_output=True)
    batches = score_ref.batches_for(model_dir)
    model = transformers.Qwen3ForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16,
                                                          attn_implementation="eager")
    model.eval()
    model, state = mtq.auto_quantize(
        model, constraints={"effective_bits": 9.0},
        quantization_formats=[mtq.INT4_BLOCKWISE_WEIGHT_ONLY_CFG, mtq.FP8_DEFAULT_CFG],
        data_loader=batches, forward_step=lambda m, b: m(**b), loss_func=lambda o, b: o.loss,
        disabled_layers=["*lm_head*"], num_calib_steps=4, num_score_steps=3, method="gradient")
    cs = {k: {"formats": [str(f) for f in v["formats"]], "scores": [float(s) for s in v["scores"]],
              "costs": [float(c) for c in v["costs"]]} for k, v in state["candidate_stats"].items()}
    b = state["best"]
    best = {"recipe": {k: str(v) for k, v in b["recipe"].items()},
            "constraints": {k: float(v) for k, v in b["constraints"].items()},
            "score": float(b["score"]), "is_satisfied": bool(b["is_satisfied"])}
    with open(out, "w") as f:
        json.dump({"candidate_stats": cs, "best": best}, f, indent=2)


if __name__ == "__main__":
    main()
