//! Paginated lists: `limit=500` and `continue` tokens, so a list of 10,000 pods is 20 requests
//! of bounded size, and never one GET per object.

use std::fmt::Debug;

use kube::api::{Api, DynamicObject, ListParams};
use kube::core::ApiResource;
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
    let mut restarts = 0;
    'restart: loop {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut page_params = params.clone().limit(PAGE_SIZE);
            if let Some(t) = &token {
                page_params = page_params.continue_token(t);
            }
            let page = match api.list(&page_params).await {
                Ok(page) => page,
                // The token expired between pages: the snapshot must be consistent, so start
                // over rather than mixing two versions of the collection.
                Err(kube::Error::Api(status))
                    if status.code == 410 && token.is_some() && restarts < MAX_RESTARTS =>
                {
                    restarts += 1;
                    continue 'restart;
                }
                Err(source) => {
                    return Err(ClusterError::Api {
                        what: format!("cannot list {what}"),
                        source,
                    });
                }
            };
            items.extend(page.items);
            match page.metadata.continue_ {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => return Ok(items),
            }
        }
    }
}

/// One page of any list, items kept as JSON: precheck and convert read objects as values, and
/// parsing straight into `Value` avoids a typed round-trip per object.
#[derive(serde::Deserialize)]
struct Page {
    #[serde(default)]
    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta,
    #[serde(default)]
    items: Option<Vec<serde_json::Value>>,
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
    let request = kube::core::Request::new(kind.collection_path(scope.namespace()));
    let what = kind.resource_name();
    let mut restarts = 0;
    'restart: loop {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut params = ListParams::default().limit(PAGE_SIZE);
            if let Some(selector) = label_selector {
                params = params.labels(selector);
            }
            if let Some(t) = &token {
                params = params.continue_token(t);
            }
            let http_request = request.list(&params).map_err(|e| ClusterError::Api {
                what: format!("cannot list {what}"),
                source: kube::Error::BuildRequest(e),
            })?;
            let page: Page = match client.request(http_request).await {
                Ok(page) => page,
                Err(kube::Error::Api(status))
                    if status.code == 410 && token.is_some() && restarts < MAX_RESTARTS =>
                {
                    restarts += 1;
                    continue 'restart;
                }
                Err(source) => {
                    return Err(ClusterError::Api {
                        what: format!("cannot list {what}"),
                        source,
                    });
                }
            };
            for mut item in page.items.unwrap_or_default() {
                if let serde_json::Value::Object(map) = &mut item {
                    map.insert("apiVersion".into(), kind.api_version().into());
                    map.insert("kind".into(), kind.kind.into());
                }
                items.push(item);
            }
            match page.metadata.continue_ {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => return Ok(items),
            }
        }
    }
}

/// Every object of a custom kind in `scope` (cluster-scoped kinds ignore the scope).
pub async fn list_dynamic(
    client: &kube::Client,
    kind: &KindInfo,
    scope: &NamespaceScope,
) -> Result<Vec<DynamicObject>, ClusterError> {
    let resource: ApiResource = kind.api_resource();
    let api: Api<DynamicObject> = match (kind.namespaced, scope.namespace()) {
        (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
        _ => Api::all_with(client.clone(), &resource),
    };
    let mut items = list_all(&api, &ListParams::default(), &kind.resource_name()).await?;
    // Lists of custom resources do not repeat apiVersion/kind on each item; restore them so an
    // item can be handed on (e.g. to the loader) on its own.
    for item in &mut items {
        item.types = Some(kube::core::TypeMeta {
            api_version: kind.api_version(),
            kind: kind.kind.to_owned(),
        });
    }
    Ok(items)
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
