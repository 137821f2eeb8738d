#!/usr/bin/env python3
"""Writes the evaluation reference fixtures: COCO bbox metrics (pycocotools) and DETR's set-prediction loss
(transformers).

    python tools/make_eval_fixtures.py

tests/fixtures/detr/coco_eval_cases/
    <case>_annotations.json, <case>_detections.json  COCO ground truth and results, each case aimed at one part
                                                     of COCOeval (crowd regions, more than 100 detections per image,
                                                     score ties, area-range bounds, IoU exactly at a threshold, ...)
    expected_metrics.json                            pycocotools' 12 summary numbers for every case
tests/fixtures/detr/loss_cases.safetensors / loss_cases.json
    Random DETR outputs and targets with transformers' loss (ForObjectDetectionLoss: HungarianMatcher + ImageLoss),
    the matched (query, target) pairs per image, and one case run through a real DetrForObjectDetection (the r18_hf
    fixture) with labels=. Tensors: case_XX_logits [B, Q, L+1] f32, case_XX_pred_boxes [B, Q, 4] f32 (cx, cy, w, h),
    case_XX_target_labels [N] i64 and case_XX_target_boxes [N, 4] f32, the targets of all images concatenated
    (per-image counts in the json; absent when N = 0).
tests/fixtures/detr/eval_cli/
    image_<i>.png, annotations.json and expected.json: what `visionrt eval` must print for the r18_hf fixture model
    on these images (transformers' outputs and loss, pycocotools' metrics).
"""

import contextlib
import copy
import io
import json
import os

import numpy as np
import torch
from safetensors.torch import load_file, save_file

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE_DIR = os.path.join(REPO_ROOT, "tests", "fixtures", "detr")
STAT_NAMES = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
              "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large"]


# ----------------------------------------------------------------------------------------------------------------
# COCO evaluation cases

def coco_stats(annotations, detections):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = COCO()
        ground_truth.dataset = copy.deepcopy(annotations)
        ground_truth.createIndex()
        results = ground_truth.loadRes(copy.deepcopy(detections))  # loadRes adds keys to the dicts it gets
        evaluator = COCOeval(ground_truth, results, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {n: float(v) for n, v in zip(STAT_NAMES, evaluator.stats)}


def r2(v):
    return round(float(v), 2)


def random_scene(rng, num_images, categories, objects=(1, 6), crowd_rate=0.0, det_rate=0.85, dup_rate=0.3,
                 background=(0, 3), score_levels=None, size=(320, 480)):
    """Images with random objects and detections near them (jittered, some wrong classes, duplicates, background)."""
    images, annotations, detections = [], [], []
    cat_ids = [c["id"] for c in categories]

    def score(low, high):
        s = float(rng.uniform(low, high))
        return round(s, 4) if score_levels is None else float(score_levels[int(rng.integers(len(score_levels)))])

    for image_id in range(1, num_images + 1):
        h, w = int(rng.integers(size[0], size[1])), int(rng.integers(size[0], size[1]))
        images.append({"id": image_id, "file_name": f"image_{image_id:03d}.png", "width": w, "height": h})
        for _ in range(int(rng.integers(objects[0], objects[1] + 1))):
            side = float(rng.choice([rng.uniform(8, 30), rng.uniform(34, 90), rng.uniform(100, 200)]))
            bw, bh = side * rng.uniform(0.7, 1.3), side * rng.uniform(0.7, 1.3)
            x, y = rng.uniform(0, max(1.0, w - bw)), rng.uniform(0, max(1.0, h - bh))
            cat = int(rng.choice(cat_ids))
            crowd = int(rng.uniform() < crowd_rate)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": cat,
                                "bbox": [r2(x), r2(y), r2(bw), r2(bh)], "area": r2(bw * bh * rng.uniform(0.6, 1.0)),
                                "iscrowd": crowd})
            for _ in range(int(rng.integers(1, 4)) if crowd else 1):  # crowds attract several detections
                if rng.uniform() < det_rate:
                    j = rng.normal(0, 0.12 * side, 4)
                    det_cat = cat if rng.uniform() < 0.85 else int(rng.choice(cat_ids))
                    if crowd:  # a part of the crowd region
                        j = np.array([rng.uniform(0, bw / 2), rng.uniform(0, bh / 2), -bw / 2, -bh / 2])
                    detections.append({"image_id": image_id, "category_id": det_cat,
                                       "bbox": [r2(x + j[0]), r2(y + j[1]), r2(max(2.0, bw + j[2])),
                                                r2(max(2.0, bh + j[3]))], "score": score(0.3, 1.0)})
            if rng.uniform() < dup_rate:
                detections.append({"image_id": image_id, "category_id": cat,
                                   "bbox": [r2(x + 2), r2(y - 1), r2(bw), r2(bh)], "score": score(0.05, 0.5)})
        for _ in range(int(rng.integers(background[0], background[1] + 1))):
            bw, bh = rng.uniform(10, 150, 2)
            detections.append({"image_id": image_id, "category_id": int(rng.choice(cat_ids)),
                               "bbox": [r2(rng.uniform(0, w - bw)), r2(rng.uniform(0, h - bh)), r2(bw), r2(bh)],
                               "score": score(0.01, 0.6)})
    return images, annotations, detections


