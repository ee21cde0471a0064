//! Which namespaces `label` changes, and what it must know of App Mesh to decide: the Meshes'
//! and VirtualGateways' namespaceSelectors, and (for `--remove-mesh-labels`) which namespaces
//! still hold App Mesh objects.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use super::LabelCommand;
use super::change::LabelContext;
use crate::change::ChangeError;
use crate::cluster::kinds::{APPMESH_KINDS, NAMESPACES, appmesh_kind};
use crate::cluster::list::{list_all, list_values};
use crate::cluster::{Cluster, ClusterError, NamespaceScope};

/// The namespaces chosen, and (when they were listed) their objects as read.
#[derive(Debug, Default)]
pub struct Selection {
    pub names: BTreeSet<String>,
    /// `None` for `-n`: each namespace is read on its own while planning (a GET each, so a
    /// missing one is reported by name).
    pub live: Option<BTreeMap<String, Value>>,
}

/// The Meshes' and VirtualGateways' namespaceSelectors into `context`. A cluster without the App
/// Mesh CRDs has none; a list the user may not make leaves them out with a warning (labels that
/// a selector matches are then not recognised as such).
pub async fn read_mesh_selectors(cluster: &Cluster, context: &mut LabelContext) {
    for (kind, into) in [
        ("Mesh", &mut context.mesh_selectors),
        ("VirtualGateway", &mut context.gateway_selectors),
    ] {
        let Some(info) = appmesh_kind(kind) else {
            continue;
        };
        match list_values(&cluster.client, info, &NamespaceScope::All).await {
            Ok(objects) => into.extend(
                objects
                    .iter()
                    .map(|o| o.pointer("/spec/namespaceSelector").cloned()),
            ),
            Err(e) if e.status_code() == Some(404) => {}
            Err(e) => eprintln!(
                "warning: {e}: namespaces selected only by a {kind}'s namespaceSelector are not recognised"
            ),
        }
    }
}

/// `-n`, `-l` or `--all-meshed` (with `-l` as a filter).
pub async fn namespaces(
    cluster: &Cluster,
    command: &LabelCommand,
    context: &LabelContext,
) -> Result<Selection, ChangeError> {
    if !command.namespaces.is_empty() {
        return Ok(Selection {
            names: command.namespaces.iter().cloned().collect(),
            live: None,
        });
    }
    let listed = list_namespaces(cluster, command.selector.as_deref()).await?;
    let live: BTreeMap<String, Value> = listed
        .into_iter()
        .filter(|ns| !command.all_meshed || context.is_meshed(ns))
        .filter_map(|ns| {
            let name = ns.pointer("/metadata/name")?.as_str()?.to_owned();
            Some((name, ns))
        })
        .collect();
    Ok(Selection {
        names: live.keys().cloned().collect(),
        live: Some(live),
    })
}

/// Every namespace (matching `selector`, evaluated by the server), as JSON.
pub async fn list_namespaces(
    cluster: &Cluster,
    selector: Option<&str>,
) -> Result<Vec<Value>, ChangeError> {
    let api: Api<DynamicObject> = Api::all_with(cluster.client.clone(), &NAMESPACES.api_resource());
    let mut params = ListParams::default();
    if let Some(selector) = selector {
        params = params.labels(selector);
    }
    let listed = list_all(&api, &params, "namespaces")
        .await
        .map_err(|e| cluster_error(cluster, e))?;
    listed
        .into_iter()
        .map(|ns| {
            serde_json::to_value(&ns).map_err(|e| ChangeError::Serialise {
                what: "a namespace".into(),
                message: e.to_string(),
            })
        })
        .collect()
}

fn cluster_error(cluster: &Cluster, error: ClusterError) -> ChangeError {
    match error {
        ClusterError::Api { what, source } => ChangeError::from_kube(cluster, what, source),
        other => ChangeError::NotReady(other.to_string()),
    }
}

/// App Mesh objects per namespace (kinds the cluster does not serve, or the user may not list,
/// count as none: the warning they feed is advice).
pub async fn appmesh_objects(cluster: &Cluster) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for kind in APPMESH_KINDS.iter().filter(|k| k.namespaced) {
        let Ok(objects) = list_values(&cluster.client, kind, &NamespaceScope::All).await else {
            continue;
        };
        for ns in objects
            .iter()
            .filter_map(|o| o.pointer("/metadata/namespace").and_then(Value::as_str))
        {
            *out.entry(ns.to_owned()).or_default() += 1;
        }
    }
    out
}
