"""Outputs against transformers' on the reference fixtures of tests/fixtures
(tools/fixtures/make_vit_fixtures.py, tools/fixtures/make_detr_fixtures.py): the bounds are
the C++ suite's (README, "Tests, reference fixtures and tolerances")."""

import json
import math

import numpy as np
import pytest

import visionrt
from conftest import FIXTURES, fixture_dirs, needs_image_io, read_safetensors

# float32 on both sides, differing only in summation order (about 1e-6).
MAX_ERROR = 1e-4


@pytest.mark.parametrize("folder", fixture_dirs("vit"), ids=lambda p: p.name)
def test_vit_logits_match_transformers(folder):
    ref = read_safetensors(folder / "reference.safetensors")
    interpolate = json.loads((folder / "reference.json").read_text()).get("interpolate_pos_encoding", False)
    model = visionrt.Classifier(folder, device="cpu", interpolate_pos_encoding=interpolate)
    logits = model.logits(ref["pixel_values"])  # read-only, as np.frombuffer makes it
    assert logits.dtype == np.float32 and logits.shape == ref["logits"].shape
    assert np.abs(logits - ref["logits"]).max() <= MAX_ERROR


@pytest.mark.parametrize("folder", fixture_dirs("detr"), ids=lambda p: p.name)
def test_detr_outputs_match_transformers(folder):
    ref = read_safetensors(folder / "reference.safetensors")
    model = visionrt.Detector(folder, device="cpu")
    # The padded batch with DetrImageProcessor's int64 mask, then each image alone.
    logits, boxes = model.forward(ref["pixel_values"], ref["pixel_mask"])
    assert np.abs(logits - ref["logits"]).max() <= MAX_ERROR
    assert np.abs(boxes - ref["pred_boxes"]).max() <= MAX_ERROR
    for i in range(len(ref["pixel_values"])):
        logits, boxes = model.forward(ref[f"single_{i}_pixel_values"])
        assert np.abs(logits - ref[f"single_{i}_logits"]).max() <= MAX_ERROR
        assert np.abs(boxes - ref[f"single_{i}_pred_boxes"]).max() <= MAX_ERROR


def box_matches(box, corners, tolerance):
    # transformers truncates each corner toward zero (box.int()); a corner
    # within `tolerance` of an integer may fall on either side of it.
    return all(
        box[key] in (math.trunc(value - tolerance), math.trunc(value + tolerance))
        for key, value in zip(("xmin", "ymin", "xmax", "ymax"), corners)
    )


def unresized_images():
    # DetrImageProcessor resizes with torchvision's filter, visionrt with
    # Pillow's: they differ by one 8-bit level. Images it does not resize
    # compare exactly.
    for folder in fixture_dirs("detr"):
        meta = json.loads((folder / "reference.json").read_text())
        for i, image in enumerate(meta["images"]):
            if image["original_hw"] == image["resized_hw"]:
                yield pytest.param(folder, i, id=f"{folder.name}-image_{i}")


@pytest.mark.parametrize("folder,index", list(unresized_images()))
def test_detections_match_transformers_post_processing(folder, index):
    """detect() on a raw image against post_process_object_detection on
    transformers' outputs, threshold 0: one detection per query."""
    image = read_safetensors(folder / "reference.safetensors")[f"image_{index}"]
    want = json.loads((folder / "reference.json").read_text())["single"][index]["post_process"]
    model = visionrt.Detector(folder, device="cpu")
    got = model.detect(image, threshold=0.0)
    assert len(got) == len(want["scores"])
    # In query order, as transformers keeps them. Boxes: the 1e-4 bound on
    # relative boxes is 1.3e-2 pixels on these images of at most 128 pixels a side.
    for detection, (score, label, box) in zip(got, zip(want["scores"], want["labels"], want["boxes_xyxy"])):
        assert abs(score - detection["score"]) <= MAX_ERROR and model.labels[label] == detection["label"], detection
        assert box_matches(detection["box"], box, 1.3e-2), (detection, box)


@needs_image_io
def test_demo_digits_held_out_accuracy(classifier):
    # As the C++ suite's DemoDigitsTest; each file name starts with its digit.
    images = sorted((FIXTURES / "digits-heldout").glob("*.png"))
    top = [labels[0]["label"] for labels in classifier.classify(images, topk=1)]
    correct = sum(label == path.name[0] for label, path in zip(top, images))
    assert len(images) >= 300 and correct / len(images) >= 0.95
