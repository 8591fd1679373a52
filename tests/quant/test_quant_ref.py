"""test_quant_ref.py — lmsens's CPU fake quantizers against the PyTorch
reference (ref_quant.py), bit for bit.

Reference used: a PyTorch implementation of the §9 formulas of
reference/modelopt-autoquant.md (ref_quant.py). ModelOpt itself is not used:
its quantizers need its CUDA/Triton kernels, which do not run here.

Usage: test_quant_ref.py QUANT_DRIVER   (run by CTest with $LMSENS_PYTHON)
Cases: seeded random bf16 tensors at several magnitudes, plus adversarial
values at and one bf16 ulp around every rounding boundary of each format
(E4M3 and E2M1 midpoints, INT .5 ties, E8M0 block maxima at powers of two),
zeros, negative zero, all-zero blocks, denormals, huge values and infinities,
with amax computed on the fly and given (including amax = 0 and clipping).
Exit 0 when every output bit matches, 1 otherwise, 77 when torch is missing."""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError:
    print("SKIP: torch/numpy not importable by this Python")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_quant  # noqa: E402

BF = torch.bfloat16


def bf(v):
    return torch.as_tensor(v, dtype=torch.float32).to(BF).to(torch.float32)


def ulps(v):
    """v and its bf16 neighbours (one ulp down and up), as fp32."""
    b = bf(v).to(BF).view(torch.int16).to(torch.int32)
    out = []
    for d in (-1, 0, 1):
        out.append(((b + d) & 0xFFFF).to(torch.int16).view(BF).to(torch.float32))
    v = torch.cat([o.reshape(-1) for o in out])
    return v[~torch.isnan(v)]  # the neighbour below +-0 is a NaN pattern


E4M3_VALS = ref_quant.E4M3_TABLE.to(torch.float32)  # 0 .. 448
E4M3_MIDS = (E4M3_VALS[1:] + E4M3_VALS[:-1]) / 2
E2M1_MIDS = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 7.0])


def pad_rows(v, cols):
    v = v.reshape(-1)
    n = (v.numel() + cols - 1) // cols * cols
    out = torch.zeros(n)
    out[: v.numel()] = v
    return out.view(-1, cols)


def specials():
    return torch.tensor([0.0, -0.0, 1e-40, -1e-40, 2.0 ** -126, 2.0 ** -133, 3e38, -3e38,
                         float("inf"), float("-inf"), 1.0, -1.0])


def random_cases(gen, rows, cols):
    out = []
    for mag in (1e-6, 1e-2, 1.0, 300.0):
        out.append(torch.randn(rows, cols, generator=gen) * mag)
    heavy = torch.randn(rows, cols, generator=gen)
    heavy[0, 0] = 40.0  # one outlier sets the amax
    out.append(heavy)
    return out


def cases_for(spec, gen):
    """(name, x (R, C), amax or None) for one spec."""
    d = ref_quant.parse(spec)
    cs = []
    for i, x in enumerate(random_cases(gen, 7, 100)):  # ragged last blocks on purpose
        cs.append((f"random{i}", x, None))
    k = d["kind"]
    if k in ("fp8",):
        mids = torch.cat([E4M3_MIDS, -E4M3_MIDS, E4M3_VALS])
        for amax in (448.0, 448.0 * 2 ** -5, 448.0 * 2 ** 7):
            x = pad_rows(ulps(mids * (amax / 448.0)), 64)
            cs.append((f"e4m3-mid-amax{amax}", x, torch.full((ref_quant.amax_len(d, *x.shape),), amax)))
        x = pad_rows(torch.cat([ulps(E4M3_MIDS * 0.37), specials()]), 64)
        for amax in (0.0, 1e-9, 0.37 * 448.0, 3.0):
            cs.append((f"e4m3-amax{amax}", x, torch.full((ref_quant.amax_len(d, *x.shape),), amax)))
    if k == "fp8" and not d["axis0"]:
        # many amax values: 1/(448/amax) and amax/448 differ by an ulp for some
        for j in range(40):
            amax = float(bf(torch.rand(1, generator=gen) * 10.0 ** float(torch.randint(-3, 4, (1,), generator=gen))))
            x = (torch.rand(4, 64, generator=gen) * 2 - 1) * amax
            cs.append((f"e4m3-rand-amax{amax:.4g}", x, torch.tensor([amax])))
    if k.startswith("int"):
        bits = int(k[3:])
        bound = 2 ** (bits - 1) - 1
        ties = torch.arange(-bound - 2, bound + 2, dtype=torch.float32) + 0.5
        for amax in (float(bound), bound * 2.0 ** -6, bound * 2.0 ** 5, 0.0, 1e-8, 0.3):
            x = pad_rows(torch.cat([ulps(ties * (amax / bound if amax > 1e-7 else 1.0)), specials()]), 128)
            cs.append((f"int-ties-amax{amax}", x, torch.full((ref_quant.amax_len(d, *x.shape),), amax)))
        x = pad_rows(ulps(ties * 0.01), 128)
        cs.append(("int-ties-dyn", x, None))
    if k == "nvfp4":
        bs = d["block"]
        rows = []
        for s in (1.0, 0.5, 2.0 ** -9, 2.0 ** -10, 300.0, 448.0):
            blk = torch.zeros(bs)
            vals = torch.cat([E2M1_MIDS, -E2M1_MIDS]) * s
            vals = ulps(vals)
            for j in range(0, vals.numel(), bs - 1):
                blk = torch.zeros(bs)
                chunk = vals[j:j + bs - 1]
                blk[: chunk.numel()] = chunk
                blk[bs - 1] = 6.0 * s  # block max → s8 = s
                rows.append(blk)
        rows.append(torch.zeros(bs))
        rows.append(torch.cat([specials(), torch.zeros(max(0, bs - 12))])[:bs])
        x = torch.stack(rows)
        for g in (2688.0, 2688.0 * 4, 1.0, 1e-3, 0.0, 1e6):
            cs.append((f"nvfp4-gamax{g}", x, torch.tensor([g])))
        # a calibrated amax is finite (ModelOpt asserts it), so no infinities here
        cs.append(("nvfp4-dyn", torch.where(torch.isinf(x), torch.zeros_like(x), x), None))
        # scale floor: tiny blocks under a large global amax
        y = torch.randn(8, bs * 3, generator=gen) * 1e-4
        cs.append(("nvfp4-floor", y, torch.tensor([500.0])))
        # block scales s8*gs straddling the 1e-5 floor
        for g in (0.005, 0.01, 0.02, 0.05):
            y = torch.randn(16, bs * 4, generator=gen) * (g * 2e-3)
            cs.append((f"nvfp4-floor-gamax{g}", y, torch.tensor([g])))
    if k == "mx":
        dmax = ref_quant.MX_DMAX[d["el"]]
        rows = []
        for p in (-130, -126, -20, -3, 0, 1, 10, 100):
            for bm in ulps(torch.tensor([dmax * 2.0 ** p])):
                blk = torch.randn(32, generator=gen) * float(bm) / 3
                blk = blk.clamp(-float(bm), float(bm))
                blk[0] = bm
                blk[1] = -bm / 2
                rows.append(blk)
            # element midpoints under an exact power-of-two scale
            if d["el"] == "e2m1":
                mids = E2M1_MIDS[:7]
            elif d["el"] == "e4m3":
                mids = E4M3_MIDS[::4]
            else:
                mids = torch.arange(0, 127, 4, dtype=torch.float32) + 0.5
            v = ulps(torch.cat([mids, -mids]) * 2.0 ** p)
            for j in range(0, v.numel(), 31):
                blk = torch.zeros(32)
                c = v[j:j + 31]
                blk[: c.numel()] = c
                blk[31] = dmax * 2.0 ** p
                rows.append(blk)
        rows.append(torch.zeros(32))
        rows.append(torch.cat([specials(), torch.zeros(20)]))
        rows.append(torch.full((32,), 1e-39))
        cs.append(("mx-boundaries", torch.stack(rows), None))
    return cs


