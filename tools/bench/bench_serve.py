#!/usr/bin/env python3
"""Requests/s and latency of visionrt.serve over loopback HTTP: deploys a
classification model (default: the ViT demo model) on a local Ray with 1
and then 2 replicas, sends requests from concurrent clients for a while (or
a number of them), checks every answer against the package's in-process
result, and prints one table row per configuration. Exit status 1 when an
answer is wrong. Needs ray[serve], which tools/ci/test_serve.sh installs
into build-venv/; run it with build-venv/bin/python.

    python3 tools/bench/bench_serve.py [--replicas 1,2] [--clients 8] [--seconds 20] [--requests N]
"""

import argparse
import http.client
import itertools
import json
import os
import socket
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import ray
from ray import serve

import visionrt
from visionrt.serve import app

ROOT = Path(__file__).resolve().parents[2]
# Batches of other sizes may sum matrix products in another order (about
# 1e-6 on AVX2 CPUs); labels and their order may not change.
SCORE_TOLERANCE = 1e-5


def right(got, want):
    return [p["label"] for p in got] == [p["label"] for p in want] and np.allclose(
        [p["score"] for p in got], [p["score"] for p in want], rtol=0, atol=SCORE_TOLERANCE
    )


def run_clients(port, bodies, wants, clients, seconds, requests):
    """(latencies in s, wrong answers, elapsed s) of the clients' requests."""
    latencies, wrong, lock = [], [], threading.Lock()
    sent = itertools.count()
    deadline = time.monotonic() + seconds

    def client():
        # One kept-alive connection per client, as a real client holds.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                index = next(sent)
            if index >= requests if requests else time.monotonic() >= deadline:
                break
            image = index % len(bodies)
            start = time.perf_counter()
            try:
                connection.request("POST", "/classify?topk=3", body=bodies[image])
                response = connection.getresponse()
                status, body = response.status, response.read()
            except (OSError, http.client.HTTPException) as error:
                status, body = None, repr(error).encode()
                connection.close()  # the next request connects again
            latency = time.perf_counter() - start
            ok = status == 200 and right(json.loads(body), wants[image])
            with lock:
                latencies.append(latency)
                if not ok:
                    wrong.append((image, status, body[:200]))
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, wrong, time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=ROOT / "models" / "demo" / "vit-digits", type=Path)
    parser.add_argument("--images", default=ROOT / "models" / "demo" / "images" / "digits", type=Path)
    parser.add_argument("--replicas", default="1,2", help="replica counts to measure, comma-separated")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20, help="per configuration")
    parser.add_argument("--requests", type=int, default=0, help="per configuration, instead of --seconds")
    parser.add_argument("--max-batch-size", type=int, default=8)
    # The demo model is too small to gain from threads within a run, and on a
    # busy machine an OpenMP team waits on its slowest thread.
    parser.add_argument("--threads", type=int, default=1, help="engine threads per replica")
    args = parser.parse_args()

    cores = os.cpu_count()
    images = sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    bodies = [p.read_bytes() for p in images]
    classifier = visionrt.Classifier(args.model, device="cpu")
    wants = [classifier.classify(body, topk=3) for body in bodies]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray.init(address="local", num_cpus=cores, include_dashboard=False, log_to_driver=False)
    rows, failed = [], False
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        for replicas in map(int, args.replicas.split(",")):
            # Ray's reservation within the cores, so that every replica count fits.
            serve.run(
                app(args.model, replicas=replicas, cpus_per_replica=min(args.threads, cores / replicas),
                    threads=args.threads, max_batch_size=args.max_batch_size),
                name="bench", route_prefix="/classify",
            )
            run_clients(port, bodies, wants, args.clients, 0, 2 * args.clients)  # warm-up: connections, shapes
            latencies, wrong, elapsed = run_clients(port, bodies, wants, args.clients, args.seconds, args.requests)
            serve.delete("bench")
            cuts = statistics.quantiles(latencies, n=100)
            rows.append((replicas, args.threads, len(latencies), len(wrong), len(latencies) / elapsed,
                         1e3 * cuts[49], 1e3 * cuts[98]))
            for image, status, body in wrong[:5]:
                print(f"bench_serve: wrong answer for {images[image].name}: HTTP {status}: {body!r}")
            failed |= bool(wrong)
    finally:
        serve.shutdown()
        ray.shutdown()

    print(f"bench_serve: {args.model.name}, {args.clients} clients, loopback HTTP, {cores} cores, "
          f"max_batch_size {args.max_batch_size}")
    print(f"{'replicas':>8} {'threads':>7} {'requests':>8} {'wrong':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for row in rows:
        print("{:>8} {:>7} {:>8} {:>5} {:>8.1f} {:>8.1f} {:>8.1f}".format(*row))
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
