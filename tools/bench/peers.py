#!/usr/bin/env python3
"""visionrt next to its peers on the same model, input, batch and threads.

Makes a randomly initialised model with a published checkpoint's exact
shapes (ViT-B/16 224 as google/vit-base-patch16-224, DETR-R50 as
facebook/detr-resnet-50, RT-DETR-R50vd as PekingU/rtdetr_r50vd, D-FINE-S as
ustc-community/dfine-small-coco, DINOv2-B/14 as facebook/dinov2-base with the
linear head of dinov2-base-imagenet1k-1-layer, run at 224, DeiT-B distilled as
facebook/deit-base-distilled-patch16-224), saves it
with save_pretrained, and times in one run: `visionrt bench` (fp32, and bf16
where the CPU has AVX-512 BF16 or AMX), PyTorch eager (torch.inference_mode),
ONNX Runtime (the model exported with torch.onnx, full graph optimisation)
and, with --openvino, OpenVINO (ov.convert_model on the transformers model,
INFERENCE_PRECISION_HINT f32 and bf16), each with the same thread count, on
the same random pixels. Prints the CPU, one row per engine with its median
latency, images/s, GFLOP/s and ratio to visionrt, and the fp32 matrix
product rate PyTorch reaches on this machine (the floor to compare with).

    python3 tools/bench/peers.py --model vit-b16 [--batch 1] [--threads 2] [--iterations 10]
    python3 tools/bench/peers.py --model detr-r50 --size 800x1066
    python3 tools/bench/peers.py --model rtdetr-r50vd --openvino     # 640x640
    python3 tools/bench/peers.py --model dfine-s --openvino          # 640x640
    python3 tools/bench/peers.py --model dinov2-b14 --openvino       # 224x224, the 37x37 positions resized
    python3 tools/bench/peers.py --model deit-b-distilled --openvino
    python3 tools/bench/peers.py --model DIR      # an existing Hugging Face folder

Needs torch, transformers, onnx, onnxscript, onnxruntime (timm for DETR,
openvino for --openvino); not needed to build, run or test visionrt.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch


def make_model(name, out_dir):
    import transformers as tf
    torch.manual_seed(0)
    if name == "vit-b16":
        model = tf.ViTForImageClassification(tf.ViTConfig(num_labels=1000))
        processor = tf.ViTImageProcessor()
    elif name == "detr-r50":
        model = tf.DetrForObjectDetection(tf.DetrConfig(num_labels=91, use_pretrained_backbone=False))
        processor = tf.DetrImageProcessor()
    elif name == "rtdetr-r50vd":  # RTDetrConfig's defaults are PekingU/rtdetr_r50vd's architecture
        model = tf.RTDetrForObjectDetection(tf.RTDetrConfig(num_labels=80))
        processor = tf.RTDetrImageProcessor()
    elif name == "dfine-s":  # HGNetV2-B0 and the small encoder/decoder, as transformers' conversion sets them
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures"))
        import make_dfine_fixtures
        model = tf.DFineForObjectDetection(make_dfine_fixtures.build_config(make_dfine_fixtures.LARGE["dfine_small"]))
        processor = tf.RTDetrImageProcessor()
    elif name == "dinov2-b14":
        model = tf.Dinov2ForImageClassification(tf.Dinov2Config(
            hidden_size=768, num_hidden_layers=12, num_attention_heads=12, patch_size=14, image_size=518,
            num_labels=1000))
        processor = tf.BitImageProcessor(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224},
                                         do_center_crop=True, image_mean=[0.485, 0.456, 0.406],
                                         image_std=[0.229, 0.224, 0.225], resample=3)
    elif name == "deit-b-distilled":
        model = tf.DeiTForImageClassificationWithTeacher(tf.DeiTConfig(num_labels=1000))
        processor = tf.DeiTImageProcessor()
    else:
        raise SystemExit(f"unknown model {name}: vit-b16, detr-r50, rtdetr-r50vd, dfine-s, dinov2-b14, "
                         "deit-b-distilled or a folder")
    model.eval()
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def load_model(folder):
    """The model, and its kind: "detr" (pixels and mask), "rt_detr*" or "d_fine" (pixels, 640x640), or the ViT family's model_type."""
    import transformers as tf
    config = tf.AutoConfig.from_pretrained(folder)
    classes = {"detr": tf.DetrForObjectDetection, "rt_detr": tf.RTDetrForObjectDetection,
               "rt_detr_v2": tf.RTDetrV2ForObjectDetection, "d_fine": tf.DFineForObjectDetection}
    if config.model_type in classes:
        return classes[config.model_type].from_pretrained(folder).eval(), config.model_type
    # The ViT family: the class config.json names (DeiT's teacher head, DINOv2's).
    return tf.AutoModelForImageClassification.from_pretrained(folder).eval(), config.model_type


