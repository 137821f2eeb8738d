#!/usr/bin/env python3
"""Writes the DETR reference fixtures in tests/fixtures/detr/ (transformers DetrForObjectDetection, float32).

    python tools/make_detr_fixtures.py                 # the small committed fixtures + Hungarian + COCO-eval cases
    python tools/make_detr_fixtures.py --large         # also full-size models (not committed), see --large-out
    python tools/make_detr_fixtures.py --list-names    # print every tensor name of each fixture

Each model fixture folder holds what a published Hugging Face DETR holds (config.json, model.safetensors,
preprocessor_config.json) plus:
  reference.safetensors  image_<i> (uint8 HxWx3, the raw input), pixel_values [N,3,H,W] float32,
                         pixel_mask [N,H,W] int64 (as DetrImageProcessor returns it; 1 = real pixel),
                         logits [N,Q,L+1], pred_boxes [N,Q,4] (cx, cy, w, h relative to the unpadded image),
                         single_<i>_pixel_values [1,3,h,w], single_<i>_logits, single_<i>_pred_boxes
                         (image i processed alone: no padding)
  reference.json         sizes, post_process_object_detection results (threshold 0, target size = original
                         size), and how far batched results differ from single-image ones.

Models are randomly initialised with fixed seeds, then made non-trivial: the frozen batch norms get statistics
measured on smooth random images (so activations stay in a realistic range and BN folding is tested with
non-identity parameters) and perturbed affine parameters; LayerNorm weights/biases and all biases get small noise.

Backbone widths: a full ResNet-18 alone is ~45 MB, so the committed timm fixtures use ResNet-18's exact
structure and tensor names with narrower layer2-4 channels (timm's `channels` argument, recorded in config.json
as timm_model_kwargs; layer1 stays 64 wide like the 7x7 stem, so it keeps having no downsample branch).
Transformers cannot rebuild such a model from the name "resnet18" alone; a loader must take widths from the
tensor shapes. The transformers-ResNet fixtures are
ordinary, reloadable configurations.
"""

import argparse
import copy
import contextlib
import json
import os

import numpy as np
import torch
from torch import nn
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

import timm
from transformers import DetrConfig, DetrForObjectDetection, DetrImageProcessor, ResNetConfig
from transformers.models.detr.modeling_detr import DetrFrozenBatchNorm2d, replace_batch_norm

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE_DIR = os.path.join(REPO_ROOT, "tests", "fixtures", "detr")
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

# COCO detection label ids as used by facebook/detr-resnet-50: 91 ids, unused ones named "N/A".
COCO_NAMES = [
    "N/A", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "N/A", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "N/A", "backpack", "umbrella", "N/A", "N/A", "handbag", "tie",
    "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
    "skateboard", "surfboard", "tennis racket", "bottle", "N/A", "wine glass", "cup", "fork", "knife", "spoon",
    "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake",
    "chair", "couch", "potted plant", "bed", "N/A", "dining table", "N/A", "N/A", "toilet", "N/A", "tv", "laptop",
    "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "N/A",
    "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
]
assert len(COCO_NAMES) == 91

