//! The changes `cleanup` makes, one per object, as [`Change`]s of the shared engine: delete an
//! object (uid and resourceVersion preconditions, the cleaned manifest recorded for undo), drop
//! App Mesh's keys from a namespace or pod template, release App Mesh's finalizers (a JSON patch
//! that `test`s the whole current list, so no other finalizer is dropped), keep an object (a
//! row that says why), and, for `--restore`, create an object again or put keys back.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::change::object::{pointer_token, uid};
use crate::change::plan::Tone;
use crate::change::record::{DeletedObject, KeyChanges};
use crate::change::{Action, Change, Decision, DryRun, ObjectKey, Operation, UndoEntry};

/// The prefix of every finalizer the App Mesh controller sets (`finalizers.appmesh.k8s.aws/…`).
pub const APPMESH_FINALIZER_PREFIX: &str = "finalizers.appmesh.k8s.aws/";

pub const TERMINATING: Action = Action {
    id: "terminating",
    word: "terminating",
    done: "still terminating",
    summary: "terminating",
    verb: "delete",
    tone: Tone::Neutral,
};
pub const KEEP: Action = Action {
    id: "keep",
    word: "keep",
    done: "kept",
    summary: "kept",
    verb: "keep",
    tone: Tone::Neutral,
};
pub const UNLABEL: Action = Action {
    id: "unlabel",
    word: "remove labels",
    done: "unlabeled",
    summary: "to unlabel",
    verb: "label",
    tone: Tone::Change,
};
pub const UNANNOTATE: Action = Action {
    id: "unannotate",
    word: "remove annotations",
    done: "annotated",
    summary: "to unannotate",
    verb: "annotate",
    tone: Tone::Change,
};
pub const RELEASE: Action = Action {
    id: "removeFinalizers",
    word: "remove finalizers",
    done: "finalizers removed",
    summary: "finalizers to remove",
    verb: "remove the finalizers of",
    tone: Tone::Change,
};

/// The actions of a cleanup plan, in summary order.
pub const VOCABULARY: &[Action] = &[
    Action::DELETE,
    UNLABEL,
    UNANNOTATE,
    RELEASE,
    TERMINATING,
    KEEP,
    Action::ALREADY_DELETED,
    Action::UNCHANGED,
];

/// The actions of a restore plan.
pub const RESTORE_VOCABULARY: &[Action] = &[
    Action::RECREATE,
    Action::LABEL,
    Action::PATCH,
    Action::UNCHANGED,
];

/// Where a step's keys live: the object's own metadata, or its pod template's.
pub const METADATA: &str = "/metadata";
pub const TEMPLATE_METADATA: &str = "/spec/template/metadata";

/// What one step does.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// Delete the object; `why` is the plan's detail, `manifest` what undo and the backup
    /// re-create it from (already cleaned).
    Delete { why: String, manifest: Value },
    /// Remove these keys (when present) from `base`'s labels and annotations.
    DropKeys {
        base: &'static str,
        labels: Vec<String>,
        annotations: Vec<String>,
    },
    /// Remove exactly App Mesh's finalizers.
    ReleaseFinalizers,
    /// Leave the object alone, saying why.
    Keep { why: String },
    /// `--restore`: create the object when it does not exist.
    Create { manifest: Value },
    /// `--restore`: set these keys (labels/annotations at `base`) back.
    SetKeys {
        base: &'static str,
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
    },
}

/// One object's step.
#[derive(Debug, Clone)]
pub struct Step {
    pub key: ObjectKey,
    pub phase: u32,
    pub kind: StepKind,
}

impl Step {
    pub fn new(key: ObjectKey, phase: u32, kind: StepKind) -> Step {
        Step { key, phase, kind }
    }
}

/// The finalizers of an object.
pub fn finalizers(live: &Value) -> Vec<String> {
    live.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_terminating(live: &Value) -> bool {
    live.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

fn string_at<'v>(live: &'v Value, base: &str, section: &str, key: &str) -> Option<&'v str> {
    live.pointer(&format!("{base}/{section}"))
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
}

impl Change for Step {
    fn key(&self) -> &ObjectKey {
        &self.key
    }

    fn phase(&self) -> u32 {
        self.phase
    }

