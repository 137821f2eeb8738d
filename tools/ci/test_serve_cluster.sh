#!/usr/bin/env bash
# The README's multi-node recipe, on one machine: two Ray nodes, each in a
# network namespace of its own (10.77.0.1, the head, and 10.77.0.2, joined
# with `ray start --address`), linked by a veth pair. `serve deploy`
# places the two demo models' replicas on both nodes, with an HTTP proxy on
# each (proxy_location: EveryNode), and every answer through either node's
# proxy must equal the package's in-process one. Everything is stopped and
# removed at the end.
#
#   bash tools/ci/test_serve_cluster.sh   # as root, after tools/ci/test_serve.sh
#
# Needs iproute2 and root (network namespaces); uses the virtual
# environment that tools/ci/test_serve.sh made (VISIONRT_VENV, default
# build-venv).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD
venv=$(cd "${VISIONRT_VENV:-build-venv}" && pwd)
((EUID == 0)) || { echo "test_serve_cluster: run as root (network namespaces)" >&2; exit 2; }
"$venv/bin/python" -c 'import ray, visionrt' 2>/dev/null ||
  { echo "test_serve_cluster: $venv lacks visionrt or ray; run tools/ci/test_serve.sh first" >&2; exit 2; }
source tools/setup/apt_packages.sh
install_packages test_serve_cluster iproute2

work=$(mktemp -d /tmp/visionrt-cluster.XXXXXX)
# Ray 2.60 starts clusters with token authentication; the worker node and
# the serve commands read the head's token from ~/.ray/auth_token.
export RAY_AUTH_MODE=token PATH="$venv/bin:$PATH"
# By address: a new system may have no /etc/hosts, and so no "localhost".
dashboard=http://10.77.0.1:8265
# Each node's network namespace is held by a sleeping process and entered
# with nsenter (not `ip netns`, whose exec remounts / and /sys, which a
# chroot cannot do).
holders=()
cleanup() {
  on head serve shutdown -y --address "$dashboard" >/dev/null 2>&1 || true
  # ray stop ends the Ray processes of both nodes: they share this process
  # namespace.
  ray stop --force >/dev/null 2>&1 || true
  ((${#holders[@]})) && kill "${holders[@]}" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
declare -A pid_of
for node in head worker; do
  unshare --net sleep infinity &
  pid_of[$node]=$!
  holders+=($!)
  while [[ $(readlink /proc/$!/ns/net) == $(readlink /proc/$$/ns/net) ]]; do sleep 0.05; done
done
on() { local node=$1; shift; nsenter --net="/proc/${pid_of[$node]}/ns/net" "$@"; }

ip link add vrt-head0 type veth peer name vrt-worker0
ip link set vrt-head0 netns "${pid_of[head]}"
ip link set vrt-worker0 netns "${pid_of[worker]}"
on head ip addr add 10.77.0.1/24 dev vrt-head0
on worker ip addr add 10.77.0.2/24 dev vrt-worker0
for node in head worker; do
  on "$node" ip link set lo up
  on "$node" ip link set "vrt-${node}0" up
done

start=$SECONDS
on head ray start --head --port 6379 --node-ip-address 10.77.0.1 --num-cpus 1 \
  --dashboard-host 0.0.0.0 --disable-usage-stats >"$work/head.log" 2>&1 ||
  { cat "$work/head.log" >&2; exit 1; }
# Both nodes keep their files under Ray's session folder in /tmp, as the
# nodes of a cluster Ray starts on one machine for its own tests do.
on worker ray start --address 10.77.0.1:6379 --node-ip-address 10.77.0.2 --num-cpus 1 \
  --disable-usage-stats >"$work/worker.log" 2>&1 || { cat "$work/worker.log" >&2; exit 1; }
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
  on head serve deploy --address "$dashboard" "$work/serve.yaml" >"$work/deploy.log" 2>&1 && break
  ((try < 3)) || { cat "$work/deploy.log" >&2; exit 1; }
  echo "test_serve_cluster: serve deploy failed ($(grep -m1 -o '[A-Za-z]*Error: .*' "$work/deploy.log" | cut -c1-120)); again"
done
on head python tools/ci/serve_cluster_check.py --hosts 10.77.0.1,10.77.0.2 --deadline 300
echo "test_serve_cluster: deployed and checked in $((SECONDS - start)) s"
