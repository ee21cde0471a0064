//! The change to one namespace: its labels moved from App Mesh's injector to Istio's in one
//! merge patch (so there is never a moment with both injectors or neither), with the previous
//! values recorded on the namespace (an annotation) and in the undo file.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::survey::NamespaceSurvey;
use super::target::{Target, labels_of};
use crate::change::record::KeyChanges;
use crate::change::{Action, Change, Decision, DryRun, ObjectKey, Operation, UndoEntry};
use crate::precheck::labels::{
    APPMESH_INJECT, ISTIO_INJECTION, ISTIO_REV, ambient, appmesh_selects, istio_enabled,
    selector_matches, string_map,
};

/// The namespace annotation holding, as a JSON object, the value each label had before
/// `label` first changed it (`null`: absent). `label --undo` without a file restores from it.
pub const PREVIOUS_ANNOTATION: &str = "appmesh2istio.io/labels-before";

/// The row of a namespace that does not exist (named with `-n`): it stops the plan, as
/// `kubectl label` stops on a name it cannot find.
pub const NOT_FOUND: Action = Action {
    id: "notFound",
    word: "not found",
    done: "not found",
    summary: "not found",
    verb: "label",
    tone: crate::change::Tone::Blocked,
};

/// The actions of a label plan, in summary order.
pub const VOCABULARY: &[Action] = &[Action::LABEL, Action::UNCHANGED, NOT_FOUND];

/// What every namespace's decision needs to know about the cluster (read once).
#[derive(Debug, Default)]
pub struct LabelContext {
    pub target: Option<Target>,
    /// Also remove the labels Meshes' and VirtualGateways' namespaceSelectors match on.
    pub remove_mesh_labels: bool,
    /// Every Mesh's `spec.namespaceSelector` (JSON; `None`: absent).
    pub mesh_selectors: Vec<Option<Value>>,
    /// Every VirtualGateway's `spec.namespaceSelector`.
    pub gateway_selectors: Vec<Option<Value>>,
    /// App Mesh objects per namespace (only read with `--remove-mesh-labels`).
    pub appmesh_objects: BTreeMap<String, usize>,
    /// Pods and workload templates per namespace.
    pub survey: BTreeMap<String, NamespaceSurvey>,
}

impl LabelContext {
    fn target(&self) -> &Target {
        self.target.as_ref().unwrap_or(&Target::Injection)
    }

    /// Whether App Mesh selects the namespace (its injector label or a Mesh's selector), or
    /// `label` moved it from App Mesh before (its annotation).
    pub fn is_meshed(&self, live: &Value) -> bool {
        let labels = labels_of(live);
        appmesh_selects(&labels, self.mesh_selectors.iter().map(Option::as_ref))
            || live
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(PREVIOUS_ANNOTATION))
                .is_some()
    }

    /// The label keys that make a Mesh's or VirtualGateway's namespaceSelector match a
    /// namespace with `labels` (matchLabels keys and In/Exists requirements), other than the
    /// injector labels this command manages itself.
    pub fn mesh_label_keys(&self, labels: &BTreeMap<String, String>) -> Vec<String> {
        let mut keys = std::collections::BTreeSet::new();
        for selector in self
            .mesh_selectors
            .iter()
            .chain(&self.gateway_selectors)
            .filter_map(Option::as_ref)
        {
            if !selector_matches(Some(selector), labels) {
                continue;
            }
            if let Some(map) = selector.get("matchLabels").and_then(Value::as_object) {
                keys.extend(map.keys().cloned());
            }
            for requirement in selector
                .get("matchExpressions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let positive = matches!(
                    requirement.get("operator").and_then(Value::as_str),
                    Some("In" | "Exists")
                );
                if positive && let Some(key) = requirement.get("key").and_then(Value::as_str) {
                    keys.insert(key.to_owned());
                }
            }
        }
        keys.into_iter()
            .filter(|k| {
                labels.contains_key(k)
                    && ![APPMESH_INJECT, ISTIO_INJECTION, ISTIO_REV].contains(&k.as_str())
            })
            .collect()
    }
}

