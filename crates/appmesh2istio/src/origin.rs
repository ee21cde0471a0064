//! Where an object came from, so every message can point at it.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// The place an input document was read from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "source", rename_all = "camelCase")]
pub enum Origin {
    /// A file (or `-` for standard input), with the 1-based line where the document starts.
    File { path: PathBuf, line: usize },
    /// An object read from a cluster.
    Cluster { context: Option<String> },
    /// Built in memory (tests, generators).
    Generated,
}

impl Origin {
    pub fn file(path: impl Into<PathBuf>, line: usize) -> Self {
        Origin::File {
            path: path.into(),
            line,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line } if path.as_os_str() == "-" => write!(f, "<stdin>:{line}"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Cluster { context: Some(c) } => write!(f, "cluster (context {c})"),
            Origin::Cluster { context: None } => write!(f, "cluster"),
            Origin::Generated => write!(f, "generated"),
        }
    }
}

/// A Kubernetes object reference, as messages and reports name objects: `Kind namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: impl Into<String>, namespace: Option<&str>, name: impl Into<String>) -> Self {
        ObjectRef {
            kind: kind.into(),
            namespace: namespace.map(str::to_owned),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}
