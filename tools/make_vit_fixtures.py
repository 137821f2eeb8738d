#!/usr/bin/env python3
"""Makes the ViT reference fixtures under tests/fixtures/vit/.

Each fixture is a Hugging Face model folder (config.json, safetensors weights,
preprocessor_config.json) holding a small, randomly initialised
ViTForImageClassification, plus the reference output the C++ engine must
reproduce:

  reference.safetensors  "pixel_values" [N,3,H,W] float32, "logits" [N,L] float32
  reference.json         {"interpolate_pos_encoding": bool, "note": str, ...}

The reference is computed in float32 by transformers' eager attention path
from the weights as *stored* (the folder is loaded back and cast to float32),
so half-precision fixtures carry exactly the rounded weights the engine reads.

Usage:
  python tools/make_vit_fixtures.py           # the small, committed fixtures
  python tools/make_vit_fixtures.py --base    # also vit-base-patch16-224 (~330 MB, not committed)

Needs torch, transformers 5.x, safetensors and pillow. Output is
deterministic: every fixture seeds its own generator.
"""
import argparse
import dataclasses
import json
import math
import shutil
from pathlib import Path

import torch
import transformers
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil
from transformers.image_utils import PILImageResampling

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "tests" / "fixtures" / "vit"
BASE_NAME = "vit-base-patch16-224"

# Label names chosen to exercise JSON parsing: spaces, commas, non-ASCII.
CUSTOM_LABELS = {0: "tabby, tabby cat", 1: "traffic light", 2: "crème brûlée", 3: "☂ umbrella", 4: "zero"}

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

SAFETENSORS_DTYPE = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


@dataclasses.dataclass
class Fixture:
    name: str
    seed: int
    config: dict  # ViTConfig keyword arguments
    batch: int = 2
    input_hw: tuple = None  # (H, W) of pixel_values; None: the model's image_size
    interpolate_pos_encoding: bool = False
    storage_dtype: torch.dtype = torch.float32
    max_shard_size: str = None  # set to force a sharded checkpoint with an index file
    preprocessor: dict = dataclasses.field(default_factory=dict)  # ViTImageProcessor overrides
    note: str = ""


def small_p8(**overrides):
    """The config behind the dtype and sharding variants: small enough to store several times."""
    config = dict(patch_size=8, image_size=32, hidden_size=48, num_attention_heads=3, num_hidden_layers=2,
                  intermediate_size=96, layer_norm_eps=1e-12, qkv_bias=True, num_labels=4)
    config.update(overrides)
    return config


FIXTURES = [
    Fixture("p16_d64", seed=1601,
            config=dict(patch_size=16, image_size=64, hidden_size=128, num_attention_heads=2, num_hidden_layers=1,
                        intermediate_size=160, qkv_bias=True, layer_norm_eps=1e-12, id2label=CUSTOM_LABELS),
            preprocessor=dict(size={"height": 64, "width": 64}),
            note="head dim 64, 4x4 patches, custom label names"),
    Fixture("p14_d32", seed=1402,
            config=dict(patch_size=14, image_size=56, hidden_size=96, num_attention_heads=3, num_hidden_layers=2,
                        intermediate_size=112, qkv_bias=False, layer_norm_eps=1e-6, num_labels=7),
            preprocessor=dict(size={"height": 56, "width": 56}, resample=PILImageResampling.BICUBIC,
                              image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD),
            note="patch 14, head dim 32, no query/key/value biases, eps 1e-6"),
    Fixture("p32_d32", seed=3203,
            config=dict(patch_size=32, image_size=96, hidden_size=64, num_attention_heads=2, num_hidden_layers=1,
                        intermediate_size=128, qkv_bias=True, layer_norm_eps=1e-5, num_labels=3),
            preprocessor=dict(size={"height": 96, "width": 96}),
            note="patch 32, 3x3 patches, eps 1e-5"),
    Fixture("p16_interp", seed=1604, batch=3, input_hw=(48, 64), interpolate_pos_encoding=True,
            config=dict(patch_size=16, image_size=32, hidden_size=64, num_attention_heads=2, num_hidden_layers=2,
                        intermediate_size=128, qkv_bias=True, layer_norm_eps=1e-12, num_labels=6),
            preprocessor=dict(size={"height": 48, "width": 64}),
            note="trained at 32x32 (2x2 patches), run at 48x64 (3x4 patches) with interpolate_pos_encoding=True: "
                 "the 2x2 patch position grid is resized to 3x4 by torch bicubic (a=-0.75), align_corners=False"),
    Fixture("p8_gelu_new", seed=805,
            config=dict(patch_size=8, image_size=32, hidden_size=32, num_attention_heads=2, num_hidden_layers=3,
                        intermediate_size=64, hidden_act="gelu_new", layer_norm_eps=1e-12, num_labels=5),
            preprocessor=dict(size={"height": 32, "width": 32}),
            note="hidden_act gelu_new (tanh approximation), 3 layers"),
    Fixture("p8_bf16", seed=806, config=small_p8(), storage_dtype=torch.bfloat16,
            preprocessor=dict(size={"height": 32, "width": 32}),
            note="weights stored as bfloat16; reference computed in float32 from the stored values"),
    Fixture("p8_f16", seed=806, config=small_p8(), storage_dtype=torch.float16,
            preprocessor=dict(size={"height": 32, "width": 32}),
            note="weights stored as float16; reference computed in float32 from the stored values"),
    Fixture("p8_sharded", seed=806, config=small_p8(), max_shard_size="48KB",
            preprocessor=dict(size={"height": 32, "width": 32}),
            note="float32 weights split over several shards with model.safetensors.index.json"),
]

