"""The package gives the command-line tool's answers, exactly: both decode
the same files and run them through the model eight at a time. VISIONRT_CLI
names the tool (tools/ci/test_python.sh passes build/visionrt), and the tests
fail without one; the comparison also needs the held-out digits and the shapes
evaluation images."""

import json
import os
import subprocess

import numpy as np
import pytest

from conftest import DIGIT_IMAGES, DIGITS_MODEL, FIXTURES, SHAPE_IMAGES, SHAPES_MODEL, needs_image_io

CLI = os.environ.get("VISIONRT_CLI")
pytestmark = [needs_image_io, pytest.mark.usefixtures("cli")]

DIGITS = DIGIT_IMAGES + sorted((FIXTURES / "digits-heldout").glob("*.png"))
SHAPES = SHAPE_IMAGES + sorted((FIXTURES / "shapes-eval").glob("*.png"))


def cli_json(*args):
    done = subprocess.run(
        [CLI, *map(str, args), "--json", "--device", "cpu"], capture_output=True, text=True, check=True
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_classify_matches_the_cli(classifier):
    lines = cli_json("classify", "--model", DIGITS_MODEL, "--topk", 3, *DIGITS)
    assert [line["image"] for line in lines] == [str(p) for p in DIGITS]
    for line, predictions in zip(lines, classifier.classify(DIGITS, topk=3)):
        assert [p["label"] for p in line["predictions"]] == [p["label"] for p in predictions]
        # The tool writes the shortest decimal that reads back as the same float32.
        assert [np.float32(p["probability"]) for p in line["predictions"]] == [
            np.float32(p["score"]) for p in predictions
        ]


def test_detect_matches_the_cli(detector):
    lines = cli_json("detect", "--model", SHAPES_MODEL, "--threshold", 0.5, *SHAPES)
    assert [line["image"] for line in lines] == [str(p) for p in SHAPES]
    for line, found in zip(lines, detector.detect(SHAPES, threshold=0.5)):
        want = [
            (d["label"], np.float32(d["score"]), [int(np.float32(v)) for v in d["box"]]) for d in line["detections"]
        ]
        # The package lists them in query order, as transformers' pipeline; the
        # tool highest score first (ties in query order).
        by_score = sorted(found, key=lambda d: -d["score"])
        got = [(d["label"], np.float32(d["score"]), list(d["box"].values())) for d in by_score]
        assert got == want

