//! Installing the App Mesh and Istio CRDs from `../shared/crds/` and waiting
//! until the apiserver serves them.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use serde_json::Value;

/// One file per kind, as the App Mesh controller's chart ships them.
pub const APPMESH_CRD_FILES: [&str; 7] = [
    "appmesh.k8s.aws_meshes.yaml",
    "appmesh.k8s.aws_virtualnodes.yaml",
    "appmesh.k8s.aws_virtualservices.yaml",
    "appmesh.k8s.aws_virtualrouters.yaml",
    "appmesh.k8s.aws_virtualgateways.yaml",
    "appmesh.k8s.aws_gatewayroutes.yaml",
    "appmesh.k8s.aws_backendgroups.yaml",
];

pub const ISTIO_CRD_FILE: &str = "istio-1.30.3-crd-all.gen.yaml";

/// Gateway API v1.5.1's experimental bundle (a superset of the standard channel's kinds and
/// fields), installed on demand by [`crate::TestCluster::install_gateway_api_crds`].
pub const GATEWAY_API_CRD_FILE: &str = "gateway-api/experimental-install.yaml";

/// Every CRD document the cluster installs, App Mesh first.
pub fn load_crd_documents(shared_dir: &Path) -> Result<Vec<Value>> {
    let crds_dir = shared_dir.join("crds");
    let mut paths: Vec<_> = APPMESH_CRD_FILES
        .iter()
        .map(|file| crds_dir.join("appmesh").join(file))
        .collect();
    paths.push(crds_dir.join("istio").join(ISTIO_CRD_FILE));
    crd_documents(&paths)
}

/// The Gateway API CRD documents (the bundle's ValidatingAdmissionPolicy is left out: the
/// 1.20 apiserver has no such kind).
pub fn load_gateway_api_crd_documents(shared_dir: &Path) -> Result<Vec<Value>> {
    let mut documents = crd_documents(&[shared_dir.join("crds").join(GATEWAY_API_CRD_FILE)])?;
    documents
        .iter_mut()
        .for_each(adapt_empty_strings_for_apiserver_1_20);
    Ok(documents)
}

fn crd_documents(paths: &[std::path::PathBuf]) -> Result<Vec<Value>> {
    let mut documents = Vec::new();
    for path in paths {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        // The Gateway API bundle is large; give the parser room.
        let options = serde_saphyr::options! {
            budget: serde_saphyr::budget! {
                max_events: 50_000_000,
            },
        };
        let parsed: Vec<Value> = serde_saphyr::from_multiple_with_options(&text, options)
            .with_context(|| format!("parsing {}", path.display()))?;
        for mut document in parsed {
            if document.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
                continue;
            }
            strip_key(&mut document, "x-kubernetes-validations");
            documents.push(document);
        }
    }
    Ok(documents)
}

/// Adapts the Gateway API schemas to apiserver 1.20's validator (go-openapi), which takes
/// an empty string for a missing value: it turns a `default: ""` (a reference's core group)
/// into `null` and refuses the CRD, and refuses `""` in objects ("must be of type string:
/// null") where every later apiserver accepts it (a Service parentRef's `group: ""`, a
/// ReferenceGrant's `to[].group: ""`). So empty-string defaults are dropped (an absent group
/// means the core group too), and the `group` fields that accept `""` on a real apiserver
/// (no `minLength`, a pattern allowing `^$`) are marked `nullable` (except list-map keys,
/// which may not be), which is what lets 1.20's validator pass the empty string. Everything else (types, enums, patterns of
/// non-empty values, bounds, unknown fields) is enforced as before.
fn adapt_empty_strings_for_apiserver_1_20(value: &mut Value) {
    adapt_schema(value, &[]);
}

