#!/usr/bin/env python3
"""Checks a Ray cluster serving the demo models as tools/ci/test_serve_cluster.sh
deploys them (/classify: vit-digits, /detect: detr-shapes): waits until both
applications run and every node's HTTP proxy is healthy, requires replicas
of each model on more than one node, then sends every demo image through each
node's proxy four times from 8 concurrent clients and compares each answer with the
package's in-process one. Exit status 1 on a wrong answer or a deadline
passed. Run it on a node of the cluster (it joins as a driver).

    python tools/ci/serve_cluster_check.py --hosts IP,IP [--deadline 300]
"""

import argparse
import http.client
import json
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import ray
from ray import serve
from ray.util.state import list_actors

import visionrt

ROOT = Path(__file__).resolve().parents[2]
DIGITS = sorted((ROOT / "models/demo/images/digits").glob("*.png"))
SHAPES = sorted((ROOT / "models/demo/images/shapes").glob("*.png"))
# As tests/python_serve: batches of other sizes may sum in another order on
# some CPUs; labels and their order may not change.
SCORE_TOLERANCE = 1e-5


def wait_until_serving(deadline):
    while True:
        status = serve.status()
        apps = {name: app.status for name, app in status.applications.items()}
        proxies = {node: str(proxy) for node, proxy in status.proxies.items()}
        nodes = [n for n in ray.nodes() if n["Alive"]]
        if (apps == {"vit": "RUNNING", "detr": "RUNNING"} and len(proxies) == len(nodes)
                and all(p.endswith("HEALTHY") for p in proxies.values())):
            return nodes
        if time.monotonic() > deadline:
            sys.exit(f"serve_cluster_check: not serving by the deadline: applications {apps}, proxies {proxies}")
        time.sleep(1)


def post(host, path, body):
    connection = http.client.HTTPConnection(host, 8000, timeout=60)
    try:
        connection.request("POST", path, body=body)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def right(got, want):
    if [r["label"] for r in got] != [r["label"] for r in want]:
        return False
    if not np.allclose([r["score"] for r in got], [r["score"] for r in want], rtol=0, atol=SCORE_TOLERANCE):
        return False
    return all(abs(g["box"][c] - w["box"][c]) <= 1 for g, w in zip(got, want) if "box" in w for c in w["box"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", required=True, help="the nodes' addresses, comma-separated")
    parser.add_argument("--deadline", type=float, default=300, help="seconds to wait for the deployment")
    args = parser.parse_args()
    deadline = time.monotonic() + args.deadline
    start = time.monotonic()
    ray.init(address="auto", log_to_driver=False)
    nodes = wait_until_serving(deadline)
    print(f"serve_cluster_check: {len(nodes)} nodes, both applications running and every proxy healthy "
          f"after {time.monotonic() - start:.0f} s")

    replicas = defaultdict(set)
    ips = {n["NodeID"]: n["NodeManagerAddress"] for n in nodes}
    for actor in list_actors(filters=[("state", "=", "ALIVE")], detail=True, limit=1000):
        if actor.class_name.startswith("ServeReplica:"):
            replicas[actor.class_name.split(":")[1]].add(ips.get(actor.node_id, actor.node_id))
    for app, where in sorted(replicas.items()):
        print(f"serve_cluster_check: {app} replicas on {', '.join(sorted(where))}")
    if any(len(replicas[app]) < 2 for app in ("vit", "detr")):
        sys.exit("serve_cluster_check: a model's replicas are not spread over the nodes")

    classifier = visionrt.Classifier(ROOT / "models/demo/vit-digits", device="cpu", threads=1)
    detector = visionrt.Detector(ROOT / "models/demo/detr-shapes", device="cpu", threads=1)
    jobs = [("/classify?topk=3", p, classifier.classify(p, topk=3)) for p in DIGITS]
    jobs += [("/detect", p, detector.detect(p)) for p in SHAPES]
    # Four rounds, interleaved, so that requests arrive together and batch.
    jobs *= 4
    wrong = 0
    for host in args.hosts.split(","):
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda job: post(host, job[0], job[1].read_bytes()), jobs))
        bad = [(job[1].name, status) for job, (status, body) in zip(jobs, answers)
               if status != 200 or not right(body, job[2])]
        wrong += len(bad)
        print(f"serve_cluster_check: through {host}: {len(jobs)} requests, {len(jobs) - len(bad)} answered correctly"
              + (f"; wrong: {bad[:5]}" if bad else ""))
    ray.shutdown()
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
