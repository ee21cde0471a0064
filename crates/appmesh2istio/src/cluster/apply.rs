//! `convert --apply`: **plan** (GET each target: create, update with the top-level fields that
//! change, unchanged, or conflict with an object we do not manage) → **confirm** (the caller) →
//! **apply** (server-side apply, idempotent, retried only when safe) → **verify** (re-read and
//! compare) → record what **undo** needs ([`super::undo`]) before each write.
//!
//! Server-side apply is idempotent (the same body from the same field manager gives the same
//! object), so a PATCH that failed with 500/502/503/504 or a broken connection is resent under the
//! shared [`RetryPolicy`]'s rules for idempotent requests; the transport layer itself never
//! resends a PATCH (it cannot tell an apply from a JSON patch). Any other error stops the run.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, stream};
use http::Method;
use kube::api::{Api, DynamicObject, Patch, PatchParams, ValidationDirective};
use kube::core::ApiResource;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::access::{AccessAnswer, AccessRequest, review_all};
use super::kinds::{ISTIO_KINDS, KindInfo};
use super::transport::{Outcome, RequestTimedOut, RetryPolicy};
use super::{Cluster, describe_kube_error};
use crate::istio::{IstioObject, MANAGED_BY_LABEL, MANAGED_BY_VALUE};

/// `--field-manager`'s default, named after the command as kubectl names its own managers.
pub const DEFAULT_FIELD_MANAGER: &str = "kubectl-appmesh2istio";
/// `apiVersion` of the plan and undo documents.
pub const DOCUMENT_API_VERSION: &str = "appmesh2istio.io/v1alpha1";
/// How many GETs run at once while planning or verifying.
const CONCURRENT_READS: usize = 8;

/// `--dry-run`, as kubectl spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DryRun {
    /// Change the cluster.
    #[default]
    None,
    /// Plan only: read the cluster, write nothing.
    Client,
    /// Send every write with `dryRun=All`: the server validates and admits it, nothing is stored.
    Server,
}

impl DryRun {
    /// kubectl's suffix for printed results: ` (dry run)`, ` (server dry run)`.
    pub fn suffix(self) -> &'static str {
        match self {
            DryRun::None => "",
            DryRun::Client => " (dry run)",
            DryRun::Server => " (server dry run)",
        }
    }
}

/// How to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOptions {
    pub field_manager: String,
    /// Take over existing objects that do not carry `app.kubernetes.io/managed-by:
    /// appmesh2istio`, and fields other managers own (`force=true`).
    pub force_conflicts: bool,
    pub dry_run: DryRun,
    pub policy: RetryPolicy,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            field_manager: DEFAULT_FIELD_MANAGER.to_owned(),
            force_conflicts: false,
            dry_run: DryRun::None,
            policy: RetryPolicy::default(),
        }
    }
}

/// Why planning or applying could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("cannot reach the cluster at {server}{}: {message}", context.as_deref().map(|c| format!(" (context {c})")).unwrap_or_default())]
    Unreachable {
        server: String,
        context: Option<String>,
        message: String,
    },
    #[error("{what}: {}", describe_kube_error(source))]
    Api { what: String, source: kube::Error },
    #[error(
        "Istio's CRDs are not installed on this cluster ({} not served): install Istio first (istioctl install); nothing was changed",
        missing.join(", ")
    )]
    IstioNotInstalled { missing: Vec<String> },
    #[error(
        "namespace(s) {} do not exist: create them first (istio-system is created by `istioctl install`); nothing was changed",
        namespaces.join(", ")
    )]
    MissingNamespaces { namespaces: Vec<String> },
    #[error("{0} is not a kind appmesh2istio applies")]
    UnknownKind(String),
    #[error("cannot serialise {what}: {message}")]
    Serialise { what: String, message: String },
}

