"""visionrt: ViT-family classification and features, and DETR-family
detection, from Hugging Face (and timm) checkpoint folders, as transformers
computes them, without PyTorch.

>>> import visionrt
>>> classifier = visionrt.Classifier("models/demo/vit-digits")
>>> classifier.classify("models/demo/images/digits/digit_3.png", top_k=1)
[{'label': '3', 'score': 0.9...}]

An image is a file path (str or os.PathLike), a base64 string of an
encoded image (with or without a "data:image/...;base64," prefix), encoded
image bytes (bytes, bytearray, memoryview), a uint8 numpy array of shape
(height, width, 3) in RGB order, or a PIL image. Files, bytes and PIL images
are turned upright by their EXIF orientation, as transformers' load_image
does; URLs are not fetched. Arguments and results take the form of
transformers' image-classification, image-feature-extraction and
object-detection pipelines (``top_k``, ``pool``, ``threshold``). Failures raise visionrt.Error, whose ``status``
names the cause; an argument of the wrong type raises TypeError.

A model may be shared by any number of threads: the engine runs without the
GIL, one run of a model at a time, each thread getting the results it would
get alone.
"""

from __future__ import annotations

import base64
import binascii
import math
import operator
import os
import sys
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, List, Optional, Tuple, TypedDict, Union, overload

import numpy

from ._errors import Error, InvalidArgumentError
from . import _visionrt

if TYPE_CHECKING:
    import numpy.typing
    import PIL.Image

__all__ = [
    "Box", "Classifier", "Detection", "Detector", "Embedder", "Error", "ImageInput", "InvalidArgumentError",
    "DEVICES", "PRECISIONS", "Prediction", "cuda_available", "has_cuda_backend", "has_image_io",
]
__version__: str = _visionrt.version()

has_image_io = _visionrt.has_image_io
has_cuda_backend = _visionrt.has_cuda_backend
cuda_available = _visionrt.cuda_available
# The one spelling of devices and precisions, as the engine parses them.
DEVICES: "list[str]" = _visionrt.DEVICES
PRECISIONS: "list[str]" = _visionrt.PRECISIONS

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


# The first bytes of the encodings the engine decodes: a string that is no
# file is taken for base64 only when it decodes to one of them, so that a
# mistyped path is reported as a missing file.
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"BM", b"RIFF", b"II*\x00", b"MM\x00*", b"GIF8")


def _string(image: str) -> Any:
    """A str image as transformers' load_image reads it: a URL (refused
    here), a file, or base64."""
    if image.startswith(("http://", "https://")):
        raise InvalidArgumentError(
            f"{image}: URLs are not fetched; download the image and give its path or bytes"
        )
    if image.startswith("data:image/"):
        try:
            return base64.b64decode("".join(image.partition(",")[2].split()), validate=True)
        except (binascii.Error, ValueError) as error:
            raise InvalidArgumentError(f"{image[:40]}: the data after the comma is not base64 ({error})") from None
    if len(image) >= 16 and not os.path.exists(image):
        try:
            data = base64.b64decode("".join(image.split()), validate=True)
        except (binascii.Error, ValueError):
            return image
        if data.startswith(_SIGNATURES):
            return data
    return image


def _source(image: Any) -> Any:
    if isinstance(image, str):
        return _string(image)
    # PIL images become RGB arrays, upright: PIL is looked up, never
    # imported; an image of it exists only where it was imported already.
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(image, pil.Image):
        from PIL import ImageOps

        return numpy.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    return image


def _run(method: Any, images: Any, *args: Any) -> Any:
    many = isinstance(images, (list, tuple))
    results = method([_source(image) for image in images] if many else [_source(images)], *args)
    return results if many else results[0]


def _top_k(top_k: Any, topk: Any) -> int:
    if topk is not None:
        if top_k is not None:
            raise TypeError("give top_k or its alias topk, not both")
        top_k = topk
    if top_k is None:
        return 5
    if isinstance(top_k, bool):
        raise TypeError("top_k must be an int, not bool")
    try:
        top_k = operator.index(top_k)
    except TypeError:
        raise TypeError(f"top_k must be an int, not {type(top_k).__name__}") from None
    if top_k < 0:
        raise InvalidArgumentError(f"top_k must be 0 or more, got {top_k}")
    return top_k


def _threshold(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, numpy.integer, numpy.floating)):
        raise TypeError(f"threshold must be a number, not {type(threshold).__name__}")
    threshold = float(threshold)
    if not math.isfinite(threshold):
        raise InvalidArgumentError(f"threshold must be a finite number, got {threshold}")
    return threshold


