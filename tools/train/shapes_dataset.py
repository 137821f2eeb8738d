#!/usr/bin/env python3
"""Synthetic "shapes" detection data: circles, squares and triangles on cluttered backgrounds.

Every image is a pure function of (seed, index), so the training loop can draw an endless stream of fresh
images while a held-out set written with another seed stays disjoint and reproducible.

Category ids are the model's label ids: 0 = circle, 1 = square, 2 = triangle. Boxes are COCO style
[x, y, width, height] in pixels, tight around the drawn shape.

Command line: write PNGs plus a COCO annotations file

    python tools/train/shapes_dataset.py --out DIR --count N --seed S [--width 128 --height 128]

produces DIR/shapes_00000.png ... and DIR/annotations.json. Seeds in use: 7 for training
(tools/train/train_detr_shapes.py), 1000 for the held-out set in tests/fixtures/shapes-eval, 2024 for the example
images in models/demo/images/shapes (written with --no-annotations).
"""

import argparse
import json
import math
import os

import numpy as np
from PIL import Image, ImageDraw

CATEGORIES = ["circle", "square", "triangle"]
DEFAULT_SIZE = (128, 128)  # (width, height)


def _random_colour(rng):
    return tuple(int(v) for v in rng.integers(0, 256, size=3))


def _colour_distance(a, b):
    return math.sqrt(sum((float(x) - float(y)) ** 2 for x, y in zip(a, b)))


def _background(rng, width, height):
    """Gradient + noise + random lines: enough clutter that colour alone does not give the shapes away."""
    c0 = rng.uniform(0, 255, size=3)
    c1 = rng.uniform(0, 255, size=3)
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = (xs * math.cos(angle) + ys * math.sin(angle))
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    image = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
    # Low-frequency blotches: upsampled coarse noise.
    coarse = rng.normal(0, 25, size=(4, 4, 3)).astype(np.float32)
    blotches = np.stack(
        [np.array(Image.fromarray(coarse[..., c]).resize((width, height), Image.BILINEAR)) for c in range(3)],
        axis=-1,
    )
    image = image + blotches + rng.normal(0, 8, size=(height, width, 3))
    canvas = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(2, 9))):
        x0, x1 = rng.uniform(-10, width + 10, size=2)
        y0, y1 = rng.uniform(-10, height + 10, size=2)
        draw.line([(x0, y0), (x1, y1)], fill=_random_colour(rng), width=int(rng.integers(1, 4)))
    return canvas


def _shape_polygon(rng, kind, cx, cy, size):
    """Outline points (for square/triangle) or None (circle); size is the side / diameter in pixels."""
    if kind == "square":
        h = size / 2
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if kind == "triangle":
        radius = size / math.sqrt(3)  # equilateral triangle with side `size`
        start = rng.uniform(0, 2 * math.pi)
        return [(cx + radius * math.cos(start + k * 2 * math.pi / 3),
                 cy + radius * math.sin(start + k * 2 * math.pi / 3)) for k in range(3)]
    return None


def _iou(a, b):
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    ix = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    iy = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def generate_sample(seed, index, width=DEFAULT_SIZE[0], height=DEFAULT_SIZE[1], max_objects=4):
    """Returns (HxWx3 uint8 array, list of {"bbox": [x, y, w, h], "category_id": int})."""
    rng = np.random.default_rng([seed, index])
    canvas = _background(rng, width, height)
    draw = ImageDraw.Draw(canvas)
    background_mean = tuple(np.asarray(canvas).reshape(-1, 3).mean(axis=0))
    objects = []
    wanted = int(rng.integers(1, max_objects + 1))
    short_side = min(width, height)
    attempts = 0
    while len(objects) < wanted and attempts < 50:
        attempts += 1
        category = int(rng.integers(0, len(CATEGORIES)))
        kind = CATEGORIES[category]
        size = rng.uniform(0.12, 0.38) * short_side
        margin = size * 0.6 + 1
        cx = rng.uniform(margin, width - margin)
        cy = rng.uniform(margin, height - margin)
        polygon = _shape_polygon(rng, kind, cx, cy, size)
        if polygon is None:
            x0, y0, x1, y1 = cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2
        else:
            xs = [p[0] for p in polygon]
            ys = [p[1] for p in polygon]
            x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        box = [x0, y0, x1 - x0, y1 - y0]
        # Mostly separate objects: heavy overlap makes the ground truth ambiguous.
        if any(_iou(box, o["bbox"]) > 0.1 for o in objects):
            continue
        colour = _random_colour(rng)
        while _colour_distance(colour, background_mean) < 90:
            colour = _random_colour(rng)
        if polygon is None:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.polygon(polygon, fill=colour)
        # Round outward to whole pixels, as the rasteriser covers partial pixels.
        bx0, by0 = math.floor(x0), math.floor(y0)
        bx1, by1 = min(math.ceil(x1), width), min(math.ceil(y1), height)
        objects.append({"bbox": [float(bx0), float(by0), float(bx1 - bx0), float(by1 - by0)],
                        "category_id": category})
    return np.asarray(canvas, dtype=np.uint8), objects


def coco_categories():
    return [{"id": i, "name": name, "supercategory": "shape"} for i, name in enumerate(CATEGORIES)]


def write_dataset(out_dir, count, seed, width=DEFAULT_SIZE[0], height=DEFAULT_SIZE[1], max_objects=4,
                  with_annotations=True):
    """Writes count PNGs and annotations.json (COCO format) into out_dir; returns the COCO dict."""
    os.makedirs(out_dir, exist_ok=True)
    images, annotations = [], []
    for index in range(count):
        pixels, objects = generate_sample(seed, index, width, height, max_objects)
        file_name = f"shapes_{index:05d}.png"
        Image.fromarray(pixels).save(os.path.join(out_dir, file_name), optimize=True)
        image_id = index + 1
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        for obj in objects:
            x, y, w, h = obj["bbox"]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": obj["category_id"], "bbox": [x, y, w, h],
                                "area": w * h, "iscrowd": 0})
    coco = {"info": {"description": f"synthetic shapes, seed {seed}"},
            "images": images, "annotations": annotations, "categories": coco_categories()}
    if with_annotations:
        with open(os.path.join(out_dir, "annotations.json"), "w") as f:
            json.dump(coco, f, indent=1)
    return coco


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--width", type=int, default=DEFAULT_SIZE[0])
    parser.add_argument("--height", type=int, default=DEFAULT_SIZE[1])
    parser.add_argument("--max-objects", type=int, default=4)
    parser.add_argument("--no-annotations", action="store_true", help="write the PNGs only")
    args = parser.parse_args()
    coco = write_dataset(args.out, args.count, args.seed, args.width, args.height, args.max_objects,
                         with_annotations=not args.no_annotations)
    print(f"wrote {len(coco['images'])} images, {len(coco['annotations'])} boxes to {args.out}")


if __name__ == "__main__":
    main()
