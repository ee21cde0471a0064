//! An HTTPS proxy on loopback (certificate from the cluster CA, so clients
//! verify it like the apiserver; kubectl sends no token over plain HTTP) in
//! front of the apiserver that fails chosen
//! requests: error statuses (500, 503, 409, ...), 429 with `Retry-After`, slow
//! responses, connections dropped before the request reaches the apiserver,
//! and connections dropped after the apiserver applied it (the reply is lost).
//! Its kubeconfig points clients (kube-rs, kubectl, our plugin binaries) at it;
//! it records every request so a test can count retries.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::pki::ServingCert;

use crate::access::{self, Endpoint};

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// What the proxy does to a request a rule selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status and a Kubernetes `Status` body, without
    /// forwarding. 409 gives reason `Conflict`, 500 `InternalError`, 503
    /// `ServiceUnavailable`, 504 `Timeout`, 410 `Expired` with the apiserver's message for
    /// an expired continue token.
    Status(u16),
    /// 429 `TooManyRequests` with `Retry-After: <seconds>`, not forwarded.
    TooManyRequests { retry_after_seconds: u64 },
    /// Wait, then forward normally (a slow apiserver).
    Delay(Duration),
    /// Close the connection without forwarding or answering.
    DropConnection,
    /// Forward, let the apiserver apply the request, then close the
    /// connection without returning its answer (the client cannot know
    /// whether its write happened).
    DropAfterForwarding,
}

/// Selects requests by method, path and query substrings; lets the first
/// `skip` matching requests through, then applies `fault` to at most `times`
/// requests (every later one when `times` is `None`).
#[derive(Clone, Debug)]
pub struct FaultRule {
    pub method: Option<Method>,
    pub path_contains: Option<String>,
    pub query_contains: Option<String>,
    pub skip: usize,
    pub times: Option<usize>,
    pub fault: Fault,
}

impl FaultRule {
    /// A rule applying `fault` to every request, once; narrow it with the
    /// builder methods.
    pub fn new(fault: Fault) -> Self {
        Self {
            method: None,
            path_contains: None,
            query_contains: None,
            skip: 0,
            times: Some(1),
            fault,
        }
    }

    /// What the API server answers once etcd compacted the revision a list's continue token
    /// points at: 410 `Expired` on the next page (a GET with `continue=`) of the collection
    /// whose path contains `collection` (`/namespaces/shop/services`), once.
    pub fn expired_continue(collection: &str) -> Self {
        Self::new(Fault::Status(410))
            .method(Method::GET)
            .path_contains(collection)
            .query_contains("continue=")
    }

    #[must_use]
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    #[must_use]
    pub fn path_contains(mut self, text: &str) -> Self {
        self.path_contains = Some(text.to_owned());
        self
    }

    #[must_use]
    pub fn query_contains(mut self, text: &str) -> Self {
        self.query_contains = Some(text.to_owned());
        self
    }

    #[must_use]
    pub fn skip(mut self, count: usize) -> Self {
        self.skip = count;
        self
    }

    #[must_use]
    pub fn times(mut self, count: usize) -> Self {
        self.times = Some(count);
        self
    }

    #[must_use]
    pub fn always(mut self) -> Self {
        self.times = None;
        self
    }

    fn selects(&self, method: &Method, uri: &Uri) -> bool {
        self.method.as_ref().is_none_or(|wanted| wanted == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|text| uri.path().contains(text))
            && self
                .query_contains
                .as_deref()
                .is_none_or(|text| uri.query().unwrap_or_default().contains(text))
    }
}

/// One request the proxy saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Arrival order among every request this proxy saw (the order its rules count in;
    /// the journal itself is in completion order).
    pub arrival: u64,
    pub method: Method,
    /// Path and query.
    pub uri: String,
    /// The status the client got; `None` when the connection was dropped.
    pub status: Option<u16>,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
}

struct ArmedRule {
    rule: FaultRule,
    seen: usize,
    fired: usize,
}

struct ProxyState {
    upstream_port: u16,
    connector: TlsConnector,
    rules: Mutex<Vec<ArmedRule>>,
    journal: Mutex<Vec<RecordedRequest>>,
    faults_applied: AtomicU64,
    arrivals: AtomicU64,
}

