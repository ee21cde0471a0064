//! Sources (files, directories, standard input) into an [`Inventory`]: typed App Mesh objects
//! plus the Kubernetes objects resolution needs, each with its [`Origin`].
//!
//! A source that cannot be read as a whole (unreadable, not UTF-8, not YAML, an unrendered
//! template, over the safety limits) fails the whole load with a [`LoadError`]: converting the
//! part of a file that happened to parse would silently drop the rest. An App Mesh object that
//! parses as YAML but breaks the schema is a finding instead (AMI1003), so one bad object does
//! not hide the conversion of the others.

pub mod template;
pub mod yaml;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::appmesh::{self, AppMeshKind, AppMeshObject};
use crate::findings::Finding;
use crate::k8s::{self, Namespace, Service, Workload, WorkloadKind};
use crate::origin::{ObjectRef, Origin, kind_name};

pub use template::{TemplateMarker, find_template_marker, find_template_markers};
pub use yaml::YamlLimits;

/// Where to read manifests from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    /// One file, whatever its extension.
    File(PathBuf),
    /// A directory's `.yaml`, `.yml` and `.json` files (as `kubectl apply -f DIR`); with
    /// `recursive`, those of its subdirectories too (as `-R`).
    Directory { path: PathBuf, recursive: bool },
    /// Bytes already read, e.g. standard input (name `-`).
    Bytes { name: String, bytes: Vec<u8> },
}

impl InputSource {
    /// Standard input's content, named `-` as on the command line.
    pub fn stdin(bytes: Vec<u8>) -> InputSource {
        InputSource::Bytes {
            name: "-".to_owned(),
            bytes,
        }
    }

    /// A path from the command line: a directory or a file.
    pub fn path(path: impl Into<PathBuf>, recursive: bool) -> InputSource {
        let path = path.into();
        if path.is_dir() {
            InputSource::Directory { path, recursive }
        } else {
            InputSource::File(path)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Namespace of namespaced objects without `metadata.namespace` (kubectl's `-n`).
    pub default_namespace: String,
    pub limits: YamlLimits,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            default_namespace: "default".to_owned(),
            limits: YamlLimits::default(),
        }
    }
}

/// A loaded object and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced<T> {
    pub object: T,
    pub origin: Origin,
}

/// Everything read from the sources.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    /// App Mesh v1beta2 objects that decoded; namespaced ones always have `metadata.namespace`.
    pub appmesh: Vec<Sourced<AppMeshObject>>,
    pub namespaces: Vec<Sourced<Namespace>>,
    pub services: Vec<Sourced<Service>>,
    pub workloads: Vec<Sourced<Workload>>,
    /// Input findings (AMI10xx): unknown fields, unsupported kinds/versions, invalid objects,
    /// duplicates.
    pub findings: Vec<Finding>,
    /// Documents and List items read (empty documents excluded).
    pub documents: usize,
    /// Objects neither App Mesh nor used for resolution, by `apiVersion kind`.
    pub skipped: BTreeMap<String, usize>,
    /// Files read, in order.
    pub files: Vec<PathBuf>,
}

impl Inventory {
    pub fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }
}

/// Why a source could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: cannot read: {source}", display_path(path))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: not UTF-8 text (save it as UTF-8)", display_path(path))]
    NotUtf8 { path: PathBuf, line: usize },
    #[error("{}: no .yaml, .yml or .json files in this directory{}", display_path(path),
        if *recursive { " or its subdirectories" } else { " (use --recursive for subdirectories)" })]
    NoInputFiles { path: PathBuf, recursive: bool },
    #[error("{}:{}: invalid YAML: {message}", display_path(path), position(*line, *column))]
    Yaml {
        path: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    #[error(
        "{}:{}: refused: {message}: the input exceeds the loader's safety limits (an alias/anchor \
         bomb, absurd nesting, or more content than a cluster holds)",
        display_path(path),
        position(*line, *column)
    )]
    Limit {
        path: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    #[error(
        "{}:{line}:{column}: this looks like a template ({marker}): render it first \
         (envsubst < file, or helm template ...)",
        display_path(path)
    )]
    Template {
        path: PathBuf,
        line: usize,
        column: usize,
        marker: String,
    },
}

