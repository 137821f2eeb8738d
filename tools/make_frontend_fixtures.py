#!/usr/bin/env python3
"""Writes the reference data for the image front end tests (tests/fixtures/frontend/).

References come from Pillow and from transformers' PIL-based image processors
(ViTImageProcessorPil, DetrImageProcessorPil), which resize uint8 images with
PIL.Image.resize and then rescale and normalise with NumPy:

* resize: a random 37x29 RGB image resized by every PIL filter, up and down,
  and along one axis only (Image.resize, uint8 results);
* preprocess: pixel_values of the processors for the random image and for
  scikit-learn's two sample photos (copied here as JPEG files, with their
  CC BY 2.0 attribution), with each case's preprocessor_config.json content;
* decode: small images written by PIL in each supported format (grey, alpha,
  16-bit, progressive and CMYK JPEG, JPEGs with stray bytes or cut scans, every EXIF
  orientation), with the RGB array transformers' load_image gives (EXIF
  transpose, then convert("RGB")).

Arrays are raw little-endian files; manifest.json gives each one's file,
byte offset, dtype and shape. Run from anywhere:
    python tools/make_frontend_fixtures.py
"""
import io
import json
import os
import shutil
import struct
import zlib

import numpy as np
import sklearn
from PIL import Image
from transformers import DetrImageProcessorPil, ViTImageProcessorPil
from transformers.image_transforms import get_resize_output_image_size, get_size_with_aspect_ratio
from transformers.image_utils import load_image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "frontend")
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


class ArrayStore:
    """Appends arrays to named .bin files and records them for the manifest."""

    def __init__(self):
        self.blobs = {}
        self.index = {}

    def add(self, file, name, array):
        array = np.ascontiguousarray(array)
        assert array.dtype in (np.uint8, np.float32), array.dtype
        blob = self.blobs.setdefault(file, bytearray())
        self.index[name] = {
            "file": file,
            "offset": len(blob),
            "dtype": "uint8" if array.dtype == np.uint8 else "float32",
            "shape": list(array.shape),
        }
        blob += array.astype(array.dtype.newbyteorder("<")).tobytes()
        return name

    def write(self):
        for file, blob in self.blobs.items():
            with open(os.path.join(OUT, file), "wb") as f:
                f.write(bytes(blob))


def random_image(seed, width, height):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def make_resize_cases(store, source):
    cases = []
    store.add("resize.bin", "resize/input", source)
    image = Image.fromarray(source)
    filters = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}
    # Down both axes, up both axes, one axis only (each single-pass path), mixed,
    # and either side of Pillow's switch to the vertical pass first (33x20, 32x20).
    sizes = [(16, 20), (64, 50), (37, 11), (80, 29), (90, 13), (13, 90), (33, 20), (32, 20)]
    for name, code in filters.items():
        for width, height in sizes:
            out = np.asarray(image.resize((width, height), resample=code))
            key = store.add("resize.bin", f"resize/{name}_{width}x{height}", out)
            cases.append({"input": "resize/input", "filter": code, "width": width, "height": height,
                          "expected": key})
    return cases


def run_processor(kind, config, image):
    kwargs = {k: v for k, v in config.items() if k != "image_processor_type"}
    processor = (DetrImageProcessorPil if kind == "detr" else ViTImageProcessorPil)(**kwargs)
    values = processor(images=image, return_tensors="np")["pixel_values"][0]
    return np.asarray(values, dtype=np.float32), processor.to_dict()


