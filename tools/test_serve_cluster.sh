#!/usr/bin/env bash
# The README's multi-node recipe, on one machine: two Ray nodes, each in a
# network namespace of its own (10.77.0.1, the head, and 10.77.0.2, joined
# with `ray start --address`), linked by a veth pair; the worker node with
# its own /tmp and /dev/shm, as another machine would have. `serve deploy`
# places the two demo models' replicas on both nodes, with an HTTP proxy on
# each (proxy_location: EveryNode), and every answer through either node's
# proxy must equal the package's in-process one. Everything is stopped and
# removed at the end.
#
#   bash tools/test_serve_cluster.sh        # as root, after tools/test_serve.sh
#
# Needs iproute2 and root (network and mount namespaces); uses the virtual
# environment that tools/test_serve.sh made (VISIONRT_VENV, default
# build-venv).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
venv=$(cd "${VISIONRT_VENV:-build-venv}" && pwd)
((EUID == 0)) || { echo "test_serve_cluster: run as root (network namespaces)" >&2; exit 2; }
"$venv/bin/python" -c 'import ray, visionrt' 2>/dev/null ||
  { echo "test_serve_cluster: $venv lacks visionrt or ray; run tools/test_serve.sh first" >&2; exit 2; }
source tools/apt_packages.sh
install_packages test_serve_cluster iproute2

head=vrt-head worker=vrt-worker
work=$(mktemp -d /tmp/visionrt-cluster.XXXXXX)
# Ray 2.60 starts clusters with token authentication; the worker node and
# the serve commands read the head's token from ~/.ray/auth_token.
export RAY_AUTH_MODE=token PATH="$venv/bin:$PATH"
on_head() { ip netns exec "$head" "$@"; }
cleanup() {
  on_head serve shutdown -y >/dev/null 2>&1 || true
  # ray stop ends the Ray processes of both nodes: they share this process
  # namespace.
  on_head ray stop --force >/dev/null 2>&1 || true
  ip netns del "$head" 2>/dev/null || true
  ip netns del "$worker" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$head"
ip netns add "$worker"
ip link add vrt-h0 type veth peer name vrt-w0
ip link set vrt-h0 netns "$head"
ip link set vrt-w0 netns "$worker"
ip -n "$head" addr add 10.77.0.1/24 dev vrt-h0
ip -n "$worker" addr add 10.77.0.2/24 dev vrt-w0
for ns in "$head" "$worker"; do ip -n "$ns" link set lo up; done
ip -n "$head" link set vrt-h0 up
ip -n "$worker" link set vrt-w0 up

start=$SECONDS
on_head ray start --head --port 6379 --node-ip-address 10.77.0.1 --num-cpus 1 \
  --dashboard-host 0.0.0.0 --disable-usage-stats >"$work/head.log" 2>&1 ||
  { cat "$work/head.log" >&2; exit 1; }
ip netns exec "$worker" unshare --mount --propagation private bash -c '
  mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /dev/shm &&
  exec ray start --address 10.77.0.1:6379 --node-ip-address 10.77.0.2 --num-cpus 1 --disable-usage-stats' \
  >"$work/worker.log" 2>&1 || { cat "$work/worker.log" >&2; exit 1; }
echo "test_serve_cluster: 2 Ray nodes up in $((SECONDS - start)) s (10.77.0.1 head, 10.77.0.2 worker)"

cat >"$work/serve.yaml" <<EOF
proxy_location: EveryNode
http_options: {host: 0.0.0.0, port: 8000}
applications:
  - name: vit
    route_prefix: /classify
    import_path: visionrt.serve:build_app
    args: {model_dir: $root/models/demo/vit-digits, replicas: 2, threads: 1, cpus_per_replica: 0.5}
  - name: detr
    route_prefix: /detect
    import_path: visionrt.serve:build_app
    args: {model_dir: $root/models/demo/detr-shapes, replicas: 2, threads: 1, cpus_per_replica: 0.5}
EOF
start=$SECONDS
# On a loaded machine Serve's first start can give up on a proxy that is
# slow to come up; deploying again is what an operator would do.
for try in 1 2 3; do
  on_head serve deploy "$work/serve.yaml" >"$work/deploy.log" 2>&1 && break
  ((try < 3)) || { cat "$work/deploy.log" >&2; exit 1; }
  echo "test_serve_cluster: serve deploy failed ($(grep -m1 -o '[A-Za-z]*Error: .*' "$work/deploy.log" | cut -c1-120)); again"
done
on_head python tools/serve_cluster_check.py --hosts 10.77.0.1,10.77.0.2 --deadline 300
echo "test_serve_cluster: deployed and checked in $((SECONDS - start)) s"
