//! The data every check reads, read once: from a cluster with paginated lists (a fixed number of
//! requests per kind and page, none per object), or offline from files.
//!
//! - [`cluster`]: the paginated read of a cluster ([`read_cluster`]).
//! - [`pods`]: the summary kept of each pod while listing ([`pod_summary`]).
//! - [`files`]: the offline read of `-f` manifests ([`read_files`]).
//! - [`permissions`]: the access reviews precheck asks for itself and the later steps.
//! - [`conversion`]: the convert engine run on the snapshot's objects (conversion readiness).
//! - [`scope`]: which cluster-scoped Meshes concern the namespace of `-n`.

mod cluster;
mod conversion;
mod files;
mod permissions;
mod pods;
mod scope;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::labels::string_map;
use super::{Skipped, SourceInfo};
use crate::cluster::NamespaceScope;
use crate::cluster::access::AccessAnswer;
use crate::cluster::kinds::APPMESH_KINDS;
use crate::origin::{ObjectRef, Origin, kind_name};
use crate::report::ConversionReport;

pub use cluster::read_cluster;
pub use conversion::{cluster_inventory, conversion_of};
pub use files::{documents_of, from_documents, read_files};
pub use permissions::{permission_plan, permission_requests};
pub use pods::pod_summary;

/// Data a check may need, or why it is not there.
#[derive(Debug, Clone, PartialEq)]
pub enum Data<T> {
    Available(T),
    Unavailable(String),
}

impl<T> Data<T> {
    /// The data, or the reason to skip the check.
    pub fn get(&self) -> Result<&T, Skipped> {
        match self {
            Data::Available(t) => Ok(t),
            Data::Unavailable(reason) => Err(Skipped(reason.clone())),
        }
    }

    pub fn ok(&self) -> Option<&T> {
        match self {
            Data::Available(t) => Some(t),
            Data::Unavailable(_) => None,
        }
    }
}

/// One object as read, kept as JSON (checks read a few fields of many kinds).
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub value: Value,
    pub origin: Origin,
}

impl Object {
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    pub fn api_version(&self) -> &str {
        self.value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.str_at("/metadata/name").unwrap_or("")
    }

    pub fn namespace(&self) -> Option<&str> {
        self.str_at("/metadata/namespace")
    }

    pub fn str_at(&self, pointer: &str) -> Option<&str> {
        self.value.pointer(pointer).and_then(Value::as_str)
    }

    pub fn at(&self, pointer: &str) -> Option<&Value> {
        self.value.pointer(pointer)
    }

    pub fn labels(&self) -> BTreeMap<String, String> {
        string_map(&self.value, "/metadata/labels")
    }

    pub fn annotations(&self) -> BTreeMap<String, String> {
        string_map(&self.value, "/metadata/annotations")
    }

    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::new(kind_name(self.kind()), self.namespace(), self.name())
    }

    /// `metadata.finalizers`.
    pub fn finalizers(&self) -> Vec<&str> {
        self.at("/metadata/finalizers")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
}

/// Where the snapshot came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Cluster {
        context: Option<String>,
        server: String,
    },
    Files {
        paths: Vec<PathBuf>,
    },
}

/// The API server's `/version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub git_version: String,
    pub major: u32,
    pub minor: u32,
}

impl VersionInfo {
    /// Parse `/version`'s fields; cloud providers write minors like `30+`.
    pub fn new(git_version: &str, major: &str, minor: &str) -> Option<VersionInfo> {
        let digits = |s: &str| s.trim_end_matches('+').parse::<u32>().ok();
        let (major, minor) = match (digits(major), digits(minor)) {
            (Some(a), Some(b)) => (a, b),
            _ => {
                // Fall back to gitVersion `v1.20.2-eks-…`.
                let mut parts = git_version.trim_start_matches('v').split(['.', '-', '+']);
                (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?)
            }
        };
        Some(VersionInfo {
            git_version: git_version.to_owned(),
            major,
            minor,
        })
    }
}

