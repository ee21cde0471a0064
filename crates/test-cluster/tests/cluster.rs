//! Issue 3: the real test cluster. Every test here talks to the real
//! kube-apiserver shared by this test binary, each in its own namespace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use http::Method;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use test_cluster::{Fault, FaultRule, PodBehaviour, PodRule, TestCluster, cluster_or_skip, rule};

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn dynamic(
    client: &kube::Client,
    namespace: Option<&str>,
    resource: &ApiResource,
) -> Api<DynamicObject> {
    match namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, resource),
        None => Api::all_with(client.clone(), resource),
    }
}

fn object(value: Value) -> DynamicObject {
    serde_json::from_value(value).unwrap()
}

/// Every leaf of `sent` is present and equal in `stored` (the server may add
/// defaulted fields, but must not drop or change what we sent).
fn assert_contains(stored: &Value, sent: &Value, path: &str) {
    match sent {
        Value::Object(map) => {
            for (key, value) in map {
                let child = stored
                    .get(key)
                    .unwrap_or_else(|| panic!("{path}.{key} was dropped; stored: {stored}"));
                assert_contains(child, value, &format!("{path}.{key}"));
            }
        }
        _ => assert_eq!(stored, sent, "{path} changed"),
    }
}

async fn eventually<F, Fut, T>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn container_names(pod: &Pod, init: bool) -> Vec<String> {
    let spec = pod.spec.clone().unwrap_or_default();
    let containers = if init {
        spec.init_containers.unwrap_or_default()
    } else {
        spec.containers
    };
    containers
        .into_iter()
        .map(|container| container.name)
        .collect()
}

