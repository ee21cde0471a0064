//! What `cleanup` reads before it plans, in one pass of paginated lists: the namespaces in
//! scope, every App Mesh object of the cluster (a Mesh is kept while anything anywhere still
//! uses it, and the CRDs while any object is left), the pods, workloads, Services and
//! appmesh2istio-managed Istio objects the gates look at, the webhook configurations, and with
//! `--controller`/`--crds` what the controller's Helm chart installed.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::{join_all, try_join_all};
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use crate::change::object::get_value;
use crate::change::{ChangeError, ObjectKey};
use crate::cluster::kinds::{self, APPMESH_GROUP, APPMESH_KINDS, ISTIO_KINDS, KindInfo};
use crate::cluster::list::{list_all, list_values, list_values_lean};
use crate::cluster::{Cluster, ClusterError, NamespaceScope};
use crate::istio::{MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use crate::precheck::string_map;

/// The label the App Mesh controller's Helm chart puts on what it installs.
pub const CONTROLLER_NAME_LABEL: &str = "app.kubernetes.io/name";
pub const CONTROLLER_NAME: &str = "appmesh-controller";

/// Which namespaces the command works on: `-n`, `-l` (a namespace label selector, evaluated by
/// the API server as `kubectl get ns -l` does), `-A`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub namespaces: NamespaceScope,
    pub selector: Option<String>,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.selector {
            Some(s) => write!(f, "{} labelled {s}", self.namespaces),
            None => write!(f, "{}", self.namespaces),
        }
    }
}

/// What was read.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The namespaces in scope, by name.
    pub namespaces: BTreeMap<String, Value>,
    /// Whether every namespace is in scope (`-A` without `-l`).
    pub all: bool,
    /// Every App Mesh object of the cluster, kinds whose CRD is not installed left out.
    pub appmesh: Vec<Value>,
    /// Pods, Deployments/StatefulSets/DaemonSets and Services of the namespaces in scope.
    pub pods: Vec<Value>,
    pub workloads: Vec<Value>,
    pub services: Vec<Value>,
    /// Istio objects labelled `app.kubernetes.io/managed-by=appmesh2istio` (namespaces in scope).
    pub istio: Vec<Value>,
    /// Mutating and validating webhook configurations that are App Mesh's.
    pub webhooks: Vec<Value>,
    /// Services named by those webhooks that do not exist (`namespace/name`).
    pub missing_services: BTreeSet<String>,
    /// With `--controller`: the controller's objects.
    pub controller: Vec<Value>,
    /// With `--crds`: the App Mesh CRDs that exist.
    pub crds: Vec<Value>,
    /// App Mesh kinds the cluster does not serve.
    pub kinds_not_served: Vec<&'static str>,
}

impl Scan {
    pub fn in_scope(&self, namespace: Option<&str>) -> bool {
        match namespace {
            Some(ns) => self.namespaces.contains_key(ns),
            None => true,
        }
    }

    /// The App Mesh objects of the namespaces in scope (not the Meshes).
    pub fn appmesh_in_scope(&self) -> impl Iterator<Item = &Value> {
        self.appmesh.iter().filter(|o| {
            let ns = o.pointer("/metadata/namespace").and_then(Value::as_str);
            ns.is_some() && self.in_scope(ns)
        })
    }
}

/// Whether a webhook configuration is App Mesh's: named as the chart names it
/// (`appmesh-…`), labelled as the chart labels it, or holding a webhook named `….appmesh.k8s.aws`.
pub fn is_appmesh_webhook_configuration(configuration: &Value) -> bool {
    let name = configuration
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let labels = string_map(configuration, "/metadata/labels");
    name.starts_with("appmesh-")
        || labels.get(CONTROLLER_NAME_LABEL).map(String::as_str) == Some(CONTROLLER_NAME)
        || webhooks(configuration).any(|w| {
            w.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.ends_with(".appmesh.k8s.aws"))
        })
}