def run_driver(driver, spec, x, amax, tmp):
    xin = os.path.join(tmp, "in.f32")
    xout = os.path.join(tmp, "out.f32")
    x.numpy().astype("<f4").tofile(xin)
    args = [driver, spec, str(x.shape[0]), str(x.shape[1]), xin, xout]
    if amax is not None:
        am = os.path.join(tmp, "amax.f32")
        amax.numpy().astype("<f4").tofile(am)
        args.append(am)
    subprocess.run(args, check=True)
    y = np.fromfile(xout, dtype="<f4").reshape(x.shape)
    return torch.from_numpy(y.copy())


SPECS = ["none", "int8", "int8:axis0", "int4:block128", "int8:block128", "fp8", "fp8:axis0",
         "fp8:dynamic", "mx:e2m1", "mx:e4m3", "mx:int8", "nvfp4", "nvfp4:block32"]


def check_e4m3_table():
    """Where torch has float8, the table rounding must agree with it on every
    bf16 value (so the table fallback for old torch is trustworthy)."""
    if not ref_quant.HAVE_FLOAT8:
        return 0
    allb = torch.arange(0, 0x7F80, dtype=torch.int32).to(torch.int16).view(BF).to(torch.float32)
    allb = torch.cat([allb, -allb])
    t = ref_quant.e4m3_by_table(allb)
    f = allb.clamp(-448, 448).to(torch.float8_e4m3fn).to(torch.float32)
    nd = int((t.view(torch.int32) != f.view(torch.int32)).sum())
    print(("ok  " if nd == 0 else "FAIL") + f" E4M3 table vs float8_e4m3fn on all bf16 values ({nd} differ)")
    return 1 if nd else 0


def main():
    driver = sys.argv[1]
    gen = torch.Generator().manual_seed(1234)
    bad = check_e4m3_table()
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for spec in SPECS:
            for name, x, amax in cases_for(spec, gen):
                x = x.to(BF).to(torch.float32)  # inputs are bf16 values
                got = run_driver(driver, spec, x, amax, tmp)
                gb = got.to(BF)
                if not torch.allclose(got, gb.to(torch.float32), rtol=0, atol=0, equal_nan=True):
                    print(f"FAIL {spec} {name}: C output is not bf16-valued")
                    bad += 1
                want = ref_quant.fake(spec, x, amax)
                gi = gb.view(torch.int16)
                wi = want.view(torch.int16)
                nd = int((gi != wi).sum())
                total += x.numel()
                if nd:
                    bad += 1
                    idx = (gi != wi).nonzero()[:5]
                    print(f"FAIL {spec} {name}: {nd}/{x.numel()} elements differ")
                    for r, c in idx.tolist():
                        print(f"   x[{r},{c}]={x[r, c].item()!r} got={gb[r, c].item()!r} "
                              f"want={want[r, c].item()!r}")
                else:
                    print(f"ok   {spec} {name} ({x.numel()} elements)")
    how = "torch.float8_e4m3fn" if ref_quant.HAVE_FLOAT8 else "table (no float8 in this torch)"
    print(f"reference: PyTorch {torch.__version__} implementation of ModelOpt §9 (ref_quant.py), E4M3 by {how}")
    print(f"{total} elements compared, {bad} failing cases")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