/// A Mesh selecting namespaces labelled `mesh=<name>`.
async fn create_mesh(client: &kube::Client, name: &str) {
    let meshes = dynamic(
        client,
        None,
        &resource("appmesh.k8s.aws", "v1beta2", "Mesh", "meshes"),
    );
    meshes
        .create(
            &PostParams::default(),
            &object(json!({
                "apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "Mesh",
                "metadata": {"name": name},
                "spec": {"namespaceSelector": {"matchLabels": {"mesh": name}}, "egressFilter": {"type": "ALLOW_ALL"}}
            })),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn crd_round_trip_of_every_appmesh_kind() {
    let Some(cluster) = cluster_or_skip("crd_round_trip_of_every_appmesh_kind") else {
        return;
    };
    let mesh = cluster.unique_name("roundtrip-mesh");
    let namespace = cluster
        .fresh_namespace_with_labels("appmesh-kinds", &[("mesh", &mesh), ("gateway", &mesh)])
        .unwrap();
    let client = cluster.client().unwrap();
    create_mesh(&client, &mesh).await;

    let kinds: Vec<(&str, &str, Value)> = vec![
        (
            "VirtualNode",
            "virtualnodes",
            json!({
                "podSelector": {"matchLabels": {"app": "orders"}},
                "listeners": [{"portMapping": {"port": 8080, "protocol": "http"},
                               "tls": {"mode": "STRICT", "certificate": {"file": {"certificateChain": "/c.pem", "privateKey": "/k.pem"}}}}],
                "serviceDiscovery": {"dns": {"hostname": "orders.example.svc.cluster.local"}},
                "backends": [{"virtualService": {"virtualServiceRef": {"name": "payments"}}}]
            }),
        ),
        (
            "VirtualRouter",
            "virtualrouters",
            json!({
                "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                "routes": [{"name": "canary", "httpRoute": {
                    "match": {"prefix": "/"},
                    "action": {"weightedTargets": [{"virtualNodeRef": {"name": "orders"}, "weight": 90},
                                                   {"virtualNodeRef": {"name": "orders-v2"}, "weight": 10}]},
                    "retryPolicy": {"maxRetries": 2, "perRetryTimeout": {"unit": "ms", "value": 500}, "httpRetryEvents": ["server-error"]}
                }}]
            }),
        ),
        (
            "VirtualService",
            "virtualservices",
            json!({
                "awsName": "orders.example.svc.cluster.local",
                "provider": {"virtualRouter": {"virtualRouterRef": {"name": "orders-router"}}}
            }),
        ),
        (
            "VirtualGateway",
            "virtualgateways",
            json!({
                "namespaceSelector": {"matchLabels": {"gateway": mesh}},
                "podSelector": {"matchLabels": {"app": "gw"}},
                "listeners": [{"portMapping": {"port": 8088, "protocol": "http"}}]
            }),
        ),
        (
            "GatewayRoute",
            "gatewayroutes",
            json!({
                "httpRoute": {"match": {"prefix": "/orders"},
                              "action": {"target": {"virtualService": {"virtualServiceRef": {"name": "orders"}}}}}
            }),
        ),
        (
            "BackendGroup",
            "backendgroups",
            json!({
                "virtualservices": [{"name": "orders"}]
            }),
        ),
    ];
    for (kind, plural, spec) in kinds {
        let api = dynamic(
            &client,
            Some(&namespace),
            &resource("appmesh.k8s.aws", "v1beta2", kind, plural),
        );
        let name = format!("rt-{}", kind.to_ascii_lowercase());
        api.create(
            &PostParams::default(),
            &object(
                json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": kind,
                           "metadata": {"name": name, "namespace": namespace}, "spec": spec}),
            ),
        )
        .await
        .unwrap_or_else(|error| panic!("creating {kind}: {error}"));
        let stored = serde_json::to_value(api.get(&name).await.unwrap()).unwrap();
        assert_contains(&stored["spec"], &spec, kind);
        // The App Mesh controller's defaulting webhook assigned the mesh.
        assert_eq!(
            stored["spec"]["meshRef"]["name"],
            json!(mesh),
            "{kind} meshRef"
        );
        if kind == "GatewayRoute" {
            assert_eq!(
                stored["spec"]["virtualGatewayRef"]["name"],
                "rt-virtualgateway"
            );
            assert_eq!(
                stored["spec"]["awsName"],
                json!(format!("{name}_{namespace}"))
            );
        }
    }
    let meshes = dynamic(
        &client,
        None,
        &resource("appmesh.k8s.aws", "v1beta2", "Mesh", "meshes"),
    );
    let stored_mesh = serde_json::to_value(meshes.get(&mesh).await.unwrap()).unwrap();
    assert_eq!(stored_mesh["spec"]["egressFilter"]["type"], "ALLOW_ALL");
    assert_eq!(
        stored_mesh["spec"]["awsName"],
        json!(mesh),
        "Mesh awsName defaulted to its name"
    );

    // Structural schema: a wrong type is rejected by the apiserver itself.
    let routers = dynamic(
        &client,
        Some(&namespace),
        &resource(
            "appmesh.k8s.aws",
            "v1beta2",
            "VirtualRouter",
            "virtualrouters",
        ),
    );
    let invalid = routers
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualRouter",
                           "metadata": {"name": "bad-router"},
                           "spec": {"listeners": [{"portMapping": {"port": "eighty", "protocol": "http"}}]}})),
        )
        .await;
    match invalid {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 422, "{status:?}"),
        other => panic!("an invalid port must be rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn crd_round_trip_of_every_istio_kind_we_emit() {
    let Some(cluster) = cluster_or_skip("crd_round_trip_of_every_istio_kind_we_emit") else {
        return;
    };
    let namespace = cluster.fresh_namespace("istio-kinds").unwrap();
    let client = cluster.client().unwrap();
    let host = format!("catalog.{namespace}.svc.cluster.local");
    let kinds: Vec<(&str, &str, &str, Value)> = vec![
        (
            "networking.istio.io",
            "VirtualService",
            "virtualservices",
            json!({
                "hosts": [host],
                "http": [{"name": "beta", "match": [{"uri": {"prefix": "/"}, "headers": {"x-shop-beta": {"exact": "true"}}}],
                          "route": [{"destination": {"host": host, "subset": "v2", "port": {"number": 8080}}, "weight": 100}],
                          "timeout": "5s",
                          "retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,gateway-error,connect-failure"}}]
            }),
        ),
        (
            "networking.istio.io",
            "DestinationRule",
            "destinationrules",
            json!({
                "host": host,
                "trafficPolicy": {"connectionPool": {"http": {"http1MaxPendingRequests": 256}},
                                  "outlierDetection": {"consecutive5xxErrors": 5, "interval": "10s", "baseEjectionTime": "30s", "maxEjectionPercent": 50},
                                  "tls": {"mode": "ISTIO_MUTUAL"}},
                "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]
            }),
        ),
        (
            "networking.istio.io",
            "Gateway",
            "gateways",
            json!({
                "selector": {"istio": "ingressgateway"},
                "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]
            }),
        ),
        (
            "networking.istio.io",
            "ServiceEntry",
            "serviceentries",
            json!({
                "hosts": ["api.payments.example.com"], "location": "MESH_EXTERNAL",
                "ports": [{"number": 443, "name": "https", "protocol": "TLS"}], "resolution": "DNS"
            }),
        ),
        (
            "networking.istio.io",
            "Sidecar",
            "sidecars",
            json!({
                "egress": [{"hosts": ["./*", "istio-system/*"]}],
                "outboundTrafficPolicy": {"mode": "ALLOW_ANY"}
            }),
        ),
        (
            "security.istio.io",
            "PeerAuthentication",
            "peerauthentications",
            json!({
                "selector": {"matchLabels": {"app": "payments"}}, "mtls": {"mode": "STRICT"}
            }),
        ),
        (
            "security.istio.io",
            "AuthorizationPolicy",
            "authorizationpolicies",
            json!({
                "selector": {"matchLabels": {"app": "payments"}}, "action": "ALLOW",
                "rules": [{"from": [{"source": {"principals": [format!("cluster.local/ns/{namespace}/sa/ledger")]}}],
                           "to": [{"operation": {"methods": ["POST"], "paths": ["/charge"]}}]}]
            }),
        ),
        (
            "telemetry.istio.io",
            "Telemetry",
            "telemetries",
            json!({
                "accessLogging": [{"providers": [{"name": "envoy"}]}]
            }),
        ),
    ];
    for (group, kind, plural, spec) in kinds {
        let api = dynamic(
            &client,
            Some(&namespace),
            &resource(group, "v1", kind, plural),
        );
        let name = format!("rt-{}", kind.to_ascii_lowercase());
        let mut sent = spec.clone();
        // Structural pruning: an unknown field inside spec must disappear.
        sent["notAnIstioField"] = json!("pruned");
        api.create(
            &PostParams::default(),
            &object(json!({"apiVersion": format!("{group}/v1"), "kind": kind,
                           "metadata": {"name": name, "namespace": namespace}, "spec": sent})),
        )
        .await
        .unwrap_or_else(|error| panic!("creating {kind}: {error}"));
        let stored = serde_json::to_value(api.get(&name).await.unwrap()).unwrap();
        assert_eq!(stored["spec"], spec, "{kind} did not round-trip unchanged");
    }
    // Enum validation from the CRD schema.
    let peer = dynamic(
        &client,
        Some(&namespace),
        &resource(
            "security.istio.io",
            "v1",
            "PeerAuthentication",
            "peerauthentications",
        ),
    );
    let invalid = peer
        .create(
            &PostParams::default(),
            &object(
                json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                           "metadata": {"name": "bad"}, "spec": {"mtls": {"mode": "SOMETIMES"}}}),
            ),
        )
        .await;
    match invalid {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422);
            assert!(status.message.contains("SOMETIMES"), "{}", status.message);
        }
        other => panic!("an invalid mTLS mode must be rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn stale_update_is_a_409_conflict() {
    let Some(cluster) = cluster_or_skip("stale_update_is_a_409_conflict") else {
        return;
    };
    let namespace = cluster.fresh_namespace("conflict").unwrap();
    let client = cluster.client().unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let mut first = ConfigMap::default();
    first.metadata.name = Some("settings".into());
    first.data = Some(BTreeMap::from([("mode".into(), "a".into())]));
    api.create(&PostParams::default(), &first).await.unwrap();

    let mut mine = api.get("settings").await.unwrap();
    let mut theirs = api.get("settings").await.unwrap();
    theirs.data = Some(BTreeMap::from([("mode".into(), "theirs".into())]));
    api.replace("settings", &PostParams::default(), &theirs)
        .await
        .unwrap();
    mine.data = Some(BTreeMap::from([("mode".into(), "mine".into())]));
    match api.replace("settings", &PostParams::default(), &mine).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 409);
            assert_eq!(status.reason, "Conflict");
        }
        other => panic!("a stale resourceVersion must conflict, got {other:?}"),
    }
    let now = api.get("settings").await.unwrap();
    assert_eq!(
        now.data.unwrap()["mode"],
        "theirs",
        "the stale write must not have landed"
    );

    // Same on a custom resource, and for server-side apply field ownership.
    let vs = dynamic(
        &client,
        Some(&namespace),
        &resource(
            "networking.istio.io",
            "v1",
            "VirtualService",
            "virtualservices",
        ),
    );
    let manifest = json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                          "metadata": {"name": "web"}, "spec": {"hosts": ["web"], "http": [{"route": [{"destination": {"host": "web"}}]}]}});
    vs.patch(
        "web",
        &PatchParams::apply("owner-a"),
        &Patch::Apply(&manifest),
    )
    .await
    .unwrap();
    let mut changed = manifest.clone();
    changed["spec"]["hosts"] = json!(["web-b"]);
    match vs
        .patch(
            "web",
            &PatchParams::apply("owner-b"),
            &Patch::Apply(&changed),
        )
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 409, "{status:?}"),
        other => {
            panic!("server-side apply over another manager's field must conflict, got {other:?}")
        }
    }
}