pub struct FaultProxy {
    endpoint: Endpoint,
    kubeconfig_path: PathBuf,
    token_file: PathBuf,
    bin_dir: PathBuf,
    cluster_dir: PathBuf,
    state: Arc<ProxyState>,
    task: JoinHandle<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FaultProxy {
    pub(crate) fn start(
        handle: &Handle,
        upstream: &Endpoint,
        admin_token_file: &Path,
        bin_dir: &Path,
        cluster_dir: &Path,
        name: &str,
        serving: &ServingCert,
    ) -> Result<Self> {
        let upstream_port = upstream
            .server_url
            .rsplit(':')
            .next()
            .and_then(|port| port.parse::<u16>().ok())
            .context("apiserver URL has no port")?;
        let mut roots = rustls::RootCertStore::empty();
        for der in access::pem_certificates(upstream.ca_pem.as_deref().unwrap_or_default())? {
            roots
                .add(CertificateDer::from(der))
                .context("adding the cluster CA")?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_tls = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(serving.cert_der.clone())],
                rustls::pki_types::PrivateKeyDer::Pkcs8(
                    rustls::pki_types::PrivatePkcs8KeyDer::from(serving.key_der.clone()),
                ),
            )
            .context("fault proxy TLS configuration")?;
        let acceptor = TlsAcceptor::from(Arc::new(server_tls));
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let listener =
            std::net::TcpListener::bind(("127.0.0.1", 0)).context("binding the fault proxy")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(ProxyState {
            upstream_port,
            connector: TlsConnector::from(Arc::new(tls)),
            rules: Mutex::new(Vec::new()),
            journal: Mutex::new(Vec::new()),
            faults_applied: AtomicU64::new(0),
            arrivals: AtomicU64::new(0),
        });
        let task = {
            let state = state.clone();
            handle.spawn(async move {
                if let Ok(listener) = TcpListener::from_std(listener) {
                    accept_loop(listener, acceptor, state).await;
                }
            })
        };
        let url = format!("https://127.0.0.1:{port}");
        let endpoint = Endpoint {
            server_url: url.clone(),
            ca_pem: upstream.ca_pem.clone(),
        };
        let dir = cluster_dir.join(name);
        std::fs::create_dir_all(&dir)?;
        let kubeconfig_path = dir.join("kubeconfig");
        let token = std::fs::read_to_string(admin_token_file).context("reading the admin token")?;
        access::write_kubeconfig(
            &kubeconfig_path,
            &endpoint,
            "admin",
            token.trim(),
            "default",
        )?;
        Ok(Self {
            endpoint,
            kubeconfig_path,
            token_file: admin_token_file.to_path_buf(),
            bin_dir: bin_dir.to_path_buf(),
            cluster_dir: cluster_dir.to_path_buf(),
            state,
            task,
        })
    }

    /// `https://127.0.0.1:<port>` (certificate signed by the cluster CA).
    pub fn url(&self) -> &str {
        &self.endpoint.server_url
    }

    /// An admin kubeconfig whose server is this proxy.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// Writes a kubeconfig at `path` for this proxy with `token` (for
    /// restricted identities through the proxy).
    pub fn write_kubeconfig(&self, path: &Path, user: &str, token: &str) -> Result<()> {
        access::write_kubeconfig(path, &self.endpoint, user, token, "default")
    }

    /// An admin client through the proxy (create it inside the test's runtime).
    pub fn client(&self) -> Result<kube::Client> {
        access::make_client(&self.endpoint, &self.token_file)
    }

    /// kubectl with `KUBECONFIG` pointing through the proxy.
    pub fn kubectl(&self) -> Command {
        crate::cluster::kubectl_command(&self.bin_dir, &self.kubeconfig_path, &self.cluster_dir)
    }

    pub fn add_rule(&self, rule: FaultRule) {
        lock(&self.state.rules).push(ArmedRule {
            rule,
            seen: 0,
            fired: 0,
        });
    }

    pub fn clear_rules(&self) {
        lock(&self.state.rules).clear();
    }

