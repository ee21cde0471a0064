//! Paginated lists: `limit=500` and `continue` tokens, so a list of 10,000 pods is 20 requests
//! of bounded size, and never one GET per object.

use std::fmt::Debug;
use std::future::Future;

use kube::api::{Api, ListParams};
use serde::de::DeserializeOwned;

use super::ClusterError;
use super::NamespaceScope;
use super::kinds::KindInfo;

/// Objects per page: kubectl's default chunk size.
pub const PAGE_SIZE: u32 = 500;

/// How often a list restarts from the beginning when its continue token expired (410 Gone,
/// after etcd compaction) before giving up.
const MAX_RESTARTS: u32 = 2;

/// Every object `api` returns, page by page.
pub async fn list_all<K>(
    api: &Api<K>,
    params: &ListParams,
    what: &str,
) -> Result<Vec<K>, ClusterError>
where
    K: Clone + DeserializeOwned + Debug,
{
    let fetch = |token: Option<String>| async move {
        let mut page_params = params.clone().limit(PAGE_SIZE);
        if let Some(t) = &token {
            page_params = page_params.continue_token(t);
        }
        let page = api.list(&page_params).await?;
        Ok((page.items, page.metadata.continue_))
    };
    collect_pages(what, fetch, Some).await
}

/// The loop every list shares: fetch a page, keep what `keep` makes of each item, follow the
/// continue token. When the token expires between pages (410 Gone, after etcd compaction) the
/// list starts over, dropping what was kept: the result must be one consistent snapshot, not
/// two versions of the collection glued together. Only the items `keep` returns stay in
/// memory, so a caller that needs a few fields of each object holds one page of whole objects
/// at a time.
async fn collect_pages<I, T, F, Fut>(
    what: &str,
    mut fetch: F,
    mut keep: impl FnMut(I) -> Option<T>,
) -> Result<Vec<T>, ClusterError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<I>, Option<String>), kube::Error>>,
{
    let mut restarts = 0;
    let mut kept = Vec::new();
    let mut token: Option<String> = None;
    loop {
        match fetch(token.clone()).await {
            Ok((items, next)) => {
                kept.extend(items.into_iter().filter_map(&mut keep));
                match next {
                    Some(next) if !next.is_empty() => token = Some(next),
                    _ => return Ok(kept),
                }
            }
            // A 410 on the first page is not an expired continue token (we never ask for a
            // resourceVersion): it falls through to the error below.
            Err(kube::Error::Api(status)) if status.code == 410 && token.is_some() => {
                if restarts == MAX_RESTARTS {
                    return Err(ClusterError::Api {
                        what: format!(
                            "cannot list {what}: the list's continue token expired {} times in a \
                             row (the collection changes faster than it can be read page by page)",
                            restarts + 1
                        ),
                        source: kube::Error::Api(status),
                    });
                }
                restarts += 1;
                kept.clear();
                token = None;
            }
            Err(source) => {
                return Err(ClusterError::Api {
                    what: format!("cannot list {what}"),
                    source,
                });
            }
        }
    }
}

/// One page of any list, its items parsed as `I`: JSON values for precheck and convert (they
/// read objects as values, and parsing straight into `Value` avoids a typed round-trip per
/// object), or a struct of the few fields a caller needs (serde skips the rest while parsing).
#[derive(serde::Deserialize)]
struct Page<I> {
    #[serde(default)]
    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta,
    #[serde(default = "Option::default")]
    items: Option<Vec<I>>,
}

/// Every object of `kind` in `scope` as JSON, page by page, with `apiVersion` and `kind` set on
/// each item (lists leave them out). Cluster-scoped kinds ignore the scope.
pub async fn list_values(
    client: &kube::Client,
    kind: &KindInfo,
    scope: &NamespaceScope,
) -> Result<Vec<serde_json::Value>, ClusterError> {
    list_values_selected(client, kind, scope, None).await
}

/// [`list_values`] with a label selector (`app.kubernetes.io/managed-by=appmesh2istio`): the
/// server filters, so only the matching objects cross the wire.
pub async fn list_values_selected(
    client: &kube::Client,
    kind: &KindInfo,
    scope: &NamespaceScope,
    label_selector: Option<&str>,
) -> Result<Vec<serde_json::Value>, ClusterError> {
    list_parsed(client, kind, scope, label_selector, |item| {
        let mut item: serde_json::Value = item;
        if let serde_json::Value::Object(map) = &mut item {
            map.insert("apiVersion".into(), kind.api_version().into());
            map.insert("kind".into(), kind.kind.into());
        }
        Some(item)
    })
    .await
}

/// [`list_values`] without the server's bookkeeping that no reader of a listed object uses:
/// `metadata.managedFields` (often as large as the object itself) and the
/// `kubectl.kubernetes.io/last-applied-configuration` annotation (a copy of the whole object as
/// last applied). Dropped page by page, so only one page of whole objects is in memory at a
/// time. Not for callers that read field ownership (precheck's migration dashboard reads the
/// managedFields of the Istio objects convert applied).
pub async fn list_values_lean(
    client: &kube::Client,
    kind: &KindInfo,
    scope: &NamespaceScope,
) -> Result<Vec<serde_json::Value>, ClusterError> {
    list_parsed(client, kind, scope, None, |item| {
        let mut item: serde_json::Value = item;
        without_bookkeeping(&mut item);
        if let serde_json::Value::Object(map) = &mut item {
            map.insert("apiVersion".into(), kind.api_version().into());
            map.insert("kind".into(), kind.kind.into());
        }
        Some(item)
    })
    .await
}

