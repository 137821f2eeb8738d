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