def categories_named(ids):
    return [{"id": i, "name": f"class_{i}"} for i in ids]


def coco_cases():
    cases = {}

    rng = np.random.default_rng(1)
    cats = categories_named([1, 2, 3, 5, 8, 13])
    images, anns, dets = random_scene(rng, 30, cats, objects=(0, 8))
    cases["random"] = ({"images": images, "annotations": anns, "categories": cats}, dets)

    rng = np.random.default_rng(2)
    cats = categories_named([1, 2, 3])
    images, anns, dets = random_scene(rng, 12, cats, crowd_rate=0.3)
    cases["crowd"] = ({"images": images, "annotations": anns, "categories": cats}, dets)

    # Score ties within and across images: the stable orders of pycocotools' mergesorts decide.
    rng = np.random.default_rng(3)
    cats = categories_named([1, 2])
    images, anns, dets = random_scene(rng, 10, cats, score_levels=[0.25, 0.5, 0.75, 0.9])
    cases["score_ties"] = ({"images": images, "annotations": anns, "categories": cats}, dets)

    # More than 100 detections in one image and category: only the best 100 count; maxDets 1 and 10 differ.
    rng = np.random.default_rng(4)
    cats = categories_named([7])
    images, anns, dets = random_scene(rng, 3, cats, objects=(30, 40), dup_rate=0.9, background=(60, 90))
    cases["many_detections"] = ({"images": images, "annotations": anns, "categories": cats}, dets)

    # Areas exactly on the small/medium/large bounds (both ends inclusive), "area" unlike width * height,
    # detections whose own area decides whether an unmatched one is ignored in a range.
    cats = categories_named([1])
    images = [{"id": 10, "file_name": "a.png", "width": 400, "height": 400}]
    anns, dets = [], []
    for k, (side, area) in enumerate([(32, 1024.0), (96, 9216.0), (40, 1024.0), (20, 9216.0), (31, 961.0),
                                      (97, 9409.0), (50, 2000.0)]):
        x = 5 + (k % 4) * 100
        y = 5 + (k // 4) * 150
        anns.append({"id": k + 1, "image_id": 10, "category_id": 1, "bbox": [x, y, side, side], "area": area,
                     "iscrowd": 0})
        dets.append({"image_id": 10, "category_id": 1, "bbox": [x + 1, y, side, side], "score": 0.9 - 0.1 * k})
    for k, side in enumerate([32, 96, 10, 120]):  # unmatched, areas on and off the bounds
        dets.append({"image_id": 10, "category_id": 1, "bbox": [300, 300 - k, side, side], "score": 0.35 - 0.05 * k})
    cases["area_bounds"] = ({"images": images, "annotations": anns, "categories": cats}, dets)

    # IoU exactly at thresholds: gt 0..10 x 0..10 against detections covering 5, 7.5, 9.5 and 10 of its width.
    cats = categories_named([4])
    images = [{"id": i, "file_name": f"{i}.png", "width": 100, "height": 100} for i in (1, 2, 3, 4, 5)]
    anns, dets = [], []
    for i, width in zip((1, 2, 3, 4, 5), (5.0, 7.5, 9.5, 10.0, 6.0)):
        anns.append({"id": i, "image_id": i, "category_id": 4, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0})
        dets.append({"image_id": i, "category_id": 4, "bbox": [0, 0, width, 10], "score": 0.5 + 0.05 * i})
    cases["iou_at_thresholds"] = ({"images": images, "annotations": anns, "categories": cats}, dets)

    # Detections of unlisted categories (dropped), listed categories without ground truth (left out of the
    # averages), images without objects, and a ground-truth box with id 0 (which pycocotools cannot tell from
    # "unmatched": its match counts as a false positive).
    rng = np.random.default_rng(6)
    cats = categories_named([1, 2, 3, 4])
    images, anns, dets = random_scene(rng, 8, categories_named([1, 2]), objects=(0, 4))
    anns[0]["id"] = 0
    dets.append({"image_id": anns[0]["image_id"], "category_id": anns[0]["category_id"], "bbox": anns[0]["bbox"],
                 "score": 0.99})
    for d in dets[::3]:
        d["category_id"] = 99
    for d in dets[1::5]:
        d["category_id"] = 4
    cases["categories_and_ids"] = ({"images": images, "annotations": anns, "categories": cats}, dets)

    # Every object found exactly once: AP 1.
    rng = np.random.default_rng(7)
    cats = categories_named([1, 2, 3])
    images, anns, _ = random_scene(rng, 5, cats, objects=(1, 5))
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
             "score": round(float(rng.uniform(0.5, 1)), 4)} for a in anns]
    cases["perfect"] = ({"images": images, "annotations": anns, "categories": cats}, dets)
    return cases


