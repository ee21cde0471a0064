//! The changes a rollout makes, each a [`Change`] of the shared change module: restart a
//! workload (with its pod annotations translated), create and remove a canary copy, and the
//! rows of workloads it skips.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::annotations::Translation;
use super::select::CANARY_LABEL;
use crate::change::object::same_value;
use crate::change::plan::{Action, Decision, Tone};
use crate::change::record::{CreatedObject, KeyChanges};
use crate::change::{Change, DryRun, ObjectKey, Operation, UndoEntry};
use crate::precheck::labels::{APPMESH_INJECT, string_map};

/// kubectl's restart annotation (`kubectl rollout restart`).
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

pub const RESTART: Action = Action {
    id: "restart",
    word: "restart",
    done: "restarted",
    summary: "to restart",
    verb: "restart",
    tone: Tone::Change,
};
pub const CANARY: Action = Action {
    id: "canaryCreate",
    word: "create canary",
    done: "created",
    summary: "canary copies to create",
    verb: "create",
    tone: Tone::Add,
};
pub const REMOVE_CANARY: Action = Action {
    id: "canaryDelete",
    word: "remove canary",
    done: "deleted",
    summary: "canary copies to remove",
    verb: "delete",
    tone: Tone::Remove,
};

/// The actions of a rollout plan, in summary order.
pub const VOCABULARY: &[Action] = &[RESTART, CANARY, REMOVE_CANARY, Action::SKIP];

/// One row of the plan.
#[derive(Debug, Clone)]
pub enum Step {
    Restart(Restart),
    CreateCanary(Canary),
    RemoveCanary(ObjectKey),
    /// A workload or pod reported and left alone.
    Skip {
        key: ObjectKey,
        code: &'static str,
        reason: String,
    },
}

/// Restart one workload: `restartedAt` plus the translated annotations and labels, in one
/// JSON patch of its pod template.
#[derive(Debug, Clone)]
pub struct Restart {
    pub key: ObjectKey,
    pub restarted_at: String,
    pub translation: Translation,
    /// For the plan: `wave 2`, `canary first (1 of 4 replicas)`, `in-place (StatefulSet)`.
    pub context: String,
}

/// A temporary copy of a Deployment that runs on Istio beside it.
#[derive(Debug, Clone)]
pub struct Canary {
    pub key: ObjectKey,
    pub manifest: Value,
    pub context: String,
}

impl Change for Step {
    fn key(&self) -> &ObjectKey {
        match self {
            Step::Restart(r) => &r.key,
            Step::CreateCanary(c) => &c.key,
            Step::RemoveCanary(key) | Step::Skip { key, .. } => key,
        }
    }

    fn possible_verbs(&self) -> &'static [&'static str] {
        match self {
            Step::Restart(_) => &["patch"],
            Step::CreateCanary(_) => &["create"],
            Step::RemoveCanary(_) => &["delete"],
            Step::Skip { .. } => &[],
        }
    }

    fn decide(&self, live: Option<&Value>) -> Decision {
        match self {
            Step::Restart(r) => r.decide(live),
            Step::CreateCanary(c) => c.decide(live),
            Step::RemoveCanary(_) => match live {
                None => Decision::none(Action::ALREADY_DELETED, "temporary canary copy"),
                Some(l) if is_canary(l) => Decision::write(
                    REMOVE_CANARY,
                    "temporary canary copy",
                    vec![Operation::Delete {
                        resource_version: false,
                    }],
                    None,
                ),
                Some(_) => Decision::none(
                    Action::SKIP,
                    format!("not a canary copy of appmesh2istio (no label {CANARY_LABEL})"),
                ),
            },
            Step::Skip { code, reason, .. } => {
                Decision::none(Action::SKIP, format!("{code}: {reason}"))
            }
        }
    }

    fn verify(&self, decision: &Decision, live: Option<&Value>, _: DryRun) -> Vec<String> {
        match (self, live) {
            (Step::Restart(r), Some(live)) if decision.writes() => {
                let (annotations, labels) = r.wanted(live);
                let mut out = Vec::new();
                if annotations.is_some() || labels.is_some() {
                    out.push(
                        "the pod template lacks the restart annotation or a translated key".into(),
                    );
                }
                out
            }
            _ => Vec::new(),
        }
    }
}

/// Whether `object` is one of our canary copies.
pub fn is_canary(object: &Value) -> bool {
    string_map(object, "/metadata/labels").contains_key(CANARY_LABEL)
}

const TEMPLATE: &str = "/spec/template/metadata";

/// A template map as it must become; `None` when it already is so.
type Wanted = Option<Map<String, Value>>;

