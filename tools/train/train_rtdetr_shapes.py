#!/usr/bin/env python3
"""Trains the small demo RT-DETR in models/demo/rtdetr-shapes on synthetic shapes (tools/train/shapes_dataset.py).

The model is a stock transformers RTDetrForObjectDetection (3 labels: circle, square, triangle, the same ids as
models/demo/detr-shapes) with a small ResNet-vd backbone trained from scratch, so it loads like any published
RT-DETR checkpoint (PekingU/rtdetr_r18vd and friends) and exercises the same code paths: ResNet-vd's deep stem
and average-pool shortcuts, the hybrid encoder (AIFI on the coarsest map + CCFM fusion), two-stage query
selection and the deformable-attention decoder.

    python tools/train/train_rtdetr_shapes.py                  # defaults: 47 minutes on one CPU thread
    python tools/train/train_rtdetr_shapes.py --minutes 10 --threads 2 --out /tmp/rtdetr-shapes

Training uses transformers' own RT-DETR loss (varifocal + L1 + GIoU with Hungarian matching, auxiliary losses
of every decoder layer and of the encoder's query selection, contrastive denoising groups) on freshly
generated images every step (no epochs, no overfitting). Every --eval-every steps it evaluates COCO AP on the
held-out set in tests/fixtures/shapes-eval and saves the best model so far (by AP50), so a usable checkpoint
exists early. Uses CUDA when available.

Input: 128 x 128 RGB through RTDetrImageProcessorPil (resize to 128 x 128, rescale to [0, 1], no
normalisation, as the published processors). The backbone's stages 2-4 have strides 8, 16 and 32: feature maps
of 16, 8 and 4 cells, each exactly twice the next as the encoder's top-down and bottom-up paths require.

Initialisation: transformers initialises every batch norm's scale with N(0, 0.01) (harmless for converted
checkpoints, whose weights are overwritten); trained from scratch that nearly switches the network off, so
batch norms start at scale 1 and convolutions with He initialisation (see reset_convolutions_and_norms).

Why the batch-norm swap: RT-DETR freezes the backbone's batch norms (RTDetrFrozenBatchNorm2d, buffers only,
freeze_backbone_batch_norms true as in the published configs). A backbone trained from scratch needs trainable
normalisation, so during training they are ordinary nn.BatchNorm2d layers; when saving they are frozen again
with the learned statistics, which gives a standard checkpoint: the saved config is the published one's, the
tensors are exactly those RTDetrForObjectDetection.from_pretrained expects, and eval-mode outputs are unchanged.
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

from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrResNetConfig  # noqa: E402
from transformers.models.rt_detr.image_processing_pil_rt_detr import RTDetrImageProcessorPil  # noqa: E402
from transformers.models.rt_detr.modeling_rt_detr import RTDetrFrozenBatchNorm2d, replace_batch_norm  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE_SIZE = 128
TRAIN_SEED = 7  # the held-out set uses a different seed (see tests/fixtures/shapes-eval/annotations.json)


def build_config(args):
    labels = shapes_dataset.CATEGORIES  # ids 0, 1, 2 as shapes_dataset.coco_categories() and detr-shapes
    widths = [32, 64, 128, 256]
    backbone = RTDetrResNetConfig(
        num_channels=3, embedding_size=32, hidden_sizes=widths, depths=[1, 1, 1, 1], layer_type="basic",
        hidden_act="relu", downsample_in_first_stage=False, downsample_in_bottleneck=False,
        out_features=["stage2", "stage3", "stage4"], out_indices=[2, 3, 4],
    )
    return RTDetrConfig(
        backbone_config=backbone, use_pretrained_backbone=False, freeze_backbone_batch_norms=True,
        encoder_in_channels=widths[1:], encoder_hidden_dim=args.d_model, hidden_expansion=0.5,
        d_model=args.d_model, decoder_in_channels=[args.d_model] * 3, num_feature_levels=3,
        encoder_attention_heads=args.heads, decoder_attention_heads=args.heads,
        encoder_ffn_dim=args.ffn, decoder_ffn_dim=args.ffn, decoder_layers=args.decoder_layers,
        num_queries=args.queries, num_denoising=args.denoising,
        num_labels=len(labels), id2label={i: n for i, n in enumerate(labels)},
        label2id={n: i for i, n in enumerate(labels)},
    )


def make_processor():
    return RTDetrImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})


@torch.no_grad()
def reset_convolutions_and_norms(model, frozen_class=RTDetrFrozenBatchNorm2d):
    """He-initialised convolutions and unit-scale batch norms (see the module docstring)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, frozen_class)):
            module.weight.fill_(1.0)
            module.bias.zero_()
            module.running_mean.zero_()
            module.running_var.fill_(1.0)


def unfreeze_batch_norm(module, frozen_class=RTDetrFrozenBatchNorm2d):
    """Replaces frozen_class by trainable nn.BatchNorm2d (fresh statistics), recursively."""
    for name, child in module.named_children():
        if isinstance(child, frozen_class):
            module._modules[name] = nn.BatchNorm2d(child.weight.shape[0])
        else:
            unfreeze_batch_norm(child, frozen_class)


