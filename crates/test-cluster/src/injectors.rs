//! Mutating admission webhooks served by the test process over HTTPS on
//! loopback and registered with the apiserver (caBundle = the cluster CA):
//!
//! * the App Mesh controller's pod injector (`mpod.appmesh.k8s.aws`, namespaces
//!   labelled `appmesh.k8s.aws/sidecarInjectorWebhook`), which adds `proxyinit`
//!   and `envoy` to VirtualNode members;
//! * the App Mesh controller's defaulting webhooks for its custom resources
//!   (`meshRef`, `awsName`, GatewayRoute `virtualGatewayRef`), so live objects
//!   look like the controller made them;
//! * Istio's sidecar injector with the exact namespace/object selectors of
//!   `../shared/crds/istio/istio-discovery-mutatingwebhook.yaml` (revision
//!   `default`, plus any revision registered later), adding `istio-init` and
//!   `istio-proxy`.
//!
//! The apiserver evaluates the selectors, so which pods reach which injector is
//! decided by real Kubernetes code.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::pki::ServingCert;
use crate::selector;
use crate::sidecars::{self, AppMeshMember};

pub const APPMESH_WEBHOOK_CONFIGURATION: &str = "appmesh-controller-mutating-webhook-configuration";
pub const ISTIO_WEBHOOK_CONFIGURATION: &str = "istio-sidecar-injector";
/// Stands in for the built-in ServiceAccount admission plugin, which this
/// cluster disables (it would wait for token Secrets no controller creates).
/// It only defaults `spec.serviceAccountName`, as that plugin does first;
/// named to sort first because the apiserver calls configurations by name.
pub const SERVICE_ACCOUNT_WEBHOOK_CONFIGURATION: &str = "0-test-cluster-serviceaccount-admission";

/// The App Mesh kinds the controller defaults, with their plurals.
const APPMESH_KINDS: [(&str, &str); 7] = [
    ("Mesh", "meshes"),
    ("VirtualNode", "virtualnodes"),
    ("VirtualService", "virtualservices"),
    ("VirtualRouter", "virtualrouters"),
    ("VirtualGateway", "virtualgateways"),
    ("GatewayRoute", "gatewayroutes"),
    ("BackendGroup", "backendgroups"),
];

struct Context_ {
    client: kube::Client,
    served: AtomicU64,
}

pub struct Injectors {
    url: String,
    ca_bundle: String,
    client: kube::Client,
    handle: Handle,
    context: Arc<Context_>,
    task: JoinHandle<()>,
}

