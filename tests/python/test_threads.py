"""Python threads sharing one model get exactly the results of one thread,
and the engine runs without the GIL."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import visionrt
from conftest import DIGIT_IMAGES, DIGITS_MODEL, SHAPE_IMAGES, needs_image_io

THREADS = 6
ROUNDS = 4


def run_in_threads(call):
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(lambda _: [call() for _ in range(ROUNDS)], range(THREADS)))


@needs_image_io
def test_threads_sharing_a_classifier(classifier):
    # Files, bytes and arrays: decoding runs in parallel, the model one run at a time.
    images = [str(p) for p in DIGIT_IMAGES] + [p.read_bytes() for p in DIGIT_IMAGES]
    alone = classifier.classify(images)
    for rounds in run_in_threads(lambda: classifier.classify(images)):
        assert all(result == alone for result in rounds)


@needs_image_io
def test_threads_sharing_a_detector(detector):
    alone = detector.detect(SHAPE_IMAGES, threshold=0.1)
    for rounds in run_in_threads(lambda: detector.detect(SHAPE_IMAGES, threshold=0.1)):
        assert all(result == alone for result in rounds)


def test_threads_sharing_logits(classifier):
    pixels = np.random.default_rng(3).standard_normal((5, 3, 32, 32)).astype(np.float32)
    alone = classifier.logits(pixels)
    for rounds in run_in_threads(lambda: classifier.logits(pixels)):
        assert all(np.array_equal(result, alone) for result in rounds)


def test_the_gil_is_released_while_the_engine_runs():
    """A Python thread keeps running while another waits on the engine: with
    the GIL held, it could not run at all during the call."""
    model = visionrt.Classifier(DIGITS_MODEL, device="cpu", threads=1)
    pixels = np.zeros((2048, 3, 32, 32), np.float32)  # about 0.2 s on one thread
    model.logits(pixels)  # plans this shape, so that the timed call only runs
    ticks, done = [], threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.perf_counter())

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        time.sleep(0.05)
        start = time.perf_counter()
        model.logits(pixels)
        end = time.perf_counter()
    finally:
        done.set()
        ticker.join()
    during = [start] + [t for t in ticks if start < t < end] + [end]
    longest_pause = max(b - a for a, b in zip(during, during[1:]))
    assert longest_pause < (end - start) / 2, (len(during), longest_pause, end - start)


def test_pixel_values_are_held_read_only_during_a_call():
    """logits() reads the caller's array in place: for the call it is held
    read-only, so a thread writing it meanwhile gets ValueError instead of
    changing the pixels under the engine; afterwards it is writeable again."""
    model = visionrt.Classifier(DIGITS_MODEL, device="cpu", threads=1)
    pixels = np.random.default_rng(4).standard_normal((1200, 3, 32, 32)).astype(np.float32)
    want = model.logits(pixels.copy())
    refused, done = [], threading.Event()

    def write():
        while pixels.flags.writeable and not done.is_set():
            time.sleep(0)  # until the call holds the array
        try:
            pixels[600:] = 0
        except ValueError as error:
            refused.append(str(error))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        got = model.logits(pixels)
    finally:
        done.set()
        writer.join()
    assert refused and "read-only" in refused[0]
    assert np.array_equal(got, want)
    assert pixels.flags.writeable
    # Arrays the caller made read-only stay so; calls sharing one array
    # release it when the last ends.
    frozen = pixels.copy()
    frozen.flags.writeable = False
    model.logits(frozen)
    assert not frozen.flags.writeable
    run_in_threads(lambda: model.logits(pixels[:8]))
    shared = pixels[:8]
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda _: model.logits(shared), range(3 * THREADS)))
    assert shared.flags.writeable and pixels.flags.writeable
