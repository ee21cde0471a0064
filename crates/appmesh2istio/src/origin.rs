//! Where an object came from, so every message can point at it.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::cluster::kinds::known_kind;

/// The place an input document was read from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "source", rename_all = "camelCase")]
pub enum Origin {
    /// A file (or `-` for standard input), with the 1-based line where the document starts,
    /// or, for a finding about one field, the line and column where that field is written.
    File {
        path: PathBuf,
        line: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        column: Option<usize>,
    },
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
            column: None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line, column } => {
                if path.as_os_str() == "-" {
                    write!(f, "<stdin>:{line}")?;
                } else {
                    write!(f, "{}:{line}", path.display())?;
                }
                match column {
                    Some(column) => write!(f, ":{column}"),
                    None => Ok(()),
                }
            }
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
    /// Borrowed for the kinds we know (no allocation per reference: references are cloned
    /// into every finding, report entry and source annotation).
    pub kind: Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn new(
        kind: impl Into<Cow<'static, str>>,
        namespace: Option<&str>,
        name: impl Into<String>,
    ) -> Self {
        ObjectRef {
            kind: kind.into(),
            namespace: namespace.map(str::to_owned),
            name: name.into(),
        }
    }
}

/// `kind` as an [`ObjectRef::kind`]: borrowed for the kinds of [`known_kind`], so that a
/// kind read from input does not allocate either.
pub fn kind_name(kind: &str) -> Cow<'static, str> {
    match known_kind(kind) {
        Some(known) => Cow::Borrowed(known.kind),
        None => Cow::Owned(kind.to_owned()),
    }
}

/// Lets maps keyed by `ObjectRef` take a borrowed key and clone it only on insertion.
impl From<&ObjectRef> for ObjectRef {
    fn from(r: &ObjectRef) -> ObjectRef {
        r.clone()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_kinds_are_borrowed_and_others_kept_as_written() {
        assert!(matches!(
            kind_name("VirtualNode"),
            Cow::Borrowed("VirtualNode")
        ));
        assert!(matches!(
            kind_name("Deployment"),
            Cow::Borrowed("Deployment")
        ));
        let other = kind_name("Rollout");
        assert!(matches!(other, Cow::Owned(_)));
        assert_eq!(other, "Rollout");
        // Borrowed or owned, references compare, hash and print alike.
        let a = ObjectRef::new(kind_name("Service"), Some("shop"), "cart");
        let b = ObjectRef::new("Service".to_owned(), Some("shop"), "cart");
        assert_eq!(a, b);
        let set: hashbrown::HashSet<ObjectRef> = [a.clone()].into();
        assert!(set.contains(&b));
        assert_eq!(b.to_string(), "Service shop/cart");
    }
}
