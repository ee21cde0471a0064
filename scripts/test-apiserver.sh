#!/usr/bin/env bash
# Builds (or reuses from a cache) the real Kubernetes control plane the test
# suite runs against: etcd, kube-apiserver, kube-controller-manager and kubectl.
#
#   scripts/test-apiserver.sh ensure          build or reuse all four binaries
#   scripts/test-apiserver.sh ensure-kubectl  only fetch kubectl (fast)
#   scripts/test-apiserver.sh ensure-current-kubectl
#                                             fetch a current kubectl (Debian trixie's
#                                             binary package); prints its bin dir
#   scripts/test-apiserver.sh bin-dir         print the bin dir (populated or not)
#
# Everything comes from Debian bookworm packages fetched with a PRIVATE apt
# configuration (own sources list, lists and cache dirs): the system's apt
# sources are read, to learn which mirror this machine uses, but never changed,
# and nothing is installed system-wide. The cache is keyed on the Debian
# version of the `kubernetes` source package, so a version bump rebuilds.
# Binaries only ever live in the cache, never in the repository.
#
# Environment:
#   XDG_CACHE_HOME                          cache root (default ~/.cache)
#   APPMESH2ISTIO_K8S_DEBIAN_VERSION        Debian version of `kubernetes` to use
#   APPMESH2ISTIO_DEBIAN_MIRROR             Debian mirror URI (default: read from
#                                           the system's apt sources)
#   APPMESH2ISTIO_DEBIAN_SECURITY_MIRROR    Debian security mirror URI (same)
#   APPMESH2ISTIO_CURRENT_KUBECTL_VERSION   Debian version of trixie's `kubectl`
set -euo pipefail

# Pinned so that `bin-dir` answers without the network and every machine builds
# the same thing; 1.20.2 is the only full Kubernetes tree Debian ships.
K8S_DEBIAN_VERSION="${APPMESH2ISTIO_K8S_DEBIAN_VERSION:-1.20.5+really1.20.2-1.1+deb12u1}"
DEBIAN_SUITE=bookworm
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/appmesh2istio"
KEY_DIR="$CACHE_ROOT/k8s-$K8S_DEBIAN_VERSION"
BIN_DIR="$KEY_DIR/bin"
APT_DIR="$CACHE_ROOT/apt"
CONTROL_PLANE_BINARIES=(etcd kube-apiserver kube-controller-manager kubectl)
# The plugin tests also run under a kubectl as current as the EKS versions in support
# (1.20 predates them all, and plugin completion needs 1.26+). Debian ships it as a binary
# package from trixie on; pinned like the control plane, cached under its own key.
CURRENT_KUBECTL_VERSION="${APPMESH2ISTIO_CURRENT_KUBECTL_VERSION:-1.32.3+ds-2}"
CURRENT_KUBECTL_SUITE=trixie
CURRENT_KUBECTL_DIR="$CACHE_ROOT/kubectl-$CURRENT_KUBECTL_VERSION"
# deb-src lines are only needed to build the control plane.
WANT_SOURCES=1