impl Injectors {
    pub(crate) async fn start(
        handle: &Handle,
        client: kube::Client,
        ca_pem: &str,
        cert: ServingCert,
    ) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der.clone())),
            )
            .context("webhook TLS configuration")?;
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("binding the webhook server")?;
        let url = format!("https://127.0.0.1:{}", listener.local_addr()?.port());
        let context = Arc::new(Context_ {
            client: client.clone(),
            served: AtomicU64::new(0),
        });
        let task = handle.spawn(accept_loop(listener, acceptor, context.clone()));
        let injectors = Self {
            url,
            ca_bundle: STANDARD.encode(ca_pem),
            client,
            handle: handle.clone(),
            context,
            task,
        };
        let api: Api<MutatingWebhookConfiguration> = Api::all(injectors.client.clone());
        for configuration in [
            injectors.service_account_configuration(),
            injectors.appmesh_configuration(),
            injectors.istio_configuration("default"),
        ] {
            create_or_keep(&api, configuration).await?;
        }
        Ok(injectors)
    }

    /// `https://127.0.0.1:<port>` of the webhook server.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many admission reviews the server has answered.
    pub fn reviews_served(&self) -> u64 {
        self.context.served.load(Ordering::Relaxed)
    }

    /// Registers Istio's webhooks for revision `revision` (namespace label
    /// `istio.io/rev=<revision>`, or the pod label), like installing istiod
    /// with `--set revision=<revision>`. Blocks until registered.
    pub fn register_istio_revision(&self, revision: &str) -> Result<()> {
        let configuration = self.istio_configuration(revision);
        let client = self.client.clone();
        let (sender, receiver) = std::sync::mpsc::channel();
        self.handle.spawn(async move {
            let api: Api<MutatingWebhookConfiguration> = Api::all(client);
            let _ = sender.send(create_or_keep(&api, configuration).await);
        });
        receiver
            .recv()
            .map_err(|_| anyhow!("the test cluster stopped"))?
    }

    fn client_config(&self, path: &str) -> Value {
        json!({"url": format!("{}{path}", self.url), "caBundle": self.ca_bundle})
    }

    fn service_account_configuration(&self) -> Value {
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": SERVICE_ACCOUNT_WEBHOOK_CONFIGURATION},
            "webhooks": [{
                "name": "serviceaccount.test-cluster.appmesh2istio.io",
                "clientConfig": self.client_config("/default-service-account"),
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 10,
            }],
        })
    }

    fn appmesh_configuration(&self) -> Value {
        let mut webhooks = vec![json!({
            "name": "mpod.appmesh.k8s.aws",
            "clientConfig": self.client_config("/mutate-v1-pod"),
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
            "namespaceSelector": {"matchExpressions": [{
                "key": "appmesh.k8s.aws/sidecarInjectorWebhook", "operator": "In", "values": ["enabled", "disabled"]
            }]},
            "failurePolicy": "Fail",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 10,
        })];
        for (kind, plural) in APPMESH_KINDS {
            let lower = kind.to_ascii_lowercase();
            webhooks.push(json!({
                "name": format!("m{lower}.appmesh.k8s.aws"),
                "clientConfig": self.client_config(&format!("/mutate-appmesh-k8s-aws-v1beta2-{lower}")),
                "rules": [{"operations": ["CREATE"], "apiGroups": ["appmesh.k8s.aws"], "apiVersions": ["v1beta2"], "resources": [plural]}],
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 10,
            }));
        }
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": APPMESH_WEBHOOK_CONFIGURATION, "labels": {"app.kubernetes.io/name": "appmesh-controller"}},
            "webhooks": webhooks,
        })
    }

    /// Istio's webhooks exactly as its chart renders them: for the default
    /// revision four (rev.namespace, rev.object, namespace, object), for a
    /// named revision the two `rev.*` ones.
    fn istio_configuration(&self, revision: &str) -> Value {
        // Webhook URLs may not carry a query: the revision goes in the path.
        let path = format!("/inject/{revision}");
        let core = |prefix: &str, namespace_selector: Value, object_selector: Value| {
            json!({
                "name": format!("{prefix}sidecar-injector.istio.io"),
                "clientConfig": self.client_config(&path),
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
                "failurePolicy": "Fail",
                "reinvocationPolicy": "Never",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "namespaceSelector": namespace_selector,
                "objectSelector": object_selector,
            })
        };
        let not_disabled =
            json!({"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]});
        let mut webhooks = vec![
            core(
                "rev.namespace.",
                json!({"matchExpressions": [
                    {"key": "istio.io/rev", "operator": "In", "values": [revision]},
                    {"key": "istio-injection", "operator": "DoesNotExist"}
                ]}),
                json!({"matchExpressions": [not_disabled]}),
            ),
            core(
                "rev.object.",
                json!({"matchExpressions": [
                    {"key": "istio.io/rev", "operator": "DoesNotExist"},
                    {"key": "istio-injection", "operator": "DoesNotExist"}
                ]}),
                json!({"matchExpressions": [
                    not_disabled,
                    {"key": "istio.io/rev", "operator": "In", "values": [revision]}
                ]}),
            ),
        ];
        let name = if revision == "default" {
            webhooks.push(core(
                "namespace.",
                json!({"matchExpressions": [{"key": "istio-injection", "operator": "In", "values": ["enabled"]}]}),
                json!({"matchExpressions": [not_disabled]}),
            ));
            webhooks.push(core(
                "object.",
                json!({"matchExpressions": [
                    {"key": "istio-injection", "operator": "DoesNotExist"},
                    {"key": "istio.io/rev", "operator": "DoesNotExist"}
                ]}),
                json!({"matchExpressions": [
                    {"key": "sidecar.istio.io/inject", "operator": "In", "values": ["true"]},
                    {"key": "istio.io/rev", "operator": "DoesNotExist"}
                ]}),
            ));
            ISTIO_WEBHOOK_CONFIGURATION.to_owned()
        } else {
            format!("{ISTIO_WEBHOOK_CONFIGURATION}-{revision}")
        };
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": name, "labels": {
                "istio.io/rev": revision, "app": "sidecar-injector", "app.kubernetes.io/name": "istiod",
                "operator.istio.io/component": "Pilot"
            }},
            "webhooks": webhooks,
        })
    }
}

