#!/usr/bin/env python3
"""Converts an original facebookresearch/detr checkpoint (.pth) into a Hugging Face DETR folder.

    python tools/convert/convert_detr_original.py --checkpoint detr-r50-e632da11.pth --out models/detr-resnet-50
    python tools/convert/convert_detr_original.py --checkpoint detr-r50-dc5-f0fb7ef5.pth --out OUT --dc5
    python tools/convert/convert_detr_original.py --self-test tests/fixtures/detr/r18_timm

The output folder holds config.json (transformers 4.x layout: use_timm_backbone/backbone/dilation),
model.safetensors with the tensor names of the published Hugging Face checkpoints, and a DetrImageProcessor
preprocessor_config.json (shortest edge 800, longest 1333, ImageNet mean/std), i.e. what
facebook/detr-resnet-50 looks like. The renaming follows transformers' own conversion script: the backbone
keeps torchvision/timm ResNet names under a new prefix, nn.MultiheadAttention's packed in_proj is split into
q/k/v projections, and the rest is renamed one to one.

Only detection checkpoints are supported (not the panoptic ones with a mask head). The checkpoint is loaded
with weights_only=True, so no code inside it runs.

--self-test FOLDER renames a Hugging Face DETR folder's weights back to the original layout, converts that
and checks that every tensor comes back bit-identical under the same name.
"""

import argparse
import json
import os
import pickle
import re
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file

HF_BACKBONE_PREFIX = "model.backbone.conv_encoder.model."
ORIGINAL_BACKBONE_PREFIX = "backbone.0.body."
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

# Original name (under transformer.encoder.layers.N. / transformer.decoder.layers.N.) -> Hugging Face name.
ENCODER_LAYER_RENAMES = {
    "self_attn.out_proj": "self_attn.out_proj",
    "linear1": "fc1",
    "linear2": "fc2",
    "norm1": "self_attn_layer_norm",
    "norm2": "final_layer_norm",
}
DECODER_LAYER_RENAMES = {
    "self_attn.out_proj": "self_attn.out_proj",
    "multihead_attn.out_proj": "encoder_attn.out_proj",
    "linear1": "fc1",
    "linear2": "fc2",
    "norm1": "self_attn_layer_norm",
    "norm2": "encoder_attn_layer_norm",
    "norm3": "final_layer_norm",
}
# Packed attention input projections: original module -> Hugging Face module.
PACKED_ATTENTION = {"encoder": {"self_attn": "self_attn"},
                    "decoder": {"self_attn": "self_attn", "multihead_attn": "encoder_attn"}}
TOP_LEVEL_RENAMES = {
    "input_proj": "model.input_projection",
    "query_embed": "model.query_position_embeddings",
    "transformer.decoder.norm": "model.decoder.layernorm",
    "class_embed": "class_labels_classifier",
    "bbox_embed.layers.0": "bbox_predictor.layers.0",
    "bbox_embed.layers.1": "bbox_predictor.layers.1",
    "bbox_embed.layers.2": "bbox_predictor.layers.2",
}

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


class ConversionError(Exception):
    pass


def _layer_count(state_dict, prefix):
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    indices = {int(m.group(1)) for key in state_dict for m in [pattern.match(key)] if m}
    return max(indices) + 1 if indices else 0


