//! Waiting for a rollout the way `kubectl rollout status` does (observedGeneration; updated,
//! ready and available replicas; `ProgressDeadlineExceeded` is a failure; StatefulSet
//! partitions and update strategy; DaemonSet rules), with one watch per workload instead of
//! polling, then checking the workload's new pods.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::api::{ListParams, WatchEvent, WatchParams};
use serde_json::Value;

use super::select::{CANARY_LABEL, pod_owner, pod_state};
use crate::change::ObjectKey;
use crate::change::object::get_value;
use crate::cluster::Cluster;
use crate::precheck::labels::{APPMESH_INJECT, ambient, string_map};

/// Where a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Done,
    Waiting(String),
    Failed(String),
}

fn int(object: &Value, pointer: &str) -> Option<i64> {
    object.pointer(pointer).and_then(Value::as_i64)
}

fn text<'v>(object: &'v Value, pointer: &str) -> Option<&'v str> {
    object.pointer(pointer).and_then(Value::as_str)
}

/// kubectl's rollout status of a Deployment, StatefulSet or DaemonSet.
pub fn rollout_status(object: &Value) -> Progress {
    let generation = int(object, "/metadata/generation").unwrap_or(0);
    let observed = int(object, "/status/observedGeneration").unwrap_or(0);
    let status = |p: &str| int(object, &format!("/status/{p}")).unwrap_or(0);
    match text(object, "/kind").unwrap_or_default() {
        "Deployment" => {
            if generation > observed {
                return Progress::Waiting(
                    "waiting for the deployment spec update to be observed".into(),
                );
            }
            let deadline = object
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| {
                    text(c, "/type") == Some("Progressing")
                        && text(c, "/reason") == Some("ProgressDeadlineExceeded")
                });
            if deadline {
                return Progress::Failed(
                    "exceeded its progress deadline (ProgressDeadlineExceeded)".into(),
                );
            }
            let replicas = int(object, "/spec/replicas").unwrap_or(1);
            let updated = status("updatedReplicas");
            if updated < replicas {
                return Progress::Waiting(format!("{updated} of {replicas} new replicas updated"));
            }
            if status("replicas") > updated {
                return Progress::Waiting(format!(
                    "{} old replicas pending termination",
                    status("replicas") - updated
                ));
            }
            let available = status("availableReplicas");
            if available < updated {
                return Progress::Waiting(format!(
                    "{available} of {updated} updated replicas available"
                ));
            }
            Progress::Done
        }
        "StatefulSet" => {
            if text(object, "/spec/updateStrategy/type").is_some_and(|t| t != "RollingUpdate") {
                return Progress::Failed(
                    "rollout status is only available for the RollingUpdate strategy".into(),
                );
            }
            if generation > observed {
                return Progress::Waiting(
                    "waiting for the statefulset spec update to be observed".into(),
                );
            }
            let replicas = int(object, "/spec/replicas").unwrap_or(1);
            let ready = status("readyReplicas");
            if ready < replicas {
                return Progress::Waiting(format!("{ready} of {replicas} pods ready"));
            }
            if let Some(partition) = int(object, "/spec/updateStrategy/rollingUpdate/partition")
                && partition > 0
            {
                let updated = status("updatedReplicas");
                if updated < replicas - partition {
                    return Progress::Waiting(format!(
                        "{updated} of {} pods updated (partition {partition})",
                        replicas - partition
                    ));
                }
                return Progress::Done;
            }
            if text(object, "/status/updateRevision") != text(object, "/status/currentRevision") {
                return Progress::Waiting(format!(
                    "{} of {replicas} pods updated",
                    status("updatedReplicas")
                ));
            }
            Progress::Done
        }
        "DaemonSet" => {
            if text(object, "/spec/updateStrategy/type").is_some_and(|t| t != "RollingUpdate") {
                return Progress::Failed(
                    "rollout status is only available for the RollingUpdate strategy".into(),
                );
            }
            if generation > observed {
                return Progress::Waiting(
                    "waiting for the daemon set spec update to be observed".into(),
                );
            }
            let desired = status("desiredNumberScheduled");
            let updated = status("updatedNumberScheduled");
            if updated < desired {
                return Progress::Waiting(format!("{updated} of {desired} new pods updated"));
            }
            let available = status("numberAvailable");
            if available < desired {
                return Progress::Waiting(format!(
                    "{available} of {desired} updated pods available"
                ));
            }
            Progress::Done
        }
        other => Progress::Failed(format!("{other} is not a workload rollout can wait for")),
    }
}