# Arrays held read-only by calls in progress, by id: how many calls hold each.
_held_lock = threading.Lock()
_held: dict = {}


@contextmanager
def _read_only(*arrays: Any) -> Iterator[None]:
    """Holds numpy arrays read-only while the engine reads them in place:
    writing one through it, or through a view made from it meanwhile,
    raises ValueError instead of changing the pixels mid-run."""
    taken = []
    with _held_lock:
        for a in arrays:
            if isinstance(a, numpy.ndarray) and (id(a) in _held or a.flags.writeable):
                if id(a) not in _held:
                    a.flags.writeable = False
                _held[id(a)] = _held.get(id(a), 0) + 1
                taken.append(a)
    try:
        yield
    finally:
        with _held_lock:
            for a in taken:
                _held[id(a)] -= 1
                if not _held[id(a)]:
                    del _held[id(a)]
                    a.flags.writeable = True


def _precision(precision: Optional[str]) -> str:
    return "fp32" if precision is None else precision


class _Runs:
    """Where a loaded model runs."""

    _model: Any

    @property
    def device(self) -> str:
        """Where the model runs: "cpu" or "cuda"."""
        return self._model.device

    @property
    def device_notice(self) -> str:
        """Why device="auto" settled on the CPU, or ""."""
        return self._model.device_notice


class _Model(_Runs):
    """What a loaded Classifier and Detector both tell of themselves."""

    @property
    def labels(self) -> List[str]:
        """Label names by class id, from config.json's id2label."""
        return self._model.labels