impl ApplyError {
    fn from_kube(cluster: &Cluster, what: String, source: kube::Error) -> ApplyError {
        match source {
            kube::Error::Api(_) => ApplyError::Api { what, source },
            other => ApplyError::Unreachable {
                server: cluster.server.clone(),
                context: cluster.context.clone(),
                message: describe_kube_error(&other),
            },
        }
    }

    /// True when the server could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ApplyError::Unreachable { .. })
    }
}

/// An object by API version, kind, namespace and name: what plans, results and undo records name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectKey {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map_or("", |(g, _)| g)
    }

    pub fn version(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or(self.api_version.as_str(), |(_, v)| v)
    }

    /// The Istio kind, if it is one we apply (any version of its group).
    pub fn kind_info(&self) -> Option<&'static KindInfo> {
        ISTIO_KINDS
            .iter()
            .find(|k| k.group == self.group() && k.kind == self.kind)
    }

    /// `virtualservice.networking.istio.io/cart`: kubectl's `-o name` spelling, used in the
    /// result lines.
    pub fn kubectl_name(&self) -> String {
        let kind = self.kind.to_ascii_lowercase();
        match self.group() {
            "" => format!("{kind}/{}", self.name),
            group => format!("{kind}.{group}/{}", self.name),
        }
    }

    /// `virtualservices.networking.istio.io`: the resource as RBAC names it.
    pub fn resource_name(&self) -> String {
        match self.kind_info() {
            Some(info) => info.resource_name(),
            None => format!("{}.{}", self.kind.to_ascii_lowercase(), self.group()),
        }
    }

    fn api_resource(&self) -> Result<ApiResource, ApplyError> {
        let info = self.kind_info().ok_or_else(|| {
            ApplyError::UnknownKind(format!("{} {}", self.api_version, self.kind))
        })?;
        Ok(ApiResource {
            group: info.group.to_owned(),
            version: self.version().to_owned(),
            api_version: self.api_version.clone(),
            kind: info.kind.to_owned(),
            plural: info.plural.to_owned(),
        })
    }

    /// The API for this object's collection.
    pub fn api(&self, client: &kube::Client) -> Result<Api<DynamicObject>, ApplyError> {
        let resource = self.api_resource()?;
        Ok(match &self.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
            None => Api::all_with(client.clone(), &resource),
        })
    }

    /// Position in apply order (undo goes the other way): what is referred to before what
    /// refers to it, as [`IstioObject::kind_order`].
    pub fn kind_order(&self) -> u8 {
        match self.kind.as_str() {
            "Gateway" => 1,
            "ServiceEntry" => 2,
            "DestinationRule" => 3,
            "VirtualService" => 4,
            "Sidecar" => 5,
            "PeerAuthentication" => 6,
            "AuthorizationPolicy" => 7,
            "Telemetry" => 8,
            _ => 9,
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One object to apply: its key and the full manifest sent with server-side apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub key: ObjectKey,
    pub manifest: Value,
}

/// The generated objects split into what `--apply` sends and what it does not (the
/// IstioOperator is input for `istioctl install -f`, not a cluster object).
pub fn targets(objects: &[IstioObject]) -> Result<(Vec<Target>, Vec<ObjectKey>), ApplyError> {
    let mut targets = Vec::new();
    let mut not_applied = Vec::new();
    for object in objects {
        let key = ObjectKey {
            api_version: object.api_version().to_owned(),
            kind: object.kind().to_owned(),
            namespace: object.namespace().map(str::to_owned),
            name: object.name().to_owned(),
        };
        if key.kind_info().is_none() {
            not_applied.push(key);
            continue;
        }
        let manifest = serde_json::to_value(object).map_err(|e| ApplyError::Serialise {
            what: key.to_string(),
            message: e.to_string(),
        })?;
        targets.push(Target { key, manifest });
    }
    Ok((targets, not_applied))
}

/// What applying one object will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create,
    /// `changes`: `spec.<field>` for each top-level spec field that changes (set, changed or
    /// removed), then `metadata.labels` / `metadata.annotations`. `adopt`: the object exists
    /// without our managed-by label and `--force-conflicts` takes it over.
    Update {
        changes: Vec<String>,
        adopt: bool,
    },
    Unchanged,
    /// The object exists and does not carry `app.kubernetes.io/managed-by: appmesh2istio`:
    /// someone else's, refused without `--force-conflicts`. `managers`: its field managers.
    Conflict {
        managers: Vec<String>,
    },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update { .. } => "update",
            Action::Unchanged => "unchanged",
            Action::Conflict { .. } => "conflict",
        }
    }

    /// Whether applying sends a write.
    pub fn writes(&self) -> bool {
        matches!(self, Action::Create | Action::Update { .. })
    }

    /// A short human description of the change, for the plan table.
    pub fn details(&self) -> String {
        match self {
            Action::Create | Action::Unchanged => String::new(),
            Action::Update { changes, adopt } => {
                let mut text = changes.join(", ");
                if *adopt {
                    text = format!(
                        "takes over an object not managed by appmesh2istio (--force-conflicts); {text}"
                    );
                }
                text
            }
            Action::Conflict { managers } => {
                let by = if managers.is_empty() {
                    String::new()
                } else {
                    format!(" (managed by {})", managers.join(", "))
                };
                format!(
                    "exists and is not managed by appmesh2istio{by}; use --force-conflicts to take it over"
                )
            }
        }
    }
}

