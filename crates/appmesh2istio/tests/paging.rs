//! `cluster::list` against the real test API server through the fault proxy: a continue token
//! that expires between pages (410 `Expired`) restarts the typed list (`list_all`, which label,
//! rollout and cleanup use for namespaces and pods) from its first page, with the same result as
//! an unfaulted list; one that keeps expiring is an error naming the list.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use appmesh2istio::cluster::list::{PAGE_SIZE, list_all};
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use test_cluster::{FaultProxy, FaultRule, cluster_or_skip};

/// `PAGE_SIZE + 1` headless Services (no cluster IP to allocate), created 16 at a time.
async fn two_pages_of_services(client: &kube::Client, ns: &str) {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    let created: Vec<bool> = stream::iter(0..=PAGE_SIZE)
        .map(|i| {
            let api = api.clone();
            async move {
                let service: Service = serde_json::from_value(json!({
                    "metadata": {"name": format!("s{i}")},
                    "spec": {"clusterIP": "None", "ports": [{"port": 80}]}
                }))
                .unwrap();
                api.create(&PostParams::default(), &service).await.is_ok()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(created.iter().all(|ok| *ok));
}

fn names(services: &[Service]) -> Vec<String> {
    services
        .iter()
        .map(|s| s.metadata.name.clone().unwrap())
        .collect()
}

/// (asked with a continue token, status) of each service list the proxy saw.
fn service_lists(proxy: &FaultProxy, ns: &str) -> Vec<(bool, Option<u16>)> {
    proxy
        .requests()
        .iter()
        .filter(|r| {
            r.uri
                .starts_with(&format!("/api/v1/namespaces/{ns}/services?"))
        })
        .map(|r| (r.uri.contains("continue="), r.status))
        .collect()
}

fn expired_continue(ns: &str) -> FaultRule {
    FaultRule::expired_continue(&format!("/namespaces/{ns}/services"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_all_restarts_on_an_expired_continue_token_and_gives_up_after_two_restarts() {
    let Some(cluster) = cluster_or_skip(
        "list_all_restarts_on_an_expired_continue_token_and_gives_up_after_two_restarts",
    ) else {
        return;
    };
    let ns = cluster.fresh_namespace("paging").unwrap();
    two_pages_of_services(&cluster.client().unwrap(), &ns).await;
    let proxy = cluster.start_fault_proxy().unwrap();
    let api: Api<Service> = Api::namespaced(proxy.client().unwrap(), &ns);
    let params = ListParams::default();

    let unfaulted = list_all(&api, &params, "services").await.unwrap();
    assert_eq!(unfaulted.len(), PAGE_SIZE as usize + 1);
    assert_eq!(
        service_lists(&proxy, &ns),
        vec![(false, Some(200)), (true, Some(200))]
    );

    proxy.clear_journal();
    proxy.add_rule(expired_continue(&ns));
    let restarted = list_all(&api, &params, "services").await.unwrap();
    assert_eq!(names(&restarted), names(&unfaulted));
    assert_eq!(
        service_lists(&proxy, &ns),
        vec![
            (false, Some(200)),
            (true, Some(410)),
            (false, Some(200)),
            (true, Some(200)),
        ],
        "the list restarted from its first page"
    );

    proxy.clear_rules();
    proxy.clear_journal();
    proxy.add_rule(expired_continue(&ns).always());
    let error = list_all(&api, &params, "services in the namespace")
        .await
        .unwrap_err();
    assert_eq!(error.status_code(), Some(410));
    let message = error.to_string();
    assert!(
        message.starts_with(
            "cannot list services in the namespace: the list's continue token expired 3 times in a row"
        ) && message.contains("410 (Expired): The provided continue parameter is too old"),
        "{message}"
    );
    assert_eq!(
        service_lists(&proxy, &ns).len(),
        6,
        "three tries of two pages"
    );
}
