//! `convert` without `-f`: the App Mesh objects of a cluster, and the Namespaces, Services and
//! workloads resolution needs, read with paginated lists (a fixed number of requests per kind
//! and page, none per object) into the same [`Inventory`] the file loader builds.
//!
//! Live objects carry what the App Mesh webhook filled in (`spec.meshRef`, `spec.awsName`,
//! GatewayRoute `spec.virtualGatewayRef`); resolution treats those as authoritative.

use futures::future::join_all;
use serde_json::Value;

use super::kinds::{self, APPMESH_GROUP, APPMESH_KINDS, APPMESH_VERSION, KindInfo};
use super::list::{list_values_lean, without_bookkeeping};
use super::{Cluster, ClusterError, NamespaceScope, describe_kube_error};
use crate::load::{Inventory, LoadOptions, from_values};
use crate::origin::Origin;

/// Why the cluster's App Mesh objects could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No answer from the API server at all.
    #[error(
        "cannot reach the cluster at {server}{}: {message}",
        context_suffix(context)
    )]
    Unreachable {
        server: String,
        context: Option<String>,
        message: String,
    },
    /// `appmesh.k8s.aws/v1beta2` is not served.
    #[error(
        "the App Mesh CRDs are not installed on the cluster at {server}{} ({APPMESH_GROUP}/{APPMESH_VERSION} is not served): \
         there is nothing to convert; give manifests with -f instead",
        context_suffix(context)
    )]
    NoAppMeshCrds {
        server: String,
        context: Option<String>,
    },
    /// `-n NAMESPACE` names a namespace that does not exist.
    #[error("namespace {0} does not exist")]
    NoSuchNamespace(String),
    /// A read the server refused or failed.
    #[error(transparent)]
    Api(#[from] ClusterError),
}

impl ReadError {
    /// True when the server could not be reached (as opposed to answering with an error).
    pub fn is_unreachable(&self) -> bool {
        match self {
            ReadError::Unreachable { .. } => true,
            ReadError::Api(e) => e.is_unreachable(),
            _ => false,
        }
    }
}

fn context_suffix(context: &Option<String>) -> String {
    context
        .as_deref()
        .map(|c| format!(" (context {c})"))
        .unwrap_or_default()
}