BASE_FIXTURE = Fixture(
    BASE_NAME, seed=224, batch=1,
    # ViTConfig's defaults are google/vit-base-patch16-224's architecture.
    config=dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                hidden_act="gelu", patch_size=16, image_size=224, qkv_bias=True, layer_norm_eps=1e-12,
                num_labels=1000),
    note="google/vit-base-patch16-224's architecture with random weights (LABEL_i names)")


def randomise_weights(model):
    """Replaces the default init so that every parameter matters to the output.

    The default init (weights N(0, 0.02), biases 0, LayerNorm 1/0) makes
    attention nearly uniform and leaves biases and LayerNorm affine terms
    untested. Here weights get a 1/sqrt(fan_in) scale (activations of order 1,
    so softmax and GELU work in their non-linear range) and every bias and
    LayerNorm weight is moved away from its default.
    """
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("cls_token", "position_embeddings")):
                param.normal_(0.0, 0.5)
            elif "layernorm" in name and name.endswith(".weight"):
                param.copy_(1.0 + 0.1 * torch.randn_like(param))
            elif name.endswith(".bias"):
                param.normal_(0.0, 0.1)
            elif param.dim() >= 2:
                fan_in = param[0].numel()
                param.normal_(0.0, 1.0 / math.sqrt(fan_in))
            else:
                raise RuntimeError(f"no init rule for parameter {name} {tuple(param.shape)}")


