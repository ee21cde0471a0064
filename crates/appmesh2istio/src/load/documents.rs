//! Parsed documents into the [`Inventory`]: each document (or List item) is checked as kubectl
//! would check it ([`shape`](super::shape)), then classified, and App Mesh objects are checked
//! against their CRD schema and decoded. What cannot be read becomes a finding at the
//! document's file and line; nothing is dropped without a word.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::shape::{self, Problem};
use super::template::{TemplateMarker, find_template_markers};
use super::{Inventory, LoadError, LoadOptions, Sourced, yaml};
use crate::appmesh::{self, AppMeshKind};
use crate::findings::Finding;
use crate::k8s::{self, WorkloadKind};
use crate::origin::{ObjectRef, Origin, kind_name};

/// The object is refused by its CRD schema.
const CODE_SCHEMA: &str = "AMI1005";
/// The object holds a value the App Mesh API refuses.
const CODE_APP_MESH_API: &str = "AMI1009";

pub(super) struct Loader<'o> {
    pub(super) opts: &'o LoadOptions,
    pub(super) inventory: Inventory,
}

impl Loader<'_> {
    pub(super) fn load_bytes(&mut self, path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = std::str::from_utf8(bytes).map_err(|e| LoadError::NotUtf8 {
            path: path.to_owned(),
            line: bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1,
        })?;
        let markers = find_template_markers(text);
        let template_error = |marker: &TemplateMarker| LoadError::Template {
            path: path.to_owned(),
            line: marker.line,
            column: marker.column,
            marker: marker.text.clone(),
        };
        let docs = match yaml::parse_documents(text, &self.opts.limits) {
            Ok(docs) => docs,
            Err(e) => {
                // A placeholder that breaks the YAML is the cause worth reporting: the last one
                // at or before the parse error, else the first.
                let culprit = e
                    .line
                    .and_then(|line| markers.iter().rev().find(|m| m.line <= line))
                    .or(markers.first());
                if !e.limit
                    && let Some(marker) = culprit
                {
                    return Err(template_error(marker));
                }
                let (path, line, column, message) = (path.to_owned(), e.line, e.column, e.message);
                return Err(if e.limit {
                    LoadError::Limit {
                        path,
                        line,
                        column,
                        message,
                    }
                } else {
                    LoadError::Yaml {
                        path,
                        line,
                        column,
                        message,
                    }
                });
            }
        };
        if let Some(marker) = first_marker_in_converted_document(&markers, &docs) {
            return Err(template_error(marker));
        }
        self.inventory.files.push(path.to_owned());
        for doc in docs {
            match doc.items {
                Some(items) if shape::is_list(&doc.document.value) => {
                    let list = Origin::file(path, doc.document.line);
                    for item in items {
                        let origin = Origin::file(path, item.line);
                        match shape::list_item_problem(&item.value, &list) {
                            Some(problem) => self.problem(problem, &item.value, origin),
                            None => self.add(origin, item.value),
                        }
                    }
                }
                Some(items) => {
                    // `items` at the root of something that is not a List: put it back.
                    let mut value = doc.document.value;
                    if let Value::Object(map) = &mut value {
                        map.insert(
                            "items".to_owned(),
                            Value::Array(items.into_iter().map(|i| i.value).collect()),
                        );
                    }
                    self.add(Origin::file(path, doc.document.line), value);
                }
                None => self.add(Origin::file(path, doc.document.line), doc.document.value),
            }
        }
        Ok(())
    }

    /// Add one document (or List item) read from a file or a cluster.
    pub(super) fn add(&mut self, origin: Origin, value: Value) {
        // kubectl skips empty documents (`---` followed by nothing, or `null`).
        if value.is_null() {
            return;
        }
        self.inventory.documents += 1;
        if let Some(problem) = shape::document_problem(&value, &origin) {
            self.problem(problem, &value, origin);
            return;
        }
        let api_version = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version.as_str()),
        };
        if group == appmesh::GROUP {
            self.add_appmesh(origin, &kind, version, value);
            return;
        }
        let ns = self.opts.default_namespace.as_str();
        if group == crate::convert::flagger::GROUP
            && matches!(kind.as_str(), "Canary" | "MetricTemplate")
        {
            let value = with_namespace(value, ns);
            self.inventory.flagger.push(Sourced {
                object: value,
                origin,
            });
            return;
        }
        if group == crate::convert::argo::GROUP && kind == "Rollout" {
            let value = with_namespace(value, ns);
            self.inventory.rollouts.push(Sourced {
                object: value,
                origin,
            });
            return;
        }
        let added = match (api_version.as_str(), kind.as_str()) {
            ("v1", "Namespace") => k8s::namespace_from_value(&value)
                .map(|object| self.inventory.namespaces.push(Sourced { object, origin })),
            ("v1", "Service") => k8s::service_from_value(&value, ns)
                .map(|object| self.inventory.services.push(Sourced { object, origin })),
            _ => WorkloadKind::from_api(&api_version, &kind)
                .and_then(|wk| k8s::workload_from_value(wk, &value, ns))
                .map(|object| self.inventory.workloads.push(Sourced { object, origin })),
        };
        if added.is_none() {
            let key = if kind.is_empty() {
                "(no kind)".to_owned()
            } else {
                format!("{api_version} {kind}").trim().to_owned()
            };
            *self.inventory.skipped.entry(key).or_default() += 1;
        }
    }

    /// A document or List item that cannot be read, as a finding about what it seems to be.
    fn problem(&mut self, problem: Problem, value: &Value, origin: Origin) {
        let subject = shape::subject(value);
        let mut finding =
            Finding::new(problem.code, subject, problem.message).with_origin(Some(origin));
        if let Some(field) = problem.field {
            finding = finding.at_field(field);
        }
        self.inventory.findings.push(finding);
    }

    fn add_appmesh(&mut self, origin: Origin, kind: &str, version: &str, value: Value) {
        let known = AppMeshKind::from_kind(kind);
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let namespace = match known {
            Some(AppMeshKind::Mesh) => None,
            _ => Some(
                value
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or(&self.opts.default_namespace)
                    .to_owned(),
            ),
        };
        let subject = ObjectRef::new(
            if kind.is_empty() {
                Cow::Borrowed("(no kind)")
            } else {
                kind_name(kind)
            },
            namespace.as_deref(),
            &name,
        );
        let Some(kind) = known.filter(|_| version == appmesh::VERSION) else {
            let message = if known.is_some() {
                format!(
                    "{}/{version} is not converted: only {} objects are",
                    appmesh::GROUP,
                    appmesh::API_VERSION
                )
            } else {
                format!(
                    "`{kind}` is not an App Mesh kind (known: Mesh, VirtualNode, VirtualService, VirtualRouter, VirtualGateway, GatewayRoute, BackendGroup)"
                )
            };
            self.inventory.findings.push(
                Finding::new("AMI1002", subject, message)
                    .at_field("kind")
                    .with_origin(Some(origin)),
            );
            return;
        };
        // The API server refuses an object outside its CRD's bounds; the App Mesh API refuses
        // a few values the CRD lets through. Either way App Mesh never ran it.
        let refused: Vec<(&str, appmesh::schema::Violation)> = appmesh::schema::check(kind, &value)
            .into_iter()
            .map(|v| (CODE_SCHEMA, v))
            .chain(
                appmesh::schema::check_app_mesh_api(kind, &value)
                    .into_iter()
                    .map(|v| (CODE_APP_MESH_API, v)),
            )
            .collect();
        let decoded = appmesh::decode(kind, value);
        for field in decoded.unknown_fields {
            let key = field.rsplit('.').next().unwrap_or(&field).to_owned();
            let mut message = format!("`{key}` is not a field of {} {kind}", appmesh::API_VERSION);
            if let Some(known) =
                v1beta1_spelling(&key).or_else(|| appmesh::schema::closest_field(kind, &field))
            {
                message.push_str(&format!(" (did you mean `{known}`?)"));
            }
            message.push_str("; it is ignored, as the API server drops it");
            self.inventory.findings.push(
                Finding::new("AMI1001", subject.clone(), message)
                    .at_field(field)
                    .with_origin(Some(origin.clone())),
            );
        }
        for (code, violation) in &refused {
            let consequence = if *code == CODE_SCHEMA {
                "the API server refuses the whole object, so App Mesh never ran it; it is not converted"
            } else {
                "the App Mesh API refuses it, so the controller could not create this object in App Mesh; it is not converted"
            };
            self.inventory.findings.push(
                Finding::new(code, subject.clone(), format!("{violation}: {consequence}"))
                    .at_field(violation.path.clone())
                    .with_origin(Some(origin.clone())),
            );
        }
        let mut object = match decoded.object {
            // A decoding error at a path already refused above says the same thing again.
            Err(err) if refused.iter().any(|(_, v)| v.path == err.path) => return,
            Ok(_) if !refused.is_empty() => return,
            Ok(object) => object,
            Err(err) => {
                let mut finding = Finding::new(
                    "AMI1003",
                    subject,
                    format!("{}; this object is not converted", err.message),
                )
                .with_origin(Some(origin));
                if !err.path.is_empty() {
                    finding = finding.at_field(err.path);
                }
                self.inventory.findings.push(finding);
                return;
            }
        };
        if name.is_empty() {
            self.inventory.findings.push(
                Finding::new(
                    "AMI1003",
                    subject,
                    "metadata.name is required; this object is not converted",
                )
                .at_field("metadata.name")
                .with_origin(Some(origin)),
            );
            return;
        }
        // The API server only stores objects with valid names; an invalid one is usually an
        // unrendered placeholder (`name: $SERVICE`) and would otherwise flow into Istio names.
        let bad_name = (!k8s::is_dns1123_subdomain(&name)).then(|| ("metadata.name", name.clone()));
        let bad_namespace = namespace
            .as_deref()
            .filter(|ns| !k8s::is_dns1123_label(ns))
            .map(|ns| ("metadata.namespace", ns.to_owned()));
        if let Some((field, value)) = bad_name.or(bad_namespace) {
            let mut message = format!(
                "{value:?} is not a valid Kubernetes name (lower-case letters, digits, '-' and '.'); this object is not converted"
            );
            if value.contains('$') || value.contains('{') {
                message.push_str(" (it looks like an unrendered template variable: render the file first, e.g. with envsubst)");
            }
            self.inventory.findings.push(
                Finding::new("AMI1003", subject, message)
                    .at_field(field)
                    .with_origin(Some(origin)),
            );
            return;
        }
        if kind.is_namespaced() {
            object.metadata_mut().namespace = namespace;
        }
        self.inventory.appmesh.push(Sourced { object, origin });
    }
}

