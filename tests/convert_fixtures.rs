//! Snapshot tests of the converter: one directory per mapped feature under
//! `tests/fixtures/convert/<case>/`:
//!
//! - `input.yaml`: App Mesh manifests (plus Namespaces/Services/workloads where needed);
//! - `options` (optional): one flag per line, `install`, `no-preserve-defaults`,
//!   `target-gateway-api` (`--target gateway-api`) or `gateway-api-experimental`
//!   (`--gateway-api-channel experimental`);
//! - `expected.yaml`: the exact Istio output, reviewed against the mapping doc;
//! - `report.txt`: the findings, one `severity CODE subject field: message` per line.
//!
//! Every generated object must also pass the Istio 1.30.3 CRD schemas, and converting the
//! same input twice must give byte-identical output. Run with `UPDATE_EXPECT=1` to rewrite
//! the expectations after a deliberate change, then review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};

use appmesh2istio::convert::{ConvertOptions, GatewayApiChannel, Target, convert};
use appmesh2istio::load::{LoadOptions, load_str};
use appmesh2istio::render::to_yaml_stream;
use appmesh2istio::resolve::resolve;
use appmesh2istio_tests::schema::{experimental_schema, istio_schema};
use appmesh2istio_tests::workspace_root;

fn cases() -> Vec<PathBuf> {
    let root = workspace_root().join("tests/fixtures/convert");
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input.yaml").is_file())
        .collect();
    cases.sort();
    cases
}

fn options_of(case: &Path) -> ConvertOptions {
    let mut opts = ConvertOptions::default();
    if let Ok(text) = fs::read_to_string(case.join("options")) {
        for flag in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            match flag {
                "install" => opts.install = true,
                "no-preserve-defaults" => opts.preserve_defaults = false,
                "target-gateway-api" => opts.target = Target::GatewayApi,
                "gateway-api-experimental" => {
                    opts.gateway_api_channel = GatewayApiChannel::Experimental;
                }
                other => panic!("{}: unknown option {other:?}", case.display()),
            }
        }
    }
    opts
}

struct Outcome {
    yaml: String,
    report: String,
    objects: Vec<serde_json::Value>,
}

fn run(case: &Path) -> Outcome {
    let input = fs::read_to_string(case.join("input.yaml")).unwrap();
    let inventory = load_str("input.yaml", &input, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", case.display()));
    let resolved = resolve(&inventory);
    let conversion = convert(&inventory, &resolved, &options_of(case))
        .unwrap_or_else(|e| panic!("{}: {e}: {e:?}", case.display()));
    let yaml = to_yaml_stream(&conversion.objects).unwrap();
    let mut report = String::new();
    for s in &conversion.report.sources {
        for f in &s.findings {
            report.push_str(&format!(
                "{} {} {} {}: {}\n",
                f.severity,
                f.code,
                f.subject,
                f.field.as_deref().unwrap_or("-"),
                f.message
            ));
        }
    }
    let objects = conversion
        .objects
        .iter()
        .map(|o| serde_json::to_value(o).unwrap())
        .collect();
    Outcome {
        yaml,
        report,
        objects,
    }
}

fn check_or_update(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        fs::write(path, actual).unwrap();
        return;
    }
    match fs::read_to_string(path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => failures.push(format!(
            "{} differs (UPDATE_EXPECT=1 to accept after review):\n{}",
            path.display(),
            diff(&expected, actual)
        )),
        Err(_) => failures.push(format!(
            "{} is missing (UPDATE_EXPECT=1 creates it)",
            path.display()
        )),
    }
}

/// A small line diff: enough to see what changed in a failing snapshot.
fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    let first = e
        .iter()
        .zip(&a)
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    let from = first.saturating_sub(3);
    for (i, line) in e.iter().enumerate().skip(from).take(12) {
        out.push_str(&format!("-{:4} {line}\n", i + 1));
    }
    for (i, line) in a.iter().enumerate().skip(from).take(12) {
        out.push_str(&format!("+{:4} {line}\n", i + 1));
    }
    out
}

#[test]
fn every_fixture_converts_to_its_reviewed_output() {
    let cases = cases();
    assert!(
        cases.len() >= 10,
        "expected the feature fixtures, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        // Output for the experimental channel must pass its CRDs; everything else the
        // standard ones (loaded beside Istio's).
        let schema = match options_of(case).gateway_api_channel {
            GatewayApiChannel::Experimental => experimental_schema(),
            GatewayApiChannel::Standard => istio_schema(),
        };
        let outcome = run(case);
        check_or_update(&case.join("expected.yaml"), &outcome.yaml, &mut failures);
        check_or_update(&case.join("report.txt"), &outcome.report, &mut failures);
        if let Some(schema) = schema {
            for object in &outcome.objects {
                if object["kind"] == "IstioOperator" {
                    continue; // not a CRD in the bundle; validated by our own IOP rules
                }
                if let Err(errors) = schema.validate(object) {
                    failures.push(format!(
                        "{}: {} {} fails the CRD schema: {errors:?}",
                        case.display(),
                        object["kind"],
                        object["metadata"]["name"]
                    ));
                }
            }
        }
        let again = run(case);
        if again.yaml != outcome.yaml || again.report != outcome.report {
            failures.push(format!("{}: output is not deterministic", case.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{} fixtures converted and checked", cases.len());
}