/// One namespace to label.
#[derive(Debug, Clone)]
pub struct LabelNamespace {
    key: ObjectKey,
    context: Arc<LabelContext>,
}

impl LabelNamespace {
    pub fn new(name: &str, context: Arc<LabelContext>) -> LabelNamespace {
        LabelNamespace {
            key: ObjectKey::new("v1", "Namespace", None, name),
            context,
        }
    }
}

/// The values recorded in [`PREVIOUS_ANNOTATION`], or why they cannot be read.
pub fn recorded_previous(live: &Value) -> Result<BTreeMap<String, Option<String>>, String> {
    let Some(text) = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(PREVIOUS_ANNOTATION))
    else {
        return Ok(BTreeMap::new());
    };
    let text = text.as_str().unwrap_or_default();
    serde_json::from_str(text).map_err(|e| {
        format!(
            "annotation {PREVIOUS_ANNOTATION} is not a JSON object of label values ({e}); \
             fix or remove it, or undo with the undo file"
        )
    })
}

/// `-appmesh.k8s.aws/sidecarInjectorWebhook=enabled +istio-injection=enabled`.
fn show(
    removed: &BTreeMap<String, Option<String>>,
    added: &BTreeMap<String, Option<String>>,
) -> String {
    removed
        .iter()
        .map(|(k, v)| format!("-{k}={}", v.as_deref().unwrap_or_default()))
        .chain(
            added
                .iter()
                .map(|(k, v)| format!("+{k}={}", v.as_deref().unwrap_or_default())),
        )
        .collect::<Vec<_>>()
        .join(" ")
}

impl Change for LabelNamespace {
    fn key(&self) -> &ObjectKey {
        &self.key
    }

