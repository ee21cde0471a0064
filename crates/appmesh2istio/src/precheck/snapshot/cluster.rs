//! Reading a cluster: the API server's version, API discovery of the App Mesh and Istio groups,
//! and every kind the checks read, listed concurrently page by page.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use futures::future::join_all;
use k8s_openapi::api::core::v1::Namespace as CoreNamespace;
use kube::api::Api;
use serde_json::Value;

use super::conversion::convert_cluster_objects;
use super::permissions::{label_permissions, permission_requests};
use super::pods::pod_summary;
use super::scope::keep_relevant_meshes;
use super::{Data, Mode, Object, ReadError, ReadOptions, Snapshot, VersionInfo};
use crate::cluster::access::review_all;
use crate::cluster::kinds::{self, APPMESH_GROUP, APPMESH_KINDS, ISTIO_KINDS, KindInfo};
use crate::cluster::list::{
    list_parsed, list_values_lean, list_values_selected, without_bookkeeping,
};
use crate::cluster::{Cluster, ClusterError, NamespaceScope, describe_kube_error};
use crate::istio::{MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use crate::origin::Origin;

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
                NamespaceScope::All => list_values_lean(client, &kinds::NAMESPACES, scope).await,
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
                            list_values_lean(client, &kinds::DEPLOYMENTS, &scope).await
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
            list_values_lean(client, &kinds::SERVICES, scope),
            list_values_lean(client, &kinds::DEPLOYMENTS, scope),
            list_values_lean(client, &kinds::STATEFULSETS, scope),
            list_values_lean(client, &kinds::DAEMONSETS, scope),
            list_values_lean(client, &kinds::MUTATING_WEBHOOKS, scope),
            list_values_lean(client, &kinds::VALIDATING_WEBHOOKS, scope),
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
    // With -A the control-plane Deployments are among `deployments`: not kept twice.
    snap.system_deployments_elsewhere = match system {
        Ok(None) => None,
        Ok(Some(extra)) => Some(Data::Available(
            extra
                .into_iter()
                .map(|value| Object {
                    value,
                    origin: origin.clone(),
                })
                .collect(),
        )),
        Err(e) => Some({
            let d = collect(Err(e), &kinds::DEPLOYMENTS, &origin, errors);
            match d {
                Data::Unavailable(r) => Data::Unavailable(r),
                Data::Available(_) => Data::Unavailable("not read".into()),
            }
        }),
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

async fn get_namespace(client: &kube::Client, name: &str) -> Result<Vec<Value>, ClusterError> {
    let api: Api<CoreNamespace> = Api::all(client.clone());
    match api.get_opt(name).await {
        Ok(Some(ns)) => {
            let mut value = serde_json::to_value(ns).unwrap_or(Value::Null);
            without_bookkeeping(&mut value);
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
                (kind.kind, list_values_lean(client, kind, scope).await)
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
