//! The backup written before anything is deleted, and `--restore`.
//!
//! The backup is a multi-document YAML file that `kubectl apply -f` accepts as it is: every
//! object cleanup deletes, cleaned so that it can be created again (no status, uid,
//! resourceVersion, managed fields, finalizers, and no `spec.meshRef`/`spec.virtualGatewayRef`:
//! those carry the uids of objects that are re-created with new ones, and App Mesh's webhook
//! refuses a create that sets `meshRef`; it designates them again), plus partial Namespaces and
//! workloads holding only the labels and annotations cleanup removes. Objects come in the order
//! they must be created in.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::steps::{METADATA, Step, StepKind, TEMPLATE_METADATA};
use crate::change::ObjectKey;

/// The backup's default name (without --undo-file): `./appmesh2istio-cleanup-backup-YYYYMMDDTHHMMSSZ.yaml`.
pub fn default_backup_path() -> PathBuf {
    let now = k8s_openapi::jiff::Timestamp::now();
    PathBuf::from(format!(
        "appmesh2istio-cleanup-backup-{}.yaml",
        now.strftime("%Y%m%dT%H%M%SZ")
    ))
}

/// `live` without what the server sets, ready to be created again.
pub fn clean(live: &Value) -> Value {
    let mut manifest = live.clone();
    if let Some(object) = manifest.as_object_mut() {
        object.remove("status");
    }
    if let Some(metadata) = manifest.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "uid",
            "resourceVersion",
            "managedFields",
            "creationTimestamp",
            "generation",
            "selfLink",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "finalizers",
            "ownerReferences",
        ] {
            metadata.remove(field);
        }
    }
    let appmesh = live
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("appmesh.k8s.aws/"));
    if appmesh && let Some(spec) = manifest.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("meshRef");
        spec.remove("virtualGatewayRef");
    }
    manifest
}

/// Creation order of a kind in a backup (lower first).
pub fn restore_phase(kind: &str) -> u32 {
    match kind {
        "CustomResourceDefinition" => 0,
        "Namespace" => 1,
        "Mesh" => 2,
        "VirtualGateway" => 3,
        "VirtualNode" => 4,
        "BackendGroup" => 5,
        "VirtualRouter" => 6,
        "VirtualService" => 7,
        "GatewayRoute" => 8,
        "Deployment" | "StatefulSet" | "DaemonSet" => 9,
        "ServiceAccount" | "Service" | "ClusterRole" | "ClusterRoleBinding" | "Role"
        | "RoleBinding" => 10,
        _ => 12,
    }
}

/// A partial object holding only `labels` (at `metadata`) or `annotations` (at the pod
/// template), as `kubectl apply` merges it.
pub fn partial(
    key: &ObjectKey,
    base: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Value {
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(key.name));
    if let Some(ns) = &key.namespace {
        metadata.insert("namespace".into(), json!(ns));
    }
    let mut keys = Map::new();
    if !labels.is_empty() {
        keys.insert("labels".into(), json!(labels));
    }
    if !annotations.is_empty() {
        keys.insert("annotations".into(), json!(annotations));
    }
    let mut object = json!({"apiVersion": key.api_version, "kind": key.kind, "metadata": metadata});
    if base == METADATA {
        for (k, v) in keys {
            object["metadata"][k] = v;
        }
    } else {
        object["spec"] = json!({"template": {"metadata": Value::Object(keys)}});
    }
    object
}

/// Write `documents` to `path`, or to [`default_backup_path`] (with a `-2`, `-3`… suffix when a
/// run in the same second left one), refusing to overwrite any file, flushed to disk before
/// any change is made. Returns the path written.
pub fn write(path: Option<&Path>, documents: &[Value], context: &str) -> Result<PathBuf, String> {
    write_or_default(path, default_backup_path(), documents, context)
}

fn write_or_default(
    path: Option<&Path>,
    base: PathBuf,
    documents: &[Value],
    context: &str,
) -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = match path {
        Some(p) => vec![p.to_owned()],
        None => {
            let stem = base.to_string_lossy().trim_end_matches(".yaml").to_owned();
            std::iter::once(base)
                .chain((2..100).map(|n| PathBuf::from(format!("{stem}-{n}.yaml"))))
                .collect()
        }
    };
    let mut taken = None;
    for candidate in candidates {
        let mut file = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                taken = Some(candidate);
                continue;
            }
            Err(e) => {
                return Err(format!(
                    "cannot create the backup {}: {e}",
                    candidate.display()
                ));
            }
        };
        let text = render(&candidate, documents, context)?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("cannot write the backup {}: {e}", candidate.display()))?;
        return Ok(candidate);
    }
    Err(match taken {
        Some(last) => format!(
            "cannot create the backup {}: File exists (name another with --undo-file)",
            last.display()
        ),
        None => "no backup file name to try".to_owned(),
    })
}

fn render(path: &Path, documents: &[Value], context: &str) -> Result<String, String> {
    let mut text = format!(
        "# Written by `kubectl appmesh2istio cleanup` before it deleted or changed anything ({context}).\n\
         # Re-create with: kubectl appmesh2istio cleanup --restore {} (or kubectl apply -f).\n\
         # AWS-side resources (meshes, virtual nodes, Cloud Map instances) are NOT re-created by it:\n\
         # the App Mesh controller creates them again when it runs.\n",
        path.display()
    );
    for document in documents {
        let yaml = serde_saphyr::to_string(document)
            .map_err(|e| format!("cannot write the backup {}: {e}", path.display()))?;
        text.push_str("---\n");
        text.push_str(&yaml);
    }
    Ok(text)
}

