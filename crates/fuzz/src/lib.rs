//! The properties every input of appmesh2istio must keep, checked by the fuzz targets
//! (`src/bin/`, built by `scripts/fuzz.sh`) and, on the stored corpus and every crash found so
//! far, by this crate's tests.
//!
//! On any input, the offline pipeline (load, resolve, convert, validate, render) and
//! precheck's offline mode must not panic or hang, and must end in one of two ways:
//! - output that passes our own Istio validation and reads back as exactly the objects that
//!   were validated (what `kubectl apply -f -` would get), or
//! - an error that names where: the source, and a line for anything parsed.
//!
//! Output our validator rejects (convert's exit 4, "a bug in appmesh2istio") is a failure
//! here, as is an error without a location. Each check returns `Err(description)` on a
//! broken property; the fuzz targets panic with it, the tests assert it is `Ok`.

use std::collections::BTreeSet;
use std::path::Path;

use appmesh2istio::cluster::NamespaceScope;
use appmesh2istio::convert::{ConvertError, ConvertOptions, convert};
use appmesh2istio::istio::IstioObject;
use appmesh2istio::load::yaml::parse_documents;
use appmesh2istio::load::{InputSource, Inventory, LoadError, LoadOptions, YamlLimits};
use appmesh2istio::origin::Origin;
use appmesh2istio::precheck::{self, Data};
use appmesh2istio::render::{self, ReportStyle, ShowFilter};
use appmesh2istio::resolve::resolve;
use appmesh2istio::validate::{ViolationSeverity, validate_all};
use serde_json::Value;

pub mod structured;

/// What a broken property looks like: a sentence for the panic message and the test failure.
pub type Broken = String;

/// The name every fuzzed source is loaded under; errors must name it.
pub const SOURCE_NAME: &str = "fuzz-input.yaml";

/// How a checked input ended, for the tests' assertions and the targets' statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Refused with an error that names the source (and a line where one applies).
    Refused(String),
    /// Converted: this many Istio objects passed validation and read back unchanged.
    Converted { objects: usize },
}

/// Arbitrary bytes as one source or, after a leading `\0\0`, as several sources split at
/// each further NUL byte: the loader's own paths for one file and for many.
pub fn sources_of(data: &[u8]) -> Vec<InputSource> {
    match data.strip_prefix(b"\0\0") {
        Some(rest) => rest
            .split(|&b| b == 0)
            .take(8)
            .enumerate()
            .map(|(i, part)| bytes_source(&format!("fuzz-input-{i}.yaml"), part))
            .collect(),
        None => vec![bytes_source(SOURCE_NAME, data)],
    }
}

fn bytes_source(name: &str, bytes: &[u8]) -> InputSource {
    InputSource::Bytes {
        name: name.to_owned(),
        bytes: bytes.to_vec(),
    }
}

/// The loader on arbitrary bytes, then the whole pipeline on what it loaded.
pub fn check_loader(data: &[u8]) -> Result<Outcome, Broken> {
    let sources = sources_of(data);
    match appmesh2istio::load::load_sources(&sources, &LoadOptions::default()) {
        Ok(inventory) => check_findings_located(&inventory)
            .and_then(|()| check_pipeline(&inventory, &ConvertOptions::default())),
        Err(e) => check_load_error(&e, &sources).map(Outcome::Refused),
    }
}

/// A load error must name one of the sources, and a line when it is about parsed text.
fn check_load_error(e: &LoadError, sources: &[InputSource]) -> Result<String, Broken> {
    let message = e.to_string();
    let named = sources.iter().any(|s| match s {
        InputSource::Bytes { name, .. } => e.path() == Path::new(name),
        _ => false,
    });
    if !named {
        return Err(format!("load error names no source: {message}"));
    }
    let needs_line = !matches!(e, LoadError::Io { .. } | LoadError::NoInputFiles { .. });
    // `Display` falls back to line 1 when the parser gave none; the message must still say
    // `name:line`.
    let prefix = format!("{}:", e.path().display());
    let located = message
        .strip_prefix(&prefix)
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    if needs_line && !located {
        return Err(format!("load error without a line: {message}"));
    }
    Ok(message)
}

/// Every finding of the loader is located: a file origin, with a line.
fn check_findings_located(inventory: &Inventory) -> Result<(), Broken> {
    for f in &inventory.findings {
        match &f.origin {
            Some(Origin::File { line, .. }) if *line >= 1 => {}
            other => {
                return Err(format!(
                    "finding {} on {} has no file and line (origin {other:?}): {}",
                    f.code, f.subject, f.message
                ));
            }
        }
    }
    Ok(())
}

