//! What `convert --apply` changed, recorded before each write, and `convert --undo FILE`, which
//! reverts it: objects that were created are deleted (only the very object created: uid
//! precondition), objects that were updated get their previous labels, annotations and spec back
//! (server-side apply by the same field manager, forced, so the fields we set and the previous
//! object did not have are removed).
//!
//! An entry is written to the undo file *before* its write is sent and removed again when the
//! server answered that it refused the write (4xx), so after any interruption the file covers
//! every write that may have happened. A created entry without `uid` is one whose outcome was
//! not known (the connection broke); undo deletes it only if it carries our managed-by label.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use futures::{StreamExt, stream};
use kube::api::{DeleteParams, Preconditions};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Cluster;
use super::access::{AccessAnswer, AccessRequest};
use super::apply::{
    ApplyError, ApplyFailure, ApplyOptions, DOCUMENT_API_VERSION, DryRun, ObjectKey, PlanItem,
    VerifyProblem, apply_params, denied, get_value, idempotent_write, managers, same_value,
    server_side_apply,
};
use crate::istio::{MANAGED_BY_LABEL, MANAGED_BY_VALUE};

/// `kind` of the undo document.
pub const UNDO_KIND: &str = "UndoRecord";

/// An object `--apply` created.
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
}

/// An object `--apply` updated, with what it was before.
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

/// The undo file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UndoRecord {
    pub api_version: String,
    pub kind: String,
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
}

fn key_of(api_version: &str, kind: &str, namespace: &Option<String>, name: &str) -> ObjectKey {
    ObjectKey {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        namespace: namespace.clone(),
        name: name.to_owned(),
    }
}

impl CreatedObject {
    pub fn key(&self) -> ObjectKey {
        key_of(&self.api_version, &self.kind, &self.namespace, &self.name)
    }
}

impl UpdatedObject {
    pub fn key(&self) -> ObjectKey {
        key_of(&self.api_version, &self.kind, &self.namespace, &self.name)
    }
}

