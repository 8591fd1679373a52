#!/usr/bin/env python3
"""hf_load.py — checkpoints written by `lmsens mkmodel` load in HF transformers.

For each (preset, format, config form) given on the command line (default: tiny in
both formats and both forms), runs `lmsens mkmodel`, then
  * loads it with Qwen3VLForConditionalGeneration (qwen3_vl) or Qwen3ForCausalLM
    (qwen3) with output_loading_info=True and asserts there are no missing,
    unexpected or mismatched keys;
  * compares every state-dict tensor with the safetensors files (bit-exact bf16);
  * checks the tied / untied lm_head and the config values HF parsed;
  * runs a text-only forward on ids from the checkpoint's tokenizer (tiny/small);
  * checks that the qwen3 and qwen3_vl checkpoints of one seed give the same
    logits for text input (the reference says so by reading the code, §2.4).
Exit 77 (skip) when LMSENS_PYTHON lacks torch/transformers/safetensors.

usage: hf_load.py [--lmsens BIN] [--workdir DIR] [--preset tiny] [--big]
  --big   also the 4B preset (8.9 GB, GPU machine; needs ~20 GB free memory)
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import torch
    import transformers
    from safetensors.torch import load_file
    from transformers import Qwen3ForCausalLM, Qwen3VLForConditionalGeneration
except Exception as e:  # noqa: BLE001 - any import failure means "not available"
    print(f"SKIP: torch/transformers/safetensors not importable: {e}")
    sys.exit(77)


def mkmodel(lmsens, out, preset, fmt, form, seed=3):
    t0 = time.time()
    subprocess.run([lmsens, "mkmodel", "--preset", preset, "--format", fmt, "--config-form", form,
                    "--seed", str(seed), "--out", out], check=True)
    return time.time() - t0


def stored_tensors(d):
    out = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            out.update(load_file(os.path.join(d, f)))
    return out


def load(d, fmt):
    cls = Qwen3VLForConditionalGeneration if fmt == "qwen3_vl" else Qwen3ForCausalLM
    model, info = cls.from_pretrained(d, dtype=torch.bfloat16, output_loading_info=True)
    return model, info


def check_one(lmsens, work, preset, fmt, form, failures):
    d = os.path.join(work, f"{preset}-{fmt}-{form}")
    secs = mkmodel(lmsens, d, preset, fmt, form)
    t0 = time.time()
    model, info = load(d, fmt)
    load_s = time.time() - t0
    tag = f"{preset}/{fmt}/{form}"
    for k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        if info.get(k):
            failures.append(f"{tag}: {k}: {sorted(info[k])[:5]}")
    stored = stored_tensors(d)
    sd = model.state_dict()
    for name, t in stored.items():
        if name not in sd:
            failures.append(f"{tag}: stored tensor {name} not in the HF model")
        elif sd[name].dtype != torch.bfloat16 or not torch.equal(sd[name], t):
            failures.append(f"{tag}: {name} differs after loading")
    cfg = model.config.get_text_config() if fmt == "qwen3_vl" else model.config
    tied = model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    want_tied = preset in ("tiny", "qwen3-vl-4b")
    if tied != want_tied:
        failures.append(f"{tag}: lm_head tied={tied}, expected {want_tied}")
    theta = (getattr(cfg, "rope_parameters", None) or {}).get("rope_theta",
                                                            getattr(cfg, "rope_theta", None))
    if theta != 5000000:
        failures.append(f"{tag}: rope_theta parsed as {theta}")
    print(f"{tag}: mkmodel {secs:.2f} s, from_pretrained {load_s:.2f} s, "
          f"{len(stored)} tensors, tied={tied}")
    return d, model


def check_4b_shapes(lmsens, work, failures):
    """qwen3-vl-4b written with --zeros (sparse, instant): HF builds the model from
    the written config.json on the meta device and its state dict must match the
    safetensors headers name for name and shape for shape (no data is read)."""
    from safetensors import safe_open
    from transformers import AutoConfig
    for fmt, cls in (("qwen3_vl", Qwen3VLForConditionalGeneration), ("qwen3", Qwen3ForCausalLM)):
        d = os.path.join(work, f"q4b-{fmt}")
        subprocess.run([lmsens, "mkmodel", "--preset", "qwen3-vl-4b", "--zeros", "--format", fmt,
                        "--out", d], check=True)
        cfg = AutoConfig.from_pretrained(d)
        with torch.device("meta"):
            model = cls(cfg)
        want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        got = {}
        for f in os.listdir(d):
            if f.endswith(".safetensors"):
                with safe_open(os.path.join(d, f), framework="pt") as sf:
                    for k in sf.keys():
                        got[k] = tuple(sf.get_slice(k).get_shape())
        tied = model.config.tie_word_embeddings
        missing = sorted(set(want) - set(got) - ({"lm_head.weight"} if tied else set()))
        unexpected = sorted(set(got) - set(want))
        mismatched = sorted(k for k in got if k in want and got[k] != want[k])
        n_params = sum(v.numel() for k, v in model.state_dict().items() if k != "lm_head.weight" or not tied)
        print(f"qwen3-vl-4b/{fmt}: {len(got)} stored tensors, HF expects {len(want)} "
              f"(tied={tied}), {n_params:,} parameters")
        for what, v in (("missing", missing), ("unexpected", unexpected), ("mismatched", mismatched)):
            if v:
                failures.append(f"qwen3-vl-4b/{fmt}: {what} {v[:5]}")
        want_n = 4437815808 if fmt == "qwen3_vl" else 4022468096
        if n_params != want_n:
            failures.append(f"qwen3-vl-4b/{fmt}: HF counts {n_params} parameters, want {want_n}")
        shutil.rmtree(d, ignore_errors=True)


def forward(model, d):
    ids = [[1, 2, 3, 4, 5, 6, 7, 8]]
    tok = os.path.join(d, "tokenizer.json")
    if os.path.exists(tok):
        from tokenizers import Tokenizer
        ids = [Tokenizer.from_file(tok).encode("A man riding a bike down a street.").ids]
    with torch.no_grad():
        return model(input_ids=torch.tensor(ids)).logits.float()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lmsens", default=os.environ.get("LMSENS_BIN", "lmsens"))
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--big", action="store_true")
    a = ap.parse_args()
    work = a.workdir or tempfile.mkdtemp(prefix="lmsens-hf-")
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    failures = []
    try:
        check_4b_shapes(a.lmsens, work, failures)
        presets = [a.preset] + (["qwen3-vl-4b"] if a.big else [])
        for preset in presets:
            logits = {}
            for fmt in ("qwen3_vl", "qwen3"):
                for form in (("v5", "4.57") if preset != "qwen3-vl-4b" else ("v5",)):
                    d, model = check_one(a.lmsens, work, preset, fmt, form, failures)
                    logits[(fmt, form)] = forward(model, d)
                    del model
                    if preset == "qwen3-vl-4b":
                        shutil.rmtree(d, ignore_errors=True)
            vals = list(logits.values())
            for k, v in logits.items():
                if not torch.isfinite(v).all():
                    failures.append(f"{preset} {k}: non-finite logits")
                diff = (v - vals[0]).abs().max().item()
                print(f"{preset} {k}: max |logits - first| = {diff:.3g}")
                if diff != 0.0:
                    failures.append(f"{preset} {k}: logits differ from {list(logits)[0]} by {diff}")
    finally:
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print("FAIL:", f)
    print(f"{'FAILED' if failures else 'OK'}: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
