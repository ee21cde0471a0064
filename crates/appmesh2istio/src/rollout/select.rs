//! Which workloads a rollout restarts, and which it reports and skips (with the reason).
//!
//! By default only workloads that still need it: their pods carry App Mesh's Envoy (or its
//! `proxyinit`), or their namespace is labelled for Istio and a pod is not on Istio yet. What is
//! done is thus read from the cluster itself (pods verified on Istio are not selected again),
//! which makes a second run a no-op and an interrupted run resumable.

use std::collections::BTreeMap;

use serde_json::Value;

use super::annotations::{AppMeshPods, ISTIO_INJECT_LABEL, Translation, translate};
use crate::change::ObjectKey;
use crate::precheck::checks::{has_appmesh_sidecar, has_istio_sidecar, is_appmesh_envoy};
use crate::precheck::labels::{
    AMBIENT_REDIRECTION, APPMESH_INJECT, ambient, appmesh_injection, istio_enabled, string_map,
};

/// Label our canary copies (and their pods) carry; never selected, never verified as the
/// workload's own pods.
pub const CANARY_LABEL: &str = "appmesh2istio.io/canary";

/// A workload to restart.
#[derive(Debug, Clone)]
pub struct Target {
    pub key: ObjectKey,
    /// The workload as listed.
    pub live: Value,
    /// Why it is selected (`2 pods carry App Mesh's Envoy`).
    pub why: String,
    pub translation: Translation,
}

/// A workload (or pod) reported and left alone.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub key: ObjectKey,
    pub live: Option<Value>,
    pub code: &'static str,
    pub reason: String,
}

/// The selection: targets in a stable order (namespace, kind, name), skipped ones after.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub targets: Vec<Target>,
    pub skipped: Vec<Skipped>,
    /// Workloads already on Istio (not selected): how many.
    pub done: usize,
}

/// Where a pod stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PodState {
    /// App Mesh's Envoy or proxyinit.
    pub appmesh: bool,
    /// `istio-proxy` (sidecar mode) or ambient redirection.
    pub istio: bool,
    pub ready: bool,
    pub deleting: bool,
}

/// The state of `pod` in a namespace labelled `ns_labels`.
pub fn pod_state(pod: &Value, ns_labels: &BTreeMap<String, String>) -> PodState {
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let sidecar = has_istio_sidecar(spec);
    let redirected = string_map(pod, "/metadata/annotations")
        .get(AMBIENT_REDIRECTION)
        .is_some_and(|v| v == "enabled");
    let istio = if ambient(ns_labels) {
        !sidecar && redirected
    } else {
        sidecar
    };
    PodState {
        appmesh: has_appmesh_sidecar(spec),
        istio,
        ready: pod_ready(pod),
        deleting: pod.pointer("/metadata/deletionTimestamp").is_some(),
    }
}

/// The pod's Ready condition is True.
pub fn pod_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.get("type").and_then(Value::as_str) == Some("Ready")
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
}

/// The controller of a pod as `(kind, name)`: Deployments through their ReplicaSet's
/// `<deployment>-<pod-template-hash>` name (no ReplicaSet list needed); `None` for bare pods.
pub fn pod_owner(pod: &Value) -> Option<(String, String)> {
    let owner = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))?;
    let kind = owner.get("kind").and_then(Value::as_str)?;
    let name = owner.get("name").and_then(Value::as_str)?;
    if kind == "ReplicaSet"
        && let Some(hash) = string_map(pod, "/metadata/labels").get("pod-template-hash")
        && let Some(deployment) = name.strip_suffix(&format!("-{hash}"))
    {
        return Some(("Deployment".into(), deployment.into()));
    }
    Some((kind.into(), name.into()))
}

fn str_at<'v>(value: &'v Value, pointer: &str) -> Option<&'v str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// The key of a listed workload or pod.
pub fn key_of(object: &Value) -> Option<ObjectKey> {
    ObjectKey::of(object)
}

/// App Mesh's `--wait-until-proxy-ready`, seen on a pod: Envoy first, with a postStart hook.
fn waits_for_proxy(pod: &Value) -> bool {
    pod.pointer("/spec/containers/0")
        .is_some_and(|c| is_appmesh_envoy(c) && c.pointer("/lifecycle/postStart").is_some())
}

