#!/usr/bin/env python3
"""Independent check of lmsens's engine against Hugging Face transformers.

Writes a checkpoint with `lmsens mkmodel`, runs one batch through lmsens's
engine on the CPU backend (tests/reference/dump_engine: loss, logits, and the
output Y and output gradient dY = dLoss/dY of every linear layer), runs the
same batch through HF's own model class (Qwen3VLForConditionalGeneration or
Qwen3ForCausalLM, loss from `labels`, gradients by autograd hooks), and
compares tensor by tensor.

Two references per case:
  * float32: HF in fp32 on the same bf16 weights — correctness; lmsens keeps
    bf16 activations, so the differences are bf16-sized;
  * bfloat16: HF in bf16 — parity of the rounding points; differences come
    from accumulation order only, and grow through the layers.
Attention: "eager" for batches without fully masked query rows (HF eager
rounds the softmax to bf16, as lmsens does); "sdpa" (HF's default) for the
left-padded case, where pad queries see no key and SDPA returns 0, as lmsens.

Metrics per tensor: rel = ||got - ref|| / ||ref||, and max = max|got - ref| /
max|ref|. The tolerances (TOL below) sit next to the worst values measured
when they were set. Exit 0 pass, 1 fail, 77 skip (no torch/transformers).

Pinned versions (scripts/setup-python.sh): torch 2.15, transformers 5.17
(the version the shared fixtures were made with). transformers 5.x gives
text-only Qwen3-VL input positions 0..T-1 (the engine's default
LMS_POSITIONS_HF5).
"""
import argparse
import math
import os
import subprocess
import sys
import tempfile

try:
    import torch
    import transformers
    from safetensors.torch import load_file
except ImportError as exc:  # pragma: no cover
    print(f"skip: {exc}")
    sys.exit(77)

# (reference dtype, tensor class) -> rel tolerance (loss) or (rel, max).
# Measured worst when set (tiny qwen3_vl seed 7, tiny qwen3 seed 11, small
# qwen3_vl (V = 151936) seed 7; B=2, T=12; right/eager and left/sdpa):
#   float32:  loss 7.0e-5; logits rel 7.5e-3 max 8.0e-3; y rel 1.1e-2 max 1.5e-2;
#             x rel 1.1e-2 max 1.2e-2; dy rel 2.0e-2 max 2.3e-2
#   bfloat16: loss 5.1e-8; logits rel 7.1e-4 max 4.4e-3; y rel 1.1e-3 max 4.2e-3;
#             x rel 1.0e-3 max 4.7e-3; dy rel 8.0e-3 max 1.1e-2
#   (tiny in bf16 is bit-identical to HF: logits, x and dy differ by 0)
TOL = {
    ("float32", "loss"): 3e-4,
    ("float32", "logits"): (2e-2, 3e-2),
    ("float32", "y"): (3e-2, 4e-2),
    ("float32", "x"): (3e-2, 4e-2),
    ("float32", "dy"): (5e-2, 6e-2),
    ("bfloat16", "loss"): 1e-6,
    ("bfloat16", "logits"): (3e-3, 1.5e-2),
    ("bfloat16", "y"): (5e-3, 1.5e-2),
    ("bfloat16", "x"): (5e-3, 1.5e-2),
    ("bfloat16", "dy"): (2.5e-2, 3e-2),
}


def make_batch(B, T, V, pad, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, V, (B, T), generator=g, dtype=torch.int64)
    mask = torch.ones(B, T, dtype=torch.int64)
    if pad == "right" and B > 1:
        mask[1, T - 4:] = 0
    elif pad == "left" and B > 1:
        mask[0, :3] = 0
        mask[1, T - 2:] = 0
    return ids, mask


def write_batch(path, ids, mask):
    B, T = ids.shape
    with open(path, "w") as f:
        f.write(f"{B} {T}\n")
        f.write(" ".join(str(int(x)) for x in ids.flatten()) + "\n")
        f.write(" ".join(str(int(x)) for x in mask.flatten()) + "\n")


def run_hf(model_dir, fmt, ids, mask, dtype, attn):
    cls = (transformers.Qwen3VLForConditionalGeneration if fmt == "qwen3_vl"
           else transformers.Qwen3ForCausalLM)
    model = cls.from_pretrained(model_dir, dtype=dtype, attn_implementation=attn)
    model.eval()
    out = {}
    handles = []
    for name, mod in model.named_modules():
        if not isinstance(mod, torch.nn.Linear) or "visual" in name:
            continue

        def fwd(m, inp, y, name=name):
            out["y." + name] = y.detach().clone()
            out["x." + name] = inp[0].detach().clone()
            y.register_hook(lambda g, name=name: out.__setitem__("dy." + name, g.detach().clone()))
        handles.append(mod.register_forward_hook(fwd))
    labels = ids.masked_fill(mask == 0, -100)
    res = model(input_ids=ids, attention_mask=mask, labels=labels)
    res.loss.backward()
    out["logits"] = res.logits.detach().clone()
    out["loss"] = res.loss.detach().double().reshape(1)
    for h in handles:
        h.remove()
    return out