    fn possible_verbs(&self) -> &'static [&'static str] {
        &["patch"]
    }

    fn decide(&self, live: Option<&Value>) -> Decision {
        let Some(live) = live else {
            return Decision::none(NOT_FOUND, "no such namespace");
        };
        let context = &self.context;
        let target = context.target();
        let labels = labels_of(live);
        let meshed = context.is_meshed(live);
        let mut warnings = Vec::new();
        // key → new value (None: removed); BTreeMap so the patch and the plan are stable.
        let mut edits: BTreeMap<String, Option<String>> = BTreeMap::new();
        for key in target.removes() {
            if labels.contains_key(*key) {
                edits.insert((*key).to_owned(), None);
            }
        }
        if labels.get(APPMESH_INJECT).map(String::as_str) == Some("disabled") {
            warnings.push(format!(
                "{APPMESH_INJECT}=disabled: App Mesh injected only pods that opted in; {} takes every new pod",
                target.describe()
            ));
        }
        let (set_key, set_value) = target.label();
        if labels.get(set_key) != Some(&set_value) {
            if let Some(old) = labels.get(set_key) {
                warnings.push(format!(
                    "AMI4022: {set_key}={old} is replaced by {set_key}={set_value} (recorded for undo)"
                ));
            }
            edits.insert(set_key.to_owned(), Some(set_value.clone()));
        }
        let mesh_keys = context.mesh_label_keys(&labels);
        let mut kept = Vec::new();
        for key in &mesh_keys {
            let value = labels.get(key).cloned().unwrap_or_default();
            if context.remove_mesh_labels {
                edits.insert(key.clone(), None);
            } else {
                kept.push(format!("{key}={value}"));
            }
        }
        if context.remove_mesh_labels
            && !mesh_keys.is_empty()
            && let Some(n) = context.appmesh_objects.get(&self.key.name)
        {
            warnings.push(format!(
                "AMI4023: {n} App Mesh object(s) remain in this namespace; without {} the Mesh or \
                 VirtualGateway no longer selects it (run cleanup first, or keep the labels)",
                mesh_keys.join(", ")
            ));
        }
        if !meshed {
            warnings.push(
                "AMI4024: not meshed (neither App Mesh's injector nor a Mesh selects it): labelled because it was named"
                    .to_owned(),
            );
        }
        let mut after = labels.clone();
        for (key, value) in &edits {
            match value {
                Some(v) => after.insert(key.clone(), v.clone()),
                None => after.remove(key),
            };
        }
        match target {
            Target::Ambient if !ambient(&after) => warnings.push(format!(
                "{ISTIO_INJECTION}/{ISTIO_REV} stays set: pods that get a sidecar are not captured by ambient mode"
            )),
            Target::Injection if after.contains_key(ISTIO_REV) => warnings.push(format!(
                "{ISTIO_REV}={} is ignored while {ISTIO_INJECTION} is set",
                after.get(ISTIO_REV).cloned().unwrap_or_default()
            )),
            _ => {}
        }
        let survey = context.survey.get(&self.key.name);
        if let Some(survey) = survey {
            warnings.extend(survey.notes(target));
        }
        let unchanged: Vec<String> = labels
            .iter()
            .filter(|(k, _)| !edits.contains_key(*k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let removed: BTreeMap<String, Option<String>> = edits
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| (k.clone(), labels.get(k).cloned()))
            .collect();
        let added: BTreeMap<String, Option<String>> = edits
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut extra = Map::new();
        extra.insert("meshed".into(), json!(meshed));
        extra.insert("labelsRemoved".into(), json!(removed));
        extra.insert("labelsAdded".into(), json!(added));
        extra.insert("labelsUnchanged".into(), json!(unchanged));
        if let Some(survey) = survey {
            extra.insert("pods".into(), survey.document(target));
        }
        if edits.is_empty() {
            let mut decision =
                Decision::none(Action::UNCHANGED, format!("already {}", target.describe()));
            decision.warnings = warnings;
            decision.extra = extra;
            return decision;
        }
        // The earliest recorded value of each key wins, so that undo from the annotation goes
        // back to before the first run however many runs (and targets) there were.
        let mut previous = match recorded_previous(live) {
            Ok(previous) => previous,
            Err(why) => {
                warnings.push(format!("{why}: it is replaced"));
                BTreeMap::new()
            }
        };
        for key in edits.keys() {
            previous
                .entry(key.clone())
                .or_insert_with(|| labels.get(key).cloned());
        }
        let recorded = serde_json::to_string(&previous).unwrap_or_default();
        let undo = KeyChanges::new(
            &self.key,
            live,
            "/metadata",
            edits.keys().map(String::as_str),
            [PREVIOUS_ANNOTATION],
        );
        let mut details = vec![show(&removed, &added)];
        if !kept.is_empty() {
            details.push(format!("kept {}", kept.join(" ")));
        }
        let patch = json!({"metadata": {
            "labels": edits,
            "annotations": {PREVIOUS_ANNOTATION: recorded},
        }});
        let mut decision = Decision::write(
            Action::LABEL,
            details.join("; "),
            vec![Operation::MergePatch { patch }],
            Some(UndoEntry::Metadata(undo)),
        );
        decision.warnings = warnings;
        decision.extra = extra;
        decision
    }

    fn verify(&self, decision: &Decision, live: Option<&Value>, _: DryRun) -> Vec<String> {
        let Some(live) = live else {
            return vec!["not found after it was labelled".into()];
        };
        let labels = string_map(live, "/metadata/labels");
        let mut problems = Vec::new();
        if decision.writes() && istio_enabled(&labels).is_none() {
            problems.push("no Istio injection or ambient label takes effect".to_owned());
        }
        for (key, value) in decision
            .extra
            .get("labelsAdded")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if labels.get(key).map(String::as_str) != value.as_str() {
                problems.push(format!("label {key} is not {value} after labelling"));
            }
        }
        for key in decision
            .extra
            .get("labelsRemoved")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            if labels.contains_key(key) {
                problems.push(format!("label {key} is still set after labelling"));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(target: Target, remove_mesh_labels: bool) -> Arc<LabelContext> {
        Arc::new(LabelContext {
            target: Some(target),
            remove_mesh_labels,
            mesh_selectors: vec![Some(json!({"matchLabels": {"mesh": "shop"}}))],
            gateway_selectors: vec![
                Some(
                    json!({"matchExpressions": [{"key": "gw", "operator": "Exists"}, {"key": "x", "operator": "DoesNotExist"}]}),
                ),
                None,
            ],
            ..LabelContext::default()
        })
    }

    fn ns(labels: Value, annotations: Value) -> Value {
        json!({"metadata": {"name": "shop", "uid": "u", "resourceVersion": "5",
            "labels": labels, "annotations": annotations}})
    }

    fn patch_of(decision: &Decision) -> &Value {
        match &decision.writes[..] {
            [Operation::MergePatch { patch }] => patch,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_patch_swaps_the_injectors_and_records_the_first_values() {
        let change = LabelNamespace::new("shop", context(Target::Revision("1-30".into()), false));
        let live = ns(
            json!({APPMESH_INJECT: "enabled", "istio-injection": "disabled", "mesh": "shop", "gw": "a", "team": "t"}),
            json!({"other": "kept"}),
        );
        let decision = change.decide(Some(&live));
        assert_eq!(decision.action, Action::LABEL);
        let patch = patch_of(&decision);
        assert_eq!(
            patch["metadata"]["labels"],
            json!({APPMESH_INJECT: null, "istio-injection": null, "istio.io/rev": "1-30"})
        );
        let recorded: Value = serde_json::from_str(
            patch["metadata"]["annotations"][PREVIOUS_ANNOTATION]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            recorded,
            json!({APPMESH_INJECT: "enabled", "istio-injection": "disabled", "istio.io/rev": null})
        );
        assert!(
            decision.details.contains("kept gw=a mesh=shop"),
            "{}",
            decision.details
        );
        let Some(UndoEntry::Metadata(undo)) = &decision.undo else {
            panic!("{:?}", decision.undo)
        };
        assert_eq!(
            undo.labels.get("istio-injection"),
            Some(&Some("disabled".into()))
        );
        assert_eq!(undo.annotations.get(PREVIOUS_ANNOTATION), Some(&None));

        // Later: the namespace as written, then moved again to the default injector. The
        // annotation keeps the values from before the first run.
        let written = ns(
            json!({"istio.io/rev": "1-30", "mesh": "shop", "gw": "a", "team": "t"}),
            json!({"other": "kept", PREVIOUS_ANNOTATION: recorded.to_string()}),
        );
        assert_eq!(change.decide(Some(&written)).action, Action::UNCHANGED);
        assert!(
            change
                .verify(&decision, Some(&written), DryRun::None)
                .is_empty()
        );
        let again =
            LabelNamespace::new("shop", context(Target::Injection, true)).decide(Some(&written));
        let patch = patch_of(&again);
        assert_eq!(
            patch["metadata"]["labels"],
            json!({"istio-injection": "enabled", "mesh": null, "gw": null}),
            "--remove-mesh-labels removes what the Mesh and the VirtualGateway match on, not team"
        );
        let merged: Value = serde_json::from_str(
            patch["metadata"]["annotations"][PREVIOUS_ANNOTATION]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            merged["istio-injection"], "disabled",
            "the first value wins"
        );
        assert_eq!(merged["mesh"], "shop");
        assert!(
            again
                .warnings
                .iter()
                .any(|w| w.contains("istio.io/rev=1-30 is ignored"))
        );
    }

    #[test]
    fn unmeshed_and_missing_namespaces_say_so() {
        let change = LabelNamespace::new("shop", context(Target::Injection, false));
        let plain = ns(json!({"team": "t"}), json!({}));
        let decision = change.decide(Some(&plain));
        assert_eq!(decision.action, Action::LABEL);
        assert!(
            decision.warnings.iter().any(|w| w.starts_with("AMI4024")),
            "{:?}",
            decision.warnings
        );
        assert_eq!(decision.extra["meshed"], json!(false));
        assert_eq!(change.decide(None).action, NOT_FOUND);
        assert!(NOT_FOUND.blocks());
        let broken = ns(
            json!({APPMESH_INJECT: "enabled"}),
            json!({PREVIOUS_ANNOTATION: "{"}),
        );
        assert!(
            recorded_previous(&broken)
                .unwrap_err()
                .contains("not a JSON object")
        );
        let verify = change.verify(&decision, Some(&plain), DryRun::None);
        assert!(
            verify.iter().any(|p| p.contains("istio-injection is not")),
            "{verify:?}"
        );
    }
}