/// Decide for every workload (Deployments, StatefulSets, DaemonSets) and every pod without
/// one of them as owner. `namespaces`: name → labels of the namespaces in scope.
pub fn select(
    namespaces: &BTreeMap<String, BTreeMap<String, String>>,
    workloads: Vec<Value>,
    pods: &[Value],
    all: bool,
) -> Selection {
    // Pods by owner.
    let mut owned: BTreeMap<(String, String, String), Vec<&Value>> = BTreeMap::new();
    let mut orphans: Vec<(&Value, Option<(String, String)>)> = Vec::new();
    for pod in pods {
        let ns = str_at(pod, "/metadata/namespace")
            .unwrap_or_default()
            .to_owned();
        if string_map(pod, "/metadata/labels").contains_key(CANARY_LABEL) {
            continue;
        }
        match pod_owner(pod) {
            Some((kind, name))
                if matches!(kind.as_str(), "Deployment" | "StatefulSet" | "DaemonSet") =>
            {
                owned.entry((ns, kind, name)).or_default().push(pod);
            }
            other => orphans.push((pod, other)),
        }
    }
    let mut out = Selection::default();
    let empty = BTreeMap::new();
    let mut workloads = workloads;
    workloads.sort_by_key(|w| {
        (
            str_at(w, "/metadata/namespace")
                .unwrap_or_default()
                .to_owned(),
            kind_rank(str_at(w, "/kind").unwrap_or_default()),
            str_at(w, "/metadata/name").unwrap_or_default().to_owned(),
        )
    });
    for workload in workloads {
        let Some(key) = key_of(&workload) else {
            continue;
        };
        let ns = key.namespace.clone().unwrap_or_default();
        let ns_labels = namespaces.get(&ns).unwrap_or(&empty);
        let template_labels = string_map(&workload, "/spec/template/metadata/labels");
        if template_labels.contains_key(CANARY_LABEL) {
            continue; // our own canary copy (a run was interrupted): never a target
        }
        let pods: Vec<&Value> = owned
            .get(&(ns.clone(), key.kind.clone(), key.name.clone()))
            .cloned()
            .unwrap_or_default();
        let states: Vec<PodState> = pods
            .iter()
            .map(|p| pod_state(p, ns_labels))
            .filter(|s| !s.deleting)
            .collect();
        let with_appmesh = states.iter().filter(|s| s.appmesh).count();
        let without_istio = states.iter().filter(|s| !s.istio).count();
        let labelled = istio_enabled(ns_labels);
        let needs = if with_appmesh > 0 {
            Some(format!(
                "{} App Mesh's Envoy",
                counted(with_appmesh, "pod carries", "pods carry")
            ))
        } else if labelled.is_some() && without_istio > 0 {
            Some(format!(
                "{} not on Istio yet",
                counted(without_istio, "pod is", "pods are")
            ))
        } else if all {
            Some("--all".to_owned())
        } else {
            None
        };
        let Some(why) = needs else {
            out.done += 1;
            continue;
        };
        let template_annotations = string_map(&workload, "/spec/template/metadata/annotations");
        let translation = translate(
            &template_annotations,
            AppMeshPods {
                injected: with_appmesh > 0,
                wait_until_proxy_ready: pods.iter().any(|p| waits_for_proxy(p)),
            },
        );
        let skip = |code: &'static str, reason: String| Skipped {
            key: key.clone(),
            live: Some(workload.clone()),
            code,
            reason,
        };
        if workload.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
            out.skipped.push(skip(
                "AMI4102",
                "paused: a restart would start no new pod until it is resumed (kubectl rollout resume)".into(),
            ));
            continue;
        }
        if let Some(strategy) =
            str_at(&workload, "/spec/updateStrategy/type").filter(|s| *s == "OnDelete")
        {
            out.skipped.push(skip(
                "AMI4102",
                format!("updateStrategy {strategy}: a restart replaces no pod; delete its pods one by one instead"),
            ));
            continue;
        }
        let opt_out = template_labels.get(ISTIO_INJECT_LABEL).map(String::as_str) == Some("false")
            || template_annotations
                .get(ISTIO_INJECT_LABEL)
                .map(String::as_str)
                == Some("false");
        if opt_out || translation.opted_out {
            let by = if opt_out {
                format!("its pod template says {ISTIO_INJECT_LABEL}=false")
            } else {
                format!(
                    "its pod template says {APPMESH_INJECT}: disabled (an Istio opt-out once translated)"
                )
            };
            out.skipped
                .push(skip("AMI4103", format!("pods opt out of injection: {by}")));
            continue;
        }
        let pod_opt_in = template_labels.get(ISTIO_INJECT_LABEL).map(String::as_str)
            == Some("true")
            || template_labels.contains_key(crate::precheck::labels::ISTIO_REV);
        if labelled.is_none() && !pod_opt_in {
            out.skipped.push(skip(
                "AMI4105",
                format!(
                    "namespace {ns} is not labelled for Istio: run `kubectl appmesh2istio label` first (restarting now would only bring App Mesh's sidecar back)"
                ),
            ));
            continue;
        }
        if appmesh_injection(ns_labels) == Some("enabled") {
            out.skipped.push(skip(
                "AMI4105",
                format!(
                    "namespace {ns} is still labelled {APPMESH_INJECT}=enabled: run `kubectl appmesh2istio label` first (new pods would get both sidecars)"
                ),
            ));
            continue;
        }
        out.targets.push(Target {
            key,
            live: workload,
            why,
            translation,
        });
    }
    for (pod, owner) in orphans {
        let Some(key) = key_of(pod) else { continue };
        let ns = key.namespace.clone().unwrap_or_default();
        let ns_labels = namespaces.get(&ns).unwrap_or(&empty);
        let state = pod_state(pod, ns_labels);
        if state.deleting
            || !(state.appmesh || (!state.istio && istio_enabled(ns_labels).is_some()))
        {
            continue;
        }
        let reason = match owner {
            None => {
                "bare pod: only whoever created it can recreate it (delete and create it again)"
                    .to_owned()
            }
            Some((kind, name)) if kind == "Job" => format!(
                "pod of Job {name}: Jobs are not restarted; the next run of the Job gets the new sidecar"
            ),
            Some((kind, name)) => format!("pod of {kind} {name}: restart it through its owner"),
        };
        out.skipped.push(Skipped {
            key,
            live: Some(pod.clone()),
            code: "AMI4104",
            reason,
        });
    }
    out
}

