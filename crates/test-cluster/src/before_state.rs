//! The realistic App Mesh "before" state (`examples/shop/app.yaml`):
//! loaded with one call, its pods injected with App Mesh sidecars by the
//! webhook and made Ready by the kubelet stand-in.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Discovery, Scope};
use serde_json::Value;

use crate::binaries;
use crate::cluster::TestCluster;

/// The file under `examples/shop/`.
pub const BEFORE_STATE_FILE: &str = "app.yaml";

/// The application name used in the fixture; loaders replace it in every
/// string value to load independent copies.
pub const FIXTURE_APP: &str = "shop";

/// The App Mesh controller's namespace in the fixture (not renamed).
pub const CONTROLLER_NAMESPACE: &str = "appmesh-system";

const FIELD_MANAGER: &str = "test-cluster-before-state";

/// What `load_before_state` created.
#[derive(Clone, Debug)]
pub struct BeforeState {
    /// The application name replacing `shop` (namespaces are `<app>-frontend`, ...).
    pub app: String,
    /// The Mesh's name (= `app`).
    pub mesh: String,
    /// Namespaces labelled into the mesh (with the injector label).
    pub meshed_namespaces: Vec<String>,
    /// The namespace that is not meshed.
    pub unmeshed_namespace: String,
    /// The namespace of the VirtualGateway.
    pub gateway_namespace: String,
    /// Where the App Mesh controller's Deployment runs (shared by all copies).
    pub controller_namespace: String,
    /// (namespace, name) of every Deployment, all Available when returned.
    pub deployments: Vec<(String, String)>,
    /// The documents applied, in order.
    pub documents: Vec<Value>,
}

/// The fixture's documents with `shop` replaced by `app` in every string value.
pub fn before_state_documents(app: &str) -> Result<Vec<Value>> {
    let path = binaries::fixtures_dir().join(BEFORE_STATE_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut documents: Vec<Value> = serde_saphyr::from_multiple(&text)
        .with_context(|| format!("parsing {}", path.display()))?;
    documents.retain(|document| !document.is_null());
    if app != FIXTURE_APP {
        for document in &mut documents {
            rename(document, FIXTURE_APP, app);
        }
    }
    Ok(documents)
}

fn rename(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::String(text) if text.contains(from) => *text = text.replace(from, to),
        Value::Array(items) => items.iter_mut().for_each(|item| rename(item, from, to)),
        Value::Object(map) => map.values_mut().for_each(|item| rename(item, from, to)),
        _ => {}
    }
}

fn text_at<'a>(document: &'a Value, pointer: &str) -> &'a str {
    document
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn describe(documents: Vec<Value>, app: &str) -> Result<BeforeState> {
    let mut meshed = Vec::new();
    let mut unmeshed = Vec::new();
    let mut gateway_namespace = String::new();
    let mut deployments = Vec::new();
    for document in &documents {
        let name = text_at(document, "/metadata/name").to_owned();
        match text_at(document, "/kind") {
            "Namespace" if document.pointer("/metadata/labels/mesh").is_some() => meshed.push(name),
            "Namespace" if name == CONTROLLER_NAMESPACE => {}
            "Namespace" => unmeshed.push(name),
            "VirtualGateway" => {
                gateway_namespace = text_at(document, "/metadata/namespace").to_owned()
            }
            "Deployment" => {
                deployments.push((text_at(document, "/metadata/namespace").to_owned(), name))
            }
            _ => {}
        }
    }
    let [unmeshed_namespace] = unmeshed.as_slice() else {
        bail!("the fixture should have exactly one namespace outside the mesh, found {unmeshed:?}");
    };
    Ok(BeforeState {
        app: app.to_owned(),
        mesh: app.to_owned(),
        meshed_namespaces: meshed,
        unmeshed_namespace: unmeshed_namespace.clone(),
        gateway_namespace,
        controller_namespace: CONTROLLER_NAMESPACE.to_owned(),
        deployments,
        documents,
    })
}

impl TestCluster {
    /// Loads a fresh copy of the before state under a unique application
    /// name (`shop-<n>`), so tests sharing the cluster do not collide, and
    /// waits until every Deployment is Available. Needs the injector webhooks,
    /// the controller-manager and the kubelet stand-in (the default options).
    pub fn load_before_state(&self) -> Result<BeforeState> {
        let app = self.unique_name(FIXTURE_APP);
        self.load_before_state_as(&app)
    }

    /// Loads the before state with application name `app` (`"shop"` gives
    /// the fixture's own names).
    pub fn load_before_state_as(&self, app: &str) -> Result<BeforeState> {
        if !(self.options().injector_webhooks
            && self.options().controller_manager
            && self.options().kubelet)
        {
            bail!(
                "the before state needs injector webhooks, the controller-manager and the kubelet stand-in"
            );
        }
        let state = describe(before_state_documents(app)?, app)?;
        let documents = state.documents.clone();
        let deployments = state.deployments.clone();
        self.block_on(move |client| async move {
            apply_documents(&client, &documents, FIELD_MANAGER).await?;
            wait_available(&client, &deployments, Duration::from_secs(120)).await
        })?;
        Ok(state)
    }
}

