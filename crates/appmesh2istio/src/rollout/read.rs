//! Reading what a rollout decides from: the namespaces in scope (`-n` repeatable, `-l`, `-A`,
//! or the context's namespace) with their labels, and their Deployments, StatefulSets,
//! DaemonSets and Pods (paginated lists: a fixed number of requests per namespace, none per
//! workload). For the phased strategy also App Mesh's graph (through the resolver).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use serde_json::Value;

use super::RolloutCommand;
use super::coupling::{self, MeshGraph};
use crate::cluster::inventory::{ReadError, read_inventory};
use crate::cluster::kinds::{DAEMONSETS, DEPLOYMENTS, PODS, STATEFULSETS};
use crate::cluster::list::{list_all, list_values, list_values_lean};
use crate::cluster::{Cluster, NamespaceScope, describe_kube_error};
use crate::precheck::labels::string_map;
use crate::resolve::resolve;

/// Namespace name → labels.
pub type NamespaceLabels = BTreeMap<String, BTreeMap<String, String>>;

/// What was read.
#[derive(Debug, Clone, Default)]
pub struct Read {
    pub namespaces: NamespaceLabels,
    pub workloads: Vec<Value>,
    pub pods: Vec<Value>,
}

/// The namespaces in scope, then their workloads and pods.
pub async fn read(cluster: &Cluster, command: &RolloutCommand) -> Result<Read, String> {
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    let mut out = Read::default();
    let labels_of = |ns: &Namespace| -> Option<(String, BTreeMap<String, String>)> {
        let value = serde_json::to_value(ns).ok()?;
        Some((
            ns.metadata.name.clone()?,
            string_map(&value, "/metadata/labels"),
        ))
    };
    let all = command.kube.all_namespaces;
    if all || command.selector.is_some() {
        let mut params = ListParams::default();
        if let Some(selector) = &command.selector {
            params = params.labels(selector);
        }
        let list = list_all(&api, &params, "namespaces")
            .await
            .map_err(|e| e.to_string())?;
        out.namespaces = list.iter().filter_map(labels_of).collect();
    } else {
        let names = if command.namespaces.is_empty() {
            vec![cluster.default_namespace.clone()]
        } else {
            command.namespaces.clone()
        };
        for name in names {
            match api.get_opt(&name).await {
                Ok(Some(ns)) => {
                    if let Some((n, l)) = labels_of(&ns) {
                        out.namespaces.insert(n, l);
                    }
                }
                Ok(None) => return Err(format!("namespace {name} does not exist")),
                Err(e) => {
                    return Err(format!(
                        "cannot read namespace {name}: {}",
                        describe_kube_error(&e)
                    ));
                }
            }
        }
    }
    let scopes: Vec<NamespaceScope> = if all {
        vec![NamespaceScope::All]
    } else {
        out.namespaces
            .keys()
            .map(|n| NamespaceScope::One(n.clone()))
            .collect()
    };
    for scope in &scopes {
        for kind in [&DEPLOYMENTS, &STATEFULSETS, &DAEMONSETS] {
            out.workloads.extend(
                list_values(&cluster.client, kind, scope)
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        // Pods are only read here (never written): their field bookkeeping is dropped.
        out.pods.extend(
            list_values_lean(&cluster.client, &PODS, scope)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(out)
}

/// App Mesh's graph of every namespace (backends can live anywhere), or why it could not be
/// read (the waves are then ordered by name only).
pub async fn mesh_graph(cluster: &Cluster) -> Result<MeshGraph, String> {
    match read_inventory(cluster, &NamespaceScope::All).await {
        Ok(read) => Ok(coupling::graph(&resolve(&read.inventory))),
        Err(ReadError::NoAppMeshCrds { .. }) => Ok(MeshGraph::default()),
        Err(e) => Err(e.to_string()),
    }
}