def write_coco_cases(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    expected = {"tool": "pycocotools COCOeval(iouType='bbox'), default parameters",
                "note": "-1 means nothing to measure (no ground truth in that area range)", "cases": {}}
    for name, (annotations, detections) in coco_cases().items():
        with open(os.path.join(out_dir, f"{name}_annotations.json"), "w") as f:
            json.dump(annotations, f, indent=1)
        with open(os.path.join(out_dir, f"{name}_detections.json"), "w") as f:
            json.dump(detections, f, indent=1)
        stats = coco_stats(annotations, detections)
        expected["cases"][name] = stats
        print(f"coco {name}: {len(annotations['annotations'])} boxes, {len(detections)} detections, "
              f"AP={stats['AP']:.4f} AP50={stats['AP50']:.4f} AP75={stats['AP75']:.4f}")
    with open(os.path.join(out_dir, "expected_metrics.json"), "w") as f:
        json.dump(expected, f, indent=1)


# ----------------------------------------------------------------------------------------------------------------
# DETR loss cases

def random_targets(gen, counts, num_labels):
    targets = []
    for n in counts:
        centre = torch.rand(n, 2, generator=gen) * 0.8 + 0.1
        size = torch.rand(n, 2, generator=gen) * 0.45 + 0.05
        targets.append({"class_labels": torch.randint(0, num_labels, (n,), generator=gen),
                        "boxes": torch.cat([centre, size], dim=1)})
    return targets


def transformers_loss(logits, pred_boxes, targets, config):
    from transformers.loss.loss_for_object_detection import ForObjectDetectionLoss, HungarianMatcher
    matcher = HungarianMatcher(class_cost=config.class_cost, bbox_cost=config.bbox_cost, giou_cost=config.giou_cost)
    indices = matcher({"logits": logits, "pred_boxes": pred_boxes}, targets)
    loss, loss_dict, _ = ForObjectDetectionLoss(logits, targets, logits.device, pred_boxes, config)
    return loss, loss_dict, indices


def case_record(name, logits, pred_boxes, targets, config, loss, loss_dict, indices, note):
    return {
        "name": name, "note": note, "batch": logits.shape[0], "queries": logits.shape[1],
        "num_labels": config.num_labels, "targets_per_image": [len(t["class_labels"]) for t in targets],
        "config": {"class_cost": config.class_cost, "bbox_cost": config.bbox_cost, "giou_cost": config.giou_cost,
                   "eos_coefficient": config.eos_coefficient, "bbox_loss_coefficient": config.bbox_loss_coefficient,
                   "giou_loss_coefficient": config.giou_loss_coefficient},
        "loss": float(loss), **{k: float(v) for k, v in loss_dict.items()},
        "matches": [{"queries": q.tolist(), "targets": t.tolist()} for q, t in indices],
    }


def store_case(tensors, name, logits, pred_boxes, targets):
    tensors[f"{name}_logits"] = logits.float().contiguous()
    tensors[f"{name}_pred_boxes"] = pred_boxes.float().contiguous()
    if sum(len(t["class_labels"]) for t in targets):
        tensors[f"{name}_target_labels"] = torch.cat([t["class_labels"] for t in targets]).long().contiguous()
        tensors[f"{name}_target_boxes"] = torch.cat([t["boxes"] for t in targets]).float().contiguous()


@torch.no_grad()
def loss_cases():
    from transformers import DetrConfig
    specs = [
        # batch, queries, labels, targets per image, logit scale, config overrides, note
        (2, 10, 5, [3, 4], 2.0, {}, "default weights"),
        (1, 6, 3, [6], 2.0, {}, "as many targets as queries"),
        (1, 5, 4, [8], 2.0, {}, "more targets than queries: only 5 matched, all targets count in num_boxes"),
        (3, 12, 91, [0, 5, 2], 3.0, {}, "COCO-sized label set, an image without targets"),
        (2, 20, 3, [1, 7], 6.0, {}, "peaky softmax"),
        (4, 8, 2, [2, 0, 3, 1], 1.0, {"class_cost": 2, "bbox_cost": 3, "giou_cost": 1, "eos_coefficient": 0.25,
                                      "bbox_loss_coefficient": 4, "giou_loss_coefficient": 3}, "other weights"),
        (1, 100, 91, [12], 2.0, {}, "detr-resnet-50's 100 queries"),
    ]
    tensors, records = {}, []
    gen = torch.Generator().manual_seed(2718)
    for k, (batch, queries, labels, counts, scale, overrides, note) in enumerate(specs):
        name = f"case_{k:02d}"
        config = DetrConfig(num_labels=labels, auxiliary_loss=False, **overrides)
        logits = torch.randn(batch, queries, labels + 1, generator=gen) * scale
        pred_boxes = torch.sigmoid(torch.randn(batch, queries, 4, generator=gen))
        targets = random_targets(gen, counts, labels)
        loss, loss_dict, indices = transformers_loss(logits, pred_boxes, targets, config)
        store_case(tensors, name, logits, pred_boxes, targets)
        records.append(case_record(name, logits, pred_boxes, targets, config, loss, loss_dict, indices, note))

    # No targets in the whole batch: transformers' matcher cannot reshape an empty cost matrix, so the reference
    # is written out: every query's target is "no object", num_boxes is clamped to 1, the box losses are 0.
    name = f"case_{len(specs):02d}"
    config = DetrConfig(num_labels=4)
    logits = torch.randn(2, 7, 5, generator=gen) * 2
    pred_boxes = torch.sigmoid(torch.randn(2, 7, 4, generator=gen))
    weight = torch.ones(5)
    weight[-1] = config.eos_coefficient
    ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), torch.full((2, 7), 4), weight)
    targets = random_targets(gen, [0, 0], 4)
    store_case(tensors, name, logits, pred_boxes, targets)
    empty = [(torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64))] * 2
    records.append(case_record(name, logits, pred_boxes, targets, config, ce,
                               {"loss_ce": ce, "loss_bbox": 0.0, "loss_giou": 0.0}, empty,
                               "no targets at all (reference written out, see the script)"))
    records.append(model_case(tensors, f"case_{len(specs) + 1:02d}"))
    return tensors, records