/// A read that failed (the checks that need it are skipped; AMI3006 reports it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// `pods`, `virtualnodes.appmesh.k8s.aws`, `API discovery`.
    pub resource: String,
    pub message: String,
    pub forbidden: bool,
}

/// What convert made of the snapshot's App Mesh objects.
#[derive(Debug, Clone, PartialEq)]
pub enum ConversionOutcome {
    Converted(ConversionReport),
    /// The engine failed (a bug, or unreadable input): the message says why.
    Failed(String),
    /// convert's own output broke an Istio rule (a bug in appmesh2istio; convert exits 4): the
    /// violations, as convert's AMI9001 findings.
    InvalidOutput(Vec<crate::findings::Finding>),
}

/// A right a later step needs, and which step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub answer: AccessAnswer,
    /// `precheck`, `label`, `rollout`, `convert --apply`.
    pub needed_by: &'static str,
    /// Needed to read (precheck, convert from a cluster) rather than to change the cluster.
    pub read: bool,
}

/// Everything the checks read.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub mode: Mode,
    pub scope: NamespaceScope,
    /// Set when the API server could not be reached or refused us entirely: nothing else was read.
    pub unreachable: Option<String>,
    pub version: Data<VersionInfo>,
    /// Served versions of the App Mesh and Istio API groups (absent group = not installed).
    pub groups: Data<BTreeMap<String, Vec<String>>>,
    /// Kinds served per `group/version`, for the App Mesh and Istio group versions we use.
    pub served: Data<BTreeMap<String, BTreeSet<String>>>,
    pub namespaces: Data<Vec<Object>>,
    pub pods: Data<Vec<Object>>,
    pub services: Data<Vec<Object>>,
    pub deployments: Data<Vec<Object>>,
    pub statefulsets: Data<Vec<Object>>,
    pub daemonsets: Data<Vec<Object>>,
    /// With `-n`, the Deployments of the control-plane namespaces other than that one (App Mesh
    /// controller, istiod); `None` when `deployments` already holds them (all namespaces), so
    /// that they are not kept twice. Read through [`Snapshot::system_deployments`].
    pub system_deployments_elsewhere: Option<Data<Vec<Object>>>,
    pub mutating_webhooks: Data<Vec<Object>>,
    pub validating_webhooks: Data<Vec<Object>>,
    /// App Mesh objects per kind (`Mesh`, `VirtualNode`, …).
    pub appmesh: BTreeMap<&'static str, Data<Vec<Object>>>,
    /// The Istio objects carrying convert's managed-by label (one labelled list per served Istio
    /// kind): what `convert --apply` (or `convert | kubectl apply`) put in the cluster, for the
    /// migration dashboard.
    pub istio_managed: Data<Vec<Object>>,
    pub permissions: Data<Vec<Permission>>,
    pub conversion: Data<ConversionOutcome>,
    pub read_errors: Vec<ReadError>,
    /// Namespace the App Mesh controller is looked for first.
    pub appmesh_namespace: String,
    pub istio_namespace: String,
    pub requests: u64,
    pub retries: u64,
    pub elapsed: Duration,
}

impl Snapshot {
    fn empty(mode: Mode, scope: NamespaceScope, reason: &str) -> Snapshot {
        fn unavailable<T>(reason: &str) -> Data<T> {
            Data::Unavailable(reason.to_owned())
        }
        Snapshot {
            mode,
            scope,
            unreachable: None,
            version: unavailable(reason),
            groups: unavailable(reason),
            served: unavailable(reason),
            namespaces: unavailable(reason),
            pods: unavailable(reason),
            services: unavailable(reason),
            deployments: unavailable(reason),
            statefulsets: unavailable(reason),
            daemonsets: unavailable(reason),
            system_deployments_elsewhere: Some(unavailable(reason)),
            mutating_webhooks: unavailable(reason),
            validating_webhooks: unavailable(reason),
            appmesh: APPMESH_KINDS
                .iter()
                .map(|k| (k.kind, unavailable(reason)))
                .collect(),
            istio_managed: unavailable(reason),
            permissions: unavailable(reason),
            conversion: unavailable(reason),
            read_errors: Vec::new(),
            appmesh_namespace: "appmesh-system".to_owned(),
            istio_namespace: "istio-system".to_owned(),
            requests: 0,
            retries: 0,
            elapsed: Duration::ZERO,
        }
    }

