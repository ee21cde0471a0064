#!/usr/bin/env bash
# Coverage-guided fuzzing of appmesh2istio with libFuzzer, on the stable toolchain.
#
# libfuzzer-sys (crates.io) builds libFuzzer from its bundled source with the C++ compiler;
# rustc's stable `-C passes=sancov-module` plus LLVM's sanitizer-coverage options instrument
# our code the way cargo-fuzz does, without its nightly-only `-Z sanitizer` flag (a panic
# aborts, which libFuzzer reports as a crash; there is no AddressSanitizer, which Rust code
# without `unsafe` does not need). The instrumented build is cached under
# ${XDG_CACHE_HOME:-$HOME/.cache}/appmesh2istio/fuzz-target and reused.
#
#   scripts/fuzz.sh build                  build the targets (fuzz_loader, fuzz_pipeline, fuzz_precheck)
#   scripts/fuzz.sh run [SECONDS] [TARGET...]  fuzz each target SECONDS (default 60); exit 1 on a crash
#   scripts/fuzz.sh minimize [TARGET...]   merge the working corpus into crates/fuzz/corpus/ (minimized)
#
# Seeds: crates/fuzz/corpus/TARGET (in the repository, minimized), tests/fixtures/ and, when
# present, ../shared/corpus/appmesh/ (read in place, never copied). New inputs go to a working
# corpus in the cache; a crash is written to crates/fuzz/artifacts/TARGET/ and the run fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

cache="${XDG_CACHE_HOME:-$HOME/.cache}/appmesh2istio"
target_dir="$cache/fuzz-target"
work_corpus="$cache/fuzz-corpus"
triple=$(rustc -vV | sed -n 's/^host: //p')
all_targets=(fuzz_loader fuzz_pipeline fuzz_precheck)

build() {
    # RUSTFLAGS apply to the target only (an explicit --target keeps build scripts and proc
    # macros uninstrumented, as they must be).
    RUSTFLAGS="-C passes=sancov-module \
        -C llvm-args=-sanitizer-coverage-level=4 \
        -C llvm-args=-sanitizer-coverage-inline-8bit-counters \
        -C llvm-args=-sanitizer-coverage-pc-table \
        -C llvm-args=-sanitizer-coverage-trace-compares \
        --cfg fuzzing" \
    CARGO_TARGET_DIR="$target_dir" \
        cargo build --locked --profile fuzz --target "$triple" \
        -p appmesh2istio-fuzz --features libfuzzer --bins
}

binary() { echo "$target_dir/$triple/fuzz/$1"; }

# Per-target libFuzzer options. The structured target builds a whole application from a few
# KB of bytes: start at full length (libFuzzer otherwise grows inputs from a few bytes, and
# a 10-byte input builds an empty application).
options() {
    case "$1" in
    fuzz_pipeline) echo "-max_len=4096 -len_control=0" ;;
    *) echo "-max_len=65536" ;;
    esac
}

# Seed directories of a target: its stored corpus, plus the manifests for the byte targets.
seeds() {
    echo "$root/crates/fuzz/corpus/$1"
    if [ "$1" != fuzz_pipeline ]; then
        echo "$root/tests/fixtures"
        [ -d "$root/../shared/corpus/appmesh" ] && echo "$root/../shared/corpus/appmesh"
    fi
    return 0
}

run() {
    local seconds=$1
    shift
    local targets=("$@")
    [ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
    local failed=0
    for t in "${targets[@]}"; do
        mkdir -p "$work_corpus/$t" "$root/crates/fuzz/corpus/$t" "$root/crates/fuzz/artifacts/$t"
        local -a dirs
        mapfile -t dirs < <(seeds "$t")
        echo "== fuzz $t for ${seconds}s"
        local log="$cache/fuzz-$t.log"
        # -timeout: an input taking over 10 s is a hang; -rss_limit_mb: a memory blow-up;
        # -close_fd_mask=1: our stdout is quiet, stderr keeps the panic message.
        # shellcheck disable=SC2046
        if ! "$(binary "$t")" "$work_corpus/$t" "${dirs[@]}" $(options "$t") \
            -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
            -print_final_stats=1 -close_fd_mask=1 \
            -artifact_prefix="$root/crates/fuzz/artifacts/$t/" >"$log" 2>&1; then
            failed=1
            echo "FAILED: $t found a crash, hang or memory blow-up; log: $log"
            grep -E "panicked at|ERROR: libFuzzer|Test unit written|SUMMARY" "$log" | head -20 || true
        fi
        grep -E "^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*DONE" "$log" | tail -3 || true
    done
    return $failed
}

minimize() {
    local targets=("$@")
    [ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
    for t in "${targets[@]}"; do
        local fresh="$cache/fuzz-minimized-$t"
        rm -rf "$fresh" && mkdir -p "$fresh"
        local -a dirs
        mapfile -t dirs < <(seeds "$t")
        # shellcheck disable=SC2046
        "$(binary "$t")" -merge=1 -timeout=10 $(options "$t") -close_fd_mask=1 \
            "$fresh" "$work_corpus/$t" "${dirs[@]}" >"$cache/fuzz-merge-$t.log" 2>&1
        # The seeds from tests/fixtures and ../shared are read in place: keep no copies.
        local -A seed_sums=()
        local sum
        for sum in $(find "${dirs[@]:1}" -type f -exec sha1sum {} + 2>/dev/null | cut -d' ' -f1); do
            seed_sums[$sum]=1
        done
        rm -rf "$root/crates/fuzz/corpus/$t" && mkdir -p "$root/crates/fuzz/corpus/$t"
        local f
        for f in "$fresh"/*; do
            [ -f "$f" ] || continue
            sum=$(sha1sum "$f" | cut -d' ' -f1)
            [ -n "${seed_sums[$sum]:-}" ] || cp "$f" "$root/crates/fuzz/corpus/$t/"
        done
        echo "$t: $(ls "$root/crates/fuzz/corpus/$t" | wc -l) inputs, $(du -sh "$root/crates/fuzz/corpus/$t" | cut -f1)"
    done
}

case "${1:-}" in
build) build ;;
run)
    shift
    seconds=${1:-60}
    [ $# -gt 0 ] && shift
    build
    run "$seconds" "$@"
    ;;
minimize)
    shift
    build
    minimize "$@"
    ;;
*)
    echo "usage: $0 build | run [SECONDS] [TARGET...] | minimize [TARGET...]" >&2
    exit 2
    ;;
esac