impl Drop for Injectors {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn create_or_keep(
    api: &Api<MutatingWebhookConfiguration>,
    configuration: Value,
) -> Result<()> {
    let typed: MutatingWebhookConfiguration =
        serde_json::from_value(configuration).context("webhook configuration shape")?;
    match api.create(&PostParams::default(), &typed).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(anyhow::anyhow!(
            "registering a webhook configuration: {error:?}"
        )),
    }
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, context: Arc<Context_>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let context = context.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |request| {
                let context = context.clone();
                async move { Ok::<_, Infallible>(serve(&context, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

enum Decision {
    Allow(Vec<Value>),
    Deny(String),
}

async fn serve(context: &Context_, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => return plain(StatusCode::BAD_REQUEST, &format!("reading body: {error}")),
    };
    let Ok(review) = serde_json::from_slice::<Value>(&body) else {
        return plain(StatusCode::BAD_REQUEST, "not an AdmissionReview");
    };
    let admission = review.get("request").cloned().unwrap_or(Value::Null);
    let uid = admission.get("uid").cloned().unwrap_or(Value::Null);
    let decision = if path == "/default-service-account" {
        let has_account = admission
            .pointer("/object/spec/serviceAccountName")
            .and_then(Value::as_str)
            .is_some_and(|name| !name.is_empty());
        Decision::Allow(if has_account {
            Vec::new()
        } else {
            vec![json!({"op": "add", "path": "/spec/serviceAccountName", "value": "default"})]
        })
    } else if path == "/mutate-v1-pod" {
        appmesh_pod(context, &admission).await
    } else if let Some(revision) = path.strip_prefix("/inject/") {
        istio_pod(&admission, revision)
    } else if let Some(kind) = path.strip_prefix("/mutate-appmesh-k8s-aws-v1beta2-") {
        appmesh_defaults(context, kind, &admission).await
    } else {
        return plain(StatusCode::NOT_FOUND, "no such webhook");
    };
    context.served.fetch_add(1, Ordering::Relaxed);
    let response = match decision {
        Decision::Allow(operations) if operations.is_empty() => {
            json!({"uid": uid, "allowed": true})
        }
        Decision::Allow(operations) => json!({
            "uid": uid,
            "allowed": true,
            "patchType": "JSONPatch",
            "patch": STANDARD.encode(Value::Array(operations).to_string()),
        }),
        Decision::Deny(message) => json!({
            "uid": uid,
            "allowed": false,
            "status": {"code": 403, "message": message, "status": "Failure"},
        }),
    };
    let body = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    });
    let mut answer = Response::new(Full::new(Bytes::from(body.to_string())));
    answer.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    answer
}

fn plain(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message.to_owned())));
    *response.status_mut() = status;
    response
}

fn request_namespace(admission: &Value) -> String {
    admission
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn istio_pod(admission: &Value, revision: &str) -> Decision {
    let pod = admission.get("object").cloned().unwrap_or(Value::Null);
    if sidecars::istio_skips(&pod) {
        return Decision::Allow(Vec::new());
    }
    let namespace = request_namespace(admission);
    if ["kube-system", "kube-public"].contains(&namespace.as_str()) {
        return Decision::Allow(Vec::new());
    }
    let injected = sidecars::inject_istio(&pod, &namespace, revision);
    Decision::Allow(sidecars::patch_operations(&pod, &injected))
}

fn appmesh_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("appmesh.k8s.aws", "v1beta2", kind),
        plural,
    )
}

/// Objects of an App Mesh kind as JSON; none when the CRD is not installed.
async fn list_appmesh(
    client: &kube::Client,
    kind: &str,
    plural: &str,
    namespace: Option<&str>,
) -> Result<Vec<Value>> {
    let resource = appmesh_resource(kind, plural);
    let api: Api<DynamicObject> = match namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    match api.list(&ListParams::default()).await {
        Ok(list) => list
            .items
            .into_iter()
            .map(|item| serde_json::to_value(item).context("App Mesh object as JSON"))
            .collect(),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Vec::new()),
        Err(error) => Err(anyhow::Error::new(error).context(format!("listing {plural}"))),
    }
}

async fn namespace_labels(client: &kube::Client, namespace: &str) -> Result<Map<String, Value>> {
    let object = Api::<Namespace>::all(client.clone())
        .get(namespace)
        .await
        .with_context(|| format!("reading namespace {namespace}"))?;
    Ok(serde_json::to_value(object)
        .map(|value| selector::labels_of(&value))
        .unwrap_or_default())
}

