"""visionrt models over HTTP with Ray Serve: each replica loads a model
once and answers POSTs of encoded image bytes with the JSON results of
Classifier.classify, Detector.detect or Embedder.embed.

    from ray import serve
    from visionrt.serve import app
    serve.run(app("models/demo/vit-digits", replicas=2), route_prefix="/classify")

    curl --data-binary @digit_3.png 'http://127.0.0.1:8000/classify?topk=2'
    [{"label": "3", "score": 0.912...}, {"label": "5", "score": 0.0145...}]

Query parameters: top_k or its alias topk (classification, default 5),
threshold (detection, default 0.5), pool (features: true for the class
token, default false for every token) or pooling (cls, mean, tokens), as
the Python API takes them. An image the engine refuses, an empty body or a bad parameter
is answered with 400 and {"error": message, "status": visionrt status}.

    serve run visionrt.serve:build_app model_dir=/models/vit replicas=2
    python -m visionrt.serve /models/vit --replicas 2 --port 8000
"""

# No `from __future__ import annotations`: Serve converts build_app's
# arguments only when its annotation is the BuildArgs class itself.
import argparse
import asyncio
import json
import logging
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

try:
    import ray
    from pydantic import BaseModel
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import JSONResponse
except ImportError as error:
    raise ImportError('visionrt.serve needs Ray Serve: pip install "ray[serve]"') from error

import visionrt

__all__ = ["BuildArgs", "VisionModel", "app", "build_app", "main"]

# Statuses caused by what the client sent; the others are the server's.
_CLIENT_STATUSES = {"invalid_argument", "corrupt_file", "unsupported"}


# The base models that give features only.
_FEATURE_MODELS = {"ViTModel", "DeiTModel", "Dinov2Model", "Dinov2WithRegistersModel"}


def _task_of(model_dir: str) -> str:
    config = json.loads((Path(model_dir) / "config.json").read_text())
    if isinstance(config.get("architecture"), str) and "architectures" not in config:
        return "classify"  # a timm checkpoint
    architectures = config.get("architectures") or []
    for architecture in architectures:
        if architecture.endswith("ForImageClassification") or architecture.endswith("ForImageClassificationWithTeacher"):
            return "classify"
        if architecture.endswith("ForObjectDetection"):
            return "detect"
        if architecture in _FEATURE_MODELS:
            return "embed"
    raise visionrt.InvalidArgumentError(
        f"{model_dir}: config.json's architectures {architectures} name no image classification, object"
        ' detection or feature model; give task="classify", task="detect" or task="embed"'
    )


def _error(message: str, status: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=400 if status in _CLIENT_STATUSES else 500)