impl UndoRecord {
    pub fn new(cluster: &Cluster, field_manager: &str) -> UndoRecord {
        UndoRecord {
            api_version: DOCUMENT_API_VERSION.to_owned(),
            kind: UNDO_KIND.to_owned(),
            created_at: now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            context: cluster.context.clone(),
            server: cluster.server.clone(),
            field_manager: field_manager.to_owned(),
            created: Vec::new(),
            updated: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.updated.is_empty()
    }

    /// Record a write about to be sent for `item` (create or update).
    pub fn before_write(&mut self, item: &PlanItem) {
        let key = &item.target.key;
        self.forget(key);
        match &item.live {
            None => self.created.push(CreatedObject {
                api_version: key.api_version.clone(),
                kind: key.kind.clone(),
                namespace: key.namespace.clone(),
                name: key.name.clone(),
                uid: None,
            }),
            Some(live) => self.updated.push(UpdatedObject {
                api_version: key.api_version.clone(),
                kind: key.kind.clone(),
                namespace: key.namespace.clone(),
                name: key.name.clone(),
                uid: live
                    .pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                previous: previous_state(live),
            }),
        }
    }

    /// The write for `key` succeeded: remember the uid of what the server stored.
    pub fn after_write(&mut self, key: &ObjectKey, stored: &Value) {
        let uid = stored
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .map(str::to_owned);
        for c in self.created.iter_mut().filter(|c| c.key() == *key) {
            c.uid.clone_from(&uid);
        }
    }

    /// The server refused the write for `key`: nothing to undo for it.
    pub fn forget(&mut self, key: &ObjectKey) {
        self.created.retain(|c| c.key() != *key);
        self.updated.retain(|u| u.key() != *key);
    }

    /// The YAML written to the undo file, with a header saying how to use it.
    pub fn to_yaml(&self) -> Result<String, UndoFileError> {
        let body =
            serde_saphyr::to_string(self).map_err(|e| UndoFileError::Serialise(e.to_string()))?;
        Ok(format!(
            "# Written by `kubectl appmesh2istio convert --apply`: what it created and what it changed.\n\
             # Revert with: kubectl appmesh2istio convert --undo <this file>\n{body}"
        ))
    }

    pub fn read(path: &Path) -> Result<UndoRecord, UndoFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| UndoFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        let record: UndoRecord =
            serde_saphyr::from_str(&text).map_err(|e| UndoFileError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        if record.kind != UNDO_KIND || record.api_version != DOCUMENT_API_VERSION {
            return Err(UndoFileError::Parse {
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

fn previous_state(live: &Value) -> PreviousState {
    PreviousState {
        labels: string_map(live, "/metadata/labels"),
        annotations: string_map(live, "/metadata/annotations"),
        spec: live
            .get("spec")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new())),
    }
}

fn now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now()
}

/// Problems with the undo file itself.
#[derive(Debug, thiserror::Error)]
pub enum UndoFileError {
    #[error("cannot write the undo file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the undo file {} already exists; choose another --undo-file (an undo file is never overwritten)", path.display())]
    Exists { path: PathBuf },
    #[error("cannot read the undo file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("cannot serialise the undo record: {0}")]
    Serialise(String),
}

/// The undo file while applying: created once (never overwriting an existing file), then
/// rewritten atomically (temporary file + rename) after every change of the record.
#[derive(Debug)]
pub struct UndoJournal {
    pub path: PathBuf,
    pub record: UndoRecord,
}

/// `appmesh2istio-undo-<UTC timestamp>.yaml`.
pub fn default_undo_file_name() -> String {
    format!(
        "appmesh2istio-undo-{}.yaml",
        now().strftime("%Y%m%dT%H%M%SZ")
    )
}

impl UndoJournal {
    /// Create the file: `path`, or [`default_undo_file_name`] in the current directory (with a
    /// `-2`, `-3`… suffix if a run in the same second left one).
    pub fn create(path: Option<&Path>, record: UndoRecord) -> Result<UndoJournal, UndoFileError> {
        let candidates: Vec<PathBuf> = match path {
            Some(p) => vec![p.to_owned()],
            None => {
                let base = default_undo_file_name();
                let stem = base.trim_end_matches(".yaml").to_owned();
                std::iter::once(PathBuf::from(&base))
                    .chain((2..100).map(|n| PathBuf::from(format!("{stem}-{n}.yaml"))))
                    .collect()
            }
        };
        let mut last = None;
        for candidate in candidates {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&candidate)
            {
                Ok(_) => {
                    let journal = UndoJournal {
                        path: candidate,
                        record,
                    };
                    journal.save()?;
                    return Ok(journal);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(candidate),
                Err(source) => {
                    return Err(UndoFileError::Write {
                        path: candidate,
                        source,
                    });
                }
            }
        }
        Err(UndoFileError::Exists {
            path: last.unwrap_or_default(),
        })
    }

    pub fn save(&self) -> Result<(), UndoFileError> {
        let text = self.record.to_yaml()?;
        let tmp = self.path.with_extension("yaml.tmp");
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|source| UndoFileError::Write {
            path: self.path.clone(),
            source,
        })
    }

    /// Remove the file (nothing was applied).
    pub fn discard(self) -> Result<(), UndoFileError> {
        std::fs::remove_file(&self.path).map_err(|source| UndoFileError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// --undo

/// What undo will do to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UndoAction {
    /// Delete the object we created (uid precondition).
    Delete { uid: String },
    /// Put back the previous labels, annotations and spec; `changes` as in the apply plan.
    Restore { changes: Vec<String> },
    /// Already as it was before.
    Unchanged,
    /// Created by us and already gone.
    Absent,
    /// Left alone, with the reason.
    Skip { reason: String },
}

impl UndoAction {
    pub fn name(&self) -> &'static str {
        match self {
            UndoAction::Delete { .. } => "delete",
            UndoAction::Restore { .. } => "restore",
            UndoAction::Unchanged => "unchanged",
            UndoAction::Absent => "absent",
            UndoAction::Skip { .. } => "skip",
        }
    }

    pub fn writes(&self) -> bool {
        matches!(self, UndoAction::Delete { .. } | UndoAction::Restore { .. })
    }

    pub fn details(&self) -> String {
        match self {
            UndoAction::Restore { changes } => changes.join(", "),
            UndoAction::Skip { reason } => reason.clone(),
            UndoAction::Absent => "already deleted".into(),
            _ => String::new(),
        }
    }
}

/// One object of the undo plan.
#[derive(Debug, Clone, PartialEq)]
pub struct UndoItem {
    pub key: ObjectKey,
    pub action: UndoAction,
    /// For restores: what to put back.
    pub previous: Option<PreviousState>,
}

/// Undo in the reverse of apply order (routes before the destinations they use).
pub async fn plan_undo(
    cluster: &Cluster,
    record: &UndoRecord,
) -> Result<Vec<UndoItem>, ApplyError> {
    enum Entry<'r> {
        Created(&'r CreatedObject),
        Updated(&'r UpdatedObject),
    }
    let mut entries: Vec<(ObjectKey, Entry<'_>)> = record
        .created
        .iter()
        .map(|c| (c.key(), Entry::Created(c)))
        .chain(record.updated.iter().map(|u| (u.key(), Entry::Updated(u))))
        .collect();
    entries.sort_by(|a, b| {
        b.0.kind_order()
            .cmp(&a.0.kind_order())
            .then_with(|| a.0.cmp(&b.0))
    });
    let lives: Vec<Result<Option<Value>, ApplyError>> =
        stream::iter(entries.iter().map(|(key, _)| get_value(cluster, key)))
            .buffered(8)
            .collect()
            .await;
    let mut items = Vec::with_capacity(entries.len());
    for ((key, entry), live) in entries.into_iter().zip(lives) {
        let live = live?;
        let live_uid = live
            .as_ref()
            .and_then(|l| l.pointer("/metadata/uid"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let (action, previous) = match (entry, live, live_uid) {
            (Entry::Created(_), None, _) => (UndoAction::Absent, None),
            (Entry::Created(c), Some(live), Some(uid)) => {
                let action = match &c.uid {
                    Some(recorded) if *recorded != uid => UndoAction::Skip {
                        reason: "deleted and created again since (another uid): not ours to delete".into(),
                    },
                    None if !carries_our_label(&live) => UndoAction::Skip {
                        reason: "its creation was never confirmed and it is not managed by appmesh2istio".into(),
                    },
                    _ => UndoAction::Delete { uid },
                };
                (action, None)
            }
            (Entry::Created(_), Some(_), None) => (
                UndoAction::Skip {
                    reason: "the server returned it without a uid".into(),
                },
                None,
            ),
            (Entry::Updated(_), None, _) => (
                UndoAction::Skip {
                    reason: "deleted since it was updated: nothing to restore".into(),
                },
                None,
            ),
            (Entry::Updated(u), Some(live), _) => {
                let changes = restore_changes(&u.previous, &live, &record.field_manager);
                let action = if changes.is_empty() {
                    UndoAction::Unchanged
                } else {
                    UndoAction::Restore { changes }
                };
                (action, Some(u.previous.clone()))
            }
        };
        items.push(UndoItem {
            key,
            action,
            previous,
        });
    }
    Ok(items)
}

fn carries_our_label(live: &Value) -> bool {
    live.pointer("/metadata/labels")
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .and_then(Value::as_str)
        == Some(MANAGED_BY_VALUE)
}

/// How `live` differs from `previous`: every top-level spec field (the whole spec is restored),
/// and labels/annotations that differ from the previous ones or that we set and it did not have.
fn restore_changes(previous: &PreviousState, live: &Value, field_manager: &str) -> Vec<String> {
    let mut out = Vec::new();
    let empty = Map::new();
    let want = previous.spec.as_object().unwrap_or(&empty);
    let have = live
        .get("spec")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let keys: std::collections::BTreeSet<&String> = want.keys().chain(have.keys()).collect();
    for key in keys {
        let same = match (want.get(key), have.get(key)) {
            (Some(w), Some(h)) => same_value(w, h),
            (None, None) => true,
            _ => false,
        };
        if !same {
            out.push(format!("spec.{key}"));
        }
    }
    let ours = |section: &str| -> Vec<String> {
        let Some(fields) = live
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array)
        else {
            return Vec::new();
        };
        fields
            .iter()
            .filter(|e| e.get("manager").and_then(Value::as_str) == Some(field_manager))
            .filter_map(|e| {
                e.pointer(&format!("/fieldsV1/f:metadata/f:{section}"))
                    .and_then(Value::as_object)
            })
            .flat_map(|m| {
                m.keys()
                    .filter_map(|k| k.strip_prefix("f:"))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    for (section, want) in [
        ("labels", &previous.labels),
        ("annotations", &previous.annotations),
    ] {
        let have = string_map(live, &format!("/metadata/{section}"));
        let differs = want.iter().any(|(k, v)| have.get(k) != Some(v))
            || ours(section)
                .iter()
                .any(|k| !want.contains_key(k) && have.contains_key(k));
        if differs {
            out.push(format!("metadata.{section}"));
        }
    }
    out
}

/// The rights undo needs that the current user does not have.
pub async fn missing_undo_rights(cluster: &Cluster, items: &[UndoItem]) -> Vec<AccessAnswer> {
    let mut requests = std::collections::BTreeSet::new();
    for item in items {
        let Some(info) = item.key.kind_info() else {
            continue;
        };
        let verb = match item.action {
            UndoAction::Delete { .. } => "delete",
            UndoAction::Restore { .. } => "patch",
            _ => continue,
        };
        requests.insert(AccessRequest::new(
            verb,
            info.group,
            info.plural,
            item.key.namespace.as_deref(),
        ));
    }
    denied(cluster, requests.into_iter().collect()).await
}

/// What undo did to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndoResult {
    Deleted,
    Restored,
    Unchanged,
    Skipped,
}

impl UndoResult {
    pub fn as_str(self) -> &'static str {
        match self {
            UndoResult::Deleted => "deleted",
            UndoResult::Restored => "restored",
            UndoResult::Unchanged => "unchanged",
            UndoResult::Skipped => "skipped",
        }
    }
}

/// Undo one object: delete (uid precondition; "not found" on a resend counts as deleted) or
/// restore (server-side apply of the previous labels, annotations and spec, forced).
pub async fn undo_item(
    cluster: &Cluster,
    record: &UndoRecord,
    item: &UndoItem,
    options: &ApplyOptions,
    field_validation: bool,
) -> Result<(UndoResult, Option<Value>), ApplyFailure> {
    let dry_run = options.dry_run == DryRun::Server;
    match (&item.action, &item.previous) {
        (UndoAction::Delete { uid }, _) => {
            let api = item.key.api(&cluster.client).map_err(|e| ApplyFailure {
                key: item.key.clone(),
                error: kube::Error::Service(Box::new(e)),
                definitely_not_applied: true,
                attempts: 1,
            })?;
            let params = DeleteParams {
                dry_run,
                preconditions: Some(Preconditions {
                    uid: Some(uid.clone()),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            let (result, attempts) = idempotent_write(&options.policy, || async {
                api.delete(&item.key.name, &params).await.map(|_| ())
            })
            .await;
            match result {
                Ok(()) => Ok((UndoResult::Deleted, None)),
                // A resend after a lost answer finds it gone.
                Err(kube::Error::Api(status)) if status.code == 404 && attempts > 1 => {
                    Ok((UndoResult::Deleted, None))
                }
                Err(error) => {
                    let definitely_not_applied =
                        matches!(&error, kube::Error::Api(s) if (400..500).contains(&s.code));
                    Err(ApplyFailure {
                        key: item.key.clone(),
                        error,
                        definitely_not_applied,
                        attempts,
                    })
                }
            }
        }
        (UndoAction::Restore { .. }, Some(previous)) => {
            let manifest = json!({
                "apiVersion": item.key.api_version,
                "kind": item.key.kind,
                "metadata": {
                    "name": item.key.name,
                    "namespace": item.key.namespace,
                    "labels": previous.labels,
                    "annotations": previous.annotations,
                },
                "spec": previous.spec,
            });
            let params = apply_params(&record.field_manager, true, dry_run, field_validation);
            let (object, _) =
                server_side_apply(cluster, &item.key, &manifest, &params, &options.policy).await?;
            Ok((UndoResult::Restored, Some(object)))
        }
        (UndoAction::Unchanged, _) => Ok((UndoResult::Unchanged, None)),
        _ => Ok((UndoResult::Skipped, None)),
    }
}

/// Re-read what undo changed: deleted objects must be gone (or being deleted), restored ones
/// must match their previous state. With a server dry run, the server's answers are compared.
pub async fn verify_undo(
    cluster: &Cluster,
    record: &UndoRecord,
    done: &[(&UndoItem, UndoResult, Option<Value>)],
    options: &ApplyOptions,
) -> Result<Vec<VerifyProblem>, ApplyError> {
    let mut problems = Vec::new();
    for (item, result, answer) in done {
        let live = if options.dry_run == DryRun::Server {
            if *result == UndoResult::Deleted {
                continue;
            }
            answer.clone()
        } else {
            get_value(cluster, &item.key).await?
        };
        match (result, live, &item.previous) {
            (UndoResult::Deleted, Some(live), _)
                if live.pointer("/metadata/deletionTimestamp").is_none() =>
            {
                problems.push(VerifyProblem {
                    key: item.key.clone(),
                    message: "still exists after it was deleted".into(),
                })
            }
            (UndoResult::Restored, None, _) => problems.push(VerifyProblem {
                key: item.key.clone(),
                message: "not found after it was restored".into(),
            }),
            (UndoResult::Restored, Some(live), Some(previous)) => {
                let differences = restore_changes(previous, &live, &record.field_manager);
                if !differences.is_empty() {
                    let others = managers(&live)
                        .into_iter()
                        .filter(|m| *m != record.field_manager)
                        .collect::<Vec<_>>();
                    let by = if others.is_empty() {
                        String::new()
                    } else {
                        format!(" (other field managers: {})", others.join(", "))
                    };
                    problems.push(VerifyProblem {
                        key: item.key.clone(),
                        message: format!(
                            "{} still differ from the previous state{by}",
                            differences.join(", ")
                        ),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::apply::{Action, Target};

    fn item(live: Option<Value>) -> PlanItem {
        PlanItem {
            target: Target {
                key: ObjectKey {
                    api_version: "networking.istio.io/v1".into(),
                    kind: "VirtualService".into(),
                    namespace: Some("ns".into()),
                    name: "cart".into(),
                },
                manifest: json!({}),
            },
            action: if live.is_some() {
                Action::Update {
                    changes: vec![],
                    adopt: false,
                }
            } else {
                Action::Create
            },
            live,
        }
    }

    fn record() -> UndoRecord {
        UndoRecord {
            api_version: DOCUMENT_API_VERSION.into(),
            kind: UNDO_KIND.into(),
            created_at: "2025-01-01T00:00:00Z".into(),
            context: Some("ctx".into()),
            server: "https://127.0.0.1:6443/".into(),
            field_manager: "kubectl-appmesh2istio".into(),
            created: vec![],
            updated: vec![],
        }
    }

    #[test]
    fn entries_are_recorded_before_and_confirmed_or_forgotten_after() {
        let mut r = record();
        let created = item(None);
        r.before_write(&created);
        assert_eq!(r.created.len(), 1);
        assert_eq!(r.created[0].uid, None);
        r.after_write(&created.target.key, &json!({"metadata": {"uid": "u-1"}}));
        assert_eq!(r.created[0].uid.as_deref(), Some("u-1"));
        let updated = item(Some(
            json!({"metadata": {"uid": "u-2", "labels": {"a": "b"}}, "spec": {"hosts": ["x"]}}),
        ));
        r.before_write(&updated);
        assert!(r.created.is_empty(), "one entry per object");
        assert_eq!(r.updated[0].previous.spec, json!({"hosts": ["x"]}));
        r.forget(&updated.target.key);
        assert!(r.is_empty());
    }

    #[test]
    fn record_round_trips_through_yaml() {
        let mut r = record();
        r.before_write(&item(Some(json!({"metadata": {"uid": "u", "annotations": {"k": "v"}}, "spec": {"hosts": ["x"], "http": [{"timeout": "15s"}]}}))));
        let text = r.to_yaml().unwrap();
        assert!(text.starts_with("# Written by"), "{text}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("undo.yaml");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(UndoRecord::read(&path).unwrap(), r);
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

    #[test]
    fn journal_never_overwrites_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("undo.yaml");
        std::fs::write(&path, "precious").unwrap();
        let err = UndoJournal::create(Some(&path), record()).unwrap_err();
        assert!(matches!(err, UndoFileError::Exists { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
        let fresh = dir.path().join("fresh.yaml");
        let journal = UndoJournal::create(Some(&fresh), record()).unwrap();
        assert!(
            std::fs::read_to_string(&journal.path)
                .unwrap()
                .contains("kind: UndoRecord")
        );
    }

    #[test]
    fn restore_changes_compare_the_whole_spec() {
        let previous = PreviousState {
            spec: json!({"hosts": ["x"]}),
            ..PreviousState::default()
        };
        let live = json!({"metadata": {"labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE},
            "managedFields": [{"manager": "m", "operation": "Apply", "fieldsV1": {"f:metadata": {"f:labels": {"f:app.kubernetes.io/managed-by": {}}}}}]},
            "spec": {"hosts": ["x"], "http": []}});
        assert_eq!(
            restore_changes(&previous, &live, "m"),
            vec!["spec.http", "metadata.labels"]
        );
    }
}
