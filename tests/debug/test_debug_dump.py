"""test_debug_dump.py BACKEND H5CMP — runner.debug_dump on the demo model.

Runs `lmsens -cn demo` as one bundle of the seven seed quant pairs with
runner.debug_dump.layer=layers.1.mlp.down_proj (two scoring steps) on
BACKEND (cpu: label e2e; cuda: label gpu, exits 77 without a GPU), and
checks every job's <job dir>/debug_dump.h5:
  - the schema: root attributes, per step X, W, Y, dY and per format of the
    job's pair Xq, Wq, Yq, all uint16 with dtype = bfloat16, right shapes;
  - Y == X·Wᵀ and Yq == Xq·Wqᵀ within bf16 rounding (numpy, fp64 reference:
    |err| <= 2^-8·|ref| + 2^-20·Σ|x·w|);
  - Xq and Wq equal the PyTorch reference quantizer (tests/quant/ref_quant.py)
    bit-exactly, with the input amax of the job's statistics file (static
    formats) or of X itself (dynamic), the weight amax from W;
  - W equals the checkpoint's tensor; the dump does not change the scores
    (h5cmp against the same bundle without a dump);
  - a bad layer name fails with a hint listing the valid names.
With BACKEND=cuda it also runs the CPU dump and compares the two backends:
W and Wq bit-identical, X, Y, dY, Xq, Yq within the normalized errors
stated below (accumulation order upstream; measured values printed)."""
import glob
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    import torch
except ImportError as exc:  # pragma: no cover
    print(f"skip: {exc}")
    sys.exit(77)

SRC = os.environ["LMSENS_SOURCE_DIR"]
BIN = os.environ["LMSENS_BIN"]
sys.path.insert(0, os.path.join(SRC, "tests", "quant"))
import ref_quant  # noqa: E402

LAYER = "model.language_model.layers.1.mlp.down_proj"
PAIRS = "wfp8_afp8,wint8_aint8,wfp4_afp8,wfp4_afp16,wfp8_afp16,wint8_afp16,wint8_afp8"
# (weight spec, input spec or None, input calibrated?) in ref_quant's syntax,
# as conf/formats/<name>.yaml describes them (the same table as
# tests/autoquant_e2e/score_ref.py's SPECS, for the formats of the seed pairs).
SPECS = {
    "FP8_DEFAULT_CFG": ("fp8", "fp8", True),
    "FP8_WEIGHT_ONLY_CFG": ("fp8", None, False),
    "INT8_DEFAULT_CFG": ("int8:axis0", "int8", True),
    "INT8_WEIGHT_ONLY_CFG": ("int8:axis0", None, False),
    "INT8_WEIGHT_FP8_ACT_CFG": ("int8:axis0", "fp8", True),
    "W4A8_MXFP4_FP8_CFG": ("mx:e2m1", "fp8:dynamic", False),
    "W4A16_NVFP4_CFG": ("nvfp4", None, False),
    "MXFP4_WEIGHT_ONLY_CFG": ("mx:e2m1", None, False),
}
# CUDA vs CPU (normalized squared error; W and Wq must be identical). X, Y
# and Xq differ by upstream accumulation order and attention numerics (the
# default flash kernels keep fp32 scores), i.e. a few bf16 ulps of some
# elements, and then an occasional quantization step; dY by the backward's.
# Measured on an H100 (flash attention): X 8.0e-5, Y 8.8e-5, Xq 5.6e-4,
# Yq 5.6e-4, dY 6.3e-6.
NMSE_TOL = {"X": 3e-4, "Y": 3e-4, "dY": 1e-4, "Xq": 2e-3, "Yq": 2e-3}

fails = 0


def fail(msg):
    global fails
    fails += 1
    print("FAIL:", msg)


