//! What the App Mesh and Istio injectors add to a pod, as pure functions on the
//! pod's JSON (`../shared/reference/appmesh-crds.md` §10 and Istio 1.30's
//! injection template). The webhook server in `injectors` decides *whether* to
//! inject; the apiserver itself evaluates the namespace and object selectors.

use serde_json::{Map, Value, json};

pub const APPMESH_INJECT_ANNOTATION: &str = "appmesh.k8s.aws/sidecarInjectorWebhook";
pub const APPMESH_ENVOY_IMAGE: &str = "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.34.13.3-prod";
pub const APPMESH_PROXYINIT_IMAGE: &str =
    "840364872350.dkr.ecr.us-west-2.amazonaws.com/aws-appmesh-proxy-route-manager:v7-prod";
pub const ISTIO_PROXY_IMAGE: &str = "docker.io/istio/proxyv2:1.30.3";
pub const ISTIO_STATUS_ANNOTATION: &str = "sidecar.istio.io/status";

/// Who the App Mesh injector found the pod to belong to.
pub enum AppMeshMember {
    VirtualNode {
        mesh: String,
        aws_name: String,
        listener_ports: Vec<i64>,
    },
    VirtualGateway {
        mesh: String,
        aws_name: String,
    },
}

fn annotations(pod: &Value) -> Map<String, Value> {
    pod.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn annotation(pod: &Value, key: &str) -> Option<String> {
    annotations(pod)
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn array_at(pod: &Value, pointer: &str) -> Vec<Value> {
    pod.pointer(pointer)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn has_named(items: &[Value], name: &str) -> bool {
    items
        .iter()
        .any(|item| item.get("name").and_then(Value::as_str) == Some(name))
}

fn env(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

/// The App Mesh pod annotation, lower-cased: `enabled`, `disabled` or `None`.
pub fn appmesh_pod_choice(pod: &Value) -> Option<String> {
    annotation(pod, APPMESH_INJECT_ANNOTATION).map(|value| value.trim().to_ascii_lowercase())
}

/// The pod after the App Mesh injector: `proxyinit` + `envoy` for a
/// VirtualNode member; for a VirtualGateway member, its own `envoy` container
/// gets the App Mesh environment (and image) instead.
pub fn inject_appmesh(pod: &Value, member: &AppMeshMember) -> Value {
    let mut pod = pod.clone();
    let resources = {
        let get =
            |key: &str, default: &str| annotation(&pod, key).unwrap_or_else(|| default.to_owned());
        let mut resources = json!({"requests": {
            "cpu": get("appmesh.k8s.aws/cpuRequest", "10m"),
            "memory": get("appmesh.k8s.aws/memoryRequest", "32Mi"),
        }});
        let mut limits = Map::new();
        if let Some(cpu) = annotation(&pod, "appmesh.k8s.aws/cpuLimit") {
            limits.insert("cpu".into(), json!(cpu));
        }
        if let Some(memory) = annotation(&pod, "appmesh.k8s.aws/memoryLimit") {
            limits.insert("memory".into(), json!(memory));
        }
        if !limits.is_empty() {
            resources["limits"] = Value::Object(limits);
        }
        resources
    };
    let (mesh, resource_kind, aws_name) = match member {
        AppMeshMember::VirtualNode { mesh, aws_name, .. } => (mesh, "virtualNode", aws_name),
        AppMeshMember::VirtualGateway { mesh, aws_name } => (mesh, "virtualGateway", aws_name),
    };
    let resource_arn = format!("mesh/{mesh}/{resource_kind}/{aws_name}");
    let envoy_env = vec![
        env("APPMESH_RESOURCE_ARN", &resource_arn),
        env("APPMESH_VIRTUAL_NODE_NAME", &resource_arn),
        env("AWS_REGION", "us-west-2"),
        env("ENVOY_LOG_LEVEL", "info"),
        env("ENVOY_ADMIN_ACCESS_PORT", "9901"),
        env("ENVOY_ADMIN_ACCESS_LOG_FILE", "/tmp/envoy_admin_access.log"),
        env(
            "APPMESH_PREVIEW",
            if annotation(&pod, "appmesh.k8s.aws/preview").as_deref() == Some("enabled") {
                "1"
            } else {
                "0"
            },
        ),
        env("APPMESH_DUALSTACK_ENDPOINT", "0"),
        env("APPMESH_FIPS_ENDPOINT", "0"),
        env("APPMESH_PLATFORM_K8S_VERSION", "v1.20.2"),
        env("APPMESH_PLATFORM_APP_MESH_CONTROLLER_VERSION", "v1.13.3"),
        env("APPNET_AGENT_ADMIN_MODE", "uds"),
    ];
    let readiness_probe = json!({
        "exec": {"command": ["sh", "-c", "curl -s http://localhost:9901/server_info | grep state | grep -q LIVE"]},
        "initialDelaySeconds": 1, "periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3
    });
    let mut containers = array_at(&pod, "/spec/containers");
    match member {
        AppMeshMember::VirtualNode { listener_ports, .. } => {
            let cni = annotation(&pod, "appmesh.k8s.aws/appmeshCNI").as_deref() == Some("enabled");
            let mut init_containers = array_at(&pod, "/spec/initContainers");
            if !cni && !has_named(&init_containers, "proxyinit") {
                let ports = annotation(&pod, "appmesh.k8s.aws/ports").unwrap_or_else(|| {
                    listener_ports
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                });
                let ipv6 =
                    if annotation(&pod, "appmesh.k8s.aws/ipv6").as_deref() == Some("disabled") {
                        "0"
                    } else {
                        "1"
                    };
                init_containers.push(json!({
                    "name": "proxyinit",
                    "image": APPMESH_PROXYINIT_IMAGE,
                    "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}},
                    "env": [
                        env("APPMESH_START_ENABLED", "1"),
                        env("APPMESH_IGNORE_UID", "1337"),
                        env("APPMESH_ENVOY_INGRESS_PORT", "15000"),
                        env("APPMESH_ENVOY_EGRESS_PORT", "15001"),
                        env("APPMESH_APP_PORTS", &ports),
                        env("APPMESH_EGRESS_IGNORED_IP", &annotation(&pod, "appmesh.k8s.aws/egressIgnoredIPs").unwrap_or_else(|| "169.254.169.254".to_owned())),
                        env("APPMESH_EGRESS_IGNORED_PORTS", &annotation(&pod, "appmesh.k8s.aws/egressIgnoredPorts").unwrap_or_else(|| "22".to_owned())),
                        env("APPMESH_ENABLE_IPV6", ipv6),
                    ],
                    "resources": resources,
                }));
                pod["spec"]["initContainers"] = Value::Array(init_containers);
            }
            if !has_named(&containers, "envoy") {
                let mut mounts = Vec::new();
                let mut volumes = array_at(&pod, "/spec/volumes");
                for (secret, path) in secret_mounts(&pod) {
                    if !has_named(&volumes, &secret) {
                        volumes.push(json!({"name": secret, "secret": {"secretName": secret}}));
                    }
                    mounts.push(json!({"name": secret, "mountPath": path, "readOnly": true}));
                }
                if !mounts.is_empty() {
                    pod["spec"]["volumes"] = Value::Array(volumes);
                }
                containers.push(json!({
                    "volumeMounts": mounts,
                    "name": "envoy",
                    "image": APPMESH_ENVOY_IMAGE,
                    "securityContext": {"runAsUser": 1337},
                    "ports": [{"containerPort": 9901, "name": "stats", "protocol": "TCP"}],
                    "env": envoy_env,
                    "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "sleep 20"]}}},
                    "readinessProbe": readiness_probe,
                    "resources": resources,
                }));
            }
        }
        AppMeshMember::VirtualGateway { .. } => {
            let keep_image = annotation(&pod, "appmesh.k8s.aws/virtualGatewaySkipImageOverride")
                .as_deref()
                == Some("enabled");
            for container in &mut containers {
                if container.get("name").and_then(Value::as_str) != Some("envoy") {
                    continue;
                }
                let mut merged = container
                    .get("env")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for variable in &envoy_env {
                    let name = variable.get("name").cloned();
                    merged.retain(|existing| existing.get("name") != name.as_ref());
                    merged.push(variable.clone());
                }
                container["env"] = Value::Array(merged);
                if container.get("readinessProbe").is_none() {
                    container["readinessProbe"] = readiness_probe.clone();
                }
                if !keep_image {
                    container["image"] = json!(APPMESH_ENVOY_IMAGE);
                }
            }
        }
    }
    pod["spec"]["containers"] = Value::Array(containers);
    if pod.pointer("/spec/securityContext/fsGroup").is_none() {
        let mut context = pod
            .pointer("/spec/securityContext")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        context["fsGroup"] = json!(1337);
        pod["spec"]["securityContext"] = context;
    }
    pod
}

/// `appmesh.k8s.aws/secretMounts: "name:/path,..."` as (secret, path) pairs.
fn secret_mounts(pod: &Value) -> Vec<(String, String)> {
    annotation(pod, "appmesh.k8s.aws/secretMounts")
        .unwrap_or_default()
        .split(',')
        .filter_map(|entry| {
            let (secret, path) = entry.trim().split_once(':')?;
            (!secret.is_empty() && !path.is_empty()).then(|| (secret.to_owned(), path.to_owned()))
        })
        .collect()
}

/// Whether Istio's injector itself (not the webhook selectors) skips the pod.
pub fn istio_skips(pod: &Value) -> bool {
    let annotations = annotations(pod);
    annotations.contains_key(ISTIO_STATUS_ANNOTATION)
        || annotations
            .get("sidecar.istio.io/inject")
            .and_then(Value::as_str)
            .is_some_and(|value| value.eq_ignore_ascii_case("false"))
        || pod.pointer("/spec/hostNetwork").and_then(Value::as_bool) == Some(true)
}

/// The pod after Istio's injector (revision `revision`): `istio-init`,
/// `istio-proxy`, Istio's volumes, labels and annotations, honouring the
/// common `sidecar.istio.io/*` and `traffic.sidecar.istio.io/*` annotations.
pub fn inject_istio(pod: &Value, namespace: &str, revision: &str) -> Value {
    let mut pod = pod.clone();
    let get =
        |key: &str, default: &str| annotation(&pod, key).unwrap_or_else(|| default.to_owned());
    let app_containers = array_at(&pod, "/spec/containers");
    let app_names: Vec<String> = app_containers
        .iter()
        .filter_map(|container| {
            container
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    let pod_ports: Vec<Value> = app_containers
        .iter()
        .flat_map(|container| {
            container
                .get("ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let labels = pod
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let label = |key: &str| labels.get(key).and_then(Value::as_str).map(str::to_owned);
    let workload = label("app.kubernetes.io/name")
        .or_else(|| label("app"))
        .or_else(|| {
            pod.pointer("/metadata/generateName")
                .and_then(Value::as_str)
                .map(|name| name.trim_end_matches('-').to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let canonical_name =
        label("service.istio.io/canonical-name").unwrap_or_else(|| workload.clone());
    let canonical_revision = label("service.istio.io/canonical-revision")
        .or_else(|| label("app.kubernetes.io/version"))
        .or_else(|| label("version"))
        .unwrap_or_else(|| "latest".to_owned());
    let istiod = if revision == "default" {
        "istiod".to_owned()
    } else {
        format!("istiod-{revision}")
    };
    let field =
        |path: &str| json!({"valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}});
    let field_env = |name: &str, path: &str| {
        let mut value = field(path);
        value["name"] = json!(name);
        value
    };
    let resources = json!({
        "requests": {"cpu": get("sidecar.istio.io/proxyCPU", "100m"), "memory": get("sidecar.istio.io/proxyMemory", "128Mi")},
        "limits": {"cpu": get("sidecar.istio.io/proxyCPULimit", "2000m"), "memory": get("sidecar.istio.io/proxyMemoryLimit", "1024Mi")},
    });
    let mut exclude_inbound = get("traffic.sidecar.istio.io/excludeInboundPorts", "");
    exclude_inbound = [exclude_inbound.as_str(), "15090,15021,15020"]
        .iter()
        .filter(|part| !part.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(",");
    let mut init_args = vec![
        "istio-iptables".to_owned(),
        "-p".into(),
        "15001".into(),
        "-z".into(),
        "15006".into(),
        "-u".into(),
        "1337".into(),
        "-m".into(),
        get("sidecar.istio.io/interceptionMode", "REDIRECT"),
        "-i".into(),
        get("traffic.sidecar.istio.io/includeOutboundIPRanges", "*"),
        "-x".into(),
        get("traffic.sidecar.istio.io/excludeOutboundIPRanges", ""),
        "-b".into(),
        get("traffic.sidecar.istio.io/includeInboundPorts", "*"),
        "-d".into(),
        exclude_inbound,
    ];
    if let Some(ports) = annotation(&pod, "traffic.sidecar.istio.io/excludeOutboundPorts") {
        init_args.extend(["-o".to_owned(), ports]);
    }
    init_args.push("--log_output_level=default:info".into());
    let init_container = json!({
        "name": "istio-init",
        "image": ISTIO_PROXY_IMAGE,
        "args": init_args,
        "resources": resources,
        "securityContext": {
            "allowPrivilegeEscalation": false, "privileged": false, "readOnlyRootFilesystem": false,
            "runAsGroup": 0, "runAsNonRoot": false, "runAsUser": 0,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]}
        }
    });
    let proxy_config = get("proxy.istio.io/config", "");
    let hold_application = proxy_config.contains("holdApplicationUntilProxyStarts: true")
        || proxy_config.contains("\"holdApplicationUntilProxyStarts\":true");
    let mut proxy = json!({
        "name": "istio-proxy",
        "image": ISTIO_PROXY_IMAGE,
        "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
                 "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"],
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "env": [
            env("PILOT_CERT_PROVIDER", "istiod"),
            env("CA_ADDR", &format!("{istiod}.istio-system.svc:15012")),
            field_env("POD_NAME", "metadata.name"),
            field_env("POD_NAMESPACE", "metadata.namespace"),
            field_env("INSTANCE_IP", "status.podIP"),
            field_env("SERVICE_ACCOUNT", "spec.serviceAccountName"),
            field_env("HOST_IP", "status.hostIP"),
            env("ISTIO_CPU_LIMIT", "0"),
            env("PROXY_CONFIG", if proxy_config.is_empty() { "{}" } else { &proxy_config }),
            env("ISTIO_META_POD_PORTS", &Value::Array(pod_ports).to_string()),
            env("ISTIO_META_APP_CONTAINERS", &app_names.join(",")),
            env("ISTIO_META_CLUSTER_ID", "Kubernetes"),
            field_env("ISTIO_META_NODE_NAME", "spec.nodeName"),
            env("ISTIO_META_INTERCEPTION_MODE", &get("sidecar.istio.io/interceptionMode", "REDIRECT")),
            env("ISTIO_META_WORKLOAD_NAME", &workload),
            env("ISTIO_META_OWNER", &format!("kubernetes://apis/apps/v1/namespaces/{namespace}/deployments/{workload}")),
            env("ISTIO_META_MESH_ID", "cluster.local"),
            env("TRUST_DOMAIN", "cluster.local"),
        ],
        "readinessProbe": {
            "httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
            "failureThreshold": 4, "periodSeconds": 15, "timeoutSeconds": 3, "successThreshold": 1
        },
        "resources": resources,
        "securityContext": {
            "allowPrivilegeEscalation": false, "privileged": false, "readOnlyRootFilesystem": true,
            "runAsGroup": 1337, "runAsNonRoot": true, "runAsUser": 1337,
            "capabilities": {"drop": ["ALL"]}
        },
        "volumeMounts": [
            {"mountPath": "/var/run/secrets/workload-spiffe-uds", "name": "workload-socket"},
            {"mountPath": "/var/run/secrets/credential-uds", "name": "credential-socket"},
            {"mountPath": "/var/run/secrets/workload-spiffe-credentials", "name": "workload-certs"},
            {"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"},
            {"mountPath": "/var/lib/istio/data", "name": "istio-data"},
            {"mountPath": "/etc/istio/proxy", "name": "istio-envoy"},
            {"mountPath": "/var/run/secrets/tokens", "name": "istio-token"},
            {"mountPath": "/etc/istio/pod", "name": "istio-podinfo"}
        ]
    });
    let mut containers = app_containers;
    if hold_application {
        proxy["lifecycle"] = json!({"postStart": {"exec": {"command": ["pilot-agent", "wait"]}}});
        containers.insert(0, proxy);
    } else {
        containers.push(proxy);
    }
    let mut init_containers = array_at(&pod, "/spec/initContainers");
    init_containers.push(init_container);
    let volume_names = [
        "workload-socket",
        "credential-socket",
        "workload-certs",
        "istio-envoy",
        "istio-data",
        "istio-podinfo",
        "istio-token",
        "istiod-ca-cert",
    ];
    let mut volumes = array_at(&pod, "/spec/volumes");
    volumes.extend([
        json!({"name": "workload-socket", "emptyDir": {}}),
        json!({"name": "credential-socket", "emptyDir": {}}),
        json!({"name": "workload-certs", "emptyDir": {}}),
        json!({"name": "istio-envoy", "emptyDir": {"medium": "Memory"}}),
        json!({"name": "istio-data", "emptyDir": {}}),
        json!({"name": "istio-podinfo", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}
        ]}}),
        json!({"name": "istio-token", "projected": {"sources": [
            {"serviceAccountToken": {"audience": "istio-ca", "expirationSeconds": 43200, "path": "istio-token"}}
        ]}}),
        json!({"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert"}}),
    ]);
    pod["spec"]["containers"] = Value::Array(containers);
    pod["spec"]["initContainers"] = Value::Array(init_containers);
    pod["spec"]["volumes"] = Value::Array(volumes);

    let status = json!({
        "initContainers": ["istio-init"],
        "containers": ["istio-proxy"],
        "volumes": volume_names,
        "imagePullSecrets": null,
        "revision": revision,
    });
    let mut new_annotations = annotations(&pod);
    new_annotations.insert(ISTIO_STATUS_ANNOTATION.into(), json!(status.to_string()));
    new_annotations.insert("istio.io/rev".into(), json!(revision));
    if let Some(first) = app_names.first() {
        new_annotations.insert(
            "kubectl.kubernetes.io/default-container".into(),
            json!(first),
        );
        new_annotations.insert(
            "kubectl.kubernetes.io/default-logs-container".into(),
            json!(first),
        );
    }
    new_annotations.insert("prometheus.io/path".into(), json!("/stats/prometheus"));
    new_annotations.insert("prometheus.io/port".into(), json!("15020"));
    new_annotations.insert("prometheus.io/scrape".into(), json!("true"));
    pod["metadata"]["annotations"] = Value::Object(new_annotations);
    let mut new_labels = labels.clone();
    new_labels.insert("security.istio.io/tlsMode".into(), json!("istio"));
    new_labels.insert(
        "service.istio.io/canonical-name".into(),
        json!(canonical_name),
    );
    new_labels.insert(
        "service.istio.io/canonical-revision".into(),
        json!(canonical_revision),
    );
    pod["metadata"]["labels"] = Value::Object(new_labels);
    pod
}

/// JSON-patch operations turning `before` into `after`, one whole-value `add`
/// per changed top-level pod field (an `add` replaces an existing member).
pub fn patch_operations(before: &Value, after: &Value) -> Vec<Value> {
    const FIELDS: [&str; 6] = [
        "/metadata/labels",
        "/metadata/annotations",
        "/spec/initContainers",
        "/spec/containers",
        "/spec/volumes",
        "/spec/securityContext",
    ];
    let mut operations = Vec::new();
    for pointer in FIELDS {
        let old = before.pointer(pointer);
        let new = after.pointer(pointer);
        if new.is_some() && old != new {
            operations.push(json!({"op": "add", "path": pointer, "value": new}));
        }
    }
    operations
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn pod() -> Value {
        json!({
            "metadata": {"generateName": "web-7d9f-", "labels": {"app": "web", "version": "v2"}},
            "spec": {"containers": [{"name": "web", "image": "web:1", "ports": [{"containerPort": 8080}]}]}
        })
    }

    fn names(pod: &Value, pointer: &str) -> Vec<String> {
        array_at(pod, pointer)
            .iter()
            .filter_map(|item| item.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect()
    }

    #[test]
    fn appmesh_virtual_node_member_gets_proxyinit_and_envoy() {
        let member = AppMeshMember::VirtualNode {
            mesh: "shop".into(),
            aws_name: "web_shop-frontend".into(),
            listener_ports: vec![8080, 9090],
        };
        let injected = inject_appmesh(&pod(), &member);
        assert_eq!(names(&injected, "/spec/containers"), ["web", "envoy"]);
        assert_eq!(names(&injected, "/spec/initContainers"), ["proxyinit"]);
        let envoy = &injected["spec"]["containers"][1];
        assert!(envoy["env"].as_array().unwrap().contains(&env(
            "APPMESH_RESOURCE_ARN",
            "mesh/shop/virtualNode/web_shop-frontend"
        )));
        let init_env = injected["spec"]["initContainers"][0]["env"]
            .as_array()
            .unwrap();
        assert!(init_env.contains(&env("APPMESH_APP_PORTS", "8080,9090")));
        assert_eq!(injected["spec"]["securityContext"]["fsGroup"], 1337);
        // Injecting twice adds nothing (the injector skips existing containers).
        let twice = inject_appmesh(&injected, &member);
        assert_eq!(names(&twice, "/spec/containers"), ["web", "envoy"]);
    }

    #[test]
    fn appmesh_virtual_gateway_member_mutates_its_own_envoy() {
        let mut gateway = pod();
        gateway["spec"]["containers"][0]["name"] = json!("envoy");
        let member = AppMeshMember::VirtualGateway {
            mesh: "shop".into(),
            aws_name: "ingress_shop-gw".into(),
        };
        let injected = inject_appmesh(&gateway, &member);
        assert_eq!(names(&injected, "/spec/containers"), ["envoy"]);
        assert!(names(&injected, "/spec/initContainers").is_empty());
        assert_eq!(
            injected["spec"]["containers"][0]["image"],
            APPMESH_ENVOY_IMAGE
        );
    }

    #[test]
    fn istio_adds_proxy_init_and_honours_annotations() {
        let mut annotated = pod();
        annotated["metadata"]["annotations"] = json!({
            "sidecar.istio.io/proxyCPU": "250m",
            "traffic.sidecar.istio.io/excludeOutboundPorts": "22"
        });
        let injected = inject_istio(&annotated, "shop", "default");
        assert_eq!(names(&injected, "/spec/containers"), ["web", "istio-proxy"]);
        assert_eq!(names(&injected, "/spec/initContainers"), ["istio-init"]);
        assert_eq!(
            injected["spec"]["containers"][1]["resources"]["requests"]["cpu"],
            "250m"
        );
        let args = injected["spec"]["initContainers"][0]["args"]
            .as_array()
            .unwrap();
        let o = args.iter().position(|arg| arg == "-o").unwrap();
        assert_eq!(args[o + 1], "22");
        assert_eq!(
            injected["metadata"]["labels"]["security.istio.io/tlsMode"],
            "istio"
        );
        assert_eq!(
            injected["metadata"]["labels"]["service.istio.io/canonical-revision"],
            "v2"
        );
        assert!(
            istio_skips(&injected),
            "an injected pod is not injected again"
        );
    }

    #[test]
    fn patch_replaces_only_changed_fields() {
        let before = pod();
        let after = inject_istio(&before, "shop", "canary");
        let operations = patch_operations(&before, &after);
        let paths: Vec<&str> = operations
            .iter()
            .filter_map(|op| op["path"].as_str())
            .collect();
        assert_eq!(
            paths,
            [
                "/metadata/labels",
                "/metadata/annotations",
                "/spec/initContainers",
                "/spec/containers",
                "/spec/volumes"
            ]
        );
    }
}