# Each entry: config kwargs for DetrConfig plus fixture options.
#   timm_kwargs: extra timm.create_model arguments (narrow ResNet-18), processor: DetrImageProcessor size,
#   image_sizes: (height, width) of the raw inputs, v4_config: write config.json the way transformers 4.x did,
#   auxiliary_loss: transformers then applies decoder.layernorm after every decoder layer, also at inference, so
#   the outputs depend on it (the "dc5" fixture covers that).
SMALL_FIXTURES = {
    "r18_timm": dict(
        seed=101, backbone="timm", timm_name="resnet18", timm_kwargs={"channels": [64, 32, 48, 64]},
        d_model=32, encoder_layers=1, decoder_layers=1, heads=4, ffn=64, queries=10,
        labels=["cat", "dog", "bird", "car", "tree"],
        processor={"shortest_edge": 64, "longest_edge": 128}, image_sizes=[(72, 100), (96, 64), (80, 80)],
    ),
    "r18_timm_v4config": dict(
        seed=102, backbone="timm", timm_name="resnet18", timm_kwargs={"channels": [64, 16, 32, 64]},
        d_model=40, encoder_layers=2, decoder_layers=1, heads=5, ffn=80, queries=12,
        labels=["apple", "pear", "plum", "fig"], v4_config=True,
        processor={"shortest_edge": 80, "longest_edge": 128}, image_sizes=[(90, 120), (64, 96)],
    ),
    "r18_hf": dict(
        seed=103, backbone="hf", layer_type="basic", depths=[2, 2, 2, 2], hidden_sizes=[8, 16, 32, 64],
        embedding_size=8, out_features=["stage1", "stage2", "stage3", "stage4"],
        d_model=48, encoder_layers=2, decoder_layers=2, heads=6, ffn=96, queries=14,
        labels=["red", "green", "blue", "cyan", "magenta"],
        processor={"shortest_edge": 64, "longest_edge": 96}, image_sizes=[(64, 64), (100, 70), (50, 90)],
    ),
    "r50_hf_small": dict(
        seed=104, backbone="hf", layer_type="bottleneck", depths=[1, 1, 1, 1], hidden_sizes=[32, 64, 128, 256],
        embedding_size=16, out_features=["stage4"],
        d_model=64, encoder_layers=1, decoder_layers=2, heads=8, ffn=128, queries=15, labels=COCO_NAMES,
        processor={"shortest_edge": 96, "longest_edge": 128}, image_sizes=[(96, 128), (120, 90), (70, 70)],
    ),
    "dc5": dict(
        seed=105, backbone="timm", timm_name="resnet18", timm_kwargs={"channels": [64, 16, 32, 64]},
        dilation=True, auxiliary_loss=True, d_model=32, encoder_layers=2, decoder_layers=2, heads=2, ffn=64,
        queries=20,
        labels=["circle", "square", "triangle"],
        processor={"shortest_edge": 64, "longest_edge": 128}, image_sizes=[(64, 80), (88, 72)],
    ),
}

LARGE_FIXTURES = {
    "r18_timm_full": dict(
        seed=201, backbone="timm", timm_name="resnet18", d_model=64, encoder_layers=1, decoder_layers=1, heads=8,
        ffn=128, queries=10, labels=["cat", "dog", "bird", "car", "tree"],
        processor={"shortest_edge": 96, "longest_edge": 128}, image_sizes=[(72, 100), (96, 64)],
    ),
    "r50_timm": dict(
        seed=202, backbone="timm", timm_name="resnet50", d_model=64, encoder_layers=2, decoder_layers=2, heads=8,
        ffn=128, queries=20, labels=COCO_NAMES,
        processor={"shortest_edge": 96, "longest_edge": 128}, image_sizes=[(72, 100), (96, 64)],
    ),
    "r18_hf_full": dict(
        seed=203, backbone="hf", layer_type="basic", depths=[2, 2, 2, 2], hidden_sizes=[64, 128, 256, 512],
        embedding_size=64, out_features=["stage1", "stage2", "stage3", "stage4"],
        d_model=64, encoder_layers=1, decoder_layers=1, heads=8, ffn=128, queries=10, labels=COCO_NAMES,
        processor={"shortest_edge": 96, "longest_edge": 128}, image_sizes=[(72, 100), (96, 64)],
    ),
    # facebook/detr-resnet-50's exact architecture and tensor names (random weights).
    "detr-resnet-50": dict(
        seed=204, backbone="timm", timm_name="resnet50", d_model=256, encoder_layers=6, decoder_layers=6, heads=8,
        ffn=2048, queries=100, labels=COCO_NAMES, v4_config=True, dropout=0.1,
        processor={"shortest_edge": 800, "longest_edge": 1333}, image_sizes=[(120, 160), (150, 100)],
    ),
}


@contextlib.contextmanager
def timm_extra_kwargs(name, kwargs):
    """Passes extra arguments to timm.create_model(name): transformers' TimmBackbone has no way to."""
    if not kwargs:
        yield
        return
    original = timm.create_model

    def create_model(model_name, *args, **kw):
        if model_name == name:
            kw.update(kwargs)
        return original(model_name, *args, **kw)

    timm.create_model = create_model
    try:
        yield
    finally:
        timm.create_model = original


