#!/usr/bin/env python3
"""Trains the small demo DETR in models/demo/detr-shapes on synthetic shapes (tools/train/shapes_dataset.py).

The model is a stock transformers DetrForObjectDetection (3 labels: circle, square, triangle) with a small
transformers ResNet backbone trained from scratch, so it loads like any published DETR checkpoint.

    python tools/train/train_detr_shapes.py                  # defaults: 6 + 30 minutes on one CPU thread
    python tools/train/train_detr_shapes.py --pretrain-minutes 2 --minutes 10 --threads 2 --out /tmp/detr-shapes

Two phases, both on freshly generated images every step (no epochs, no overfitting): a short dense warm-up of
the backbone (see pretrain_backbone), then DETR's own Hungarian-matching loss with auxiliary decoder losses.
The DETR phase evaluates COCO AP on the held-out set in tests/fixtures/shapes-eval every --eval-every steps
and saves the best model so far, so a usable checkpoint exists early. Uses CUDA when available.

Initialisation follows the original DETR code (see reset_parameters_like_original_detr); the saved config
has auxiliary_loss: true, with which transformers also normalises between decoder layers at inference.

Why the batch-norm swap: DETR freezes the backbone's batch norms (DetrFrozenBatchNorm2d, buffers only). A
backbone trained from scratch needs trainable normalisation, so during training they are ordinary
nn.BatchNorm2d layers; when saving they are frozen again with the learned statistics, which gives a standard
checkpoint with non-trivial batch-norm parameters.
"""

import argparse
import contextlib
import copy
import io
import json
import math
import os
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes_dataset  # noqa: E402

from transformers import DetrConfig, DetrForObjectDetection, DetrImageProcessor, ResNetConfig  # noqa: E402
from transformers.models.detr.modeling_detr import DetrFrozenBatchNorm2d, replace_batch_norm  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
IMAGE_SIZE = 128
TRAIN_SEED = 7  # the held-out set uses a different seed (see tests/fixtures/shapes-eval/annotations.json)


def build_config(args):
    labels = shapes_dataset.CATEGORIES
    backbone = ResNetConfig(
        num_channels=3, embedding_size=32, hidden_sizes=[32, 64, 128, 256], depths=[1, 1, 1, 1],
        layer_type="basic", hidden_act="relu", downsample_in_first_stage=False, out_features=["stage4"],
    )
    return DetrConfig(
        use_timm_backbone=False, backbone_config=backbone, use_pretrained_backbone=False,
        num_queries=args.queries, d_model=args.d_model, encoder_layers=args.layers, decoder_layers=args.layers,
        encoder_attention_heads=8, decoder_attention_heads=8,
        encoder_ffn_dim=args.d_model * 2, decoder_ffn_dim=args.d_model * 2,
        dropout=0.0, attention_dropout=0.0, auxiliary_loss=True,
        num_labels=len(labels), id2label={i: n for i, n in enumerate(labels)},
        label2id={n: i for i, n in enumerate(labels)},
    )


def make_processor():
    return DetrImageProcessor(
        do_resize=True, size={"shortest_edge": IMAGE_SIZE, "longest_edge": IMAGE_SIZE},
        do_normalize=True, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD, do_pad=True,
    )


@torch.no_grad()
def reset_parameters_like_original_detr(model, num_queries):
    """Initialisation of the original DETR code instead of transformers' (normal, std 0.02 everywhere).

    With std-0.02 query embeddings all queries start nearly identical and predict the same box, and training
    from scratch spends most of its budget breaking that symmetry. The original uses Xavier-uniform transformer
    weights, N(0, 1) query embeddings and PyTorch's default layer initialisation elsewhere.
    """
    for module in list(model.model.encoder.modules()) + list(model.model.decoder.modules()):
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    for module in [model.class_labels_classifier, model.model.input_projection, *model.bbox_predictor.layers]:
        module.reset_parameters()
    nn.init.normal_(model.model.query_position_embeddings.weight)
    for module in model.model.backbone.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    # Start from the class prior (most queries see no object) rather than uniform class probabilities.
    mean_objects = 2.5
    model.class_labels_classifier.bias[-1] = math.log((num_queries - mean_objects) / mean_objects)


def unfreeze_batch_norm(module):
    """Replaces DetrFrozenBatchNorm2d by trainable nn.BatchNorm2d (fresh statistics), recursively."""
    for name, child in module.named_children():
        if isinstance(child, DetrFrozenBatchNorm2d):
            module._modules[name] = nn.BatchNorm2d(child.weight.shape[0])
        else:
            unfreeze_batch_norm(child)


