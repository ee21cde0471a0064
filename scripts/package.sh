#!/usr/bin/env bash
# Packages appmesh2istio for krew: one archive per os/arch holding every
# kubectl-appmesh2istio* binary the workspace builds, LICENSE and (not on Windows) the
# kubectl_complete-appmesh2istio helper, plus the krew manifest that points at the archives.
#
# Usage: scripts/package.sh [MODE] [OPTIONS]
#   (no MODE)  build release binaries for --target, archive them, write the manifest
#   archive    archive binaries already built in --bin-dir (the tests use debug builds)
#   manifest   only write the manifest, from the archives of this version found in --out
#              (the release workflow gathers every platform's archive first)
# Options:
#   --target TRIPLE   Rust target (default: the host's); decides os/arch and the .exe suffix
#   --bin-dir DIR     where the built binaries are (archive mode only)
#   --out DIR         output directory (default: dist/)
#   --version X.Y.Z   release version (default: [workspace.package] version in Cargo.toml)
#   --base-url URL    where the archives will be downloaded from
#                     (default: <repository>/releases/download/v<version>)
# Writes <out>/kubectl-appmesh2istio-v<version>-<os>-<arch>.tar.gz, its .sha256 and
# <out>/appmesh2istio.yaml (named after the plugin, as krew requires). Copy that manifest
# to krew/appmesh2istio.yaml to update the committed one.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
plugin=appmesh2istio
prefix=kubectl-$plugin

die() { echo "package.sh: $*" >&2; exit 1; }

mode=build target="" bin_dir="" out="$root/dist" version="" base_url=""
case "${1:-}" in
  archive | manifest) mode=$1; shift ;;
esac
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target=${2:?}; shift 2 ;;
    --bin-dir) bin_dir=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --version) version=${2:?}; shift 2 ;;
    --base-url) base_url=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# Reads KEY from the [workspace.package] table of the root Cargo.toml.
workspace_field() {
  awk -v key="$1" '
    /^\[/ { in_pkg = ($0 == "[workspace.package]") }
    in_pkg && $1 == key { sub(/^[^=]*= *"/, ""); sub(/".*$/, ""); print; exit }
  ' "$root/Cargo.toml"
}
[ -n "$version" ] || version=$(workspace_field version)
[ -n "$version" ] || die "no version in [workspace.package] of Cargo.toml"
homepage=$(workspace_field homepage)
[ -n "$base_url" ] || base_url="$(workspace_field repository)/releases/download/v$version"
mkdir -p "$out"
out=$(cd "$out" && pwd)

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1
}

# krew names platforms after Go's GOOS/GOARCH, not Rust target triples.
platform_of() {
  local os arch
  case "$1" in
    *-linux-*) os=linux ;;
    *-apple-darwin) os=darwin ;;
    *-windows-*) os=windows ;;
    *) die "no krew os for target $1" ;;
  esac
  case "$1" in
    x86_64-*) arch=amd64 ;;
    aarch64-*) arch=arm64 ;;
    i686-*) arch=386 ;;
    *) die "no krew arch for target $1" ;;
  esac
  echo "$os $arch"
}

archive_name() { echo "$prefix-v$version-$1-$2.tar.gz"; }

write_manifest() {
  local manifest="$out/$plugin.yaml" os arch name found=0 exe
  sed -e '/^#/d' -e "s|{{VERSION}}|$version|g" -e "s|{{HOMEPAGE}}|$homepage|g" \
    "$root/krew/$plugin.yaml.tmpl" >"$manifest.tmp"
  # One fixed order, so the manifest does not depend on which job finished first.
  for platform in darwin/amd64 darwin/arm64 linux/amd64 linux/arm64 windows/amd64; do
    os=${platform%/*} arch=${platform#*/}
    name=$(archive_name "$os" "$arch")
    [ -f "$out/$name" ] || continue
    exe=""; [ "$os" = windows ] && exe=.exe
    cat >>"$manifest.tmp" <<EOF
  - selector:
      matchLabels:
        os: $os
        arch: $arch
    uri: $base_url/$name
    sha256: $(sha256 "$out/$name")
    bin: $prefix$exe
EOF
    found=$((found + 1))
  done
  [ "$found" -gt 0 ] || die "no $prefix-v$version-*.tar.gz archive in $out"
  mv "$manifest.tmp" "$manifest"
  echo "manifest: $manifest ($found platform(s))"
}

if [ "$mode" = manifest ]; then
  write_manifest
  exit 0
fi

[ -n "$target" ] || target=$(rustc -vV | sed -n 's/^host: //p')
read -r os arch <<<"$(platform_of "$target")"
exe=""; [ "$os" = windows ] && exe=.exe

# Every crates/kubectl-appmesh2istio* package is one binary named like the package.
packages=()
for manifest in "$root"/crates/"$prefix"*/Cargo.toml; do
  packages+=("$(awk '/^\[/ { p = ($0 == "[package]") } p && $1 == "name" { gsub(/[" ]/, "", $3); print $3; exit }' "$manifest")")
done
[ ${#packages[@]} -gt 0 ] || die "no crates/$prefix* packages"

if [ "$mode" = build ]; then
  pkg_args=()
  for p in "${packages[@]}"; do pkg_args+=(-p "$p"); done
  # The dist profile in Cargo.toml (full LTO, codegen-units=1, strip) keeps them small.
  cargo build --manifest-path "$root/Cargo.toml" --profile dist --locked --target "$target" "${pkg_args[@]}"
  bin_dir="${CARGO_TARGET_DIR:-$root/target}/$target/dist"
fi
[ -n "$bin_dir" ] || die "archive mode needs --bin-dir"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for p in "${packages[@]}"; do
  [ -f "$bin_dir/$p$exe" ] || die "$bin_dir/$p$exe is missing: build it first"
  cp "$bin_dir/$p$exe" "$stage/"
  chmod 0755 "$stage/$p$exe"
done
cp "$root/LICENSE" "$stage/LICENSE"
chmod 0644 "$stage/LICENSE"
if [ "$os" != windows ]; then
  cp "$root/crates/$prefix/kubectl_complete-$plugin" "$stage/"
  chmod 0755 "$stage/kubectl_complete-$plugin"
fi

name=$(archive_name "$os" "$arch")
# With GNU tar, fix order, owner and times so the same binaries give the same archive.
tar_flags=()
case "$(tar --version 2>/dev/null)" in
  *"GNU tar"*)
    epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}
    tar_flags=(--sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch")
    ;;
esac
# Files at the archive root: krew's default `files` copies everything and `bin` is a plain name.
(cd "$stage" && tar ${tar_flags[@]+"${tar_flags[@]}"} -cf - -- *) | gzip -9n >"$out/$name"
sum=$(sha256 "$out/$name")
echo "$sum  $name" >"$out/$name.sha256"

echo "archive: $out/$name ($os/$arch, $(wc -c <"$out/$name" | tr -d ' ') bytes)"
for f in "$stage"/*; do
  printf '  %-40s %10s bytes\n' "${f##*/}" "$(wc -c <"$f" | tr -d ' ')"
done
echo "sha256: $sum"
write_manifest
