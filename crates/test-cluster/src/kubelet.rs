//! A kubelet stand-in. There is no scheduler and no kubelet, so without it
//! pods stay Pending and no rollout ever finishes. It binds every unscheduled
//! pod to one fake Node, then (after a delay) patches `pods/status` the way a
//! kubelet would: Running, Ready, with container statuses. Chosen pods can be
//! kept un-ready, crash-looping or Pending to make rollouts fail. It also
//! completes graceful deletions (the kubelet's job), so old ReplicaSets drain.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::{Timestamp, Unit};
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::{Value, json};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// The fake Node every pod is bound to.
pub const NODE_NAME: &str = "test-cluster-node";

/// Pod annotation (usually set in a pod template) choosing the behaviour:
/// `ready`, `unready`, `crashloop` or `pending`. Wins over rules.
pub const BEHAVIOUR_ANNOTATION: &str = "test-cluster.appmesh2istio.io/kubelet";

/// Pod annotation: milliseconds between binding and reporting the pod started.
pub const START_DELAY_ANNOTATION: &str = "test-cluster.appmesh2istio.io/kubelet-start-delay-ms";

const DEFAULT_START_DELAY: Duration = Duration::from_millis(200);

/// What the stand-in reports for a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodBehaviour {
    /// Running; all containers started and ready.
    Ready,
    /// Running, but containers never pass their readiness probe.
    Unready,
    /// The first container keeps crashing (`CrashLoopBackOff`, restarts > 0).
    CrashLoop,
    /// Bound to the node but never started (stuck in `ContainerCreating`).
    Pending,
}

impl PodBehaviour {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "ready" => Some(Self::Ready),
            "unready" | "not-ready" => Some(Self::Unready),
            "crashloop" | "crashloopbackoff" => Some(Self::CrashLoop),
            "pending" => Some(Self::Pending),
            _ => None,
        }
    }
}

/// Pods in `namespace` whose labels include all of `labels` get `behaviour`
/// (after `start_delay`, if given). Later rules win over earlier ones.
#[derive(Clone, Debug)]
pub struct PodRule {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub behaviour: PodBehaviour,
    pub start_delay: Option<Duration>,
}

impl PodRule {
    pub fn new(namespace: &str, labels: &[(&str, &str)], behaviour: PodBehaviour) -> Self {
        Self {
            namespace: namespace.to_owned(),
            labels: labels
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            behaviour,
            start_delay: None,
        }
    }

    #[must_use]
    pub fn with_start_delay(mut self, delay: Duration) -> Self {
        self.start_delay = Some(delay);
        self
    }

    fn matches(&self, pod: &Pod) -> bool {
        if pod.metadata.namespace.as_deref() != Some(self.namespace.as_str()) {
            return false;
        }
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        self.labels
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
    }
}

/// Identifies a rule for [`Kubelet::remove_rule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleId(u64);

struct State {
    rules: Mutex<Vec<(RuleId, PodRule)>>,
    next_rule: AtomicU64,
    started: Mutex<HashSet<String>>,
    deleting: Mutex<HashSet<String>>,
    next_ip: AtomicU32,
    client: kube::Client,
    handle: Handle,
}

pub struct Kubelet {
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Kubelet {
    pub(crate) async fn start(handle: &Handle, client: kube::Client) -> Result<Self> {
        create_node(&client).await?;
        let state = Arc::new(State {
            rules: Mutex::new(Vec::new()),
            next_rule: AtomicU64::new(1),
            started: Mutex::new(HashSet::new()),
            deleting: Mutex::new(HashSet::new()),
            next_ip: AtomicU32::new(0),
            client,
            handle: handle.clone(),
        });
        let task = handle.spawn(run(state.clone()));
        Ok(Self { state, task })
    }

    pub fn node_name(&self) -> &'static str {
        NODE_NAME
    }

    pub fn add_rule(&self, rule: PodRule) -> RuleId {
        let id = RuleId(self.state.next_rule.fetch_add(1, Ordering::Relaxed));
        lock(&self.state.rules).push((id, rule));
        id
    }

    pub fn remove_rule(&self, id: RuleId) {
        lock(&self.state.rules).retain(|(rule_id, _)| *rule_id != id);
    }

