//! The undo file's content: ONE format for every command that changes a cluster.
//!
//! The kinds of change it records, each restored by [`super::revert`]:
//! - `created`: objects created (deleted by undo; only the very object: uid);
//! - `updated`: objects updated as a whole (previous labels, annotations, spec and managed
//!   fields put back);
//! - `metadataChanges`: keys of `metadata.labels`/`annotations` changed, with their previous
//!   values (`null`: the key was absent);
//! - `podTemplateChanges`: the same for a workload's `spec.template.metadata`;
//! - `deleted`: objects deleted, with their full manifest (re-created by undo).
//!
//! Files written before a field existed still read (every addition is optional).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::DOCUMENT_API_VERSION;
use super::journal::JournalError;
use super::object::{ObjectKey, uid};
use crate::cluster::Cluster;

/// `kind` of the undo document.
pub const UNDO_KIND: &str = "UndoRecord";

/// An object a command created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedObject {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// The uid of the object created; absent while (or when) the outcome of the write is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// The part of an updated object that undo restores.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviousState {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The full previous `spec`.
    #[serde(default)]
    pub spec: Value,
    /// The previous `metadata.managedFields`, so that undo gives every field back to its
    /// previous manager (absent in files written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_fields: Option<Vec<Value>>,
}

impl PreviousState {
    /// What undo needs of `live`.
    pub fn of(live: &Value) -> PreviousState {
        PreviousState {
            labels: string_map(live, "/metadata/labels"),
            annotations: string_map(live, "/metadata/annotations"),
            spec: live
                .get("spec")
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new())),
            managed_fields: live
                .pointer("/metadata/managedFields")
                .and_then(Value::as_array)
                .cloned(),
        }
    }
}

/// An object a command updated, with what it was before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdatedObject {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub previous: PreviousState,
}

/// Keys of a metadata map a command changed: `labels`/`annotations` hold the *previous* value
/// of each key changed (`None`: the key was absent). For `metadataChanges` the maps are the
/// object's `metadata`; for `podTemplateChanges`, `spec.template.metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyChanges {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, Option<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, Option<String>>,
}

/// An object a command deleted, with what re-creates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedObject {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The object as it was, without status, uid, resourceVersion and managed fields: ready to
    /// create again.
    pub manifest: Value,
}

/// One change, recorded before it is made.
#[derive(Debug, Clone, PartialEq)]
pub enum UndoEntry {
    Created(CreatedObject),
    Updated(UpdatedObject),
    Metadata(KeyChanges),
    PodTemplate(KeyChanges),
    Deleted(DeletedObject),
}

fn key_of(api_version: &str, kind: &str, namespace: &Option<String>, name: &str) -> ObjectKey {
    ObjectKey::new(api_version, kind, namespace.as_deref(), name)
}

impl CreatedObject {
    pub fn new(key: &ObjectKey) -> CreatedObject {
        CreatedObject {
            api_version: key.api_version.clone(),
            kind: key.kind.clone(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            uid: None,
        }
    }

    pub fn key(&self) -> ObjectKey {
        key_of(&self.api_version, &self.kind, &self.namespace, &self.name)
    }
}

impl UpdatedObject {
    pub fn new(key: &ObjectKey, live: &Value) -> UpdatedObject {
        UpdatedObject {
            api_version: key.api_version.clone(),
            kind: key.kind.clone(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            uid: uid(live).map(str::to_owned),
            previous: PreviousState::of(live),
        }
    }

    pub fn key(&self) -> ObjectKey {
        key_of(&self.api_version, &self.kind, &self.namespace, &self.name)
    }
}

impl KeyChanges {
    /// Record the previous values, in `live`'s map at `base` (`/metadata` or
    /// `/spec/template/metadata`), of the `labels` and `annotations` keys about to change.
    pub fn new<'k>(
        key: &ObjectKey,
        live: &Value,
        base: &str,
        labels: impl IntoIterator<Item = &'k str>,
        annotations: impl IntoIterator<Item = &'k str>,
    ) -> KeyChanges {
        let previous = |section: &str, keys: &mut dyn Iterator<Item = &'k str>| {
            let map = live.pointer(&format!("{base}/{section}"));
            keys.map(|k| {
                (
                    k.to_owned(),
                    map.and_then(|m| m.get(k))
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                )
            })
            .collect()
        };
        KeyChanges {
            api_version: key.api_version.clone(),
            kind: key.kind.clone(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            uid: uid(live).map(str::to_owned),
            labels: previous("labels", &mut labels.into_iter()),
            annotations: previous("annotations", &mut annotations.into_iter()),
        }
    }