def build_config(spec):
    labels = spec["labels"]
    common = dict(
        num_queries=spec["queries"], d_model=spec["d_model"],
        encoder_layers=spec["encoder_layers"], decoder_layers=spec["decoder_layers"],
        encoder_attention_heads=spec["heads"], decoder_attention_heads=spec["heads"],
        encoder_ffn_dim=spec["ffn"], decoder_ffn_dim=spec["ffn"], dropout=spec.get("dropout", 0.0),
        auxiliary_loss=spec.get("auxiliary_loss", False),
        num_labels=len(labels), id2label={i: n for i, n in enumerate(labels)},
        label2id={n: i for i, n in enumerate(labels)},  # "N/A" repeats: the last id wins, as in the published config
    )
    if spec["backbone"] == "timm":
        return DetrConfig(use_timm_backbone=True, backbone=spec["timm_name"], use_pretrained_backbone=False,
                          dilation=spec.get("dilation", False), **common)
    backbone = ResNetConfig(
        num_channels=3, embedding_size=spec["embedding_size"], hidden_sizes=spec["hidden_sizes"],
        depths=spec["depths"], layer_type=spec["layer_type"], hidden_act="relu", downsample_in_first_stage=False,
        out_features=spec["out_features"],
    )
    return DetrConfig(use_timm_backbone=False, backbone_config=backbone, use_pretrained_backbone=False, **common)


def build_model(spec):
    torch.manual_seed(spec["seed"])
    with timm_extra_kwargs(spec.get("timm_name"), spec.get("timm_kwargs")):
        model = DetrForObjectDetection(build_config(spec))
    return model.eval()


