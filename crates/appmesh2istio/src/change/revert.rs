//! Undo: the change that reverts one entry of an undo file, whichever command wrote it.
//!
//! | entry | undo |
//! |---|---|
//! | `created` | delete it, only the very object created (uid precondition); already gone is fine |
//! | `updated` | put back the previous spec, the labels/annotations we changed, and the previous managed fields |
//! | `metadataChanges`, `podTemplateChanges` | put back the previous value of every key changed (remove the keys that were absent) |
//! | `deleted` | create it again from the recorded manifest |
//!
//! Every restore is a JSON patch with a `test` of the resourceVersion it was planned against,
//! so a change made since the plan is never overwritten (it re-plans). Undo is idempotent: an
//! object already as it was is `unchanged`, one already deleted is `already deleted`.

use serde_json::{Map, Value, json};

use super::manifests::apply_order;
use super::object::{ObjectKey, same_value, uid};
use super::ownership::{self, OwnershipEdit};
use super::plan::{Action, Decision};
use super::record::{
    CreatedObject, DeletedObject, KeyChanges, PreviousState, UndoEntry, UndoRecord, UpdatedObject,
};
use super::write::Operation;
use super::{Change, DryRun};
use crate::istio::{MANAGED_BY_LABEL, MANAGED_BY_VALUE};

/// The actions of an undo plan, in summary order.
pub const VOCABULARY: &[Action] = &[
    Action::DELETE,
    Action::RESTORE,
    Action::RECREATE,
    Action::UNCHANGED,
    Action::ALREADY_DELETED,
    Action::SKIP,
];

/// Reverts one undo entry.
#[derive(Debug, Clone)]
pub struct Revert {
    key: ObjectKey,
    entry: UndoEntry,
    /// The field manager that made the change (the undo file's).
    field_manager: String,
}

/// One change per entry of `record`, in undo order: what refers before what it refers to
/// (the reverse of apply order), metadata and template changes after, re-creations last.
pub fn changes(record: &UndoRecord) -> Vec<Revert> {
    let mut out: Vec<Revert> = record
        .entries()
        .into_iter()
        .map(|entry| Revert {
            key: entry.key(),
            entry,
            field_manager: record.field_manager.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.phase().cmp(&b.phase()).then_with(|| a.key.cmp(&b.key)));
    out
}

impl Change for Revert {
    fn key(&self) -> &ObjectKey {
        &self.key
    }

    fn phase(&self) -> u32 {
        match &self.entry {
            UndoEntry::Created(_) | UndoEntry::Updated(_) => 100 - apply_order(&self.key.kind),
            UndoEntry::Metadata(_) | UndoEntry::PodTemplate(_) => 200,
            UndoEntry::Deleted(_) => 300,
        }
    }

    fn possible_verbs(&self) -> &'static [&'static str] {
        match &self.entry {
            UndoEntry::Created(_) => &["delete"],
            UndoEntry::Updated(_) | UndoEntry::Metadata(_) | UndoEntry::PodTemplate(_) => {
                &["patch"]
            }
            UndoEntry::Deleted(_) => &["create"],
        }
    }

    fn decide(&self, live: Option<&Value>) -> Decision {
        match &self.entry {
            UndoEntry::Created(created) => decide_created(created, live),
            UndoEntry::Updated(updated) => decide_updated(updated, live, &self.field_manager),
            UndoEntry::Metadata(keys) => decide_keys(keys, live, "/metadata"),
            UndoEntry::PodTemplate(keys) => decide_keys(keys, live, "/spec/template/metadata"),
            UndoEntry::Deleted(deleted) => decide_deleted(deleted, live),
        }
    }

    fn verify(&self, decision: &Decision, live: Option<&Value>, dry_run: DryRun) -> Vec<String> {
        if decision.action.id == Action::DELETE.id {
            return match live {
                Some(live)
                    if dry_run == DryRun::None
                        && live.pointer("/metadata/deletionTimestamp").is_none() =>
                {
                    vec!["still exists after it was deleted".into()]
                }
                _ => Vec::new(),
            };
        }
        let Some(live) = live else {
            return vec!["not found after it was restored".into()];
        };
        let left = match &self.entry {
            UndoEntry::Updated(updated) => {
                let mut left =
                    restore_plan(&updated.previous, live, &self.field_manager).differences;
                if dry_run != DryRun::None {
                    // The managed fields are not rewritten on a dry run.
                    left.retain(|d| d != "metadata.managedFields");
                }
                if !left.is_empty() {
                    let others: Vec<String> = super::object::managers(live)
                        .into_iter()
                        .filter(|m| *m != self.field_manager)
                        .collect();
                    let by = if others.is_empty() {
                        String::new()
                    } else {
                        format!(" (other field managers: {})", others.join(", "))
                    };
                    return vec![format!(
                        "{} still differ from the previous state{by}",
                        left.join(", ")
                    )];
                }
                left
            }
            UndoEntry::Metadata(keys) => key_restores(keys, live, "/metadata").0,
            UndoEntry::PodTemplate(keys) => key_restores(keys, live, "/spec/template/metadata").0,
            UndoEntry::Deleted(_) | UndoEntry::Created(_) => Vec::new(),
        };
        if left.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "{} still differ from the previous state",
                left.join(", ")
            )]
        }
    }
}