def training_batch(step, batch_size, device):
    """Fresh images: already IMAGE_SIZE square, so normalising is all the processor would do."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    images, labels = [], []
    for k in range(batch_size):
        pixels, objects = shapes_dataset.generate_sample(TRAIN_SEED, step * batch_size + k, IMAGE_SIZE, IMAGE_SIZE)
        images.append(torch.from_numpy(pixels.copy()).permute(2, 0, 1))
        boxes = torch.tensor([o["bbox"] for o in objects], dtype=torch.float32)
        cxcywh = torch.stack([boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2,
                              boxes[:, 2], boxes[:, 3]], dim=1) / IMAGE_SIZE
        labels.append({"class_labels": torch.tensor([o["category_id"] for o in objects], device=device),
                       "boxes": cxcywh.to(device)})
    pixel_values = ((torch.stack(images).float() / 255.0 - mean) / std).to(device)
    return pixel_values, labels


def dense_targets(labels, grid, device):
    """Per feature-map cell: the class of the object centred in it (background = number of classes) and its box."""
    background = len(shapes_dataset.CATEGORIES)
    classes = torch.full((len(labels), grid, grid), background, dtype=torch.long)
    boxes = torch.zeros((len(labels), grid, grid, 4))
    for b, target in enumerate(labels):
        # Larger objects last, so they win a cell that two centres share.
        order = torch.argsort(target["boxes"][:, 2] * target["boxes"][:, 3]).tolist()
        for i in order:
            cx, cy = target["boxes"][i, 0].item(), target["boxes"][i, 1].item()
            row, col = min(int(cy * grid), grid - 1), min(int(cx * grid), grid - 1)
            classes[b, row, col] = int(target["class_labels"][i])
            boxes[b, row, col] = target["boxes"][i].cpu()
    return classes.to(device), boxes.to(device)


def pretrain_backbone(model, args, device):
    """Dense warm-up of the backbone: every cell of the last feature map predicts the class and box of the
    object centred in it, through a throw-away 1x1 convolution.

    DETR trained from scratch sits for thousands of steps on the "every query predicts the average box"
    plateau, because nothing tells the randomly initialised backbone where objects are. A few minutes of dense
    supervision give it features that encode class and position, and DETR then leaves the plateau quickly.
    """
    backbone = model.model.backbone
    channels = backbone.intermediate_channel_sizes[-1]
    num_classes = len(shapes_dataset.CATEGORIES)
    head = nn.Conv2d(channels, num_classes + 1 + 4, kernel_size=1).to(device)
    params = list(backbone.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4)
    class_weight = torch.ones(num_classes + 1, device=device)
    class_weight[-1] = 0.25  # most cells are background
    start, step, running = time.time(), 0, None
    while time.time() - start < args.pretrain_minutes * 60.0:
        pixel_values, labels = training_batch(1_000_000 + step, args.batch_size, device)
        mask = torch.ones(pixel_values.shape[0], *pixel_values.shape[2:], dtype=torch.long, device=device)
        features = backbone(pixel_values, mask)[-1][0]
        out = head(features)
        classes, boxes = dense_targets(labels, features.shape[-1], device)
        class_loss = nn.functional.cross_entropy(out[:, :num_classes + 1], classes, weight=class_weight)
        positive = classes != num_classes
        predicted_boxes = out[:, num_classes + 1:].sigmoid().permute(0, 2, 3, 1)
        box_loss = (predicted_boxes[positive] - boxes[positive]).abs().mean() if positive.any() else out.sum() * 0
        loss = class_loss + 5 * box_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        step += 1
        if step % 50 == 0:
            print(f"backbone pre-training step {step}: loss {running:.3f} (class {class_loss.item():.3f}, "
                  f"box {box_loss.item():.3f})", flush=True)


def save_checkpoint(model, processor, out_dir):
    """Freezes the batch norms again (learned statistics) and writes a standard Hugging Face folder."""
    frozen = copy.deepcopy(model).cpu().eval()
    with torch.no_grad():
        replace_batch_norm(frozen)
    os.makedirs(out_dir, exist_ok=True)
    frozen.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)


def write_metrics(out_dir, best, history):
    """The saved checkpoint is the best one; its scores plus the whole evaluation history."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "eval_metrics.json"), "w") as f:
        json.dump({"saved_checkpoint": best, "history": history}, f, indent=1)


def load_eval_set(folder):
    from PIL import Image
    with open(os.path.join(folder, "annotations.json")) as f:
        coco = json.load(f)
    images = [np.asarray(Image.open(os.path.join(folder, im["file_name"])).convert("RGB")) for im in coco["images"]]
    return coco, images


