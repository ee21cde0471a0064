//! `convert --apply`'s change: make a generated Istio object exist exactly as generated.
//!
//! - Absent: **create** it, create-only (a POST: if another run created it in the meantime the
//!   POST is refused and the object is planned again, so two concurrent applies never both
//!   report `created`), then fold the POST's field ownership into our server-side-apply entry
//!   so that later applies by the same field manager do not conflict with it.
//! - Present and carrying `app.kubernetes.io/managed-by: appmesh2istio`: **update** it when its
//!   spec differs from the generated one in any way (also fields we do not generate: someone's
//!   `kubectl patch` is drift, shown as such in the plan) or our labels/annotations differ,
//!   else **unchanged**.
//! - Present without that label: someone else's object, a **conflict** that stops the plan,
//!   unless `--force-conflicts` takes it over (an update marked as a takeover).
//!
//! An update leaves exactly the generated spec: first every spec field becomes ours in
//! `managedFields` (see [`super::ownership`]; a JSON patch with a `test` of the
//! resourceVersion), then a forced server-side apply carrying the uid and resourceVersion it
//! was planned against removes every spec field it does not set. A concurrent change makes it
//! re-plan instead of being overwritten. Verification compares the whole spec.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use serde_json::{Map, Value, json};

use super::object::{ObjectKey, managers, same_value};
use super::ownership::{self, OwnershipEdit};
use super::plan::{Action, Decision, Plan};
use super::record::{CreatedObject, UndoEntry, UpdatedObject};
use super::write::Operation;
use super::{Change, ChangeError, DryRun};
use crate::cluster::Cluster;
use crate::istio::{IstioObject, MANAGED_BY_LABEL, MANAGED_BY_VALUE};

/// How many GETs run at once while planning.
const CONCURRENT_READS: usize = 8;

/// The actions of an apply plan, in summary order.
pub const VOCABULARY: &[Action] = &[
    Action::CREATE,
    Action::UPDATE,
    Action::UNCHANGED,
    Action::CONFLICT,
];

/// How to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestOptions {
    pub field_manager: String,
    /// Take over existing objects that do not carry our managed-by label.
    pub force_conflicts: bool,
}

/// One generated object to apply.
#[derive(Debug, Clone)]
pub struct ApplyManifest {
    pub key: ObjectKey,
    /// The whole object, as server-side apply sends it.
    pub manifest: Value,
    options: Arc<ManifestOptions>,
}

impl ApplyManifest {
    pub fn new(key: ObjectKey, manifest: Value, options: Arc<ManifestOptions>) -> ApplyManifest {
        ApplyManifest {
            key,
            manifest,
            options,
        }
    }
}

/// Position in apply order (undo goes the other way): what is referred to before what refers to
/// it, as [`IstioObject::kind_order`].
pub fn apply_order(kind: &str) -> u32 {
    match kind {
        "Service" | "Gateway" => 1,
        "ServiceEntry" => 2,
        "DestinationRule" => 3,
        "VirtualService" => 4,
        "Sidecar" => 5,
        "PeerAuthentication" => 6,
        "AuthorizationPolicy" => 7,
        "Telemetry" => 8,
        _ => 9,
    }
}