/// Wait until `key` has rolled out, starting from `from` (the object the restart returned),
/// with watches (one request each, re-opened when the server ends one) until `timeout`.
/// `on_progress` hears each new waiting message. Returns the rolled-out object.
pub async fn rolled_out(
    cluster: &Cluster,
    key: &ObjectKey,
    from: Value,
    timeout: Duration,
    on_progress: &(dyn Fn(&str) + Sync),
) -> Result<Value, String> {
    let deadline = Instant::now() + timeout;
    let api = key.api(&cluster.client).map_err(|e| e.to_string())?;
    let mut current = from;
    let mut last = String::new();
    loop {
        match rollout_status(&current) {
            Progress::Done => return Ok(current),
            Progress::Failed(why) => return Err(why),
            Progress::Waiting(why) => {
                if why != last {
                    on_progress(&why);
                    last = why;
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("timed out after {}: {last}", humanize(timeout)));
        }
        // The server caps a watch below 295 s; a longer wait re-opens it.
        let seconds = left.as_secs().clamp(1, 290) as u32;
        let version = text(&current, "/metadata/resourceVersion")
            .unwrap_or("0")
            .to_owned();
        let params = WatchParams::default()
            .fields(&format!("metadata.name={}", key.name))
            .timeout(seconds);
        let stream = match api.watch(&params, &version).await {
            Ok(s) => s,
            Err(e) => {
                // A watch that could not start (after the transport's retries): read once and
                // go on from there.
                current = reread(cluster, key, e).await?;
                continue;
            }
        };
        let mut stream = stream.boxed();
        let mut gone = false;
        loop {
            let next = tokio::time::timeout(left, stream.try_next()).await;
            let event = match next {
                Err(_) => break, // overall deadline: the loop above reports it
                Ok(Ok(Some(event))) => event,
                Ok(Ok(None)) => break, // the server ended the watch: re-open it
                Ok(Err(e)) => {
                    current = reread(cluster, key, e).await?;
                    break;
                }
            };
            match event {
                WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                    current = serde_json::to_value(&o).map_err(|e| e.to_string())?;
                    if !matches!(rollout_status(&current), Progress::Waiting(_)) {
                        break;
                    }
                    if let Progress::Waiting(why) = rollout_status(&current)
                        && why != last
                    {
                        on_progress(&why);
                        last = why;
                    }
                }
                WatchEvent::Deleted(_) => return Err("deleted while it rolled out".into()),
                WatchEvent::Bookmark(b) => {
                    current["metadata"]["resourceVersion"] = b.metadata.resource_version.into();
                }
                WatchEvent::Error(status) if status.code == 410 => {
                    gone = true;
                    break;
                }
                WatchEvent::Error(status) => {
                    return Err(format!("watch failed: {}", status.message));
                }
            }
        }
        if gone {
            current = get_value(cluster, key)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("deleted while it rolled out")?;
        }
    }
}

async fn reread(cluster: &Cluster, key: &ObjectKey, error: kube::Error) -> Result<Value, String> {
    match get_value(cluster, key).await {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err("deleted while it rolled out".into()),
        Err(e) => Err(format!("cannot watch it ({error}) nor read it ({e})")),
    }
}

/// `2m30s`.
pub fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 60, s % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

/// A label selector string from `spec.selector` (matchLabels and matchExpressions).
pub fn selector_string(workload: &Value) -> String {
    let mut parts: Vec<String> = string_map(workload, "/spec/selector/matchLabels")
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in workload
        .pointer("/spec/selector/matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = text(e, "/key").unwrap_or_default();
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match text(e, "/operator").unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_owned(),
            _ => format!("!{key}"),
        });
    }
    parts.join(",")
}

/// What the new pods of a workload showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodCheck {
    pub pods: usize,
    pub problems: Vec<String>,
    /// Pods that still run App Mesh's Envoy (AMI4106).
    pub appmesh: usize,
}