async fn wait_rollout(api: &Api<Deployment>, name: &str, replicas: i32) -> Deployment {
    eventually(
        "the Deployment to be Available",
        Duration::from_secs(60),
        || async {
            let deployment = api.get(name).await.ok()?;
            let status = deployment.status.clone()?;
            let generation = deployment.metadata.generation.unwrap_or_default();
            (status.observed_generation.unwrap_or_default() >= generation
                && status.updated_replicas == Some(replicas)
                && status.available_replicas == Some(replicas)
                && status.replicas == Some(replicas))
            .then_some(deployment)
        },
    )
    .await
}

fn deployment(name: &str, replicas: i32, annotations: Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations},
                "spec": {"containers": [{"name": "app", "image": "registry.example.com/app:1"}]}
            }
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn deployment_rolls_out_through_the_controller_manager_and_kubelet_stand_in() {
    let Some(cluster) =
        cluster_or_skip("deployment_rolls_out_through_the_controller_manager_and_kubelet_stand_in")
    else {
        return;
    };
    let namespace = cluster.fresh_namespace("rollout").unwrap();
    let client = cluster.client().unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    deployments
        .create(&PostParams::default(), &deployment("web", 3, json!({})))
        .await
        .unwrap();
    wait_rollout(&deployments, "web", 3).await;
    let running = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(running.items.len(), 3);
    for pod in &running.items {
        let spec = pod.spec.clone().unwrap();
        assert_eq!(
            spec.node_name.as_deref(),
            Some(cluster.kubelet().unwrap().node_name())
        );
        let status = pod.status.clone().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert!(
            status
                .container_statuses
                .unwrap()
                .iter()
                .all(|container| container.ready)
        );
    }
    let old_hashes: Vec<String> = running
        .items
        .iter()
        .map(|pod| pod.metadata.labels.clone().unwrap()["pod-template-hash"].clone())
        .collect();

    // kubectl's own rollout machinery against the real controllers.
    let restart = cluster
        .kubectl()
        .args(["-n", &namespace, "rollout", "restart", "deployment/web"])
        .output()
        .unwrap();
    assert!(
        restart.status.success(),
        "{}",
        String::from_utf8_lossy(&restart.stderr)
    );
    let status = cluster
        .kubectl()
        .args([
            "-n",
            &namespace,
            "rollout",
            "status",
            "deployment/web",
            "--timeout=60s",
        ])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(String::from_utf8_lossy(&status.stdout).contains("successfully rolled out"));
    let after = eventually("old pods to be gone", Duration::from_secs(30), || async {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .ok()?;
        (list.items.len() == 3).then_some(list)
    })
    .await;
    for pod in &after.items {
        let hash = &pod.metadata.labels.clone().unwrap()["pod-template-hash"];
        assert!(
            !old_hashes.contains(hash),
            "pod {:?} is from the old ReplicaSet",
            pod.metadata.name
        );
    }
}

