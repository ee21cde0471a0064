//! The data every check reads, read once: from a cluster with paginated lists (a fixed number of
//! requests per kind and page, none per object), or offline from files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::future::join_all;
use k8s_openapi::api::core::v1::Namespace as CoreNamespace;
use kube::api::Api;
use serde_json::Value;

use super::labels::string_map;
use super::{Skipped, SourceInfo};
use crate::cluster::access::{AccessAnswer, AccessRequest, review_all};
use crate::cluster::kinds::{self, APPMESH_GROUP, APPMESH_KINDS, ISTIO_KINDS, KindInfo};
use crate::cluster::list::{list_parsed, list_values, list_values_selected};
use crate::cluster::{Cluster, ClusterError, NamespaceScope, describe_kube_error};
use crate::istio::{MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use crate::load::yaml::{YamlLimits, parse_documents};
use crate::load::{InputSource, Inventory, LoadError, LoadOptions, load_sources};
use crate::origin::{ObjectRef, Origin, kind_name};
use crate::report::ConversionReport;

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
    /// Deployments of the control-plane namespaces (App Mesh controller, istiod), also when the
    /// scope is one namespace.
    pub system_deployments: Data<Vec<Object>>,
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
            system_deployments: unavailable(reason),
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

/// Read everything the checks need. Never fails: an unreachable server is recorded in
/// [`Snapshot::unreachable`], an unreadable kind in [`Snapshot::read_errors`].
pub async fn read_cluster(cluster: &Cluster, options: &ReadOptions) -> Snapshot {
    let started = Instant::now();
    let requests_before = cluster.stats.requests();
    let retries_before = cluster.stats.retries();
    let mode = Mode::Cluster {
        context: cluster.context.clone(),
        server: cluster.server.clone(),
    };
    let mut snap = Snapshot::empty(mode, options.scope.clone(), "not read");
    snap.appmesh_namespace = options.appmesh_namespace.clone();
    snap.istio_namespace = options.istio_namespace.clone();
    let origin = Origin::Cluster {
        context: cluster.context.clone(),
    };
    let client = &cluster.client;

    // One cheap request first: if it fails, nothing else would work, and the user needs one
    // clear message rather than twenty.
    match client.apiserver_version().await {
        Ok(info) => {
            snap.version = match VersionInfo::new(&info.git_version, &info.major, &info.minor) {
                Some(v) => Data::Available(v),
                None => Data::Unavailable(format!(
                    "unrecognised server version {:?}",
                    info.git_version
                )),
            };
        }
        Err(e) => {
            snap.unreachable = Some(describe_kube_error(&e));
            snap.requests = cluster.stats.requests() - requests_before;
            snap.retries = cluster.stats.retries() - retries_before;
            snap.elapsed = started.elapsed();
            return snap;
        }
    }

    let scope = &options.scope;
    let system_namespaces: Vec<String> = {
        let mut v = vec![
            options.appmesh_namespace.clone(),
            options.istio_namespace.clone(),
        ];
        v.dedup();
        v
    };
    let core = async {
        let namespaces = async {
            match scope {
                NamespaceScope::All => list_values(client, &kinds::NAMESPACES, scope).await,
                NamespaceScope::One(ns) => get_namespace(client, ns).await,
            }
        };
        let system = async {
            match scope {
                // Already in the all-namespaces list.
                NamespaceScope::All => Ok(None),
                NamespaceScope::One(ns) => {
                    let lists = join_all(system_namespaces.iter().filter(|s| *s != ns).map(
                        |s| async move {
                            let scope = NamespaceScope::One(s.clone());
                            list_values(client, &kinds::DEPLOYMENTS, &scope).await
                        },
                    ))
                    .await;
                    lists
                        .into_iter()
                        .collect::<Result<Vec<_>, _>>()
                        .map(|v| Some(v.concat()))
                }
            }
        };
        futures::join!(
            namespaces,
            list_parsed(client, &kinds::PODS, scope, None, |pod: Value| {
                Some(pod_summary(pod))
            }),
            list_values(client, &kinds::SERVICES, scope),
            list_values(client, &kinds::DEPLOYMENTS, scope),
            list_values(client, &kinds::STATEFULSETS, scope),
            list_values(client, &kinds::DAEMONSETS, scope),
            list_values(client, &kinds::MUTATING_WEBHOOKS, scope),
            list_values(client, &kinds::VALIDATING_WEBHOOKS, scope),
            system,
        )
    };
    let meshes = read_mesh_apis(client, scope);
    let permissions = async {
        if options.permissions {
            Some(review_all(client, permission_requests(scope)).await)
        } else {
            None
        }
    };
    let (
        (
            namespaces,
            pods,
            services,
            deployments,
            statefulsets,
            daemonsets,
            mutating,
            validating,
            system,
        ),
        mesh,
        access,
    ) = futures::join!(core, meshes, permissions);

    let errors = &mut snap.read_errors;
    snap.namespaces = collect(namespaces, &kinds::NAMESPACES, &origin, errors);
    if let (NamespaceScope::One(ns), Some([])) = (scope, snap.namespaces.ok().map(Vec::as_slice)) {
        errors.push(ReadError {
            resource: "namespaces".into(),
            message: format!("namespace {ns} does not exist"),
            forbidden: false,
        });
    }
    snap.pods = collect(pods, &kinds::PODS, &origin, errors);
    snap.services = collect(services, &kinds::SERVICES, &origin, errors);
    snap.deployments = collect(deployments, &kinds::DEPLOYMENTS, &origin, errors);
    snap.statefulsets = collect(statefulsets, &kinds::STATEFULSETS, &origin, errors);
    snap.daemonsets = collect(daemonsets, &kinds::DAEMONSETS, &origin, errors);
    snap.mutating_webhooks = collect(mutating, &kinds::MUTATING_WEBHOOKS, &origin, errors);
    snap.validating_webhooks = collect(validating, &kinds::VALIDATING_WEBHOOKS, &origin, errors);
    snap.system_deployments = match system {
        Ok(None) => snap.deployments.clone(),
        Ok(Some(extra)) => {
            let mut all: Vec<Object> = extra
                .into_iter()
                .map(|value| Object {
                    value,
                    origin: origin.clone(),
                })
                .collect();
            all.extend(snap.deployments.ok().into_iter().flatten().cloned());
            Data::Available(all)
        }
        Err(e) => {
            let d = collect(Err(e), &kinds::DEPLOYMENTS, &origin, errors);
            match d {
                Data::Unavailable(r) => Data::Unavailable(r),
                Data::Available(_) => Data::Unavailable("not read".into()),
            }
        }
    };
    let MeshApis {
        groups,
        served,
        lists,
        istio,
        errors: mesh_errors,
    } = mesh;
    snap.read_errors.extend(mesh_errors);
    snap.groups = groups;
    snap.served = served;
    for (kind, result) in lists {
        let data = match result {
            Ok(items) => Data::Available(
                items
                    .into_iter()
                    .map(|value| Object {
                        value,
                        origin: origin.clone(),
                    })
                    .collect(),
            ),
            Err(e) => {
                let info = kinds::appmesh_kind(kind);
                let resource = info
                    .map(KindInfo::resource_name)
                    .unwrap_or_else(|| kind.to_owned());
                snap.read_errors.push(ReadError {
                    resource,
                    message: e.to_string(),
                    forbidden: e.is_forbidden(),
                });
                Data::Unavailable(format!("{kind} objects could not be read: {e}"))
            }
        };
        snap.appmesh.insert(kind, data);
    }
    snap.istio_managed = match istio {
        None => Data::Unavailable("API discovery failed".into()),
        Some(results) => {
            let mut all = Vec::new();
            let mut failed = Vec::new();
            for (kind, result) in results {
                match result {
                    Ok(items) => all.extend(items.into_iter().map(|value| Object {
                        value,
                        origin: origin.clone(),
                    })),
                    Err(e) => {
                        snap.read_errors.push(ReadError {
                            resource: kind.resource_name(),
                            message: e.to_string(),
                            forbidden: e.is_forbidden(),
                        });
                        failed.push(kind.resource_name());
                    }
                }
            }
            if failed.is_empty() {
                Data::Available(all)
            } else {
                Data::Unavailable(format!("{} could not be read", failed.join(", ")))
            }
        }
    };
    snap.permissions = match access {
        Some(answers) => Data::Available(label_permissions(answers)),
        None => {
            Data::Unavailable("permissions were not checked (cluster-access not selected)".into())
        }
    };
    snap.read_errors.sort_by(|a, b| a.resource.cmp(&b.resource));
    snap.conversion = if options.convert {
        convert_cluster_objects(&snap)
    } else {
        Data::Unavailable("conversion-readiness not selected".into())
    };
    // After the conversion, which (like convert) sees every Mesh.
    if let NamespaceScope::One(ns) = scope {
        keep_relevant_meshes(&mut snap, ns);
    }
    snap.requests = cluster.stats.requests() - requests_before;
    snap.retries = cluster.stats.retries() - retries_before;
    snap.elapsed = started.elapsed();
    snap
}

/// The Meshes that concern namespace `ns`: they select it, or one of its objects names them in
/// `meshRef`.
fn relevant_meshes(snap: &Snapshot, ns: &str) -> BTreeSet<String> {
    let labels = snap.namespace_labels().get(ns).cloned().unwrap_or_default();
    let mut names: BTreeSet<String> = snap
        .appmesh_objects()
        .filter(|o| o.namespace() == Some(ns))
        .filter_map(|o| o.str_at("/spec/meshRef/name").map(str::to_owned))
        .collect();
    for m in snap.appmesh_of("Mesh") {
        if super::labels::selector_matches(m.at("/spec/namespaceSelector"), &labels) {
            names.insert(m.name().to_owned());
        }
    }
    names
}

/// With `-n`, Meshes (cluster-scoped) are reported only when they concern that namespace, and
/// so is the conversion: other teams' meshes are not the user's question. (The conversion
/// itself saw every Mesh, as convert does, so membership resolves the same.)
fn keep_relevant_meshes(snap: &mut Snapshot, ns: &str) {
    let relevant = relevant_meshes(snap, ns);
    if let Some(Data::Available(meshes)) = snap.appmesh.get_mut("Mesh") {
        meshes.retain(|m| relevant.contains(m.name()));
    }
    if let Data::Available(ConversionOutcome::Converted(report)) = &mut snap.conversion {
        report.sources.retain(|s| {
            s.subject.namespace.as_deref() == Some(ns)
                || (s.subject.kind == "Mesh" && relevant.contains(&s.subject.name))
        });
        let mut summary = crate::report::Summary {
            sources: report.sources.len(),
            ..Default::default()
        };
        let mut produced = BTreeSet::new();
        for s in &report.sources {
            match s.fidelity {
                crate::findings::Fidelity::Exact => summary.exact += 1,
                crate::findings::Fidelity::Approximated => summary.approximated += 1,
                crate::findings::Fidelity::NotConverted => summary.not_converted += 1,
            }
            produced.extend(s.produced.iter().cloned());
        }
        summary.generated = produced.len();
        report.summary = summary;
    }
}

async fn get_namespace(client: &kube::Client, name: &str) -> Result<Vec<Value>, ClusterError> {
    let api: Api<CoreNamespace> = Api::all(client.clone());
    match api.get_opt(name).await {
        Ok(Some(ns)) => {
            let mut value = serde_json::to_value(ns).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut value {
                map.insert("apiVersion".into(), "v1".into());
                map.insert("kind".into(), "Namespace".into());
            }
            Ok(vec![value])
        }
        Ok(None) => Ok(Vec::new()),
        Err(source) => Err(ClusterError::Api {
            what: format!("cannot get namespace {name}"),
            source,
        }),
    }
}

/// The fields of a pod precheck's checks read (owner, labels, annotations, deletion, phase,
/// node, hostNetwork, run-as UIDs, and per container its name, image and env names), built page
/// by page while listing: 20,000 whole pods would be held at once otherwise. A check that reads
/// another pod field must add it here.
pub fn pod_summary(pod: Value) -> Value {
    fn pick(from: &Value, keys: &[&str]) -> serde_json::Map<String, Value> {
        keys.iter()
            .filter_map(|k| from.get(*k).map(|v| ((*k).to_owned(), v.clone())))
            .collect()
    }
    fn container(c: &Value) -> Value {
        let mut out = pick(c, &["name", "image"]);
        if let Some(env) = c.get("env").and_then(Value::as_array) {
            let names: Vec<Value> = env
                .iter()
                .filter_map(|e| e.get("name").map(|n| serde_json::json!({"name": n})))
                .collect();
            out.insert("env".into(), Value::Array(names));
        }
        if let Some(uid) = c.pointer("/securityContext/runAsUser") {
            out.insert(
                "securityContext".into(),
                serde_json::json!({"runAsUser": uid}),
            );
        }
        Value::Object(out)
    }
    let metadata = pick(
        &pod["metadata"],
        &[
            "name",
            "namespace",
            "labels",
            "annotations",
            "ownerReferences",
            "deletionTimestamp",
        ],
    );
    let mut spec = pick(&pod["spec"], &["nodeName", "hostNetwork"]);
    if let Some(uid) = pod.pointer("/spec/securityContext/runAsUser") {
        spec.insert(
            "securityContext".into(),
            serde_json::json!({"runAsUser": uid}),
        );
    }
    for field in ["containers", "initContainers"] {
        if let Some(list) = pod["spec"].get(field).and_then(Value::as_array) {
            spec.insert(field.into(), list.iter().map(container).collect());
        }
    }
    let mut out = serde_json::Map::new();
    out.insert("apiVersion".into(), kinds::PODS.api_version().into());
    out.insert("kind".into(), kinds::PODS.kind.into());
    out.insert("metadata".into(), Value::Object(metadata));
    out.insert("spec".into(), Value::Object(spec));
    if let Some(phase) = pod.pointer("/status/phase") {
        out.insert("status".into(), serde_json::json!({"phase": phase}));
    }
    Value::Object(out)
}

fn collect(
    result: Result<Vec<Value>, ClusterError>,
    kind: &KindInfo,
    origin: &Origin,
    errors: &mut Vec<ReadError>,
) -> Data<Vec<Object>> {
    match result {
        Ok(items) => Data::Available(
            items
                .into_iter()
                .map(|value| Object {
                    value,
                    origin: origin.clone(),
                })
                .collect(),
        ),
        Err(e) => {
            errors.push(ReadError {
                resource: kind.resource_name(),
                message: e.to_string(),
                forbidden: e.is_forbidden(),
            });
            Data::Unavailable(format!("{} could not be read: {}", kind.resource_name(), e))
        }
    }
}

struct MeshApis {
    groups: Data<BTreeMap<String, Vec<String>>>,
    served: Data<BTreeMap<String, BTreeSet<String>>>,
    lists: Vec<(&'static str, Result<Vec<Value>, ClusterError>)>,
    /// Our Istio objects per served Istio kind; `None` when discovery failed.
    istio: Option<IstioLists>,
    errors: Vec<ReadError>,
}

type IstioLists = Vec<(&'static KindInfo, Result<Vec<Value>, ClusterError>)>;

/// The App Mesh and Istio API groups (legacy discovery: `/apis`, then one request per group
/// version we care about), then every served App Mesh kind.
async fn read_mesh_apis(client: &kube::Client, scope: &NamespaceScope) -> MeshApis {
    let mut errors = Vec::new();
    let group_list = match client.list_api_groups().await {
        Ok(list) => list,
        Err(e) => {
            let message = describe_kube_error(&e);
            let forbidden = matches!(&e, kube::Error::Api(s) if s.code == 403);
            errors.push(ReadError {
                resource: "API discovery (/apis)".into(),
                message: message.clone(),
                forbidden,
            });
            let reason = format!("API discovery failed: {message}");
            return MeshApis {
                groups: Data::Unavailable(reason.clone()),
                served: Data::Unavailable(reason.clone()),
                lists: APPMESH_KINDS
                    .iter()
                    .map(|k| {
                        (
                            k.kind,
                            Err(ClusterError::Api {
                                what: reason.clone(),
                                source: e_clone(&e),
                            }),
                        )
                    })
                    .collect(),
                istio: None,
                errors,
            };
        }
    };
    let interesting: BTreeSet<&str> = std::iter::once(APPMESH_GROUP)
        .chain(ISTIO_KINDS.iter().map(|k| k.group))
        .collect();
    let mut groups = BTreeMap::new();
    for g in &group_list.groups {
        if interesting.contains(g.name.as_str()) {
            groups.insert(
                g.name.clone(),
                g.versions
                    .iter()
                    .map(|v| v.version.clone())
                    .collect::<Vec<_>>(),
            );
        }
    }
    // Group versions to look into: every App Mesh version (to report what is served) and the
    // Istio versions convert writes.
    let mut wanted: Vec<String> = Vec::new();
    for (group, versions) in &groups {
        for v in versions {
            let ours = if group == APPMESH_GROUP {
                true
            } else {
                ISTIO_KINDS
                    .iter()
                    .any(|k| k.group == group && k.version == v)
            };
            if ours {
                wanted.push(format!("{group}/{v}"));
            }
        }
    }
    let answers = join_all(wanted.iter().map(|gv| client.list_api_group_resources(gv))).await;
    let mut served: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (gv, answer) in wanted.iter().zip(answers) {
        match answer {
            Ok(list) => {
                served.insert(
                    gv.clone(),
                    list.resources
                        .into_iter()
                        .filter(|r| !r.name.contains('/'))
                        .map(|r| r.kind)
                        .collect(),
                );
            }
            Err(e) => errors.push(ReadError {
                resource: format!("API discovery ({gv})"),
                message: describe_kube_error(&e),
                forbidden: matches!(&e, kube::Error::Api(s) if s.code == 403),
            }),
        }
    }
    let appmesh_gv = format!("{APPMESH_GROUP}/{}", kinds::APPMESH_VERSION);
    let served_appmesh = served.get(&appmesh_gv).cloned().unwrap_or_default();
    let lists = join_all(APPMESH_KINDS.iter().map(|kind| {
        let present = served_appmesh.contains(kind.kind);
        async move {
            if present {
                (kind.kind, list_values(client, kind, scope).await)
            } else {
                (kind.kind, Ok(Vec::new()))
            }
        }
    }));
    // Only what convert wrote (the label selector filters on the server), and only kinds the
    // cluster serves: a missing Istio CRD means none of ours exists either.
    let selector = format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}");
    let istio = join_all(
        ISTIO_KINDS
            .iter()
            .filter(|k| {
                served
                    .get(&k.api_version())
                    .is_some_and(|kinds| kinds.contains(k.kind))
            })
            .map(|kind| {
                let selector = selector.as_str();
                async move {
                    (
                        kind,
                        list_values_selected(client, kind, scope, Some(selector)).await,
                    )
                }
            }),
    );
    let (lists, istio) = futures::join!(lists, istio);
    MeshApis {
        groups: Data::Available(groups),
        served: Data::Available(served),
        lists,
        istio: Some(istio),
        errors,
    }
}

/// kube errors are not Clone; keep what matters for the message.
fn e_clone(e: &kube::Error) -> kube::Error {
    match e {
        kube::Error::Api(status) => kube::Error::Api(status.clone()),
        other => kube::Error::Api(Box::new(kube::core::Status::failure(
            &describe_kube_error(other),
            "Unreachable",
        ))),
    }
}

/// The rights precheck and the later steps need, asked in `scope`.
pub fn permission_requests(scope: &NamespaceScope) -> Vec<AccessRequest> {
    permission_plan(scope)
        .into_iter()
        .map(|(request, _, _)| request)
        .collect()
}

/// (request, needed by, is a read). `deploy/rbac/`'s roles grant each of these to the
/// commands named (checked by `tests/least_privilege.rs`).
pub fn permission_plan(scope: &NamespaceScope) -> Vec<(AccessRequest, &'static str, bool)> {
    let ns = scope.namespace();
    let mut plan = Vec::new();
    let ask = |kind: &KindInfo, verb: &str| {
        AccessRequest::new(
            verb,
            kind.group,
            kind.plural,
            if kind.namespaced { ns } else { None },
        )
    };
    // Lists only: no command watches App Mesh objects (the audit log of
    // tests/least_privilege.rs shows every request each command makes).
    for kind in &APPMESH_KINDS {
        plan.push((ask(kind, "list"), "precheck, convert", true));
    }
    // Pods tell precheck which workloads run App Mesh's Envoy; convert does not read them.
    plan.push((ask(&kinds::PODS, "list"), "precheck", true));
    for kind in [
        &kinds::NAMESPACES,
        &kinds::SERVICES,
        &kinds::DEPLOYMENTS,
        &kinds::STATEFULSETS,
        &kinds::DAEMONSETS,
    ] {
        plan.push((ask(kind, "list"), "precheck, convert", true));
    }
    for kind in [&kinds::MUTATING_WEBHOOKS, &kinds::VALIDATING_WEBHOOKS] {
        plan.push((ask(kind, "list"), "precheck", true));
    }
    // The migration dashboard counts the Istio objects convert applied.
    for kind in &ISTIO_KINDS {
        plan.push((ask(kind, "list"), "precheck", true));
    }
    plan.push((ask(&kinds::NAMESPACES, "get"), "label", false));
    plan.push((ask(&kinds::NAMESPACES, "patch"), "label", false));
    for kind in [
        &kinds::DEPLOYMENTS,
        &kinds::STATEFULSETS,
        &kinds::DAEMONSETS,
    ] {
        plan.push((ask(kind, "patch"), "rollout", false));
    }
    for kind in &ISTIO_KINDS {
        plan.push((ask(kind, "create"), "convert --apply", false));
        plan.push((ask(kind, "patch"), "convert --apply", false));
    }
    plan
}

fn label_permissions(answers: Vec<AccessAnswer>) -> Vec<Permission> {
    let plan = permission_plan(&NamespaceScope::All);
    answers
        .into_iter()
        .map(|answer| {
            let (needed_by, read) = plan
                .iter()
                .find(|(r, _, _)| {
                    r.verb == answer.request.verb
                        && r.group == answer.request.group
                        && r.resource == answer.request.resource
                })
                .map(|(_, by, read)| (*by, *read))
                .unwrap_or(("precheck", true));
            Permission {
                answer,
                needed_by,
                read,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Conversion readiness

/// Run the convert engine exactly as `convert` (with its default options) would on the same
/// objects: resolve, translate, validate.
pub fn conversion_of(inventory: &Inventory) -> Data<ConversionOutcome> {
    let resolved = crate::resolve::resolve(inventory);
    Data::Available(
        match crate::convert::convert(
            inventory,
            &resolved,
            &crate::convert::ConvertOptions::default(),
        ) {
            Ok(conversion) => ConversionOutcome::Converted(conversion.report),
            // convert refuses to print such output (exit code 4) and names the same violations.
            Err(crate::convert::ConvertError::InvalidOutput(violations)) => {
                ConversionOutcome::InvalidOutput(crate::validate::into_findings(violations))
            }
        },
    )
}

/// Convert exactly what `convert` reads from a cluster (`cluster::inventory`): the App Mesh
/// objects of the scope with every Mesh, and the Namespaces, Services, Deployments,
/// StatefulSets and DaemonSets, through the same loader (`load::from_values`).
fn convert_cluster_objects(snap: &Snapshot) -> Data<ConversionOutcome> {
    conversion_of(&cluster_inventory(snap))
}

/// The inventory convert would read from this snapshot's objects (App Mesh objects with every
/// Mesh, Namespaces, Services and workloads): for conversion readiness and the mesh graph.
pub fn cluster_inventory(snap: &Snapshot) -> Inventory {
    let mut values: Vec<Value> = snap.appmesh_objects().map(|o| o.value.clone()).collect();
    for data in [
        &snap.namespaces,
        &snap.services,
        &snap.deployments,
        &snap.statefulsets,
        &snap.daemonsets,
    ] {
        values.extend(data.ok().into_iter().flatten().map(|o| o.value.clone()));
    }
    let origin = match &snap.mode {
        Mode::Cluster { context, .. } => Origin::Cluster {
            context: context.clone(),
        },
        Mode::Files { .. } => Origin::Generated,
    };
    let options = LoadOptions {
        default_namespace: snap.scope.namespace().unwrap_or("default").to_owned(),
        ..LoadOptions::default()
    };
    crate::load::from_values(values, &origin, &options)
}

// ---------------------------------------------------------------------------------------------
// Offline

/// Read `-f` sources: the loader builds the inventory convert uses (so conversion readiness is
/// `convert -f` on the same files), and the raw objects feed the other checks. A source that
/// cannot be loaded fails the whole read, as in convert.
pub fn read_files(
    sources: &[InputSource],
    options: &LoadOptions,
    scope: NamespaceScope,
    convert: bool,
) -> Result<Snapshot, LoadError> {
    let inventory = load_sources(sources, options)?;
    let mut documents = Vec::new();
    let mut paths = Vec::new();
    for source in sources {
        if let InputSource::Bytes { name, bytes } = source {
            let text = String::from_utf8_lossy(bytes);
            documents.extend(documents_of(std::path::Path::new(name), &text).map_err(
                |message| LoadError::Yaml {
                    path: name.into(),
                    line: None,
                    column: None,
                    message,
                },
            )?);
            paths.push(PathBuf::from(name));
        }
    }
    for path in &inventory.files {
        if sources.iter().any(
            |s| matches!(s, InputSource::Bytes { name, .. } if std::path::Path::new(name) == path),
        ) {
            continue;
        }
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.clone(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        documents.extend(
            documents_of(path, &text).map_err(|message| LoadError::Yaml {
                path: path.clone(),
                line: None,
                column: None,
                message,
            })?,
        );
        paths.push(path.clone());
    }
    // Namespaced objects without a namespace land in the default one, as with kubectl apply.
    for d in &mut documents {
        let cluster_scoped = matches!(
            d.kind(),
            "Namespace"
                | "Mesh"
                | "MutatingWebhookConfiguration"
                | "ValidatingWebhookConfiguration"
        );
        if !cluster_scoped
            && d.namespace().is_none()
            && let Some(meta) = d.value.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.insert("namespace".into(), options.default_namespace.clone().into());
        }
    }
    let mut snap = from_documents(paths, documents, scope);
    snap.conversion = if convert {
        conversion_of(&inventory)
    } else {
        Data::Unavailable("conversion-readiness not selected".into())
    };
    if let NamespaceScope::One(ns) = snap.scope.clone() {
        keep_relevant_meshes(&mut snap, &ns);
    }
    Ok(snap)
}

/// Build a snapshot from manifests already read (`-f`): objects of known kinds go to their
/// buckets; what only a cluster can tell (version, webhooks, controller, permissions) is
/// unavailable, so those checks are skipped rather than passed.
pub fn from_documents(
    paths: Vec<PathBuf>,
    documents: Vec<Object>,
    scope: NamespaceScope,
) -> Snapshot {
    const OFFLINE: &str = "offline (-f): needs a cluster";
    let mut snap = Snapshot::empty(Mode::Files { paths }, scope, OFFLINE);
    let mut namespaces = Vec::new();
    let mut pods = Vec::new();
    let mut services = Vec::new();
    let mut deployments = Vec::new();
    let mut statefulsets = Vec::new();
    let mut daemonsets = Vec::new();
    let mut appmesh: BTreeMap<&'static str, Vec<Object>> =
        APPMESH_KINDS.iter().map(|k| (k.kind, Vec::new())).collect();
    for object in documents {
        if let Some(ns) = snap.scope.namespace()
            && (object.namespace().is_some_and(|n| n != ns)
                || (object.kind() == "Namespace" && object.name() != ns))
        {
            continue;
        }
        let group = object
            .api_version()
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or("");
        let bucket = match (group, object.kind()) {
            ("", "Namespace") => &mut namespaces,
            ("", "Pod") => &mut pods,
            ("", "Service") => &mut services,
            ("apps", "Deployment") => &mut deployments,
            ("apps", "StatefulSet") => &mut statefulsets,
            ("apps", "DaemonSet") => &mut daemonsets,
            (APPMESH_GROUP, kind) => match APPMESH_KINDS.iter().find(|k| k.kind == kind) {
                Some(k) => appmesh.entry(k.kind).or_default(),
                None => continue,
            },
            _ => continue,
        };
        bucket.push(object);
    }
    snap.namespaces = Data::Available(namespaces);
    snap.pods = if pods.is_empty() {
        Data::Unavailable("offline (-f): no Pods in the files".into())
    } else {
        Data::Available(pods)
    };
    snap.services = Data::Available(services);
    snap.deployments = Data::Available(deployments);
    snap.statefulsets = Data::Available(statefulsets);
    snap.daemonsets = Data::Available(daemonsets);
    snap.appmesh = appmesh
        .into_iter()
        .map(|(k, v)| (k, Data::Available(v)))
        .collect();
    if let NamespaceScope::One(ns) = snap.scope.clone() {
        keep_relevant_meshes(&mut snap, &ns);
    }
    snap
}

/// The raw objects of YAML/JSON texts (`kind: List` items flattened), each with its origin.
pub fn documents_of(name: &std::path::Path, text: &str) -> Result<Vec<Object>, String> {
    let docs = parse_documents(text, &YamlLimits::default()).map_err(|e| e.message)?;
    let mut out = Vec::new();
    for doc in docs {
        let is_list = doc
            .document
            .value
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k == "List" || k.ends_with("List"));
        match doc.items {
            Some(items) if is_list => {
                for item in items {
                    out.push(Object {
                        value: item.value,
                        origin: Origin::file(name, item.line),
                    });
                }
            }
            _ => out.push(Object {
                value: doc.document.value,
                origin: Origin::file(name, doc.document.line),
            }),
        }
    }
    Ok(out)
}
