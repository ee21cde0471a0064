//! The fuzz properties (`appmesh2istio_fuzz`) on every stored input, in the normal test suite:
//! the minimized corpus of each target (`crates/fuzz/corpus/`), every crash the fuzzers found
//! (`crates/fuzz/regressions/`, each fixed in the library), the conversion fixtures and the
//! real-world App Mesh corpus in `../shared/corpus/appmesh/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use appmesh2istio_fuzz::{
    Outcome, check_loader, check_precheck_offline, check_structured_bytes, sources_of,
};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

type Check = fn(&[u8]) -> Result<Outcome, String>;

const TARGETS: &[(&str, Check)] = &[
    ("fuzz_loader", check_loader),
    ("fuzz_pipeline", check_structured_bytes),
    ("fuzz_precheck", check_precheck_offline),
];

/// Run `check` on every file of `dirs`; returns the outcomes, panicking with every broken
/// property (and the file) at once.
fn run_all(check: Check, files: &[PathBuf]) -> Vec<Outcome> {
    let mut broken = Vec::new();
    let mut outcomes = Vec::new();
    for file in files {
        let data = std::fs::read(file).unwrap();
        match check(&data) {
            Ok(o) => outcomes.push(o),
            Err(why) => broken.push(format!("{}: {why}", file.display())),
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    outcomes
}

#[test]
fn every_crash_found_keeps_the_properties_now() {
    let mut count = 0;
    for (target, check) in TARGETS {
        let files = files_under(&crate_dir().join("regressions").join(target));
        count += files.len();
        run_all(*check, &files);
    }
    assert!(count > 0, "no regression inputs found");
}

#[test]
fn stored_corpus_keeps_the_properties() {
    for (target, check) in TARGETS {
        let files = files_under(&crate_dir().join("corpus").join(target));
        assert!(!files.is_empty(), "no stored corpus for {target}");
        let outcomes = run_all(*check, &files);
        // The corpus is there to reach deep: some of it converts.
        assert!(
            outcomes
                .iter()
                .any(|o| matches!(o, Outcome::Converted { objects } if *objects > 0)),
            "nothing in the {target} corpus got through the whole pipeline"
        );
    }
}

#[test]
fn conversion_fixtures_convert_through_the_fuzz_checks() {
    let fixtures = crate_dir().join("../../tests/fixtures/convert");
    let inputs: Vec<PathBuf> = files_under(&fixtures)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "input.yaml"))
        .collect();
    assert!(
        inputs.len() > 30,
        "fixtures not found under {}",
        fixtures.display()
    );
    let outcomes = run_all(check_loader, &inputs);
    let converted = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Converted { objects } if *objects > 0))
        .count();
    assert!(
        converted * 10 >= inputs.len() * 9,
        "only {converted} of {} fixtures converted",
        inputs.len()
    );
    run_all(check_precheck_offline, &inputs);
}

#[test]
fn shared_corpus_keeps_the_properties() {
    let dir = crate_dir().join("../../../shared/corpus/appmesh");
    if !dir.is_dir() {
        eprintln!("skipped: {} not present", dir.display());
        return;
    }
    let files: Vec<PathBuf> = files_under(&dir)
        .into_iter()
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        })
        .collect();
    assert!(
        files.len() > 100,
        "{} files in the shared corpus",
        files.len()
    );
    let outcomes = run_all(check_loader, &files);
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Refused(_)))
        .count();
    // Many are templates or broken (INDEX.md): refused, with a location; the rest convert.
    assert!(
        refused > 0 && refused < files.len(),
        "{refused} of {} refused",
        files.len()
    );
    run_all(check_precheck_offline, &files);
}

#[test]
fn a_refusal_names_the_source_and_line() {
    let outcome = check_loader(b"apiVersion: v1\nkind: [\n").unwrap();
    let Outcome::Refused(message) = outcome else {
        panic!("invalid YAML was not refused: {outcome:?}");
    };
    assert!(
        message.starts_with("fuzz-input.yaml:2:") || message.starts_with("fuzz-input.yaml:3:"),
        "{message}"
    );
    // A leading `\0\0` splits the input into several sources at NUL bytes: the error names
    // the source that holds the bad text.
    let data = b"\0\0apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n\x00kind: [\n";
    assert_eq!(sources_of(data).len(), 2);
    let Outcome::Refused(message) = check_loader(data).unwrap() else {
        panic!("the bad second source was not refused");
    };
    assert!(message.starts_with("fuzz-input-1.yaml:"), "{message}");
}
