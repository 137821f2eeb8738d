#!/usr/bin/env python3
"""Features of `visionrt embed` next to transformers' for the same images.

For a DINOv2 (or ViT, DeiT) folder, runs transformers' image processor (the
Pillow one) and the model in float32, takes the class token after the last
LayerNorm (last_hidden_state[:, 0]; DINOv2's pooler_output, what
pipeline("image-feature-extraction", pool=True) gives for it), runs `visionrt embed --pooling cls` on the same files, and
prints the cosine similarity and max abs difference per image.

Usage:
  python tools/bench/embed_vs_transformers.py --model DIR [--visionrt build/visionrt] IMAGE...

Needs torch, transformers 5.x and pillow (tools only; the engine needs none).
"""
import argparse
import json
import math
import subprocess
import sys

import torch
from PIL import Image
from transformers import AutoConfig, AutoModel, BitImageProcessorPil, DeiTImageProcessorPil, ViTImageProcessorPil


def processor_for(model_dir, model_type):
    cls = {"dinov2": BitImageProcessorPil, "dinov2_with_registers": BitImageProcessorPil,
           "deit": DeiTImageProcessorPil}.get(model_type, ViTImageProcessorPil)
    return cls.from_pretrained(model_dir)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--visionrt", default="build/visionrt")
    ap.add_argument("images", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(2)
    config = AutoConfig.from_pretrained(args.model)
    model = AutoModel.from_pretrained(args.model, attn_implementation="eager").float().eval()
    processor = processor_for(args.model, config.model_type)
    out = subprocess.run([args.visionrt, "embed", "--device", "cpu", "--model", args.model, "--pooling", "cls",
                          *args.images], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"visionrt embed failed: {out.stderr}")
    ours = {row["image"]: row["features"] for row in map(json.loads, out.stdout.splitlines())}
    worst = 1.0
    print(f"{'image':48s} {'cosine':>12s} {'max abs diff':>13s}")
    for path in args.images:
        pixels = processor(Image.open(path).convert("RGB"), return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            want = model(pixel_values=pixels).last_hidden_state[0, 0].double()
        got = torch.tensor(ours[path], dtype=torch.float64)
        cosine = float(torch.dot(got, want) / (got.norm() * want.norm()))
        worst = min(worst, cosine)
        print(f"{path:48s} {cosine:12.9f} {float((got - want).abs().max()):13.3e}")
    print(f"lowest cosine similarity: {worst:.9f}")
    return 0 if worst >= 0.99999 and not math.isnan(worst) else 1


if __name__ == "__main__":
    sys.exit(main())
