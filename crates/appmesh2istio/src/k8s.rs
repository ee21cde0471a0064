//! The few Kubernetes objects App Mesh semantics depend on, reduced to what resolution reads:
//! Namespaces (labels decide mesh membership and gateway-route attachment), Services (the
//! hostnames VirtualNodes and VirtualServices use) and workloads' pod templates (what the
//! VirtualNode/VirtualGateway pod selectors select, and whether App Mesh's sidecar is there).
//!
//! These are read leniently from JSON: they only help resolution, and a field of the wrong type
//! in, say, a Deployment must not stop a migration. Wrongly typed fields read as absent.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Serialize;
use serde_json::Value;

use crate::origin::ObjectRef;

/// Name of the container App Mesh's injector adds (and that VirtualGateway pods must carry).
pub const ENVOY_CONTAINER: &str = "envoy";
/// Name of the init container that sets up App Mesh's iptables redirection.
pub const PROXYINIT_CONTAINER: &str = "proxyinit";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Namespace {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl Namespace {
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::new("Namespace", None, &self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub port: i64,
    /// A number or a named container port, kept as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_port: Option<String>,
    /// `TCP` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// None = selector-less Service (endpoints managed elsewhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<BTreeMap<String, String>>,
    pub ports: Vec<ServicePort>,
    /// `ClusterIP` when absent.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_name: Option<String>,
}

impl Service {
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::new("Service", Some(&self.namespace), &self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Pod,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::Pod => "Pod",
        }
    }

    /// Workload kinds are recognised in the core (`v1` Pod) and `apps` groups only.
    pub fn from_api(api_version: &str, kind: &str) -> Option<WorkloadKind> {
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        match (group, kind) {
            ("", "Pod") => Some(WorkloadKind::Pod),
            ("apps", "Deployment") => Some(WorkloadKind::Deployment),
            ("apps", "StatefulSet") => Some(WorkloadKind::StatefulSet),
            ("apps", "DaemonSet") => Some(WorkloadKind::DaemonSet),
            ("apps", "ReplicaSet") => Some(WorkloadKind::ReplicaSet),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `securityContext.runAsUser` of the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    /// `ports[].containerPort`.
    pub ports: Vec<i64>,
    /// `command` then `args`, as written: how controllers next to the mesh (Flagger's
    /// `-mesh-provider`, the App Mesh controller's tracing flags) are configured.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// `env[]` entries with a literal `value` (never `valueFrom`: Secret data is not read).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// A workload and its pod template (for a Pod, the pod itself).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Workload {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    /// The workload object's own labels.
    pub labels: BTreeMap<String, String>,
    /// `spec.selector` (absent for Pods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Labels of the pods it creates: what VirtualNode/VirtualGateway pod selectors match.
    pub pod_labels: BTreeMap<String, String>,
    pub pod_annotations: BTreeMap<String, String>,
    pub containers: Vec<Container>,
    pub init_containers: Vec<Container>,
    pub host_network: bool,
    /// Pod-level `securityContext.runAsUser`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
}

impl Workload {
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::new(self.kind.as_str(), Some(&self.namespace), &self.name)
    }

    /// Whether the pod template already carries App Mesh's Envoy (e.g. read back from a cluster,
    /// or a VirtualGateway deployment, which brings its own `envoy` container).
    pub fn has_envoy(&self) -> bool {
        self.containers.iter().any(|c| c.name == ENVOY_CONTAINER)
    }

    /// Whether the pod template carries App Mesh's iptables init container.
    pub fn has_proxyinit(&self) -> bool {
        self.init_containers
            .iter()
            .any(|c| c.name == PROXYINIT_CONTAINER)
    }
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn int_at(value: &Value, pointer: &str) -> Option<i64> {
    value.pointer(pointer).and_then(Value::as_i64)
}

/// A string map; scalar values that YAML typed (`version: 1`) are read as their text, since the
/// map only serves label matching.
fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    let Some(Value::Object(map)) = value else {
        return BTreeMap::new();
    };
    map.iter()
        .filter_map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((k.clone(), text))
        })
        .collect()
}

/// Read a Namespace (cluster-scoped) from its JSON form; None without a name.
pub fn namespace_from_value(value: &Value) -> Option<Namespace> {
    Some(Namespace {
        name: str_at(value, "/metadata/name")?.to_owned(),
        labels: string_map(value.pointer("/metadata/labels")),
        annotations: string_map(value.pointer("/metadata/annotations")),
    })
}

