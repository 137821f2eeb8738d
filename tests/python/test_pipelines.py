"""visionrt beside transformers' own pipelines, on the same models and
images: pipeline("image-classification") and pipeline("object-detection")
with the Pil image processor and float32 (the conditions under which the
README says visionrt gives the same results), called the same way.

The models are made here with transformers, small and with random weights
spread wide enough that scores differ between labels: a ViT, the same ViT
marked multi-label (scored with a sigmoid) and with one label, its fp16 and
bf16 checkpoints (both sides compute in float32 from the same rounded
weights), and the DETR fixtures of tests/fixtures/detr with transformers'
ResNet backbone. The images are PNG files, JPEG files carrying an EXIF
orientation, the same opened as PIL images (not yet turned upright), and
base64 strings. Answers must have the same nesting, the same keys in the
same order, the same labels in the same order, the same int boxes, and
scores within CLASSIFY_TOLERANCE or DETECT_TOLERANCE.

Needs transformers and torch (tools/ci/test_python.sh installs them), and
fails without them."""

import base64
import json
import shutil
import subprocess
import warnings

import numpy as np
import pytest
import torch
import transformers
from PIL import Image

import visionrt
from conftest import FIXTURES, needs_image_io

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()

pytestmark = needs_image_io

# Both sides compute in float32 and differ in summation order only, which
# moves ViT logits by about 1e-6 and DETR's by about 1e-5 (BatchNorm folded
# into the convolutions; the README's "Tests, reference fixtures and
# tolerances"); a softmax or sigmoid score moves by at most half its logits'
# largest move. Largest seen here: 8.3e-7 and 1.4e-6.
CLASSIFY_TOLERANCE = 1e-6
DETECT_TOLERANCE = 5e-6

# DETR with transformers' ResNet backbone; RT-DETR, RT-DETRv2 and D-FINE (sigmoid
# scores, the best queries x labels kept), whose logits move by up to 1.2e-5.
DETR_FIXTURES = ["detr/r18_hf", "detr/r50_hf_small", "rtdetr/r18vd_narrow", "rtdetr/v2_r18vd_discrete_narrow",
                 "dfine/hgnetv2_b0_narrow"]
ORIENTATIONS = [3, 6, 8]  # 180 degrees, 90 clockwise, 90 counter-clockwise


def smooth_image(rng, height, width):
    coarse = rng.uniform(0, 255, size=(max(2, height // 12), max(2, width // 12), 3)).astype(np.uint8)
    image = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), dtype=np.float32)
    return np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """name -> (what visionrt and the pipeline are given, the same for both)."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(5)
    out = {}
    for i, (h, w) in enumerate([(48, 64), (70, 50), (64, 64)]):
        path = folder / f"plain_{i}.png"
        Image.fromarray(smooth_image(rng, h, w)).save(path)
        out[f"png_{i}"] = str(path)
    for orientation in ORIENTATIONS:
        path = folder / f"exif_{orientation}.jpg"
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.fromarray(smooth_image(rng, 40, 72)).save(path, quality=95, exif=exif)
        out[f"exif_{orientation}_path"] = str(path)
        out[f"exif_{orientation}_pil"] = Image.open(path)
    png = (folder / "plain_0.png").read_bytes()
    out["base64"] = base64.b64encode(png).decode()
    out["data_uri"] = "data:image/png;base64," + base64.b64encode(png).decode()
    return out


@torch.no_grad()
def spread_weights(model, seed):
    """Fan-in scaled weights and perturbed norms, so that logits spread."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.weight.normal_(0.0, 2 * module.in_features**-0.5, generator=gen)
            if module.bias is not None:
                module.bias.normal_(0.0, 0.1, generator=gen)
        elif isinstance(module, torch.nn.LayerNorm):
            module.weight.add_(0.1 * torch.randn(module.weight.shape, generator=gen))
            module.bias.add_(0.05 * torch.randn(module.bias.shape, generator=gen))


@pytest.fixture(scope="module")
def vit_models(tmp_path_factory):
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil

    folder = tmp_path_factory.mktemp("vit")
    processor = ViTImageProcessorPil(size={"height": 32, "width": 32})
    labels = ["cat", "dog", "car", "tree", "boat", "bird", "lamp"]
    made = {}

    def save(name, model):
        model.save_pretrained(folder / name)
        processor.save_pretrained(folder / name)
        made[name] = folder / name

    common = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64)
    torch.manual_seed(11)
    model = ViTForImageClassification(ViTConfig(**common, id2label=dict(enumerate(labels)))).eval()
    spread_weights(model, 11)
    save("vit", model)
    model.config.problem_type = "multi_label_classification"
    save("vit-multi-label", model)
    model.config.problem_type = None
    save("vit-fp16", model.to(torch.float16))
    save("vit-bf16", model.to(torch.float32).to(torch.bfloat16))
    torch.manual_seed(12)
    one = ViTForImageClassification(ViTConfig(**common, id2label={0: "hot dog"})).eval()
    spread_weights(one, 12)
    save("vit-one-label", one)
    return made