    /// The snapshot of a cluster that could not even be configured or reached: only the
    /// reachability check runs, and precheck exits with "could not run".
    pub fn not_connected(
        context: Option<String>,
        server: String,
        scope: NamespaceScope,
        reason: String,
    ) -> Snapshot {
        let mut snap = Snapshot::empty(
            Mode::Cluster { context, server },
            scope,
            "the API server could not be reached",
        );
        snap.unreachable = Some(reason);
        snap
    }

    pub fn is_offline(&self) -> bool {
        matches!(self.mode, Mode::Files { .. })
    }

    /// Every App Mesh object that could be read.
    pub fn appmesh_objects(&self) -> impl Iterator<Item = &Object> {
        self.appmesh.values().filter_map(Data::ok).flatten()
    }

    /// App Mesh objects of one kind (empty when unreadable).
    pub fn appmesh_of(&self, kind: &str) -> &[Object] {
        self.appmesh
            .get(kind)
            .and_then(Data::ok)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Namespace labels by namespace name (empty when namespaces are unreadable).
    pub fn namespace_labels(&self) -> BTreeMap<&str, BTreeMap<String, String>> {
        self.namespaces
            .ok()
            .into_iter()
            .flatten()
            .map(|n| (n.name(), n.labels()))
            .collect()
    }

    /// Deployments of the control-plane namespaces (App Mesh controller, istiod), also when the
    /// scope is one namespace: those of the other control-plane namespaces first, then the
    /// scope's own.
    pub fn system_deployments(&self) -> Result<Vec<&Object>, Skipped> {
        match &self.system_deployments_elsewhere {
            None => Ok(self.deployments.get()?.iter().collect()),
            Some(elsewhere) => {
                let mut all: Vec<&Object> = elsewhere.get()?.iter().collect();
                all.extend(self.deployments.ok().into_iter().flatten());
                Ok(all)
            }
        }
    }

    /// Deployments, StatefulSets and DaemonSets that could be read.
    pub fn workloads(&self) -> impl Iterator<Item = &Object> {
        [&self.deployments, &self.statefulsets, &self.daemonsets]
            .into_iter()
            .filter_map(Data::ok)
            .flatten()
    }

    pub fn source_info(&self) -> SourceInfo {
        match &self.mode {
            Mode::Cluster { context, server } => SourceInfo {
                mode: "cluster",
                context: context.clone(),
                server: Some(server.clone()),
                kubernetes_version: self.version.ok().map(|v| v.git_version.clone()),
                namespace: self.scope.namespace().map(str::to_owned),
                files: Vec::new(),
            },
            Mode::Files { paths } => SourceInfo {
                mode: "files",
                context: None,
                server: None,
                kubernetes_version: None,
                namespace: self.scope.namespace().map(str::to_owned),
                files: paths.iter().map(|p| p.display().to_string()).collect(),
            },
        }
    }
}

/// How to read a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    pub scope: NamespaceScope,
    pub appmesh_namespace: String,
    pub istio_namespace: String,
    /// Ask SelfSubjectAccessReviews (skipped when the cluster-access category is not selected).
    pub permissions: bool,
    /// Run the convert engine on what was read (the conversion-readiness category).
    pub convert: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            scope: NamespaceScope::All,
            appmesh_namespace: "appmesh-system".to_owned(),
            istio_namespace: "istio-system".to_owned(),
            permissions: true,
            convert: true,
        }
    }
}