fn recreated_since(recorded: Option<&str>, live: &Value) -> bool {
    matches!((recorded, uid(live)), (Some(r), Some(l)) if r != l)
}

fn decide_created(created: &CreatedObject, live: Option<&Value>) -> Decision {
    let Some(live) = live else {
        return Decision::none(Action::ALREADY_DELETED, "");
    };
    if recreated_since(created.uid.as_deref(), live) {
        return Decision::none(
            Action::SKIP,
            "deleted and created again since (another uid): not ours to delete",
        );
    }
    if created.uid.is_none() && !carries_our_label(live) {
        return Decision::none(
            Action::SKIP,
            "its creation was never confirmed and it is not managed by appmesh2istio",
        );
    }
    if uid(live).is_none() {
        return Decision::none(Action::SKIP, "the server returned it without a uid");
    }
    Decision::write(
        Action::DELETE,
        "",
        vec![Operation::Delete {
            resource_version: false,
        }],
        None,
    )
}

fn carries_our_label(live: &Value) -> bool {
    live.pointer("/metadata/labels")
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .and_then(Value::as_str)
        == Some(MANAGED_BY_VALUE)
}

/// How to put an updated object back, and what differs now.
struct RestorePlan {
    /// `spec.hosts`, `metadata.labels`, `metadata.managedFields`.
    differences: Vec<String>,
    /// The JSON patch operations putting content back (spec, labels, annotations).
    operations: Vec<Value>,
}

fn string_map(value: &Value, pointer: &str) -> Map<String, Value> {
    value
        .pointer(pointer)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Label or annotation keys `manager` owns in `live`.
fn owned_metadata_keys(live: &Value, manager: &str, section: &str) -> Vec<String> {
    ownership::entries(live)
        .iter()
        .filter(|e| e.get("manager").and_then(Value::as_str) == Some(manager))
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
}

fn restore_plan(previous: &PreviousState, live: &Value, manager: &str) -> RestorePlan {
    let mut differences = Vec::new();
    let mut operations = Vec::new();
    let empty = Map::new();
    if !previous.spec.is_null() {
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
                differences.push(format!("spec.{key}"));
            }
        }
        if !differences.is_empty() {
            operations.push(json!({"op": "add", "path": "/spec", "value": previous.spec}));
        }
    }
    // Labels and annotations: the previous value of every key that had one, and the keys we
    // set that it did not have removed; keys others added since stay.
    for (section, was) in [
        ("labels", &previous.labels),
        ("annotations", &previous.annotations),
    ] {
        let have = string_map(live, &format!("/metadata/{section}"));
        let mut want = have.clone();
        for (k, v) in was {
            want.insert(k.clone(), json!(v));
        }
        for k in owned_metadata_keys(live, manager, section) {
            if !was.contains_key(&k) {
                want.remove(&k);
            }
        }
        if want != have {
            differences.push(format!("metadata.{section}"));
            operations
                .push(json!({"op": "add", "path": format!("/metadata/{section}"), "value": want}));
        }
    }
    if ownership::mentions(live, manager) {
        differences.push("metadata.managedFields".into());
    }
    RestorePlan {
        differences,
        operations,
    }
}

fn decide_updated(updated: &UpdatedObject, live: Option<&Value>, manager: &str) -> Decision {
    let Some(live) = live else {
        return Decision::none(
            Action::SKIP,
            "deleted since it was updated: nothing to restore",
        );
    };
    if recreated_since(updated.uid.as_deref(), live) {
        return Decision::none(
            Action::SKIP,
            "deleted and created again since (another uid): not the object that was updated",
        );
    }
    let plan = restore_plan(&updated.previous, live, manager);
    if plan.differences.is_empty() {
        return Decision::none(Action::UNCHANGED, "");
    }
    let mut writes = Vec::new();
    if !plan.operations.is_empty() {
        writes.push(Operation::JsonPatch {
            operations: plan.operations,
        });
    }
    writes.push(Operation::Ownership(OwnershipEdit::Restore {
        previous: updated.previous.managed_fields.clone(),
    }));
    Decision::write(Action::RESTORE, plan.differences.join(", "), writes, None)
}