/// `map_keys`: the `x-kubernetes-list-map-keys` of the list whose item `value` is (they may
/// not be nullable).
fn adapt_schema(value: &mut Value, map_keys: &[String]) {
    match value {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("string") {
                let empty_default = matches!(map.get("default"), Some(Value::Null))
                    || map.get("default").and_then(Value::as_str) == Some("");
                if empty_default {
                    map.remove("default");
                }
            }
            let keys: Vec<String> = map
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| {
                    k.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(Value::Object(properties)) = map.get_mut("properties") {
                for (name, property) in properties.iter_mut() {
                    // Only the API-group fields: where Gateway API's `""` means the core group.
                    let empty_allowed = property.get("type").and_then(Value::as_str)
                        == Some("string")
                        && property
                            .get("minLength")
                            .and_then(Value::as_u64)
                            .unwrap_or(0)
                            == 0
                        && property
                            .get("pattern")
                            .and_then(Value::as_str)
                            .is_none_or(|p| p.starts_with("^$|"));
                    if name == "group"
                        && empty_allowed
                        && !map_keys.contains(name)
                        && let Some(object) = property.as_object_mut()
                    {
                        object.insert("nullable".into(), Value::Bool(true));
                    }
                    adapt_schema(property, &[]);
                }
            }
            for (key, child) in map.iter_mut() {
                match key.as_str() {
                    "properties" => {}
                    "items" => adapt_schema(child, &keys),
                    _ => adapt_schema(child, &[]),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| adapt_schema(i, &[])),
        _ => {}
    }
}

/// Removes every occurrence of `key` from nested objects. apiserver 1.20
/// predates CEL rules (`x-kubernetes-validations`); it would drop them anyway,
/// removing them first keeps what is stored equal to what was sent.
fn strip_key(value: &mut Value, key: &str) {
    match value {
        Value::Object(map) => {
            map.remove(key);
            for child in map.values_mut() {
                strip_key(child, key);
            }
        }
        Value::Array(items) => {
            for child in items {
                strip_key(child, key);
            }
        }
        _ => {}
    }
}

pub async fn install(client: &kube::Client, documents: &[Value]) -> Result<Vec<String>> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let creates = documents.iter().map(|document| {
        let api = api.clone();
        async move {
            let crd: CustomResourceDefinition = serde_json::from_value(document.clone())
                .context("a CRD document does not deserialize")?;
            let name = crd.metadata.name.clone().unwrap_or_default();
            match api.create(&PostParams::default(), &crd).await {
                Ok(_) => Ok(name),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(name),
                Err(error) => {
                    Err(anyhow::Error::new(error).context(format!("creating CRD {name}")))
                }
            }
        }
    });
    let names = futures::future::try_join_all(creates).await?;
    wait_established(&api, &names, Duration::from_secs(60)).await?;
    Ok(names)
}

async fn wait_established(
    api: &Api<CustomResourceDefinition>,
    names: &[String],
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<&String> = names.iter().collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for name in pending {
            let crd = api
                .get(name)
                .await
                .with_context(|| format!("reading CRD {name}"))?;
            let established = crd
                .status
                .and_then(|status| status.conditions)
                .unwrap_or_default()
                .iter()
                .any(|condition| condition.type_ == "Established" && condition.status == "True");
            if !established {
                still.push(name);
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            bail!("CRDs not Established after {timeout:?}: {pending:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

impl crate::cluster::TestCluster {
    /// Installs the Gateway API v1.5.1 CRDs (experimental bundle) from `../shared/crds/` and
    /// waits until they are served. Idempotent; not part of the default start, so that the
    /// other tests see a cluster without them, as before.
    /// Created with kubectl (one List, `--validate=false`: kubectl 1.20 does not know every
    /// schema field of these CRDs).
    pub fn install_gateway_api_crds(&self) -> Result<Vec<String>> {
        let documents = load_gateway_api_crd_documents(&crate::binaries::shared_dir())?;
        let names: Vec<String> = documents
            .iter()
            .filter_map(|d| d["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": documents});
        let mut child = self
            .kubectl()
            .args(["create", "--validate=false", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            std::io::Write::write_all(&mut stdin, list.to_string().as_bytes())?;
        }
        let out = child.wait_with_output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        // A second call finds them created: only "already exists" errors are fine.
        if !out.status.success()
            && stderr.lines().any(|l| {
                l.starts_with("Error")
                    && !l.contains("AlreadyExists")
                    && !l.contains("already exists")
            })
        {
            anyhow::bail!("kubectl create of the Gateway API CRDs failed: {stderr}");
        }
        let crd_names: Vec<String> = names.iter().map(|n| format!("crd/{n}")).collect();
        let out = self
            .kubectl()
            .args(["wait", "--for", "condition=established", "--timeout=60s"])
            .args(&crd_names)
            .output()?;
        if !out.status.success() {
            anyhow::bail!(
                "Gateway API CRDs not Established: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(names)
    }
}
