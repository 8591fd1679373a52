"""ref_quant.py — PyTorch reference of ModelOpt's fake quantizers (§9 of
reference/modelopt-autoquant.md), written independently of the C code.

This is a PyTorch implementation of the §9 formulas, not ModelOpt itself
(nvidia-modelopt's CUDA/Triton kernels do not run on a CPU-only machine).
It follows the kernels op by op in fp32:
  - INT: scale = bound/amax, torch.round (half to even), clamp [-bound-1, bound],
    true division; amax < 2^-24 gives 0.
  - FP8: scale = 448/amax, inv_scale = 1/scale (amax <= 2^-24 replaced by 1, HEAD),
    E4M3 via torch.float8_e4m3fn after a clamp to +-448 (satfinite).
  - MX: bmax per 32-block, E8M0 unscale from the fp32 bit fields of bmax/dmax,
    flush-to-zero of fp32 denormals at every op (the kernel uses --use_fast_math),
    E2M1 by the threshold chain of ModelOpt's Triton kernel.
  - NVFP4 (Triton path): gs = amax/2688, s = min(bmax/(6 gs), 448) rounded to
    E4M3, scale = s8*gs, 1e-5 floor, E2M1 thresholds, y = q*scale.
Every result is rounded to bf16 like the kernels' final store.
Specs use the syntax of lms_quant_desc_parse (src/quant/quant.h).
Every function runs on the device of its input (CPU or CUDA: the same IEEE
ops, so the same bits; tests/autoquant_e2e/score_ref_gpu.py uses CUDA)."""
import torch

F32 = torch.float32
FLT_MIN = 2.0 ** -126
FLT_MAX = torch.finfo(F32).max


def parse(spec):
    parts = spec.split(":")
    d = {"kind": parts[0], "axis0": False, "block": 0, "dynamic": False, "el": None}
    if parts[0] == "mx":
        d["el"] = parts[1]
        d["block"] = 32
        parts = parts[2:]
    else:
        parts = parts[1:]
        if d["kind"] == "nvfp4":
            d["block"] = 16
    for p in parts:
        if p == "axis0":
            d["axis0"] = True
        elif p == "dynamic":
            d["dynamic"] = True
        elif p.startswith("block"):
            d["block"] = int(p[5:])
        else:
            raise ValueError(spec)
    return d