impl ApplyManifest {
    /// The top-level spec fields the generated object sets.
    fn generated_spec_fields(&self) -> Vec<String> {
        self.manifest
            .get("spec")
            .and_then(Value::as_object)
            .map(|spec| spec.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn differences(&self, live: &Value) -> Vec<FieldChange> {
        changes(&self.manifest, live, &self.options.field_manager)
    }
}

impl Change for ApplyManifest {
    fn key(&self) -> &ObjectKey {
        &self.key
    }

    fn phase(&self) -> u32 {
        apply_order(&self.key.kind)
    }

    fn possible_verbs(&self) -> &'static [&'static str] {
        &["create", "patch"]
    }

    fn decide(&self, live: Option<&Value>) -> Decision {
        let options = &self.options;
        let Some(live) = live else {
            return Decision::write(
                Action::CREATE,
                "",
                vec![
                    Operation::Create {
                        manifest: self.manifest.clone(),
                    },
                    Operation::Ownership(OwnershipEdit::AdoptOwnUpdates),
                ],
                Some(UndoEntry::Created(CreatedObject::new(&self.key))),
            );
        };
        let adopt = !is_managed(live);
        if adopt && !options.force_conflicts {
            let managers = managers(live);
            let by = if managers.is_empty() {
                String::new()
            } else {
                format!(" (managed by {})", managers.join(", "))
            };
            return Decision::none(
                Action::CONFLICT,
                format!(
                    "exists and is not managed by appmesh2istio{by}; use --force-conflicts to take it over"
                ),
            )
            .with_extra("managers", json!(managers));
        }
        let changes = self.differences(live);
        if changes.is_empty() {
            return Decision::none(Action::UNCHANGED, "");
        }
        let mut details = changes
            .iter()
            .map(|c| c.describe(adopt))
            .collect::<Vec<_>>()
            .join(", ");
        if adopt {
            details = format!(
                "takes over an object not managed by appmesh2istio (--force-conflicts); {details}"
            );
        }
        let drift: Vec<&FieldChange> = changes.iter().filter(|c| !c.set_by.is_empty()).collect();
        let mut decision = Decision::write(
            Action::UPDATE,
            details,
            vec![
                Operation::Ownership(OwnershipEdit::TakeOverSpec {
                    generated: self.generated_spec_fields(),
                }),
                Operation::Apply {
                    manifest: self.manifest.clone(),
                    force: true,
                },
            ],
            Some(UndoEntry::Updated(UpdatedObject::new(&self.key, live))),
        )
        .with_extra(
            "changes",
            json!(changes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>()),
        );
        if adopt {
            decision = decision.with_extra("adopt", json!(true));
        } else if !drift.is_empty() {
            let mut by: Vec<&str> = drift
                .iter()
                .flat_map(|c| c.set_by.iter().map(String::as_str))
                .collect();
            by.sort_unstable();
            by.dedup();
            decision = decision
                .with_warning(format!(
                    "drift: changed by {} since appmesh2istio applied it",
                    by.join(", ")
                ))
                .with_extra(
                    "drift",
                    json!(drift
                        .iter()
                        .map(|c| json!({"field": c.field, "setBy": c.set_by, "generated": c.generated}))
                        .collect::<Vec<_>>()),
                );
        }
        decision
    }

    fn verify(&self, decision: &Decision, live: Option<&Value>, dry_run: DryRun) -> Vec<String> {
        let Some(live) = live else {
            return vec!["not found after it was applied".into()];
        };
        // On a server dry run the ownership edit is not sent, so fields of other managers the
        // apply would remove are still in the answer: compare only what we set there.
        let lenient = dry_run == DryRun::Server
            && decision
                .writes
                .iter()
                .any(|w| matches!(w, Operation::Ownership(OwnershipEdit::TakeOverSpec { .. })));
        let differences: Vec<String> = self
            .differences(live)
            .into_iter()
            .filter(|c| !lenient || c.generated)
            .map(|c| c.field)
            .collect();
        if differences.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "{} differ from what was applied (changed, kept or dropped by the server or another client)",
                differences.join(", ")
            )]
        }
    }
}

/// The generated objects split into what `--apply` sends and what it does not (the
/// IstioOperator is input for `istioctl install -f`, not a cluster object).
pub fn targets(
    objects: &[IstioObject],
    options: &Arc<ManifestOptions>,
) -> Result<(Vec<ApplyManifest>, Vec<ObjectKey>), ChangeError> {
    let mut targets = Vec::new();
    let mut not_applied = Vec::new();
    for object in objects {
        let key = ObjectKey::new(
            object.api_version(),
            object.kind(),
            object.namespace(),
            object.name(),
        );
        let istio = key
            .kind_info()
            .is_some_and(|k| crate::cluster::kinds::ISTIO_KINDS.contains(k));
        if !istio {
            not_applied.push(key);
            continue;
        }
        let manifest = serde_json::to_value(object).map_err(|e| ChangeError::Serialise {
            what: key.to_string(),
            message: e.to_string(),
        })?;
        targets.push(ApplyManifest::new(key, manifest, options.clone()));
    }
    Ok((targets, not_applied))
}

/// What the plan learned about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFacts {
    /// `v1.20.2`.
    pub version: String,
    /// Whether the server understands `fieldValidation` (Kubernetes 1.25 and later); older
    /// servers get none (1.20 prunes unknown fields silently: verification catches that).
    pub field_validation: bool,
}

