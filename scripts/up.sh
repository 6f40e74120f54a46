#!/usr/bin/env bash
# make up: run the k8ts API server on the embedded store in the foreground, and say how to use kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."
home="${K8TS_HOME:-$HOME/.k8ts}"
dir="$home/default/server"
mkdir -p "$dir"
echo "k8ts: starting the API server (embedded SQLite store) with data in $dir"
echo "k8ts: in another shell:  export KUBECONFIG=$dir/kubeconfig; kubectl get ns"
echo "k8ts: stop it with Ctrl-C; remove its state with: rm -rf $dir"
exec ./bin/k8ts server --data-dir "$dir" --listen 127.0.0.1:6443