/// The first placeholder inside a document whose values the conversion uses as they are: App
/// Mesh objects, Namespaces and Services (names, labels, hosts, ports). Placeholders in other
/// documents, typically `${VAR}` in a Deployment's shell command, are the workload's own
/// business and do not make the file a template.
fn first_marker_in_converted_document<'m>(
    markers: &'m [TemplateMarker],
    docs: &[yaml::ParsedDocument],
) -> Option<&'m TemplateMarker> {
    // Start line of every document and List item, with whether its values are converted.
    let mut starts: Vec<(usize, bool)> = Vec::new();
    for doc in docs {
        match &doc.items {
            Some(items) => starts.extend(items.iter().map(|i| (i.line, converted_as_is(&i.value)))),
            None => starts.push((doc.document.line, converted_as_is(&doc.document.value))),
        }
    }
    starts.sort_unstable();
    markers.iter().find(|m| {
        let index = starts.partition_point(|(line, _)| *line <= m.line);
        // Before the first document's first node there is only the document's own header.
        index == 0
            || starts
                .get(index - 1)
                .is_some_and(|(_, converted)| *converted)
    })
}

fn converted_as_is(value: &Value) -> bool {
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    api_version.starts_with("appmesh.k8s.aws/")
        || (api_version == "v1" && matches!(kind, "Namespace" | "Service"))
        || kind.is_empty()
}