impl LoadError {
    /// The source the error is about.
    pub fn path(&self) -> &Path {
        match self {
            LoadError::Io { path, .. }
            | LoadError::NotUtf8 { path, .. }
            | LoadError::NoInputFiles { path, .. }
            | LoadError::Yaml { path, .. }
            | LoadError::Limit { path, .. }
            | LoadError::Template { path, .. } => path,
        }
    }

    /// 1-based line the error points at, when there is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            LoadError::NotUtf8 { line, .. } | LoadError::Template { line, .. } => Some(*line),
            LoadError::Yaml { line, .. } | LoadError::Limit { line, .. } => *line,
            LoadError::Io { .. } | LoadError::NoInputFiles { .. } => None,
        }
    }
}

fn display_path(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}

/// `line:column`, or `line 1` wording when the parser gave no position (budget breaches found
/// after the fact): the message then still names a line a reader can open.
fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("{l}:{c}"),
        (Some(l), None) => format!("{l}"),
        _ => "1".to_owned(),
    }
}

/// Stack for the loading thread. Parsing and decoding recurse once per nesting level, and in
/// debug builds a level costs tens of kilobytes; this leaves room for the nesting limit
/// ([`YamlLimits::max_depth`]) on any thread, where the 2 MiB of a spawned thread would not.
/// The memory is only reserved; pages are touched as far as the input actually nests.
const LOAD_STACK_BYTES: usize = 256 << 20;

/// Load every source, in order. Stops at the first source that fails: no partial inventory.
pub fn load_sources(sources: &[InputSource], opts: &LoadOptions) -> Result<Inventory, LoadError> {
    with_large_stack(|| load_sources_here(sources, opts))
}

thread_local! {
    /// Set on threads started by [`with_large_stack`], so nested calls run in place.
    static ON_LARGE_STACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `work` on a thread with [`LOAD_STACK_BYTES`] of stack, or in place when already on one
/// (or when no thread can be had).
///
/// Loading needs the deep stack; binaries run their whole pipeline inside one call of this so
/// that parsing, conversion and rendering share one thread, and with it one malloc arena:
/// memory freed after parsing is then reused by the conversion instead of staying reserved in
/// a second arena (which made peak memory about 1.6x higher at 10,000 objects).
pub fn with_large_stack<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    if ON_LARGE_STACK.with(std::cell::Cell::get) {
        return work();
    }
    // The work moves into whichever thread runs it; a failed spawn leaves it in the slot.
    let slot = std::sync::Mutex::new(Some(work));
    let take = || {
        slot.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    };
    let result = std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("appmesh2istio-load".to_owned())
            .stack_size(LOAD_STACK_BYTES)
            .spawn_scoped(scope, || {
                ON_LARGE_STACK.with(|flag| flag.set(true));
                take().map(|w| w())
            });
        match worker {
            Ok(handle) => match handle.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            // No thread to be had: run here, with whatever stack this thread has.
            Err(_) => take().map(|w| w()),
        }
    });
    match result {
        Some(result) => result,
        None => unreachable!("the work runs exactly once"),
    }
}

/// Build the inventory from objects already parsed, e.g. read from a cluster by
/// [`crate::cluster::inventory::read_inventory`]: each object is classified and decoded exactly as
/// a document of a file would be (same findings, same deduplication), with `origin` as its
/// origin. `List`s are not expanded: pass their items.
pub fn from_values(values: Vec<Value>, origin: &Origin, opts: &LoadOptions) -> Inventory {
    with_large_stack(move || {
        let mut loader = Loader {
            opts,
            inventory: Inventory::default(),
        };
        for value in values {
            loader.add(origin.clone(), value);
        }
        let mut inventory = loader.inventory;
        dedupe(&mut inventory);
        inventory
    })
}