    fn possible_verbs(&self) -> &'static [&'static str] {
        match &self.kind {
            StepKind::Delete { .. } => &["delete"],
            StepKind::DropKeys { .. } | StepKind::ReleaseFinalizers | StepKind::SetKeys { .. } => {
                &["patch"]
            }
            StepKind::Create { .. } => &["create"],
            StepKind::Keep { .. } => &[],
        }
    }

    fn decide(&self, live: Option<&Value>) -> Decision {
        match &self.kind {
            StepKind::Keep { why } => Decision::none(KEEP, why.clone()),
            StepKind::Delete { why, manifest } => decide_delete(&self.key, why, manifest, live),
            StepKind::DropKeys {
                base,
                labels,
                annotations,
            } => decide_drop(&self.key, base, labels, annotations, live),
            StepKind::ReleaseFinalizers => decide_release(live),
            StepKind::Create { manifest } => match live {
                None => Decision::write(
                    Action::RECREATE,
                    "from the backup",
                    vec![Operation::Create {
                        manifest: manifest.clone(),
                    }],
                    Some(UndoEntry::Created(
                        crate::change::record::CreatedObject::new(&self.key),
                    )),
                ),
                Some(live) if is_terminating(live) => Decision::none(
                    Action::UNCHANGED,
                    "exists, being deleted: rerun --restore once it is gone",
                )
                .with_warning("still terminating"),
                Some(_) => Decision::none(Action::UNCHANGED, "exists"),
            },
            StepKind::SetKeys {
                base,
                labels,
                annotations,
            } => decide_set(&self.key, base, labels, annotations, live),
        }
    }

    fn verify(&self, decision: &Decision, live: Option<&Value>, dry_run: DryRun) -> Vec<String> {
        if !decision.writes() {
            return Vec::new();
        }
        match (&self.kind, live) {
            (StepKind::Delete { .. }, Some(live)) if dry_run == DryRun::None => {
                if is_terminating(live) {
                    Vec::new()
                } else {
                    vec!["still exists and is not being deleted".into()]
                }
            }
            (
                StepKind::DropKeys {
                    base,
                    labels,
                    annotations,
                },
                Some(live),
            ) => {
                let mut left: Vec<String> = Vec::new();
                for k in labels {
                    if string_at(live, base, "labels", k).is_some() {
                        left.push(format!("label {k}"));
                    }
                }
                for k in annotations {
                    if string_at(live, base, "annotations", k).is_some() {
                        left.push(format!("annotation {k}"));
                    }
                }
                if left.is_empty() {
                    Vec::new()
                } else {
                    vec![format!("still carries {}", left.join(", "))]
                }
            }
            (StepKind::ReleaseFinalizers, Some(live)) => {
                let left: Vec<String> = finalizers(live)
                    .into_iter()
                    .filter(|f| f.starts_with(APPMESH_FINALIZER_PREFIX))
                    .collect();
                if left.is_empty() {
                    Vec::new()
                } else {
                    vec![format!("still carries {}", left.join(", "))]
                }
            }
            (StepKind::Create { .. }, None) => vec!["not found after creating it".into()],
            _ => Vec::new(),
        }
    }
}

fn decide_delete(key: &ObjectKey, why: &str, manifest: &Value, live: Option<&Value>) -> Decision {
    let Some(live) = live else {
        return Decision::none(Action::ALREADY_DELETED, "");
    };
    let held = finalizers(live);
    if is_terminating(live) {
        let details = if held.is_empty() {
            "being deleted".to_owned()
        } else {
            format!("being deleted; finalizers: {}", held.join(", "))
        };
        return Decision::none(TERMINATING, details);
    }
    let mut deleted = DeletedObject::new(key, live);
    deleted.manifest = manifest.clone();
    let mut decision = Decision::write(
        Action::DELETE,
        why,
        vec![Operation::Delete {
            resource_version: true,
        }],
        Some(UndoEntry::Deleted(deleted)),
    );
    let appmesh: Vec<&String> = held
        .iter()
        .filter(|f| f.starts_with(APPMESH_FINALIZER_PREFIX))
        .collect();
    if !appmesh.is_empty() {
        decision = decision
            .with_warning(format!(
                "App Mesh finalizer(s) {}: only the App Mesh controller removes them (after deleting the AWS resources)",
                appmesh.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ))
            .with_extra("finalizers", json!(held));
    }
    decision
}