def bf16(u16):
    return (np.asarray(u16, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def run(args, log):
    with open(log, "w") as f:
        return subprocess.run([BIN] + args, stdout=f, stderr=subprocess.STDOUT).returncode


def sweep(work, backend, name, dump=True):
    out = os.path.join(work, name)
    args = ["-cn", "demo", "-m", f"quant_pair={PAIRS}", f"runner.backend={backend}",
            f"hydra.sweep.dir={out}", f"model.path={work}/model"]
    if dump:
        args += [f"runner.debug_dump.layer={LAYER.split('language_model.')[1]}",
                 "runner.debug_dump.steps=2"]
    rc = run(args, out + ".log")
    return rc, out


def check_product(name, y, x, w):
    """y (bf16 as f32) against x·wᵀ in fp64."""
    ref = x.astype(np.float64) @ w.astype(np.float64).T
    mag = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)).T
    err = np.abs(y.astype(np.float64) - ref)
    bad = err > 2.0 ** -8 * np.abs(ref) + 2.0 ** -20 * mag
    if bad.any():
        fail(f"{name}: {bad.sum()} of {bad.size} elements off (worst {err.max():.3g})")
    return float((err / np.maximum(np.abs(ref), 1e-30)).max())


def check_job(jobdir, backend, model_w):
    dump = os.path.join(jobdir, "debug_dump.h5")
    stats = glob.glob(os.path.join(jobdir, "*_autoquant_state.h5"))
    if not os.path.exists(dump) or len(stats) != 1:
        fail(f"{jobdir}: no debug_dump.h5 or statistics file")
        return None
    with h5py.File(stats[0]) as s:
        names = [n.decode() for n in s["/modules/name"][()]]
        act_amax = float(s["/modules/act_amax"][()][names.index(LAYER)])
    tensors = {}
    with h5py.File(dump) as f:
        a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        if a.get("schema") != "lmsens debug_dump 1" or a.get("layer") != LAYER or \
           a.get("steps") != 2 or not str(a.get("backend", "")).startswith(backend):
            fail(f"{dump}: root attributes {a}")
        formats = [x for x in str(a.get("formats", "")).split(",") if x]
        if not formats:
            fail(f"{dump}: no formats")
        for k in range(2):
            g = f[f"/steps/{k}"]
            T = {n: bf16(g[n][()]) for n in ("X", "W", "Y", "dY")}
            for n in ("X", "W", "Y", "dY"):
                if g[n].dtype != np.uint16 or g[n].attrs.get("dtype") not in (b"bfloat16", "bfloat16"):
                    fail(f"{dump}: steps/{k}/{n} is not uint16 with dtype=bfloat16")
            M = g.attrs["B"] * g.attrs["T"]
            if T["X"].shape != (M, 128) or T["W"].shape != (64, 128) or T["Y"].shape != (M, 64) \
               or T["dY"].shape != (M, 64):
                fail(f"{dump}: steps/{k} shapes {[(n, v.shape) for n, v in T.items()]}")
                continue
            if not np.array_equal(g["W"][()], model_w):
                fail(f"{dump}: steps/{k}/W is not the checkpoint's weight")
            if not np.any(T["dY"]):
                fail(f"{dump}: steps/{k}/dY is all zero")
            check_product(f"{dump} steps/{k} Y", T["Y"], T["X"], T["W"])
            for fm in formats:
                q = {n: g[f"{fm}/{n}"][()] for n in ("Xq", "Wq", "Yq")}
                ws, xs, calibrated = SPECS[fm]
                wref = ref_quant.fake(ws, torch.from_numpy(T["W"])).view(torch.int16).numpy()
                if not np.array_equal(q["Wq"].view(np.int16), wref):
                    fail(f"{dump} steps/{k} {fm}: Wq differs from ref_quant in "
                         f"{(q['Wq'].view(np.int16) != wref).sum()} elements")
                if xs is None:
                    xref = g["X"][()].view(np.int16)
                else:
                    amax = torch.tensor([act_amax]) if calibrated else None
                    xref = ref_quant.fake(xs, torch.from_numpy(T["X"]), amax).view(torch.int16).numpy()
                if not np.array_equal(q["Xq"].view(np.int16), xref):
                    fail(f"{dump} steps/{k} {fm}: Xq differs from ref_quant in "
                         f"{(q['Xq'].view(np.int16) != xref).sum()} elements")
                check_product(f"{dump} steps/{k} {fm} Yq", bf16(q["Yq"]), bf16(q["Xq"]), bf16(q["Wq"]))
                if np.array_equal(q["Yq"], g["Y"][()]):
                    fail(f"{dump} steps/{k} {fm}: Yq == Y (nothing quantized?)")
                for n in ("Xq", "Wq", "Yq"):
                    tensors[f"{k}/{fm}/{n}"] = q[n]
            for n in ("X", "W", "Y", "dY"):
                tensors[f"{k}/{n}"] = g[n][()]
    return tensors