    /// Re-reports an already running pod with a new behaviour (e.g. it starts
    /// crash-looping), blocking until the status is written.
    pub fn set_pod_behaviour(
        &self,
        namespace: &str,
        name: &str,
        behaviour: PodBehaviour,
    ) -> Result<()> {
        let state = self.state.clone();
        let namespace = namespace.to_owned();
        let name = name.to_owned();
        let (sender, receiver) = std::sync::mpsc::channel();
        self.state.handle.spawn(async move {
            let result = async {
                let api: Api<Pod> = Api::namespaced(state.client.clone(), &namespace);
                let pod = api
                    .get(&name)
                    .await
                    .with_context(|| format!("reading pod {namespace}/{name}"))?;
                report_status(&state, &pod, behaviour).await
            }
            .await;
            let _ = sender.send(result);
        });
        receiver
            .recv()
            .map_err(|_| anyhow!("the kubelet stand-in stopped"))?
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn create_node(client: &kube::Client) -> Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let node = Node {
        metadata: ObjectMeta {
            name: Some(NODE_NAME.to_owned()),
            labels: Some(BTreeMap::from([
                ("kubernetes.io/hostname".to_owned(), NODE_NAME.to_owned()),
                ("kubernetes.io/os".to_owned(), "linux".to_owned()),
                ("kubernetes.io/arch".to_owned(), go_arch().to_owned()),
            ])),
            ..ObjectMeta::default()
        },
        ..Node::default()
    };
    match api.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(error) => return Err(anyhow::Error::new(error).context("creating the fake Node")),
    }
    let now = now();
    let condition = |kind: &str, status: &str, reason: &str| {
        json!({
            "type": kind, "status": status, "reason": reason,
            "lastHeartbeatTime": now, "lastTransitionTime": now
        })
    };
    let capacity =
        json!({"cpu": "64", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "500Gi"});
    let status = json!({
        "status": {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID"),
                condition("Ready", "True", "KubeletReady"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": "10.240.0.10"},
                {"type": "Hostname", "address": NODE_NAME}
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "test-cluster", "systemUUID": "test-cluster", "bootID": "test-cluster",
                "kernelVersion": "6.1.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.6.20", "kubeletVersion": "v1.20.2",
                "kubeProxyVersion": "v1.20.2", "operatingSystem": "linux", "architecture": go_arch()
            }
        }
    });
    api.patch_status(NODE_NAME, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .context("marking the fake Node Ready")?;
    // The TaintNodesByCondition admission plugin taints new Nodes not-ready;
    // the node lifecycle controller (disabled here: it would evict our pods
    // for lack of kubelet heartbeats) would lift it once Ready. DaemonSets
    // do not tolerate it.
    api.patch(
        NODE_NAME,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"taints": null}})),
    )
    .await
    .context("removing the not-ready taint from the fake Node")?;
    Ok(())
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

async fn run(state: Arc<State>) {
    let api: Api<Pod> = Api::all(state.client.clone());
    let mut events = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Apply(pod) | Event::InitApply(pod)) => handle_pod(&state, pod),
            Ok(Event::Delete(pod)) => {
                if let Some(uid) = pod.metadata.uid {
                    lock(&state.started).remove(&uid);
                    lock(&state.deleting).remove(&uid);
                }
            }
            Ok(Event::Init | Event::InitDone) => {}
            Err(_) => {} // the backoff retries; the apiserver may be stopping
        }
    }
}

fn handle_pod(state: &Arc<State>, pod: Pod) {
    let Some(uid) = pod.metadata.uid.clone() else {
        return;
    };
    let node = pod.spec.as_ref().and_then(|spec| spec.node_name.clone());
    let ours = node.as_deref() == Some(NODE_NAME);
    if pod.metadata.deletion_timestamp.is_some() {
        if ours && lock(&state.deleting).insert(uid.clone()) {
            state.handle.spawn(finish_deletion(state.clone(), pod));
        }
        return;
    }
    if node.is_some() && !ours {
        return;
    }
    let phase = pod
        .status
        .as_ref()
        .and_then(|status| status.phase.clone())
        .unwrap_or_default();
    if ours && phase != "Pending" && !phase.is_empty() {
        return;
    }
    if !lock(&state.started).insert(uid) {
        return;
    }
    state.handle.spawn(start_pod(state.clone(), pod, !ours));
}

async fn start_pod(state: Arc<State>, pod: Pod, bind: bool) {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(state.client.clone(), &namespace);
    if bind {
        let binding = json!({
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "uid": pod.metadata.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": NODE_NAME}
        });
        let bound: kube::Result<Value> = api
            .create_subresource("binding", &name, &PostParams::default(), &binding)
            .await;
        if bound.is_err() {
            // Deleted meanwhile, or bound by someone else: let the next event decide.
            if let Some(uid) = &pod.metadata.uid {
                lock(&state.started).remove(uid);
            }
            return;
        }
    }
    let (behaviour, delay) = decide(&state, &pod);
    if behaviour == PodBehaviour::Pending {
        return;
    }
    tokio::time::sleep(delay).await;
    let _ = report_status(&state, &pod, behaviour).await;
}

