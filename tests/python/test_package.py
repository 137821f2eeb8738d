"""The installed package: the engine's libraries in the package folder,
found without LD_LIBRARY_PATH, the CUDA backend library beside them when it
was built, and the GPU giving the CPU's answers where there is one."""

import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import visionrt
from conftest import DIGIT_IMAGES, DIGITS_MODEL, SHAPE_IMAGES, SHAPES_MODEL, needs_image_io

PACKAGE = Path(visionrt.__file__).parent
# The CUDA compiler the package's build would find (docs/python.md): where
# there is one, the package must hold its CUDA backend.
NVCC = os.environ.get("CUDACXX") or shutil.which("nvcc")


def python(code, cwd, **env):
    """Runs code in a new interpreter, without LD_LIBRARY_PATH but for env's."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "VISIONRT_CUDA_PLUGIN")} | env
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_version_and_files():
    assert visionrt.__version__ == metadata.version("visionrt")
    names = {p.name for p in PACKAGE.iterdir()}
    assert {"__init__.py", "_errors.py", "_visionrt.pyi", "py.typed", "libvisionrt.so.0"} <= names
    assert any(n.startswith("_visionrt.") and n.endswith(".so") for n in names)
    assert ("libvisionrt_cuda.so.0" in names) == visionrt.has_cuda_backend()
    assert "libvisionrt.so" not in names  # one file per library, named by its soname


def test_the_engine_loads_from_the_package_without_library_path(tmp_path):
    out = python(
        "import numpy, visionrt\n"
        f"model = visionrt.Classifier({str(DIGITS_MODEL)!r}, device='cpu')\n"
        "print(model.classify(numpy.zeros((8, 8, 3), numpy.uint8), topk=1)[0]['label'])\n"
        "print(next(l.split()[-1] for l in open('/proc/self/maps') if 'libvisionrt.so' in l))\n",
        tmp_path,
    )
    label, library = out.split()
    assert label in visionrt.Classifier(DIGITS_MODEL, device="cpu").labels
    assert Path(library) == PACKAGE / "libvisionrt.so.0"


# A stand-in for the NVIDIA driver's library, reporting one GPU.
FAKE_DRIVER = "int cuInit(unsigned flags) { return 0; }\nint cuDeviceGetCount(int* n) { *n = 1; return 0; }\n"


@pytest.mark.skipif(not visionrt.has_cuda_backend() and not NVCC, reason="no CUDA compiler on this machine")
@pytest.mark.skipif(visionrt.cuda_available(), reason="a GPU is usable: the GPU test loads the backend")
def test_the_engine_finds_its_cuda_backend_in_the_package(tmp_path):
    """Without a GPU: told of one by a stand-in driver library, the engine
    loads its CUDA backend from beside itself in the package folder, which
    then fails in the CUDA runtime, as the stand-in drives no GPU."""
    assert visionrt.has_cuda_backend(), f"{NVCC} is here, yet the package was built without its CUDA backend"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(tmp_path / "libcuda.so.1"), "-x", "c", "-"],
                   input=FAKE_DRIVER, text=True, check=True)
    code = (
        "import visionrt\n"
        f"try: visionrt.Classifier({str(DIGITS_MODEL)!r}, device='cuda')\n"
        "except visionrt.Error as e: print(e.status, e)\n"
        "print(*sorted({l.split()[-1] for l in open('/proc/self/maps') if 'libvisionrt_cuda' in l}))\n"
    )
    status, library = python(code, tmp_path, LD_LIBRARY_PATH=str(tmp_path)).splitlines()
    assert status.startswith("device_error") and Path(library) == PACKAGE / "libvisionrt_cuda.so.0", status
    # Where the backend library cannot be found, the error says so.
    status, library = python(
        code, tmp_path, LD_LIBRARY_PATH=str(tmp_path), VISIONRT_CUDA_PLUGIN=str(tmp_path / "none.so")
    ).splitlines()
    assert "backend library could not be loaded" in status and library == "", status

@needs_image_io
@pytest.mark.skipif(not visionrt.cuda_available(), reason="no usable GPU")
def test_gpu_gives_the_cpus_answers(classifier, detector):
    gpu = visionrt.Classifier(DIGITS_MODEL, device="cuda")
    assert gpu.device == "cuda" and gpu.device_notice == ""
    assert visionrt.Classifier(DIGITS_MODEL).device == "cuda"
    for got, want in zip(gpu.classify(DIGIT_IMAGES), classifier.classify(DIGIT_IMAGES)):
        assert [p["label"] for p in got] == [p["label"] for p in want]
        assert np.allclose([p["score"] for p in got], [p["score"] for p in want], rtol=0, atol=1e-4)
    gpu_detector = visionrt.Detector(SHAPES_MODEL, device="cuda")
    assert gpu_detector.device == "cuda"
    for got, want in zip(gpu_detector.detect(SHAPE_IMAGES), detector.detect(SHAPE_IMAGES)):
        assert [d["label"] for d in got] == [d["label"] for d in want]
        assert np.allclose([d["score"] for d in got], [d["score"] for d in want], rtol=0, atol=1e-4)
        # Corners truncated to ints may fall either side of an integer.
        for g, w in zip(got, want):
            assert all(abs(g["box"][k] - w["box"][k]) <= 1 for k in w["box"])