@serve.deployment
class VisionModel:
    """One replica: a Classifier or Detector and a batching queue in front
    of it. Requests that arrive together run through the engine as one list
    per topk or threshold, so that each gets what a call with its own
    parameter gives. (Where the CPU's matrix-product kernels depend on the
    batch size, as oneDNN's AVX2 ones do, scores move by about 1e-6 with
    the batch a request shares.)"""

    def __init__(
        self,
        model_dir: str,
        task: Optional[str],
        device: str,
        precision: Optional[str],
        threads: int,
        max_batch_size: int,
        batch_wait_timeout_s: float,
    ) -> None:
        self.task = task or _task_of(model_dir)
        if self.task == "classify":
            self.model: Union[visionrt.Classifier, visionrt.Detector, visionrt.Embedder] = visionrt.Classifier(
                model_dir, device=device, precision=precision, threads=threads
            )
        elif self.task == "detect":
            self.model = visionrt.Detector(model_dir, device=device, precision=precision, threads=threads)
        elif self.task == "embed":
            self.model = visionrt.Embedder(model_dir, device=device, precision=precision, threads=threads)
        else:
            raise visionrt.InvalidArgumentError(f'task must be "classify", "detect" or "embed", got {task!r}')
        self._batch.set_max_batch_size(max_batch_size)
        self._batch.set_batch_wait_timeout_s(batch_wait_timeout_s)

    def _parameter(self, request: Request) -> Union[int, float, str]:
        """The query's top_k, threshold or pooling; ValueError names a bad one."""
        if self.task == "embed":
            if "pooling" in request.query_params:
                pooling = request.query_params["pooling"]
                if pooling not in ("cls", "mean", "tokens"):
                    raise ValueError(f"pooling must be cls, mean or tokens, got {pooling!r}")
                return pooling
            pool = request.query_params.get("pool", "false").lower()
            if pool not in ("true", "false", "1", "0"):
                raise ValueError(f"pool must be true or false, got {pool!r}")
            return "cls" if pool in ("true", "1") else "tokens"
        if self.task == "classify":
            name = "topk" if "topk" in request.query_params and "top_k" not in request.query_params else "top_k"
            text = request.query_params.get(name, "5")
            try:
                top_k = int(text)
            except ValueError:
                top_k = -1
            if top_k < 0:
                raise ValueError(f"{name} must be an integer, 0 or more, got {text!r}")
            # Past the label count every top_k gives the same answer: one batch group.
            return min(top_k, len(self.model.labels))
        text = request.query_params.get("threshold", "0.5")
        try:
            threshold = float(text)
        except ValueError:
            threshold = math.nan
        if not math.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number, got {text!r}")
        return threshold

    async def __call__(self, request: Request) -> JSONResponse:
        if request.method != "POST":
            return JSONResponse(
                {"error": "POST the image's encoded bytes", "status": "invalid_argument"}, status_code=405
            )
        try:
            parameter = self._parameter(request)
        except ValueError as error:
            return _error(str(error), "invalid_argument")
        image = await request.body()
        if not image:
            return _error("empty request body: POST the image's encoded bytes", "invalid_argument")
        result = await self._batch((image, parameter))
        if isinstance(result, visionrt.Error):
            return _error(str(result), result.status)
        return JSONResponse(result)

    @serve.batch
    async def _batch(self, requests: List[Tuple[bytes, Union[int, float]]]) -> List[Any]:
        # The engine releases the GIL: in a thread, it leaves the event loop
        # free to take the next requests while it runs.
        return await asyncio.to_thread(self._run_batch, requests)

    def _run_batch(self, requests: List[Tuple[bytes, Union[int, float]]]) -> List[Any]:
        groups: Dict[Union[int, float], List[int]] = {}
        for index, (_, parameter) in enumerate(requests):
            groups.setdefault(parameter, []).append(index)
        results: List[Any] = [None] * len(requests)
        for parameter, indices in groups.items():
            for index, result in zip(indices, self._run([requests[i][0] for i in indices], parameter)):
                results[index] = result
        return results

    def _run(self, images: List[bytes], parameter: Union[int, float]) -> List[Any]:
        """One result or visionrt.Error per image: an image the engine
        refuses fails its whole list, so the list is then run image by image
        to fail that image alone."""
        if self.task == "embed":
            run = lambda images, pooling: self.model.embed(images, pooling=pooling)  # noqa: E731
        else:
            run = self.model.classify if self.task == "classify" else self.model.detect
        try:
            return run(images, parameter)
        except visionrt.Error as error:
            if len(images) == 1:
                return [error]
            return [self._run([image], parameter)[0] for image in images]


def app(
    model_dir: Union[str, "os.PathLike[str]"],
    *,
    task: Optional[str] = None,
    replicas: int = 1,
    gpus_per_replica: float = 0,
    cpus_per_replica: Optional[float] = None,
    threads: int = 0,
    precision: Optional[str] = None,
    max_batch_size: int = 8,
    batch_wait_timeout_s: float = 0.005,
) -> serve.Application:
    """A Serve application of one deployment, VisionModel, for serve.run.

    model_dir: a checkpoint folder at this path on every node that runs a
    replica. task: "classify", "detect" or "embed"; None takes it from
    config.json's architectures (a base model without a head: "embed"). gpus_per_replica: GPUs Ray reserves for each replica (a
    fraction shares one); with any, the model runs on the GPU, else on the
    CPU. cpus_per_replica: CPUs Ray reserves for each (default: threads, or
    1 when threads is 0). threads: the engine's CPU threads, 0 for all the
    node's cores. precision: as for Classifier. Requests are batched up to
    max_batch_size, waiting at most batch_wait_timeout_s for a batch to fill.
    Replicas that could never be placed (more CPUs asked for one than a
    node has, or for all of them than the cluster has) are refused here:
    serve.run would otherwise wait for them forever.
    """
    explicit_cpus = cpus_per_replica is not None
    if cpus_per_replica is None:
        cpus_per_replica = threads or 1
    _check_cpus(replicas, cpus_per_replica, "cpus_per_replica" if explicit_cpus else "threads")
    return VisionModel.options(
        num_replicas=replicas,
        # One batch running and the next filling.
        max_ongoing_requests=2 * max_batch_size,
        ray_actor_options={"num_cpus": cpus_per_replica, "num_gpus": gpus_per_replica},
    ).bind(
        # Replicas may start in any working directory.
        os.path.abspath(model_dir),
        task,
        # Without a GPU reserved by Ray, one the node has may be another replica's.
        "cuda" if gpus_per_replica > 0 else "cpu",
        precision,
        threads,
        max_batch_size,
        batch_wait_timeout_s,
    )


