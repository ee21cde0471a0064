#!/usr/bin/env bash
# The whole App Mesh -> Istio migration on a real (local) cluster, through the
# real kubectl plugin mechanism:
#
#   scripts/demo.sh
#
# 1. builds (or reuses) etcd, kube-apiserver, kube-controller-manager, kubectl
#    (scripts/test-apiserver.sh) and this workspace's binaries;
# 2. starts a test cluster with the App Mesh "before" state (an online shop:
#    4 meshed namespaces, 8 virtual services, a VirtualGateway, pods carrying
#    App Mesh sidecars) via scripts/test-cluster.sh;
# 3. runs `kubectl appmesh2istio precheck`, `convert --apply --yes`, `label`,
#    `rollout` with target/debug on PATH, printing each step's output;
#    a subcommand that does not exist yet is reported as "not available yet";
# 4. stops everything, also on Ctrl-C or failure.
#
# Extra arguments per step: DEMO_PRECHECK_ARGS (default --skip AMI3002), DEMO_CONVERT_ARGS,
# DEMO_LABEL_ARGS, DEMO_ROLLOUT_ARGS. DEMO_PROFILE=release uses release builds.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
profile="${DEMO_PROFILE:-debug}"
# Where cargo puts binaries: CARGO_TARGET_DIR when set, as cargo itself does.
target_dir="${CARGO_TARGET_DIR:-$root/target}"
work="$(mktemp -d)"
export APPMESH2ISTIO_TEST_CLUSTER_STATE="$work/cluster"
failures=0

# Bold banners only on a terminal, and never with NO_COLOR set (https://no-color.org).
if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
    banner() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    banner() { printf '\n== %s\n' "$*"; }
fi
show() {
    printf '$ %s\n' "$*" >&2
    local status=0
    "$@" || status=$?
    if ((status != 0)); then
        printf '(exit code %d)\n' "$status" >&2
    fi
    return "$status"
}

cleanup() {
    banner "Stopping the cluster"
    "$root/scripts/test-cluster.sh" down || true
    rm -rf "$work"
}
trap cleanup EXIT

banner "Binaries"
bin_dir="$("$root/scripts/test-apiserver.sh" ensure)"
cargo_flags=(--quiet)
[[ "$profile" == release ]] && cargo_flags+=(--release)
(cd "$root" && cargo build "${cargo_flags[@]}" -p test-cluster --bin test-cluster)
# Each plugin on its own: one that does not compile must not stop the demo.
for crate_dir in "$root"/crates/kubectl-appmesh2istio*/; do
    package="$(basename "$crate_dir")"
    if ! (cd "$root" && cargo build "${cargo_flags[@]}" -p "$package" 2>"$work/build-$package.log"); then
        if [[ -x "$target_dir/$profile/$package" ]]; then
            echo "warning: $package does not build now; using the binary from its last successful build" >&2
        else
            echo "warning: $package does not build; skipping it (see below)" >&2
        fi
        grep -m 5 -E '^error' "$work/build-$package.log" >&2 || true
    fi
done
export PATH="$target_dir/$profile:$bin_dir:$PATH"
echo "kubectl: $(command -v kubectl) ($(kubectl version --client --short 2>/dev/null || kubectl version --client | head -n1))"
plugins=$(cd "$target_dir/$profile" && ls kubectl-appmesh2istio* 2>/dev/null | grep -v '\.d$' || true)
echo "plugins on PATH: $(echo $plugins)"

banner "Cluster with the App Mesh before state"
eval "$("$root/scripts/test-cluster.sh" up --before-state)"
export KUBECONFIG
show kubectl get meshes,virtualgateways,virtualservices.appmesh.k8s.aws -A
show kubectl get pods -A -o custom-columns='NAMESPACE:.metadata.namespace,POD:.metadata.name,CONTAINERS:.spec.containers[*].name,STATUS:.status.phase'