#[tokio::test]
async fn unready_and_crash_looping_pods_make_rollouts_fail() {
    let Some(cluster) = cluster_or_skip("unready_and_crash_looping_pods_make_rollouts_fail") else {
        return;
    };
    let namespace = cluster.fresh_namespace("failed-rollout").unwrap();
    let client = cluster.client().unwrap();
    let kubelet = cluster.kubelet().unwrap();
    let rule_id = kubelet.add_rule(PodRule::new(
        &namespace,
        &[("app", "stuck")],
        PodBehaviour::Unready,
    ));
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    deployments
        .create(&PostParams::default(), &deployment("stuck", 2, json!({})))
        .await
        .unwrap();
    deployments
        .create(
            &PostParams::default(),
            &deployment(
                "crashing",
                1,
                json!({"test-cluster.appmesh2istio.io/kubelet": "crashloop"}),
            ),
        )
        .await
        .unwrap();
    let status = cluster
        .kubectl()
        .args([
            "-n",
            &namespace,
            "rollout",
            "status",
            "deployment/stuck",
            "--timeout=4s",
        ])
        .output()
        .unwrap();
    assert!(
        !status.status.success(),
        "an unready rollout must not finish"
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let crashing = eventually("a crash-looping pod", Duration::from_secs(30), || async {
        let list = pods
            .list(&ListParams::default().labels("app=crashing"))
            .await
            .ok()?;
        let pod = list.items.into_iter().next()?;
        let statuses = pod.status.clone()?.container_statuses?;
        let waiting = statuses.first()?.state.clone()?.waiting?;
        Some((waiting.reason?, statuses[0].restart_count))
    })
    .await;
    assert_eq!(crashing.0, "CrashLoopBackOff");
    assert!(crashing.1 > 0);
    let stuck = deployments.get("stuck").await.unwrap().status.unwrap();
    assert_eq!(stuck.available_replicas.unwrap_or(0), 0);
    assert_eq!(stuck.replicas, Some(2));

    // Once the pods become ready, the same rollout completes.
    kubelet.remove_rule(rule_id);
    for pod in pods
        .list(&ListParams::default().labels("app=stuck"))
        .await
        .unwrap()
        .items
    {
        kubelet
            .set_pod_behaviour(
                &namespace,
                pod.metadata.name.as_deref().unwrap(),
                PodBehaviour::Ready,
            )
            .unwrap();
    }
    wait_rollout(&deployments, "stuck", 2).await;
}

#[tokio::test]
async fn pod_gets_envoy_in_appmesh_namespace_and_istio_proxy_after_relabel() {
    let Some(cluster) =
        cluster_or_skip("pod_gets_envoy_in_appmesh_namespace_and_istio_proxy_after_relabel")
    else {
        return;
    };
    let mesh = cluster.unique_name("inject-mesh");
    let namespace = cluster
        .fresh_namespace_with_labels(
            "inject",
            &[
                ("mesh", &mesh),
                ("appmesh.k8s.aws/sidecarInjectorWebhook", "enabled"),
            ],
        )
        .unwrap();
    let client = cluster.client().unwrap();
    create_mesh(&client, &mesh).await;
    let nodes = dynamic(
        &client,
        Some(&namespace),
        &resource("appmesh.k8s.aws", "v1beta2", "VirtualNode", "virtualnodes"),
    );
    nodes
        .create(
            &PostParams::default(),
            &object(json!({"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode",
                           "metadata": {"name": "orders-v1"},
                           "spec": {"podSelector": {"matchLabels": {"app": "orders"}},
                                    "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                                    "serviceDiscovery": {"dns": {"hostname": "orders"}}}})),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let pod = |name: &str, labels: Value, annotations: Value| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels, "annotations": annotations},
            "spec": {"containers": [{"name": "orders", "image": "registry.example.com/orders:1",
                                     "ports": [{"containerPort": 8080}]}]}
        }))
        .unwrap()
    };
    let created = pods
        .create(
            &PostParams::default(),
            &pod("orders", json!({"app": "orders"}), json!({})),
        )
        .await
        .unwrap();
    assert_eq!(container_names(&created, false), ["orders", "envoy"]);
    assert_eq!(container_names(&created, true), ["proxyinit"]);
    let envoy_env =
        serde_json::to_value(&created.spec.as_ref().unwrap().containers[1].env).unwrap();
    assert!(
        envoy_env
            .to_string()
            .contains(&format!("mesh/{mesh}/virtualNode/orders-v1_{namespace}")),
        "{envoy_env}"
    );
    // The pod annotation that disables App Mesh injection is honoured.
    let opted_out = pods
        .create(
            &PostParams::default(),
            &pod(
                "orders-plain",
                json!({"app": "orders"}),
                json!({"appmesh.k8s.aws/sidecarInjectorWebhook": "disabled"}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(container_names(&opted_out, false), ["orders"]);

    // Migrate the namespace: drop the App Mesh label, enable Istio, recreate.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            &namespace,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {
                "appmesh.k8s.aws/sidecarInjectorWebhook": null, "istio-injection": "enabled"}}})),
        )
        .await
        .unwrap();
    pods.delete("orders", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "the old pod to be deleted",
        Duration::from_secs(30),
        || async {
            pods.get_opt("orders")
                .await
                .ok()
                .and_then(|found| found.is_none().then_some(()))
        },
    )
    .await;
    let recreated = pods
        .create(
            &PostParams::default(),
            &pod("orders", json!({"app": "orders"}), json!({})),
        )
        .await
        .unwrap();
    assert_eq!(
        container_names(&recreated, false),
        ["orders", "istio-proxy"]
    );
    assert_eq!(container_names(&recreated, true), ["istio-init"]);
    let labels = recreated.metadata.labels.clone().unwrap();
    assert_eq!(labels["security.istio.io/tlsMode"], "istio");
    // Istio's own object selector: the pod label opts out.
    let no_sidecar = pods
        .create(
            &PostParams::default(),
            &pod(
                "orders-no-istio",
                json!({"app": "orders", "sidecar.istio.io/inject": "false"}),
                json!({}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(container_names(&no_sidecar, false), ["orders"]);
    // The kubelet stand-in runs the injected pod.
    eventually(
        "the injected pod to be Ready",
        Duration::from_secs(30),
        || async {
            let pod = pods.get("orders").await.ok()?;
            let statuses = pod.status?.container_statuses?;
            (statuses.len() == 2 && statuses.iter().all(|status| status.ready)).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn istio_revision_label_selects_the_revision_injector() {
    let Some(cluster) = cluster_or_skip("istio_revision_label_selects_the_revision_injector")
    else {
        return;
    };
    cluster
        .injectors()
        .unwrap()
        .register_istio_revision("1-30-3")
        .unwrap();
    let revisioned = cluster
        .fresh_namespace_with_labels("rev", &[("istio.io/rev", "1-30-3")])
        .unwrap();
    let plain = cluster.fresh_namespace("no-injection").unwrap();
    let client = cluster.client().unwrap();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "registry.example.com/web:1"}]}
    }))
    .unwrap();
    let injected = Api::<Pod>::namespaced(client.clone(), &revisioned)
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
    assert_eq!(container_names(&injected, false), ["web", "istio-proxy"]);
    let status = &injected.metadata.annotations.clone().unwrap()["sidecar.istio.io/status"];
    assert!(status.contains("\"revision\":\"1-30-3\""), "{status}");
    let untouched = Api::<Pod>::namespaced(client.clone(), &plain)
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
    assert_eq!(container_names(&untouched, false), ["web"]);
    assert!(container_names(&untouched, true).is_empty());
}