fn name_of(object: &Value) -> String {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Meshes whose namespaceSelector selects a namespace with `labels`.
async fn meshes_for(client: &kube::Client, labels: &Map<String, Value>) -> Result<Vec<Value>> {
    Ok(list_appmesh(client, "Mesh", "meshes", None)
        .await?
        .into_iter()
        .filter(|mesh| selector::matches(mesh.pointer("/spec/namespaceSelector"), labels))
        .collect())
}

fn mesh_aws_name(mesh: &Value) -> String {
    mesh.pointer("/spec/awsName")
        .and_then(Value::as_str)
        .map_or_else(|| name_of(mesh), str::to_owned)
}

async fn appmesh_pod(context: &Context_, admission: &Value) -> Decision {
    match appmesh_pod_decision(&context.client, admission).await {
        Ok(decision) => decision,
        Err(error) => Decision::Deny(format!("{error:#}")),
    }
}

async fn appmesh_pod_decision(client: &kube::Client, admission: &Value) -> Result<Decision> {
    let pod = admission.get("object").cloned().unwrap_or(Value::Null);
    let namespace = request_namespace(admission);
    let namespace_labels = namespace_labels(client, &namespace).await?;
    let namespace_default = namespace_labels
        .get(sidecars::APPMESH_INJECT_ANNOTATION)
        .and_then(Value::as_str)
        .unwrap_or("disabled")
        .to_ascii_lowercase();
    let pod_choice = sidecars::appmesh_pod_choice(&pod);
    let enabled = pod_choice.as_deref().unwrap_or(namespace_default.as_str()) == "enabled";
    if !enabled {
        return Ok(Decision::Allow(Vec::new()));
    }
    let pod_labels = selector::labels_of(&pod);
    let select = |objects: Vec<Value>| -> Vec<Value> {
        objects
            .into_iter()
            .filter(|object| selector::matches(object.pointer("/spec/podSelector"), &pod_labels))
            .collect()
    };
    let nodes =
        select(list_appmesh(client, "VirtualNode", "virtualnodes", Some(&namespace)).await?);
    if nodes.len() > 1 {
        let names: Vec<String> = nodes.iter().map(name_of).collect();
        return Ok(Decision::Deny(format!(
            "found multiple matching VirtualNodes for pod: {names:?}"
        )));
    }
    let (object, is_gateway) = if let Some(node) = nodes.into_iter().next() {
        (node, false)
    } else {
        let gateways = select(
            list_appmesh(
                client,
                "VirtualGateway",
                "virtualgateways",
                Some(&namespace),
            )
            .await?,
        );
        if gateways.len() > 1 {
            let names: Vec<String> = gateways.iter().map(name_of).collect();
            return Ok(Decision::Deny(format!(
                "found multiple matching VirtualGateways for pod: {names:?}"
            )));
        }
        match gateways.into_iter().next() {
            Some(gateway) => (gateway, true),
            None if pod_choice.as_deref() == Some("enabled") => {
                return Ok(Decision::Deny(
                    "sidecarInjectorWebhook is enabled for this pod but no VirtualNode or VirtualGateway selects it".to_owned(),
                ));
            }
            None => return Ok(Decision::Allow(Vec::new())),
        }
    };
    let mesh = match object.pointer("/spec/meshRef/name").and_then(Value::as_str) {
        Some(mesh_name) => list_appmesh(client, "Mesh", "meshes", None)
            .await?
            .into_iter()
            .find(|mesh| name_of(mesh) == mesh_name)
            .map_or_else(|| mesh_name.to_owned(), |mesh| mesh_aws_name(&mesh)),
        None => {
            let meshes = meshes_for(client, &namespace_labels).await?;
            match meshes.as_slice() {
                [mesh] => mesh_aws_name(mesh),
                _ => {
                    return Ok(Decision::Deny(format!(
                        "{} {} has no meshRef and {} meshes select namespace {namespace}",
                        if is_gateway {
                            "VirtualGateway"
                        } else {
                            "VirtualNode"
                        },
                        name_of(&object),
                        meshes.len()
                    )));
                }
            }
        }
    };
    let aws_name = object
        .pointer("/spec/awsName")
        .and_then(Value::as_str)
        .map_or_else(
            || format!("{}_{namespace}", name_of(&object)),
            str::to_owned,
        );
    let member = if is_gateway {
        AppMeshMember::VirtualGateway { mesh, aws_name }
    } else {
        let listener_ports = object
            .pointer("/spec/listeners")
            .and_then(Value::as_array)
            .map(|listeners| {
                listeners
                    .iter()
                    .filter_map(|listener| {
                        listener
                            .pointer("/portMapping/port")
                            .and_then(Value::as_i64)
                    })
                    .collect()
            })
            .unwrap_or_default();
        AppMeshMember::VirtualNode {
            mesh,
            aws_name,
            listener_ports,
        }
    };
    let injected = sidecars::inject_appmesh(&pod, &member);
    Ok(Decision::Allow(sidecars::patch_operations(&pod, &injected)))
}

async fn appmesh_defaults(context: &Context_, kind: &str, admission: &Value) -> Decision {
    match appmesh_defaults_decision(&context.client, kind, admission).await {
        Ok(decision) => decision,
        Err(error) => Decision::Deny(format!("{error:#}")),
    }
}

/// The App Mesh controller's defaulting on create (appmesh-crds.md §8).
async fn appmesh_defaults_decision(
    client: &kube::Client,
    kind: &str,
    admission: &Value,
) -> Result<Decision> {
    let object = admission.get("object").cloned().unwrap_or(Value::Null);
    let name = name_of(&object);
    let namespace = request_namespace(admission);
    let mut operations = Vec::new();
    let spec_missing = object.get("spec").is_none_or(Value::is_null);
    if spec_missing {
        operations.push(json!({"op": "add", "path": "/spec", "value": {}}));
    }
    let has = |pointer: &str| {
        object
            .pointer(pointer)
            .is_some_and(|value| !value.is_null())
    };
    let default_aws_name = match kind {
        "mesh" => Some(name.clone()),
        "virtualservice" => Some(format!("{name}.{namespace}")),
        "virtualnode" | "virtualrouter" | "virtualgateway" | "gatewayroute" => {
            Some(format!("{name}_{namespace}"))
        }
        _ => None,
    };
    if let Some(aws_name) = default_aws_name
        && !has("/spec/awsName")
    {
        operations.push(json!({"op": "add", "path": "/spec/awsName", "value": aws_name}));
    }
    if kind == "mesh" {
        return Ok(Decision::Allow(operations));
    }
    if has("/spec/meshRef") {
        return Ok(Decision::Deny(
            "create may not specify read-only field: spec.meshRef".to_owned(),
        ));
    }
    let labels = namespace_labels(client, &namespace).await?;
    let meshes = meshes_for(client, &labels).await?;
    let [mesh] = meshes.as_slice() else {
        return Ok(Decision::Deny(format!(
            "failed to find matching mesh for namespace: {namespace}, expecting 1 but found {}",
            meshes.len()
        )));
    };
    let mesh_name = name_of(mesh);
    let mesh_uid = mesh
        .pointer("/metadata/uid")
        .cloned()
        .unwrap_or(Value::Null);
    operations.push(json!({"op": "add", "path": "/spec/meshRef", "value": {"name": mesh_name, "uid": mesh_uid}}));
    if kind == "gatewayroute" && !has("/spec/virtualGatewayRef") {
        let route_labels = selector::labels_of(&object);
        let gateways: Vec<Value> = list_appmesh(client, "VirtualGateway", "virtualgateways", None)
            .await?
            .into_iter()
            .filter(|gateway| {
                let route_selector = gateway
                    .pointer("/spec/gatewayRouteSelector")
                    .filter(|value| !value.is_null());
                selector::matches(gateway.pointer("/spec/namespaceSelector"), &labels)
                    && route_selector
                        .is_none_or(|selector| selector::matches(Some(selector), &route_labels))
            })
            .collect();
        let [gateway] = gateways.as_slice() else {
            return Ok(Decision::Deny(format!(
                "failed to find matching virtualGateway for gatewayRoute: {name}, expecting 1 but found {}",
                gateways.len()
            )));
        };
        if gateway
            .pointer("/spec/meshRef/name")
            .and_then(Value::as_str)
            .is_some_and(|gateway_mesh| gateway_mesh != mesh_name)
        {
            return Ok(Decision::Deny(format!(
                "gatewayRoute {name} and its virtualGateway {} belong to different meshes",
                name_of(gateway)
            )));
        }
        operations.push(
            json!({"op": "add", "path": "/spec/virtualGatewayRef", "value": {
                "name": name_of(gateway),
                "namespace": gateway.pointer("/metadata/namespace").cloned().unwrap_or(Value::Null),
                "uid": gateway.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
            }}),
        );
    }
    Ok(Decision::Allow(operations))
}