    pub fn key(&self) -> ObjectKey {
        key_of(&self.api_version, &self.kind, &self.namespace, &self.name)
    }
}

impl DeletedObject {
    /// Record `live`, cleaned so that it can be created again.
    pub fn new(key: &ObjectKey, live: &Value) -> DeletedObject {
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
            ] {
                metadata.remove(field);
            }
        }
        DeletedObject {
            api_version: key.api_version.clone(),
            kind: key.kind.clone(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            uid: uid(live).map(str::to_owned),
            manifest,
        }
    }

    pub fn key(&self) -> ObjectKey {
        key_of(&self.api_version, &self.kind, &self.namespace, &self.name)
    }
}

impl UndoEntry {
    pub fn key(&self) -> ObjectKey {
        match self {
            UndoEntry::Created(c) => c.key(),
            UndoEntry::Updated(u) => u.key(),
            UndoEntry::Metadata(m) | UndoEntry::PodTemplate(m) => m.key(),
            UndoEntry::Deleted(d) => d.key(),
        }
    }

    /// The write succeeded and the server stored `stored`: remember the uid of what was created.
    pub fn confirm(&mut self, stored: &Value) {
        if let UndoEntry::Created(c) = self {
            c.uid = uid(stored).map(str::to_owned);
        }
    }
}

/// The undo file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UndoRecord {
    pub api_version: String,
    pub kind: String,
    /// The command that wrote it (`convert --apply`, `label`, …); empty in older files.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub command: String,
    /// How to revert it (`kubectl appmesh2istio convert --undo`); empty in older files.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub undo_command: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub server: String,
    pub field_manager: String,
    #[serde(default)]
    pub created: Vec<CreatedObject>,
    #[serde(default)]
    pub updated: Vec<UpdatedObject>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata_changes: Vec<KeyChanges>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pod_template_changes: Vec<KeyChanges>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<DeletedObject>,
}