fn kind_rank(kind: &str) -> u8 {
    match kind {
        "Deployment" => 0,
        "StatefulSet" => 1,
        _ => 2,
    }
}

fn counted(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ns(pairs: &[(&str, &[(&str, &str)])]) -> BTreeMap<String, BTreeMap<String, String>> {
        pairs
            .iter()
            .map(|(n, labels)| {
                (
                    (*n).to_owned(),
                    labels
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                )
            })
            .collect()
    }

    fn deployment(ns: &str, name: &str, extra: Value) -> Value {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"namespace": ns, "name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app"}]}}}});
        if let (Value::Object(d), Value::Object(extra)) = (&mut d["spec"], extra) {
            d.extend(extra);
        }
        d
    }

    fn pod(ns: &str, deployment: Option<&str>, containers: &[&str]) -> Value {
        let owner = deployment.map(
            |d| json!([{"kind": "ReplicaSet", "name": format!("{d}-abc"), "controller": true}]),
        );
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": ns, "name": format!("{}-abc-x", deployment.unwrap_or("bare")),
                         "labels": {"pod-template-hash": "abc"}, "ownerReferences": owner},
            "spec": {"containers": containers.iter().map(|c| json!({"name": c, "image": if *c == "envoy" {"public.ecr.aws/appmesh/aws-appmesh-envoy:v1"} else {"x"}})).collect::<Vec<_>>()},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    }

    #[test]
    fn selects_what_still_needs_a_restart_and_says_why_others_are_skipped() {
        let namespaces = ns(&[
            ("shop", &[("istio-injection", "enabled")]),
            ("old", &[(APPMESH_INJECT, "enabled")]),
        ]);
        let workloads = vec![
            deployment("shop", "web", json!({})),
            deployment("shop", "done", json!({})),
            deployment("shop", "paused", json!({"paused": true})),
            deployment("old", "api", json!({})),
        ];
        let pods = vec![
            pod("shop", Some("web"), &["app", "envoy"]),
            pod("shop", Some("done"), &["app", "istio-proxy"]),
            pod("shop", Some("paused"), &["app", "envoy"]),
            pod("old", Some("api"), &["app", "envoy"]),
            pod("shop", None, &["app", "envoy"]),
        ];
        let s = select(&namespaces, workloads, &pods, false);
        let names: Vec<&str> = s.targets.iter().map(|t| t.key.name.as_str()).collect();
        assert_eq!(names, ["web"]);
        assert_eq!(s.targets[0].why, "1 pod carries App Mesh's Envoy");
        assert_eq!(
            s.targets[0].translation.annotations["traffic.sidecar.istio.io/excludeOutboundPorts"],
            "22"
        );
        assert_eq!(s.done, 1);
        let skipped: Vec<(&str, &str)> = s
            .skipped
            .iter()
            .map(|k| (k.key.name.as_str(), k.code))
            .collect();
        assert_eq!(
            skipped,
            [
                ("api", "AMI4105"),
                ("paused", "AMI4102"),
                ("bare-abc-x", "AMI4104")
            ],
            "namespace order, then kind and name; pods last"
        );
        assert!(s.skipped[0].reason.contains("not labelled for Istio"));
        // --all takes the one already on Istio too.
        let all = select(
            &namespaces,
            vec![deployment("shop", "done", json!({}))],
            &pods,
            true,
        );
        assert_eq!(all.targets.len(), 1);
    }

    #[test]
    fn opt_outs_are_skipped() {
        let namespaces = ns(&[("shop", &[("istio-injection", "enabled")])]);
        let mut d = deployment("shop", "web", json!({}));
        d["spec"]["template"]["metadata"]["labels"][ISTIO_INJECT_LABEL] = json!("false");
        let s = select(
            &namespaces,
            vec![d],
            &[pod("shop", Some("web"), &["app", "envoy"])],
            false,
        );
        assert_eq!(s.skipped[0].code, "AMI4103");
        assert!(s.targets.is_empty());
    }

    #[test]
    fn ambient_pods_are_on_istio_when_redirected_without_a_sidecar() {
        let labels: BTreeMap<String, String> =
            [("istio.io/dataplane-mode".to_owned(), "ambient".to_owned())].into();
        let mut p = pod("a", Some("web"), &["app"]);
        assert!(!pod_state(&p, &labels).istio);
        p["metadata"]["annotations"] = json!({AMBIENT_REDIRECTION: "enabled"});
        assert!(pod_state(&p, &labels).istio);
        let sidecar = pod("a", Some("web"), &["app", "istio-proxy"]);
        assert!(!pod_state(&sidecar, &labels).istio);
    }
}