pub fn webhooks(configuration: &Value) -> impl Iterator<Item = &Value> {
    configuration
        .get("webhooks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// `namespace/name` of every Service a configuration's webhooks call.
pub fn webhook_services(configuration: &Value) -> BTreeSet<String> {
    webhooks(configuration)
        .filter_map(|w| {
            let service = w.pointer("/clientConfig/service")?;
            Some(format!(
                "{}/{}",
                service.get("namespace")?.as_str()?,
                service.get("name")?.as_str()?
            ))
        })
        .collect()
}

/// Whether an object belongs to the App Mesh controller's installation: labelled as the chart
/// labels it, or named `appmesh-controller…` (`appmesh-manager…` for pre-GA releases).
pub fn is_controller_object(object: &Value) -> bool {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let labels = string_map(object, "/metadata/labels");
    labels.get(CONTROLLER_NAME_LABEL).map(String::as_str) == Some(CONTROLLER_NAME)
        || name.starts_with(CONTROLLER_NAME)
        || name.starts_with("appmesh-manager")
}

fn api_error(what: String, source: kube::Error) -> ClusterError {
    ClusterError::Api { what, source }
}

/// Why the cluster could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Change(#[from] ChangeError),
}

impl ScanError {
    pub fn is_unreachable(&self) -> bool {
        match self {
            ScanError::Cluster(e) => e.is_unreachable(),
            ScanError::Change(e) => e.is_unreachable(),
        }
    }
}

async fn list_kind(
    cluster: &Cluster,
    kind: &KindInfo,
    scope: &NamespaceScope,
) -> Result<Vec<Value>, ClusterError> {
    // Pods are only read (never backed up or written): their field bookkeeping is dropped.
    if kind.kind == kinds::PODS.kind {
        return list_values_lean(&cluster.client, kind, scope).await;
    }
    list_values(&cluster.client, kind, scope).await
}

/// The App Mesh kinds the cluster serves.
async fn served_appmesh_kinds(cluster: &Cluster) -> Result<Vec<&'static KindInfo>, ClusterError> {
    let group_version = format!("{APPMESH_GROUP}/{}", kinds::APPMESH_VERSION);
    match cluster
        .client
        .list_api_group_resources(&group_version)
        .await
    {
        Ok(list) => Ok(APPMESH_KINDS
            .iter()
            .filter(|k| list.resources.iter().any(|r| r.kind == k.kind))
            .collect()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Vec::new()),
        Err(e) => Err(api_error(format!("cannot discover {group_version}"), e)),
    }
}

async fn namespaces_in_scope(
    cluster: &Cluster,
    scope: &Scope,
) -> Result<BTreeMap<String, Value>, ScanError> {
    let items: Vec<Value> = match (&scope.namespaces, &scope.selector) {
        (NamespaceScope::One(ns), None) => {
            let key = ObjectKey::new("v1", "Namespace", None, ns);
            match get_value(cluster, &key).await {
                Ok(Some(v)) => vec![v],
                Ok(None) => Vec::new(),
                Err(e) => return Err(e.into()),
            }
        }
        (namespaces, selector) => {
            let api: Api<DynamicObject> =
                Api::all_with(cluster.client.clone(), &kinds::NAMESPACES.api_resource());
            let mut params = ListParams::default();
            if let Some(s) = selector {
                params = params.labels(s);
            }
            let listed = list_all(&api, &params, "namespaces").await?;
            listed
                .into_iter()
                .filter_map(|o| serde_json::to_value(o).ok())
                .filter(|v| match namespaces {
                    NamespaceScope::One(ns) => {
                        v.pointer("/metadata/name").and_then(Value::as_str) == Some(ns.as_str())
                    }
                    NamespaceScope::All => true,
                })
                .collect()
        }
    };
    Ok(items
        .into_iter()
        .filter_map(|v| {
            let name = v.pointer("/metadata/name")?.as_str()?.to_owned();
            Some((name, v))
        })
        .collect())
}

/// What to read besides the always-read parts.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Read the controller's objects in this namespace (and its cluster-wide RBAC).
    pub controller_namespace: Option<String>,
    pub crds: bool,
}