def metrics(got, ref):
    got = got.double().flatten()
    ref = ref.double().flatten()
    diff = (got - ref).abs()
    rel = (diff.norm() / ref.norm()).item() if ref.norm() > 0 else diff.norm().item()
    mx = (diff.max() / ref.abs().max()).item() if ref.abs().max() > 0 else diff.max().item()
    return rel, mx


def compare(mine, ref, dtype_name, label, mask):
    """Returns the list of failures; prints one line per tensor class."""
    fails = []
    worst = {}
    l_got, l_ref = mine["loss"].item(), ref["loss"].item()
    lrel = abs(l_got - l_ref) / abs(l_ref)
    if not (lrel <= TOL[(dtype_name, "loss")]):
        fails.append(f"{label}: loss {l_got:.9g} vs {l_ref:.9g} (rel {lrel:.3g})")
    worst["loss"] = (lrel, 0.0, "loss")
    B, T = mask.shape
    for key in mine:
        if key in ("loss", "valid_tokens"):
            continue
        kind = key.split(".")[0] if "." in key else key
        if key not in ref:
            fails.append(f"{label}: {key} missing in the HF run")
            continue
        got = mine[key].float()
        r = ref[key].float().reshape(got.shape)
        rel, mx = metrics(got, r)
        tol_rel, tol_max = TOL[(dtype_name, kind)]
        if not (rel <= tol_rel and mx <= tol_max):
            fails.append(f"{label}: {key} rel {rel:.3g} (tol {tol_rel}) max {mx:.3g} (tol {tol_max})")
        if kind not in worst or rel > worst[kind][0]:
            worst[kind] = (rel, mx, key)
    n_mine = sum(1 for k in mine if k.startswith("dy."))
    n_ref = sum(1 for k in ref if k.startswith("dy."))
    if n_mine != n_ref or n_mine == 0:
        fails.append(f"{label}: {n_mine} linears in lmsens, {n_ref} in HF")
    for kind, (rel, mx, key) in sorted(worst.items()):
        print(f"  {label:38s} {kind:6s} worst rel {rel:.3g} max {mx:.3g}  ({key})")
    return fails


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--format", default="qwen3_vl", choices=["qwen3_vl", "qwen3"])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--B", type=int, default=2)
    ap.add_argument("--T", type=int, default=12)
    ap.add_argument("--keep", help="directory to keep the files in")
    args = ap.parse_args()

    lmsens = os.environ.get("LMSENS_BIN")
    build = os.environ.get("LMSENS_BUILD_DIR")
    if not lmsens or not build:
        print("LMSENS_BIN and LMSENS_BUILD_DIR must be set (run through ctest)")
        return 2
    driver = os.path.join(build, "tests", "reference", "dump_engine")
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")

    if args.keep:
        return check(args, lmsens, driver, args.keep)
    with tempfile.TemporaryDirectory(prefix="lmsens-ref-") as tmp:
        return check(args, lmsens, driver, tmp)


def check(args, lmsens, driver, tmp):
    model_dir = os.path.join(tmp, f"{args.preset}-{args.format}")
    subprocess.run([lmsens, "mkmodel", "--preset", args.preset, "--out", model_dir,
                    "--format", args.format, "--seed", str(args.seed)], check=True)
    import json
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    V = cfg.get("text_config", cfg)["vocab_size"]

    cases = [("right", "eager", ["float32", "bfloat16"]), ("left", "sdpa", ["float32"])]
    fails = []
    for pad, attn, dtypes in cases:
        ids, mask = make_batch(args.B, args.T, V, pad, args.seed)
        bfile = os.path.join(tmp, f"batch-{pad}.txt")
        write_batch(bfile, ids, mask)
        dump = os.path.join(tmp, f"lmsens-{pad}.safetensors")
        subprocess.run([driver, model_dir, bfile, dump], check=True)
        mine = load_file(dump)
        # Recompute gives the same bits; the sum loss is the mean times N.
        dump_rc = os.path.join(tmp, f"lmsens-{pad}-recompute-sum.safetensors")
        subprocess.run([driver, model_dir, bfile, dump_rc, "sum", "recompute"], check=True)
        rc = load_file(dump_rc)
        n = mine["valid_tokens"].item()
        if not math.isclose(rc["loss"].item(), mine["loss"].item() * n, rel_tol=1e-9):
            fails.append(f"{pad}: sum loss {rc['loss'].item()} != mean x {n}")
        for key in mine:
            if key.startswith("y.") and not torch.equal(mine[key], rc[key]):
                fails.append(f"{pad}: recompute changed {key}")
        for dtype_name in dtypes:
            ref = run_hf(model_dir, args.format, ids, mask, getattr(torch, dtype_name), attn)
            label = f"{args.preset}/{args.format}/{pad}/{attn}/{dtype_name}"
            fails += compare(mine, ref, dtype_name, label, mask)
    for f in fails:
        print("FAIL:", f)
    print("reference check:", "FAILED" if fails else "passed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