def make_preprocess_cases(store, source):
    cases = []
    random_configs = [
        ("vit_bilinear_up", "vit", {"size": {"height": 48, "width": 40}}),
        ("vit_bicubic_down", "vit",
         {"size": {"height": 20, "width": 16}, "resample": 3, "image_mean": IMAGENET_MEAN,
          "image_std": IMAGENET_STD}),
        ("lanczos_no_normalize", "vit",
         {"size": {"height": 31, "width": 53}, "resample": 1, "do_normalize": False}),
        ("hamming_no_rescale", "vit",
         {"size": {"height": 25, "width": 33}, "resample": 5, "do_rescale": False,
          "image_mean": 127.5, "image_std": 64.0}),
        ("box_no_resize", "vit", {"do_resize": False, "resample": 4}),
        ("detr_shortest_edge", "detr", {"size": {"shortest_edge": 24, "longest_edge": 40}}),
        ("detr_longest_edge_cap", "detr", {"size": {"shortest_edge": 24, "longest_edge": 28}}),
    ]
    image = Image.fromarray(source)
    for name, kind, config in random_configs:
        values, saved = run_processor(kind, config, image)
        key = store.add("preprocess.bin", f"preprocess/random/{name}", values)
        cases.append({"name": f"random/{name}", "image": "resize/input", "config": saved,
                      "output_size": list(values.shape[1:]), "expected": key, "region": "full"})

    photo_dir = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "images")
    # The photos are CC BY 2.0; their attribution travels with them.
    shutil.copyfile(os.path.join(photo_dir, "README.txt"), os.path.join(OUT, "photos_README.txt"))
    for photo in ("china.jpg", "flower.jpg"):
        shutil.copyfile(os.path.join(photo_dir, photo), os.path.join(OUT, photo))
        image = load_image(os.path.join(OUT, photo))
        photo_configs = [
            ("vit_default", "vit", {}),
            ("bicubic_160x128", "vit",
             {"size": {"height": 160, "width": 128}, "resample": 3, "image_mean": IMAGENET_MEAN,
              "image_std": IMAGENET_STD}),
            ("detr_default", "detr", {}),
        ]
        for name, kind, config in photo_configs:
            values, saved = run_processor(kind, config, image)
            case = {"name": f"{photo}/{name}", "image": photo, "config": saved,
                    "output_size": list(values.shape[1:])}
            if values.size <= 3 * 224 * 224:
                case["region"] = "full"
                case["expected"] = store.add("preprocess.bin", f"preprocess/{photo}/{name}", values)
            else:
                # DETR's 800-pixel output is too large to keep whole: a window
                # of full resolution plus a strided sample of the whole image.
                case["region"] = "crop"
                case["crop"] = {"y": 400, "x": 600, "height": 64, "width": 64}
                case["expected"] = store.add("preprocess.bin", f"preprocess/{photo}/{name}/crop",
                                             values[:, 400:464, 600:664])
                cases.append(case)
                case = dict(case, region="stride", stride=16)
                del case["crop"]
                case["expected"] = store.add("preprocess.bin", f"preprocess/{photo}/{name}/stride",
                                             values[:, ::16, ::16])
            cases.append(case)
    return cases


def make_output_size_cases():
    """transformers' size rules on awkward aspect ratios (rounding, truncation, caps)."""
    shapes = [(427, 640), (640, 427), (500, 2000), (2000, 500), (1, 2), (2, 1), (333, 333),
              (800, 1199), (799, 1333), (1080, 1920), (3, 1000), (1000, 3), (29, 37), (37, 29),
              (600, 901), (901, 600), (1, 1), (17, 4999)]
    cases = []
    for height, width in shapes:
        for shortest, longest in [(800, 1333), (24, 40), (24, 28), (600, 1000), (333, 0), (7, 0)]:
            if longest:
                out = get_size_with_aspect_ratio((height, width), shortest, longest)
                size = {"shortest_edge": shortest, "longest_edge": longest}
            else:
                image = np.zeros((1, height, width), dtype=np.uint8)
                out = get_resize_output_image_size(image, shortest, default_to_square=False,
                                                   input_data_format="channels_first")
                size = {"shortest_edge": shortest}
            cases.append({"input": [height, width], "size": size, "output": [int(out[0]), int(out[1])]})
    return cases