def convert_state_dict(original):
    """Original DETR state dict -> Hugging Face DETR state dict (published 4.x names)."""
    if any(key.startswith(("detr.", "mask_head.", "bbox_attention.")) for key in original):
        raise ConversionError("panoptic (segmentation) checkpoints are not supported; use a detection checkpoint")
    remaining = dict(original)
    converted = {}

    def take(old, new):
        if old not in remaining:
            raise ConversionError(f"checkpoint lacks tensor '{old}'")
        converted[new] = remaining.pop(old)

    for key in [k for k in remaining if k.startswith(ORIGINAL_BACKBONE_PREFIX)]:
        tensor = remaining.pop(key)
        if not key.endswith("num_batches_tracked"):  # frozen batch norm: the counter is meaningless
            converted[HF_BACKBONE_PREFIX + key[len(ORIGINAL_BACKBONE_PREFIX):]] = tensor
    for side, renames in (("encoder", ENCODER_LAYER_RENAMES), ("decoder", DECODER_LAYER_RENAMES)):
        for i in range(_layer_count(remaining, f"transformer.{side}.layers.")):
            old_layer, new_layer = f"transformer.{side}.layers.{i}.", f"model.{side}.layers.{i}."
            for old, new in renames.items():
                for p in ("weight", "bias"):
                    take(f"{old_layer}{old}.{p}", f"{new_layer}{new}.{p}")
            for old, new in PACKED_ATTENTION[side].items():
                for p, packed_name in (("weight", "in_proj_weight"), ("bias", "in_proj_bias")):
                    packed_key = f"{old_layer}{old}.{packed_name}"
                    if packed_key not in remaining:
                        raise ConversionError(f"checkpoint lacks tensor '{packed_key}'")
                    packed = remaining.pop(packed_key)
                    if packed.shape[0] % 3:
                        raise ConversionError(f"'{packed_key}' has {packed.shape[0]} rows, not a multiple of 3")
                    q, k, v = packed.chunk(3, dim=0)  # nn.MultiheadAttention packs query, key, value in order
                    for proj, part in (("q_proj", q), ("k_proj", k), ("v_proj", v)):
                        converted[f"{new_layer}{new}.{proj}.{p}"] = part.clone()
    for old, new in TOP_LEVEL_RENAMES.items():
        params = ("weight",) if old == "query_embed" else ("weight", "bias")
        for p in params:
            take(f"{old}.{p}", f"{new}.{p}")
    if remaining:
        raise ConversionError(f"unrecognised tensors in checkpoint: {sorted(remaining)[:10]}")
    return converted


def to_original_state_dict(hf):
    """Inverse of convert_state_dict (used to build test inputs in the original layout)."""
    original = {}
    for key, tensor in hf.items():
        if key.startswith(HF_BACKBONE_PREFIX):
            original[ORIGINAL_BACKBONE_PREFIX + key[len(HF_BACKBONE_PREFIX):]] = tensor
    for old, new in TOP_LEVEL_RENAMES.items():
        for p in ("weight", "bias"):
            if f"{new}.{p}" in hf:
                original[f"{old}.{p}"] = hf[f"{new}.{p}"]
    for side, renames in (("encoder", ENCODER_LAYER_RENAMES), ("decoder", DECODER_LAYER_RENAMES)):
        for i in range(_layer_count(hf, f"model.{side}.layers.")):
            old_layer, new_layer = f"transformer.{side}.layers.{i}.", f"model.{side}.layers.{i}."
            for old, new in renames.items():
                for p in ("weight", "bias"):
                    original[f"{old_layer}{old}.{p}"] = hf[f"{new_layer}{new}.{p}"]
            for old, new in PACKED_ATTENTION[side].items():
                for p, packed_name in (("weight", "in_proj_weight"), ("bias", "in_proj_bias")):
                    parts = [hf[f"{new_layer}{new}.{proj}.{p}"] for proj in ("q_proj", "k_proj", "v_proj")]
                    original[f"{old_layer}{old}.{packed_name}"] = torch.cat(parts, dim=0)
    return original