/// `value` with `metadata.namespace` set to `namespace` when it has none (as `kubectl apply -n`).
fn with_namespace(mut value: Value, namespace: &str) -> Value {
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut)
        && !meta.get("namespace").is_some_and(Value::is_string)
    {
        meta.insert("namespace".to_owned(), Value::String(namespace.to_owned()));
    }
    value
}

/// Keys that v1beta1 (or common misspellings) used where v1beta2 has another name.
fn v1beta1_spelling(key: &str) -> Option<&'static str> {
    Some(match key {
        "hostName" => "hostname",
        "cloudMap" => "awsCloudMap",
        "certificateAuthorityArns" => "certificateAuthorityARNs",
        "certificateArn" => "certificateARN",
        "virtualNodeArn" => "virtualNodeARN",
        "virtualServiceArn" => "virtualServiceARN",
        "virtualRouterArn" => "virtualRouterARN",
        "virtualNodeName" => "virtualNodeRef",
        "virtualServiceName" => "virtualServiceRef",
        "virtualRouterName" => "virtualRouterRef",
        "perRetryTimeoutMillis" => "perRetryTimeout",
        "http" => "httpRoute",
        "http2" => "http2Route",
        "grpc" => "grpcRoute",
        "tcp" => "tcpRoute",
        "meshName" => "(none: membership comes from the Mesh's namespaceSelector)",
        "virtualServices" => "virtualservices",
        "awsname" => "awsName",
        _ => return None,
    })
}