def pattern_image(width, height):
    """A smooth, asymmetric picture (JPEG-friendly, orientation is visible)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 255 * x / (width - 1)
    g = 255 * y / (height - 1)
    b = 128 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)
    rgb = np.stack([r, g, b], axis=-1)
    rgb[2:10, 3:12] = (250, 30, 30)  # a block near the top-left corner
    return np.clip(rgb, 0, 255).astype(np.uint8)


def png_16bit(array, color_type):
    """A 16-bit PNG (PIL cannot write 16-bit colour PNGs)."""
    height, width = array.shape[:2]
    rows = b"".join(b"\0" + array[y].astype(">u2").tobytes() for y in range(height))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) +
            chunk(b"IEND", b""))


def with_orientation(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def make_decode_cases(store):
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, size=(17, 23, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, size=(17, 23, 1), dtype=np.uint8)
    grey16 = rng.integers(0, 1000, size=(17, 23), dtype=np.uint16)  # spans the 255 clip
    rgb16 = rng.integers(0, 65536, size=(17, 23, 3), dtype=np.uint16)
    pattern = pattern_image(40, 24)

    files = {}

    def save(name, image, **kwargs):
        buffer = io.BytesIO()
        image.save(buffer, **kwargs)
        files[name] = buffer.getvalue()

    save("grey.png", Image.fromarray(rgb[..., 0]), format="PNG")
    save("rgba.png", Image.fromarray(np.concatenate([rgb, alpha], axis=-1)), format="PNG")
    save("grey16.png", Image.fromarray(grey16), format="PNG")
    files["rgb16.png"] = png_16bit(rgb16, color_type=2)
    save("rgb.bmp", Image.fromarray(rgb), format="BMP")
    save("rgb.webp", Image.fromarray(rgb), format="WEBP", lossless=True)
    save("rgba.webp", Image.fromarray(np.concatenate([rgb, alpha], axis=-1)), format="WEBP",
         lossless=True)
    save("rgb.tiff", Image.fromarray(rgb), format="TIFF")
    # libtiff's RGBA reader would premultiply this unassociated alpha; PIL drops it.
    save("rgba.tiff", Image.fromarray(np.concatenate([rgb, alpha], axis=-1)), format="TIFF")
    palette = Image.fromarray(pattern).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    save("palette.png", palette, format="PNG", transparency=3)
    save("grey.jpg", Image.fromarray(pattern[..., 1]), format="JPEG", quality=95)
    save("progressive.jpg", Image.fromarray(pattern), format="JPEG", quality=90, progressive=True)
    # PIL writes CMYK as Adobe does, inverted, with an Adobe marker.
    cmyk = rng.integers(0, 256, size=(17, 23, 4), dtype=np.uint8)
    save("cmyk.jpg", Image.fromarray(cmyk, mode="CMYK"), format="JPEG", quality=95)
    # Damaged but decodable: 38 stray bytes after the first marker segment,
    # which libjpeg reports as a warning while reading the header ("Corrupt
    # JPEG data: 38 extraneous bytes before marker 0x..") and PIL skips.
    save("extraneous_bytes.jpg", Image.fromarray(pattern), format="JPEG", quality=95)
    clean = files["extraneous_bytes.jpg"]
    assert clean[2] == 0xFF
    after_segment = 4 + struct.unpack(">H", clean[4:6])[0]
    files["extraneous_bytes.jpg"] = clean[:after_segment] + bytes(range(1, 39)) + clean[after_segment:]
    # Scans cut short, then the end-of-image marker: libjpeg warns and pads
    # the rest with grey, and so does PIL.
    noise = Image.fromarray(rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8))
    for progressive in (False, True):
        name = f"cut_scan{'_progressive' if progressive else ''}.jpg"
        save(name, noise, format="JPEG", quality=90, progressive=progressive)
        files[name] = files[name][: len(files[name]) * 2 // 3] + b"\xff\xd9"
    for orientation in range(1, 9):
        save(f"orientation_{orientation}.jpg", Image.fromarray(pattern), format="JPEG", quality=95,
             exif=with_orientation(orientation))
    save("orientation_6.png", Image.fromarray(pattern), format="PNG", exif=with_orientation(6))
    save("orientation_3.webp", Image.fromarray(pattern), format="WEBP", lossless=True,
         exif=with_orientation(3))
    save("orientation_8.tiff", Image.fromarray(pattern), format="TIFF", tiffinfo={0x0112: 8})

    os.makedirs(os.path.join(OUT, "decode"), exist_ok=True)
    cases = []
    for name, data in files.items():
        path = os.path.join(OUT, "decode", name)
        with open(path, "wb") as f:
            f.write(data)
        expected = np.asarray(load_image(path))
        assert expected.dtype == np.uint8 and expected.shape[2] == 3
        key = store.add("decode.bin", f"decode/{name}", expected)
        cases.append({"file": f"decode/{name}", "expected": key})
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    store = ArrayStore()
    source = random_image(0, 37, 29)
    manifest = {
        "resize_cases": make_resize_cases(store, source),
        "preprocess_cases": make_preprocess_cases(store, source),
        "output_size_cases": make_output_size_cases(),
        "decode_cases": make_decode_cases(store),
    }
    manifest["arrays"] = store.index
    store.write()
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