def smooth_noise_image(rng, height, width):
    """uint8 image: upsampled coarse noise plus fine noise, so convolutions see structure at several scales."""
    coarse = rng.uniform(0, 255, size=(max(2, height // 16), max(2, width // 16), 3)).astype(np.float32)
    channels = [np.array(Image.fromarray(coarse[..., c]).resize((width, height), Image.BICUBIC)) for c in range(3)]
    image = np.stack(channels, axis=-1) + rng.normal(0, 20, size=(height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def unfreeze_batch_norm(module):
    for name, child in module.named_children():
        if isinstance(child, DetrFrozenBatchNorm2d):
            bn = nn.BatchNorm2d(child.weight.shape[0], momentum=None)  # momentum None: plain average over batches
            with torch.no_grad():
                bn.weight.copy_(child.weight)
                bn.bias.copy_(child.bias)
            module._modules[name] = bn
        else:
            unfreeze_batch_norm(child)


@torch.no_grad()
def make_non_trivial(model, seed):
    """Gives every normalisation and bias parameter a distinct, non-default value (see module docstring)."""
    gen = torch.Generator().manual_seed(seed + 7919)
    backbone = model.model.backbone.model
    for module in backbone.modules():
        if isinstance(module, DetrFrozenBatchNorm2d):
            n = module.weight.shape[0]
            module.weight.copy_(torch.empty(n).uniform_(0.5, 1.5, generator=gen))
            module.bias.copy_(0.1 * torch.randn(n, generator=gen))
    # Measure batch-norm statistics on smooth random images (train-mode BN), then freeze them again.
    unfreeze_batch_norm(backbone)
    backbone.train()
    rng = np.random.default_rng(seed)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    for _ in range(3):
        batch = np.stack([smooth_noise_image(rng, 96, 96) for _ in range(6)])
        pixels = (torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255 - mean) / std
        backbone(pixels)
    backbone.eval()
    replace_batch_norm(backbone)
    for module in backbone.modules():
        if isinstance(module, DetrFrozenBatchNorm2d):
            n = module.running_var.shape[0]
            module.running_var.mul_(torch.empty(n).uniform_(0.8, 1.25, generator=gen))
            module.running_mean.add_(0.05 * torch.randn(n, generator=gen))
    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
            module.weight.add_(0.1 * torch.randn(module.weight.shape, generator=gen))
            module.bias.add_(0.05 * torch.randn(module.bias.shape, generator=gen))
        elif isinstance(module, (nn.Linear, nn.Conv2d)) and module.bias is not None:
            module.bias.add_(0.02 * torch.randn(module.bias.shape, generator=gen))
    # transformers initialises linear layers with std 0.02, which leaves attention nearly uniform and every query
    # with the same output. Fan-in scaled weights and sharper attention make outputs depend on the query and the
    # position, so a wrong mask or position embedding shows up in the logits.
    for module in model.modules():
        if isinstance(module, nn.Linear):
            module.weight.normal_(0.0, module.in_features ** -0.5, generator=gen)
    for module in model.modules():
        if hasattr(module, "q_proj") and hasattr(module, "k_proj"):
            module.q_proj.weight.mul_(2.0)
            module.k_proj.weight.mul_(2.0)
    model.model.query_position_embeddings.weight.add_(0.5 * torch.randn(
        model.model.query_position_embeddings.weight.shape, generator=gen))


def make_processor(spec):
    return DetrImageProcessor(do_resize=True, size=dict(spec["processor"]), do_normalize=True,
                              image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD, do_pad=True)


def detections_json(processor, outputs, sizes):
    results = processor.post_process_object_detection(outputs, threshold=0.0, target_sizes=sizes)
    return [{"scores": r["scores"].tolist(), "labels": r["labels"].tolist(), "boxes_xyxy": r["boxes"].tolist()}
            for r in results]


def v4_config_dict(config, timm_name, dilation):
    """config.json as transformers 4.x wrote it for a timm backbone (facebook/detr-resnet-50's layout)."""
    d = config.to_dict()
    d.pop("backbone_config", None)
    d.update({"use_timm_backbone": True, "backbone": timm_name, "backbone_config": None,
              "use_pretrained_backbone": True, "dilation": dilation, "num_hidden_layers": config.encoder_layers,
              "max_position_embeddings": 1024, "scale_embedding": False, "init_xavier_std": 1.0,
              "transformers_version": "4.38.2", "torch_dtype": "float32"})
    d.pop("dtype", None)
    return d


@torch.no_grad()
def f64_outputs(model, inputs, prefix):
    """The same model and inputs in float64, as `<prefix>logits_f64` / `<prefix>pred_boxes_f64`.

    Deep models (ResNet-50) accumulate float32 rounding of ~2e-4 in the logits, so a float32 reference
    cannot check another float32 engine to 1e-4; the float64 result is the truth both are measured against.
    """
    model64 = copy.deepcopy(model).double()
    out = model64(pixel_values=inputs["pixel_values"].double(), pixel_mask=inputs["pixel_mask"])
    # Stored as float32 (rounding the truth by 6e-8 relative): the engine reads F32, F16 and BF16.
    return {f"{prefix}logits_f64": out.logits.float().contiguous(),
            f"{prefix}pred_boxes_f64": out.pred_boxes.float().contiguous()}


@torch.no_grad()
def write_fixture(name, spec, out_root, list_names, with_f64=False):
    out_dir = os.path.join(out_root, name)
    os.makedirs(out_dir, exist_ok=True)
    model = build_model(spec)
    make_non_trivial(model, spec["seed"])
    processor = make_processor(spec)

    rng = np.random.default_rng(spec["seed"])
    images = [smooth_noise_image(rng, h, w) for h, w in spec["image_sizes"]]
    sizes = [(h, w) for h, w in spec["image_sizes"]]
    batch = processor(images=images, return_tensors="pt")
    outputs = model(pixel_values=batch["pixel_values"], pixel_mask=batch["pixel_mask"])
    tensors = {"pixel_values": batch["pixel_values"].contiguous(), "pixel_mask": batch["pixel_mask"].contiguous(),
               "logits": outputs.logits.contiguous(), "pred_boxes": outputs.pred_boxes.contiguous()}
    info = {"model": name, "pixel_mask_dtype": "int64", "images": [], "batch": {}, "single": []}
    info["batch"]["post_process"] = detections_json(processor, outputs, sizes)
    for i, image in enumerate(images):
        tensors[f"image_{i}"] = torch.from_numpy(image.copy())
        single = processor(images=[image], return_tensors="pt")
        single_out = model(pixel_values=single["pixel_values"], pixel_mask=single["pixel_mask"])
        tensors[f"single_{i}_pixel_values"] = single["pixel_values"].contiguous()
        tensors[f"single_{i}_logits"] = single_out.logits.contiguous()
        tensors[f"single_{i}_pred_boxes"] = single_out.pred_boxes.contiguous()
        if with_f64:
            tensors.update(f64_outputs(model, single, f"single_{i}_"))
        resized = list(single["pixel_values"].shape[-2:])
        valid = batch["pixel_mask"][i]
        info["images"].append({"original_hw": list(sizes[i]), "resized_hw": resized,
                               "mask_rows": int(valid.any(1).sum()), "mask_cols": int(valid.any(0).sum())})
        info["single"].append({
            "post_process": detections_json(processor, single_out, [sizes[i]])[0],
            # Informational: batching pads with zeros that the backbone's convolutions see near the edges, so
            # batched and single results legitimately differ by this much for this random model.
            "max_abs_diff_vs_batch_logits": float((single_out.logits[0] - outputs.logits[i]).abs().max()),
            "max_abs_diff_vs_batch_boxes": float((single_out.pred_boxes[0] - outputs.pred_boxes[i]).abs().max()),
        })
    info["batch"]["padded_hw"] = list(batch["pixel_values"].shape[-2:])
    if with_f64:
        tensors.update(f64_outputs(model, batch, ""))
    save_file(tensors, os.path.join(out_dir, "reference.safetensors"))

    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    config_path = os.path.join(out_dir, "config.json")
    with open(config_path) as f:
        config_json = json.load(f)
    if spec.get("v4_config"):
        config_json = v4_config_dict(model.config, spec["timm_name"], spec.get("dilation", False))
        config_json["id2label"] = {str(i): n for i, n in enumerate(spec["labels"])}
        config_json["label2id"] = {n: i for i, n in enumerate(spec["labels"])}
    if spec.get("timm_kwargs"):
        config_json.setdefault("backbone_config", None)
        target = config_json["backbone_config"] if config_json["backbone_config"] else config_json
        target["timm_model_kwargs"] = spec["timm_kwargs"]
    with open(config_path, "w") as f:
        json.dump(config_json, f, indent=2, sort_keys=True)

    with safe_open(os.path.join(out_dir, "model.safetensors"), "pt") as f:
        names = sorted(f.keys())
    info["num_tensors"] = len(names)
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(info, f, indent=1)
    verify_reload(out_dir, spec, tensors)
    size = sum(os.path.getsize(os.path.join(out_dir, p)) for p in os.listdir(out_dir))
    print(f"{name}: {len(names)} tensors, {size / 1e6:.2f} MB, logits {tuple(outputs.logits.shape)}, "
          f"padded {info['batch']['padded_hw']}")
    if list_names:
        print("\n".join("  " + n for n in names))
    return names


@torch.no_grad()
def verify_reload(out_dir, spec, tensors):
    """The written folder must reproduce the reference outputs when transformers loads it back."""
    config = DetrConfig.from_pretrained(out_dir)
    with timm_extra_kwargs(spec.get("timm_name"), spec.get("timm_kwargs")):
        model = DetrForObjectDetection.from_pretrained(out_dir, config=config).eval()
    out = model(pixel_values=tensors["pixel_values"], pixel_mask=tensors["pixel_mask"])
    error = max(float((out.logits - tensors["logits"]).abs().max()),
                float((out.pred_boxes - tensors["pred_boxes"]).abs().max()))
    if error > 1e-5:
        raise RuntimeError(f"{out_dir}: reloaded model differs from reference by {error}")


def write_hungarian_cases(out_root):
    """Cost matrices with scipy's optimal assignment cost: square, rectangular, ties, wide value ranges.

    Values are float32-representable (stored as float64) so a float32 solver sees exactly the same inputs.
    """
    from scipy.optimize import linear_sum_assignment
    rng = np.random.default_rng(4242)
    shapes = [(1, 1), (1, 6), (6, 1), (2, 2), (3, 3), (4, 7), (7, 4), (5, 5), (8, 8), (10, 10), (12, 30),
              (30, 12), (16, 16), (20, 20), (25, 40), (40, 25), (40, 40), (33, 33), (9, 17), (17, 9)]
    kinds = ["uniform", "ties", "wide", "negative", "constant", "integer_large", "detr_like"]
    tensors, cases = {}, []
    for k in range(32):
        rows, cols = shapes[k % len(shapes)] if k < len(shapes) else tuple(int(v) for v in rng.integers(1, 41, 2))
        kind = kinds[k % len(kinds)]
        if kind == "uniform":
            cost = rng.uniform(0, 1, (rows, cols))
        elif kind == "ties":
            cost = rng.integers(0, 3, (rows, cols)).astype(np.float64)
        elif kind == "wide":
            cost = 10.0 ** rng.uniform(-3, 6, (rows, cols))
        elif kind == "negative":
            cost = rng.normal(0, 100, (rows, cols))
        elif kind == "constant":
            cost = np.full((rows, cols), 2.5)
        elif kind == "integer_large":
            cost = rng.integers(-1000000, 1000000, (rows, cols)).astype(np.float64)
        else:  # DETR matcher cost: -prob + 5 * L1 + 2 * (-GIoU); here a plausible random stand-in
            cost = (-rng.uniform(0, 1, (rows, cols)) + 5 * rng.uniform(0, 2, (rows, cols))
                    - 2 * rng.uniform(-1, 1, (rows, cols)))
        cost = cost.astype(np.float32).astype(np.float64)
        row_ind, col_ind = linear_sum_assignment(cost)
        name = f"case_{k:02d}"
        tensors[name] = torch.from_numpy(np.ascontiguousarray(cost))
        cases.append({"name": name, "kind": kind, "rows": rows, "cols": cols,
                      "optimal_cost": float(cost[row_ind, col_ind].sum()),
                      "num_assigned": int(len(row_ind)),
                      "one_optimal_assignment": {"rows": row_ind.tolist(), "cols": col_ind.tolist()}})
    save_file(tensors, os.path.join(out_root, "hungarian_cases.safetensors"))
    with open(os.path.join(out_root, "hungarian_cases.json"), "w") as f:
        json.dump({"note": "cost tensors are float64 [rows, cols] named case_XX; minimise the total cost of "
                           "min(rows, cols) assignments; with ties the assignment is not unique, the cost is",
                   "cases": cases}, f, indent=1)
    print(f"hungarian_cases: {len(cases)} matrices")


def write_coco_eval_case(out_dir):
    """A tiny COCO ground truth + detections and pycocotools' bbox metrics for them."""
    import contextlib as _contextlib
    import io as _io
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    rng = np.random.default_rng(777)
    os.makedirs(out_dir, exist_ok=True)
    categories = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 18, "name": "dog"}]
    sizes = [(480, 640), (300, 400), (512, 512), (200, 320), (640, 427)]
    images, annotations, detections = [], [], []
    for image_id, (h, w) in enumerate(sizes, start=1):
        images.append({"id": image_id, "file_name": f"image_{image_id}.png", "height": h, "width": w})
        count = 0 if image_id == 4 else int(rng.integers(2, 7))  # image 4: no ground truth, only false positives
        for _ in range(count):
            # Spread sizes over COCO's small (<32^2), medium and large (>96^2) ranges.
            side = float(rng.choice([rng.uniform(10, 30), rng.uniform(35, 90), rng.uniform(100, 180)]))
            bw, bh = side * rng.uniform(0.7, 1.3), side * rng.uniform(0.7, 1.3)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            cat = int(rng.choice([c["id"] for c in categories]))
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": cat,
                                "bbox": [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)],
                                "area": round(bw * bh, 2), "iscrowd": 0})
            if rng.uniform() < 0.85:  # a detection near the object (sometimes with the wrong class)
                jitter = rng.normal(0, 0.12 * side, 4)
                det_cat = cat if rng.uniform() < 0.85 else int(rng.choice([c["id"] for c in categories]))
                detections.append({"image_id": image_id, "category_id": det_cat,
                                   "bbox": [round(x + jitter[0], 2), round(y + jitter[1], 2),
                                            round(max(2.0, bw + jitter[2]), 2), round(max(2.0, bh + jitter[3]), 2)],
                                   "score": round(float(rng.uniform(0.3, 1.0)), 4)})
            if rng.uniform() < 0.3:  # a duplicate: must count as a false positive
                detections.append({"image_id": image_id, "category_id": cat,
                                   "bbox": [round(x + 2, 2), round(y - 1, 2), round(bw, 2), round(bh, 2)],
                                   "score": round(float(rng.uniform(0.05, 0.5)), 4)})
        for _ in range(int(rng.integers(1, 4))):  # background false positives
            bw, bh = rng.uniform(15, 120, 2)
            x, y = float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh))
            detections.append({"image_id": image_id, "category_id": int(rng.choice([c["id"] for c in categories])),
                               "bbox": [round(x, 2), round(y, 2), round(float(bw), 2), round(float(bh), 2)],
                               "score": round(float(rng.uniform(0.01, 0.6)), 4)})
    coco = {"images": images, "annotations": annotations, "categories": categories}
    with open(os.path.join(out_dir, "annotations.json"), "w") as f:
        json.dump(coco, f, indent=1)
    with open(os.path.join(out_dir, "detections.json"), "w") as f:
        json.dump(detections, f, indent=1)
    with _contextlib.redirect_stdout(_io.StringIO()):
        ground_truth = COCO(os.path.join(out_dir, "annotations.json"))
        evaluator = COCOeval(ground_truth, ground_truth.loadRes(os.path.join(out_dir, "detections.json")), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    names = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
             "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large"]
    stats = {n: float(v) for n, v in zip(names, evaluator.stats)}
    with open(os.path.join(out_dir, "expected_metrics.json"), "w") as f:
        json.dump({"tool": "pycocotools COCOeval(iouType='bbox'), default params (maxDets 1/10/100)",
                   "note": "-1 means no ground truth in that area range", **stats}, f, indent=1)
    print(f"coco_eval: {len(annotations)} boxes, {len(detections)} detections, AP={stats['AP']:.4f} "
          f"AP50={stats['AP50']:.4f} AP75={stats['AP75']:.4f}")


