"""Every kind of image input gives the same answer as the file path. The
PNG images decode to the same pixels in Pillow and in the engine (lossless),
and lists of the same length run as the same batches, so answers are equal
exactly."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import visionrt
from conftest import DIGIT_IMAGES, SHAPE_IMAGES, needs_image_io


def rgb(path):
    return np.asarray(Image.open(path).convert("RGB"))


KINDS = {
    "str": str,
    "pathlib": Path,
    "bytes": Path.read_bytes,
    "bytearray": lambda p: bytearray(p.read_bytes()),
    "memoryview": lambda p: memoryview(p.read_bytes()),
    "array": rgb,
    "readonly_array": lambda p: np.frombuffer(rgb(p).tobytes(), np.uint8).reshape(rgb(p).shape),
    # BGR in memory, RGB in the view: strided, read without a copy to C order first.
    "strided_array": lambda p: np.ascontiguousarray(rgb(p)[..., ::-1])[..., ::-1],
    "pil_grey": Image.open,  # the digits are 8-bit grey: converted to RGB
    "pil_rgb": lambda p: Image.open(p).convert("RGB"),
    "pil_rgba": lambda p: Image.open(p).convert("RGBA"),
}


@needs_image_io
@pytest.mark.parametrize("kind", KINDS)
def test_classify_inputs_agree_with_file_paths(classifier, kind):
    want = classifier.classify([str(p) for p in DIGIT_IMAGES], topk=3)
    assert classifier.classify([KINDS[kind](p) for p in DIGIT_IMAGES], topk=3) == want
    assert classifier.classify(tuple(KINDS[kind](p) for p in DIGIT_IMAGES), topk=3) == want


@needs_image_io
@pytest.mark.parametrize("kind", ["str", "bytes", "array", "strided_array", "pil_rgb"])
def test_detect_inputs_agree_with_file_paths(detector, kind):
    want = detector.detect([str(p) for p in SHAPE_IMAGES])
    assert detector.detect([KINDS[kind](p) for p in SHAPE_IMAGES]) == want
    assert all(want), "the demo images each hold shapes"


@needs_image_io
def test_one_image_gives_one_list(classifier, detector):
    one = classifier.classify(DIGIT_IMAGES[0], topk=2)
    assert [sorted(p) for p in one] == [["label", "score"]] * 2
    assert isinstance(one[0]["label"], str) and isinstance(one[0]["score"], float)
    assert one[0]["score"] >= one[1]["score"]
    # Alone, the image runs in a batch of one: equal up to summation order.
    together = classifier.classify(DIGIT_IMAGES, topk=2)[0]
    assert [p["label"] for p in one] == [p["label"] for p in together]
    assert np.allclose([p["score"] for p in one], [p["score"] for p in together], rtol=0, atol=1e-6)
    found = detector.detect(SHAPE_IMAGES[0])
    assert found and all(sorted(d) == ["box", "label", "score"] for d in found)
    assert all(type(v) is int for d in found for v in d["box"].values())
    assert classifier.classify([]) == [] and detector.detect([]) == []


@needs_image_io
def test_topk_is_clamped_to_the_labels(classifier):
    labels = classifier.classify(DIGIT_IMAGES[0], topk=100)
    assert sorted(p["label"] for p in labels) == sorted(classifier.labels)
    assert abs(sum(p["score"] for p in labels) - 1) < 1e-5


def test_classify_is_the_softmax_of_logits(classifier):
    """An image at the model's size is only rescaled and normalised
    (preprocessor_config.json: x / 255, mean 0.5, std 0.5), so its pixels
    can be made here and run through logits()."""
    image = np.random.default_rng(7).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    pixels = ((image.astype(np.float32) * np.float32(1 / 255) - 0.5) / 0.5).transpose(2, 0, 1)[None]
    logits = classifier.logits(np.ascontiguousarray(pixels, dtype=np.float32))[0].astype(np.float64)
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    got = classifier.classify(image, topk=10)
    assert [p["label"] for p in got] == [classifier.labels[i] for i in np.argsort(-probabilities, kind="stable")]
    assert np.allclose([p["score"] for p in got], np.sort(probabilities)[::-1], rtol=0, atol=1e-6)


def test_logits_and_forward_shapes(classifier, detector):
    logits = classifier.logits(np.zeros((3, 3, 32, 32), np.float32))
    assert logits.shape == (3, len(classifier.labels)) and logits.dtype == np.float32
    pixels = np.random.default_rng(1).standard_normal((2, 3, 64, 96)).astype(np.float32)
    logits, boxes = detector.forward(pixels)
    assert logits.shape == (2, 12, len(detector.labels) + 1) and boxes.shape == (2, 12, 4)
    # No mask is a mask of ones, as a float or an integer array.
    for mask in (np.ones((2, 64, 96), np.float32), np.ones((2, 64, 96), np.int64)):
        masked = detector.forward(pixels, mask)
        assert np.array_equal(masked[0], logits) and np.array_equal(masked[1], boxes)


def test_model_properties(classifier, detector):
    assert classifier.labels == [str(i) for i in range(10)]
    assert classifier.device == "cpu" and classifier.device_notice == ""
    assert classifier.info == {
        "architecture": "ViTForImageClassification", "image_height": 32, "image_width": 32, "num_channels": 3,
        "input_height": 32, "input_width": 32, "num_labels": 10, "num_parameters": 148170,
    }
    assert detector.labels == ["circle", "square", "triangle"]
    assert detector.info["architecture"] == "DetrForObjectDetection" and detector.info["num_labels"] == 3
    assert "on cpu" in repr(classifier) and "DetrForObjectDetection" in repr(detector)