/// One planned object.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanItem {
    pub target: Target,
    pub action: Action,
    /// The object as read while planning, when it exists.
    pub live: Option<Value>,
}

/// What applying will do, object by object, in apply order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub items: Vec<PlanItem>,
    /// `v1.20.2`.
    pub server_version: String,
    /// Whether the server understands `fieldValidation` (Kubernetes 1.25 and later); older
    /// servers get none (1.20 prunes unknown fields silently: verification catches that).
    pub field_validation: bool,
}

impl Plan {
    pub fn count(&self, action: &str) -> usize {
        self.items
            .iter()
            .filter(|i| i.action.name() == action)
            .count()
    }

    pub fn conflicts(&self) -> impl Iterator<Item = &PlanItem> {
        self.items
            .iter()
            .filter(|i| matches!(i.action, Action::Conflict { .. }))
    }

    /// Whether applying would write anything.
    pub fn writes(&self) -> bool {
        self.items.iter().any(|i| i.action.writes())
    }

    /// `3 to create, 1 to update, 5 unchanged, 1 conflict`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for (action, text) in [
            ("create", "to create"),
            ("update", "to update"),
            ("unchanged", "unchanged"),
            ("conflict", "in conflict"),
        ] {
            let n = self.count(action);
            if n > 0 {
                parts.push(format!("{n} {text}"));
            }
        }
        if parts.is_empty() {
            "no objects".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// Read the server version, check that the Istio kinds are served, and GET every target.
pub async fn plan(
    cluster: &Cluster,
    targets: Vec<Target>,
    options: &ApplyOptions,
) -> Result<Plan, ApplyError> {
    let client = &cluster.client;
    let info = client.apiserver_version().await.map_err(|e| {
        ApplyError::from_kube(cluster, "cannot read the API server version".into(), e)
    })?;
    let digits = |s: &str| s.trim_end_matches('+').parse::<u32>().unwrap_or(0);
    let (major, minor) = (digits(&info.major), digits(&info.minor));
    let field_validation = major > 1 || (major == 1 && minor >= 25);

    // Istio installed? One discovery request per group version we write.
    let mut wanted: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for t in &targets {
        let info = t
            .key
            .kind_info()
            .ok_or_else(|| ApplyError::UnknownKind(t.key.kind.clone()))?;
        wanted
            .entry(t.key.api_version.clone())
            .or_default()
            .insert(info.plural);
    }
    let mut missing = Vec::new();
    for (group_version, plurals) in &wanted {
        match client.list_api_group_resources(group_version).await {
            Ok(list) => {
                for plural in plurals {
                    if !list.resources.iter().any(|r| r.name == *plural) {
                        missing.push(format!("{plural} ({group_version})"));
                    }
                }
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {
                missing.push(group_version.clone())
            }
            Err(e) => {
                return Err(ApplyError::from_kube(
                    cluster,
                    format!("cannot discover {group_version}"),
                    e,
                ));
            }
        }
    }
    if !missing.is_empty() {
        return Err(ApplyError::IstioNotInstalled { missing });
    }
    // Every target namespace must exist (Istio's own, istio-system, only does once Istio is
    // installed). A user who may not read namespaces finds out at the write instead.
    let namespaces: BTreeSet<&str> = targets
        .iter()
        .filter_map(|t| t.key.namespace.as_deref())
        .collect();
    let namespace_api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let mut absent = Vec::new();
    for ns in namespaces {
        match namespace_api.get_opt(ns).await {
            Ok(Some(_)) => {}
            Ok(None) => absent.push(ns.to_owned()),
            Err(kube::Error::Api(status)) if status.code == 403 => {}
            Err(e) => {
                return Err(ApplyError::from_kube(
                    cluster,
                    format!("cannot read namespace {ns}"),
                    e,
                ));
            }
        }
    }
    if !absent.is_empty() {
        return Err(ApplyError::MissingNamespaces { namespaces: absent });
    }

    let lives: Vec<Result<Option<Value>, ApplyError>> =
        stream::iter(targets.iter().map(|t| get_value(cluster, &t.key)))
            .buffered(CONCURRENT_READS)
            .collect()
            .await;
    let mut items = Vec::with_capacity(targets.len());
    for (target, live) in targets.into_iter().zip(lives) {
        let live = live?;
        let action = decide(&target, live.as_ref(), options);
        items.push(PlanItem {
            target,
            action,
            live,
        });
    }
    Ok(Plan {
        items,
        server_version: info.git_version,
        field_validation,
    })
}

/// GET one object as JSON; `None` when it does not exist.
pub(crate) async fn get_value(
    cluster: &Cluster,
    key: &ObjectKey,
) -> Result<Option<Value>, ApplyError> {
    let api = key.api(&cluster.client)?;
    match api.get_opt(&key.name).await {
        Ok(Some(object)) => {
            serde_json::to_value(&object)
                .map(Some)
                .map_err(|e| ApplyError::Serialise {
                    what: key.to_string(),
                    message: e.to_string(),
                })
        }
        Ok(None) => Ok(None),
        Err(e) => Err(ApplyError::from_kube(
            cluster,
            format!("cannot read {key}"),
            e,
        )),
    }
}

fn is_managed(live: &Value) -> bool {
    live.pointer("/metadata/labels")
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .and_then(Value::as_str)
        == Some(MANAGED_BY_VALUE)
}

fn decide(target: &Target, live: Option<&Value>, options: &ApplyOptions) -> Action {
    let Some(live) = live else {
        return Action::Create;
    };
    let changes = changes(&target.manifest, live, &options.field_manager);
    if !is_managed(live) {
        if options.force_conflicts {
            return Action::Update {
                changes,
                adopt: true,
            };
        }
        return Action::Conflict {
            managers: managers(live),
        };
    }
    if changes.is_empty() {
        Action::Unchanged
    } else {
        Action::Update {
            changes,
            adopt: false,
        }
    }
}

/// The field managers of an object, in the order the server lists them.
pub fn managers(live: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for entry in live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(m) = entry.get("manager").and_then(Value::as_str)
            && !out.iter().any(|o| o == m)
        {
            out.push(m.to_owned());
        }
    }
    out
}

fn object_at<'v>(value: &'v Value, pointer: &str) -> Option<&'v Map<String, Value>> {
    value.pointer(pointer).and_then(Value::as_object)
}