/// The API server keeps one object per kind/namespace/name: the last one applied wins.
pub(super) fn dedupe(inventory: &mut Inventory) {
    let mut last: HashMap<(AppMeshKind, Option<String>, String), usize> = HashMap::new();
    for (i, s) in inventory.appmesh.iter().enumerate() {
        let key = (
            s.object.kind(),
            s.object.namespace().map(str::to_owned),
            s.object.name().to_owned(),
        );
        if let Some(previous) = last.insert(key, i) {
            let earlier = &inventory.appmesh[previous];
            inventory.findings.push(
                Finding::new(
                    "AMI1004",
                    s.object.object_ref(),
                    format!(
                        "defined again at {}; the definition at {} is ignored",
                        s.origin, earlier.origin
                    ),
                )
                .with_origin(Some(s.origin.clone())),
            );
        }
    }
    if last.len() != inventory.appmesh.len() {
        let keep: std::collections::HashSet<usize> = last.into_values().collect();
        let mut i = 0;
        inventory.appmesh.retain(|_| {
            let kept = keep.contains(&i);
            i += 1;
            kept
        });
    }
    fn last_wins<T>(items: &mut Vec<Sourced<T>>, key: impl Fn(&T) -> (String, String)) {
        let mut index: HashMap<(String, String), usize> = HashMap::new();
        for (i, s) in items.iter().enumerate() {
            index.insert(key(&s.object), i);
        }
        if index.len() != items.len() {
            let keep: std::collections::HashSet<usize> = index.into_values().collect();
            let mut i = 0;
            items.retain(|_| {
                let kept = keep.contains(&i);
                i += 1;
                kept
            });
        }
    }
    last_wins(&mut inventory.namespaces, |n| {
        (String::new(), n.name.clone())
    });
    last_wins(&mut inventory.services, |s| {
        (s.namespace.clone(), s.name.clone())
    });
    last_wins(&mut inventory.workloads, |w| {
        (
            format!("{}/{}", w.kind.as_str(), w.namespace),
            w.name.clone(),
        )
    });
}
