#!/usr/bin/env bash
# Starts or stops a real test cluster (etcd, kube-apiserver 1.20,
# kube-controller-manager, injector webhooks, kubelet stand-in) for manual use.
#
#   scripts/test-cluster.sh up [--before-state] [--app NAME]   start; prints KUBECONFIG
#   scripts/test-cluster.sh down                                stop it
#   scripts/test-cluster.sh status                              is it running?
#   scripts/test-cluster.sh before-state [--app NAME]           print the App Mesh fixture
#
# The cluster runs in the background under the `test-cluster` binary of this
# workspace (crates/test-cluster); it stops every process it started on
# `down`, and its watchdog does so too if the binary is killed.
# State: ${APPMESH2ISTIO_TEST_CLUSTER_STATE:-${XDG_RUNTIME_DIR:-/tmp}/appmesh2istio-test-cluster-$UID}
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
state="${APPMESH2ISTIO_TEST_CLUSTER_STATE:-${XDG_RUNTIME_DIR:-/tmp}/appmesh2istio-test-cluster-$(id -u)}"
kubeconfig="$state/kubeconfig"

log() { printf '[test-cluster] %s\n' "$*" >&2; }

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

running_pid() {
    local pid
    pid="$(cat "$state/pid" 2>/dev/null || true)"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

build_binary() {
    log "building the test-cluster binary"
    (cd "$root" && cargo build --quiet -p test-cluster --bin test-cluster >&2)
    echo "${CARGO_TARGET_DIR:-$root/target}/debug/test-cluster"
}

up() {
    if pid="$(running_pid)"; then
        log "already running (pid $pid)"
        echo "export KUBECONFIG=$kubeconfig"
        return 0
    fi
    "$root/scripts/test-apiserver.sh" ensure >/dev/null
    local binary
    binary="$(build_binary)"
    mkdir -p "$state"
    rm -f "$state/ready" "$kubeconfig"
    log "starting (log: $state/log)"
    nohup "$binary" up --kubeconfig-out "$kubeconfig" "$@" >"$state/ready" 2>"$state/log" </dev/null &
    echo $! >"$state/pid"
    local waited=0
    until grep -q '^READY ' "$state/ready" 2>/dev/null; do
        if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
            log "the cluster failed to start:"
            tail -n 30 "$state/log" >&2
            rm -f "$state/pid"
            exit 1
        fi
        sleep 0.2
        waited=$((waited + 1))
        if ((waited > 1500)); then
            log "not ready after 300 s; see $state/log"
            exit 1
        fi
    done
    grep '^test-cluster:' "$state/log" >&2 || true
    echo "export KUBECONFIG=$kubeconfig"
}

down() {
    local pid
    if ! pid="$(running_pid)"; then
        log "not running"
        rm -f "$state/pid"
        return 0
    fi
    kill -TERM "$pid"
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not stop; killing it (its watchdog stops the cluster)"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$state/pid" "$state/ready" "$kubeconfig"
    log "stopped"
}

(($# >= 1)) || usage
command="$1"
shift
case "$command" in
up) up "$@" ;;
down) down ;;
status)
    if pid="$(running_pid)"; then
        echo "running (pid $pid), KUBECONFIG=$kubeconfig"
    else
        echo "not running"
        exit 1
    fi
    ;;
before-state) "$(build_binary)" before-state "$@" ;;
*) usage ;;
esac