fn decide(state: &State, pod: &Pod) -> (PodBehaviour, Duration) {
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();
    let rule = lock(&state.rules)
        .iter()
        .rev()
        .find(|(_, rule)| rule.matches(pod))
        .map(|(_, rule)| rule.clone());
    let behaviour = annotations
        .get(BEHAVIOUR_ANNOTATION)
        .and_then(|text| PodBehaviour::parse(text))
        .or(rule.as_ref().map(|rule| rule.behaviour))
        .unwrap_or(PodBehaviour::Ready);
    let delay = annotations
        .get(START_DELAY_ANNOTATION)
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
        .or(rule.and_then(|rule| rule.start_delay))
        .unwrap_or(DEFAULT_START_DELAY);
    (behaviour, delay)
}

async fn report_status(state: &State, pod: &Pod, behaviour: PodBehaviour) -> Result<()> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(state.client.clone(), &namespace);
    let number = state.next_ip.fetch_add(1, Ordering::Relaxed);
    let ip = format!("10.244.{}.{}", (number / 250) % 250, number % 250 + 2);
    let status = pod_status(pod, behaviour, &ip);
    api.patch_status(
        &name,
        &PatchParams::default(),
        &Patch::Merge(&json!({ "status": status })),
    )
    .await
    .with_context(|| format!("patching status of pod {namespace}/{name}"))?;
    Ok(())
}

/// The status a kubelet would report for `behaviour`.
fn pod_status(pod: &Pod, behaviour: PodBehaviour, ip: &str) -> Value {
    let now = now();
    let spec = pod.spec.clone().unwrap_or_default();
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let all_ready = behaviour == PodBehaviour::Ready;
    let container_id = |name: &str| {
        format!(
            "containerd://{:0>64}",
            hex_digest(&format!("{pod_name}/{name}"))
        )
    };
    let image_id = |image: &str| format!("{image}@sha256:{:0>64}", hex_digest(image));
    let container_statuses: Vec<Value> = spec
        .containers
        .iter()
        .enumerate()
        .map(|(index, container)| {
            let image = container.image.clone().unwrap_or_default();
            let crashing = behaviour == PodBehaviour::CrashLoop && index == 0;
            let mut status = json!({
                "name": container.name,
                "image": image,
                "imageID": image_id(&image),
                "containerID": container_id(&container.name),
                "ready": all_ready,
                "started": !crashing,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            });
            if crashing {
                status["restartCount"] = json!(3);
                status["state"] = json!({"waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": format!("back-off 40s restarting failed container={} pod={pod_name}", container.name)
                }});
                status["lastState"] = json!({"terminated": {
                    "exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now,
                    "containerID": container_id(&container.name)
                }});
            } else if behaviour == PodBehaviour::CrashLoop {
                // The other containers run; the pod is still not ready.
                status["ready"] = json!(false);
            }
            status
        })
        .collect();
    let init_statuses: Vec<Value> = spec
        .init_containers
        .unwrap_or_default()
        .iter()
        .map(|container| {
            let image = container.image.clone().unwrap_or_default();
            json!({
                "name": container.name,
                "image": image,
                "imageID": image_id(&image),
                "containerID": container_id(&container.name),
                "ready": true,
                "restartCount": 0,
                "state": {"terminated": {
                    "exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now,
                    "containerID": container_id(&container.name)
                }},
            })
        })
        .collect();
    let ready_text = if all_ready { "True" } else { "False" };
    let mut ready_condition = json!({"type": "Ready", "status": ready_text, "lastProbeTime": null, "lastTransitionTime": now});
    let mut containers_ready = json!({"type": "ContainersReady", "status": ready_text, "lastProbeTime": null, "lastTransitionTime": now});
    if !all_ready {
        let not_ready: Vec<String> = spec
            .containers
            .iter()
            .map(|container| container.name.clone())
            .collect();
        let message = format!("containers with unready status: [{}]", not_ready.join(" "));
        for condition in [&mut ready_condition, &mut containers_ready] {
            condition["reason"] = json!("ContainersNotReady");
            condition["message"] = json!(message);
        }
    }
    json!({
        "phase": "Running",
        "hostIP": "10.240.0.10",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": now,
        "conditions": [
            {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": now},
            ready_condition,
            containers_ready,
            {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now},
        ],
        "containerStatuses": container_statuses,
        "initContainerStatuses": init_statuses,
    })
}

async fn finish_deletion(state: Arc<State>, pod: Pod) {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(state.client.clone(), &namespace);
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: pod.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let _ = api.delete(&name, &params).await;
}

fn now() -> String {
    Timestamp::now()
        .round(Unit::Second)
        .map_or_else(|_| Timestamp::now().to_string(), |time| time.to_string())
}

/// A stable pseudo digest (FNV-1a, hex) so IDs look like a runtime's.
fn hex_digest(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}