/// What was read, besides the inventory.
#[derive(Debug, Clone)]
pub struct ClusterInventory {
    pub inventory: Inventory,
    /// App Mesh kinds the cluster does not serve (an older controller), skipped.
    pub kinds_not_served: Vec<&'static str>,
    /// Objects read per kind, in [`APPMESH_KINDS`] order then Service, workloads, Flagger's
    /// and Argo Rollouts' kinds (when served) and Namespace.
    pub counts: Vec<(&'static str, usize)>,
}

/// Read the App Mesh objects of `scope` (Meshes are cluster-scoped: all of them are read, as
/// resolution needs them), plus the Namespaces, Services, Deployments, StatefulSets and
/// DaemonSets of `scope`, into an [`Inventory`] whose objects have [`Origin::Cluster`].
///
/// The first request is discovery of the App Mesh group version: it tells an unreachable
/// server ([`ReadError::Unreachable`]) and a cluster without App Mesh
/// ([`ReadError::NoAppMeshCrds`]) apart from everything else.
pub async fn read_inventory(
    cluster: &Cluster,
    scope: &NamespaceScope,
) -> Result<ClusterInventory, ReadError> {
    let client = &cluster.client;
    let group_version = format!("{APPMESH_GROUP}/{APPMESH_VERSION}");
    let served = match client.list_api_group_resources(&group_version).await {
        Ok(list) => list
            .resources
            .into_iter()
            .filter(|r| !r.name.contains('/'))
            .map(|r| r.kind)
            .collect::<Vec<_>>(),
        Err(kube::Error::Api(status)) if status.code == 404 => {
            return Err(ReadError::NoAppMeshCrds {
                server: cluster.server.clone(),
                context: cluster.context.clone(),
            });
        }
        Err(source @ kube::Error::Api(_)) => {
            return Err(ReadError::Api(ClusterError::Api {
                what: format!("cannot discover {group_version}"),
                source,
            }));
        }
        Err(other) => {
            return Err(ReadError::Unreachable {
                server: cluster.server.clone(),
                context: cluster.context.clone(),
                message: describe_kube_error(&other),
            });
        }
    };
    let appmesh: Vec<&'static KindInfo> = APPMESH_KINDS
        .iter()
        .filter(|k| served.iter().any(|s| s == k.kind))
        .collect();
    let kinds_not_served: Vec<&'static str> = APPMESH_KINDS
        .iter()
        .filter(|k| !served.iter().any(|s| s == k.kind))
        .map(|k| k.kind)
        .collect();
    let core_kinds: [&'static KindInfo; 4] = [
        &kinds::SERVICES,
        &kinds::DEPLOYMENTS,
        &kinds::STATEFULSETS,
        &kinds::DAEMONSETS,
    ];

    // Flagger and Argo Rollouts are optional: their kinds are read when the cluster serves
    // them.
    let flagger_served = served_kinds(client, "flagger.app/v1beta1").await?;
    let argo_served = served_kinds(client, &kinds::ROLLOUTS.api_version()).await?;
    let companions: Vec<&'static KindInfo> = kinds::FLAGGER_KINDS
        .iter()
        .filter(|k| flagger_served.iter().any(|s| s == k.kind))
        .chain(
            std::iter::once(&kinds::ROLLOUTS).filter(|k| argo_served.iter().any(|s| s == k.kind)),
        )
        .collect();

    let namespaces = async {
        match scope {
            NamespaceScope::All => list_values_lean(client, &kinds::NAMESPACES, scope).await,
            NamespaceScope::One(ns) => get_namespace(client, ns).await,
        }
    };
    let lists = join_all(
        appmesh
            .iter()
            .chain(core_kinds.iter())
            .chain(companions.iter())
            .map(|kind| async move { (kind.kind, list_values_lean(client, kind, scope).await) }),
    );
    let (namespaces, lists) = futures::join!(namespaces, lists);

    let namespaces = namespaces?;
    if let NamespaceScope::One(ns) = scope
        && namespaces.is_empty()
    {
        return Err(ReadError::NoSuchNamespace(ns.clone()));
    }
    let mut counts = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    for (kind, result) in lists {
        let items = result?;
        counts.push((kind, items.len()));
        values.extend(items);
    }
    counts.push(("Namespace", namespaces.len()));
    values.extend(namespaces);

    let origin = Origin::Cluster {
        context: cluster.context.clone(),
    };
    let options = LoadOptions {
        default_namespace: scope
            .namespace()
            .unwrap_or(&cluster.default_namespace)
            .to_owned(),
        ..LoadOptions::default()
    };
    let inventory = from_values(values, &origin, &options);
    Ok(ClusterInventory {
        inventory,
        kinds_not_served,
        counts,
    })
}

/// The kinds a group version serves; none when the group is not installed (404).
async fn served_kinds(
    client: &kube::Client,
    group_version: &str,
) -> Result<Vec<String>, ClusterError> {
    match client.list_api_group_resources(group_version).await {
        Ok(list) => Ok(list
            .resources
            .into_iter()
            .filter(|r| !r.name.contains('/'))
            .map(|r| r.kind)
            .collect()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Vec::new()),
        Err(source) => Err(ClusterError::Api {
            what: format!("cannot discover {group_version}"),
            source,
        }),
    }
}

/// One namespace as a list of zero or one values (`-n`: reading all namespaces may be forbidden
/// to a user who may read their own).
async fn get_namespace(client: &kube::Client, name: &str) -> Result<Vec<Value>, ClusterError> {
    let request = kube::core::Request::new(kinds::NAMESPACES.collection_path(None));
    let http_request = request
        .get(name, &kube::api::GetParams::default())
        .map_err(|e| ClusterError::Api {
            what: format!("cannot get namespace {name}"),
            source: kube::Error::BuildRequest(e),
        })?;
    match client.request::<Value>(http_request).await {
        Ok(mut value) => {
            without_bookkeeping(&mut value);
            if let Value::Object(map) = &mut value {
                map.insert("apiVersion".into(), "v1".into());
                map.insert("kind".into(), "Namespace".into());
            }
            Ok(vec![value])
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Vec::new()),
        Err(source) => Err(ClusterError::Api {
            what: format!("cannot get namespace {name}"),
            source,
        }),
    }
}