/// Keys directly under `path` (e.g. `["spec"]`) that `field_manager`'s apply owns, from
/// `metadata.managedFields` (`f:spec: {f:hosts: {}}` → `hosts`).
fn owned_keys(live: &Value, field_manager: &str, path: &[&str]) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for entry in live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let ours = entry.get("manager").and_then(Value::as_str) == Some(field_manager)
            && entry.get("operation").and_then(Value::as_str) == Some("Apply");
        if !ours {
            continue;
        }
        let mut node = entry.get("fieldsV1");
        for p in path {
            node = node.and_then(|n| n.get(format!("f:{p}")));
        }
        if let Some(map) = node.and_then(Value::as_object) {
            keys.extend(
                map.keys()
                    .filter_map(|k| k.strip_prefix("f:"))
                    .map(str::to_owned),
            );
        }
    }
    keys
}

/// Equality as the API server sees values: numbers by value (the server re-encodes `1.0` as
/// `1`), objects by keys, arrays in order.
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(i), Some(j), _, _) => i == j,
                (_, _, Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

/// What server-side applying `desired` as `field_manager` changes in `live`: each top-level
/// `spec` field that is set differently, or that the manager set before and no longer sets
/// (apply removes it), then `metadata.labels` and `metadata.annotations` when one of ours
/// differs. Fields other managers set and we do not are theirs and stay: not a change.
pub fn changes(desired: &Value, live: &Value, field_manager: &str) -> Vec<String> {
    let empty = Map::new();
    let mut out = Vec::new();
    let want = object_at(desired, "/spec").unwrap_or(&empty);
    let have = object_at(live, "/spec").unwrap_or(&empty);
    let owned = owned_keys(live, field_manager, &["spec"]);
    let keys: BTreeSet<&String> = want.keys().chain(have.keys()).collect();
    for key in keys {
        let changed = match (want.get(key), have.get(key)) {
            (Some(w), Some(h)) => !same_value(w, h),
            (Some(_), None) => true,
            (None, Some(_)) => owned.contains(key.as_str()),
            (None, None) => false,
        };
        if changed {
            out.push(format!("spec.{key}"));
        }
    }
    for section in ["labels", "annotations"] {
        let pointer = format!("/metadata/{section}");
        let want = object_at(desired, &pointer).unwrap_or(&empty);
        let have = object_at(live, &pointer).unwrap_or(&empty);
        let owned = owned_keys(live, field_manager, &["metadata", section]);
        let differs = want
            .iter()
            .any(|(k, v)| have.get(k).is_none_or(|h| !same_value(v, h)))
            || owned
                .iter()
                .any(|k| !want.contains_key(k) && have.contains_key(k));
        if differs {
            out.push(format!("metadata.{section}"));
        }
    }
    out
}

/// The rights the plan's writes need that the current user does not have (one
/// SelfSubjectAccessReview per verb, resource and namespace). A review that itself failed is
/// not reported: the write will tell.
pub async fn missing_rights(cluster: &Cluster, plan: &Plan) -> Vec<AccessAnswer> {
    let mut requests: BTreeSet<AccessRequest> = BTreeSet::new();
    for item in plan.items.iter().filter(|i| i.action.writes()) {
        let Some(info) = item.target.key.kind_info() else {
            continue;
        };
        let ns = item.target.key.namespace.as_deref();
        requests.insert(AccessRequest::new("patch", info.group, info.plural, ns));
        if item.action == Action::Create {
            requests.insert(AccessRequest::new("create", info.group, info.plural, ns));
        }
    }
    denied(cluster, requests.into_iter().collect()).await
}

pub(crate) async fn denied(cluster: &Cluster, requests: Vec<AccessRequest>) -> Vec<AccessAnswer> {
    review_all(&cluster.client, requests)
        .await
        .into_iter()
        .filter(|a| !a.allowed && a.error.is_none())
        .collect()
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyResult {
    Created,
    Configured,
    Unchanged,
}

impl ApplyResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyResult::Created => "created",
            ApplyResult::Configured => "configured",
            ApplyResult::Unchanged => "unchanged",
        }
    }
}