fn decide_drop(
    key: &ObjectKey,
    base: &str,
    labels: &[String],
    annotations: &[String],
    live: Option<&Value>,
) -> Decision {
    let Some(live) = live else {
        return Decision::none(Action::ALREADY_DELETED, "");
    };
    let present_labels: Vec<&str> = labels
        .iter()
        .filter(|k| string_at(live, base, "labels", k).is_some())
        .map(String::as_str)
        .collect();
    let present_annotations: Vec<&str> = annotations
        .iter()
        .filter(|k| string_at(live, base, "annotations", k).is_some())
        .map(String::as_str)
        .collect();
    if present_labels.is_empty() && present_annotations.is_empty() {
        return Decision::none(Action::UNCHANGED, "no App Mesh keys left");
    }
    let mut operations = Vec::new();
    for (section, keys) in [
        ("labels", &present_labels),
        ("annotations", &present_annotations),
    ] {
        for k in keys.iter() {
            let path = format!("{base}/{section}/{}", pointer_token(k));
            let value = string_at(live, base, section, k).unwrap_or_default();
            operations.push(json!({"op": "test", "path": path, "value": value}));
            operations.push(json!({"op": "remove", "path": path}));
        }
    }
    let entry = KeyChanges::new(
        key,
        live,
        base,
        present_labels.iter().copied(),
        present_annotations.iter().copied(),
    );
    let undo = if base == METADATA {
        UndoEntry::Metadata(entry)
    } else {
        UndoEntry::PodTemplate(entry)
    };
    let (action, details) = if base == METADATA && present_annotations.is_empty() {
        (UNLABEL, present_labels.join(", "))
    } else {
        let mut all: Vec<&str> = present_labels.clone();
        all.extend(&present_annotations);
        let what = all.join(", ");
        if base == TEMPLATE_METADATA {
            (
                UNANNOTATE,
                format!("pod template: {what} (restarts its pods: --restart)"),
            )
        } else {
            (UNANNOTATE, what)
        }
    };
    Decision::write(
        action,
        details,
        vec![Operation::JsonPatch { operations }],
        Some(undo),
    )
}

fn decide_release(live: Option<&Value>) -> Decision {
    let Some(live) = live else {
        return Decision::none(Action::ALREADY_DELETED, "");
    };
    let held = finalizers(live);
    let (appmesh, kept): (Vec<String>, Vec<String>) = held
        .iter()
        .cloned()
        .partition(|f| f.starts_with(APPMESH_FINALIZER_PREFIX));
    if appmesh.is_empty() {
        let details = if kept.is_empty() {
            "no finalizers".to_owned()
        } else {
            format!("no App Mesh finalizer; others kept: {}", kept.join(", "))
        };
        return Decision::none(Action::UNCHANGED, details);
    }
    // `test` of the whole list: if anyone changed it since it was read, the patch is refused
    // and re-planned, so a finalizer added meanwhile is never dropped.
    let operations = vec![
        json!({"op": "test", "path": "/metadata/finalizers", "value": held}),
        json!({"op": "replace", "path": "/metadata/finalizers", "value": kept}),
    ];
    let mut details = appmesh.join(", ");
    if !kept.is_empty() {
        details.push_str(&format!(" (kept: {})", kept.join(", ")));
    }
    Decision::write(
        RELEASE,
        details,
        vec![Operation::JsonPatch { operations }],
        None,
    )
    .with_extra("removedFinalizers", json!(appmesh))
    .with_extra("uid", json!(uid(live)))
}