#[tokio::test]
async fn fault_proxy_fails_chosen_requests() {
    let Some(cluster) = cluster_or_skip("fault_proxy_fails_chosen_requests") else {
        return;
    };
    let namespace = cluster.fresh_namespace("faults").unwrap();
    let proxy = cluster.start_fault_proxy().unwrap();
    let api: Api<ConfigMap> = Api::namespaced(proxy.client().unwrap(), &namespace);
    let path = format!("/api/v1/namespaces/{namespace}/configmaps");

    let mut map = ConfigMap::default();
    map.metadata.name = Some("a".into());
    api.create(&PostParams::default(), &map).await.unwrap();
    let object_path = format!("{path}/a");
    let statuses_of = |method: Method| {
        proxy
            .requests()
            .into_iter()
            .filter(|request| request.method == method && request.uri == object_path)
            .map(|request| request.status)
            .collect::<Vec<_>>()
    };

    // kube 5 clients retry 503 by default (as our binaries' clients will):
    // one injected 503 is invisible to the caller but shows in the journal.
    proxy.add_rule(
        FaultRule::new(Fault::Status(503))
            .method(Method::GET)
            .path_contains(&object_path),
    );
    assert_eq!(
        api.get("a").await.unwrap().metadata.name.as_deref(),
        Some("a")
    );
    assert_eq!(statuses_of(Method::GET), [Some(503), Some(200)]);

    // A 500 is not retried: the caller sees the Status the proxy made up.
    proxy.clear_journal();
    proxy.add_rule(
        FaultRule::new(Fault::Status(500))
            .method(Method::GET)
            .path_contains(&object_path),
    );
    match api.get("a").await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 500);
            assert_eq!(status.reason, "InternalError");
            assert!(status.message.contains("fault proxy"), "{}", status.message);
        }
        other => panic!("the GET must fail with 500, got {other:?}"),
    }
    assert_eq!(statuses_of(Method::GET), [Some(500)]);

    // 429 with Retry-After: the client waits as told, then succeeds.
    proxy.clear_journal();
    proxy.add_rule(
        FaultRule::new(Fault::TooManyRequests {
            retry_after_seconds: 1,
        })
        .method(Method::GET)
        .path_contains(&object_path),
    );
    let started = Instant::now();
    api.get("a").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!(statuses_of(Method::GET), [Some(429), Some(200)]);

    // An injected 409 on an update.
    proxy.add_rule(
        FaultRule::new(Fault::Status(409))
            .method(Method::PUT)
            .path_contains(&object_path),
    );
    let current = api.get("a").await.unwrap();
    match api.replace("a", &PostParams::default(), &current).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"))
        }
        other => panic!("the PUT must fail with 409, got {other:?}"),
    }

    // A reply lost after the apiserver applied the write: the client sees an
    // error although the object exists.
    proxy.add_rule(
        FaultRule::new(Fault::DropAfterForwarding)
            .method(Method::POST)
            .path_contains(&path),
    );
    let mut lost = ConfigMap::default();
    lost.metadata.name = Some("b".into());
    assert!(
        api.create(&PostParams::default(), &lost).await.is_err(),
        "the reply was dropped"
    );
    let direct: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), &namespace);
    assert!(
        direct.get_opt("b").await.unwrap().is_some(),
        "the write reached the apiserver"
    );

    // A connection dropped before forwarding: nothing reaches the apiserver.
    proxy.add_rule(
        FaultRule::new(Fault::DropConnection)
            .method(Method::POST)
            .path_contains(&path),
    );
    let mut dropped = ConfigMap::default();
    dropped.metadata.name = Some("c".into());
    assert!(api.create(&PostParams::default(), &dropped).await.is_err());
    assert!(
        direct.get_opt("c").await.unwrap().is_none(),
        "the write must not have happened"
    );

    // Slow responses.
    proxy.add_rule(
        FaultRule::new(Fault::Delay(Duration::from_millis(800)))
            .method(Method::GET)
            .path_contains("/configmaps/a"),
    );
    let started = Instant::now();
    api.get("a").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(800));

    // kubectl through the proxy sees the injected 500.
    proxy.add_rule(
        FaultRule::new(Fault::Status(500))
            .method(Method::GET)
            .path_contains(&path),
    );
    let output = proxy
        .kubectl()
        .args(["-n", &namespace, "get", "configmaps"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("fault proxy"),
        "{}\n{:#?}",
        String::from_utf8_lossy(&output.stderr),
        proxy.requests()
    );
    assert_eq!(proxy.faults_applied(), 8);
}