/// One object applied (or, with `--dry-run=server`, admitted).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub result: ApplyResult,
    /// The server's answer (the stored object, or what would be stored on a dry run); `None`
    /// for unchanged objects (no request sent).
    pub object: Option<Value>,
    /// Attempts beyond the first.
    pub retries: u32,
}

/// A write that failed after the retries the policy allows.
#[derive(Debug)]
pub struct ApplyFailure {
    pub key: ObjectKey,
    pub error: kube::Error,
    /// The server answered with a client error (4xx): the write certainly did not happen.
    /// Otherwise (5xx, connection broken) it may have.
    pub definitely_not_applied: bool,
    pub attempts: u32,
}

impl std::fmt::Display for ApplyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot apply {}: {}",
            self.key,
            describe_kube_error(&self.error)
        )?;
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        if let kube::Error::Api(status) = &self.error
            && status.code == 409
        {
            write!(
                f,
                "; another field manager owns some of these fields: use --force-conflicts to take them over"
            )?;
        }
        Ok(())
    }
}

/// How the retry policy sees a failed request.
pub(crate) fn outcome_of(error: &kube::Error) -> Outcome {
    if let kube::Error::Api(status) = error {
        return Outcome::Status {
            code: status.code,
            retry_after: None,
        };
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<RequestTimedOut>() {
            return Outcome::TimedOut;
        }
        source = e.source();
    }
    Outcome::TransportFailed
}

