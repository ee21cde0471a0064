//! Loads every real-world App Mesh manifest of the shared corpus (`../shared/corpus/appmesh`,
//! beside the workspace). Many are templates or broken YAML: each file must either load, or fail
//! with a `LoadError` naming the file and a line. Nothing may panic. Resolution runs on what
//! loads, for the same reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use appmesh2istio::load::{InputSource, LoadError, LoadOptions, load_sources};
use appmesh2istio::resolve::resolve;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/appmesh")
}

fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            for inner in std::fs::read_dir(&path).unwrap() {
                let inner = inner.unwrap().path();
                if inner.is_file() {
                    files.push(inner);
                }
            }
        }
    }
    files.sort();
    files
}

/// `path:LINE` with a 1-based line right after the file name.
fn names_file_and_line(message: &str, path: &Path) -> bool {
    let shown = path.display().to_string();
    message
        .strip_prefix(&shown)
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|rest| {
            rest.chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() && c != '0')
        })
}

#[test]
fn every_corpus_file_loads_or_fails_with_file_and_line() {
    let dir = corpus_dir();
    if !dir.is_dir() {
        eprintln!(
            "skipping: corpus not found at {} (../shared is absent)",
            dir.display()
        );
        return;
    }
    let files = corpus_files(&dir);
    // CORPUS_VERBOSE=1 lists every error and input finding.
    let verbose = std::env::var_os("CORPUS_VERBOSE").is_some();
    assert!(
        files.len() >= 100,
        "expected the corpus's ~143 files, found {}",
        files.len()
    );
    let mut loaded = 0;
    let mut failed: BTreeMap<&str, usize> = BTreeMap::new();
    let mut objects = 0;
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    let mut resolve_findings = 0;
    let mut bad = Vec::new();
    for file in &files {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            load_sources(&[InputSource::File(file.clone())], &LoadOptions::default()).map(
                |inventory| {
                    let resolved = resolve(&inventory).findings.len();
                    (inventory.appmesh.len(), inventory.findings, resolved)
                },
            )
        }));
        let Ok(result) = outcome else {
            bad.push(format!("{}: panicked", file.display()));
            continue;
        };
        match result {
            Ok((count, findings, resolved)) => {
                loaded += 1;
                resolve_findings += resolved;
                objects += count;
                for f in findings {
                    if verbose {
                        eprintln!("{}: {f}", file.display());
                    }
                    *codes.entry(f.code).or_default() += 1;
                }
            }
            Err(err) => {
                let kind = match &err {
                    LoadError::Template { .. } => "template",
                    LoadError::Yaml { .. } => "invalid YAML",
                    LoadError::Limit { .. } => "over limits",
                    LoadError::NotUtf8 { .. } => "not UTF-8",
                    LoadError::Io { .. } => "I/O",
                    LoadError::NoInputFiles { .. } => "no files",
                };
                *failed.entry(kind).or_default() += 1;
                let message = err.to_string();
                if verbose {
                    eprintln!("{message}");
                }
                if !names_file_and_line(&message, file) || err.line().is_none() {
                    bad.push(format!("error without file:line: {message}"));
                }
            }
        }
    }
    eprintln!(
        "corpus: {} files: {loaded} loaded ({objects} App Mesh objects, input findings {codes:?}, {resolve_findings} resolve findings), \
         {} failed {failed:?}",
        files.len(),
        failed.values().sum::<usize>()
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(loaded > 0, "no corpus file loaded");
}