class Classifier(_Model):
    """A ViT-family checkpoint folder: ViTForImageClassification, DeiT (with
    or without its teacher head), DINOv2 (with or without registers) with
    config.json, preprocessor_config.json and safetensors weights, or timm's
    (config.json with architecture and pretrained_cfg).

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
    def classify(
        self, images: ImageInput, top_k: Optional[int] = None, *, topk: Optional[int] = None
    ) -> List[Prediction]: ...
    @overload
    def classify(
        self,
        images: Union[List[ImageInput], Tuple[ImageInput, ...]],
        top_k: Optional[int] = None,
        *,
        topk: Optional[int] = None,
    ) -> List[List[Prediction]]: ...

    def classify(self, images: Any, top_k: Optional[int] = None, *, topk: Optional[int] = None) -> Any:
        """The top_k (default 5; topk is an alias) most likely labels of an
        image, highest score first, as [{"label": str, "score": float},
        ...]; for a list or tuple of images, one such list per image; top_k=0
        gives []. Scores are as transformers' pipeline gives them: softmax
        probabilities, a sigmoid of each logit where config.json's
        problem_type is "multi_label_classification" or there is one label,
        the logits themselves for "regression". Images are decoded, resized
        and normalised as preprocessor_config.json says, and run eight at a
        time."""
        k = _top_k(top_k, topk)
        if k == 0:  # as the pipeline: the images still run, and bad ones are refused
            results = _run(self._model.classify, images, 1)
            return [[] for _ in results] if isinstance(images, (list, tuple)) else []
        return _run(self._model.classify, images, k)

    def logits(self, pixel_values: "numpy.typing.NDArray[numpy.float32]") -> "numpy.typing.NDArray[numpy.float32]":
        """Logits, shape (n, num_labels), of preprocessed pixels: a
        C-contiguous float32 array of shape (n, channels, height, width),
        as the checkpoint's image processor makes them, read in place
        without a copy. A numpy array is held read-only for the call
        (writing it from another thread meanwhile raises ValueError); its
        base and views made before the call are not, nor are other array
        types (torch tensors, ...): those must not be written during it."""
        with _read_only(pixel_values):
            return self._model.logits(pixel_values)

    @property
    def info(self) -> dict:
        """architecture, image_height, image_width, num_channels,
        input_height and input_width (the size images are prepared to),
        num_labels, num_parameters."""
        return self._model.info

    def __repr__(self) -> str:
        return f"<visionrt.Classifier {self.info['architecture']}, {len(self.labels)} labels, on {self.device}>"


class Embedder(_Runs):
    """Image features from a ViT-family encoder: any folder Classifier
    loads, or a base model without a head (ViTModel, DeiTModel, Dinov2Model,
    Dinov2WithRegistersModel: how facebook/dinov2-* are published). device,
    precision, threads and interpolate_pos_encoding as for Classifier."""

    __slots__ = ("_model",)

    def __init__(
        self,
        model_dir: Union[str, "os.PathLike[str]"],
        device: str = "auto",
        precision: Optional[str] = None,
        threads: int = 0,
        interpolate_pos_encoding: bool = False,
    ) -> None:
        self._model = _visionrt.Embedder(model_dir, device, _precision(precision), threads, interpolate_pos_encoding)

    def embed(self, images: Any, pool: bool = False, return_tensors: bool = False, *, pooling: Optional[str] = None) -> Any:
        """Features of an image as transformers' pipeline("image-feature-
        extraction") gives them: the encoder's tokens after its last
        LayerNorm, a nested list of shape [1, tokens, hidden]; with pool=True
        the class token after that norm, [1, hidden] (DINOv2's pooler_output;
        ViTModel's and DeiTModel's pooler, a dense layer with tanh, is not
        what this gives). pooling="mean" gives the mean of the patch tokens
        instead. return_tensors=True gives numpy arrays of those shapes. For
        a list or tuple of images, one result per image."""
        if pooling is None:
            pooling = "cls" if pool else "tokens"
        many = isinstance(images, (list, tuple))
        results = [r[None] for r in _run(self._model.embed, images if many else [images], pooling)]
        if not return_tensors:
            results = [r.tolist() for r in results]
        return results if many else results[0]

    def tokens(self, pixel_values: "numpy.typing.NDArray[numpy.float32]") -> "numpy.typing.NDArray[numpy.float32]":
        """The tokens, shape (n, tokens, hidden), of preprocessed pixels
        (n, channels, height, width), read in place as Classifier.logits
        says."""
        with _read_only(pixel_values):
            return self._model.tokens(pixel_values)

    @property
    def hidden_size(self) -> int:
        return self._model.hidden_size

    @property
    def info(self) -> dict:
        """architecture, image_height, image_width, num_channels,
        input_height and input_width, num_labels, num_parameters."""
        return self._model.info

    def __repr__(self) -> str:
        return f"<visionrt.Embedder {self.info['architecture']}, hidden {self.hidden_size}, on {self.device}>"


class Detector(_Model):
    """A DetrForObjectDetection, YolosForObjectDetection, RTDetrForObjectDetection,
    RTDetrV2ForObjectDetection or DFineForObjectDetection checkpoint folder;
    device, precision and threads as for Classifier."""

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
    def detect(self, images: ImageInput, threshold: float = 0.5) -> List[Detection]: ...
    @overload
    def detect(
        self, images: Union[List[ImageInput], Tuple[ImageInput, ...]], threshold: float = 0.5
    ) -> List[List[Detection]]: ...

    def detect(self, images: Any, threshold: float = 0.5) -> Any:
        """The objects found in an image, with scores above threshold
        (default 0.5, as transformers' pipeline), highest score first, as
        [{"score": float, "label": str, "box": {"xmin": int, "ymin": int,
        "xmax": int, "ymax": int}}, ...]; for a list or tuple of images, one
        such list per image. Prepared and post-processed as the model's
        image processor does (DetrImageProcessor, RTDetrImageProcessor; no
        NMS); an image's detections do not depend on the other images given
        with it."""
        return _run(self._model.detect, images, _threshold(threshold))

    def forward(
        self,
        pixel_values: "numpy.typing.NDArray[numpy.float32]",
        pixel_mask: Optional["numpy.typing.ArrayLike"] = None,
    ) -> Tuple["numpy.typing.NDArray[numpy.float32]", "numpy.typing.NDArray[numpy.float32]"]:
        """The raw outputs for a prepared batch: logits (n, queries,
        labels + 1 for DETR, "no object" last; labels for RT-DETR, each a
        sigmoid's logit) and boxes (n, queries, 4: cx, cy, w, h in [0, 1]). pixel_values: a C-contiguous float32 array (n, 3, height,
        width), read in place and held read-only for the call as
        Classifier.logits says; pixel_mask: (n, height, width), 1 for image
        and 0 for padding, any numeric type (DetrImageProcessor's is int64),
        or None for no padding (RT-DETR reads none)."""
        with _read_only(pixel_values, pixel_mask):
            if pixel_mask is not None:
                pixel_mask = numpy.ascontiguousarray(pixel_mask, dtype=numpy.float32)
            return self._model.forward(pixel_values, pixel_mask)

    @property
    def info(self) -> dict:
        """architecture, num_labels, num_parameters."""
        return self._model.info

    def __repr__(self) -> str:
        return f"<visionrt.Detector {self.info['architecture']}, {len(self.labels)} labels, on {self.device}>"
