"""Shared paths, models and helpers of the Python package's tests. They run
against the installed package (tools/ci/test_python.sh), on the repository's
demo models and reference fixtures."""

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

import visionrt

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
DIGITS_MODEL = ROOT / "models" / "demo" / "vit-digits"
SHAPES_MODEL = ROOT / "models" / "demo" / "detr-shapes"
DIGIT_IMAGES = sorted((ROOT / "models" / "demo" / "images" / "digits").glob("*.png"))
SHAPE_IMAGES = sorted((ROOT / "models" / "demo" / "images" / "shapes").glob("*.png"))


@pytest.fixture(scope="session")
def image_io():
    """The OpenCV image front end, which the package promises: without it
    the tests that decode images fail rather than skip."""
    if not visionrt.has_image_io():
        pytest.fail("the package was built without the OpenCV image front end (tools/setup/setup.sh installs it)")


needs_image_io = pytest.mark.usefixtures("image_io")


@pytest.fixture(scope="session")
def cli():
    """The command-line tool whose answers the package must give."""
    path = os.environ.get("VISIONRT_CLI")
    if not path:
        pytest.fail("VISIONRT_CLI is not set: tools/ci/test_python.sh sets it to build/visionrt, built by "
                    "tools/setup/setup.sh")
    return path


_DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "U8": "u1"}


def read_safetensors(path):
    """A safetensors file's tensors as read-only numpy arrays."""
    data = Path(path).read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    body = memoryview(data)[8 + size :]
    tensors = {}
    for name, entry in json.loads(data[8 : 8 + size]).items():
        if name != "__metadata__":
            begin, end = entry["data_offsets"]
            tensors[name] = np.frombuffer(body[begin:end], dtype=_DTYPES[entry["dtype"]]).reshape(entry["shape"])
    return tensors


def fixture_dirs(kind):
    return sorted(p.parent for p in (FIXTURES / kind).glob("*/reference.safetensors"))


@pytest.fixture(scope="session")
def classifier():
    return visionrt.Classifier(DIGITS_MODEL, device="cpu")


@pytest.fixture(scope="session")
def detector():
    return visionrt.Detector(SHAPES_MODEL, device="cpu")