has() { [[ -x "$target_dir/$profile/kubectl-appmesh2istio-$1" ]]; }
step() {
    local name="$1"
    shift
    banner "kubectl appmesh2istio $name"
    if ! has "$name"; then
        echo "kubectl appmesh2istio $name: not available yet"
        return 0
    fi
    local status=0
    show kubectl appmesh2istio "$name" "$@" || status=$?
    # precheck's exit 5 means "it found blockers", which is its report, not a failed step.
    if ((status == 5)) && [[ "$name" == precheck ]]; then
        echo "precheck found something to fix before migrating (exit 5); the demo goes on to show the next steps"
    # convert's exit 3 means "partial": the example app holds one object that cannot be
    # converted (its report says which); everything else was applied.
    elif ((status == 3)) && [[ "$name" == convert ]]; then
        echo "convert applied everything it could convert; the report lists what it could not (exit 3)"
    elif ((status != 0)); then
        failures=$((failures + 1))
    fi
}

# The test apiserver is Kubernetes 1.20, older than Istio 1.30 supports:
# precheck rightly reports that (AMI3002); the demo skips that one check.
# shellcheck disable=SC2086 # the DEMO_*_ARGS are word lists on purpose
step precheck ${DEMO_PRECHECK_ARGS:---skip AMI3002}

if has convert && kubectl appmesh2istio convert --help 2>/dev/null | grep -q -- '--apply'; then
    # convert writes mesh-wide objects into istio-system, which `istioctl install` would have
    # created; the demo cluster has no Istio control plane. The undo file goes with the cluster.
    kubectl create namespace istio-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
    # shellcheck disable=SC2086
    step convert --apply --yes --undo-file "$work/appmesh2istio-undo.yaml" ${DEMO_CONVERT_ARGS:-}
elif has convert; then
    banner "kubectl appmesh2istio convert (from the live App Mesh objects)"
    echo "convert --apply: not available yet; converting exported objects and applying with kubectl"
    kubectl get meshes,virtualnodes,virtualservices,virtualrouters,virtualgateways,gatewayroutes,backendgroups,namespaces,services,deployments -A -o yaml >"$work/appmesh.yaml"
    # shellcheck disable=SC2086
    convert_status=0
    show kubectl appmesh2istio convert -f "$work/appmesh.yaml" ${DEMO_CONVERT_ARGS:-} >"$work/istio.yaml" || convert_status=$?
    # 3 is partial: what could be converted is in istio.yaml.
    if ((convert_status == 0 || convert_status == 3)); then
        count="$(grep -c '^kind:' "$work/istio.yaml" || true)"
        if ((count == 0)); then
            echo "convert wrote no objects (see its report above); nothing to apply"
        else
            echo "--- $count generated Istio objects:"
            grep -E '^kind:' "$work/istio.yaml" | sort | uniq -c || true
            show kubectl apply --server-side --field-manager=appmesh2istio-demo -f "$work/istio.yaml" ||
                failures=$((failures + 1))
        fi
    else
        failures=$((failures + 1))
    fi
else
    banner "kubectl appmesh2istio convert"
    echo "kubectl appmesh2istio convert: not available yet"
fi

# shellcheck disable=SC2086
step label ${DEMO_LABEL_ARGS:-}
# shellcheck disable=SC2086
step rollout ${DEMO_ROLLOUT_ARGS:-}

banner "After"
show kubectl get namespaces -L istio-injection,istio.io/rev,appmesh.k8s.aws/sidecarInjectorWebhook
show kubectl get pods -A -o custom-columns='NAMESPACE:.metadata.namespace,POD:.metadata.name,CONTAINERS:.spec.containers[*].name,STATUS:.status.phase'
show kubectl get virtualservices.networking.istio.io,destinationrules,gateways.networking.istio.io,peerauthentications -A || true

if ((failures > 0)); then
    banner "$failures step(s) failed"
    exit 1
fi
banner "Done"