log() { printf '[test-apiserver] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

have_binaries() {
    local name
    for name in "$@"; do
        [[ -x "$BIN_DIR/$name" ]] || return 1
    done
}

# Prints "main-uri security-uri" for the Debian archive this machine uses,
# from deb822 (*.sources) and one-line (*.list) apt sources.
system_debian_mirrors() {
    local files=()
    [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
    local f
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] && files+=("$f")
    done
    ((${#files[@]})) || return 0
    awk '
        function consider(uri, suite) {
            if (suite ~ /^[a-z]+-security$/ && sec == "") sec = uri
            else if (suite ~ /^[a-z]+$/ && uri ~ /debian/ && main == "") main = uri
        }
        function flush(   n, i, s) {
            if (uris != "" && types ~ /deb/) {
                n = split(suites, s, /[ \t]+/)
                for (i = 1; i <= n; i++) if (s[i] != "") consider(uris, s[i])
            }
            uris = ""; suites = ""; types = ""
        }
        FNR == 1 { flush() }
        FILENAME ~ /\.sources$/ {
            if ($0 ~ /^[ \t]*$/) { flush(); next }
            if ($1 == "Types:") { $1 = ""; types = $0 }
            if ($1 == "URIs:") uris = $2
            if ($1 == "Suites:") { $1 = ""; suites = $0 }
            next
        }
        /^deb[ \t]/ {
            flush()
            i = 2
            if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            consider($i, $(i + 1))
        }
        END { flush(); print main, sec }
    ' "${files[@]}"
}

write_private_apt_config() {
    local mirrors main_uri security_uri keyring
    mirrors="$(system_debian_mirrors)"
    main_uri="${APPMESH2ISTIO_DEBIAN_MIRROR:-${mirrors%% *}}"
    security_uri="${APPMESH2ISTIO_DEBIAN_SECURITY_MIRROR:-${mirrors#* }}"
    [[ -n "$main_uri" ]] || die "no Debian mirror found in /etc/apt/sources*; set APPMESH2ISTIO_DEBIAN_MIRROR"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [[ -f "$keyring" ]] || die "$keyring is missing (package debian-archive-keyring)"

    mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/etc/preferences.d"
    {
        local suite
        for suite in "$DEBIAN_SUITE" "$DEBIAN_SUITE-updates"; do
            printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$main_uri" "$suite"
            ((WANT_SOURCES)) && printf 'deb-src [signed-by=%s] %s %s main\n' "$keyring" "$main_uri" "$suite"
        done
        if [[ -n "$security_uri" ]]; then
            printf 'deb [signed-by=%s] %s %s-security main\n' "$keyring" "$security_uri" "$DEBIAN_SUITE"
            ((WANT_SOURCES)) && printf 'deb-src [signed-by=%s] %s %s-security main\n' "$keyring" "$security_uri" "$DEBIAN_SUITE"
        fi
        true
    } >"$APT_DIR/etc/sources.list.new"
    mv "$APT_DIR/etc/sources.list.new" "$APT_DIR/etc/sources.list"
    cat >"$APT_DIR/etc/apt.conf" <<EOF
Dir::Etc::SourceList "$APT_DIR/etc/sources.list";
Dir::Etc::SourceParts "$APT_DIR/etc/sources.list.d";
Dir::Etc::PreferencesParts "$APT_DIR/etc/preferences.d";
Dir::State::Lists "$APT_DIR/lists";
Dir::Cache "$APT_DIR/cache";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Get::AllowUnauthenticated "false";
EOF
    mkdir -p "$APT_DIR/etc/sources.list.d"
}

private_apt() {
    # APT_CONFIG replaces apt.conf only; the system's apt.conf.d still applies,
    # which keeps proxies and similar machine settings working.
    APT_CONFIG="$APT_DIR/etc/apt.conf" "$@"
}

apt_update_once() {
    [[ -n "${APT_UPDATED:-}" ]] && return 0
    write_private_apt_config
    log "apt-get update (private configuration in $APT_DIR)"
    private_apt apt-get -q update >&2 || die "apt-get update with the private configuration failed"
    APT_UPDATED=1
}

# Downloads PACKAGE (optionally =VERSION) into DIR and unpacks it into ROOT.
fetch_and_unpack() {
    local spec="$1" download_dir="$2" root="$3"
    mkdir -p "$download_dir" "$root"
    log "downloading $spec"
    (cd "$download_dir" && private_apt apt-get -q download "$spec" >&2) || die "apt-get download $spec failed"
    local name="${spec%%=*}" deb
    for deb in "$download_dir/${name}"_*.deb; do
        [[ -f "$deb" ]] || die "downloaded .deb for $name not found"
        dpkg -x "$deb" "$root"
    done
}

install_binary() {
    local source="$1" name="$2"
    [[ -x "$source" ]] || die "$source was not produced"
    mkdir -p "$BIN_DIR"
    cp "$source" "$BIN_DIR/.$name.tmp.$$"
    chmod 0755 "$BIN_DIR/.$name.tmp.$$"
    mv -f "$BIN_DIR/.$name.tmp.$$" "$BIN_DIR/$name"
}

ensure_kubectl_locked() {
    have_binaries kubectl && return 0
    apt_update_once
    local work="$KEY_DIR/work/kubectl"
    rm -rf "$work"
    fetch_and_unpack "kubernetes-client=$K8S_DEBIAN_VERSION" "$work/debs" "$work/root"
    install_binary "$work/root/usr/bin/kubectl" kubectl
    rm -rf "$work"
    log "kubectl ready in $BIN_DIR"
}

# A current kubectl: the same private apt machinery, pointed at trixie, with its own apt
# state and cache key (a subshell, so the bookworm settings stay as they are).
ensure_current_kubectl_locked() {
    [[ -x "$CURRENT_KUBECTL_DIR/bin/kubectl" ]] && return 0
    (
        APT_DIR="$CACHE_ROOT/apt-$CURRENT_KUBECTL_SUITE"
        DEBIAN_SUITE="$CURRENT_KUBECTL_SUITE"
        BIN_DIR="$CURRENT_KUBECTL_DIR/bin"
        WANT_SOURCES=0
        # A fresh `ensure` has already run apt-get update for bookworm in this process; the
        # trixie configuration still has to be written and updated.
        APT_UPDATED=
        apt_update_once
        local work="$CURRENT_KUBECTL_DIR/work"
        rm -rf "$work"
        fetch_and_unpack "kubectl=$CURRENT_KUBECTL_VERSION" "$work/debs" "$work/root"
        install_binary "$work/root/usr/bin/kubectl" kubectl
        rm -rf "$work"
        "$BIN_DIR/kubectl" version --client >/dev/null || die "the fetched kubectl does not run"
        log "kubectl $CURRENT_KUBECTL_VERSION ready in $BIN_DIR"
    )
}

# rsync is the one build tool a fresh machine of this kind lacks; the
# Kubernetes Makefile only needs it locally, so a private copy on PATH will do.
provide_rsync() {
    local root="$1" tools_bin="$2"
    mkdir -p "$tools_bin"
    if command -v rsync >/dev/null 2>&1; then
        return 0
    fi
    local pkg
    fetch_and_unpack rsync "$root/debs" "$root/rsync"
    for pkg in libpopt0 libxxhash0 liblz4-1 libzstd1 libacl1 libssl3; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            fetch_and_unpack "$pkg" "$root/debs" "$root/rsync"
        fi
    done
    local libs="$root/rsync/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo "$(uname -m)-linux-gnu")"
    cat >"$tools_bin/rsync" <<EOF
#!/bin/sh
LD_LIBRARY_PATH="$libs:$root/rsync/lib/\$(basename "$libs")\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$root/rsync/usr/bin/rsync" "\$@"
EOF
    chmod +x "$tools_bin/rsync"
    "$tools_bin/rsync" --version >/dev/null || die "the private rsync does not run"
}

ensure_all_locked() {
    ensure_kubectl_locked
    if have_binaries "${CONTROL_PLANE_BINARIES[@]}"; then
        return 0
    fi
    local started=$SECONDS
    apt_update_once
    local work="$KEY_DIR/work"
    local root="$work/root" tools_bin="$work/tools-bin"
    rm -rf "$root" "$work/src" "$work/debs"
    mkdir -p "$root" "$work/src"

    provide_rsync "$work" "$tools_bin"
    local pkg
    for pkg in golang-1.19-go golang-1.19-src etcd-server golang-github-modern-go-reflect2-dev; do
        fetch_and_unpack "$pkg" "$work/debs" "$root"
    done

    log "downloading the kubernetes $K8S_DEBIAN_VERSION source package"
    (cd "$work/src" && private_apt apt-get -q source --download-only "kubernetes=$K8S_DEBIAN_VERSION" >&2) ||
        die "apt-get source kubernetes=$K8S_DEBIAN_VERSION failed"
    local orig
    orig="$(ls "$work/src"/kubernetes_*.orig.tar.gz 2>/dev/null | head -n1)"
    [[ -n "$orig" ]] || die "no kubernetes orig tarball was downloaded"
    tar -xzf "$orig" -C "$work/src"
    local tree
    tree="$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)"
    [[ -n "$tree" && -d "$tree/cmd/kube-apiserver" ]] || die "the kubernetes source tree has no cmd/kube-apiserver"

    # reflect2 1.0.1 (vendored) crashes on the first custom-resource create
    # when built with Go >= 1.18; Debian's 1.0.2 is the fixed release.
    local reflect2_src="$root/usr/share/gocode/src/github.com/modern-go/reflect2"
    [[ -d "$reflect2_src" ]] || die "reflect2 source not found in golang-github-modern-go-reflect2-dev"
    rm -rf "$tree/vendor/github.com/modern-go/reflect2"
    cp -rL "$reflect2_src" "$tree/vendor/github.com/modern-go/reflect2"
    rm -f "$tree/vendor/github.com/modern-go/reflect2/go.mod" "$tree"/vendor/github.com/modern-go/reflect2/*_test.go

    local goroot="$root/usr/lib/go-1.19"
    [[ -x "$goroot/bin/go" ]] || die "go 1.19 not found in $goroot"
    log "building kube-apiserver and kube-controller-manager (about 8 minutes on 2 cores)"
    (
        cd "$tree"
        export GOROOT="$goroot" PATH="$goroot/bin:$tools_bin:$PATH"
        export GOPROXY=off GOFLAGS= CGO_ENABLED=0 GOTOOLCHAIN=local
        export GOCACHE="$work/gocache" GOPATH="$work/gopath"
        make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >&2
    ) || die "the kubernetes build failed"

    local goarch
    goarch="$("$goroot/bin/go" env GOARCH)"
    local out="$tree/_output/local/bin/linux/$goarch"
    install_binary "$root/usr/bin/etcd" etcd
    install_binary "$out/kube-controller-manager" kube-controller-manager
    # kube-apiserver last: tests treat it as the sign the build finished.
    install_binary "$out/kube-apiserver" kube-apiserver
    {
        echo "kubernetes $K8S_DEBIAN_VERSION"
        dpkg-deb -f "$(ls "$work/debs"/etcd-server_*.deb | head -n1)" Version | sed 's/^/etcd-server /'
        dpkg-deb -f "$(ls "$work/debs"/golang-1.19-go_*.deb | head -n1)" Version | sed 's/^/golang-1.19-go /'
        echo "built-in-seconds $((SECONDS - started))"
    } >"$KEY_DIR/BUILD-INFO"
    rm -rf "$work"
    log "control plane ready in $BIN_DIR (built in $((SECONDS - started)) s)"
}

with_lock() {
    mkdir -p "$KEY_DIR"
    exec 9>"$KEY_DIR/.lock"
    if ! flock -n 9; then
        log "another build holds $KEY_DIR/.lock; waiting"
        flock 9
    fi
    "$@"
}

main() {
    (($# == 1)) || usage
    case "$1" in
    bin-dir) ;;
    ensure-kubectl)
        have_binaries kubectl || with_lock ensure_kubectl_locked
        ;;
    ensure-current-kubectl)
        [[ -x "$CURRENT_KUBECTL_DIR/bin/kubectl" ]] || with_lock ensure_current_kubectl_locked
        printf '%s\n' "$CURRENT_KUBECTL_DIR/bin"
        return 0
        ;;
    ensure)
        have_binaries "${CONTROL_PLANE_BINARIES[@]}" || with_lock ensure_all_locked
        [[ -x "$CURRENT_KUBECTL_DIR/bin/kubectl" ]] || with_lock ensure_current_kubectl_locked
        ;;
    -h | --help | help) usage ;;
    *) usage ;;
    esac
    printf '%s\n' "$BIN_DIR"
}

main "$@"