def model_weight(work):
    """The dumped layer's weight, (out, in) uint16, read from the checkpoint."""
    idx = json.load(open(f"{work}/model/model.safetensors.index.json"))["weight_map"]
    name = LAYER + ".weight"
    with open(f"{work}/model/{idx[name]}", "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        s, e = head[name]["data_offsets"]
        f.seek(8 + n + s)
        return np.frombuffer(f.read(e - s), dtype=np.uint16).reshape(head[name]["shape"])


def check_backend(work, backend, h5cmp):
    rc, out = sweep(work, backend, f"{backend}-dump")
    if rc != 0:
        log = open(out + ".log").read()
        if backend == "cuda" and ("no CUDA device" in log or "built without CUDA" in log):
            print("no CUDA device visible: skipped")
            sys.exit(77)
        print(log[-3000:])
        fail(f"{backend}: the run with a dump failed")
        return None
    if backend == "cuda" and "backend cuda" not in open(out + ".log").read():
        fail("the cuda run did not use the CUDA backend")
    w = model_weight(work)
    jobs = sorted(glob.glob(os.path.join(out, "[0-9]*")), key=lambda p: int(os.path.basename(p)))
    if len(jobs) != 7:
        fail(f"{backend}: {len(jobs)} job directories, expected 7")
    dumps = {}
    for j in jobs:
        t = check_job(j, backend, w)
        if t is not None:
            dumps[os.path.basename(j)] = t
    rc, plain = sweep(work, backend, f"{backend}-plain", dump=False)
    if rc != 0:
        fail(f"{backend}: the run without a dump failed")
    for j in jobs:
        a = glob.glob(os.path.join(j, "*_autoquant_state.h5"))
        b = glob.glob(os.path.join(plain, os.path.basename(j), "*_autoquant_state.h5"))
        if len(a) != 1 or len(b) != 1 or subprocess.run([h5cmp, "--ignore-config", a[0], b[0]]).returncode:
            fail(f"{backend} job {os.path.basename(j)}: the dump changed the statistics")
    print(f"  {backend}: {len(dumps)} dumps checked (schema, products, ref_quant bit-exact, "
          f"scores unchanged)")
    return dumps


def nmse(a, b):
    a, b = bf16(a).astype(np.float64), bf16(b).astype(np.float64)
    return float(((a - b) ** 2).sum() / max((b ** 2).sum(), 1e-300))


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("cpu", "cuda"):
        sys.exit(__doc__)
    backend, h5cmp = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="lmsens-debug-dump.") as work:
        os.chdir(work)
        got = check_backend(work, backend, h5cmp)
        # a bad layer name: a clear error listing the valid names
        log = os.path.join(work, "bad.log")
        rc = run(["-cn", "demo", "runner.debug_dump.layer=layers.9.mlp.down", f"runner.backend={backend}",
                  f"runner.output_dir={work}/bad", f"model.path={work}/model"], log)
        text = open(log).read()
        if rc == 0 or "runner.debug_dump.layer = 'layers.9.mlp.down' is not a linear layer" not in text \
           or "hint: valid names are model.language_model.layers.<0..1>.self_attn.{q,k,v,o}_proj" not in text:
            fail(f"bad layer name: rc {rc}, log:\n{text[-1500:]}")
        if glob.glob(f"{work}/bad/*.h5"):
            fail("bad layer name: files written")
        if backend == "cuda" and got:
            ref = check_backend(work, "cpu", h5cmp)
            worst = {}
            for job, t in got.items():
                for key, v in t.items():
                    r = ref[job][key]
                    kind = key.rsplit("/", 1)[1]
                    if kind in ("W", "Wq"):
                        if not np.array_equal(v, r):
                            fail(f"cuda vs cpu job {job} {key}: not identical")
                        continue
                    e = nmse(v, r)
                    worst[kind] = max(worst.get(kind, 0.0), e)
                    if not e <= NMSE_TOL[kind]:
                        fail(f"cuda vs cpu job {job} {key}: nmse {e:.3g} > {NMSE_TOL[kind]}")
            print("  cuda vs cpu: W, Wq identical; worst nmse " +
                  ", ".join(f"{k} {v:.3g}" for k, v in sorted(worst.items())))
    print(f"debug dump ({backend}): {'all checks passed' if not fails else f'{fails} failures'}")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