@torch.no_grad()
def model_case(tensors, name):
    """DetrForObjectDetection(labels=...) on the r18_hf fixture's batch: the loss the model itself returns."""
    from transformers import DetrForObjectDetection
    folder = os.path.join(FIXTURE_DIR, "r18_hf")
    model = DetrForObjectDetection.from_pretrained(folder).eval()
    reference = load_file(os.path.join(folder, "reference.safetensors"))
    batch = reference["pixel_values"].shape[0]
    gen = torch.Generator().manual_seed(31415)
    targets = random_targets(gen, [2, 4, 3][:batch] + [1] * max(0, batch - 3), model.config.num_labels)
    out = model(pixel_values=reference["pixel_values"], pixel_mask=reference["pixel_mask"], labels=targets)
    _, _, indices = transformers_loss(out.logits, out.pred_boxes, targets, model.config)
    store_case(tensors, name, out.logits, out.pred_boxes, targets)
    return case_record(name, out.logits, out.pred_boxes, targets, model.config, out.loss, out.loss_dict, indices,
                       "DetrForObjectDetection(labels=...) on tests/fixtures/detr/r18_hf's batch")


def write_loss_cases(out_dir):
    tensors, records = loss_cases()
    save_file(tensors, os.path.join(out_dir, "loss_cases.safetensors"))
    with open(os.path.join(out_dir, "loss_cases.json"), "w") as f:
        json.dump({"tool": "transformers ForObjectDetectionLoss (HungarianMatcher + ImageLoss), float32",
                   "note": "loss = loss_ce + bbox_loss_coefficient * loss_bbox + giou_loss_coefficient * loss_giou; "
                           "matches: per image, matched query and target indices sorted by query",
                   "cases": records}, f, indent=1)
    for r in records:
        print(f"loss {r['name']}: B={r['batch']} Q={r['queries']} L={r['num_labels']} "
              f"targets={r['targets_per_image']} loss={r['loss']:.5f} ce={r['loss_ce']:.5f} "
              f"bbox={r['loss_bbox']:.5f} giou={r['loss_giou']:.5f}")