/// Server-side applies `documents` in order, resolving kinds by discovery.
pub(crate) async fn apply_documents(
    client: &kube::Client,
    documents: &[Value],
    field_manager: &str,
) -> Result<()> {
    let discovery = Discovery::new(client.clone())
        .filter(&[
            "",
            "apps",
            "appmesh.k8s.aws",
            "networking.istio.io",
            "security.istio.io",
            "telemetry.istio.io",
        ])
        .run()
        .await
        .context("API discovery")?;
    let params = PatchParams::apply(field_manager).force();
    for document in documents {
        let api_version = text_at(document, "/apiVersion");
        let kind = text_at(document, "/kind");
        let name = text_at(document, "/metadata/name");
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let Some((resource, capabilities)) = discovery.resolve_gvk(&gvk) else {
            bail!("the cluster does not serve {api_version} {kind}");
        };
        let api: Api<DynamicObject> = if capabilities.scope == Scope::Namespaced {
            Api::namespaced_with(
                client.clone(),
                text_at(document, "/metadata/namespace"),
                &resource,
            )
        } else {
            Api::all_with(client.clone(), &resource)
        };
        // Two tests loading the before state at once both create the objects they share (the
        // controller's namespace and Service): the apply that loses the race gets 409
        // AlreadyExists, and applied again it updates the object the other one created.
        let mut result = api.patch(name, &params, &Patch::Apply(document)).await;
        if matches!(&result, Err(kube::Error::Api(status)) if status.code == 409) {
            result = api.patch(name, &params, &Patch::Apply(document)).await;
        }
        result.with_context(|| format!("applying {kind} {name}"))?;
    }
    Ok(())
}

async fn wait_available(
    client: &kube::Client,
    deployments: &[(String, String)],
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    for (namespace, name) in deployments {
        let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
        loop {
            let deployment = api
                .get(name)
                .await
                .with_context(|| format!("reading {namespace}/{name}"))?;
            let wanted = deployment
                .spec
                .as_ref()
                .and_then(|spec| spec.replicas)
                .unwrap_or(1);
            let generation = deployment.metadata.generation.unwrap_or_default();
            let status = deployment.status.unwrap_or_default();
            if status.observed_generation.unwrap_or_default() >= generation
                && status.updated_replicas.unwrap_or_default() == wanted
                && status.available_replicas.unwrap_or_default() == wanted
                && status.replicas.unwrap_or_default() == wanted
            {
                break;
            }
            if Instant::now() > deadline {
                bail!("Deployment {namespace}/{name} not available after {timeout:?}: {status:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn fixture_has_the_promised_shape() {
        let state = describe(before_state_documents("shop").unwrap(), "shop").unwrap();
        assert_eq!(
            state.meshed_namespaces.len(),
            4,
            "{:?}",
            state.meshed_namespaces
        );
        assert_eq!(state.unmeshed_namespace, "shop-legacy");
        assert_eq!(state.gateway_namespace, "shop-gateway");
        let count = |kind: &str| {
            state
                .documents
                .iter()
                .filter(|document| text_at(document, "/kind") == kind)
                .count()
        };
        assert_eq!(count("VirtualService"), 8);
        assert_eq!(count("GatewayRoute"), 2);
        assert_eq!(count("VirtualGateway"), 1);
        assert_eq!(count("Mesh"), 1);
        let weights: Vec<i64> = state
            .documents
            .iter()
            .filter(|document| text_at(document, "/metadata/name") == "catalog-router")
            .flat_map(|router| {
                router["spec"]["routes"][1]["httpRoute"]["action"]["weightedTargets"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|target| target["weight"].as_i64())
            .collect();
        assert_eq!(weights, [90, 10]);
        let strict_tls = state
            .documents
            .iter()
            .filter(|document| text_at(document, "/spec/listeners/0/tls/mode") == "STRICT")
            .count();
        assert_eq!(strict_tls, 1);
    }

    #[test]
    fn renaming_changes_every_name_consistently() {
        let documents = before_state_documents("shop-7").unwrap();
        let state = describe(documents, "shop-7").unwrap();
        assert!(
            state
                .meshed_namespaces
                .iter()
                .all(|namespace| namespace.starts_with("shop-7-"))
        );
        let mesh = state
            .documents
            .iter()
            .find(|document| text_at(document, "/kind") == "Mesh")
            .unwrap();
        assert_eq!(text_at(mesh, "/metadata/name"), "shop-7");
        assert_eq!(
            text_at(mesh, "/spec/namespaceSelector/matchLabels/mesh"),
            "shop-7"
        );
        let text = serde_json::to_string(&state.documents).unwrap();
        assert!(
            !text.contains("\"shop-frontend"),
            "an unrenamed name is left"
        );
    }
}