def published_transformer_names(encoder_layers, decoder_layers):
    """Non-backbone tensor names of a transformers 4.x DETR, from 4.x's conversion script renaming."""
    names = ["model.input_projection.weight", "model.input_projection.bias", "model.query_position_embeddings.weight",
             "model.decoder.layernorm.weight", "model.decoder.layernorm.bias",
             "class_labels_classifier.weight", "class_labels_classifier.bias"]
    names += [f"bbox_predictor.layers.{i}.{p}" for i in range(3) for p in ("weight", "bias")]
    for i in range(encoder_layers):
        for module in ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
                       "self_attn_layer_norm", "fc1", "fc2", "final_layer_norm"]:
            names += [f"model.encoder.layers.{i}.{module}.{p}" for p in ("weight", "bias")]
    for i in range(decoder_layers):
        for module in ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
                       "self_attn_layer_norm", "encoder_attn.q_proj", "encoder_attn.k_proj", "encoder_attn.v_proj",
                       "encoder_attn.out_proj", "encoder_attn_layer_norm", "fc1", "fc2", "final_layer_norm"]:
            names += [f"model.decoder.layers.{i}.{module}.{p}" for p in ("weight", "bias")]
    return set(names)


def write_names_report(out_root, names_by_fixture):
    """Compares what this transformers saves with the published 4.x names and writes NAMES.md."""
    import transformers
    backbone_prefix = "model.backbone.conv_encoder.model."
    lines = []
    all_match = True
    for name, saved in names_by_fixture.items():
        spec = SMALL_FIXTURES.get(name) or LARGE_FIXTURES[name]
        expected = published_transformer_names(spec["encoder_layers"], spec["decoder_layers"])
        non_backbone = {n for n in saved if not n.startswith("model.backbone.")}
        bad_backbone = [n for n in saved if n.startswith("model.backbone.") and not n.startswith(backbone_prefix)]
        missing, extra = sorted(expected - non_backbone), sorted(non_backbone - expected)
        ok = not missing and not extra and not bad_backbone
        all_match &= ok
        lines.append(f"| {name} | {len(saved)} | {'identical' if ok else 'DIFFERENT'} |")
        for n in missing + extra + bad_backbone:
            lines.append(f"|  | | {'missing' if n in missing else 'unexpected'}: `{n}` |")
    # What the modules are called in memory (state_dict() before save_pretrained's reverse renaming).
    spec = SMALL_FIXTURES["r18_timm"]
    in_memory = set(build_model(spec).state_dict().keys())
    memory_only = sorted(n for n in in_memory if ".layers.0." in n and ("o_proj" in n or ".mlp." in n)
                         or n.startswith("model.backbone.model.conv1"))
    with open(os.path.join(out_root, "NAMES.md"), "w") as f:
        f.write(NAMES_TEMPLATE.format(
            version=transformers.__version__, table="\n".join(lines),
            verdict=("The saved names are the published 4.x names for every fixture." if all_match else
                     "Some saved names differ from the published 4.x names (listed above)."),
            memory_names="\n".join(f"    {n}" for n in memory_only)))
    print(f"NAMES.md: saved names {'match' if all_match else 'DIFFER FROM'} the 4.x names")