    /// Every request seen so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.journal).clone()
    }

    /// Requests with `method` whose path and query contain `text`.
    pub fn count(&self, method: &Method, text: &str) -> usize {
        lock(&self.state.journal)
            .iter()
            .filter(|request| request.method == *method && request.uri.contains(text))
            .count()
    }

    pub fn faults_applied(&self) -> u64 {
        self.state.faults_applied.load(Ordering::Relaxed)
    }

    pub fn clear_journal(&self) {
        lock(&self.state.journal).clear();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, state: Arc<ProxyState>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { handle(&state, request).await }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

/// The request's arrival number (taken under the rules' lock, so that it is the order the
/// rules count in) and the fault to apply, if any.
fn choose_fault(state: &ProxyState, method: &Method, uri: &Uri) -> (u64, Option<Fault>) {
    let mut rules = lock(&state.rules);
    let arrival = state.arrivals.fetch_add(1, Ordering::Relaxed);
    (arrival, choose_armed(&mut rules, method, uri))
}

fn choose_armed(rules: &mut [ArmedRule], method: &Method, uri: &Uri) -> Option<Fault> {
    for armed in rules.iter_mut() {
        if !armed.rule.selects(method, uri) {
            continue;
        }
        armed.seen += 1;
        if armed.seen <= armed.rule.skip {
            continue;
        }
        if armed.rule.times.is_some_and(|times| armed.fired >= times) {
            continue;
        }
        armed.fired += 1;
        return Some(armed.rule.fault.clone());
    }
    None
}

fn record(
    state: &ProxyState,
    arrival: u64,
    method: Method,
    uri: String,
    status: Option<u16>,
    fault: Option<Fault>,
) {
    if fault.is_some() {
        state.faults_applied.fetch_add(1, Ordering::Relaxed);
    }
    lock(&state.journal).push(RecordedRequest {
        arrival,
        method,
        uri,
        status,
        fault,
    });
}

/// The connection is dropped when this returns `Err`.
async fn handle(
    state: &ProxyState,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, std::io::Error> {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), ToString::to_string);
    let (arrival, fault) = choose_fault(state, &method, &uri);
    match &fault {
        Some(Fault::Status(code)) => {
            record(
                state,
                arrival,
                method,
                path_and_query,
                Some(*code),
                fault.clone(),
            );
            return Ok(status_response(*code, None));
        }
        Some(Fault::TooManyRequests {
            retry_after_seconds,
        }) => {
            record(
                state,
                arrival,
                method,
                path_and_query,
                Some(429),
                fault.clone(),
            );
            return Ok(status_response(429, Some(*retry_after_seconds)));
        }
        Some(Fault::DropConnection) => {
            record(state, arrival, method, path_and_query, None, fault.clone());
            return Err(std::io::Error::other("fault proxy: connection dropped"));
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(*delay).await,
        Some(Fault::DropAfterForwarding) | None => {}
    }
    let response = match forward(state, request, &path_and_query).await {
        Ok(response) => response,
        Err(error) => {
            record(state, arrival, method, path_and_query, Some(502), fault);
            return Ok(status_response_with(
                502,
                "BadGateway",
                &format!("fault proxy: upstream failed: {error:#}"),
                None,
            ));
        }
    };
    if fault == Some(Fault::DropAfterForwarding) {
        // Read the whole answer so the apiserver has finished the request.
        let _ = response.into_body().collect().await;
        record(state, arrival, method, path_and_query, None, fault);
        return Err(std::io::Error::other("fault proxy: reply dropped"));
    }
    record(
        state,
        arrival,
        method,
        path_and_query,
        Some(response.status().as_u16()),
        fault,
    );
    Ok(response.map(BodyExt::boxed))
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

async fn forward(
    state: &ProxyState,
    request: Request<Incoming>,
    path_and_query: &str,
) -> Result<Response<Incoming>> {
    let tcp = TcpStream::connect(("127.0.0.1", state.upstream_port))
        .await
        .context("connecting to the apiserver")?;
    let server_name = ServerName::try_from("127.0.0.1").context("server name")?;
    let tls = state
        .connector
        .connect(server_name, tcp)
        .await
        .context("TLS to the apiserver")?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Incoming>(TokioIo::new(tls))
            .await
            .context("HTTP handshake with the apiserver")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let (mut parts, body) = request.into_parts();
    parts.uri = path_and_query.parse().context("request URI")?;
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.insert(
        http::header::HOST,
        http::HeaderValue::from_str(&format!("127.0.0.1:{}", state.upstream_port))
            .context("host header")?,
    );
    let mut response = sender
        .send_request(Request::from_parts(parts, body))
        .await
        .context("forwarding to the apiserver")?;
    strip_hop_by_hop(response.headers_mut());
    Ok(response)
}

/// What kube-apiserver 1.20 answers (410, reason `Expired`) when a list's continue token
/// refers to a revision etcd has compacted away (`storage/etcd3/errors.go`).
pub const EXPIRED_CONTINUE_MESSAGE: &str = "The provided continue parameter is too old \
to display a consistent list result. You can start a new list without the continue parameter, \
or use the continue token in this response to retrieve the remainder of the results. \
Continuing with the provided token results in an inconsistent list - objects that were \
created, modified, or deleted between the time the first chunk was returned and now may show \
up in the list.";

fn status_response(code: u16, retry_after_seconds: Option<u64>) -> Response<ProxyBody> {
    // 410 is what a list with an expired continue token gets: the apiserver's own Status.
    if code == 410 {
        return status_response_with(410, "Expired", EXPIRED_CONTINUE_MESSAGE, None);
    }
    let reason = match code {
        409 => "Conflict",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        404 => "NotFound",
        403 => "Forbidden",
        401 => "Unauthorized",
        _ => "",
    };
    status_response_with(
        code,
        reason,
        &format!("injected by the test fault proxy: HTTP {code}"),
        retry_after_seconds,
    )
}

fn status_response_with(
    code: u16,
    reason: &str,
    message: &str,
    retry_after_seconds: Option<u64>,
) -> Response<ProxyBody> {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(seconds) = retry_after_seconds {
        body["details"] = json!({"retryAfterSeconds": seconds});
    }
    let mut response = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|never: Infallible| match never {})
            .boxed(),
    );
    *response.status_mut() =
        http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if let Some(seconds) = retry_after_seconds
        && let Ok(value) = http::HeaderValue::from_str(&seconds.to_string())
    {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, value);
    }
    response
}