/// What differs from the recorded previous values (`metadata.labels[istio-injection]`), and
/// the maps as they must become.
fn key_restores(keys: &KeyChanges, live: &Value, base: &str) -> (Vec<String>, Vec<Value>) {
    let mut differences = Vec::new();
    let mut operations = Vec::new();
    let shown = base.trim_start_matches('/').replace('/', ".");
    for (section, previous) in [("labels", &keys.labels), ("annotations", &keys.annotations)] {
        if previous.is_empty() {
            continue;
        }
        let have = string_map(live, &format!("{base}/{section}"));
        let mut want = have.clone();
        for (k, v) in previous {
            match v {
                Some(v) => {
                    want.insert(k.clone(), json!(v));
                }
                None => {
                    want.remove(k);
                }
            }
        }
        let changed: Vec<&String> = previous
            .keys()
            .filter(|k| want.get(*k) != have.get(*k))
            .collect();
        if !changed.is_empty() {
            for k in changed {
                differences.push(format!("{shown}.{section}[{k}]"));
            }
            operations
                .push(json!({"op": "add", "path": format!("{base}/{section}"), "value": want}));
        }
    }
    (differences, operations)
}

fn decide_keys(keys: &KeyChanges, live: Option<&Value>, base: &str) -> Decision {
    let Some(live) = live else {
        return Decision::none(
            Action::SKIP,
            "deleted since it was changed: nothing to restore",
        );
    };
    if recreated_since(keys.uid.as_deref(), live) {
        return Decision::none(
            Action::SKIP,
            "deleted and created again since (another uid): not the object that was changed",
        );
    }
    let (differences, operations) = key_restores(keys, live, base);
    if differences.is_empty() {
        return Decision::none(Action::UNCHANGED, "");
    }
    Decision::write(
        Action::RESTORE,
        differences.join(", "),
        vec![Operation::JsonPatch { operations }],
        None,
    )
}

