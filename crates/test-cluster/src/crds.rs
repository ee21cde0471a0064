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

/// Every CRD document the cluster installs, App Mesh first.
pub fn load_crd_documents(shared_dir: &Path) -> Result<Vec<Value>> {
    let crds_dir = shared_dir.join("crds");
    let mut paths: Vec<_> = APPMESH_CRD_FILES
        .iter()
        .map(|file| crds_dir.join("appmesh").join(file))
        .collect();
    paths.push(crds_dir.join("istio").join(ISTIO_CRD_FILE));
    let mut documents = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let parsed: Vec<Value> = serde_saphyr::from_multiple(&text)
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
