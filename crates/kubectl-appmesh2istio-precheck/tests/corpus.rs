//! Offline precheck over the real-world corpus (`../shared/corpus/appmesh/`): every file that
//! loads gives a completed report whose conversion-readiness findings are exactly convert's
//! report findings for the same file, and whose inventory counts what the loader decoded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use appmesh2istio::cluster::NamespaceScope;
use appmesh2istio::findings::Finding;
use appmesh2istio::load::{InputSource, LoadOptions, load_sources};
use appmesh2istio::precheck::{self, Options};

fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/appmesh");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: {} not found (the shared reference material is absent)",
            dir.display()
        );
        None
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) && path.file_name().is_some_and(|n| n != "index.json")
        {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// What convert itself reports for `path`, with its default options.
fn convert_findings(path: &Path) -> Option<Vec<Finding>> {
    let inventory = load_sources(
        &[InputSource::File(path.to_owned())],
        &LoadOptions::default(),
    )
    .ok()?;
    let resolved = appmesh2istio::resolve::resolve(&inventory);
    match appmesh2istio::convert::convert(
        &inventory,
        &resolved,
        &appmesh2istio::convert::ConvertOptions::default(),
    ) {
        Ok(conversion) => Some(conversion.report.findings().cloned().collect()),
        Err(appmesh2istio::convert::ConvertError::InvalidOutput(v)) => {
            Some(appmesh2istio::validate::into_findings(v))
        }
    }
}

fn sorted(mut v: Vec<Finding>) -> Vec<Finding> {
    v.sort();
    v.dedup();
    v
}

#[test]
fn corpus_conversion_readiness_agrees_with_convert() {
    let Some(dir) = corpus_dir() else { return };
    let mut loaded = 0;
    let mut refused = 0;
    let mut with_findings = 0;
    for path in files(&dir) {
        let sources = [InputSource::File(path.clone())];
        let snapshot = match precheck::snapshot::read_files(
            &sources,
            &LoadOptions::default(),
            NamespaceScope::All,
            true,
        ) {
            Ok(s) => s,
            Err(e) => {
                // Templates and broken YAML: convert refuses them identically (same loader).
                assert!(
                    load_sources(&sources, &LoadOptions::default()).is_err(),
                    "{}: {e}",
                    path.display()
                );
                refused += 1;
                continue;
            }
        };
        loaded += 1;
        let report = precheck::run(&snapshot, &Options::default());
        assert!(report.completed, "{}", path.display());
        let readiness = report.checks().find(|c| c.code == "AMI3501").unwrap();
        let ours = sorted(readiness.findings.clone());
        let theirs = sorted(convert_findings(&path).unwrap());
        assert_eq!(
            ours,
            theirs,
            "{}: precheck and convert disagree",
            path.display()
        );
        if !ours.is_empty() {
            with_findings += 1;
        }
        // The inventory counts the App Mesh objects convert decoded.
        let inventory = load_sources(&sources, &LoadOptions::default()).unwrap();
        let inventoried = snapshot.appmesh_objects().count();
        assert!(
            inventoried >= inventory.appmesh.len(),
            "{}: precheck sees {inventoried} App Mesh objects, the loader decoded {}",
            path.display(),
            inventory.appmesh.len()
        );
    }
    eprintln!(
        "corpus: {loaded} files checked ({with_findings} with conversion findings), {refused} refused by the loader"
    );
    assert!(loaded >= 50, "only {loaded} corpus files loaded");
    assert!(with_findings > 0);
}