def infer_config(converted, backbone, dc5, heads, id2label):
    """A transformers 4.x style DETR config.json, with sizes read from the tensors."""
    d_model, _ = converted["model.input_projection.weight"].shape[:2]
    num_labels = converted["class_labels_classifier.weight"].shape[0] - 1
    if id2label is None:
        id2label = {i: n for i, n in enumerate(COCO_NAMES)} if num_labels == 91 else {
            i: f"LABEL_{i}" for i in range(num_labels)}
    if len(id2label) != num_labels:
        raise ConversionError(f"{len(id2label)} labels given but the classifier has {num_labels} (+1 no-object)")
    if d_model % heads:
        raise ConversionError(f"d_model {d_model} is not divisible by {heads} attention heads")
    encoder_layers = _layer_count(converted, "model.encoder.layers.")
    decoder_layers = _layer_count(converted, "model.decoder.layers.")
    return {
        "architectures": ["DetrForObjectDetection"], "model_type": "detr",
        "use_timm_backbone": True, "backbone": backbone, "backbone_config": None, "dilation": dc5,
        "use_pretrained_backbone": False, "num_channels": 3,
        "d_model": int(d_model), "num_queries": int(converted["model.query_position_embeddings.weight"].shape[0]),
        "encoder_layers": encoder_layers, "decoder_layers": decoder_layers, "num_hidden_layers": encoder_layers,
        "encoder_attention_heads": heads, "decoder_attention_heads": heads,
        "encoder_ffn_dim": int(converted["model.encoder.layers.0.fc1.weight"].shape[0]),
        "decoder_ffn_dim": int(converted["model.decoder.layers.0.fc1.weight"].shape[0]),
        "activation_function": "relu", "position_embedding_type": "sine", "auxiliary_loss": False,
        "dropout": 0.1, "attention_dropout": 0.0, "activation_dropout": 0.0,
        "encoder_layerdrop": 0.0, "decoder_layerdrop": 0.0, "init_std": 0.02, "init_xavier_std": 1.0,
        "is_encoder_decoder": True, "max_position_embeddings": 1024, "scale_embedding": False,
        "class_cost": 1, "bbox_cost": 5, "giou_cost": 2, "mask_loss_coefficient": 1, "dice_loss_coefficient": 1,
        "bbox_loss_coefficient": 5, "giou_loss_coefficient": 2, "eos_coefficient": 0.1,
        "id2label": {str(i): n for i, n in id2label.items()},
        "label2id": {n: i for i, n in id2label.items()},
        "torch_dtype": "float32",
    }


def guess_backbone(converted):
    """ResNet depth from block counts: layer3 has 6 bottlenecks in ResNet-50, 23 in ResNet-101."""
    bottleneck = any(k.endswith("layer1.0.conv3.weight") for k in converted)
    blocks = [_layer_count(converted, f"{HF_BACKBONE_PREFIX}layer{i}.") for i in range(1, 5)]
    known = {(True, (3, 4, 6, 3)): "resnet50", (True, (3, 4, 23, 3)): "resnet101",
             (False, (2, 2, 2, 2)): "resnet18", (False, (3, 4, 6, 3)): "resnet34"}
    name = known.get((bottleneck, tuple(blocks)))
    if name is None:
        raise ConversionError(f"unknown ResNet layout (bottleneck={bottleneck}, blocks={blocks}); pass --backbone")
    return name


def preprocessor_config():
    return {
        "image_processor_type": "DetrImageProcessor", "format": "coco_detection",
        "do_resize": True, "size": {"shortest_edge": 800, "longest_edge": 1333}, "resample": 2,
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD, "do_pad": True, "do_convert_annotations": True,
    }


def load_original(path):
    try:
        # Training checkpoints of the original code also store the argparse.Namespace of the run: a plain
        # attribute container, safe to allow.
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise ConversionError(f"{path}: cannot be read as a weights-only PyTorch checkpoint ({error})") from error
    if isinstance(checkpoint, dict) and "model" in checkpoint and isinstance(checkpoint["model"], dict):
        checkpoint = checkpoint["model"]  # official checkpoints: {"model": state_dict, ...}
    if not isinstance(checkpoint, dict) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise ConversionError(f"{path}: not a DETR state dict (expected a dict of tensors, or one under 'model')")
    return checkpoint


def convert(checkpoint_path, out_dir, backbone=None, dc5=False, heads=8, id2label=None):
    converted = convert_state_dict(load_original(checkpoint_path))
    config = infer_config(converted, backbone or guess_backbone(converted), dc5, heads, id2label)
    os.makedirs(out_dir, exist_ok=True)
    save_file({k: v.contiguous() for k, v in converted.items()}, os.path.join(out_dir, "model.safetensors"),
              metadata={"format": "pt"})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    with open(os.path.join(out_dir, "preprocessor_config.json"), "w") as f:
        json.dump(preprocessor_config(), f, indent=2, sort_keys=True)
    return converted, config