def expected_tensors(config):
    """Tensor names and shapes as transformers 4.x publishes ViTForImageClassification checkpoints."""
    d, inner, p, c = config.hidden_size, config.intermediate_size, config.patch_size, config.num_channels
    num_positions = (config.image_size // p) ** 2 + 1
    shapes = {
        "vit.embeddings.cls_token": [1, 1, d],
        "vit.embeddings.position_embeddings": [1, num_positions, d],
        "vit.embeddings.patch_embeddings.projection.weight": [d, c, p, p],
        "vit.embeddings.patch_embeddings.projection.bias": [d],
        "vit.layernorm.weight": [d],
        "vit.layernorm.bias": [d],
        "classifier.weight": [config.num_labels, d],
        "classifier.bias": [config.num_labels],
    }
    for i in range(config.num_hidden_layers):
        layer = f"vit.encoder.layer.{i}."
        for proj in ("query", "key", "value"):
            shapes[f"{layer}attention.attention.{proj}.weight"] = [d, d]
            if config.qkv_bias:
                shapes[f"{layer}attention.attention.{proj}.bias"] = [d]
        for dense, out_dim, in_dim in (("attention.output.dense", d, d), ("intermediate.dense", inner, d),
                                       ("output.dense", d, inner)):
            shapes[f"{layer}{dense}.weight"] = [out_dim, in_dim]
            shapes[f"{layer}{dense}.bias"] = [out_dim]
        for norm in ("layernorm_before", "layernorm_after"):
            shapes[f"{layer}{norm}.weight"] = [d]
            shapes[f"{layer}{norm}.bias"] = [d]
    return shapes


def stored_tensors(folder):
    """{name: (shape, safetensors dtype)} across model.safetensors or all shards of its index."""
    index_path = folder / "model.safetensors.index.json"
    if index_path.exists():
        files = sorted(set(json.loads(index_path.read_text())["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    tensors = {}
    for file in files:
        with safe_open(str(folder / file), framework="pt") as f:
            for name in f.keys():
                if name in tensors:
                    raise RuntimeError(f"{folder}: tensor {name} appears in more than one shard")
                tensor_slice = f.get_slice(name)
                tensors[name] = (list(tensor_slice.get_shape()), tensor_slice.get_dtype())
    return tensors, files


def check_stored_layout(folder, config, storage_dtype):
    expected = expected_tensors(config)
    stored, files = stored_tensors(folder)
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    wrong_shape = sorted(n for n in expected if n in stored and stored[n][0] != expected[n])
    wrong_dtype = sorted(n for n, (_, dt) in stored.items() if dt != SAFETENSORS_DTYPE[storage_dtype])
    if missing or unexpected or wrong_shape or wrong_dtype:
        raise SystemExit(
            f"{folder}: saved tensors differ from the published ViT layout\n"
            f"  missing: {missing}\n  unexpected: {unexpected}\n"
            f"  wrong shape: {[(n, stored[n][0], expected[n]) for n in wrong_shape]}\n"
            f"  wrong dtype (want {SAFETENSORS_DTYPE[storage_dtype]}): {wrong_dtype}")
    return files


def make_fixture(fixture, out_root):
    folder = out_root / fixture.name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)

    torch.manual_seed(fixture.seed)
    config = ViTConfig(**fixture.config)
    model = ViTForImageClassification(config).eval()
    randomise_weights(model)
    model = model.to(fixture.storage_dtype)
    save_args = {"safe_serialization": True}
    if fixture.max_shard_size:
        save_args["max_shard_size"] = fixture.max_shard_size
    model.save_pretrained(folder, **save_args)
    processor_args = dict(resample=PILImageResampling.BILINEAR, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    processor_args.update(fixture.preprocessor)
    ViTImageProcessorPil(**processor_args).save_pretrained(folder)

    files = check_stored_layout(folder, config, fixture.storage_dtype)
    if fixture.max_shard_size and len(files) < 2:
        raise SystemExit(f"{folder}: expected a sharded checkpoint, got {files}")

    # The reference runs on what was stored, widened to float32.
    stored = ViTForImageClassification.from_pretrained(folder, dtype=torch.float32,
                                                       attn_implementation="eager").eval()
    for (name, a), (_, b) in zip(model.state_dict().items(), stored.state_dict().items()):
        if not torch.equal(a.float(), b):
            raise SystemExit(f"{folder}: tensor {name} did not survive the save/load round trip")

    height, width = fixture.input_hw or (config.image_size, config.image_size)
    generator = torch.Generator().manual_seed(fixture.seed + 1)
    pixel_values = torch.randn(fixture.batch, config.num_channels, height, width, generator=generator)
    with torch.no_grad():
        logits = stored(pixel_values=pixel_values,
                        interpolate_pos_encoding=fixture.interpolate_pos_encoding).logits.float()
    save_file({"pixel_values": pixel_values.contiguous(), "logits": logits.contiguous()},
              str(folder / "reference.safetensors"))
    reference = {
        "interpolate_pos_encoding": fixture.interpolate_pos_encoding,
        "note": fixture.note,
        "storage_dtype": str(fixture.storage_dtype).replace("torch.", ""),
        "weight_files": files,
        "seed": fixture.seed,
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
    }
    (folder / "reference.json").write_text(json.dumps(reference, indent=2, ensure_ascii=False) + "\n")
    for path in folder.iterdir():
        path.chmod(0o644)  # safetensors writes owner-only files

    size_kb = sum(f.stat().st_size for f in folder.iterdir()) / 1024
    print(f"{fixture.name:22s} {size_kb:8.1f} KB  pixel_values {list(pixel_values.shape)}  "
          f"logits {list(logits.shape)}  |logits|max {logits.abs().max().item():.3f}  "
          f"files {len(files)}  {fixture.storage_dtype}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="fixture root (default: %(default)s)")
    parser.add_argument("--base", action="store_true",
                        help=f"also make {BASE_NAME} (~330 MB of float32 weights; not committed)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    fixtures = FIXTURES + ([BASE_FIXTURE] if args.base else [])
    for fixture in fixtures:
        make_fixture(fixture, args.out)


if __name__ == "__main__":
    main()