/// The annotation `kubectl apply` keeps the whole applied object in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Remove `metadata.managedFields` and the last-applied annotation from an object read from the
/// cluster (see [`list_values_lean`]).
pub fn without_bookkeeping(object: &mut serde_json::Value) {
    let Some(metadata) = object
        .get_mut("metadata")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    metadata.remove("managedFields");
    if let Some(annotations) = metadata
        .get_mut("annotations")
        .and_then(serde_json::Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED_ANNOTATION);
    }
}

/// Every object of `kind` in `scope`, each parsed as `I` and kept as what `keep` makes of it,
/// page by page: memory holds one page of `I` plus the kept results.
pub async fn list_parsed<I, T>(
    client: &kube::Client,
    kind: &KindInfo,
    scope: &NamespaceScope,
    label_selector: Option<&str>,
    keep: impl FnMut(I) -> Option<T>,
) -> Result<Vec<T>, ClusterError>
where
    I: DeserializeOwned,
{
    let request = kube::core::Request::new(kind.collection_path(scope.namespace()));
    let what = kind.resource_name();
    let fetch = |token: Option<String>| {
        let mut params = ListParams::default().limit(PAGE_SIZE);
        if let Some(selector) = label_selector {
            params = params.labels(selector);
        }
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let http_request = request.list(&params);
        async move {
            let page: Page<I> = client
                .request(http_request.map_err(kube::Error::BuildRequest)?)
                .await?;
            Ok((page.items.unwrap_or_default(), page.metadata.continue_))
        }
    };
    collect_pages(&what, fetch, keep).await
}

/// `Api::all` or `Api::namespaced` for a namespaced built-in kind.
pub fn namespaced_api<K>(client: &kube::Client, scope: &NamespaceScope) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match scope.namespace() {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn expired() -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("The provided continue parameter is too old", "Expired")
                .with_code(410)
                .boxed(),
        )
    }

    type Answer = Result<(Vec<u32>, Option<String>), kube::Error>;

    /// Runs `collect_pages` over scripted answers (the loop only; the cluster tests run it
    /// against the real API server) and returns its result and the tokens it asked with.
    fn run(answers: Vec<Answer>) -> (Result<Vec<u32>, ClusterError>, Vec<Option<String>>) {
        let answers = RefCell::new(answers.into_iter());
        let asked = RefCell::new(Vec::new());
        let fetch = |token: Option<String>| {
            asked.borrow_mut().push(token);
            let answer = answers.borrow_mut().next();
            async move { answer.unwrap_or_else(|| Ok((Vec::new(), None))) }
        };
        let result = futures::executor::block_on(collect_pages("pods", fetch, |n: u32| {
            (!n.is_multiple_of(10)).then_some(n)
        }));
        (result, asked.into_inner())
    }

    #[test]
    fn without_bookkeeping_drops_managed_fields_and_last_applied_only() {
        let mut object = serde_json::json!({
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                "annotations": {
                    LAST_APPLIED_ANNOTATION: "{\"kind\":\"Deployment\"}",
                    "appmesh.k8s.aws/sidecarInjectorWebhook": "enabled"
                }
            },
            "spec": {"replicas": 2}
        });
        without_bookkeeping(&mut object);
        assert_eq!(
            object,
            serde_json::json!({
                "kind": "Deployment",
                "metadata": {
                    "name": "web",
                    "annotations": {"appmesh.k8s.aws/sidecarInjectorWebhook": "enabled"}
                },
                "spec": {"replicas": 2}
            })
        );
        let mut no_metadata = serde_json::json!({"kind": "List"});
        without_bookkeeping(&mut no_metadata);
        assert_eq!(no_metadata, serde_json::json!({"kind": "List"}));
    }

    #[test]
    fn follows_continue_tokens_and_keeps_what_keep_returns() {
        let (result, asked) = run(vec![
            Ok((vec![1, 2, 10], Some("a".into()))),
            Ok((vec![3], Some(String::new()))),
        ]);
        assert_eq!(result.unwrap(), vec![1, 2, 3]);
        assert_eq!(asked, vec![None, Some("a".into())]);
    }

    #[test]
    fn an_expired_token_restarts_from_the_first_page_without_the_old_items() {
        let (result, asked) = run(vec![
            Ok((vec![1, 2], Some("a".into()))),
            Err(expired()),
            Ok((vec![4, 5], Some("b".into()))),
            Ok((vec![6], None)),
        ]);
        assert_eq!(result.unwrap(), vec![4, 5, 6]);
        assert_eq!(asked, vec![None, Some("a".into()), None, Some("b".into())]);
    }

    #[test]
    fn gives_up_after_the_restart_limit_naming_what_was_listed() {
        let mut answers = Vec::new();
        for _ in 0..=MAX_RESTARTS {
            answers.push(Ok((vec![1], Some("a".into()))));
            answers.push(Err(expired()));
        }
        answers.push(Ok((vec![1], None)));
        let (result, asked) = run(answers);
        let message = result.unwrap_err().to_string();
        assert!(
            message.starts_with("cannot list pods: the list's continue token expired 3 times"),
            "{message}"
        );
        assert!(message.contains("410 (Expired)"), "{message}");
        assert_eq!(asked.len(), 2 * (MAX_RESTARTS as usize + 1));
    }

    #[test]
    fn a_410_on_the_first_page_is_an_error_not_a_restart() {
        let (result, asked) = run(vec![Err(expired()), Ok((vec![1], None))]);
        let error = result.unwrap_err();
        assert_eq!(error.status_code(), Some(410));
        assert!(
            error.to_string().starts_with("cannot list pods: "),
            "{error}"
        );
        assert_eq!(asked, vec![None]);
    }
}