# ----------------------------------------------------------------------------------------------------------------
# End-to-end case for `visionrt eval`

CLI_IMAGE_SIZES = [(64, 64), (64, 90), (80, 64), (64, 72), (72, 64)]  # (height, width): no resizing needed


def smooth_noise_image(rng, height, width):
    from PIL import Image
    coarse = rng.uniform(0, 255, size=(max(2, height // 16), max(2, width // 16), 3)).astype(np.float32)
    channels = [np.array(Image.fromarray(coarse[..., c]).resize((width, height), Image.BICUBIC)) for c in range(3)]
    image = np.stack(channels, axis=-1) + rng.normal(0, 20, size=(height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def iou_xywh(a, b):
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


@torch.no_grad()
def write_cli_case(out_dir):
    """Images, COCO annotations and what transformers + pycocotools make of them with the r18_hf fixture model.

    The ground truth is built from the model's own (jittered) predictions so that AP is far from 0, with IoUs kept
    at least 0.005 away from every COCO threshold so that float32 differences between implementations cannot flip
    a match. Also: a crowd region, a box reaching outside the image (clipped for the loss), an image without
    objects. Every image is processed alone (no padding), as `visionrt eval` does.
    """
    from PIL import Image
    from transformers import DetrForObjectDetection, DetrImageProcessor
    folder = os.path.join(FIXTURE_DIR, "r18_hf")
    model = DetrForObjectDetection.from_pretrained(folder).eval()
    processor = DetrImageProcessor.from_pretrained(folder)
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(8080)
    thresholds = np.linspace(0.5, 0.95, 10)
    images, annotations, detections = [], [], []
    loss_sums = {"loss": 0.0, "loss_ce": 0.0, "loss_bbox": 0.0, "loss_giou": 0.0}
    for image_id, (h, w) in enumerate(CLI_IMAGE_SIZES, start=1):
        file_name = f"image_{image_id}.png"
        pixels = smooth_noise_image(rng, h, w)
        Image.fromarray(pixels).save(os.path.join(out_dir, file_name))
        image = Image.open(os.path.join(out_dir, file_name)).convert("RGB")
        images.append({"id": image_id, "file_name": file_name, "width": w, "height": h})
        plain = processor(images=image, return_tensors="pt")
        assert tuple(plain["pixel_values"].shape[-2:]) == (h, w), "the case needs images at the processed size"
        out = model(pixel_values=plain["pixel_values"], pixel_mask=plain["pixel_mask"])
        result = processor.post_process_object_detection(out, threshold=0.0, target_sizes=[(h, w)])[0]
        dets = [{"image_id": image_id, "category_id": int(label), "score": float(score),
                 "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]}
                for score, label, b in zip(result["scores"].tolist(), result["labels"].tolist(),
                                           result["boxes"].tolist())]
        detections += dets
        objects = []
        if image_id != 5:  # image 5 has no objects
            for det in sorted(dets, key=lambda d: -d["score"])[:4]:
                x, y, bw, bh = det["bbox"]
                while True:  # jitter until no IoU with a detection is within 0.005 of a threshold
                    box = [r2(x + rng.normal(0, 0.08 * bw)), r2(y + rng.normal(0, 0.08 * bh)),
                           r2(bw * rng.uniform(0.8, 1.2)), r2(bh * rng.uniform(0.8, 1.2))]
                    ious = [iou_xywh(d["bbox"], box) for d in dets]
                    if box[2] > 1 and box[3] > 1 and all(np.abs(thresholds - v).min() > 0.005 for v in ious):
                        break
                label = det["category_id"] if rng.uniform() < 0.8 else int(rng.integers(0, 5))
                objects.append({"category_id": label, "bbox": box, "iscrowd": 0})
            if image_id == 2:  # a crowd region: ignored by COCO matching and left out of DETR's targets
                objects.append({"category_id": 1, "bbox": [2.0, 3.0, 30.0, 25.0], "iscrowd": 1})
            if image_id == 3:  # reaches outside the image: clipped for the loss
                objects.append({"category_id": 2, "bbox": [w - 20.0, -6.0, 35.0, 30.0], "iscrowd": 0})
        for o in objects:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "area": r2(o["bbox"][2] * o["bbox"][3]), **o})
        mine = [a for a in annotations if a["image_id"] == image_id]
        encoded = processor(images=image, annotations={"image_id": image_id, "annotations": mine},
                            return_tensors="pt")
        labels = [{k: encoded["labels"][0][k] for k in ("class_labels", "boxes")}]
        if len(labels[0]["class_labels"]):
            out = model(pixel_values=encoded["pixel_values"], pixel_mask=encoded["pixel_mask"], labels=labels)
            parts = {"loss": float(out.loss),
                     **{k: float(out.loss_dict[k]) for k in ("loss_ce", "loss_bbox", "loss_giou")}}
        else:  # transformers' matcher fails on an empty target list; every query targets "no object"
            weight = torch.ones(out.logits.shape[-1])
            weight[-1] = model.config.eos_coefficient
            ce = float(torch.nn.functional.cross_entropy(out.logits[0], torch.full((out.logits.shape[1],),
                                                         out.logits.shape[-1] - 1), weight))
            parts = {"loss": ce, "loss_ce": ce, "loss_bbox": 0.0, "loss_giou": 0.0}
        for k in loss_sums:
            loss_sums[k] += parts[k]
    categories = [{"id": i, "name": n} for i, n in sorted((int(k), v) for k, v in model.config.id2label.items())]
    dataset = {"images": images, "annotations": annotations, "categories": categories}
    with open(os.path.join(out_dir, "annotations.json"), "w") as f:
        json.dump(dataset, f, indent=1)
    scores = sorted(d["score"] for d in detections)
    expected = {
        "tool": "transformers DetrForObjectDetection (tests/fixtures/detr/r18_hf) + DetrImageProcessor, each image "
                "alone; pycocotools COCOeval bbox on post_process_object_detection(threshold=0); loss: mean over "
                "images of the loss the model returns with labels=",
        "images": len(images), "objects": len(annotations), "detections": len(detections),
        "metrics": coco_stats(dataset, detections),
        "loss": {k: v / len(images) for k, v in loss_sums.items()},
        "smallest_score_gap": float(np.diff(scores).min()),
    }
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    m = expected["metrics"]
    print(f"eval_cli: {len(images)} images, {len(annotations)} objects, AP={m['AP']:.4f} AP50={m['AP50']:.4f} "
          f"loss={expected['loss']['loss']:.5f}, smallest score gap {expected['smallest_score_gap']:.2g}")


def main():
    torch.set_num_threads(1)
    write_coco_cases(os.path.join(FIXTURE_DIR, "coco_eval_cases"))
    write_loss_cases(FIXTURE_DIR)
    write_cli_case(os.path.join(FIXTURE_DIR, "eval_cli"))


if __name__ == "__main__":
    main()
