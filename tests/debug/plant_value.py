"""plant_value.py — overwrites elements of one bf16 tensor of a sharded
safetensors checkpoint in place (test helper; plain Python, no packages).

  plant_value.py MODEL_DIR TENSOR_NAME VALUE [COUNT [FIRST]]

VALUE is nan, inf or a float (stored as bf16 by truncation of its fp32
bits); COUNT (default 1) elements from element FIRST (default 0) of the
tensor are overwritten.
The tensor is found through model.safetensors.index.json (or the single
model.safetensors)."""
import json
import math
import os
import struct
import sys


def bf16_bits(text):
    if text == "nan":
        return 0x7FC0
    if text == "inf":
        return 0x7F80
    v = float(text)
    if math.isnan(v) or math.isinf(v):
        sys.exit("give nan or inf by name")
    return struct.unpack("<I", struct.pack("<f", v))[0] >> 16


def main():
    if len(sys.argv) not in (4, 5, 6):
        sys.exit(__doc__)
    model, name, value = sys.argv[1:4]
    count = int(sys.argv[4]) if len(sys.argv) >= 5 else 1
    first = int(sys.argv[5]) if len(sys.argv) == 6 else 0
    index = os.path.join(model, "model.safetensors.index.json")
    if os.path.exists(index):
        shard = json.load(open(index))["weight_map"][name]
    else:
        shard = "model.safetensors"
    path = os.path.join(model, shard)
    with open(path, "r+b") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        t = head[name]
        if t["dtype"] != "BF16":
            sys.exit(f"{name} is {t['dtype']}, not BF16")
        start, end = t["data_offsets"]
        if (first + count) * 2 > end - start:
            sys.exit(f"{name} has fewer than {first + count} elements")
        f.seek(8 + n + start + 2 * first)
        f.write(struct.pack("<H", bf16_bits(value)) * count)


if __name__ == "__main__":
    main()