@torch.no_grad()
def evaluate(model, processor, coco, images, device, batch_size=25):
    """COCO bbox AP on the held-out set; every query's best class is a detection (DETR's standard protocol)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    was_training = model.training
    model.eval()
    detections = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        infos = coco["images"][start:start + batch_size]
        inputs = processor(images=chunk, return_tensors="pt")
        outputs = model(pixel_values=inputs["pixel_values"].to(device), pixel_mask=inputs["pixel_mask"].to(device))
        outputs.logits, outputs.pred_boxes = outputs.logits.cpu(), outputs.pred_boxes.cpu()
        sizes = [(info["height"], info["width"]) for info in infos]
        results = processor.post_process_object_detection(outputs, threshold=0.0, target_sizes=sizes)
        for info, result in zip(infos, results):
            for score, label, box in zip(result["scores"].tolist(), result["labels"].tolist(),
                                         result["boxes"].tolist()):
                x0, y0, x1, y1 = box
                detections.append({"image_id": info["id"], "category_id": int(label),
                                   "bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(score)})
    model.train(was_training)
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = COCO()
        ground_truth.dataset = copy.deepcopy(coco)
        ground_truth.createIndex()
        coco_eval = COCOeval(ground_truth, ground_truth.loadRes(detections), "bbox")
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return {"AP": float(coco_eval.stats[0]), "AP50": float(coco_eval.stats[1]), "AP75": float(coco_eval.stats[2])}


def main():
    parser = argparse.ArgumentParser(description="Train the demo shapes DETR.")
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "models", "demo", "detr-shapes"))
    parser.add_argument("--eval-dir", default=os.path.join(REPO_ROOT, "tests", "fixtures", "shapes-eval"))
    parser.add_argument("--minutes", type=float, default=32.0, help="wall-clock budget of the DETR phase")
    parser.add_argument("--pretrain-minutes", type=float, default=6.0, help="dense backbone warm-up first")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--backbone-lr", type=float, default=3e-4)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--queries", type=int, default=12)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = build_config(args)
    model = DetrForObjectDetection(config)
    reset_parameters_like_original_detr(model, args.queries)
    unfreeze_batch_norm(model.model.backbone.model)
    for parameter in model.parameters():
        parameter.requires_grad_(True)  # DETR freezes the stem for pretrained backbones; this one starts random
    model.to(device).train()
    if args.pretrain_minutes > 0:
        pretrain_backbone(model, args, device)
    processor = make_processor()
    coco, eval_images = load_eval_set(args.eval_dir)

    backbone_params = [p for n, p in model.named_parameters() if n.startswith("model.backbone.")]
    other_params = [p for n, p in model.named_parameters() if not n.startswith("model.backbone.")]
    optimizer = torch.optim.AdamW([{"params": other_params, "lr": args.lr},
                                   {"params": backbone_params, "lr": args.backbone_lr}], weight_decay=1e-4)
    base_lrs = [g["lr"] for g in optimizer.param_groups]

    budget_s = args.minutes * 60.0
    start = time.time()
    best_ap50, best, step, history = -1.0, None, 0, []
    running = None
    while True:
        elapsed = time.time() - start
        if elapsed > budget_s:
            break
        # Time-based schedule: warm up 200 steps, cosine decay to 5% over the wall-clock budget.
        progress = min(elapsed / budget_s, 1.0)
        factor = min(1.0, (step + 1) / 200) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group, base in zip(optimizer.param_groups, base_lrs):
            group["lr"] = base * factor
        pixel_values, labels = training_batch(step, args.batch_size, device)
        outputs = model(pixel_values=pixel_values, labels=labels)
        optimizer.zero_grad(set_to_none=True)
        outputs.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        optimizer.step()
        loss = outputs.loss.item()
        running = loss if running is None else 0.98 * running + 0.02 * loss
        step += 1
        if step % 25 == 0:
            parts = " ".join(f"{k}={float(v):.3f}" for k, v in outputs.loss_dict.items() if "_" not in k[5:])
            print(f"step {step} t={elapsed / 60:.1f}min loss={running:.3f} {parts} lr={factor:.3f}", flush=True)
        if step % args.eval_every == 0:
            metrics = evaluate(model, processor, coco, eval_images, device)
            history.append({"step": step, "minutes": round(elapsed / 60, 2), **metrics})
            print(f"eval step {step}: AP={metrics['AP']:.3f} AP50={metrics['AP50']:.3f} AP75={metrics['AP75']:.3f}",
                  flush=True)
            if metrics["AP50"] > best_ap50:
                best_ap50 = metrics["AP50"]
                best = {"step": step, **metrics}
                save_checkpoint(model, processor, args.out)
                print(f"saved checkpoint (AP50 {best_ap50:.3f}) to {args.out}", flush=True)
            write_metrics(args.out, best, history)
    metrics = evaluate(model, processor, coco, eval_images, device)
    history.append({"step": step, "minutes": round((time.time() - start) / 60, 2), **metrics})
    print(f"final step {step}: AP={metrics['AP']:.3f} AP50={metrics['AP50']:.3f} AP75={metrics['AP75']:.3f}",
          flush=True)
    if metrics["AP50"] > best_ap50:
        best_ap50 = metrics["AP50"]
        best = {"step": step, **metrics}
        save_checkpoint(model, processor, args.out)
    write_metrics(args.out, best, history)
    print(f"best AP50 {best_ap50:.3f}; model in {args.out}", flush=True)


if __name__ == "__main__":
    main()
