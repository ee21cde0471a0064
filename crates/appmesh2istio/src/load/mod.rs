//! Sources (files, directories, standard input) into an [`Inventory`]: typed App Mesh objects
//! plus the Kubernetes objects resolution needs, each with its [`Origin`].
//!
//! A source that cannot be read as a whole (unreadable, not UTF-8, not YAML, an unrendered
//! template, over the safety limits) fails the whole load with a [`LoadError`]: converting the
//! part of a file that happened to parse would silently drop the rest. A document that parses
//! but that kubectl or the API server would refuse is a finding at its file and line instead
//! (no string apiVersion/kind, unreadable List, wrong case: AMI1006-1008; an App Mesh object
//! that breaks its schema: AMI1003, AMI1005, AMI1009), so one bad object does not hide the
//! conversion of the others, and nothing is dropped without a word.

mod documents;
mod expansion;
pub mod locate;
mod shape;
mod tags;
pub mod template;
pub mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::appmesh::AppMeshObject;
use crate::findings::Finding;
use crate::k8s::{Namespace, Service, Workload};
use crate::origin::{ObjectRef, Origin};
use documents::{Loader, dedupe};

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
    /// A file that cannot be read or parsed (a Helm template in a directory of manifests) is
    /// reported as an AMI1050 finding and the rest is read, instead of stopping the load
    /// (convert's `--skip-unreadable`).
    pub skip_unreadable: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            default_namespace: "default".to_owned(),
            limits: YamlLimits::default(),
            skip_unreadable: false,
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
    /// Flagger `Canary` and `MetricTemplate` objects (`flagger.app/v1beta1`), as read, with
    /// `metadata.namespace` filled in: canaries driven through App Mesh move with the mesh.
    pub flagger: Vec<Sourced<Value>>,
    /// Argo Rollouts `Rollout` objects (`argoproj.io/v1alpha1`), as read, with
    /// `metadata.namespace` filled in: canaries App Mesh split move to Istio's splitting.
    pub rollouts: Vec<Sourced<Value>>,
    /// Input findings (AMI10xx): unknown fields, unsupported kinds/versions, invalid objects,
    /// duplicates.
    pub findings: Vec<Finding>,
    /// Documents and List items read (empty documents excluded).
    pub documents: usize,
    /// Objects neither App Mesh nor used for resolution, by `apiVersion kind`.
    pub skipped: BTreeMap<String, usize>,
    /// Files read, in order.
    pub files: Vec<PathBuf>,
    /// The text of sources that were not files (standard input, [`load_str`]), kept so that
    /// findings can be placed at their field afterwards ([`locate`]); files are read again.
    pub texts: BTreeMap<PathBuf, std::sync::Arc<str>>,
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
///
/// `values` is consumed one object at a time: a caller that hands an iterator of clones holds
/// one clone at a time, not a second copy of everything.
pub fn from_values<I>(values: I, origin: &Origin, opts: &LoadOptions) -> Inventory
where
    I: IntoIterator<Item = Value>,
    I::IntoIter: Send,
{
    let values = values.into_iter();
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
        crate::convert::argo::strip_run_time_selectors(&mut inventory);
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
            InputSource::File(path) => loader.load_file(path)?,
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
                    loader.load_file(&file)?;
                }
            }
            InputSource::Bytes { name, bytes } => {
                let loaded = loader.load_bytes(Path::new(name), bytes);
                if loaded.is_ok()
                    && let Ok(text) = std::str::from_utf8(bytes)
                {
                    loader
                        .inventory
                        .texts
                        .insert(PathBuf::from(name), std::sync::Arc::from(text));
                }
                loader.skip_or_fail(loaded)?;
            }
        }
    }
    let mut inventory = loader.inventory;
    dedupe(&mut inventory);
    crate::convert::argo::strip_run_time_selectors(&mut inventory);
    Ok(inventory)
}

impl Loader<'_> {
    fn load_file(&mut self, path: &Path) -> Result<(), LoadError> {
        let loaded = read(path).and_then(|bytes| self.load_bytes(path, &bytes));
        self.skip_or_fail(loaded)
    }

    /// With [`LoadOptions::skip_unreadable`], a source that failed to load becomes an AMI1050
    /// finding (at the error's file and line) and loading goes on; otherwise the error stops
    /// it. A source is only ever refused before any of its documents is added, so a skipped
    /// file contributes nothing.
    fn skip_or_fail(&mut self, loaded: Result<(), LoadError>) -> Result<(), LoadError> {
        match loaded {
            Err(error) if self.opts.skip_unreadable => {
                let path = error.path().to_owned();
                let origin = Origin::file(&path, error.line().unwrap_or(1));
                self.inventory.findings.push(
                    Finding::new(
                        "AMI1050",
                        ObjectRef::new("File", None, display_path(&path)),
                        format!("skipped (--skip-unreadable): {error}"),
                    )
                    .with_origin(Some(origin)),
                );
                Ok(())
            }
            other => other,
        }
    }
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
