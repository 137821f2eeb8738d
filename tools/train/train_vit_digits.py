#!/usr/bin/env python3
"""Trains the bundled demo model: a small ViT that reads handwritten digits.

Data: scikit-learn's bundled digits (sklearn.datasets.load_digits, 1797
8x8 images with 16 grey levels). Every digit is written as an 8x8, 8-bit
greyscale PNG (level * 255 / 16, rounded), and the model is trained on
exactly what an inference engine sees when it reads those files: the PIL
image converted to RGB and run through ViTImageProcessor (PIL backend) with
the preprocessor_config.json that is bundled with the model (bilinear resize
to 32x32, rescale by 1/255, normalise with mean = std = 0.5).

The split is stratified and fixed (seed 0): 80% training, 20% held out. The
held-out digits are written as PNG files named <label>_<index>.png, where
<index> is the digit's position in load_digits, so a test can score them.

Outputs (paths relative to the repository root):
  models/demo/vit-digits/        config.json, model.safetensors, preprocessor_config.json, README.md
  models/demo/images/digits/     digit_<d>.png examples from the held-out set
  tests/fixtures/digits-heldout/ <label>_<index>.png for every held-out digit

Usage:
  python tools/train/train_vit_digits.py [--epochs N] [--threads T]

After saving, the folder is reloaded with from_pretrained and the held-out
PNG files are scored again from disk; both accuracies are printed.
"""
import argparse
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import transformers
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil
from transformers.image_utils import PILImageResampling

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO_ROOT / "models" / "demo" / "vit-digits"
EXAMPLES_DIR = REPO_ROOT / "models" / "demo" / "images" / "digits"
HELDOUT_DIR = REPO_ROOT / "tests" / "fixtures" / "digits-heldout"

SEED = 0
HELDOUT_FRACTION = 0.2
EXAMPLE_DIGITS = [0, 1, 2, 3, 4, 5, 7, 9]
# Augmentation: every training digit is also seen shifted by up to one pixel.
SHIFTS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]

MODEL_CONFIG = dict(image_size=32, patch_size=8, num_channels=3, hidden_size=64, num_hidden_layers=4,
                    num_attention_heads=4, intermediate_size=128, hidden_act="gelu", layer_norm_eps=1e-12,
                    qkv_bias=True, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                    id2label={i: str(i) for i in range(10)}, label2id={str(i): i for i in range(10)})


def make_processor():
    return ViTImageProcessorPil(do_resize=True, size={"height": 32, "width": 32}, resample=PILImageResampling.BILINEAR,
                                do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
                                image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])


def to_grey8(levels):
    """sklearn's 0..16 grey levels to 8-bit values, rounded half up."""
    return np.floor(levels.astype(np.float64) * 255.0 / 16.0 + 0.5).astype(np.uint8)


def shifted(image, dy, dx):
    """`image` moved by (dy, dx) pixels, uncovered pixels set to the background (0)."""
    out = np.zeros_like(image)
    h, w = image.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def pixel_values(processor, grey_images):
    """What the engine computes from these 8-bit grey images: RGB, then the bundled preprocessor."""
    rgb = [Image.fromarray(g, mode="L").convert("RGB") for g in grey_images]
    return torch.from_numpy(np.stack(processor(rgb, return_tensors="np")["pixel_values"])).float()