/// Read the server version, check that the Istio kinds are served and the target namespaces
/// exist, then read every target and decide.
pub async fn plan(
    cluster: &Cluster,
    targets: Vec<ApplyManifest>,
) -> Result<(Plan<ApplyManifest>, ServerFacts), ChangeError> {
    let client = &cluster.client;
    let info = client.apiserver_version().await.map_err(|e| {
        ChangeError::from_kube(cluster, "cannot read the API server version".into(), e)
    })?;
    let digits = |s: &str| s.trim_end_matches('+').parse::<u32>().unwrap_or(0);
    let (major, minor) = (digits(&info.major), digits(&info.minor));
    let facts = ServerFacts {
        version: info.git_version,
        field_validation: major > 1 || (major == 1 && minor >= 25),
    };

    // Istio installed? One discovery request per group version we write.
    let mut wanted: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for t in &targets {
        let info = t
            .key
            .kind_info()
            .ok_or_else(|| ChangeError::UnknownKind(t.key.kind.clone()))?;
        wanted
            .entry(t.key.api_version.clone())
            .or_default()
            .insert(info.plural);
    }
    let mut missing = Vec::new();
    for (group_version, plurals) in &wanted {
        match client.list_api_group_resources(group_version).await {
            Ok(list) => {
                for plural in plurals {
                    if !list.resources.iter().any(|r| r.name == *plural) {
                        missing.push(format!("{plural} ({group_version})"));
                    }
                }
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {
                missing.push(group_version.clone())
            }
            Err(e) => {
                return Err(ChangeError::from_kube(
                    cluster,
                    format!("cannot discover {group_version}"),
                    e,
                ));
            }
        }
    }
    if !missing.is_empty() {
        return Err(ChangeError::NotReady(format!(
            "Istio's CRDs are not installed on this cluster ({} not served): install Istio first (istioctl install); nothing was changed",
            missing.join(", ")
        )));
    }
    // Every target namespace must exist (Istio's own, istio-system, only does once Istio is
    // installed). A user who may not read namespaces finds out at the write instead.
    let namespaces: BTreeSet<&str> = targets
        .iter()
        .filter_map(|t| t.key.namespace.as_deref())
        .collect();
    let namespace_api: Api<Namespace> = Api::all(client.clone());
    let reads: Vec<(&str, Result<Option<Namespace>, kube::Error>)> = stream::iter(namespaces)
        .map(|ns| {
            let api = namespace_api.clone();
            async move { (ns, api.get_opt(ns).await) }
        })
        .buffered(CONCURRENT_READS)
        .collect()
        .await;
    let mut absent = Vec::new();
    for (ns, read) in reads {
        match read {
            Ok(Some(_)) => {}
            Ok(None) => absent.push(ns.to_owned()),
            Err(kube::Error::Api(status)) if status.code == 403 => {}
            Err(e) => {
                return Err(ChangeError::from_kube(
                    cluster,
                    format!("cannot read namespace {ns}"),
                    e,
                ));
            }
        }
    }
    if !absent.is_empty() {
        return Err(ChangeError::NotReady(format!(
            "namespace(s) {} do not exist: create them first (istio-system is created by `istioctl install`); nothing was changed",
            absent.join(", ")
        )));
    }
    let plan = Plan::read(cluster, targets, VOCABULARY, CONCURRENT_READS).await?;
    Ok((plan, facts))
}

fn is_managed(live: &Value) -> bool {
    live.pointer("/metadata/labels")
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .and_then(Value::as_str)
        == Some(MANAGED_BY_VALUE)
}

fn object_at<'v>(value: &'v Value, pointer: &str) -> Option<&'v Map<String, Value>> {
    value.pointer(pointer).and_then(Value::as_object)
}

/// Keys directly under `path` (e.g. `["metadata", "labels"]`) that `field_manager` owns, from
/// `metadata.managedFields` (`f:labels: {f:team: {}}` → `team`).
fn owned_keys(live: &Value, field_manager: &str, path: &[&str]) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for entry in live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if entry.get("manager").and_then(Value::as_str) != Some(field_manager) {
            continue;
        }
        let mut node = entry.get("fieldsV1");
        for p in path {
            node = node.and_then(|n| n.get(format!("f:{p}")));
        }
        if let Some(map) = node.and_then(Value::as_object) {
            keys.extend(
                map.keys()
                    .filter_map(|k| k.strip_prefix("f:"))
                    .map(str::to_owned),
            );
        }
    }
    keys
}

/// One field in which the live object differs from the generated one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// `spec.hosts`, `metadata.labels`.
    pub field: String,
    /// Whether the generated object sets it (otherwise applying removes it).
    pub generated: bool,
    /// The other field managers that own it now: drift on an object of ours, someone else's
    /// field on a takeover.
    pub set_by: Vec<String>,
}