@pytest.fixture(scope="module")
def detr_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("detr")
    made = {}
    for name in DETR_FIXTURES:
        made[name] = folder / name
        made[name].mkdir(parents=True)
        for file in ("config.json", "model.safetensors", "preprocessor_config.json"):
            shutil.copy(FIXTURES / name / file, made[name])
    return made


def pipeline(task, model_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        processor = transformers.AutoImageProcessor.from_pretrained(model_dir, backend="pil")
        assert type(processor).__name__.endswith("Pil")
        return transformers.pipeline(task, model=str(model_dir), image_processor=processor, dtype=torch.float32,
                                     device="cpu")


def compare(want, got, path="result"):
    """Asserts same nesting, keys, labels and boxes; returns the largest
    score difference."""
    assert type(got) is type(want), f"{path}: {type(got).__name__} where the pipeline gives {type(want).__name__}"
    if isinstance(want, list):
        assert len(got) == len(want), f"{path}: {len(got)} items where the pipeline gives {len(want)}: {got} {want}"
        return max([compare(w, g, f"{path}[{i}]") for i, (w, g) in enumerate(zip(want, got))], default=0.0)
    assert list(got) == list(want), f"{path}: keys {list(got)}, the pipeline's {list(want)}"
    assert got["label"] == want["label"], f"{path}: {got} where the pipeline gives {want}"
    assert isinstance(got["score"], float)
    if "box" in want:
        assert list(got["box"].items()) == list(want["box"].items()), f"{path}: {got} where the pipeline gives {want}"
        assert all(type(v) is int for v in got["box"].values())
    return abs(got["score"] - want["score"])


def check(pipe, run, tolerance, inputs, **kwargs):
    want = pipe(inputs, **kwargs)
    got = run(inputs, **kwargs)
    difference = compare(want, got)
    assert difference <= tolerance, (difference, got, want)
    return difference


def inputs_of(images):
    """Single images of every kind, and one list of all of them."""
    singles = list(images.values())
    return singles + [singles]


@pytest.mark.parametrize("name", ["vit", "vit-multi-label", "vit-one-label", "vit-fp16", "vit-bf16"])
def test_classification_as_the_pipeline(vit_models, images, name):
    pipe = pipeline("image-classification", vit_models[name])
    model = visionrt.Classifier(vit_models[name], device="cpu")
    largest = 0.0
    for inputs in inputs_of(images):
        for kwargs in ({}, {"top_k": 2}, {"top_k": 0}, {"top_k": 100}):
            largest = max(largest, check(pipe, model.classify, CLASSIFY_TOLERANCE, inputs, **kwargs))
    if name == "vit-multi-label":
        # Sigmoid scores: independent, not summing to 1.
        assert sum(p["score"] for p in model.classify(images["png_0"], top_k=None)) > 1.0
    print(f"{name}: {len(images)} images, largest score difference {largest:.3g}, boxes n/a, nesting equal")


@pytest.mark.parametrize("name", DETR_FIXTURES)
def test_detection_as_the_pipeline(detr_models, images, name):
    pipe = pipeline("object-detection", detr_models[name])
    model = visionrt.Detector(detr_models[name], device="cpu")
    largest, found = 0.0, 0
    for inputs in inputs_of(images):
        for kwargs in ({}, {"threshold": 0.1}, {"threshold": 0.0}):
            largest = max(largest, check(pipe, model.detect, DETECT_TOLERANCE, inputs, **kwargs))
        found += len(model.detect(inputs if isinstance(inputs, list) else [inputs], threshold=0.1))
    assert found
    print(f"{name}: {len(images)} images, largest score difference {largest:.3g}, boxes equal, nesting equal")


def test_exif_orientation_of_pil_images(vit_models, detr_models, images):
    """A PIL image with an EXIF orientation is turned upright, as the file it
    was opened from is, and as the pipeline's load_image does."""
    classifier = visionrt.Classifier(vit_models["vit"], device="cpu")
    detector = visionrt.Detector(detr_models["detr/r18_hf"], device="cpu")
    for orientation in ORIENTATIONS:
        pil, path = images[f"exif_{orientation}_pil"], images[f"exif_{orientation}_path"]
        assert pil.size == (72, 40)  # stored sideways or upside down
        assert classifier.classify(pil, top_k=7) == classifier.classify(path, top_k=7)
        assert detector.detect(pil, threshold=0.0) == detector.detect(path, threshold=0.0)


def test_arguments_as_the_pipeline(vit_models, detr_models, images):
    classifier = visionrt.Classifier(vit_models["vit"], device="cpu")
    detector = visionrt.Detector(detr_models["detr/r18_hf"], device="cpu")
    image = images["png_0"]
    # top_k is the pipeline's name; topk stays as an alias.
    assert classifier.classify(image, topk=3) == classifier.classify(image, top_k=3) == classifier.classify(image, 3)
    assert classifier.classify(image, top_k=np.int64(2)) == classifier.classify(image, top_k=2)
    assert classifier.classify(image) == classifier.classify(image, top_k=5)
    assert classifier.classify([image, image], top_k=0) == [[], []]
    with pytest.raises(TypeError, match="top_k must be an int, not float"):
        classifier.classify(image, top_k=2.0)
    with pytest.raises(TypeError, match="not both"):
        classifier.classify(image, top_k=2, topk=2)
    with pytest.raises(visionrt.InvalidArgumentError, match="top_k must be 0 or more, got -1"):
        classifier.classify(image, top_k=-1)
    # Detection's default threshold is the pipeline's, 0.5.
    assert detector.detect(image) == detector.detect(image, threshold=0.5)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(visionrt.InvalidArgumentError, match="threshold must be a finite number"):
            detector.detect(image, threshold=bad)
    with pytest.raises(TypeError, match="threshold must be a number, not str"):
        detector.detect(image, threshold="0.5")
    # URLs are not fetched; a missing file is reported as one.
    for model, run in ((classifier, classifier.classify), (detector, detector.detect)):
        with pytest.raises(visionrt.InvalidArgumentError, match="URLs are not fetched"):
            run("https://example.com/cat.png")
        with pytest.raises(visionrt.Error, match="no_such_image.png") as error:
            run("no_such_image.png")
        assert error.value.status == "not_found"
    with pytest.raises(visionrt.InvalidArgumentError, match="not base64"):
        classifier.classify("data:image/png;base64,%%%")


@pytest.mark.parametrize("name", ["vit-multi-label", "vit-one-label"])
def test_the_tool_scores_as_the_package(cli, vit_models, images, name):
    """The engine applies the sigmoid, so the command-line tool agrees."""
    paths = [images["png_0"], images["exif_6_path"]]
    done = subprocess.run(
        [cli, "classify", "--model", str(vit_models[name]), "--topk", "3", "--json",
         "--device", "cpu", *paths],
        capture_output=True, text=True, check=True,
    )
    model = visionrt.Classifier(vit_models[name], device="cpu")
    for line, want in zip(map(json.loads, done.stdout.splitlines()), model.classify(paths, top_k=3)):
        got = [(p["label"], np.float32(p["probability"])) for p in line["predictions"]]
        assert got == [(p["label"], np.float32(p["score"])) for p in want]
