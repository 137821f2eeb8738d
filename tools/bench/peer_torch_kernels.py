#!/usr/bin/env python3
"""PyTorch peer of bench_kernels (tools/bench/bench_kernels.cpp): the same cases, timed the same way.

torch's scaled_dot_product_attention (its fastest available backend) and
layer_norm, each run `warmup` times and then `iters` times with CUDA events
around every run, the L2 cache overwritten before each; the median is
reported with the same columns as bench_kernels, and peaks measured in the
same run (device copy bandwidth, a 4096^3 matmul per data type).

    python3 tools/bench/peer_torch_kernels.py [--csv] [--iters N] [--warmup N] [--filter SUBSTRING]
"""
import argparse
import sys

import torch
import torch.nn.functional as F

FLUSH = None


def median_ms(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    start = torch.cuda.Event(enable_timing=True)
    stop = torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(iters):
        FLUSH.zero_()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    times.sort()
    return times[len(times) // 2]


def rand(shape, dtype, seed):
    g = torch.Generator(device="cuda").manual_seed(seed)
    return (torch.rand(shape, device="cuda", generator=g) * 2 - 1).to(dtype)


def copy_gbps(args):
    n = (512 << 20) // 4
    a, b = rand((n,), torch.float32, 1), torch.empty(n, device="cuda")
    ms = median_ms(lambda: b.copy_(a), args.warmup, args.iters)
    return 2.0 * n * 4 / (ms * 1e-3) / 1e9


def gemm_tflops(args, dtype):
    n = 4096
    a, b = rand((n, n), dtype, 2), rand((n, n), dtype, 3)
    ms = median_ms(lambda: torch.matmul(a, b), args.warmup, args.iters)
    return 2.0 * n ** 3 / (ms * 1e-3) / 1e12


DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32}

# name, dtype, batch, heads, q_len, kv_len, head_dim, fused QKV input
ATTENTION = [
    ("mha_f16_vit_b64", "f16", 64, 12, 197, 197, 64, True),
    ("mha_f16_detr_b8_s1050", "f16", 8, 8, 1050, 1050, 32, False),
    ("mha_bf16_vit_b64", "bf16", 64, 12, 197, 197, 64, True),
    ("mha_bf16_detr_b8_s1050", "bf16", 8, 8, 1050, 1050, 32, False),
    ("mha_f32_vit_b64", "f32", 64, 12, 197, 197, 64, True),
    ("mha_f32_detr_b8_s1050", "f32", 8, 8, 1050, 1050, 32, False),
]

# name, dtype, rows, cols
LAYER_NORM = [
    ("layernorm_f16_12608x768", "f16", 12608, 768),
    ("layernorm_f32_12608x768", "f32", 12608, 768),
]


def run_attention(args, case, peak):
    name, tag, b, h, sq, sk, d, fused = case
    dtype = DTYPES[tag]
    if fused:
        # Views of one [B, S, 3, H, D] projection output, as a ViT block has them.
        qkv = rand((b, sq, 3, h, d), dtype, 10)
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(2))
    else:
        q = rand((b, sq, h, d), dtype, 11).transpose(1, 2)
        k = rand((b, sk, h, d), dtype, 12).transpose(1, 2)
        v = rand((b, sk, h, d), dtype, 13).transpose(1, 2)
    ms = median_ms(lambda: F.scaled_dot_product_attention(q, k, v), args.warmup, args.iters)
    tflops = 4.0 * b * h * sq * sk * d / (ms * 1e-3) / 1e12
    return name, ms, tflops, "TFLOP/s", peak, f"torch_matmul_{tag}"


def run_layer_norm(args, case, peak):
    name, tag, rows, cols = case
    dtype = DTYPES[tag]
    x = rand((rows, cols), dtype, 20)
    gamma, beta = rand((cols,), dtype, 22), rand((cols,), dtype, 23)
    ms = median_ms(lambda: F.layer_norm(x, (cols,), gamma, beta, 1e-5), args.warmup, args.iters)
    nbytes = (2 * rows * cols + 2 * cols) * x.element_size()
    return name, ms, nbytes / (ms * 1e-3) / 1e9, "GB/s", peak, "memcpy_d2d"


# name, dtype, batch, queries, heads, head_dim: RT-DETR's decoder, 4 points
# in each of the 80x80, 40x40 and 20x20 maps of a 640x640 input.
DEFORM = [
    ("msda_f16_rtdetr_b1", "f16", 1, 300, 8, 32),
    ("msda_f16_rtdetr_b32", "f16", 32, 300, 8, 32),
    ("msda_f32_rtdetr_b32", "f32", 32, 300, 8, 32),
]


def run_deform(args, case, peak):
    """transformers' grid_sample-based MultiScaleDeformableAttention, as
    RT-DETR runs it in PyTorch."""
    name, tag, b, q, heads, head_dim = case
    dtype = DTYPES[tag]
    levels, points = [(80, 80), (40, 40), (20, 20)], 4
    cells = sum(h * w for h, w in levels)
    value = rand((b, cells, heads, head_dim), dtype, 30)
    loc = (rand((b, q, heads, len(levels), points, 2), dtype, 31) + 1) / 2
    weights = (rand((b, q, heads, len(levels), points), dtype, 32) + 1) / 2

    def fn():
        maps = value.split([h * w for h, w in levels], dim=1)
        grids = 2 * loc - 1
        sampled = []
        for l, (h, w) in enumerate(levels):
            v = maps[l].flatten(2).transpose(1, 2).reshape(b * heads, head_dim, h, w)
            g = grids[:, :, :, l].transpose(1, 2).flatten(0, 1)
            sampled.append(F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False))
        a = weights.transpose(1, 2).reshape(b * heads, 1, q, len(levels) * points)
        out = (torch.stack(sampled, dim=-2).flatten(-2) * a).sum(-1).view(b, heads * head_dim, q)
        return out.transpose(1, 2).contiguous()

    ms = median_ms(fn, args.warmup, args.iters)
    per_point = 4 * head_dim + 3
    nbytes = (b * q * heads * len(levels) * points * per_point + b * q * heads * head_dim) * value.element_size()
    return name, ms, nbytes / (ms * 1e-3) / 1e9, "GB/s", peak, "memcpy_d2d"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", action="store_true")
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--filter", default="")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("peer_torch_kernels: no CUDA device", file=sys.stderr)
        return 1
    global FLUSH
    FLUSH = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")

    copy_peak = copy_gbps(args)
    gemm_peak = {tag: gemm_tflops(args, dt) for tag, dt in DTYPES.items()}
    results = []
    for case in ATTENTION:
        if args.filter in case[0]:
            results.append(run_attention(args, case, gemm_peak[case[1]]))
    for case in LAYER_NORM:
        if args.filter in case[0]:
            results.append(run_layer_norm(args, case, copy_peak))
    for case in DEFORM:
        if args.filter in case[0]:
            results.append(run_deform(args, case, copy_peak))

    if args.csv:
        print("case,ms,achieved,unit,peak_pct,peak_name,peak")
        for name, ms, val, unit, peak, peak_name in results:
            print(f"{name},{ms:.5f},{val:.2f},{unit},{100 * val / peak:.1f},{peak_name},{peak:.1f}")
    else:
        print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}")
        print(f"{'case':<28} {'ms':>10} {'achieved':>12} {'unit':<8} {'% peak':>8}  peak (measured)")
        for name, ms, val, unit, peak, peak_name in results:
            print(f"{name:<28} {ms:10.4f} {val:12.1f} {unit:<8} {100 * val / peak:7.1f}%  {peak_name} {peak:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