#[tokio::test]
async fn restricted_identity_is_denied_until_granted() {
    let Some(cluster) = cluster_or_skip("restricted_identity_is_denied_until_granted") else {
        return;
    };
    let namespace = cluster.fresh_namespace("rbac").unwrap();
    let identity = cluster.restricted_identity(&namespace, "migrator").unwrap();
    let pods: Api<Pod> = Api::namespaced(identity.client().unwrap(), &namespace);
    match pods.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403);
            assert!(
                status.message.contains(&identity.user_name()),
                "{}",
                status.message
            );
        }
        other => panic!("an identity without rights must be forbidden, got {other:?}"),
    }
    cluster
        .grant(
            &identity,
            Some(&namespace),
            vec![rule("", &["pods"], &["get", "list"])],
        )
        .unwrap();
    eventually(
        "the grant to take effect",
        Duration::from_secs(10),
        || async { pods.list(&ListParams::default()).await.ok() },
    )
    .await;
    let can_i = identity
        .kubectl()
        .args(["auth", "can-i", "delete", "pods", "-n", &namespace])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&can_i.stdout).trim(), "no");
    let can_list = identity
        .kubectl()
        .args(["auth", "can-i", "list", "pods", "-n", &namespace])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&can_list.stdout).trim(), "yes");
}

