"""visionrt.serve on a local Ray: the demo models, two replicas each, answer
concurrent HTTP requests over loopback with the command-line tool's results
(VISIONRT_CLI; without it, the package's own, which tests/python checks
against the tool), refuse bad bodies and parameters with 400 and stay up,
and everything shuts down in bounded time. Needs ray[serve]
(tools/ci/test_serve.sh installs it)."""

import faulthandler
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import ray
from ray import serve

import visionrt
from visionrt.serve import VisionModel, app

ROOT = Path(__file__).resolve().parents[2]
DIGITS_MODEL = ROOT / "models" / "demo" / "vit-digits"
SHAPES_MODEL = ROOT / "models" / "demo" / "detr-shapes"
DIGITS = sorted((ROOT / "models" / "demo" / "images" / "digits").glob("*.png"))
SHAPES = sorted((ROOT / "models" / "demo" / "images" / "shapes").glob("*.png"))
CLI = os.environ.get("VISIONRT_CLI")

# None: the parameter left out, for the defaults (topk 5, threshold 0.5).
TOPKS = (1, 3, None)
THRESHOLDS = (0.5, 0.9, None)
# Batches of other sizes sum matrix products in another order on some CPUs
# (AVX2 oneDNN kernels): scores move by about 1e-6, box corners may cross an
# integer. Labels, their order and the detections kept must not change.
SCORE_TOLERANCE = 1e-5
# The bound on the module: a hang ends the run with every thread's stack.
TOTAL_LIMIT_S = 120
SHUTDOWN_LIMIT_S = 30


@pytest.fixture(scope="module")
def image_io():
    """The OpenCV image front end, which the package promises: without it
    these tests fail rather than skip."""
    if not visionrt.has_image_io():
        pytest.fail("the package was built without the OpenCV image front end (tools/setup/setup.sh installs it)")


pytestmark = pytest.mark.usefixtures("image_io")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def port():
    faulthandler.dump_traceback_later(TOTAL_LIMIT_S, exit=True)
    start = time.monotonic()
    port = free_port()
    # A new local Ray (never RAY_ADDRESS's), sized for 2 cores.
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        # Two replicas of each model at half a CPU each fit in the 2 CPUs.
        options = dict(replicas=2, cpus_per_replica=0.5, threads=1)
        serve.run(app(DIGITS_MODEL, **options), name="digits", route_prefix="/classify")
        serve.run(app(SHAPES_MODEL, **options), name="shapes", route_prefix="/detect")
        print(f"\nserve: deployed in {time.monotonic() - start:.1f} s")
        yield port
    finally:
        stop = time.monotonic()
        serve.shutdown()
        ray.shutdown()
        faulthandler.cancel_dump_traceback_later()
    print(f"serve: shut down in {time.monotonic() - stop:.1f} s, {time.monotonic() - start:.1f} s in all")
    assert time.monotonic() - stop < SHUTDOWN_LIMIT_S


def post(port, path, body):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", path, body=body)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def query(name, value):
    return "" if value is None else f"?{name}={value}"


def cli_results(command, option, value, images):
    """The tool's results by image, in the package's form."""
    model = DIGITS_MODEL if command == "classify" else SHAPES_MODEL
    done = subprocess.run(
        [CLI, command, "--model", str(model), option, str(value), "--json", "--device", "cpu", *map(str, images)],
        capture_output=True, text=True, check=True,
    )
    results = {}
    for line in map(json.loads, done.stdout.splitlines()):
        if command == "classify":
            results[line["image"]] = [{"label": p["label"], "score": p["probability"]} for p in line["predictions"]]
        else:
            results[line["image"]] = [
                {"score": d["score"], "label": d["label"],
                 "box": dict(zip(("xmin", "ymin", "xmax", "ymax"), (int(np.float32(v)) for v in d["box"])))}
                for d in line["detections"]
            ]
    return results


def expected():
    """(path, want) for every good request: topk or threshold, given or default."""
    classifier = visionrt.Classifier(DIGITS_MODEL, device="cpu")
    detector = visionrt.Detector(SHAPES_MODEL, device="cpu")
    jobs = []
    for topk in TOPKS:
        k = 5 if topk is None else topk
        want = cli_results("classify", "--topk", k, DIGITS) if CLI else None
        for image in DIGITS:
            result = want[str(image)] if CLI else classifier.classify(image.read_bytes(), topk=k)
            jobs.append(("/classify" + query("topk", topk), image, result))
    for threshold in THRESHOLDS:
        t = 0.5 if threshold is None else threshold
        want = cli_results("detect", "--threshold", t, SHAPES) if CLI else None
        for image in SHAPES * 2:
            result = want[str(image)] if CLI else detector.detect(image.read_bytes(), threshold=t)
            jobs.append(("/detect" + query("threshold", threshold), image, result))
    return jobs