impl FieldChange {
    /// `spec.exportTo (not generated, set by kubectl-patch: removed)`.
    fn describe(&self, adopt: bool) -> String {
        let by = if self.set_by.is_empty() {
            String::new()
        } else {
            format!(", set by {}", self.set_by.join(", "))
        };
        match (self.generated, adopt || self.set_by.is_empty()) {
            (false, _) => format!("{} (not generated{by}: removed)", self.field),
            (true, true) => self.field.clone(),
            (true, false) => format!("{} (drift{by}: put back)", self.field),
        }
    }
}

/// How `live` differs from `desired` as applying sees it: every top-level `spec` field that is
/// set differently, missing, or present without being generated (applying leaves exactly the
/// generated spec), with the other managers that own it; then `metadata.labels` and
/// `metadata.annotations` when one of ours differs or one we set before is no longer generated.
/// Labels and annotations of others stay theirs: not a change.
pub fn changes(desired: &Value, live: &Value, field_manager: &str) -> Vec<FieldChange> {
    let empty = Map::new();
    let mut out = Vec::new();
    let want = object_at(desired, "/spec").unwrap_or(&empty);
    let have = object_at(live, "/spec").unwrap_or(&empty);
    let owners = ownership::spec_owners(live, field_manager);
    let keys: BTreeSet<&String> = want.keys().chain(have.keys()).collect();
    for key in keys {
        let changed = match (want.get(key), have.get(key)) {
            (Some(w), Some(h)) => !same_value(w, h),
            (None, None) => false,
            _ => true,
        };
        if changed {
            let set_by = owners
                .get(key.as_str())
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            out.push(FieldChange {
                field: format!("spec.{key}"),
                generated: want.contains_key(key),
                set_by,
            });
        }
    }
    for section in ["labels", "annotations"] {
        let pointer = format!("/metadata/{section}");
        let want = object_at(desired, &pointer).unwrap_or(&empty);
        let have = object_at(live, &pointer).unwrap_or(&empty);
        let owned = owned_keys(live, field_manager, &["metadata", section]);
        let differs = want
            .iter()
            .any(|(k, v)| have.get(k).is_none_or(|h| !same_value(v, h)))
            || owned
                .iter()
                .any(|k| !want.contains_key(k) && have.contains_key(k));
        if differs {
            out.push(FieldChange {
                field: format!("metadata.{section}"),
                generated: true,
                set_by: Vec::new(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::DEFAULT_FIELD_MANAGER;

    fn live(spec: Value, labels: Value, owned_spec: Value) -> Value {
        json!({
            "metadata": {
                "labels": labels,
                "managedFields": [
                    {"manager": "kubectl-appmesh2istio", "operation": "Apply", "fieldsV1": {"f:spec": owned_spec}},
                    {"manager": "someone", "operation": "Update", "fieldsV1": {"f:spec": {"f:extra": {}}}}
                ]
            },
            "spec": spec
        })
    }

    fn fields(changes: &[FieldChange]) -> Vec<&str> {
        changes.iter().map(|c| c.field.as_str()).collect()
    }

    #[test]
    fn changes_cover_the_whole_spec_and_name_who_drifted() {
        let desired = json!({"metadata": {"labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}}, "spec": {"hosts": ["a"], "http": [{"timeout": "15s", "weight": 1.0}]}});
        let labels = json!({MANAGED_BY_LABEL: MANAGED_BY_VALUE});
        let same = live(
            json!({"hosts": ["a"], "http": [{"timeout": "15s", "weight": 1}]}),
            labels.clone(),
            json!({"f:hosts": {}, "f:http": {}}),
        );
        assert_eq!(
            fields(&changes(&desired, &same, DEFAULT_FIELD_MANAGER)),
            Vec::<&str>::new()
        );
        // A field someone else added is a change too: applying removes it.
        let patched = live(
            json!({"hosts": ["a"], "http": [{"timeout": "15s", "weight": 1}], "extra": true}),
            labels.clone(),
            json!({"f:hosts": {}, "f:http": {}}),
        );
        let drift = changes(&desired, &patched, DEFAULT_FIELD_MANAGER);
        assert_eq!(
            drift,
            vec![FieldChange {
                field: "spec.extra".into(),
                generated: false,
                set_by: vec!["someone".into()]
            }]
        );
        assert_eq!(
            drift[0].describe(false),
            "spec.extra (not generated, set by someone: removed)"
        );
        let differs = live(
            json!({"hosts": ["b"], "http": [{"timeout": "15s", "weight": 1}], "tcp": []}),
            json!({}),
            json!({"f:hosts": {}, "f:http": {}, "f:tcp": {}}),
        );
        assert_eq!(
            fields(&changes(&desired, &differs, DEFAULT_FIELD_MANAGER)),
            vec!["spec.hosts", "spec.tcp", "metadata.labels"]
        );
    }

    #[test]
    fn drift_is_a_warned_update_and_verification_compares_the_whole_spec() {
        let key = ObjectKey::new(
            "networking.istio.io/v1",
            "VirtualService",
            Some("ns"),
            "cart",
        );
        let manifest = json!({"metadata": {"labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}}, "spec": {"hosts": ["a"]}});
        let change = ApplyManifest::new(
            key,
            manifest,
            Arc::new(ManifestOptions {
                field_manager: DEFAULT_FIELD_MANAGER.into(),
                force_conflicts: false,
            }),
        );
        let mut patched = live(
            json!({"hosts": ["a"], "extra": ["."]}),
            json!({MANAGED_BY_LABEL: MANAGED_BY_VALUE}),
            json!({"f:hosts": {}}),
        );
        let decision = change.decide(Some(&patched));
        assert_eq!(decision.action, Action::UPDATE);
        assert_eq!(
            decision.details,
            "spec.extra (not generated, set by someone: removed)"
        );
        assert_eq!(
            decision.warnings,
            vec!["drift: changed by someone since appmesh2istio applied it"]
        );
        assert_eq!(decision.extra["drift"][0]["setBy"], json!(["someone"]));
        assert_eq!(
            decision.writes[0],
            Operation::Ownership(OwnershipEdit::TakeOverSpec {
                generated: vec!["hosts".into()]
            }),
            "every spec field becomes ours first, so that the apply removes the rest"
        );
        assert!(matches!(
            decision.writes[1],
            Operation::Apply { force: true, .. }
        ));
        let left = change.verify(&decision, Some(&patched), DryRun::None);
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(left[0].starts_with("spec.extra differ"), "{left:?}");
        assert!(
            change
                .verify(&decision, Some(&patched), DryRun::Server)
                .is_empty(),
            "a server dry run cannot rewrite ownership: only our fields are compared"
        );
        patched["spec"] = json!({"hosts": ["a"]});
        assert!(
            change
                .verify(&decision, Some(&patched), DryRun::None)
                .is_empty()
        );
    }

    #[test]
    fn unmanaged_objects_conflict_unless_forced() {
        let key = ObjectKey::new(
            "networking.istio.io/v1",
            "VirtualService",
            Some("ns"),
            "cart",
        );
        let manifest = json!({"metadata": {"labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}}, "spec": {"hosts": ["a"]}});
        let options = |force| {
            Arc::new(ManifestOptions {
                field_manager: DEFAULT_FIELD_MANAGER.into(),
                force_conflicts: force,
            })
        };
        let theirs = json!({"metadata": {"managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update"}]}, "spec": {"hosts": ["a"]}});
        let change = ApplyManifest::new(key.clone(), manifest.clone(), options(false));
        let conflict = change.decide(Some(&theirs));
        assert_eq!(conflict.action, Action::CONFLICT);
        assert_eq!(
            conflict.extra["managers"],
            json!(["kubectl-client-side-apply"])
        );
        assert!(!conflict.writes());
        let forced = ApplyManifest::new(key.clone(), manifest, options(true)).decide(Some(&theirs));
        assert_eq!(forced.action, Action::UPDATE);
        assert_eq!(forced.extra["changes"], json!(["metadata.labels"]));
        assert_eq!(forced.extra["adopt"], json!(true));
        assert!(matches!(forced.undo, Some(UndoEntry::Updated(_))));
        let create = change.decide(None);
        assert_eq!(create.action, Action::CREATE);
        assert!(matches!(create.undo, Some(UndoEntry::Created(_))));
        assert!(
            matches!(
                &create.writes[..],
                [
                    Operation::Create { .. },
                    Operation::Ownership(OwnershipEdit::AdoptOwnUpdates)
                ]
            ),
            "create-only, then the POST's ownership folded into our apply entry: {:?}",
            create.writes
        );
        assert_eq!(change.phase(), 4);
    }
}