/// The objects of a backup file (or any multi-document YAML of objects).
pub fn read(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let documents: Vec<Value> = serde_saphyr::from_multiple(&text)
        .map_err(|e| format!("{}: not a YAML backup: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, document) in documents.into_iter().enumerate() {
        if document.is_null() {
            continue;
        }
        if ObjectKey::of(&document).is_none() {
            return Err(format!(
                "{}: document {} has no apiVersion, kind and metadata.name: not a backup written by cleanup",
                path.display(),
                i + 1
            ));
        }
        out.push(document);
    }
    Ok(out)
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The steps that give back what a backup holds: objects created when absent, keys set back
/// on Namespaces and workloads.
pub fn restore_steps(documents: &[Value]) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for document in documents {
        let Some(key) = ObjectKey::of(document) else {
            continue;
        };
        if key.kind_info().is_none() {
            return Err(format!(
                "{key}: {} {} is not a kind cleanup restores",
                key.api_version, key.kind
            ));
        }
        let phase = restore_phase(&key.kind);
        let kind = match key.kind.as_str() {
            "Namespace" => StepKind::SetKeys {
                base: METADATA,
                labels: string_map(document.pointer("/metadata/labels")),
                annotations: string_map(document.pointer("/metadata/annotations")),
            },
            "Deployment" | "StatefulSet" | "DaemonSet"
                if document.pointer("/spec/selector").is_none() =>
            {
                StepKind::SetKeys {
                    base: TEMPLATE_METADATA,
                    labels: BTreeMap::new(),
                    annotations: string_map(
                        document.pointer("/spec/template/metadata/annotations"),
                    ),
                }
            }
            _ => StepKind::Create {
                manifest: clean(document),
            },
        };
        steps.push(Step::new(key, phase, kind));
    }
    steps.sort_by(|a, b| a.phase.cmp(&b.phase).then_with(|| a.key.cmp(&b.key)));
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_backup_in_the_same_second_gets_a_suffix_and_a_named_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir
            .path()
            .join("appmesh2istio-cleanup-backup-20261205T120000Z.yaml");
        let doc = [json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}})];
        let first = write_or_default(None, base.clone(), &doc, "ctx").unwrap();
        let second = write_or_default(None, base.clone(), &doc, "ctx").unwrap();
        assert_eq!(first, base);
        assert_eq!(
            second,
            dir.path()
                .join("appmesh2istio-cleanup-backup-20261205T120000Z-2.yaml")
        );
        let text = std::fs::read_to_string(&second).unwrap();
        assert!(
            text.contains(&format!("--restore {}", second.display())),
            "{text}"
        );
        assert_eq!(read(&second).unwrap().len(), 1);
        // A file the user named is refused when it exists, not replaced.
        let err = write_or_default(Some(&first), base, &doc, "ctx").unwrap_err();
        assert!(err.contains("File exists"), "{err}");
    }

    #[test]
    fn clean_manifests_can_be_created_again() {
        let live = json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode",
            "metadata": {"name": "web", "namespace": "a", "uid": "u", "resourceVersion": "4", "generation": 2,
                "creationTimestamp": "x", "managedFields": [], "finalizers": ["finalizers.appmesh.k8s.aws/aws-appmesh-resources"],
                "labels": {"app": "web"}},
            "spec": {"awsName": "web_a", "meshRef": {"name": "m", "uid": "m-1"}, "listeners": []},
            "status": {"virtualNodeARN": "arn:aws:appmesh:eu-west-1:1:mesh/m/virtualNode/web_a"}});
        let clean = clean(&live);
        assert_eq!(
            clean,
            json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode",
                "metadata": {"name": "web", "namespace": "a", "labels": {"app": "web"}},
                "spec": {"awsName": "web_a", "listeners": []}})
        );
    }

    #[test]
    fn backups_round_trip_into_ordered_restore_steps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.yaml");
        let ns = ObjectKey::new("v1", "Namespace", None, "a");
        let labels = BTreeMap::from([(
            "appmesh.k8s.aws/sidecarInjectorWebhook".to_owned(),
            "enabled".to_owned(),
        )]);
        let docs = vec![
            json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode", "metadata": {"name": "web", "namespace": "a"}, "spec": {}}),
            json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "Mesh", "metadata": {"name": "m"}, "spec": {}}),
            partial(&ns, METADATA, &labels, &BTreeMap::new()),
        ];
        write(Some(&path), &docs, "test").unwrap();
        assert!(
            write(Some(&path), &docs, "test").is_err(),
            "never overwrites"
        );
        let back = read(&path).unwrap();
        assert_eq!(back, docs);
        let steps = restore_steps(&back).unwrap();
        let order: Vec<&str> = steps.iter().map(|s| s.key.kind.as_str()).collect();
        assert_eq!(order, vec!["Namespace", "Mesh", "VirtualNode"]);
        assert!(matches!(&steps[0].kind, StepKind::SetKeys { labels: l, .. } if l == &labels));
        std::fs::write(&path, "a: 1\n").unwrap();
        assert!(read(&path).unwrap_err().contains("document 1"));
    }
}