fn decide_set(
    key: &ObjectKey,
    base: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    live: Option<&Value>,
) -> Decision {
    let Some(live) = live else {
        return Decision::none(Action::UNCHANGED, "does not exist: nothing to put back")
            .with_warning("not found");
    };
    let mut operations = Vec::new();
    let mut changed_labels = Vec::new();
    let mut changed_annotations = Vec::new();
    for (section, wanted, changed) in [
        ("labels", labels, &mut changed_labels),
        ("annotations", annotations, &mut changed_annotations),
    ] {
        let map_path = format!("{base}/{section}");
        let mut map_exists = live.pointer(&map_path).is_some_and(Value::is_object);
        for (k, v) in wanted {
            if string_at(live, base, section, k) == Some(v.as_str()) {
                continue;
            }
            if !map_exists {
                operations.push(json!({"op": "add", "path": map_path, "value": {}}));
                map_exists = true;
            }
            operations.push(json!({"op": "add", "path": format!("{map_path}/{}", pointer_token(k)), "value": v}));
            changed.push(k.clone());
        }
    }
    if operations.is_empty() {
        return Decision::none(Action::UNCHANGED, "already as in the backup");
    }
    let entry = KeyChanges::new(
        key,
        live,
        base,
        changed_labels.iter().map(String::as_str),
        changed_annotations.iter().map(String::as_str),
    );
    let undo = if base == METADATA {
        UndoEntry::Metadata(entry)
    } else {
        UndoEntry::PodTemplate(entry)
    };
    let mut all = changed_labels;
    all.extend(changed_annotations);
    let action = if base == METADATA {
        Action::LABEL
    } else {
        Action::PATCH
    };
    Decision::write(
        action,
        all.join(", "),
        vec![Operation::JsonPatch { operations }],
        Some(undo),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vn() -> ObjectKey {
        ObjectKey::new("appmesh.k8s.aws/v1beta2", "VirtualNode", Some("a"), "web")
    }

    #[test]
    fn release_keeps_every_other_finalizer_and_tests_the_list() {
        let live = json!({"metadata": {"uid": "u", "finalizers": [
            "finalizers.appmesh.k8s.aws/aws-appmesh-resources", "example.com/keep"]}});
        let step = Step::new(vn(), 0, StepKind::ReleaseFinalizers);
        let d = step.decide(Some(&live));
        assert_eq!(d.action.id, RELEASE.id);
        let Operation::JsonPatch { operations } = &d.writes[0] else {
            panic!("{d:?}")
        };
        assert_eq!(operations[0]["op"], "test");
        assert_eq!(
            operations[0]["value"],
            json!([
                "finalizers.appmesh.k8s.aws/aws-appmesh-resources",
                "example.com/keep"
            ])
        );
        assert_eq!(operations[1]["value"], json!(["example.com/keep"]));
        let none = json!({"metadata": {"finalizers": ["example.com/keep"]}});
        assert!(!step.decide(Some(&none)).writes());
        assert_eq!(step.decide(None).action.id, "alreadyDeleted");
    }

    #[test]
    fn delete_decides_from_the_live_object() {
        let step = Step::new(
            vn(),
            0,
            StepKind::Delete {
                why: "migrated".into(),
                manifest: json!({"kind": "VirtualNode"}),
            },
        );
        let live = json!({"metadata": {"uid": "u", "resourceVersion": "3",
            "finalizers": ["finalizers.appmesh.k8s.aws/aws-appmesh-resources"]}});
        let d = step.decide(Some(&live));
        assert_eq!(d.action.id, "delete");
        assert_eq!(d.warnings.len(), 1, "{d:?}");
        assert!(
            matches!(d.undo, Some(UndoEntry::Deleted(ref del)) if del.manifest == json!({"kind": "VirtualNode"}) && del.uid.as_deref() == Some("u"))
        );
        let terminating = json!({"metadata": {"uid": "u", "deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["x/y"]}});
        let d = step.decide(Some(&terminating));
        assert_eq!(d.action.id, "terminating");
        assert!(d.details.contains("x/y"));
        assert!(!d.writes());
    }

    #[test]
    fn drop_keys_tests_each_value_and_records_the_previous_ones() {
        let ns = ObjectKey::new("v1", "Namespace", None, "a");
        let step = Step::new(
            ns,
            0,
            StepKind::DropKeys {
                base: METADATA,
                labels: vec![
                    "appmesh.k8s.aws/sidecarInjectorWebhook".into(),
                    "mesh".into(),
                ],
                annotations: vec![],
            },
        );
        let live =
            json!({"metadata": {"labels": {"appmesh.k8s.aws/sidecarInjectorWebhook": "enabled"}}});
        let d = step.decide(Some(&live));
        assert_eq!(d.action.id, "unlabel");
        let Operation::JsonPatch { operations } = &d.writes[0] else {
            panic!()
        };
        assert_eq!(
            operations[1],
            json!({"op": "remove", "path": "/metadata/labels/appmesh.k8s.aws~1sidecarInjectorWebhook"})
        );
        assert_eq!(operations.len(), 2, "mesh is absent: nothing to remove");
        let Some(UndoEntry::Metadata(changes)) = &d.undo else {
            panic!()
        };
        assert_eq!(
            changes.labels.get("appmesh.k8s.aws/sidecarInjectorWebhook"),
            Some(&Some("enabled".to_owned()))
        );
        assert_eq!(
            step.decide(Some(&json!({"metadata": {}}))).action.id,
            "unchanged"
        );
    }
}
