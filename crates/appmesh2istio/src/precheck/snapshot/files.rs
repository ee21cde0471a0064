//! Offline: a snapshot of `-f` manifests.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::conversion::conversion_of;
use super::scope::keep_relevant_meshes;
use super::{Data, Mode, Object, Snapshot};
use crate::cluster::NamespaceScope;
use crate::cluster::kinds::{APPMESH_GROUP, APPMESH_KINDS};
use crate::load::yaml::{YamlLimits, parse_documents};
use crate::load::{InputSource, LoadError, LoadOptions, load_sources};
use crate::origin::Origin;

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
