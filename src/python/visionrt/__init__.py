"""visionrt: ViT classification and DETR detection from Hugging Face
checkpoint folders, as transformers computes them, without PyTorch.

>>> import visionrt
>>> classifier = visionrt.Classifier("models/demo/vit-digits")
>>> classifier.classify("models/demo/images/digits/digit_3.png", topk=1)
[{'label': '3', 'score': 0.9...}]

An image is a file path (str or os.PathLike), encoded image bytes (bytes,
bytearray, memoryview), a uint8 numpy array of shape (height, width, 3) in
RGB order, or a PIL image. Results take the form of transformers'
image-classification and object-detection pipelines. Failures raise
visionrt.Error, whose ``status`` names the cause.

A model may be shared by any number of threads: the engine runs without the
GIL, one run of a model at a time, each thread getting the results it would
get alone.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, List, Optional, Tuple, TypedDict, Union, overload

import numpy

from ._errors import Error, InvalidArgumentError
from . import _visionrt

if TYPE_CHECKING:
    import numpy.typing
    import PIL.Image

__all__ = [
    "Box", "Classifier", "Detection", "Detector", "Error", "ImageInput", "InvalidArgumentError",
    "Prediction", "cuda_available", "has_cuda_backend", "has_image_io",
]
__version__: str = _visionrt.version()

has_image_io = _visionrt.has_image_io
has_cuda_backend = _visionrt.has_cuda_backend
cuda_available = _visionrt.cuda_available

ImageInput = Union[
    str, "os.PathLike[str]", bytes, bytearray, memoryview, "numpy.typing.NDArray[numpy.uint8]", "PIL.Image.Image"
]


class Prediction(TypedDict):
    label: str
    score: float


class Box(TypedDict):
    """Corners in pixels of the original image, truncated toward zero to
    ints as transformers' object-detection pipeline gives them."""

    xmin: int
    ymin: int
    xmax: int
    ymax: int


class Detection(TypedDict):
    score: float
    label: str
    box: Box


def _source(image: Any) -> Any:
    # PIL images become RGB arrays; PIL is looked up, never imported: an
    # image of it exists only where it was imported already.
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(image, pil.Image):
        return numpy.asarray(image.convert("RGB"))
    return image


def _run(method: Any, images: Any, *args: Any) -> Any:
    many = isinstance(images, (list, tuple))
    results = method([_source(image) for image in images] if many else [_source(images)], *args)
    return results if many else results[0]


def _precision(precision: Optional[str]) -> str:
    return "fp32" if precision is None else precision


class _Model:
    """What a loaded Classifier and Detector both tell of themselves."""

    _model: Any

    @property
    def labels(self) -> List[str]:
        """Label names by class id, from config.json's id2label."""
        return self._model.labels

    @property
    def device(self) -> str:
        """Where the model runs: "cpu" or "cuda"."""
        return self._model.device

    @property
    def device_notice(self) -> str:
        """Why device="auto" settled on the CPU, or ""."""
        return self._model.device_notice