/// Read a Service; `default_namespace` applies when `metadata.namespace` is absent.
pub fn service_from_value(value: &Value, default_namespace: &str) -> Option<Service> {
    let ports = value
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| {
                    Some(ServicePort {
                        name: str_at(p, "/name").map(str::to_owned),
                        port: int_at(p, "/port")?,
                        target_port: match p.get("targetPort") {
                            Some(Value::String(s)) => Some(s.clone()),
                            Some(Value::Number(n)) => Some(n.to_string()),
                            _ => None,
                        },
                        protocol: str_at(p, "/protocol").map(str::to_owned),
                        app_protocol: str_at(p, "/appProtocol").map(str::to_owned),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Service {
        namespace: str_at(value, "/metadata/namespace")
            .unwrap_or(default_namespace)
            .to_owned(),
        name: str_at(value, "/metadata/name")?.to_owned(),
        labels: string_map(value.pointer("/metadata/labels")),
        selector: match value.pointer("/spec/selector") {
            Some(v @ Value::Object(_)) => Some(string_map(Some(v))),
            _ => None,
        },
        ports,
        type_: str_at(value, "/spec/type").map(str::to_owned),
        cluster_ip: str_at(value, "/spec/clusterIP").map(str::to_owned),
        external_name: str_at(value, "/spec/externalName").map(str::to_owned),
    })
}

fn containers(value: Option<&Value>) -> Vec<Container> {
    let Some(Value::Array(items)) = value else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|c| {
            Some(Container {
                name: str_at(c, "/name")?.to_owned(),
                image: str_at(c, "/image").map(str::to_owned),
                run_as_user: int_at(c, "/securityContext/runAsUser"),
                ports: c
                    .get("ports")
                    .and_then(Value::as_array)
                    .map(|ps| {
                        ps.iter()
                            .filter_map(|p| int_at(p, "/containerPort"))
                            .collect()
                    })
                    .unwrap_or_default(),
                args: ["command", "args"]
                    .iter()
                    .filter_map(|key| c.get(*key).and_then(Value::as_array))
                    .flatten()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect(),
                env: c
                    .get("env")
                    .and_then(Value::as_array)
                    .map(|vars| {
                        vars.iter()
                            .filter_map(|v| {
                                Some((
                                    str_at(v, "/name")?.to_owned(),
                                    str_at(v, "/value")?.to_owned(),
                                ))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Read a workload of `kind`; `default_namespace` applies when `metadata.namespace` is absent.
pub fn workload_from_value(
    kind: WorkloadKind,
    value: &Value,
    default_namespace: &str,
) -> Option<Workload> {
    // A Pod is its own template; the others carry one at spec.template.
    let (pod_meta, pod_spec) = match kind {
        WorkloadKind::Pod => (value.get("metadata"), value.get("spec")),
        _ => (
            value.pointer("/spec/template/metadata"),
            value.pointer("/spec/template/spec"),
        ),
    };
    let selector = match kind {
        WorkloadKind::Pod => None,
        _ => value
            .pointer("/spec/selector")
            .and_then(|s| serde_json::from_value::<LabelSelector>(s.clone()).ok()),
    };
    Some(Workload {
        kind,
        namespace: str_at(value, "/metadata/namespace")
            .unwrap_or(default_namespace)
            .to_owned(),
        name: str_at(value, "/metadata/name")?.to_owned(),
        labels: string_map(value.pointer("/metadata/labels")),
        selector,
        pod_labels: string_map(pod_meta.and_then(|m| m.get("labels"))),
        pod_annotations: string_map(pod_meta.and_then(|m| m.get("annotations"))),
        containers: containers(pod_spec.and_then(|s| s.get("containers"))),
        init_containers: containers(pod_spec.and_then(|s| s.get("initContainers"))),
        host_network: pod_spec
            .and_then(|s| s.get("hostNetwork"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        run_as_user: pod_spec.and_then(|s| int_at(s, "/securityContext/runAsUser")),
    })
}

/// Whether `name` is a DNS-1123 label: lower-case alphanumerics and `-`, starting and ending
/// alphanumeric, at most 63 characters.
pub fn is_dns1123_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// Whether `name` is a DNS-1123 subdomain (the rule for most Kubernetes object names).
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253 && !name.is_empty() && name.split('.').all(is_dns1123_label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_pod_template_is_read() {
        let value = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web", "version": 2},
                                 "annotations": {"appmesh.k8s.aws/ports": "8080"}},
                    "spec": {
                        "hostNetwork": true,
                        "securityContext": {"runAsUser": 1000},
                        "initContainers": [{"name": "proxyinit"}],
                        "containers": [
                            {"name": "app", "image": "web:1", "ports": [{"containerPort": 8080}]},
                            {"name": "envoy", "securityContext": {"runAsUser": 1337}}
                        ]
                    }
                }
            }
        });
        let kind = WorkloadKind::from_api("apps/v1", "Deployment").unwrap();
        let w = workload_from_value(kind, &value, "dflt").unwrap();
        assert_eq!(w.namespace, "dflt");
        assert_eq!(w.pod_labels.get("version").map(String::as_str), Some("2"));
        assert_eq!(w.pod_annotations["appmesh.k8s.aws/ports"], "8080");
        assert!(w.host_network && w.has_envoy() && w.has_proxyinit());
        assert_eq!(w.run_as_user, Some(1000));
        assert_eq!(w.containers[0].ports, vec![8080]);
        assert_eq!(w.containers[1].run_as_user, Some(1337));
        assert_eq!(
            w.selector
                .unwrap()
                .match_labels
                .unwrap()
                .get("app")
                .map(String::as_str),
            Some("web")
        );
    }

    #[test]
    fn pod_is_its_own_template() {
        let value = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "p"}},
            "spec": {"containers": [{"name": "c"}]}});
        let w = workload_from_value(WorkloadKind::Pod, &value, "default").unwrap();
        assert_eq!(w.pod_labels, w.labels);
        assert!(!w.has_envoy() && !w.host_network);
        assert_eq!(WorkloadKind::from_api("v1", "Deployment"), None);
    }

    #[test]
    fn service_ports_and_selector() {
        let value = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "s", "namespace": "ns"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": "web", "appProtocol": "http"},
                               {"port": 9090, "targetPort": 9091, "protocol": "TCP"}]}});
        let s = service_from_value(&value, "default").unwrap();
        assert_eq!(s.selector, None);
        assert_eq!(s.ports.len(), 2);
        assert_eq!(s.ports[0].target_port.as_deref(), Some("web"));
        assert_eq!(s.ports[0].app_protocol.as_deref(), Some("http"));
        assert_eq!(s.ports[1].target_port.as_deref(), Some("9091"));
    }
}