impl Restart {
    /// The template's annotations and labels as they must become (`None`: already so).
    fn wanted(&self, live: &Value) -> (Wanted, Wanted) {
        let current = |section: &str| -> Map<String, Value> {
            live.pointer(&format!("{TEMPLATE}/{section}"))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let merge = |mut map: Map<String, Value>, want: &BTreeMap<String, String>| {
            let before = map.clone();
            for (k, v) in want {
                map.insert(k.clone(), json!(v));
            }
            (!same_value(&Value::Object(before), &Value::Object(map.clone()))).then_some(map)
        };
        let mut annotations = self.translation.annotations.clone();
        annotations.insert(RESTARTED_AT.into(), self.restarted_at.clone());
        (
            merge(current("annotations"), &annotations),
            merge(current("labels"), &self.translation.labels),
        )
    }

    fn decide(&self, live: Option<&Value>) -> Decision {
        let Some(live) = live else {
            return Decision::none(Action::SKIP, "deleted since it was listed");
        };
        let (annotations, labels) = self.wanted(live);
        let mut operations = Vec::new();
        if live.pointer(TEMPLATE).is_none() {
            operations.push(json!({"op": "add", "path": TEMPLATE, "value": {}}));
        }
        if let Some(a) = annotations {
            operations
                .push(json!({"op": "add", "path": format!("{TEMPLATE}/annotations"), "value": a}));
        }
        if let Some(l) = labels {
            operations.push(json!({"op": "add", "path": format!("{TEMPLATE}/labels"), "value": l}));
        }
        let mut annotation_keys: Vec<&str> = vec![RESTARTED_AT];
        annotation_keys.extend(self.translation.annotations.keys().map(String::as_str));
        let undo = KeyChanges::new(
            &self.key,
            live,
            TEMPLATE,
            self.translation.labels.keys().map(String::as_str),
            annotation_keys,
        );
        let mut details = vec![self.context.clone()];
        details.extend(self.translation.notes.iter().cloned());
        let mut decision = Decision::write(
            RESTART,
            details.join("; "),
            vec![Operation::JsonPatch { operations }],
            Some(UndoEntry::PodTemplate(undo)),
        );
        for key in &self.translation.unmapped {
            decision = decision.with_warning(format!("AMI4101 not translated: {key}"));
        }
        if string_map(live, &format!("{TEMPLATE}/annotations"))
            .get(APPMESH_INJECT)
            .is_some_and(|v| v.eq_ignore_ascii_case("enabled"))
        {
            decision = decision.with_warning(format!(
                "its pod template says {APPMESH_INJECT}: enabled: App Mesh still injects its pods while its injector runs"
            ));
        }
        decision
    }
}

impl Canary {
    fn decide(&self, live: Option<&Value>) -> Decision {
        match live {
            None => Decision::write(
                CANARY,
                self.context.clone(),
                vec![Operation::Create {
                    manifest: self.manifest.clone(),
                }],
                Some(UndoEntry::Created(CreatedObject::new(&self.key))),
            ),
            Some(l) if is_canary(l) => Decision::none(
                Action::UNCHANGED,
                "exists (left by an interrupted run): used as it is",
            ),
            Some(_) => Decision::none(
                Action::CONFLICT,
                format!(
                    "exists and is not a canary copy of appmesh2istio (no label {CANARY_LABEL})"
                ),
            ),
        }
    }
}

/// The canary copy of `deployment`: `<name>-istio-canary` with `replicas` pods, the same pod
/// labels plus [`CANARY_LABEL`] (in its selector too, so neither Deployment adopts the
/// other's pods), App Mesh injection disabled on its pods, and `template` (the translated
/// annotations and labels) applied.
pub fn canary_manifest(
    deployment: &Value,
    replicas: i64,
    translation: &Translation,
) -> Option<(ObjectKey, Value)> {
    let key = ObjectKey::of(deployment)?;
    let name = format!("{}-istio-canary", key.name);
    let mut spec = deployment.get("spec")?.clone();
    let spec_map = spec.as_object_mut()?;
    spec_map.insert("replicas".into(), json!(replicas));
    spec_map.remove("paused");
    let mut match_labels = deployment
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    match_labels.insert(CANARY_LABEL.into(), json!(key.name));
    spec["selector"]["matchLabels"] = Value::Object(match_labels);
    let template = spec.get_mut("template")?.as_object_mut()?;
    let metadata = template
        .entry("metadata")
        .or_insert_with(|| json!({}))
        .as_object_mut()?;
    let labels = metadata
        .entry("labels")
        .or_insert_with(|| json!({}))
        .as_object_mut()?;
    labels.insert(CANARY_LABEL.into(), json!(key.name));
    for (k, v) in &translation.labels {
        labels.insert(k.clone(), json!(v));
    }
    let annotations = metadata
        .entry("annotations")
        .or_insert_with(|| json!({}))
        .as_object_mut()?;
    annotations.insert(APPMESH_INJECT.into(), json!("disabled"));
    for (k, v) in &translation.annotations {
        annotations.insert(k.clone(), json!(v));
    }
    let mut object_labels = deployment
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    object_labels.insert(CANARY_LABEL.into(), json!(key.name));
    let manifest = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": key.namespace,
            "labels": object_labels,
            "annotations": {"appmesh2istio.io/canary-of": key.name},
        },
        "spec": spec,
    });
    Some((
        ObjectKey::new("apps/v1", "Deployment", key.namespace.as_deref(), &name),
        manifest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"namespace": "shop", "name": "web", "uid": "u1", "resourceVersion": "7", "labels": {"app": "web"}},
            "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}, "annotations": {"appmesh.k8s.aws/cpuRequest": "50m"}},
                    "spec": {"containers": [{"name": "app"}]}}},
            "status": {"replicas": 4}})
    }

    fn translation() -> Translation {
        Translation {
            annotations: [("sidecar.istio.io/proxyCPU".to_owned(), "50m".to_owned())].into(),
            labels: [("sidecar.istio.io/inject".to_owned(), "true".to_owned())].into(),
            notes: vec!["cpuRequest → sidecar.istio.io/proxyCPU=50m".into()],
            unmapped: vec!["appmesh.k8s.aws/secretMounts (x)".into()],
            opted_out: false,
        }
    }

    #[test]
    fn a_restart_is_one_patch_of_the_template_recorded_for_undo() {
        let key = ObjectKey::new("apps/v1", "Deployment", Some("shop"), "web");
        let step = Step::Restart(Restart {
            key: key.clone(),
            restarted_at: "2026-12-05T08:00:00Z".into(),
            translation: translation(),
            context: "wave 1".into(),
        });
        let d = step.decide(Some(&deployment()));
        assert_eq!(d.action, RESTART);
        let Operation::JsonPatch { operations } = &d.writes[0] else {
            panic!("{:?}", d.writes)
        };
        assert_eq!(
            operations[0]["value"],
            json!({"appmesh.k8s.aws/cpuRequest": "50m", "sidecar.istio.io/proxyCPU": "50m",
                   RESTARTED_AT: "2026-12-05T08:00:00Z"})
        );
        assert_eq!(
            operations[1]["value"],
            json!({"app": "web", "sidecar.istio.io/inject": "true"})
        );
        let Some(UndoEntry::PodTemplate(undo)) = &d.undo else {
            panic!("{:?}", d.undo)
        };
        assert_eq!(undo.annotations.get(RESTARTED_AT), Some(&None));
        assert_eq!(undo.labels.get("sidecar.istio.io/inject"), Some(&None));
        assert_eq!(
            d.warnings,
            ["AMI4101 not translated: appmesh.k8s.aws/secretMounts (x)"]
        );
        assert!(d.details.starts_with("wave 1; cpuRequest"));
        assert_eq!(step.decide(None).action, Action::SKIP);
    }

    #[test]
    fn canary_copies_never_claim_the_workloads_pods() {
        let (key, m) = canary_manifest(&deployment(), 1, &translation()).unwrap();
        assert_eq!(key.name, "web-istio-canary");
        assert_eq!(m["spec"]["replicas"], 1);
        assert_eq!(
            m["spec"]["selector"]["matchLabels"],
            json!({"app": "web", CANARY_LABEL: "web"})
        );
        assert_eq!(
            m["spec"]["template"]["metadata"]["labels"][CANARY_LABEL],
            "web"
        );
        assert_eq!(m["spec"]["template"]["metadata"]["labels"]["app"], "web");
        assert_eq!(
            m["spec"]["template"]["metadata"]["annotations"][APPMESH_INJECT],
            "disabled"
        );
        assert!(m["metadata"].get("uid").is_none() && m.get("status").is_none());
        let step = Step::CreateCanary(Canary {
            key: key.clone(),
            manifest: m.clone(),
            context: String::new(),
        });
        assert_eq!(step.decide(None).action, CANARY);
        let mut live = m.clone();
        assert_eq!(step.decide(Some(&live)).action, Action::UNCHANGED);
        live["metadata"]["labels"] = json!({});
        assert!(step.decide(Some(&live)).action.blocks());
        let remove = Step::RemoveCanary(key);
        assert_eq!(remove.decide(Some(&m)).action, REMOVE_CANARY);
        assert_eq!(remove.decide(None).action, Action::ALREADY_DELETED);
    }
}