fn decide_deleted(deleted: &DeletedObject, live: Option<&Value>) -> Decision {
    match live {
        None => Decision::write(
            Action::RECREATE,
            "",
            vec![Operation::Create {
                manifest: deleted.manifest.clone(),
            }],
            None,
        ),
        Some(live) if live.pointer("/metadata/deletionTimestamp").is_some() => Decision::none(
            Action::SKIP,
            "still being deleted (finalizers): re-create it once it is gone",
        ),
        Some(_) => Decision::none(Action::UNCHANGED, "exists"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revert(entry: UndoEntry) -> Revert {
        Revert {
            key: entry.key(),
            entry,
            field_manager: "m".into(),
        }
    }

    #[test]
    fn created_objects_are_deleted_only_when_they_are_still_ours() {
        let key = ObjectKey::new("networking.istio.io/v1", "Gateway", Some("a"), "g");
        let mut created = CreatedObject::new(&key);
        created.uid = Some("u-1".into());
        let r = revert(UndoEntry::Created(created));
        assert_eq!(r.decide(None).action, Action::ALREADY_DELETED);
        let ours = json!({"metadata": {"uid": "u-1"}});
        let delete = r.decide(Some(&ours));
        assert_eq!(delete.action, Action::DELETE);
        assert_eq!(
            delete.writes,
            vec![Operation::Delete {
                resource_version: false
            }]
        );
        assert_eq!(
            r.decide(Some(&json!({"metadata": {"uid": "u-2"}}))).action,
            Action::SKIP
        );
        let unconfirmed = revert(UndoEntry::Created(CreatedObject::new(&key)));
        assert_eq!(unconfirmed.decide(Some(&ours)).action, Action::SKIP);
        let labelled =
            json!({"metadata": {"uid": "u-3", "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}}});
        assert_eq!(unconfirmed.decide(Some(&labelled)).action, Action::DELETE);
        assert!(
            r.phase()
                > revert(UndoEntry::Created(CreatedObject::new(&ObjectKey::new(
                    "networking.istio.io/v1",
                    "VirtualService",
                    Some("a"),
                    "v"
                ))))
                .phase(),
            "routes are undone before the gateways they use"
        );
    }

    #[test]
    fn updates_are_restored_with_spec_our_keys_and_ownership() {
        let key = ObjectKey::new("networking.istio.io/v1", "VirtualService", Some("a"), "v");
        let before = json!({"metadata": {"uid": "u", "labels": {"team": "cart"},
            "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update", "fieldsV1": {"f:spec": {"f:hosts": {}}}}]},
            "spec": {"hosts": ["x"], "exportTo": ["."]}});
        let r = revert(UndoEntry::Updated(UpdatedObject::new(&key, &before)));
        assert_eq!(r.decide(Some(&before)).action, Action::UNCHANGED);
        let after = json!({"metadata": {"uid": "u", "resourceVersion": "5", "labels": {"team": "cart", MANAGED_BY_LABEL: MANAGED_BY_VALUE, "added-later": "yes"},
            "managedFields": [{"manager": "m", "operation": "Apply", "fieldsV1": {"f:metadata": {"f:labels": {"f:app.kubernetes.io/managed-by": {}}}, "f:spec": {"f:hosts": {}}}}]},
            "spec": {"hosts": ["y"]}});
        let restore = r.decide(Some(&after));
        assert_eq!(restore.action, Action::RESTORE);
        assert_eq!(
            restore.details,
            "spec.exportTo, spec.hosts, metadata.labels, metadata.managedFields"
        );
        let Operation::JsonPatch { operations } = &restore.writes[0] else {
            panic!("{:?}", restore.writes)
        };
        assert_eq!(
            operations[0],
            json!({"op": "add", "path": "/spec", "value": {"hosts": ["x"], "exportTo": ["."]}})
        );
        assert_eq!(
            operations[1],
            json!({"op": "add", "path": "/metadata/labels", "value": {"team": "cart", "added-later": "yes"}}),
            "our label goes, the one added since stays"
        );
        assert_eq!(
            restore.writes[1],
            Operation::Ownership(OwnershipEdit::Restore {
                previous: Some(
                    before["metadata"]["managedFields"]
                        .as_array()
                        .unwrap()
                        .clone()
                )
            })
        );
        assert_eq!(r.decide(None).action, Action::SKIP);
    }

    #[test]
    fn key_changes_put_back_previous_values() {
        let ns = ObjectKey::new("v1", "Namespace", None, "shop");
        let before = json!({"metadata": {"uid": "n", "labels": {"appmesh.k8s.aws/sidecarInjectorWebhook": "enabled", "team": "a"}}});
        let keys = KeyChanges::new(
            &ns,
            &before,
            "/metadata",
            ["appmesh.k8s.aws/sidecarInjectorWebhook", "istio-injection"],
            [],
        );
        let r = revert(UndoEntry::Metadata(keys.clone()));
        assert_eq!(r.decide(Some(&before)).action, Action::UNCHANGED);
        let after = json!({"metadata": {"uid": "n", "labels": {"istio-injection": "enabled", "team": "b"}}});
        let restore = r.decide(Some(&after));
        assert_eq!(restore.action, Action::RESTORE);
        assert_eq!(
            restore.writes,
            vec![Operation::JsonPatch {
                operations: vec![json!({"op": "add", "path": "/metadata/labels",
                "value": {"appmesh.k8s.aws/sidecarInjectorWebhook": "enabled", "team": "b"}})]
            }],
            "only the keys that were changed; team was changed by someone else since"
        );
        assert_eq!(
            restore.details,
            "metadata.labels[appmesh.k8s.aws/sidecarInjectorWebhook], metadata.labels[istio-injection]"
        );
        assert!(r.verify(&restore, Some(&before), DryRun::None).is_empty());
        assert_eq!(r.verify(&restore, Some(&after), DryRun::None).len(), 1);
        let template = revert(UndoEntry::PodTemplate(KeyChanges::new(
            &ObjectKey::new("apps/v1", "Deployment", Some("a"), "web"),
            &json!({"spec": {"template": {"metadata": {"annotations": {"x": "1"}}}}}),
            "/spec/template/metadata",
            [],
            ["x"],
        )));
        let restore = template.decide(Some(
            &json!({"spec": {"template": {"metadata": {"annotations": {"x": "2"}}}}}),
        ));
        assert_eq!(restore.details, "spec.template.metadata.annotations[x]");
    }

    #[test]
    fn deleted_objects_are_created_again() {
        let key = ObjectKey::new("appmesh.k8s.aws/v1beta2", "VirtualNode", Some("a"), "n");
        let live = json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode", "metadata": {"name": "n", "namespace": "a", "uid": "u"}, "spec": {}});
        let r = revert(UndoEntry::Deleted(DeletedObject::new(&key, &live)));
        let create = r.decide(None);
        assert_eq!(create.action, Action::RECREATE);
        assert!(
            matches!(&create.writes[0], Operation::Create { manifest } if manifest.pointer("/metadata/uid").is_none())
        );
        assert_eq!(r.decide(Some(&live)).action, Action::UNCHANGED);
    }
}