class TensorOutputs(torch.nn.Module):
    """The model with its output object flattened to tensors, for tracing converters."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, *inputs):
        out = self.model(*inputs)
        return (out.logits, out.pred_boxes) if hasattr(out, "pred_boxes") else out.logits


def cpu_description():
    name = "unknown CPU"
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and name == "unknown CPU":
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8") if f in flags]
    return name, isa


def median_ms(fn, warmup, iterations):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def matmul_gflops(threads):
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    ms = median_ms(lambda: a @ b, 2, 5)
    return 2 * 2048**3 / ms / 1e6


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="vit-b16, detr-r50 or a model folder")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--size", default=None, help="HxW (default: ViT's image size, 800x1066 for DETR)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="cpu", choices=["cpu"])
    p.add_argument("--visionrt", default="build/visionrt", help="the visionrt tool")
    p.add_argument("--openvino", action="store_true", help="also OpenVINO, f32 and bf16")
    p.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    work = tempfile.mkdtemp(prefix="visionrt-peers-")
    folder = args.model if os.path.isdir(args.model) else make_model(args.model, os.path.join(work, "model"))
    model, kind = load_model(folder)
    is_detr = kind == "detr"
    if args.size:
        h, w = (int(v) for v in args.size.split("x"))
    elif is_detr:
        h, w = 800, 1066
    elif kind.startswith("rt_detr") or kind == "d_fine":
        h, w = 640, 640
    elif kind.startswith("dinov2"):
        h, w = 224, 224  # the processor's crop; the position grid follows the input
    else:
        h = w = model.config.image_size
    g = torch.Generator().manual_seed(2024)
    pixels = torch.randn(args.batch, 3, h, w, generator=g)
    mask = torch.ones(args.batch, h, w, dtype=torch.long)
    inputs = (pixels, mask) if is_detr else (pixels,)

    cpu, isa = cpu_description()
    bf16 = "avx512_bf16" in isa or "amx_bf16" in isa
    rows = []

    def visionrt_bench(precision):
        bench = subprocess.run(
            [args.visionrt, "bench", "--model", folder, "--batch", str(args.batch), "--size", f"{h}x{w}",
             "--threads", str(args.threads), "--iterations", str(args.iterations), "--warmup", str(args.warmup),
             "--device", "cpu", "--precision", precision, "--json"], capture_output=True, text=True, check=True)
        return json.loads(bench.stdout)

    v = visionrt_bench("fp32")
    rows.append(("visionrt", v["latency_ms"]["p50"]))
    if bf16:
        rows.append(("visionrt bf16", visionrt_bench("bf16")["latency_ms"]["p50"]))

    with torch.inference_mode():
        rows.append(("PyTorch eager", median_ms(lambda: model(*inputs), args.warmup, args.iterations)))

    import onnxruntime as ort
    onnx_path = os.path.join(work, "model.onnx")
    names = ["pixel_values", "pixel_mask"] if is_detr else ["pixel_values"]
    try:
        torch.onnx.export(model, inputs, onnx_path, input_names=names, opset_version=18)
    except Exception as e:  # D-FINE's shape assertions (aten._is_all_true) have no ONNX form in torch.export
        print(f"torch.export-based ONNX export failed ({type(e).__name__}); using the TorchScript exporter",
              file=sys.stderr)
        torch.onnx.export(model, inputs, onnx_path, input_names=names, opset_version=18, dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    feeds = {n: t.numpy() for n, t in zip(names, inputs)}
    rows.append(("ONNX Runtime", median_ms(lambda: session.run(None, feeds), args.warmup, args.iterations)))

    if args.openvino:
        import openvino as ov
        core = ov.Core()
        converted = ov.convert_model(TensorOutputs(model), example_input=inputs)
        for hint in ["f32"] + (["bf16"] if bf16 else []):
            compiled = core.compile_model(converted, "CPU", {"INFERENCE_NUM_THREADS": args.threads,
                                                            "INFERENCE_PRECISION_HINT": hint,
                                                            "PERFORMANCE_HINT": "LATENCY"})
            request = compiled.create_infer_request()
            ov_feeds = [t.numpy() for t in inputs]
            rows.append((f"OpenVINO {hint}", median_ms(lambda: request.infer(ov_feeds), args.warmup, args.iterations)))

    floor = matmul_gflops(args.threads)
    gflop = v["gflop_per_pass"]
    result = {"model": args.model, "cpu": cpu, "isa": isa, "batch": args.batch, "size": [h, w], "threads": args.threads,
              "gflop_per_pass": gflop, "torch_matmul_gflops_2048": floor,
              "peak_resident_mb_visionrt": v["peak_resident_mb"],
              "engines": [{"name": n, "median_ms": ms, "images_per_s": args.batch * 1000 / ms,
                           "gflops": gflop / (ms / 1000), "ratio_to_visionrt": ms / rows[0][1]}
                          for n, ms in rows]}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{cpu} ({', '.join(isa)})")
    print(f"{args.model}: batch {args.batch}, {h}x{w}, {args.threads} threads, "
          f"{gflop:.1f} GFLOP per pass; PyTorch fp32 matmul 2048^3 here: {floor:.0f} GFLOP/s")
    print(f"{'engine':<16}{'median ms':>11}{'images/s':>10}{'GFLOP/s':>9}{'vs visionrt':>13}")
    for e in result["engines"]:
        print(f"{e['name']:<16}{e['median_ms']:>11.1f}{e['images_per_s']:>10.2f}{e['gflops']:>9.0f}"
              f"{e['ratio_to_visionrt']:>12.2f}x")
    print(f"visionrt peak resident memory: {v['peak_resident_mb']:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