/// Resolve, convert, validate and render `inventory`, checking the output reads back as
/// exactly the validated objects and that a second run gives the same bytes.
pub fn check_pipeline(inventory: &Inventory, opts: &ConvertOptions) -> Result<Outcome, Broken> {
    let resolved = resolve(inventory);
    let conversion = match convert(inventory, &resolved, opts) {
        Ok(c) => c,
        Err(ConvertError::InvalidOutput(violations)) => {
            let listed: Vec<String> = violations.iter().map(ToString::to_string).collect();
            return Err(format!(
                "our own output failed our Istio validation (exit 4):\n  {}",
                listed.join("\n  ")
            ));
        }
    };
    let errors: Vec<String> = validate_all(&conversion.objects)
        .into_iter()
        .filter(|v| v.severity == ViolationSeverity::Error)
        .map(|v| v.to_string())
        .collect();
    if !errors.is_empty() {
        return Err(format!(
            "convert returned objects the validator rejects:\n  {}",
            errors.join("\n  ")
        ));
    }
    let yaml = render::to_yaml_stream(&conversion.objects)
        .map_err(|e| format!("rendering YAML failed: {e}"))?;
    let json = render::to_json_list(&conversion.objects)
        .map_err(|e| format!("rendering JSON failed: {e}"))?;
    check_reads_back(&conversion.objects, &yaml, &json)?;
    // The report renders in every form without panicking.
    let style = ReportStyle {
        color: false,
        width: 80,
        show: ShowFilter::ALL,
    };
    let lines = render::report_lines(&conversion.report, &style);
    render::report_table(&conversion.report, false, Some(80), ShowFilter::ALL);
    render::report_json(&conversion.report).map_err(|e| format!("report JSON failed: {e}"))?;

    // Same input, same bytes.
    let again = convert(inventory, &resolve(inventory), opts)
        .map_err(|_| "the second conversion of the same input failed".to_owned())?;
    let yaml_again = render::to_yaml_stream(&again.objects)
        .map_err(|e| format!("rendering YAML failed the second time: {e}"))?;
    if yaml_again != yaml || render::report_lines(&again.report, &style) != lines {
        return Err("the same input gave different output on a second run".to_owned());
    }
    Ok(Outcome::Converted {
        objects: conversion.objects.len(),
    })
}

/// The YAML stream and the JSON list parse back (with our own loader's parser, which reads
/// YAML as kubectl does) into exactly the objects that were validated.
fn check_reads_back(objects: &[IstioObject], yaml: &str, json: &str) -> Result<(), Broken> {
    let expected: Vec<Value> = objects
        .iter()
        .map(|o| serde_json::to_value(o).map_err(|e| format!("object to JSON failed: {e}")))
        .collect::<Result<_, _>>()?;
    let limits = YamlLimits::default();
    let docs = parse_documents(yaml, &limits)
        .map_err(|e| format!("our YAML output does not parse: {}", e.message))?;
    let read: Vec<Value> = docs
        .into_iter()
        .map(|d| d.document.value)
        .filter(|v| !v.is_null())
        .collect();
    if read != expected {
        return Err(format!(
            "the YAML output reads back differently from the validated objects:\n{yaml}"
        ));
    }
    let list: Value =
        serde_json::from_str(json).map_err(|e| format!("our JSON output does not parse: {e}"))?;
    if list.get("items") != Some(&Value::Array(expected)) {
        return Err("the JSON list reads back differently from the validated objects".to_owned());
    }
    Ok(())
}

/// precheck's offline mode (`precheck -f`) on arbitrary bytes: the report builds and renders
/// in every format, and its conversion-readiness check never meets invalid output.
pub fn check_precheck_offline(data: &[u8]) -> Result<Outcome, Broken> {
    let sources = sources_of(data);
    let scope = match data.first() {
        Some(b) if b % 4 >= 2 => NamespaceScope::One("shop".to_owned()),
        _ => NamespaceScope::All,
    };
    let snapshot =
        match precheck::snapshot::read_files(&sources, &LoadOptions::default(), scope, true) {
            Ok(s) => s,
            Err(e) => return check_load_error(&e, &sources).map(Outcome::Refused),
        };
    if let Data::Available(precheck::snapshot::ConversionOutcome::InvalidOutput(findings)) =
        &snapshot.conversion
    {
        let listed: Vec<String> = findings.iter().map(|f| f.message.clone()).collect();
        return Err(format!(
            "precheck's conversion met output our validator rejects:\n  {}",
            listed.join("\n  ")
        ));
    }
    let report = precheck::run(&snapshot, &precheck::Options::default());
    precheck::render_human(&report, &precheck::RenderOptions::default());
    precheck::render_not_run(&report);
    let json =
        precheck::render_json(&report).map_err(|e| format!("precheck JSON report failed: {e}"))?;
    precheck::render_yaml(&report).map_err(|e| format!("precheck YAML report failed: {e}"))?;
    serde_json::from_str::<Value>(&json)
        .map_err(|e| format!("precheck's JSON report does not parse: {e}"))?;
    let codes: BTreeSet<&str> = report.findings().map(|f| f.code.as_str()).collect();
    Ok(Outcome::Converted {
        objects: codes.len(),
    })
}

/// Structured App Mesh objects (see [`structured`]) through both ways in: as a file (the
/// loader parses the text) and as objects read from a cluster (`load::from_values`).
pub fn check_structured(input: &structured::Input) -> Result<Outcome, Broken> {
    let text = input.text();
    let options = LoadOptions::default();
    let outcome = match appmesh2istio::load::load_str(SOURCE_NAME, &text, &options) {
        Ok(inventory) => {
            check_findings_located(&inventory)?;
            check_pipeline(&inventory, &input.options)?
        }
        Err(e) => {
            let sources = [bytes_source(SOURCE_NAME, text.as_bytes())];
            Outcome::Refused(check_load_error(&e, &sources)?)
        }
    };
    let from_cluster = appmesh2istio::load::from_values(
        input.documents.clone(),
        &Origin::Cluster { context: None },
        &options,
    );
    check_pipeline(&from_cluster, &input.options)?;
    Ok(outcome)
}

/// `data` as a structured input, then [`check_structured`].
pub fn check_structured_bytes(data: &[u8]) -> Result<Outcome, Broken> {
    let mut u = arbitrary::Unstructured::new(data);
    let input = structured::Input::generate(&mut u);
    check_structured(&input)
}