/// Read everything `cleanup` plans from.
pub async fn scan(
    cluster: &Cluster,
    scope: &Scope,
    options: &ScanOptions,
) -> Result<Scan, ScanError> {
    let namespaces = namespaces_in_scope(cluster, scope).await?;
    let all = scope.namespaces == NamespaceScope::All && scope.selector.is_none();
    // One namespace: lists in that namespace (what a namespace-bound user may do); otherwise
    // cluster-wide lists, filtered.
    let list_scope = match (&scope.namespaces, namespaces.len()) {
        (NamespaceScope::One(ns), _) => NamespaceScope::One(ns.clone()),
        _ => NamespaceScope::All,
    };
    let served = served_appmesh_kinds(cluster).await?;
    let kinds_not_served = APPMESH_KINDS
        .iter()
        .filter(|k| !served.iter().any(|s| s.kind == k.kind))
        .map(|k| k.kind)
        .collect();

    let appmesh = try_join_all(
        served
            .iter()
            .map(|k| list_kind(cluster, k, &NamespaceScope::All)),
    );
    let core = try_join_all(
        [
            &kinds::PODS,
            &kinds::DEPLOYMENTS,
            &kinds::STATEFULSETS,
            &kinds::DAEMONSETS,
            &kinds::SERVICES,
        ]
        .into_iter()
        .map(|k| list_kind(cluster, k, &list_scope)),
    );
    let istio = join_all(
        ISTIO_KINDS
            .iter()
            .map(|k| list_kind(cluster, k, &list_scope)),
    );
    let webhooks = try_join_all(
        [&kinds::MUTATING_WEBHOOKS, &kinds::VALIDATING_WEBHOOKS]
            .into_iter()
            .map(|k| list_kind(cluster, k, &NamespaceScope::All)),
    );
    let (appmesh, core, istio, webhooks) = futures::join!(appmesh, core, istio, webhooks);
    let in_scope = |v: &Value| match v.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) => namespaces.contains_key(ns),
        None => false,
    };
    let mut core = core?.into_iter();
    let mut take = || -> Vec<Value> {
        core.next()
            .unwrap_or_default()
            .into_iter()
            .filter(in_scope)
            .collect()
    };
    let pods = take();
    let mut workloads = take();
    workloads.extend(take());
    workloads.extend(take());
    let services = take();
    let mut istio_objects = Vec::new();
    for list in istio {
        // Istio's CRDs may not be installed (then nothing of ours exists either).
        match list {
            Ok(items) => istio_objects.extend(items.into_iter().filter(|v| {
                in_scope(v)
                    && string_map(v, "/metadata/labels")
                        .get(MANAGED_BY_LABEL)
                        .map(String::as_str)
                        == Some(MANAGED_BY_VALUE)
            })),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let webhooks: Vec<Value> = webhooks?
        .into_iter()
        .flatten()
        .filter(is_appmesh_webhook_configuration)
        .collect();
    let wanted: BTreeSet<String> = webhooks.iter().flat_map(webhook_services).collect();
    let missing_services = missing(cluster, wanted).await?;

    let mut controller = Vec::new();
    if let Some(ns) = &options.controller_namespace {
        let ns_scope = NamespaceScope::One(ns.clone());
        let lists = try_join_all(
            [
                (&kinds::DEPLOYMENTS, &ns_scope),
                (&kinds::SERVICES, &ns_scope),
                (&kinds::SERVICE_ACCOUNTS, &ns_scope),
                (&kinds::ROLES, &ns_scope),
                (&kinds::ROLE_BINDINGS, &ns_scope),
                (&kinds::CLUSTER_ROLES, &NamespaceScope::All),
                (&kinds::CLUSTER_ROLE_BINDINGS, &NamespaceScope::All),
            ]
            .into_iter()
            .map(|(k, s)| list_kind(cluster, k, s)),
        )
        .await?;
        controller.extend(lists.into_iter().flatten().filter(is_controller_object));
    }
    let mut crds = Vec::new();
    if options.crds {
        for kind in &APPMESH_KINDS {
            let key = ObjectKey::new(
                &kinds::CRDS.api_version(),
                kinds::CRDS.kind,
                None,
                &kind.resource_name(),
            );
            match get_value(cluster, &key).await {
                Ok(Some(v)) => crds.push(v),
                Ok(None) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(Scan {
        namespaces,
        all,
        appmesh: appmesh?.into_iter().flatten().collect(),
        pods,
        workloads,
        services,
        istio: istio_objects,
        webhooks,
        missing_services,
        controller,
        crds,
        kinds_not_served,
    })
}

fn is_not_found(e: &ClusterError) -> bool {
    matches!(e, ClusterError::Api { source: kube::Error::Api(s), .. } if s.code == 404)
}

/// Which of `services` (`namespace/name`) do not exist: one GET each (a handful at most).
async fn missing(
    cluster: &Cluster,
    services: BTreeSet<String>,
) -> Result<BTreeSet<String>, ScanError> {
    let mut out = BTreeSet::new();
    for service in services {
        let Some((ns, name)) = service.split_once('/') else {
            continue;
        };
        let key = ObjectKey::new("v1", "Service", Some(ns), name);
        match get_value(cluster, &key).await {
            Ok(None) => {
                out.insert(service);
            }
            Ok(Some(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn app_mesh_webhooks_and_controller_objects_are_recognised() {
        let chart = json!({"metadata": {"name": "appmesh-controller-mutating-webhook-configuration"},
            "webhooks": [{"name": "mpod.appmesh.k8s.aws", "clientConfig": {"service": {"namespace": "appmesh-system", "name": "appmesh-controller-webhook-service"}}}]});
        assert!(is_appmesh_webhook_configuration(&chart));
        assert_eq!(
            webhook_services(&chart),
            BTreeSet::from(["appmesh-system/appmesh-controller-webhook-service".to_owned()])
        );
        let renamed = json!({"metadata": {"name": "mesh-hooks"}, "webhooks": [{"name": "vvirtualnode.appmesh.k8s.aws"}]});
        assert!(is_appmesh_webhook_configuration(&renamed));
        let istio = json!({"metadata": {"name": "istio-sidecar-injector"}, "webhooks": [{"name": "sidecar-injector.istio.io"}]});
        assert!(!is_appmesh_webhook_configuration(&istio));
        assert!(is_controller_object(
            &json!({"metadata": {"name": "appmesh-controller-role"}})
        ));
        assert!(is_controller_object(
            &json!({"metadata": {"name": "x", "labels": {"app.kubernetes.io/name": "appmesh-controller"}}})
        ));
        assert!(!is_controller_object(
            &json!({"metadata": {"name": "istiod"}})
        ));
    }
}