def training_batch(step, batch_size, device):
    """Fresh images: already IMAGE_SIZE square, so rescaling to [0, 1] is all the processor would do."""
    images, labels = [], []
    for k in range(batch_size):
        pixels, objects = shapes_dataset.generate_sample(TRAIN_SEED, step * batch_size + k, IMAGE_SIZE, IMAGE_SIZE)
        images.append(torch.from_numpy(pixels.copy()).permute(2, 0, 1))
        boxes = torch.tensor([o["bbox"] for o in objects], dtype=torch.float32)
        cxcywh = torch.stack([boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2,
                              boxes[:, 2], boxes[:, 3]], dim=1) / IMAGE_SIZE
        labels.append({"class_labels": torch.tensor([o["category_id"] for o in objects], device=device),
                       "boxes": cxcywh.to(device)})
    pixel_values = (torch.stack(images).float() / 255.0).to(device)
    return pixel_values, labels


def save_checkpoint(model, processor, out_dir, freeze=replace_batch_norm):
    """Freezes the backbone's batch norms again (learned statistics) and writes a standard Hugging Face folder."""
    frozen = copy.deepcopy(model).cpu().eval()
    with torch.no_grad():
        freeze(frozen.model.backbone.model)
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
    """COCO bbox AP on the held-out set; RT-DETR's post-processing (top num_queries of all query x class
    sigmoid scores) with threshold 0, every kept pair a detection."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    was_training = model.training
    model.eval()
    detections = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        infos = coco["images"][start:start + batch_size]
        inputs = processor(images=chunk, return_tensors="pt")
        outputs = model(pixel_values=inputs["pixel_values"].to(device))
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


def base_parser(description, default_out, default_minutes):
    """The options every shapes detector of this family takes; callers add their architecture's."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default=default_out)
    parser.add_argument("--eval-dir", default=os.path.join(REPO_ROOT, "tests", "fixtures", "shapes-eval"))
    parser.add_argument("--minutes", type=float, default=default_minutes, help="wall-clock training budget")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--backbone-lr", type=float, default=2e-4)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--decoder-layers", type=int, default=3)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--denoising", type=int, default=20, help="denoising queries per image (0: none)")
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def train(model, processor, args, save, log_terms=("loss_vfl", "loss_bbox", "loss_giou")):
    """AdamW on fresh batches until args.minutes have passed; evaluates every args.eval_every steps and calls
    save(model) whenever AP50 is the best so far. Trains the parameters that require gradients."""
    device = next(model.parameters()).device
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters", flush=True)
    coco, eval_images = load_eval_set(args.eval_dir)
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    backbone_params = [p for n, p in trained if n.startswith("model.backbone.")]
    other_params = [p for n, p in trained if not n.startswith("model.backbone.")]
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
            parts = " ".join(f"{k[5:]}={float(v.detach()):.3f}" for k, v in outputs.loss_dict.items()
                             if k in log_terms)
            print(f"step {step} t={elapsed / 60:.1f}min loss={running:.3f} {parts} lr={factor:.3f}", flush=True)
        if step % args.eval_every == 0:
            metrics = evaluate(model, processor, coco, eval_images, device)
            history.append({"step": step, "minutes": round(elapsed / 60, 2), **metrics})
            print(f"eval step {step}: AP={metrics['AP']:.3f} AP50={metrics['AP50']:.3f} AP75={metrics['AP75']:.3f}",
                  flush=True)
            if metrics["AP50"] > best_ap50:
                best_ap50 = metrics["AP50"]
                best = {"step": step, **metrics}
                save(model)
                print(f"saved checkpoint (AP50 {best_ap50:.3f}) to {args.out}", flush=True)
            write_metrics(args.out, best, history)
    if not history or history[-1]["step"] != step:  # unless the last step was just evaluated
        metrics = evaluate(model, processor, coco, eval_images, device)
        history.append({"step": step, "minutes": round((time.time() - start) / 60, 2), **metrics})
        print(f"final step {step}: AP={metrics['AP']:.3f} AP50={metrics['AP50']:.3f} AP75={metrics['AP75']:.3f}",
              flush=True)
        if metrics["AP50"] > best_ap50:
            best_ap50 = metrics["AP50"]
            best = {"step": step, **metrics}
            save(model)
    write_metrics(args.out, best, history)
    print(f"best AP50 {best_ap50:.3f}; model in {args.out}", flush=True)


def main():
    parser = base_parser("Train the demo shapes RT-DETR.",
                         os.path.join(REPO_ROOT, "models", "demo", "rtdetr-shapes"), 47.0)
    parser.add_argument("--d-model", type=int, default=96, help="also the encoder's hidden size")
    parser.add_argument("--ffn", type=int, default=256)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = RTDetrForObjectDetection(build_config(args))
    reset_convolutions_and_norms(model)
    unfreeze_batch_norm(model.model.backbone.model)
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    model.to(device).train()
    processor = make_processor()
    train(model, processor, args, lambda m: save_checkpoint(m, processor, args.out))


if __name__ == "__main__":
    main()