/// Waits until no pod of the canary copy `copy` (its live object before the delete) is left. Its Deployment is deleted with the
/// API's default (background) propagation, so the garbage collector removes the pods only
/// after the delete has returned, and until then they still take a share of the traffic: a
/// canary is only "removed" once its pods are gone. Polls one LIST by the copy's selector
/// (which holds [`CANARY_LABEL`], so the workload's own pods never match) every half second
/// (canary removals are rare, a watch would buy nothing); returns how many pods were still
/// there at `timeout`.
pub async fn canary_pods_gone(
    cluster: &Cluster,
    copy: &Value,
    timeout: Duration,
) -> Result<usize, String> {
    let selector = selector_string(copy);
    if !selector.contains(CANARY_LABEL) {
        return Err(format!(
            "its selector {selector:?} does not name {CANARY_LABEL}"
        ));
    }
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        cluster.client.clone(),
        text(copy, "/metadata/namespace").unwrap_or_default(),
        &crate::cluster::kinds::PODS.api_resource(),
    );
    let params = ListParams::default().labels(&selector);
    let deadline = Instant::now() + timeout;
    loop {
        // Paged like every list: a canary's pods are few, but the shared loop also restarts
        // cleanly on an expired continue token.
        let left = crate::cluster::list::list_all(&api, &params, "its pods")
            .await
            .map_err(|e| e.to_string())?
            .len();
        if left == 0 || Instant::now() >= deadline {
            return Ok(left);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The pods of `workload` (one LIST by its selector): every one on Istio, without App Mesh's
/// sidecar, and Ready. Pods being deleted and our canary's pods (for the workload itself) are
/// not its new pods.
pub async fn check_pods(
    cluster: &Cluster,
    workload: &Value,
    ns_labels: &BTreeMap<String, String>,
) -> Result<PodCheck, String> {
    let key = ObjectKey::of(workload).ok_or("a workload without a name")?;
    let namespace = key.namespace.clone().unwrap_or_default();
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        cluster.client.clone(),
        &namespace,
        &crate::cluster::kinds::PODS.api_resource(),
    );
    let items = crate::cluster::list::list_all(
        &api,
        &ListParams::default().labels(&selector_string(workload)),
        "its pods",
    )
    .await
    .map_err(|e| e.to_string())?;
    let canary = super::steps::is_canary(workload);
    let mut out = PodCheck {
        pods: 0,
        problems: Vec::new(),
        appmesh: 0,
    };
    for item in items {
        let pod = serde_json::to_value(&item).map_err(|e| e.to_string())?;
        if pod_owner(&pod) != Some((key.kind.clone(), key.name.clone())) {
            continue;
        }
        if !canary && string_map(&pod, "/metadata/labels").contains_key(CANARY_LABEL) {
            continue;
        }
        let state = pod_state(&pod, ns_labels);
        if state.deleting {
            continue;
        }
        out.pods += 1;
        let name = text(&pod, "/metadata/name").unwrap_or_default();
        let restarts: i64 = pod
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
            .sum();
        if state.appmesh {
            out.appmesh += 1;
            out.problems.push(format!(
                "AMI4106 pod {name} still carries App Mesh's Envoy: its namespace still selects App Mesh's injector \
                 ({APPMESH_INJECT} label) or its pod template says {APPMESH_INJECT}: enabled; run `kubectl appmesh2istio label` \
                 or remove that annotation, then run rollout again"
            ));
        } else if !state.istio {
            out.problems.push(if ambient(ns_labels) {
                format!("pod {name} is not captured by ambient mode (no ambient.istio.io/redirection: enabled)")
            } else {
                format!("pod {name} has no istio-proxy: Istio's injector did not inject it (is istiod's webhook running?)")
            });
        } else if !state.ready {
            out.problems.push(format!("pod {name} is not Ready"));
        } else if restarts > 0 {
            out.problems
                .push(format!("pod {name} restarted {restarts} time(s)"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployments_follow_kubectl_rollout_status() {
        let d = |generation: i64, status: Value| json!({"kind": "Deployment", "metadata": {"generation": generation}, "spec": {"replicas": 2}, "status": status});
        assert!(matches!(
            rollout_status(&d(2, json!({"observedGeneration": 1}))),
            Progress::Waiting(_)
        ));
        assert_eq!(
            rollout_status(&d(
                2,
                json!({"observedGeneration": 2, "updatedReplicas": 1})
            )),
            Progress::Waiting("1 of 2 new replicas updated".into())
        );
        assert_eq!(
            rollout_status(&d(
                2,
                json!({"observedGeneration": 2, "updatedReplicas": 2, "replicas": 3})
            )),
            Progress::Waiting("1 old replicas pending termination".into())
        );
        assert_eq!(
            rollout_status(&d(
                2,
                json!({"observedGeneration": 2, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 1})
            )),
            Progress::Waiting("1 of 2 updated replicas available".into())
        );
        assert_eq!(
            rollout_status(&d(
                2,
                json!({"observedGeneration": 2, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 2})
            )),
            Progress::Done
        );
        let stuck = d(
            2,
            json!({"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
        );
        assert!(matches!(rollout_status(&stuck), Progress::Failed(_)));
    }

    #[test]
    fn statefulsets_and_daemonsets() {
        let sts = json!({"kind": "StatefulSet", "metadata": {"generation": 3},
            "spec": {"replicas": 3, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}},
            "status": {"observedGeneration": 3, "readyReplicas": 3, "updatedReplicas": 1, "updateRevision": "b", "currentRevision": "a"}});
        assert_eq!(
            rollout_status(&sts),
            Progress::Done,
            "partitioned rollout complete"
        );
        let mut whole = sts.clone();
        whole["spec"]["updateStrategy"] = json!({"type": "RollingUpdate"});
        assert!(matches!(rollout_status(&whole), Progress::Waiting(_)));
        whole["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
        assert!(matches!(rollout_status(&whole), Progress::Failed(_)));
        let ds = json!({"kind": "DaemonSet", "metadata": {"generation": 1}, "spec": {},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 1}});
        assert!(matches!(rollout_status(&ds), Progress::Waiting(_)));
    }

    #[test]
    fn selectors_become_label_selector_strings() {
        let w = json!({"spec": {"selector": {"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}, {"key": "x", "operator": "DoesNotExist"}]}}});
        assert_eq!(selector_string(&w), "app=web,tier in (a,b),!x");
        assert_eq!(humanize(Duration::from_secs(150)), "2m30s");
    }
}