def write_pngs(folder, grey_images, names, replaces):
    """Writes 8-bit grey PNG files after deleting the earlier ones (`replaces`, a glob) so none go stale."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(replaces):
        old.unlink()
    for grey, name in zip(grey_images, names):
        Image.fromarray(grey, mode="L").save(folder / name, optimize=True)


def accuracy(model, inputs, labels, batch=256):
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), batch):
            logits = model(pixel_values=inputs[start:start + batch]).logits
            correct += (logits.argmax(-1) == labels[start:start + batch]).sum().item()
    return correct / len(labels)


def train(model, shifted_inputs, labels, epochs, batch_size, lr):
    """AdamW with linear warm-up and cosine decay; each sample takes a random shift each epoch."""
    num_train = labels.shape[0]
    steps_per_epoch = math.ceil(num_train / batch_size)
    total_steps = epochs * steps_per_epoch
    warmup_steps = steps_per_epoch * 2
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup_steps) *
        0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps)))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    generator = torch.Generator().manual_seed(SEED)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(num_train, generator=generator)
        shift = torch.randint(len(SHIFTS), (num_train,), generator=generator)
        total_loss = 0.0
        for start in range(0, num_train, batch_size):
            idx = order[start:start + batch_size]
            logits = model(pixel_values=shifted_inputs[shift[idx], idx]).logits
            loss = loss_fn(logits, labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(idx)
        if (epoch + 1) % 5 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch + 1:3d}  loss {total_loss / num_train:.4f}", flush=True)


def score_from_disk(model_dir, image_dir, label_of):
    """Reloads the saved model and processor and scores the PNG files in `image_dir` as read from disk.

    `label_of(path)` gives the true label name from a file name.
    """
    model = ViTForImageClassification.from_pretrained(model_dir, dtype=torch.float32).eval()
    processor = ViTImageProcessorPil.from_pretrained(model_dir)
    files = sorted(image_dir.glob("*.png"))
    images = [Image.open(f).convert("RGB") for f in files]
    inputs = torch.from_numpy(np.stack(processor(images, return_tensors="np")["pixel_values"])).float()
    with torch.no_grad():
        predicted = model(pixel_values=inputs).logits.argmax(-1).tolist()
    names = [model.config.id2label[p] for p in predicted]
    correct = sum(name == label_of(f) for name, f in zip(names, files))
    return correct / len(files), len(files)


def write_readme(heldout_acc, num_train, num_heldout, args, seconds, cpu_seconds, num_params):
    c = MODEL_CONFIG
    patch = c["patch_size"]
    grid = c["image_size"] // patch
    text = f"""# vit-digits

A small Vision Transformer (ViTForImageClassification) that reads handwritten
digits. It is the demo model bundled with visionrt: tiny, fast on any CPU, and
trained on data that ships with scikit-learn, so it can be rebuilt anywhere.

| | |
|---|---|
| input | 32x32 RGB (any image; the preprocessor resizes it) |
| patches | {patch}x{patch} pixels, {grid}x{grid} grid + [CLS] = {grid * grid + 1} tokens |
| encoder | {c["num_hidden_layers"]} layers, hidden {c["hidden_size"]}, {c["num_attention_heads"]} heads, MLP {c["intermediate_size"]}, GELU |
| labels | "0" ... "9" |
| parameters | {num_params:,} (float32) |
| held-out accuracy | **{100 * heldout_acc:.2f}%** ({round(heldout_acc * num_heldout)}/{num_heldout}) |

## Data

scikit-learn's bundled handwritten digits (`sklearn.datasets.load_digits`:
1797 images of 8x8 pixels with 16 grey levels, from the UCI optical
recognition of handwritten digits data set). Each digit is stored as an 8x8
8-bit greyscale PNG (level * 255 / 16, rounded). A stratified split with seed
{SEED} keeps {num_train} digits for training and holds out {num_heldout}; the
held-out ones are in `tests/fixtures/digits-heldout/` as `<label>_<index>.png`.

The model expects white digits on a black background, centred and roughly
filling the frame, like the training data. The images in `../images/` are
held-out digits.

## Training

The training inputs are exactly what an inference engine computes from the
PNG files: the image converted to RGB and passed through the bundled
`preprocessor_config.json` (PIL bilinear resize to 32x32, scale by 1/255,
normalise with mean = std = 0.5). Each training digit is shifted by up to one
pixel (zero fill) on its 8x8 grid before preprocessing, a fresh random shift
every epoch.

AdamW (lr {args.lr:g}, weight decay 0.05), batch {args.batch_size}, label smoothing 0.1, linear
warm-up for 2 epochs then cosine decay, {args.epochs} epochs on {args.threads} CPU thread(s):
{seconds:.0f} s wall clock ({cpu_seconds:.0f} s of CPU time) with torch {torch.__version__},
transformers {transformers.__version__}.