/// Send an idempotent write (server-side apply, delete with a uid precondition), resending it
/// under the policy's rules for idempotent requests. 429 is not resent here: the transport
/// already did, as far as the policy allows.
pub(crate) async fn idempotent_write<T, F, Fut>(
    policy: &RetryPolicy,
    mut send: F,
) -> (Result<T, kube::Error>, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut attempts = 1u32;
    loop {
        match send().await {
            Ok(value) => return (Ok(value), attempts),
            Err(error) => {
                let outcome = outcome_of(&error);
                let delay = match outcome {
                    Outcome::Status { code: 429, .. } => None,
                    // Safe to resend: the same apply gives the same object.
                    _ => policy.delay(&Method::GET, &outcome, attempts),
                };
                match delay {
                    Some(wait) => {
                        tokio::time::sleep(wait).await;
                        attempts += 1;
                    }
                    None => return (Err(error), attempts),
                }
            }
        }
    }
}

/// The parameters of a server-side apply as `field_manager`.
pub(crate) fn apply_params(
    field_manager: &str,
    force: bool,
    dry_run: bool,
    field_validation: bool,
) -> PatchParams {
    PatchParams {
        dry_run,
        force,
        field_manager: Some(field_manager.to_owned()),
        field_validation: field_validation.then_some(ValidationDirective::Strict),
    }
}

/// Server-side apply `manifest` (the whole object) with `params`.
pub(crate) async fn server_side_apply(
    cluster: &Cluster,
    key: &ObjectKey,
    manifest: &Value,
    params: &PatchParams,
    policy: &RetryPolicy,
) -> Result<(Value, u32), ApplyFailure> {
    let fail = |error: kube::Error, attempts: u32| {
        let definitely_not_applied = matches!(&error, kube::Error::Api(s) if (400..500).contains(&s.code))
            || matches!(
                &error,
                kube::Error::BuildRequest(_) | kube::Error::SerdeError(_)
            );
        ApplyFailure {
            key: key.clone(),
            error,
            definitely_not_applied,
            attempts,
        }
    };
    let api = key
        .api(&cluster.client)
        .map_err(|e| fail(kube::Error::Service(Box::new(e)), 1))?;
    let patch = Patch::Apply(manifest);
    let (result, attempts) =
        idempotent_write(policy, || api.patch(&key.name, params, &patch)).await;
    match result {
        Ok(object) => match serde_json::to_value(&object) {
            Ok(value) => Ok((value, attempts - 1)),
            Err(e) => Err(fail(kube::Error::SerdeError(e), attempts)),
        },
        Err(error) => Err(fail(error, attempts)),
    }
}

