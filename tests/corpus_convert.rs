//! Real-world test: every file of `../shared/corpus/appmesh/` (App Mesh manifests from public
//! repositories, many of them templates or broken YAML) either converts into output that
//! passes our validator and the Istio CRD schemas, or fails with a located, readable error.
//! Never a panic. Run for each target: `istio`, and `gateway-api` in both Gateway API
//! channels (whose output must also pass that channel's CRDs). Skipped with a notice when
//! `../shared` is absent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use appmesh2istio::convert::{ConvertError, ConvertOptions, GatewayApiChannel, Target, convert};
use appmesh2istio::load::{LoadOptions, load_str};
use appmesh2istio::resolve::resolve;
use appmesh2istio_tests::schema::{experimental_schema, istio_schema};
use appmesh2istio_tests::workspace_root;

fn corpus_files() -> Option<Vec<PathBuf>> {
    let root = workspace_root().join("../shared/corpus/appmesh");
    if !root.is_dir() {
        eprintln!("skipped corpus_convert: {} is absent", root.display());
        return None;
    }
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if !matches!(
                path.file_name().and_then(|n| n.to_str()),
                Some("INDEX.md" | "index.json")
            ) {
                files.push(path);
            }
        }
    }
    files.sort();
    Some(files)
}

enum Outcome {
    Converted {
        objects: usize,
        not_exact: usize,
        /// Objects of `gateway.networking.k8s.io`.
        gateway_api: usize,
    },
    Refused(String),
}

fn convert_file(
    path: &Path,
    text: &str,
    target: Target,
    channel: GatewayApiChannel,
) -> Result<Outcome, String> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let inventory = match load_str(name, text, &LoadOptions::default()) {
        Ok(inv) => inv,
        Err(e) => return Ok(Outcome::Refused(e.to_string())),
    };
    let resolved = resolve(&inventory);
    for install in [false, true] {
        let opts = ConvertOptions {
            install,
            target,
            gateway_api_channel: channel,
            ..ConvertOptions::default()
        };
        let schema = match channel {
            GatewayApiChannel::Standard => istio_schema(),
            GatewayApiChannel::Experimental => experimental_schema(),
        };
        match convert(&inventory, &resolved, &opts) {
            Ok(conversion) => {
                if let Some(schema) = schema {
                    for object in &conversion.objects {
                        let value = serde_json::to_value(object).unwrap();
                        if value["kind"] == "IstioOperator" {
                            continue;
                        }
                        schema.validate(&value).map_err(|e| {
                            format!(
                                "{} {} fails the CRD schema: {e:?}",
                                value["kind"], value["metadata"]["name"]
                            )
                        })?;
                    }
                }
                if install {
                    return Ok(Outcome::Converted {
                        gateway_api: conversion
                            .objects
                            .iter()
                            .filter(|o| o.api_version().starts_with("gateway.networking.k8s.io/"))
                            .count(),
                        objects: conversion.objects.len(),
                        not_exact: conversion
                            .report
                            .sources
                            .iter()
                            .filter(|s| s.fidelity != appmesh2istio::findings::Fidelity::Exact)
                            .count(),
                    });
                }
            }
            Err(ConvertError::InvalidOutput(v)) => {
                return Err(format!(
                    "our output is invalid: {}",
                    v.iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
        }
    }
    unreachable!("the loop returns on its second pass")
}

#[test]
fn every_corpus_file_converts_validly_or_fails_with_a_located_error() {
    check_corpus(Target::Istio, GatewayApiChannel::Standard);
}

#[test]
fn every_corpus_file_converts_to_valid_gateway_api_routes_or_fails_with_a_located_error() {
    check_corpus(Target::GatewayApi, GatewayApiChannel::Standard);
}

#[test]
fn every_corpus_file_converts_for_the_experimental_channel_or_fails_with_a_located_error() {
    check_corpus(Target::GatewayApi, GatewayApiChannel::Experimental);
}

fn check_corpus(target: Target, channel: GatewayApiChannel) {
    let Some(files) = corpus_files() else { return };
    assert!(
        files.len() >= 100,
        "corpus looks incomplete: {} files",
        files.len()
    );
    let (mut converted, mut refused, mut objects, mut not_exact, mut gateway_api) = (0, 0, 0, 0, 0);
    let mut refused_files: Vec<String> = Vec::new();
    let line_number = regex::Regex::new(r":\d+").unwrap();
    let mut problems = Vec::new();
    for path in &files {
        let text = String::from_utf8_lossy(&fs::read(path).unwrap()).into_owned();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        match catch_unwind(AssertUnwindSafe(|| {
            convert_file(path, &text, target, channel)
        })) {
            Err(_) => problems.push(format!("{}: PANIC", path.display())),
            Ok(Err(e)) => problems.push(format!("{}: {e}", path.display())),
            Ok(Ok(Outcome::Converted {
                objects: n,
                not_exact: m,
                gateway_api: g,
            })) => {
                converted += 1;
                objects += n;
                not_exact += m;
                gateway_api += g;
            }
            Ok(Ok(Outcome::Refused(message))) => {
                refused += 1;
                refused_files.push(path.to_string_lossy().into_owned());
                // A refusal must say where: the file name and a line number.
                let located = message.contains(&name) && line_number.is_match(&message);
                if !located {
                    problems.push(format!(
                        "{}: error without file and line: {message}",
                        path.display()
                    ));
                }
            }
        }
    }
    println!(
        "corpus ({target:?}, {channel:?}): {} files: {converted} converted ({objects} objects, {gateway_api} of Gateway API, {not_exact} sources not exact), {refused} refused with a located error",
        files.len()
    );
    // The Gateway API target must really produce routes for the corpus' routers.
    match target {
        Target::Istio => assert_eq!(gateway_api, 0),
        Target::GatewayApi => assert!(gateway_api >= 15, "only {gateway_api} Gateway API objects"),
    }
    // The corpus index says which files are plain, valid YAML (no template markers); every
    // one of those must convert rather than be refused.
    let index: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(workspace_root().join("../shared/corpus/appmesh/index.json")).unwrap(),
    )
    .unwrap();
    let plain: Vec<&str> = index["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["parses_as_yaml"] == true
                && !e["features"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f.as_str().unwrap_or("").starts_with("tmpl:"))
        })
        .filter_map(|e| e["file"].as_str())
        .collect();
    assert!(plain.len() >= 50, "index lists {} plain files", plain.len());
    for file in &plain {
        if refused_files.iter().any(|r| r.ends_with(file)) {
            problems.push(format!(
                "{file}: plain YAML per the corpus index, but refused"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(
        converted >= plain.len(),
        "{converted} converted, but the index lists {} plain files",
        plain.len()
    );
}