def amax_len(d, rows, cols):
    k = d["kind"]
    if k == "mx" or k == "none":
        return 0
    if k == "nvfp4":
        return 1
    if d["block"]:
        return rows * ((cols + d["block"] - 1) // d["block"])
    return rows if d["axis0"] else 1


def _e4m3_values():
    """The 127 non-negative finite E4M3 values, by code (0x00..0x7e)."""
    out = []
    for code in range(127):
        e, m = code >> 3, code & 7
        out.append((m / 8.0) * 2.0 ** -6 if e == 0 else (1.0 + m / 8.0) * 2.0 ** (e - 7))
    return torch.tensor(out, dtype=torch.float64)


E4M3_TABLE = _e4m3_values()
_E4M3_MIDS = (E4M3_TABLE[1:] + E4M3_TABLE[:-1]) / 2
HAVE_FLOAT8 = hasattr(torch, "float8_e4m3fn")


def e4m3_by_table(v):
    """fp32 -> E4M3 (satfinite, RNE) -> fp32 by table lookup (torch < 2.1)."""
    a = v.abs().clamp(max=448.0).to(torch.float64)
    i = torch.bucketize(a, _E4M3_MIDS)  # a == mids[i] -> i (the lower code)
    at_mid = (i < _E4M3_MIDS.numel()) & (a == _E4M3_MIDS[i.clamp(max=_E4M3_MIDS.numel() - 1)])
    i = torch.where(at_mid & (i % 2 == 1), i + 1, i)  # ties to the even code
    q = E4M3_TABLE[i].to(F32)
    q = torch.where(v < 0, -q, q)
    q = torch.where((v == 0) & torch.signbit(v), v, q)  # keep -0
    return torch.where(torch.isnan(v), v, q)


def e4m3(v):
    """fp32 -> E4M3 (satfinite, RNE) -> fp32: PyTorch's float8 type after a
    clamp to +-448 where it exists, the table otherwise."""
    if HAVE_FLOAT8:
        return v.clamp(-448.0, 448.0).to(torch.float8_e4m3fn).to(F32)
    return e4m3_by_table(v)


def e2m1_abs(a):
    """ModelOpt Triton threshold chain on a >= 0 (NaN -> 6 like the MX table)."""
    t = torch.full_like(a, 6.0)
    t = torch.where(a <= 5.0, torch.full_like(a, 4.0), t)
    t = torch.where(a < 3.5, torch.full_like(a, 3.0), t)
    t = torch.where(a <= 2.5, torch.full_like(a, 2.0), t)
    t = torch.where(a < 1.75, torch.full_like(a, 1.5), t)
    t = torch.where(a <= 1.25, torch.full_like(a, 1.0), t)
    t = torch.where(a < 0.75, torch.full_like(a, 0.5), t)
    t = torch.where(a <= 0.25, torch.zeros_like(a), t)
    return t


def ftz(v):
    return torch.where(v.abs() < FLT_MIN, v * 0.0, v)


def blocks(x, bs):
    """(R, C) -> (R, nb, bs), zero padded."""
    r, c = x.shape
    nb = (c + bs - 1) // bs
    xp = torch.zeros(r, nb * bs, dtype=F32, device=x.device)
    xp[:, :c] = x
    return xp.view(r, nb, bs)


def fq_int(x, amax, bits):
    bound = float(2 ** (bits - 1) - 1)
    scale = torch.tensor(bound, dtype=F32, device=amax.device) / amax
    q = torch.clamp(torch.round(x * scale), -bound - 1.0, bound)
    y = q / scale
    return torch.where(amax < 2.0 ** -24, torch.zeros_like(y), y)


def fq_fp8(x, amax):
    a = torch.where(amax <= 2.0 ** -24, torch.ones_like(amax), amax)
    scale = torch.tensor(448.0, dtype=F32, device=a.device) / a
    inv = torch.tensor(1.0, dtype=F32, device=a.device) / scale
    return e4m3(x * scale) * inv


MX_DMAX = {"e2m1": 6.0, "e4m3": 448.0, "int8": 127.0}


def fq_mx(x, el):
    r, c = x.shape
    xb = blocks(x, 32)
    dmax = torch.tensor(MX_DMAX[el], dtype=F32, device=x.device)
    bmax = ftz(xb.abs()).clamp(max=FLT_MAX).amax(-1, keepdim=True)
    ratio = ftz(bmax / dmax)
    u = ratio.view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    ef = (u >> 23) & 0xFF
    sf = u & 0x7FFFFF
    bump = (sf > 0) & (ef != 0xFE) & ~((ef == 0) & (sf <= 0x400000))
    e = torch.where(bump, ef - 126, ef - 127)
    two = torch.tensor(2.0, dtype=torch.float64, device=x.device)
    unscale = torch.pow(two, e.to(torch.float64)).to(F32)
    scale = torch.pow(two, (-e).to(torch.float64)).to(F32)
    trivial = bmax == 0
    scale = torch.where(trivial, torch.ones_like(scale), scale)
    unscale = torch.where(trivial, torch.ones_like(unscale), unscale)
    a = ftz(ftz(xb.abs()) * scale)
    if el == "e2m1":
        cv = e2m1_abs(a)
    elif el == "e4m3":
        cv = e4m3(a)
    else:
        cv = torch.clamp(torch.round(a), max=127.0)
    q = ftz(cv * ftz(unscale))
    y = torch.where(xb < 0, -q, q)
    return y.view(r, -1)[:, :c]


def fq_nvfp4(x, gamax, bs):
    r, c = x.shape
    xb = blocks(x, bs)
    # a tensor divisor: PyTorch's CUDA division by a Python scalar multiplies by
    # its reciprocal (not correctly rounded); the CPU divides
    gs = gamax.reshape(()) / torch.tensor(2688.0, dtype=F32, device=x.device)
    gs_safe = torch.where(gs > 0, gs, torch.tensor(1e-12, dtype=F32, device=x.device))
    bmax = xb.abs().amax(-1, keepdim=True)
    s = torch.clamp(bmax / (6.0 * gs_safe), max=448.0)
    scale = e4m3(s) * gs_safe
    scale = torch.where((scale < 1e-5) | torch.isnan(scale), torch.ones_like(scale), scale)
    q = e2m1_abs(xb.abs() / scale) * scale
    y = torch.where(xb >= 0, q, -q)
    return y.view(r, -1)[:, :c]


def static_amax(d, x):
    r, c = x.shape
    if d["kind"] == "nvfp4":
        return x.abs().amax().reshape(1)
    if d["block"]:
        return blocks(x, d["block"]).abs().amax(-1).reshape(-1)
    if d["axis0"]:
        return x.abs().amax(1)
    return x.abs().amax().reshape(1)


def fake(spec, x, amax=None):
    """x: (R, C) float32 tensor; returns bf16 (R, C)."""
    d = parse(spec)
    x = x.to(torch.bfloat16).to(F32)
    r, c = x.shape
    if d["kind"] == "none":
        return x.to(torch.bfloat16)
    if d["kind"] == "mx":
        return fq_mx(x, d["el"]).to(torch.bfloat16)
    if amax is None or d["dynamic"]:
        amax = static_amax(d, x)
    amax = amax.to(F32)
    if d["kind"] == "nvfp4":
        return fq_nvfp4(x, amax, d["block"]).to(torch.bfloat16)
    if d["block"]:
        nb = (c + d["block"] - 1) // d["block"]
        xb = blocks(x, d["block"])
        y = fq_int(xb, amax.view(r, nb, 1), int(d["kind"][3:]))
        return y.view(r, -1)[:, :c].to(torch.bfloat16)
    a = amax.view(r, 1) if d["axis0"] else amax.view(1, 1)
    if d["kind"] == "fp8":
        return fq_fp8(x, a).to(torch.bfloat16)
    return fq_int(x, a, int(d["kind"][3:])).to(torch.bfloat16)