/// Apply one planned object (nothing is sent for unchanged ones; conflicts are never sent:
/// the caller refuses the plan first).
pub async fn apply_item(
    cluster: &Cluster,
    plan: &Plan,
    item: &PlanItem,
    options: &ApplyOptions,
) -> Result<Applied, ApplyFailure> {
    let result = match &item.action {
        Action::Create => ApplyResult::Created,
        Action::Update { .. } => ApplyResult::Configured,
        Action::Unchanged | Action::Conflict { .. } => {
            return Ok(Applied {
                result: ApplyResult::Unchanged,
                object: None,
                retries: 0,
            });
        }
    };
    let force = options.force_conflicts;
    let params = apply_params(
        &options.field_manager,
        force,
        options.dry_run == DryRun::Server,
        plan.field_validation,
    );
    let (object, retries) = server_side_apply(
        cluster,
        &item.target.key,
        &item.target.manifest,
        &params,
        &options.policy,
    )
    .await?;
    Ok(Applied {
        result,
        object: Some(object),
        retries,
    })
}

/// A difference found by verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyProblem {
    pub key: ObjectKey,
    pub message: String,
}

impl std::fmt::Display for VerifyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Re-read every object written and compare it with what was applied (with a server dry run,
/// compare the server's answer instead: nothing was stored). A field the server dropped or
/// changed (1.20 prunes unknown fields without a word) shows up here.
pub async fn verify(
    cluster: &Cluster,
    written: &[(&PlanItem, &Applied)],
    options: &ApplyOptions,
) -> Result<Vec<VerifyProblem>, ApplyError> {
    let reads = stream::iter(written.iter().map(|(item, applied)| async move {
        let live = if options.dry_run == DryRun::Server {
            Ok(applied.object.clone())
        } else {
            get_value(cluster, &item.target.key).await
        };
        (item, live)
    }))
    .buffered(CONCURRENT_READS)
    .collect::<Vec<_>>()
    .await;
    let mut problems = Vec::new();
    for (item, live) in reads {
        let key = &item.target.key;
        match live? {
            None => problems.push(VerifyProblem {
                key: key.clone(),
                message: "not found after it was applied".into(),
            }),
            Some(live) => {
                let differences = changes(&item.target.manifest, &live, &options.field_manager);
                if !differences.is_empty() {
                    problems.push(VerifyProblem {
                        key: key.clone(),
                        message: format!(
                            "{} differ from what was applied (changed or dropped by the server or another client)",
                            differences.join(", ")
                        ),
                    });
                }
            }
        }
    }
    Ok(problems)
}

/// The plan (and, once applied, each result) as a document for `-o json|yaml`.
pub fn plan_document(
    plan: &Plan,
    options: &ApplyOptions,
    results: &BTreeMap<usize, String>,
    not_applied: &[ObjectKey],
    undo_file: Option<&str>,
) -> Value {
    let items: Vec<Value> = plan
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut entry = json!({
                "apiVersion": item.target.key.api_version,
                "kind": item.target.key.kind,
                "namespace": item.target.key.namespace,
                "name": item.target.key.name,
                "action": item.action.name(),
            });
            if let Action::Update { changes, adopt } = &item.action {
                entry["changes"] = json!(changes);
                if *adopt {
                    entry["adopt"] = json!(true);
                }
            }
            if let Action::Conflict { managers } = &item.action {
                entry["managers"] = json!(managers);
            }
            if let Some(result) = results.get(&i) {
                entry["result"] = json!(result);
            }
            entry
        })
        .collect();
    let mut document = json!({
        "apiVersion": DOCUMENT_API_VERSION,
        "kind": "ApplyPlan",
        "serverVersion": plan.server_version,
        "dryRun": options.dry_run,
        "fieldManager": options.field_manager,
        "forceConflicts": options.force_conflicts,
        "summary": {
            "create": plan.count("create"),
            "update": plan.count("update"),
            "unchanged": plan.count("unchanged"),
            "conflict": plan.count("conflict"),
        },
        "items": items,
    });
    if !not_applied.is_empty() {
        document["notApplied"] = json!(not_applied
            .iter()
            .map(|k| json!({"apiVersion": k.api_version, "kind": k.kind, "namespace": k.namespace, "name": k.name,
                "reason": "not a cluster object: install it with istioctl install -f"}))
            .collect::<Vec<_>>());
    }
    if let Some(path) = undo_file {
        document["undoFile"] = json!(path);
    }
    document
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(spec: Value, labels: Value, owned_spec: Value) -> Value {
        json!({
            "metadata": {
                "labels": labels,
                "managedFields": [
                    {"manager": "kubectl-appmesh2istio", "operation": "Apply", "fieldsV1": {"f:spec": owned_spec}},
                    {"manager": "someone", "operation": "Update", "fieldsV1": {"f:spec": {"f:extra": {}}}}
                ]
            },
            "spec": spec
        })
    }

    #[test]
    fn changes_name_top_level_fields_and_ignore_other_managers() {
        let desired = json!({"metadata": {"labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}}, "spec": {"hosts": ["a"], "http": [{"timeout": "15s", "weight": 1.0}]}});
        let labels = json!({MANAGED_BY_LABEL: MANAGED_BY_VALUE});
        let same = live(
            json!({"hosts": ["a"], "http": [{"timeout": "15s", "weight": 1}], "extra": true}),
            labels.clone(),
            json!({"f:hosts": {}, "f:http": {}}),
        );
        assert_eq!(
            changes(&desired, &same, DEFAULT_FIELD_MANAGER),
            Vec::<String>::new()
        );
        let differs = live(
            json!({"hosts": ["b"], "http": [{"timeout": "15s", "weight": 1}], "tcp": []}),
            json!({}),
            json!({"f:hosts": {}, "f:http": {}, "f:tcp": {}}),
        );
        assert_eq!(
            changes(&desired, &differs, DEFAULT_FIELD_MANAGER),
            vec!["spec.hosts", "spec.tcp", "metadata.labels"]
        );
    }

    #[test]
    fn unmanaged_objects_conflict_unless_forced() {
        let target = Target {
            key: ObjectKey {
                api_version: "networking.istio.io/v1".into(),
                kind: "VirtualService".into(),
                namespace: Some("ns".into()),
                name: "cart".into(),
            },
            manifest: json!({"metadata": {"labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}}, "spec": {"hosts": ["a"]}}),
        };
        let theirs = json!({"metadata": {"managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update"}]}, "spec": {"hosts": ["a"]}});
        let options = ApplyOptions::default();
        assert_eq!(
            decide(&target, Some(&theirs), &options),
            Action::Conflict {
                managers: vec!["kubectl-client-side-apply".into()]
            }
        );
        let forced = ApplyOptions {
            force_conflicts: true,
            ..ApplyOptions::default()
        };
        assert_eq!(
            decide(&target, Some(&theirs), &forced),
            Action::Update {
                changes: vec!["metadata.labels".into()],
                adopt: true
            }
        );
        assert_eq!(decide(&target, None, &options), Action::Create);
        assert_eq!(
            target.key.kubectl_name(),
            "virtualservice.networking.istio.io/cart"
        );
    }

    #[test]
    fn only_server_side_errors_and_broken_connections_are_resent() {
        let status = |code| {
            kube::Error::Api(Box::new(
                kube::core::Status::failure("x", "y").with_code(code),
            ))
        };
        let p = RetryPolicy::default();
        assert!(matches!(
            outcome_of(&status(503)),
            Outcome::Status { code: 503, .. }
        ));
        assert!(
            p.delay(&Method::GET, &outcome_of(&status(503)), 1)
                .is_some()
        );
        assert!(
            p.delay(&Method::GET, &outcome_of(&status(422)), 1)
                .is_none()
        );
        assert!(
            p.delay(&Method::GET, &outcome_of(&status(409)), 1)
                .is_none()
        );
    }
}