#[tokio::test]
async fn before_state_has_appmesh_sidecars_on_real_pods() {
    let Some(cluster) = cluster_or_skip("before_state_has_appmesh_sidecars_on_real_pods") else {
        return;
    };
    let state = cluster.load_before_state().unwrap();
    assert_eq!(state.meshed_namespaces.len(), 4);
    let client = cluster.client().unwrap();
    let mut envoy_pods = 0;
    for namespace in &state.meshed_namespaces {
        for pod in Api::<Pod>::namespaced(client.clone(), namespace)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
        {
            let containers = container_names(&pod, false);
            assert!(
                containers.contains(&"envoy".to_owned()),
                "{namespace}/{:?}: {containers:?}",
                pod.metadata.name
            );
            assert!(!containers.contains(&"istio-proxy".to_owned()));
            let gateway = *namespace == state.gateway_namespace;
            assert_eq!(
                container_names(&pod, true).is_empty(),
                gateway,
                "gateway pods get no proxyinit"
            );
            assert_eq!(
                pod.status.and_then(|status| status.phase).as_deref(),
                Some("Running")
            );
            envoy_pods += 1;
        }
    }
    assert_eq!(envoy_pods, 14);
    let legacy = Api::<Pod>::namespaced(client.clone(), &state.unmeshed_namespace)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(legacy.items.len(), 1);
    assert_eq!(container_names(&legacy.items[0], false), ["legacy-reports"]);
    let routes = dynamic(
        &client,
        Some(&format!("{}-catalog", state.app)),
        &resource(
            "appmesh.k8s.aws",
            "v1beta2",
            "GatewayRoute",
            "gatewayroutes",
        ),
    );
    let route = serde_json::to_value(routes.get("catalog-api-route").await.unwrap()).unwrap();
    assert_eq!(route["spec"]["virtualGatewayRef"]["name"], "ingress-gw");
    assert_eq!(
        route["spec"]["virtualGatewayRef"]["namespace"],
        json!(state.gateway_namespace)
    );
    assert_eq!(route["spec"]["meshRef"]["name"], json!(state.mesh));
}