To retrain (rewrites this folder, `../images/` and the held-out PNG files):

    python tools/train/train_vit_digits.py

The held-out accuracy above is measured after reloading this folder with
`ViTForImageClassification.from_pretrained` and reading the held-out PNG files
from disk through the bundled preprocessor.
"""
    (MODEL_DIR / "README.md").write_text(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)

    digits = load_digits()
    grey = to_grey8(digits.images)
    labels = digits.target.astype(np.int64)
    train_idx, heldout_idx = train_test_split(np.arange(len(labels)), test_size=HELDOUT_FRACTION,
                                              random_state=SEED, stratify=labels)
    heldout_names = [f"{labels[i]}_{i}.png" for i in heldout_idx]
    write_pngs(HELDOUT_DIR, grey[heldout_idx], heldout_names, "[0-9]_*.png")

    processor = make_processor()
    # Preprocess every shifted copy once; training then only indexes into this.
    shifted_inputs = torch.stack([pixel_values(processor, [shifted(g, dy, dx) for g in grey[train_idx]])
                                  for dy, dx in SHIFTS])
    train_labels = torch.from_numpy(labels[train_idx])
    heldout_inputs = pixel_values(processor, grey[heldout_idx])
    heldout_labels = torch.from_numpy(labels[heldout_idx])

    model = ViTForImageClassification(ViTConfig(**MODEL_CONFIG))
    print(f"{len(train_idx)} training / {len(heldout_idx)} held-out digits, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters", flush=True)
    started, cpu_started = time.monotonic(), time.process_time()
    train(model, shifted_inputs, train_labels, args.epochs, args.batch_size, args.lr)
    seconds, cpu_seconds = time.monotonic() - started, time.process_time() - cpu_started
    in_memory_acc = accuracy(model, heldout_inputs, heldout_labels)
    print(f"training took {seconds:.1f} s ({cpu_seconds:.1f} s CPU); "
          f"held-out accuracy (in memory): {100 * in_memory_acc:.2f}%")

    if MODEL_DIR.exists():
        shutil.rmtree(MODEL_DIR)
    model.eval().save_pretrained(MODEL_DIR, safe_serialization=True)
    processor.save_pretrained(MODEL_DIR)
    for path in MODEL_DIR.iterdir():
        path.chmod(0o644)  # safetensors writes owner-only files

    # Examples: the first held-out digit of each chosen class that the model gets right.
    with torch.no_grad():
        predictions = model(pixel_values=heldout_inputs).logits.argmax(-1).numpy()
    examples, example_names = [], []
    for digit in EXAMPLE_DIGITS:
        of_digit = [k for k, i in enumerate(heldout_idx) if labels[i] == digit]
        pick = next((k for k in of_digit if predictions[k] == digit), of_digit[0])
        examples.append(grey[heldout_idx[pick]])
        example_names.append(f"digit_{digit}.png")
    write_pngs(EXAMPLES_DIR, examples, example_names, "digit_*.png")

    disk_acc, count = score_from_disk(MODEL_DIR, HELDOUT_DIR, lambda f: f.stem.split("_")[0])
    print(f"held-out accuracy (reloaded from {MODEL_DIR.relative_to(REPO_ROOT)}, {count} PNG files "
          f"from {HELDOUT_DIR.relative_to(REPO_ROOT)}): {100 * disk_acc:.2f}%")
    example_acc, _ = score_from_disk(MODEL_DIR, EXAMPLES_DIR, lambda f: f.stem.split("_")[1])
    print(f"examples in {EXAMPLES_DIR.relative_to(REPO_ROOT)}: {100 * example_acc:.0f}% correct")
    write_readme(disk_acc, len(train_idx), len(heldout_idx), args, seconds, cpu_seconds,
                 sum(p.numel() for p in model.parameters()))


if __name__ == "__main__":
    main()
