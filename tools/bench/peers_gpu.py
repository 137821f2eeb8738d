#!/usr/bin/env python3
"""visionrt on the GPU next to PyTorch on the same model, batch and precision.

Makes a randomly initialised ViT-B/16 224, DETR-R50 or RT-DETR-R50vd with
the published checkpoints' exact shapes (google/vit-base-patch16-224,
facebook/detr-resnet-50, PekingU/rtdetr_r50vd), or takes a Hugging Face folder, and times in one
run, per precision and batch size: `visionrt bench --device cuda` (CUDA
graphs on), transformers eager and (unless --no-compile) transformers under
torch.compile. fp32 runs with TF32 off on both sides. Times are medians of
CUDA-synchronised passes after warm-up, on random pixels (DETR: 800x1333, no
padding; RT-DETR: 640x640); the last column is PyTorch's time over visionrt's (above 1:
visionrt faster).

    python3 tools/bench/peers_gpu.py [--model vit-b16|detr-r50|rtdetr-r50vd|dfine-s|DIR] [--precisions fp32,fp16]
                               [--batches 1,64,256] [--size HxW] [--no-compile]

Needs torch with CUDA and transformers; not needed to build, run or test visionrt.
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
        model, processor = tf.ViTForImageClassification(tf.ViTConfig(num_labels=1000)), tf.ViTImageProcessor()
    elif name == "detr-r50":
        model = tf.DetrForObjectDetection(tf.DetrConfig(num_labels=91, use_pretrained_backbone=False))
        processor = tf.DetrImageProcessor()
    elif name == "rtdetr-r50vd":  # RTDetrConfig's defaults are rtdetr_r50vd's architecture
        model, processor = tf.RTDetrForObjectDetection(tf.RTDetrConfig(num_labels=80)), tf.RTDetrImageProcessor()
    elif name == "dfine-s":  # ustc-community/dfine-small-coco's architecture, as the fixtures make it
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures"))
        import make_dfine_fixtures
        config = make_dfine_fixtures.build_config(make_dfine_fixtures.LARGE["dfine_small"])
        model, processor = tf.DFineForObjectDetection(config), tf.RTDetrImageProcessor()
    else:
        raise SystemExit(f"unknown model {name}: vit-b16, detr-r50, rtdetr-r50vd, dfine-s or a folder")
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def median_ms(fn, warmup, iterations):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def visionrt_ms(tool, folder, precision, batch, size, iterations, warmup):
    run = subprocess.run([tool, "bench", "--model", folder, "--device", "cuda", "--precision", precision,
                          "--batch", str(batch), "--size", f"{size[0]}x{size[1]}", "--iterations", str(iterations),
                          "--warmup", str(warmup), "--json"], capture_output=True, text=True)
    if run.returncode != 0:
        return None, run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "failed"
    return json.loads(run.stdout.splitlines()[-1])["latency_ms"]["p50"], ""


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="vit-b16", help="vit-b16, detr-r50, rtdetr-r50vd, dfine-s or a model folder")
    p.add_argument("--size", default=None, help="HxW (default: the ViT's image size; 800x1333 for DETR, 640x640 "
                   "for RT-DETR)")
    p.add_argument("--precisions", default="fp32,fp16")
    p.add_argument("--batches", default="1,64,256")
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--visionrt", default="build/visionrt", help="the visionrt tool")
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("peers_gpu: torch sees no CUDA device")
    import transformers as tf
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    folder = args.model if os.path.isdir(args.model) else make_model(args.model, os.path.join(tempfile.mkdtemp(), "model"))
    config = tf.AutoConfig.from_pretrained(folder)
    classes = {"detr": tf.DetrForObjectDetection, "rt_detr": tf.RTDetrForObjectDetection,
               "rt_detr_v2": tf.RTDetrV2ForObjectDetection, "d_fine": tf.DFineForObjectDetection}
    base = classes.get(config.model_type, tf.ViTForImageClassification).from_pretrained(folder).eval()
    if args.size:
        size = tuple(int(v) for v in args.size.split("x"))
    elif config.model_type == "detr":
        size = (800, 1333)
    elif config.model_type in classes:
        size = (640, 640)
    else:
        size = (config.image_size, config.image_size)
    print(f"{torch.cuda.get_device_name()}; {config.model_type} {folder}, {size[0]}x{size[1]}")
    header = f"{'precision':<10}{'batch':>6}{'engine':>16}{'median ms':>11}{'images/s':>11}{'torch/visionrt':>16}"
    print(header)
    for precision in args.precisions.split(","):
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
        model = base.to("cuda", dtype)
        compiled = None if args.no_compile else torch.compile(model)
        for batch in (int(b) for b in args.batches.split(",")):
            g = torch.Generator(device="cuda").manual_seed(batch)
            pixels = torch.randn(batch, 3, *size, device="cuda", generator=g).to(dtype)
            ours, why = visionrt_ms(args.visionrt, folder, precision, batch, size, args.iterations, args.warmup)
            rows = [("visionrt", ours)]
            with torch.inference_mode():
                rows.append(("torch eager", median_ms(lambda: model(pixels), args.warmup, args.iterations)))
                if compiled is not None:
                    rows.append(("torch.compile", median_ms(lambda: compiled(pixels), args.warmup, args.iterations)))
            for name, ms in rows:
                if ms is None:
                    print(f"{precision:<10}{batch:>6}{name:>16}{'failed':>11}  {why}")
                    continue
                ratio = f"{ms / ours:.2f}" if ours else "n/a"
                print(f"{precision:<10}{batch:>6}{name:>16}{ms:>11.3f}{batch * 1000 / ms:>11.0f}{ratio:>16}")
            sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