impl UndoRecord {
    /// An empty record for `command` on `cluster`; `undo_command` reverts it
    /// (`kubectl appmesh2istio convert --undo`).
    pub fn new(
        cluster: &Cluster,
        command: &str,
        undo_command: &str,
        field_manager: &str,
    ) -> UndoRecord {
        UndoRecord {
            api_version: DOCUMENT_API_VERSION.to_owned(),
            kind: UNDO_KIND.to_owned(),
            command: command.to_owned(),
            undo_command: undo_command.to_owned(),
            created_at: now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            context: cluster.context.clone(),
            server: cluster.server.clone(),
            field_manager: field_manager.to_owned(),
            created: Vec::new(),
            updated: Vec::new(),
            metadata_changes: Vec::new(),
            pod_template_changes: Vec::new(),
            deleted: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> Vec<UndoEntry> {
        self.created
            .iter()
            .cloned()
            .map(UndoEntry::Created)
            .chain(self.updated.iter().cloned().map(UndoEntry::Updated))
            .chain(
                self.metadata_changes
                    .iter()
                    .cloned()
                    .map(UndoEntry::Metadata),
            )
            .chain(
                self.pod_template_changes
                    .iter()
                    .cloned()
                    .map(UndoEntry::PodTemplate),
            )
            .chain(self.deleted.iter().cloned().map(UndoEntry::Deleted))
            .collect()
    }

    /// This record's header with `entries` as its content.
    pub(crate) fn with_entries<'e>(
        &self,
        entries: impl Iterator<Item = &'e UndoEntry>,
    ) -> UndoRecord {
        let mut record = UndoRecord {
            created: Vec::new(),
            updated: Vec::new(),
            metadata_changes: Vec::new(),
            pod_template_changes: Vec::new(),
            deleted: Vec::new(),
            ..self.clone()
        };
        for entry in entries {
            match entry {
                UndoEntry::Created(c) => record.created.push(c.clone()),
                UndoEntry::Updated(u) => record.updated.push(u.clone()),
                UndoEntry::Metadata(m) => record.metadata_changes.push(m.clone()),
                UndoEntry::PodTemplate(m) => record.pod_template_changes.push(m.clone()),
                UndoEntry::Deleted(d) => record.deleted.push(d.clone()),
            }
        }
        record
    }

    /// The YAML written to the undo file, with a header saying which command wrote it and how
    /// to revert it.
    pub fn to_yaml(&self) -> Result<String, JournalError> {
        let body =
            serde_saphyr::to_string(self).map_err(|e| JournalError::Serialise(e.to_string()))?;
        let command = if self.command.is_empty() {
            "convert --apply"
        } else {
            &self.command
        };
        let undo = if self.undo_command.is_empty() {
            "kubectl appmesh2istio convert --undo"
        } else {
            &self.undo_command
        };
        Ok(format!(
            "# Written by `kubectl appmesh2istio {command}`: what it changed, recorded before each change.\n\
             # Revert with: {undo} <this file>\n{body}"
        ))
    }

    pub fn read(path: &Path) -> Result<UndoRecord, JournalError> {
        let text = std::fs::read_to_string(path).map_err(|source| JournalError::Read {
            path: path.to_owned(),
            source,
        })?;
        let record: UndoRecord =
            serde_saphyr::from_str(&text).map_err(|e| JournalError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        if record.kind != UNDO_KIND || record.api_version != DOCUMENT_API_VERSION {
            return Err(JournalError::Parse {
                path: path.to_owned(),
                message: format!(
                    "not an undo file: expected apiVersion {DOCUMENT_API_VERSION} kind {UNDO_KIND}, found {} {}",
                    record.api_version, record.kind
                ),
            });
        }
        Ok(record)
    }
}

fn string_map(value: &Value, pointer: &str) -> BTreeMap<String, String> {
    value
        .pointer(pointer)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// An empty record of `label`, for tests of the record and the journal.
    pub(crate) fn header() -> UndoRecord {
        UndoRecord {
            api_version: DOCUMENT_API_VERSION.into(),
            kind: UNDO_KIND.into(),
            command: "label".into(),
            undo_command: "kubectl appmesh2istio label --undo".into(),
            created_at: "2025-01-01T00:00:00Z".into(),
            context: Some("ctx".into()),
            server: "https://127.0.0.1:6443/".into(),
            field_manager: "kubectl-appmesh2istio".into(),
            created: vec![],
            updated: vec![],
            metadata_changes: vec![],
            pod_template_changes: vec![],
            deleted: vec![],
        }
    }

    pub(crate) fn vs() -> ObjectKey {
        ObjectKey::new(
            "networking.istio.io/v1",
            "VirtualService",
            Some("ns"),
            "cart",
        )
    }

    #[test]
    fn older_files_still_read_and_new_kinds_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.yaml");
        std::fs::write(
            &path,
            "apiVersion: appmesh2istio.io/v1alpha1\nkind: UndoRecord\ncreatedAt: x\nserver: s\nfieldManager: m\n\
             created:\n- apiVersion: networking.istio.io/v1\n  kind: Gateway\n  namespace: a\n  name: g\n  uid: u\n\
             updated:\n- apiVersion: networking.istio.io/v1\n  kind: VirtualService\n  namespace: a\n  name: v\n  previous:\n    spec: {hosts: [x]}\n",
        )
        .unwrap();
        let record = UndoRecord::read(&path).unwrap();
        assert_eq!(record.entries().len(), 2);
        assert_eq!(record.updated[0].previous.managed_fields, None);
        assert_eq!(record.command, "");

        let mut record = header();
        let deployment = ObjectKey::new("apps/v1", "Deployment", Some("a"), "web");
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "a", "uid": "d-1", "resourceVersion": "9", "managedFields": []},
            "spec": {"template": {"metadata": {"annotations": {"x": "1"}}}}, "status": {"replicas": 1}});
        record.pod_template_changes.push(KeyChanges::new(
            &deployment,
            &live,
            "/spec/template/metadata",
            [],
            ["x", "y"],
        ));
        record.deleted.push(DeletedObject::new(&deployment, &live));
        record.updated.push(UpdatedObject::new(&vs(), &json!({"metadata": {"uid": "v", "managedFields": [{"manager": "m"}]}, "spec": {"hosts": ["a"]}})));
        std::fs::write(&path, record.to_yaml().unwrap()).unwrap();
        let back = UndoRecord::read(&path).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.deleted[0].manifest.pointer("/metadata/uid"), None);
        assert_eq!(back.deleted[0].manifest.get("status"), None);
        assert_eq!(back.deleted[0].uid.as_deref(), Some("d-1"));
        assert_eq!(
            back.pod_template_changes[0].annotations,
            BTreeMap::from([
                ("x".to_owned(), Some("1".to_owned())),
                ("y".to_owned(), None)
            ])
        );
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: ConfigMap\ncreatedAt: x\nserver: s\nfieldManager: m\n",
        )
        .unwrap();
        assert!(
            UndoRecord::read(&path)
                .unwrap_err()
                .to_string()
                .contains("not an undo file")
        );
    }
}
