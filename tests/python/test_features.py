"""visionrt's ViT family beside transformers' pipelines on the same folders
and images: pipeline("image-feature-extraction") (tokens, and pool=True)
against Embedder.embed, and pipeline("image-classification") against
Classifier.classify for DeiT and DINOv2, with the Pil image processors and
float32. The folders are the committed fixtures of tests/fixtures/vitfam
(random weights; DINOv2's base model as facebook/dinov2-* are published).

Needs transformers and torch (tools/ci/test_python.sh installs them)."""

import json
import shutil
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

# Both sides compute in float32 and differ in summation order only: tokens
# move by about 5e-6 over these two-layer models (tests/test_vit_family_reference.cpp).
FEATURE_TOLERANCE = 1e-4
CLASSIFY_TOLERANCE = 1e-5

FEATURE_MODELS = ["vitfam/dinov2_base_model_narrow", "vitfam/dinov2_reg_narrow", "vitfam/dinov2_swiglu_narrow"]
CLASSIFY_MODELS = ["vitfam/deit_distilled_narrow", "vitfam/deit_narrow", "vitfam/dinov2_narrow",
                   "vitfam/dinov2_reg_narrow"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(11)
    paths = []
    for i, (h, w) in enumerate([(300, 260), (240, 420)]):
        coarse = rng.uniform(0, 255, size=(h // 10, w // 10, 3)).astype(np.uint8)
        path = folder / f"image_{i}.png"
        Image.fromarray(coarse).resize((w, h), Image.BICUBIC).save(path)
        paths.append(str(path))
    return paths


def pipeline(task, model_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        processor = transformers.AutoImageProcessor.from_pretrained(model_dir, backend="pil")
        assert type(processor).__name__.endswith("Pil")
        return transformers.pipeline(task, model=str(model_dir), image_processor=processor, dtype=torch.float32,
                                     device="cpu")


@pytest.mark.parametrize("name", FEATURE_MODELS)
def test_features_as_the_pipeline(images, name):
    pipe = pipeline("image-feature-extraction", FIXTURES / name)
    model = visionrt.Embedder(FIXTURES / name, device="cpu")
    for pool in (False, True):
        want = pipe(images, pool=pool)
        got = model.embed(images, pool=pool)
        assert isinstance(got, list) and len(got) == len(want)
        for w, g in zip(want, got):
            w, g = np.asarray(w), np.asarray(g)
            assert g.shape == w.shape, (g.shape, w.shape)
            assert float(np.abs(g - w).max()) <= FEATURE_TOLERANCE
        single = model.embed(images[0], pool=pool, return_tensors=True)
        assert isinstance(single, np.ndarray) and single.shape == np.asarray(want[0]).shape


def runnable(name, tmp_path):
    """The fixture folder, or for the narrow DeiTs (64x64 models that the
    published 256 -> 224 processor cannot feed) a copy whose processor
    squashes to 73x73 and crops 64x64, an odd margin for the crop's rounding."""
    if "deit" not in name:
        return FIXTURES / name
    folder = tmp_path / name.replace("/", "_")
    shutil.copytree(FIXTURES / name, folder)
    config = json.loads((folder / "preprocessor_config.json").read_text())
    config["size"] = {"height": 73, "width": 73}
    config["crop_size"] = {"height": 64, "width": 64}
    (folder / "preprocessor_config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("name", CLASSIFY_MODELS)
def test_classification_as_the_pipeline(images, name, tmp_path):
    folder = runnable(name, tmp_path)
    pipe = pipeline("image-classification", folder)
    model = visionrt.Classifier(folder, device="cpu")
    want = pipe(images, top_k=3)
    got = model.classify(images, top_k=3)
    for w, g in zip(want, got):
        assert [p["label"] for p in g] == [p["label"] for p in w]
        assert max(abs(a["score"] - b["score"]) for a, b in zip(g, w)) <= CLASSIFY_TOLERANCE


def test_mean_pooling_and_errors(images):
    model = visionrt.Embedder(FIXTURES / "vitfam/dinov2_reg_narrow", device="cpu")
    tokens = model.embed(images[0], return_tensors=True)[0]
    mean = model.embed(images[0], return_tensors=True, pooling="mean")[0]
    # The mean of the patch tokens: past the class token and 4 registers.
    assert np.allclose(mean, tokens[5:].mean(axis=0), atol=1e-6)
    with pytest.raises(visionrt.Error):
        model.embed(images[0], pooling="max")