NAMES_TEMPLATE = """# DETR tensor and config names: transformers 4.x (published checkpoints) vs {version}

Written by tools/make_detr_fixtures.py. The published checkpoints (facebook/detr-resnet-50 and friends) were
written by transformers 4.x; its conversion script renames the original facebookresearch/detr weights to:

    model.backbone.conv_encoder.model.<backbone>      timm: conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, ...
                                                      transformers ResNet: embedder.embedder.convolution,
                                                      encoder.stages.0.layers.0.layer.0.normalization, shortcut, ...
    model.input_projection.{{weight,bias}}
    model.query_position_embeddings.weight
    model.encoder.layers.N.self_attn.{{q,k,v,out}}_proj.{{weight,bias}}
    model.encoder.layers.N.{{self_attn_layer_norm,fc1,fc2,final_layer_norm}}.{{weight,bias}}
    model.decoder.layers.N.self_attn.{{q,k,v,out}}_proj.*, self_attn_layer_norm.*
    model.decoder.layers.N.encoder_attn.{{q,k,v,out}}_proj.*, encoder_attn_layer_norm.*
    model.decoder.layers.N.{{fc1,fc2,final_layer_norm}}.*
    model.decoder.layernorm.{{weight,bias}}
    class_labels_classifier.{{weight,bias}}
    bbox_predictor.layers.{{0,1,2}}.{{weight,bias}}

Frozen batch norms store weight, bias, running_mean, running_var (no num_batches_tracked).

## Tensor names in model.safetensors

| fixture | tensors | saved names vs 4.x names |
| --- | --- | --- |
{table}

{verdict}

transformers 5 renamed the modules in memory but `save_pretrained` maps them back to the 4.x names, so
files written by either version use the names above. For reference, the 5.x in-memory names (never written
to disk by save_pretrained, but possible in a state dict saved by hand with `save_file(model.state_dict())`):

{memory_names}

i.e. `self_attn.o_proj` for `out_proj`, `mlp.fc1`/`mlp.fc2` for `fc1`/`fc2` and `model.backbone.model.` for
`model.backbone.conv_encoder.model.`. A loader that also accepts these costs three string rewrites.

## config.json

The config layout did change:

* 4.x (published checkpoints, and fixture `r18_timm_v4config`): timm backbones are described by top-level keys
  `"use_timm_backbone": true`, `"backbone": "resnet50"`, `"dilation": false`, `"backbone_config": null`
  (`use_pretrained_backbone` is irrelevant to inference). A transformers-ResNet backbone has
  `"use_timm_backbone": false` and a `backbone_config` with `"model_type": "resnet"`.
* 5.x (all other fixtures): no `use_timm_backbone`/`backbone` keys; a timm backbone is
  `"backbone_config": {{"model_type": "timm_backbone", "backbone": "resnet18", "out_indices": [1, 2, 3, 4],
  "output_stride": null or 16, ...}}` with DC5 as `"output_stride": 16` (the top-level `"dilation"` is kept
  too). A transformers ResNet is `"backbone_config": {{"model_type": "resnet", "layer_type": "basic" or
  "bottleneck", "depths", "hidden_sizes", "embedding_size", "out_features", ...}}`.
* DETR always uses the last backbone feature map, whatever `out_features`/`out_indices` list.
* id2label keys are strings; COCO configs have 91 ids (0..90) with unused ids named "N/A", so logits have
  92 columns (the last is "no object").

The committed timm fixtures narrow ResNet-18's layer2-4 channels (timm's `channels` argument, recorded as
`timm_model_kwargs` in config.json) to keep the files small; take channel counts from tensor shapes.
"""


def main():
    parser = argparse.ArgumentParser(description="Write DETR reference fixtures.")
    parser.add_argument("--out", default=FIXTURE_DIR)
    parser.add_argument("--large", action="store_true", help="also write the full-size (uncommitted) fixtures")
    parser.add_argument("--large-out", default=os.path.join(REPO_ROOT, "tests", "fixtures", "detr", "large"))
    parser.add_argument("--only", nargs="*", help="fixture names to write (default: all)")
    parser.add_argument("--list-names", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    todo = [(n, s, args.out) for n, s in SMALL_FIXTURES.items()]
    if args.large:
        todo += [(n, s, args.large_out) for n, s in LARGE_FIXTURES.items()]
    names_by_fixture = {}
    for name, spec, root in todo:
        if args.only and name not in args.only:
            continue
        names_by_fixture[name] = write_fixture(name, spec, root, args.list_names,
                                               with_f64=name in LARGE_FIXTURES)
    if not args.only:
        write_hungarian_cases(args.out)
        write_coco_eval_case(os.path.join(args.out, "coco_eval"))
        write_names_report(args.out, names_by_fixture)


if __name__ == "__main__":
    main()