def self_test(folder):
    """HF folder -> original-layout .pth -> converted folder: every tensor must match bit for bit."""
    reference = load_file(os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "config.json")) as f:
        source_config = json.load(f)
    heads = source_config["encoder_attention_heads"]
    original = to_original_state_dict(reference)
    with tempfile.TemporaryDirectory() as tmp:
        pth = os.path.join(tmp, "detr-original.pth")
        torch.save({"model": original, "epoch": 0}, pth)  # the layout of the official checkpoints
        labels = {int(k): v for k, v in source_config["id2label"].items()}
        converted, config = convert(pth, os.path.join(tmp, "converted"), dc5=bool(source_config.get("dilation")),
                                    heads=heads, id2label=labels)
        written = load_file(os.path.join(tmp, "converted", "model.safetensors"))
        output_error = compare_outputs(folder, os.path.join(tmp, "converted"), source_config)
    missing = sorted(set(reference) - set(written))
    extra = sorted(set(written) - set(reference))
    mismatched = sorted(k for k in set(reference) & set(written) if not torch.equal(reference[k], written[k]))
    for key in ("d_model", "num_queries", "encoder_layers", "decoder_layers", "encoder_ffn_dim", "decoder_ffn_dim"):
        if config[key] != source_config[key]:
            mismatched.append(f"config {key}: {config[key]} != {source_config[key]}")
    print(f"self-test {folder}: {len(original)} original tensors -> {len(written)} converted; "
          f"missing {missing[:5]}, unexpected {extra[:5]}, different {mismatched[:5]}; "
          f"transformers on the converted folder vs reference logits/boxes: max abs error {output_error}")
    return not (missing or extra or mismatched) and (output_error is None or output_error < 1e-5)


def compare_outputs(fixture_folder, converted_folder, source_config):
    """Loads the converted folder with transformers and compares with the fixture's reference outputs."""
    reference_path = os.path.join(fixture_folder, "reference.safetensors")
    if not os.path.exists(reference_path):
        return None
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
    from make_detr_fixtures import timm_extra_kwargs  # narrowed test backbones need extra timm arguments
    from transformers import DetrForObjectDetection
    backbone_config = source_config.get("backbone_config") or {}
    timm_kwargs = source_config.get("timm_model_kwargs") or backbone_config.get("timm_model_kwargs")
    with open(os.path.join(converted_folder, "config.json")) as f:
        timm_name = json.load(f)["backbone"]
    reference = load_file(reference_path)
    with timm_extra_kwargs(timm_name, timm_kwargs), torch.no_grad():
        model = DetrForObjectDetection.from_pretrained(converted_folder).eval()
        if source_config.get("auxiliary_loss"):
            model.config.auxiliary_loss = True  # changes the decoder's outputs in transformers; keep it equal
        out = model(pixel_values=reference["pixel_values"], pixel_mask=reference["pixel_mask"])
    return max(float((out.logits - reference["logits"]).abs().max()),
               float((out.pred_boxes - reference["pred_boxes"]).abs().max()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="original DETR .pth")
    parser.add_argument("--out", help="output folder")
    parser.add_argument("--backbone", help="timm backbone name (default: guessed from the block counts)")
    parser.add_argument("--dc5", action="store_true", help="the checkpoint is a DC5 (dilated last stage) model")
    parser.add_argument("--heads", type=int, default=8, help="attention heads (not recorded in checkpoints)")
    parser.add_argument("--labels", help="JSON file with a list of class names (default: COCO for 91 classes)")
    parser.add_argument("--self-test", metavar="FOLDER", help="round-trip check on a Hugging Face DETR folder")
    args = parser.parse_args()
    try:
        if args.self_test:
            return 0 if self_test(args.self_test) else 1
        if not args.checkpoint or not args.out:
            parser.error("--checkpoint and --out are required")
        id2label = None
        if args.labels:
            with open(args.labels) as f:
                id2label = dict(enumerate(json.load(f)))
        converted, config = convert(args.checkpoint, args.out, args.backbone, args.dc5, args.heads, id2label)
        print(f"wrote {len(converted)} tensors ({config['backbone']}, d_model {config['d_model']}, "
              f"{config['num_queries']} queries, {len(config['id2label'])} labels) to {args.out}")
        return 0
    except (ConversionError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