/// The shared cluster really is one per process and starts within budget.
#[test]
fn shared_cluster_is_reused() {
    let Some(cluster) = cluster_or_skip("shared_cluster_is_reused") else {
        return;
    };
    let again = TestCluster::shared().unwrap();
    assert!(std::ptr::eq(cluster, again));
    assert!(
        cluster.startup_time() < Duration::from_secs(60),
        "{:?}",
        cluster.startup_time()
    );
    eprintln!("shared cluster started in {:?}", cluster.startup_time());
}

#[tokio::test]
async fn statefulsets_and_daemonsets_become_ready_too() {
    let Some(cluster) = cluster_or_skip("statefulsets_and_daemonsets_become_ready_too") else {
        return;
    };
    let namespace = cluster.fresh_namespace("workload-kinds").unwrap();
    let client = cluster.client().unwrap();
    let template = |app: &str| {
        json!({"metadata": {"labels": {"app": app}},
               "spec": {"containers": [{"name": app, "image": format!("registry.example.com/{app}:1")}]}})
    };
    let statefulset: k8s_openapi::api::apps::v1::StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "ledger-db"},
        "spec": {"replicas": 2, "serviceName": "ledger-db", "selector": {"matchLabels": {"app": "ledger-db"}},
                 "template": template("ledger-db")}
    }))
    .unwrap();
    let daemonset: k8s_openapi::api::apps::v1::DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "node-agent"},
        "spec": {"selector": {"matchLabels": {"app": "node-agent"}}, "template": template("node-agent")}
    }))
    .unwrap();
    let statefulsets: Api<k8s_openapi::api::apps::v1::StatefulSet> =
        Api::namespaced(client.clone(), &namespace);
    let daemonsets: Api<k8s_openapi::api::apps::v1::DaemonSet> =
        Api::namespaced(client.clone(), &namespace);
    statefulsets
        .create(&PostParams::default(), &statefulset)
        .await
        .unwrap();
    daemonsets
        .create(&PostParams::default(), &daemonset)
        .await
        .unwrap();
    // StatefulSet pods start one after the other, each only once the
    // previous one is Ready: both being ready proves the ordering worked.
    eventually(
        "the StatefulSet to be ready",
        Duration::from_secs(60),
        || async {
            let status = statefulsets.get("ledger-db").await.ok()?.status?;
            (status.ready_replicas == Some(2)).then_some(())
        },
    )
    .await;
    let daemon = eventually(
        "the DaemonSet to be ready on the one node",
        Duration::from_secs(60),
        || async {
            let status = daemonsets.get("node-agent").await.ok()?.status?;
            (status.number_ready == 1 && status.desired_number_scheduled == 1).then_some(status)
        },
    )
    .await;
    assert_eq!(daemon.number_available, Some(1));
    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    let names: Vec<String> = pods
        .list(&ListParams::default().labels("app=ledger-db"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|pod| pod.metadata.name)
        .collect();
    assert_eq!(names, ["ledger-db-0", "ledger-db-1"]);
}
