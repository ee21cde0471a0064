//! The validator's table of Istio CRD bounds (`appmesh2istio::validate::crd_limits::LIMITS`)
//! is exactly what the Istio 1.30.3 CRD file says, for every kind we generate: every
//! `maxItems`, `maxProperties`, `maxLength`, `minItems`, `minLength`, `minProperties`,
//! `minimum` and `maximum` of the v1 schemas, at the same path, with the same value.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use appmesh2istio::validate::crd_limits::{Bound, LIMITS};
use appmesh2istio_tests::schema::bundle_path;
use serde_json::Value;

/// The kinds our converter writes (IstioOperator has no CRD).
const KINDS: [&str; 8] = [
    "VirtualService",
    "DestinationRule",
    "Gateway",
    "ServiceEntry",
    "Sidecar",
    "PeerAuthentication",
    "AuthorizationPolicy",
    "Telemetry",
];

fn walk(schema: &Value, path: &str, kind: &str, out: &mut Vec<(String, String, Bound)>) {
    let num = |key: &str| schema.get(key).and_then(Value::as_u64);
    let int = |key: &str| schema.get(key).and_then(Value::as_i64);
    let found = [
        num("maxItems").map(Bound::MaxItems),
        num("maxProperties").map(Bound::MaxProperties),
        num("maxLength").map(Bound::MaxLength),
        num("minItems").map(Bound::MinItems),
        num("minLength").map(Bound::MinLength),
        num("minProperties").map(Bound::MinProperties),
        int("minimum").map(Bound::Minimum),
        int("maximum").map(Bound::Maximum),
    ];
    for key in ["minimum", "maximum"] {
        if let Some(v) = schema.get(key) {
            assert!(v.as_i64().is_some(), "{kind} {path}: non-integer {key} {v}");
        }
    }
    for bound in found.into_iter().flatten() {
        out.push((kind.to_owned(), path.to_owned(), bound));
    }
    if let Some(Value::Object(props)) = schema.get("properties") {
        for (name, child) in props {
            let p = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            walk(child, &p, kind, out);
        }
    }
    if let Some(items) = schema.get("items") {
        walk(items, &format!("{path}[]"), kind, out);
    }
    if let Some(values @ Value::Object(_)) = schema.get("additionalProperties") {
        walk(values, &format!("{path}{{}}"), kind, out);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(Value::Array(alternatives)) = schema.get(key) {
            for alt in alternatives {
                walk(alt, path, kind, out);
            }
        }
    }
}

#[test]
fn the_limit_table_is_the_crd_files_bounds() {
    let path = bundle_path();
    if !path.is_file() {
        assert!(
            !appmesh2istio_tests::prerequisites_required(),
            "{} is required here",
            path.display()
        );
        eprintln!("skipped: {} not found", path.display());
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_events: 50_000_000 },
    };
    let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(&text, options).unwrap();
    let mut from_crd = Vec::new();
    for doc in &docs {
        let kind = doc["spec"]["names"]["kind"].as_str().unwrap_or_default();
        if !KINDS.contains(&kind) {
            continue;
        }
        for version in doc["spec"]["versions"].as_array().unwrap() {
            if version["name"] == "v1" {
                walk(
                    &version["schema"]["openAPIV3Schema"],
                    "",
                    kind,
                    &mut from_crd,
                );
            }
        }
    }
    let crd: BTreeSet<String> = from_crd
        .iter()
        .map(|(k, p, b)| format!("{k} {p} {b:?}"))
        .collect();
    let ours: BTreeSet<String> = LIMITS
        .iter()
        .map(|l| format!("{} {} {:?}", l.kind, l.path, l.bound))
        .collect();
    let missing: Vec<_> = crd.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&crd).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "LIMITS differs from the CRD file\nmissing from LIMITS:\n{}\nnot in the CRD:\n{}",
        missing
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        extra
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    assert_eq!(ours.len(), LIMITS.len(), "LIMITS has duplicates");
    // Every kind we generate has bounds, and the example of issue 16 is among them.
    for kind in KINDS {
        assert!(LIMITS.iter().any(|l| l.kind == kind), "{kind}");
    }
    assert!(crd.contains("Sidecar spec.workloadSelector.labels MaxProperties(256)"));
    eprintln!("crd_limits: {} bounds, all in the table", crd.len());
}