class Classifier(_Model):
    """A ViTForImageClassification checkpoint folder: config.json,
    preprocessor_config.json and safetensors weights.

    device: "auto" (the GPU when one is usable, else the CPU, device_notice
    saying why), "cpu" or "cuda". precision: None (fp32), "fp32", "tf32",
    "fp16" or "bf16" ("tf32" and "fp16" on GPUs; "bf16" on GPUs and CPUs
    with AVX-512 BF16 or AMX). threads: CPU threads, 0 for all cores.
    interpolate_pos_encoding: accept other input sizes than the checkpoint's
    by resampling the position embeddings, as transformers does; images are
    then prepared to the preprocessor's size.
    """

    __slots__ = ("_model",)

    def __init__(
        self,
        model_dir: Union[str, "os.PathLike[str]"],
        device: str = "auto",
        precision: Optional[str] = None,
        threads: int = 0,
        interpolate_pos_encoding: bool = False,
    ) -> None:
        self._model = _visionrt.Classifier(model_dir, device, _precision(precision), threads, interpolate_pos_encoding)

    @overload
    def classify(self, images: ImageInput, topk: int = 5) -> List[Prediction]: ...
    @overload
    def classify(
        self, images: Union[List[ImageInput], Tuple[ImageInput, ...]], topk: int = 5
    ) -> List[List[Prediction]]: ...

    def classify(self, images: Any, topk: int = 5) -> Any:
        """The topk most likely labels of an image, highest score first, as
        [{"label": str, "score": float}, ...]; for a list or tuple of images,
        one such list per image. Images are decoded, resized and normalised as
        preprocessor_config.json says, and run eight at a time."""
        return _run(self._model.classify, images, topk)

    def logits(self, pixel_values: "numpy.typing.NDArray[numpy.float32]") -> "numpy.typing.NDArray[numpy.float32]":
        """Logits, shape (n, num_labels), of preprocessed pixels: a
        C-contiguous float32 array of shape (n, channels, height, width),
        as the checkpoint's image processor makes them, read without a copy."""
        return self._model.logits(pixel_values)

    @property
    def info(self) -> dict:
        """architecture, image_height, image_width, num_channels,
        input_height and input_width (the size images are prepared to),
        num_labels, num_parameters."""
        return self._model.info

    def __repr__(self) -> str:
        return f"<visionrt.Classifier {self.info['architecture']}, {len(self.labels)} labels, on {self.device}>"


class Detector(_Model):
    """A DetrForObjectDetection checkpoint folder; device, precision and
    threads as for Classifier."""

    __slots__ = ("_model",)

    def __init__(
        self,
        model_dir: Union[str, "os.PathLike[str]"],
        device: str = "auto",
        precision: Optional[str] = None,
        threads: int = 0,
    ) -> None:
        self._model = _visionrt.Detector(model_dir, device, _precision(precision), threads)

    @overload
    def detect(self, images: ImageInput, threshold: float = 0.7) -> List[Detection]: ...
    @overload
    def detect(
        self, images: Union[List[ImageInput], Tuple[ImageInput, ...]], threshold: float = 0.7
    ) -> List[List[Detection]]: ...

    def detect(self, images: Any, threshold: float = 0.7) -> Any:
        """The objects found in an image, with scores above threshold,
        highest score first, as [{"score": float, "label": str, "box":
        {"xmin": int, "ymin": int, "xmax": int, "ymax": int}}, ...]; for a
        list or tuple of images, one such list per image. Prepared and
        post-processed as DetrImageProcessor does (no NMS); an image's
        detections do not depend on the other images given with it."""
        return _run(self._model.detect, images, threshold)

    def forward(
        self,
        pixel_values: "numpy.typing.NDArray[numpy.float32]",
        pixel_mask: Optional["numpy.typing.ArrayLike"] = None,
    ) -> Tuple["numpy.typing.NDArray[numpy.float32]", "numpy.typing.NDArray[numpy.float32]"]:
        """DETR's raw outputs for a prepared batch: logits (n, queries,
        labels + 1, "no object" last) and boxes (n, queries, 4: cx, cy, w, h
        in [0, 1]). pixel_values: a C-contiguous float32 array (n, 3, height,
        width), read without a copy; pixel_mask: (n, height, width), 1 for
        image and 0 for padding, any numeric type (DetrImageProcessor's is
        int64), or None for no padding."""
        if pixel_mask is not None:
            pixel_mask = numpy.ascontiguousarray(pixel_mask, dtype=numpy.float32)
        return self._model.forward(pixel_values, pixel_mask)

    @property
    def info(self) -> dict:
        """architecture, num_labels, num_parameters."""
        return self._model.info

    def __repr__(self) -> str:
        return f"<visionrt.Detector {self.info['architecture']}, {len(self.labels)} labels, on {self.device}>"