def same(got, want):
    """Equal up to a batch's summation order; True when bitwise equal.
    Detections come in query order, the tool's highest score first."""
    if want and "box" in want[0]:
        got = sorted(got, key=lambda r: -r["score"])
    assert [r["label"] for r in got] == [r["label"] for r in want]
    assert np.allclose([r["score"] for r in got], [r["score"] for r in want], rtol=0, atol=SCORE_TOLERANCE)
    for g, w in zip(got, want):
        if "box" in w:
            assert all(abs(g["box"][c] - w["box"][c]) <= 1 for c in w["box"]), (g, w)
    return [np.float32(r["score"]) for r in got] == [np.float32(r["score"]) for r in want] and all(
        g.get("box") == w.get("box") for g, w in zip(got, want)
    )


BAD = [
    ("", b"", "invalid_argument"),
    ("", b"not an image", "invalid_argument"),
    ("", DIGITS[0].read_bytes()[:100], "corrupt_file"),
]
BAD_PARAMETERS = [("/classify?topk=-1", "invalid_argument"), ("/classify?topk=two", "invalid_argument"),
                  ("/detect?threshold=nan", "invalid_argument")]


def test_concurrent_requests_get_the_tools_answers(port):
    jobs = [("good", path, image.read_bytes(), want) for path, image, want in expected()]
    jobs += [("bad", route + suffix, body, status) for route in ("/classify", "/detect") for suffix, body, status in BAD]
    jobs += [("bad", path, DIGITS[0].read_bytes(), status) for path, status in BAD_PARAMETERS]
    # Interleaved, so that bad bodies land in batches with good ones.
    jobs = jobs[::2] + jobs[1::2]
    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda job: post(port, job[1], job[2]), jobs))
    elapsed = time.monotonic() - start
    exact = 0
    for (kind, path, _, want), (status, body) in zip(jobs, answers):
        if kind == "good":
            assert status == 200, (path, body)
            exact += same(body, want)
        else:
            assert status == 400 and body["status"] == want and body["error"], (path, status, body)
    good = sum(kind == "good" for kind, *_ in jobs)
    print(f"serve: {len(jobs)} requests ({good} images, {len(jobs) - good} bad) from 8 threads in {elapsed:.1f} s,"
          f" all answered correctly ({exact} of {good} bitwise as {'the tool' if CLI else 'the package'})")
    # The bad requests left every replica serving.
    for name in ("digits", "shapes"):
        assert serve.status().applications[name].status == "RUNNING"
    assert post(port, "/classify?topk=1", DIGITS[0].read_bytes())[0] == 200


def test_replicas_that_could_never_start_are_refused(port):
    """On the 2-CPU Ray, replicas asking for more CPUs than it has are
    refused at once, not left for serve.run to wait on forever."""
    with pytest.raises(visionrt.InvalidArgumentError, match=r"cpus_per_replica \(from threads\) 4 is more CPUs than any"
                       r" Ray node has \(2\)"):
        app(DIGITS_MODEL, threads=4)
    with pytest.raises(visionrt.InvalidArgumentError, match=r"5 replicas of 0.5 CPUs ask for more CPUs than the Ray"
                       r" cluster has \(2\)"):
        app(DIGITS_MODEL, replicas=5, cpus_per_replica=0.5)
    done = subprocess.run(
        [sys.executable, "-m", "visionrt.serve", str(DIGITS_MODEL), "--cpus-per-replica", "100000"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "python -m visionrt.serve: cpus_per_replica 100000 is more CPUs" in done.stderr
    assert done.stdout == ""


def test_a_batch_groups_requests_by_parameter_and_fails_bad_images_alone():
    """A replica's batch step, without Ray: each request gets the result of
    its own parameter, and an undecodable image only its own error."""
    replica = VisionModel.func_or_class(str(DIGITS_MODEL), None, "cpu", None, 1, 8, 0.005)
    classifier = visionrt.Classifier(DIGITS_MODEL, device="cpu", threads=1)
    images = [p.read_bytes() for p in DIGITS[:4]]
    requests = [(images[0], 1), (images[1], 3), (b"not an image", 3), (images[2], 1), (images[3], 10)]
    results = replica._run_batch(requests)
    for (image, topk), result in zip(requests, results):
        if image == b"not an image":
            assert isinstance(result, visionrt.InvalidArgumentError)
        else:
            same(result, classifier.classify(image, topk=topk))


def test_a_feature_replica_answers_as_the_embedder():
    """A base model (DINOv2's, as published) is served for features: the
    tokens, or with pool=true the class token, as Embedder.embed."""
    model = ROOT / "tests/fixtures/vitfam/dinov2_base_model_narrow"
    replica = VisionModel.func_or_class(str(model), None, "cpu", None, 1, 8, 0.005)
    assert replica.task == "embed"
    embedder = visionrt.Embedder(model, device="cpu", threads=1)
    images = [p.read_bytes() for p in DIGITS[:2]]
    results = replica._run_batch([(images[0], "cls"), (images[1], "tokens"), (b"not an image", "cls")])
    assert results[0] == embedder.embed(images[0], pool=True)
    assert results[1] == embedder.embed(images[1])
    assert isinstance(results[2], visionrt.InvalidArgumentError)


def test_only_visionrt_serve_needs_ray():
    code = """if True:
        import sys
        import visionrt
        assert "ray" not in sys.modules
        sys.modules["ray"] = None  # as if not installed
        try:
            import visionrt.serve
        except ImportError as error:
            print(error)
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install "ray[serve]"' in done.stdout