def _cluster_cpus() -> Tuple[float, float]:
    """The CPUs of the largest node and of all nodes: of the Ray this
    process is connected to, else of the local Ray that serve.run starts."""
    if ray.is_initialized():
        nodes = [node["Resources"].get("CPU", 0.0) for node in ray.nodes() if node.get("Alive")]
        return max(nodes, default=0.0), sum(nodes)
    from ray._private.utils import get_num_cpus

    cpus = float(get_num_cpus())
    return cpus, cpus


def _check_cpus(replicas: int, cpus_per_replica: float, source: str) -> None:
    largest, total = _cluster_cpus()
    how = ("cpus_per_replica" if source == "cpus_per_replica" else "cpus_per_replica (from threads)")
    if cpus_per_replica > largest:
        raise visionrt.InvalidArgumentError(
            f"{how} {cpus_per_replica:g} is more CPUs than any Ray node has ({largest:g}): the replicas would never"
            " start; give cpus_per_replica (a fraction shares a CPU) or fewer threads"
        )
    if replicas * cpus_per_replica > total:
        raise visionrt.InvalidArgumentError(
            f"{replicas} replicas of {cpus_per_replica:g} CPUs ask for more CPUs than the Ray cluster has"
            f" ({total:g}): they would never all start; give fewer replicas or a smaller cpus_per_replica"
        )


class BuildArgs(BaseModel):
    """app's arguments, as `serve run visionrt.serve:build_app key=value ...`
    and a config file's `args:` give them."""

    model_dir: str
    task: Optional[str] = None
    replicas: int = 1
    gpus_per_replica: float = 0
    cpus_per_replica: Optional[float] = None
    threads: int = 0
    precision: Optional[str] = None
    max_batch_size: int = 8
    batch_wait_timeout_s: float = 0.005


def build_app(args: BuildArgs) -> serve.Application:
    """The application builder of `serve run` and Serve config files."""
    options = args.model_dump()
    return app(options.pop("model_dir"), **options)


def _not_applied(record: logging.LogRecord) -> bool:
    return "will not be applied" not in record.getMessage()


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m visionrt.serve", description="Serve a visionrt model over HTTP with Ray Serve."
    )
    parser.add_argument("model_dir")
    parser.add_argument("--task", choices=["classify", "detect"], help="default: from config.json")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--gpus-per-replica", type=float, default=0)
    parser.add_argument("--cpus-per-replica", type=float, help="default: --threads, or 1")
    parser.add_argument("--threads", type=int, default=0, help="engine threads per replica, 0 for all cores")
    parser.add_argument("--precision", choices=visionrt.PRECISIONS)
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--batch-wait-timeout-s", type=float, default=0.005)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--route", default="/")
    parser.add_argument("--name", default="visionrt", help="the Serve application's name")
    parser.add_argument(
        "--address", help="an existing Ray cluster (default: RAY_ADDRESS, else a local Ray started here)"
    )
    args = parser.parse_args(argv)

    if args.address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=args.address)
    else:
        # A local Ray for this command alone: without the dashboard and its
        # HTTP port (what else listens where: the README, "What listens where").
        ray.init(address="local", include_dashboard=False)
    try:
        # Replicas that could never start are refused before Serve starts.
        application = app(
            args.model_dir,
            task=args.task,
            replicas=args.replicas,
            gpus_per_replica=args.gpus_per_replica,
            cpus_per_replica=args.cpus_per_replica,
            threads=args.threads,
            precision=args.precision,
            max_batch_size=args.max_batch_size,
            batch_wait_timeout_s=args.batch_wait_timeout_s,
        )
    except visionrt.Error as error:
        ray.shutdown()
        parser.exit(2, f"{parser.prog}: {error}\n")
    # SIGTERM unwinds as Ctrl-C does, through the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve.start(http_options={"host": args.host, "port": args.port})
        # serve.run finds the Serve just started and says that "new"
        # http_options will not be applied, though none were given: untrue here.
        notices = logging.getLogger("ray.serve")
        notices.addFilter(_not_applied)
        try:
            serve.run(application, name=args.name, route_prefix=args.route)
        finally:
            notices.removeFilter(_not_applied)
        print(f"visionrt.serve: {args.model_dir} at http://{args.host}:{args.port}{args.route}; Ctrl-C stops",
              flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        # On a cluster that outlives this command only its application goes.
        serve.delete(args.name)
        ray.shutdown()


if __name__ == "__main__":
    # Run through the module's import, so that Ray finds VisionModel as
    # visionrt.serve.VisionModel on every node rather than in __main__.
    from visionrt.serve import main as _main

    _main()