fn load_sources_here(sources: &[InputSource], opts: &LoadOptions) -> Result<Inventory, LoadError> {
    let mut loader = Loader {
        opts,
        inventory: Inventory::default(),
    };
    for source in sources {
        match source {
            InputSource::File(path) => {
                let bytes = read(path)?;
                loader.load_bytes(path, &bytes)?;
            }
            InputSource::Directory { path, recursive } => {
                let mut files = Vec::new();
                collect_files(path, *recursive, &mut files)?;
                if files.is_empty() {
                    return Err(LoadError::NoInputFiles {
                        path: path.clone(),
                        recursive: *recursive,
                    });
                }
                for file in files {
                    let bytes = read(&file)?;
                    loader.load_bytes(&file, &bytes)?;
                }
            }
            InputSource::Bytes { name, bytes } => loader.load_bytes(Path::new(name), bytes)?,
        }
    }
    let mut inventory = loader.inventory;
    dedupe(&mut inventory);
    Ok(inventory)
}

/// Load one text, as if read from a file named `name` (tests, embedded inputs).
pub fn load_str(name: &str, text: &str, opts: &LoadOptions) -> Result<Inventory, LoadError> {
    load_sources(
        &[InputSource::Bytes {
            name: name.to_owned(),
            bytes: text.as_bytes().to_vec(),
        }],
        opts,
    )
}

fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })
}

fn has_manifest_extension(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// The manifest files of `dir`, sorted by name (directories after files at each level) so
/// output order does not depend on the filesystem.
fn collect_files(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    let mut subdirs = Vec::new();
    for path in entries {
        // Symlinked directories are not followed, so a link cycle cannot recurse forever.
        let meta = std::fs::symlink_metadata(&path).map_err(|source| LoadError::Io {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            subdirs.push(path);
        } else if has_manifest_extension(&path) && path.is_file() {
            out.push(path);
        }
    }
    if recursive {
        for sub in subdirs {
            collect_files(&sub, true, out)?;
        }
    }
    Ok(())
}

struct Loader<'o> {
    opts: &'o LoadOptions,
    inventory: Inventory,
}

impl Loader<'_> {
    fn load_bytes(&mut self, path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
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
                Some(items) if is_list(&doc.document.value) => {
                    for item in items {
                        self.add(Origin::file(path, item.line), item.value);
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

    fn add(&mut self, origin: Origin, value: Value) {
        self.inventory.documents += 1;
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
        let decoded = appmesh::decode(kind, value);
        for field in decoded.unknown_fields {
            let key = field.rsplit('.').next().unwrap_or(&field).to_owned();
            let mut message = format!("`{key}` is not a field of {} {kind}", appmesh::API_VERSION);
            if let Some(known) = v1beta1_spelling(&key) {
                message.push_str(&format!(" (did you mean `{known}`?)"));
            }
            message.push_str("; it is ignored, as the API server drops it");
            self.inventory.findings.push(
                Finding::new("AMI1001", subject.clone(), message)
                    .at_field(field)
                    .with_origin(Some(origin.clone())),
            );
        }
        let mut object = match decoded.object {
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

/// `kind: List` (kubectl) or `<Kind>List` (API lists) with items.
fn is_list(value: &Value) -> bool {
    value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || k.ends_with("List"))
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
fn dedupe(inventory: &mut Inventory) {
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

impl fmt::Display for Inventory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} documents: {} App Mesh objects, {} namespaces, {} services, {} workloads, {} skipped",
            self.documents,
            self.appmesh.len(),
            self.namespaces.len(),
            self.services.len(),
            self.workloads.len(),
            self.skipped_total()
        )
    }
}

#[cfg(test)]
mod tests;
