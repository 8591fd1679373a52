#!/usr/bin/env python3
"""End-to-end check of `lmsens eval -cn demo` against HF transformers.

lmsens composes the demo config, creates the tiny synthetic model, reads and
tokenizes the shipped captions and prints {"batch", "loss", "tokens"} per
batch. This script rebuilds the same batches independently (HF `tokenizers`
on the model's tokenizer.json; first N non-blank stripped lines, no special
tokens, truncated to dataset.calib_seq_len, batches of autoquant.batch_size
right-padded with <|endoftext|>, labels -100 on padding) and computes each
batch's loss with HF's Qwen3VLForConditionalGeneration in float32 and in
bfloat16 (eager attention), then compares.

Tolerances (measured worst when set, demo config):
  bf16 relative loss error <= 1e-6   (measured 5.4e-8)
  fp32 relative loss error <= 3e-4   (measured 2.4e-5)
  tokens: exact.
Exit 0 pass, 1 fail, 77 skip (no torch/transformers/tokenizers).
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import tokenizers
    import torch
    import transformers
except ImportError as exc:  # pragma: no cover
    print(f"skip: {exc}")
    sys.exit(77)

N_SAMPLES, SEQ_LEN, BATCH = 16, 64, 4  # conf/preset/demo.yaml
TOL = {"bfloat16": 1e-6, "float32": 3e-4}


def main():
    lmsens = os.environ["LMSENS_BIN"]
    src = os.environ["LMSENS_SOURCE_DIR"]
    with tempfile.TemporaryDirectory(prefix="lmsens-eval-") as work:
        return check(lmsens, src, work)


def check(lmsens, src, work):
    out = subprocess.run([lmsens, "eval", "-cn", "demo"], cwd=work, check=True,
                         capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    model_dir = os.path.join(work, "tmp", "demo", "tiny-model")

    tok = tokenizers.Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    pad = tok.token_to_id("<|endoftext|>")
    path = os.path.join(src, "datasets", "vlm-quantize-calib", "coco2017_captions_small.txt")
    with open(path, encoding="utf-8") as f:
        lines = [ln.strip() for ln in f if ln.strip()][:N_SAMPLES]
    seqs = [tok.encode(ln, add_special_tokens=False).ids[:SEQ_LEN] for ln in lines]
    batches = []
    for i in range(0, len(seqs), BATCH):
        part = seqs[i:i + BATCH]
        T = max(len(s) for s in part)
        ids = torch.full((len(part), T), pad, dtype=torch.int64)
        mask = torch.zeros((len(part), T), dtype=torch.int64)
        for r, s in enumerate(part):
            ids[r, :len(s)] = torch.tensor(s)
            mask[r, :len(s)] = 1
        batches.append((ids, mask))

    fails = []
    if len(rows) != len(batches):
        fails.append(f"{len(rows)} batches from lmsens eval, {len(batches)} rebuilt")
    for dtype in ("float32", "bfloat16"):
        model = transformers.Qwen3VLForConditionalGeneration.from_pretrained(
            model_dir, dtype=getattr(torch, dtype), attn_implementation="eager")
        model.eval()
        worst = 0.0
        for row, (ids, mask) in zip(rows, batches):
            labels = ids.masked_fill(mask == 0, -100)
            with torch.no_grad():
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss.item()
            tokens = int((labels[:, 1:] != -100).sum())
            rel = abs(row["loss"] - loss) / abs(loss)
            worst = max(worst, rel)
            if row["tokens"] != tokens:
                fails.append(f"batch {row['batch']}: tokens {row['tokens']} vs {tokens}")
            if not rel <= TOL[dtype]:
                fails.append(f"{dtype} batch {row['batch']}: loss {row['loss']} vs HF {loss} (rel {rel:.3g})")
        print(f"  {dtype}: {len(rows)} batches, worst relative loss error {worst:.3g}")
    for f in fails:
        print("FAIL:", f)
    print("eval reference check:", "FAILED" if fails else "passed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
