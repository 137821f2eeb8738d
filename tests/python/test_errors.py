"""Failures raise visionrt.Error with the engine's status; unusable
arguments raise InvalidArgumentError, which is also a ValueError."""

import pickle

import numpy as np
import pytest

import visionrt
from conftest import DIGIT_IMAGES, DIGITS_MODEL, SHAPE_IMAGES, SHAPES_MODEL, needs_image_io


def raises(status, call):
    with pytest.raises(visionrt.Error) as caught:
        call()
    assert caught.value.status == status, str(caught.value)
    assert isinstance(caught.value, RuntimeError)
    assert isinstance(caught.value, ValueError) == (status == "invalid_argument")
    return str(caught.value)


@needs_image_io
def test_unreadable_images(classifier, detector, tmp_path):
    missing = tmp_path / "missing.png"
    assert str(missing) in raises("not_found", lambda: classifier.classify(missing))
    # In a list, the message says which image.
    assert "image 1: " in raises("not_found", lambda: detector.detect([SHAPE_IMAGES[0], str(missing)]))
    (tmp_path / "folder.png").mkdir()
    raises("io_error", lambda: classifier.classify(tmp_path / "folder.png"))
    truncated = DIGIT_IMAGES[0].read_bytes()[:60]
    raises("corrupt_file", lambda: classifier.classify(truncated))
    raises("corrupt_file", lambda: detector.detect([bytearray(truncated)]))
    raises("invalid_argument", lambda: classifier.classify(b"not an image"))
    raises("invalid_argument", lambda: classifier.classify(b""))


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((8, 8), np.uint8),  # grey: no channel axis
        np.zeros((8, 8, 4), np.uint8),  # RGBA
        np.zeros((8, 8, 3), np.float32),
        np.zeros((0, 8, 3), np.uint8),
        memoryview(np.zeros((4, 8), np.uint8)[:, ::2]),  # bytes, not contiguous
        5,
        None,
        [[0, 0, 0]],
    ],
    ids=["grey", "rgba", "float32", "empty", "strided_bytes", "int", "none", "nested_list"],
)
def test_unusable_images(classifier, image):
    raises("invalid_argument", lambda: classifier.classify(image))
    raises("invalid_argument", lambda: classifier.classify([DIGIT_IMAGES[0], image]))


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((1, 3, 32, 32), np.float64),
        np.zeros((1, 32, 32, 3), np.float32),  # NHWC
        np.zeros((3, 32, 32), np.float32),
        np.zeros((1, 3, 32, 64), np.float32)[..., ::2],  # strided: refused, never copied
        np.asfortranarray(np.zeros((2, 3, 32, 32), np.float32)),
        np.zeros((0, 3, 32, 32), np.float32),
        [[[[0.0]]]],
    ],
    ids=["float64", "nhwc", "3d", "strided", "fortran", "empty", "list"],
)
def test_unusable_pixel_values(classifier, detector, pixels):
    raises("invalid_argument", lambda: classifier.logits(pixels))
    raises("invalid_argument", lambda: detector.forward(pixels))


def test_shapes_the_models_cannot_take(classifier, detector):
    raises("shape_mismatch", lambda: classifier.logits(np.zeros((1, 3, 16, 16), np.float32)))
    raises("shape_mismatch", lambda: detector.forward(np.zeros((1, 3, 8, 8), np.float32)))
    pixels = np.zeros((1, 3, 64, 64), np.float32)
    raises("invalid_argument", lambda: detector.forward(pixels, np.ones((1, 64, 63), np.float32)))
    raises("invalid_argument", lambda: detector.forward(pixels, np.ones((2, 64, 64), np.float32)))


def test_unusable_arguments(classifier, detector):
    image = np.zeros((8, 8, 3), np.uint8)
    assert classifier.classify(image, topk=0) == []  # as the pipeline's top_k=0
    raises("invalid_argument", lambda: classifier.classify(image, topk=-1))
    raises("invalid_argument", lambda: detector.detect(image, threshold=float("nan")))
    with pytest.raises(TypeError, match="^top_k must be an int, not float$"):
        classifier.classify(image, topk=2.0)
    raises("invalid_argument", lambda: visionrt.Classifier(DIGITS_MODEL, device="gpu"))
    raises("invalid_argument", lambda: visionrt.Classifier(DIGITS_MODEL, precision="int8"))
    raises("invalid_argument", lambda: visionrt.Classifier(DIGITS_MODEL, threads=-1))
    raises("invalid_argument", lambda: visionrt.Detector(SHAPES_MODEL, device=""))


def test_models_that_cannot_load(tmp_path):
    assert str(tmp_path / "none") in raises("not_found", lambda: visionrt.Classifier(tmp_path / "none"))
    raises("unsupported", lambda: visionrt.Classifier(SHAPES_MODEL))
    raises("unsupported", lambda: visionrt.Detector(DIGITS_MODEL))
    (tmp_path / "config.json").write_text("{not json")
    raises("corrupt_file", lambda: visionrt.Classifier(tmp_path))


@pytest.mark.skipif(visionrt.cuda_available(), reason="a GPU is usable here")
def test_no_gpu(classifier):
    assert "no usable GPU" in raises("device_error", lambda: visionrt.Classifier(DIGITS_MODEL, device="cuda"))
    raises("device_error", lambda: visionrt.Detector(SHAPES_MODEL, device="cuda"))
    # "auto" settles on the CPU and says why.
    model = visionrt.Classifier(DIGITS_MODEL)
    assert model.device == "cpu" and model.device_notice.startswith("no usable GPU")


def test_errors_pickle_whole():
    for error in (visionrt.Error("gone", "not_found"), visionrt.InvalidArgumentError("bad")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and copy.status == error.status and str(copy) == str(error)
    assert visionrt.Error.__module__ == "visionrt"
