//! VirtualGateways → Istio `Gateway`s served by the shared Istio ingress gateway
//! (istio-mapping.md §7, §11; appmesh-crds.md §5).
//!
//! An App Mesh VirtualGateway is an Envoy Deployment of its own. In Istio the ingress gateway
//! (the pods `ConvertOptions::ingress_gateway_selector` matches) takes over every
//! VirtualGateway: each becomes a `Gateway` with one server per listener, and its
//! GatewayRoutes become VirtualServices bound to it (gateway_route.rs). They are translated
//! first because the servers admit exactly the hosts of those VirtualServices.
//!
//! Since all VirtualGateways now share one set of pods, what App Mesh configured per gateway
//! Deployment (access logs, listener ports on the gateway's Service) is merged here: one
//! Telemetry for the ingress gateway, and the listener ports its Service must expose (the
//! Mesh module adds them to the IstioOperator with `--install`).

use std::collections::{BTreeMap, BTreeSet};

use crate::appmesh::AppMeshKind;
use crate::appmesh::common::{ListenerTlsMode, TlsValidationTrust};
use crate::appmesh::virtual_gateway::{
    VirtualGatewayListener, VirtualGatewayListenerTls, VirtualGatewayPortProtocol,
};
use crate::istio::{
    Gateway, GatewayPort, GatewaySpec, KubernetesServicePort, Metadata, Server, ServerTlsMode,
    ServerTlsSettings, Telemetry, TelemetrySpec, WorkloadSelector,
};
use crate::k8s::Service;
use crate::origin::ObjectRef;
use crate::resolve::{NsName, VirtualGatewayEntry};

use super::gateway_route::{self, GatewayBinding, ServedHost};
use super::{Context, access_log, names};

/// The Istio ingress gateway replaces the VirtualGateway's Envoy.
pub(crate) const CODE_INGRESS_REPLACES_ENVOY: &str = "AMI2301";
/// A listener certificate must become a Kubernetes Secret.
pub(crate) const CODE_TLS_SECRET: &str = "AMI2302";
/// PERMISSIVE listener TLS.
pub(crate) const CODE_PERMISSIVE_TLS: &str = "AMI2303";
/// Listener connection pool not carried over.
pub(crate) const CODE_CONNECTION_POOL: &str = "AMI2304";
/// Listener health check not carried over.
pub(crate) const CODE_HEALTH_CHECK: &str = "AMI2305";
/// backendDefaults client TLS replaced by Istio mTLS.
pub(crate) const CODE_CLIENT_POLICY: &str = "AMI2306";
/// A listener port added to the ingress gateway Service in the IstioOperator.
pub(crate) const CODE_PORT_INSTALLED: &str = "AMI2307";
/// A listener port the user must add to the ingress gateway Service.
pub(crate) const CODE_PORT_TO_ADD: &str = "AMI2308";
/// Several VirtualGateways listen on one port of the shared ingress gateway.
pub(crate) const CODE_SHARED_PORT: &str = "AMI2309";
/// No usable listener: no Gateway.
pub(crate) const CODE_NO_LISTENER: &str = "AMI2310";
/// The ingress gateway's access log covers every VirtualGateway.
pub(crate) const CODE_SHARED_ACCESS_LOG: &str = "AMI2311";
/// A listener left out of the Gateway.
pub(crate) const CODE_BAD_LISTENER: &str = "AMI2312";

/// Ports of the default `istio-ingressgateway` Service and the target ports behind them: a
/// Gateway server port may name either (IST0162). The status port 15021 is not for traffic.
const DEFAULT_SERVICE_PORTS: [(u32, u32, &str); 3] = [
    (15021, 15021, "status-port"),
    (80, 8080, "http2"),
    (443, 8443, "https"),
];

/// Istio gateways run as non-root: a privileged Service port is served from this offset, as
/// Istio's own 80 → 8080 and 443 → 8443 are.
const PRIVILEGED_PORT_OFFSET: u32 = 8000;

/// The Service port clients use for a gateway listener port on the default ingress gateway
/// Service, if it has one.
fn default_service_port(listener: u32) -> Option<u32> {
    DEFAULT_SERVICE_PORTS
        .iter()
        .find(|(port, target, _)| *port != 15021 && (*port == listener || *target == listener))
        .map(|(port, _, _)| *port)
}

/// One listener as an Istio Gateway server (hosts are filled in later).
#[derive(Debug, Clone)]
struct PlannedServer {
    port: ListenerPort,
    server: Server,
    /// Protocol and TLS as they decide whether two Gateways can share the port.
    shape: String,
}

fn port_number(port: i64) -> Option<u32> {
    u32::try_from(port).ok().filter(|p| (1..=65535).contains(p))
}

fn protocol_name(protocol: VirtualGatewayPortProtocol) -> &'static str {
    match protocol {
        VirtualGatewayPortProtocol::Http => "http",
        VirtualGatewayPortProtocol::Http2 => "http2",
        VirtualGatewayPortProtocol::Grpc => "grpc",
    }
}

/// Where one usable VirtualGateway listener is served.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListenerPort {
    /// Index in `spec.listeners`.
    index: usize,
    listener: u32,
    /// The Gateway server port. Clients keep the port they used on the VirtualGateway's own
    /// Service (Istio maps a server port that is a port of the ingress gateway's Service to
    /// that port's target); without such a Service, the listener port itself.
    server: u32,
    /// The VirtualGateway Service port clients used, when the input has it.
    client: Option<String>,
    name: String,
}

impl ListenerPort {
    /// The ingress gateway Service port clients use for the listener, and whether the default
    /// `istio-ingressgateway` Service already has it.
    fn ingress_port(&self) -> (u32, bool) {
        if self.client.is_some() {
            (
                self.server,
                DEFAULT_SERVICE_PORTS
                    .iter()
                    .any(|(port, _, _)| *port == self.server && *port != 15021),
            )
        } else {
            default_service_port(self.server).map_or((self.server, false), |port| (port, true))
        }
    }
}

/// Why a listener cannot be served, by listener index.
type ListenerProblems = Vec<(usize, String)>;

/// The Kubernetes Services of the input that send traffic to the VirtualGateway's pods: those
/// of its namespace whose selector matches the pods of its workloads (or, without workloads in
/// the input, its podSelector's labels).
fn gateway_services<'i>(ctx: &Context<'i>, vg: &VirtualGatewayEntry<'_>) -> Vec<&'i Service> {
    let inventory: &'i crate::load::Inventory = ctx.inventory;
    let pods: Vec<&BTreeMap<String, String>> = vg
        .workloads
        .iter()
        .filter_map(|i| inventory.workloads.get(*i))
        .map(|w| &w.object.pod_labels)
        .collect();
    let selector_labels = vg
        .object
        .spec
        .pod_selector
        .as_ref()
        .and_then(|s| s.match_labels.as_ref());
    inventory
        .services
        .iter()
        .map(|s| &s.object)
        .filter(|s| s.namespace == vg.common.key.namespace)
        .filter(|s| {
            let Some(selector) = s.selector.as_ref().filter(|sel| !sel.is_empty()) else {
                return false;
            };
            let selects = |labels: &BTreeMap<String, String>| {
                selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            };
            if pods.is_empty() {
                selector_labels.is_some_and(&selects)
            } else {
                pods.iter().any(|l| selects(l))
            }
        })
        .collect()
}

/// The first Service port of `services` whose target is `listener` (a numeric targetPort, or
/// none and the same port).
fn client_port(services: &[&Service], listener: u32) -> Option<(u32, String)> {
    let wanted = listener.to_string();
    services.iter().find_map(|s| {
        s.ports.iter().find_map(|p| {
            let targets = match &p.target_port {
                Some(t) => *t == wanted,
                None => p.port == i64::from(listener),
            };
            let port = port_number(p.port).filter(|_| targets)?;
            Some((
                port,
                format!("Service {}/{} port {port}", s.namespace, s.name),
            ))
        })
    })
}

/// The usable listeners of a VirtualGateway in listener order, and what is wrong with the others.
fn listener_ports(
    ctx: &Context<'_>,
    vg: &VirtualGatewayEntry<'_>,
) -> (Vec<ListenerPort>, ListenerProblems) {
    let services = gateway_services(ctx, vg);
    let mut ports: Vec<ListenerPort> = Vec::new();
    let mut problems = Vec::new();
    for (index, l) in vg.object.spec.listeners.iter().enumerate() {
        let raw = l.port_mapping.port;
        let Some(listener) = port_number(raw) else {
            problems.push((index, format!("port {raw} is not a valid port number")));
            continue;
        };
        if ports.iter().any(|p| p.listener == listener) {
            problems.push((
                index,
                format!("port {listener} is already used by another listener"),
            ));
            continue;
        }
        // Two listeners reached through the same Service port cannot both keep it.
        let (server, client) = match client_port(&services, listener) {
            Some((port, via)) if !ports.iter().any(|p| p.server == port) => (port, Some(via)),
            _ => (listener, None),
        };
        if ports.iter().any(|p| p.server == server) {
            problems.push((
                index,
                format!("port {listener} is already used by another listener's Service port"),
            ));
            continue;
        }
        ports.push(ListenerPort {
            index,
            listener,
            server,
            client,
            name: port_name(l, server),
        });
    }
    (ports, problems)
}

fn terminates_tls(listener: &VirtualGatewayListener) -> bool {
    listener
        .tls
        .as_ref()
        .is_some_and(|t| t.mode != ListenerTlsMode::Disabled)
}

fn port_name(listener: &VirtualGatewayListener, port: u32) -> String {
    let protocol = if terminates_tls(listener) {
        "https"
    } else {
        protocol_name(listener.port_mapping.protocol)
    };
    format!("{protocol}-{port}")
}

/// Ports the ingress gateway Service must gain so every VirtualGateway listener is reachable
/// (the default Service has 80 and 443), each once, in port order.
pub(crate) fn ingress_ports_to_add(ctx: &Context<'_>) -> Vec<KubernetesServicePort> {
    let mut ports: BTreeMap<u32, String> = BTreeMap::new();
    for vg in ctx.resolved.virtual_gateways.values() {
        for lp in listener_ports(ctx, vg).0 {
            let (port, present) = lp.ingress_port();
            if !present {
                ports.entry(port).or_insert(lp.name);
            }
        }
    }
    ports
        .into_iter()
        .map(|(port, name)| extra_service_port(port, name))
        .collect()
}

fn extra_service_port(port: u32, name: String) -> KubernetesServicePort {
    let target_port = if port < 1024 {
        port + PRIVILEGED_PORT_OFFSET
    } else {
        port
    };
    KubernetesServicePort {
        name,
        port,
        target_port: Some(target_port),
        protocol: Some("TCP".to_owned()),
    }
}

/// The ports of the default ingress gateway Service, for an IstioOperator that lists its own
/// (a list there replaces the default one).
pub(crate) fn default_ingress_ports() -> Vec<KubernetesServicePort> {
    DEFAULT_SERVICE_PORTS
        .iter()
        .map(|(port, target, name)| KubernetesServicePort {
            name: (*name).to_owned(),
            port: *port,
            target_port: Some(*target),
            protocol: Some("TCP".to_owned()),
        })
        .collect()
}

/// Translate every VirtualGateway and the GatewayRoutes attached to it.
pub(crate) fn translate(ctx: &mut Context<'_>) {
    let resolved = ctx.resolved;
    let mut port_users: BTreeMap<u32, Vec<(ObjectRef, String)>> = BTreeMap::new();
    let mut logs: Vec<(ObjectRef, Vec<String>)> = Vec::new();
    for (key, vg) in &resolved.virtual_gateways {
        let subject = key.object_ref(AppMeshKind::VirtualGateway);
        let servers = plan_servers(ctx, vg, &subject);
        if servers.is_empty() {
            let routes = resolved.gateway_routes_of(key);
            ctx.note(
                CODE_NO_LISTENER,
                &subject,
                "spec.listeners",
                format!(
                    "no listener with a valid port, so there is no Gateway{}",
                    if routes.is_empty() {
                        String::new()
                    } else {
                        " and its GatewayRoutes are not converted".to_owned()
                    }
                ),
            );
            for gr in routes {
                ctx.note(
                    gateway_route::CODE_NOT_CONVERTED,
                    &gr.common.key.object_ref(AppMeshKind::GatewayRoute),
                    "spec",
                    format!(
                        "its VirtualGateway {key} has no usable listener and was not converted"
                    ),
                );
            }
            continue;
        }
        let label = names::dns1123_label(&key.name, 63);
        let name =
            ctx.output
                .free_name(Gateway::KIND, &key.namespace, &label, &subject.to_string());
        let binding = GatewayBinding {
            gateway: format!("{}/{name}", key.namespace),
            ports: servers
                .iter()
                .map(|s| (s.port.listener, s.port.server))
                .collect(),
        };
        let served = gateway_route::translate_routes(ctx, vg, &binding);
        let mut spec = GatewaySpec {
            servers: Vec::new(),
            selector: ctx.opts.ingress_gateway_selector.clone(),
        };
        let ports: Vec<ListenerPort> = servers.iter().map(|s| s.port.clone()).collect();
        for planned in servers {
            let mut server = planned.server;
            server.hosts = server_hosts(&served, server.port.number, &key.namespace);
            port_users
                .entry(server.port.number)
                .or_default()
                .push((subject.clone(), planned.shape));
            spec.servers.push(server);
        }
        ctx.output.insert(
            Gateway::new(Metadata::new(name.clone(), key.namespace.clone()), spec),
            &subject,
        );
        note_ingress(ctx, vg, &subject, &ports);
        if let Some(file) = vg
            .object
            .spec
            .logging
            .as_ref()
            .and_then(|l| l.access_log.as_ref())
            .and_then(|a| a.file.as_ref())
        {
            let logging =
                access_log::access_logging(ctx, &subject, "spec.logging.accessLog.file", file);
            logs.push((
                subject.clone(),
                logging.providers.into_iter().map(|p| p.name).collect(),
            ));
        } else {
            logs.push((subject.clone(), Vec::new()));
        }
        if vg
            .object
            .spec
            .backend_defaults
            .as_ref()
            .and_then(|b| b.client_policy.as_ref())
            .and_then(|c| c.tls.as_ref())
            .is_some()
        {
            ctx.note(
                CODE_CLIENT_POLICY,
                &subject,
                "spec.backendDefaults.clientPolicy.tls",
                "the ingress gateway reaches meshed backends with Istio mutual TLS and Istio's workload certificates; the certificates and trust of this client policy are not used",
            );
        }
    }
    note_shared_ports(ctx, &port_users);
    shared_access_log(ctx, logs);
}

/// The server hosts admitting the VirtualServices of the gateway's routes on `port`; a server
/// with no route admits the gateway namespace's VirtualServices (none exist, so requests get
/// 404 as they did in App Mesh) because Istio needs at least one host.
fn server_hosts(served: &[ServedHost], port: u32, gateway_namespace: &str) -> Vec<String> {
    let hosts: BTreeSet<String> = served
        .iter()
        .filter(|s| s.ports.as_ref().is_none_or(|ports| ports.contains(&port)))
        .map(|s| format!("{}/{}", s.namespace, s.host))
        .collect();
    if hosts.is_empty() {
        vec![format!("{gateway_namespace}/*")]
    } else {
        hosts.into_iter().collect()
    }
}

fn plan_servers(
    ctx: &mut Context<'_>,
    vg: &VirtualGatewayEntry<'_>,
    subject: &ObjectRef,
) -> Vec<PlannedServer> {
    let (ports, problems) = listener_ports(ctx, vg);
    for (i, problem) in problems {
        ctx.note(
            CODE_BAD_LISTENER,
            subject,
            &format!("spec.listeners[{i}].portMapping.port"),
            problem,
        );
    }
    let mut servers: Vec<PlannedServer> = Vec::new();
    for lp in ports {
        let Some(listener) = vg.object.spec.listeners.get(lp.index) else {
            continue;
        };
        let field = format!("spec.listeners[{}]", lp.index);
        let port = lp.listener;
        let mut protocol = match listener.port_mapping.protocol {
            VirtualGatewayPortProtocol::Http => "HTTP",
            VirtualGatewayPortProtocol::Http2 => "HTTP2",
            VirtualGatewayPortProtocol::Grpc => "GRPC",
        };
        let mut tls = None;
        if let Some(listener_tls) = listener
            .tls
            .as_ref()
            .filter(|t| t.mode != ListenerTlsMode::Disabled)
        {
            // The gateway terminates TLS and routes what is inside as HTTP (HTTP/2 and gRPC
            // are negotiated with ALPN).
            protocol = "HTTPS";
            tls = Some(server_tls(ctx, vg, subject, &field, port, listener_tls));
        }
        if let Some(pool) = &listener.connection_pool {
            let limits = [
                pool.http.as_ref().map(|h| match h.max_pending_requests {
                    Some(pending) => format!(
                        "http maxConnections {} and maxPendingRequests {pending}",
                        h.max_connections
                    ),
                    None => format!("http maxConnections {}", h.max_connections),
                }),
                pool.http2
                    .as_ref()
                    .map(|h| format!("http2 maxRequests {}", h.max_requests)),
                pool.grpc
                    .as_ref()
                    .map(|g| format!("grpc maxRequests {}", g.max_requests)),
            ];
            let limits: Vec<String> = limits.into_iter().flatten().collect();
            if !limits.is_empty() {
                ctx.note(
                    CODE_CONNECTION_POOL,
                    subject,
                    &format!("{field}.connectionPool"),
                    format!("the gateway's limit ({}) has no Gateway equivalent and is not carried over", limits.join(", ")),
                );
            }
        }
        if let Some(hc) = &listener.health_check {
            ctx.note(
                CODE_HEALTH_CHECK,
                subject,
                &format!("{field}.healthCheck"),
                format!(
                    "the active {} health check every {} ms is not carried over; Istio relies on Kubernetes readiness",
                    protocol_name(hc.protocol),
                    hc.interval_millis
                ),
            );
        }
        let shape = match &tls {
            Some(t) => format!(
                "{protocol} {:?} {}",
                t.mode,
                t.credential_name.as_deref().unwrap_or_default()
            ),
            None => protocol.to_owned(),
        };
        servers.push(PlannedServer {
            server: Server {
                port: GatewayPort {
                    number: lp.server,
                    protocol: protocol.to_owned(),
                    name: lp.name.clone(),
                },
                hosts: Vec::new(),
                tls,
                name: None,
            },
            shape,
            port: lp,
        });
    }
    servers
}

/// The Secret a TLS listener's certificate must be stored in, in the ingress gateway's
/// namespace (shared by every VirtualGateway, hence the namespace in the name).
fn secret_name(vg: &NsName, port: u32) -> String {
    names::dns1123_label(&format!("{}-{}-{port}-tls", vg.namespace, vg.name), 63)
}

fn server_tls(
    ctx: &mut Context<'_>,
    vg: &VirtualGatewayEntry<'_>,
    subject: &ObjectRef,
    field: &str,
    port: u32,
    tls: &VirtualGatewayListenerTls,
) -> ServerTlsSettings {
    let secret = secret_name(&vg.common.key, port);
    let certificate = match (
        &tls.certificate.acm,
        &tls.certificate.file,
        &tls.certificate.sds,
    ) {
        (Some(acm), _, _) => format!(
            "the ACM certificate {} (ACM does not export the private keys of certificates it issues: issue one for the same names, e.g. with cert-manager)",
            acm.certificate_arn
        ),
        (None, Some(file), _) => format!(
            "the files {} and {} of the gateway's Envoy (copy their contents)",
            file.certificate_chain, file.private_key
        ),
        (None, None, Some(sds)) => {
            format!("the SDS secret {:?} (served by SPIRE)", sds.secret_name)
        }
        (None, None, None) => "no certificate source".to_owned(),
    };
    let mut settings = ServerTlsSettings {
        mode: Some(ServerTlsMode::Simple),
        credential_name: Some(secret.clone()),
        ..ServerTlsSettings::default()
    };
    let mut keys = "tls.crt and tls.key".to_owned();
    if let Some(validation) = &tls.validation {
        // Client certificates are required and verified against the CA in the same Secret
        // (`ca.crt`), as App Mesh verified them against the listener's trust.
        settings.mode = Some(ServerTlsMode::Mutual);
        keys = format!(
            "tls.crt, tls.key and ca.crt (the client CA: {})",
            describe_trust(&validation.trust)
        );
        if let Some(sans) = &validation.subject_alternative_names {
            settings.subject_alt_names = sans.match_.exact.clone();
        }
    }
    ctx.note(
        CODE_TLS_SECRET,
        subject,
        &format!("{field}.tls.certificate"),
        format!(
            "port {port} terminates TLS with {certificate}; create the Secret {secret:?} in namespace {} with {keys}",
            ctx.opts.ingress_gateway_namespace
        ),
    );
    if tls.mode == ListenerTlsMode::Permissive {
        ctx.note(
            CODE_PERMISSIVE_TLS,
            subject,
            &format!("{field}.tls.mode"),
            format!(
                "port {port} accepted both TLS and plain text; the Gateway server accepts TLS only"
            ),
        );
    }
    settings
}

fn describe_trust(trust: &TlsValidationTrust) -> String {
    match (&trust.acm, &trust.file, &trust.sds) {
        (Some(acm), _, _) => format!(
            "ACM Private CA {}",
            acm.certificate_authority_arns.join(", ")
        ),
        (None, Some(file), _) => format!("file {}", file.certificate_chain),
        (None, None, Some(sds)) => format!("SDS secret {:?}", sds.secret_name),
        (None, None, None) => "no trust source given".to_owned(),
    }
}

/// The info finding saying the ingress gateway serves the VirtualGateway, and which ports its
/// Service needs.
fn note_ingress(
    ctx: &mut Context<'_>,
    vg: &VirtualGatewayEntry<'_>,
    subject: &ObjectRef,
    ports: &[ListenerPort],
) {
    let selector = ctx
        .opts
        .ingress_gateway_selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let deployments: Vec<String> = vg
        .workloads
        .iter()
        .filter_map(|i| ctx.resolved.workload(*i))
        .map(|w| {
            format!(
                "{} {}/{}",
                w.object.kind.as_str(),
                w.object.namespace,
                w.object.name
            )
        })
        .collect();
    let mapping: Vec<String> = ports
        .iter()
        .map(|p| {
            let (service, _) = p.ingress_port();
            let before = p
                .client
                .as_ref()
                .map(|c| format!(" (clients used {c})"))
                .unwrap_or_default();
            if service == p.server {
                format!(
                    "listener {}{before} on ingress Service port {service}",
                    p.listener
                )
            } else {
                format!(
                    "listener {}{before} on ingress Service port {service} (target port {})",
                    p.listener, p.server
                )
            }
        })
        .collect();
    ctx.note(
        CODE_INGRESS_REPLACES_ENVOY,
        subject,
        "spec.podSelector",
        format!(
            "served by the Istio ingress gateway (pods {selector} in namespace {}) instead of {}: {}",
            ctx.opts.ingress_gateway_namespace,
            if deployments.is_empty() { "the VirtualGateway's own Envoy".to_owned() } else { deployments.join(", ") },
            mapping.join(", ")
        ),
    );
    let missing: Vec<u32> = ports
        .iter()
        .map(ListenerPort::ingress_port)
        .filter(|(_, present)| !present)
        .map(|(port, _)| port)
        .collect();
    if missing.is_empty() {
        return;
    }
    let list = missing
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if ctx.opts.install {
        ctx.note(
            CODE_PORT_INSTALLED,
            subject,
            "spec.listeners",
            format!(
                "the generated IstioOperator adds port(s) {list} to the ingress gateway Service"
            ),
        );
    } else {
        ctx.note(
            CODE_PORT_TO_ADD,
            subject,
            "spec.listeners",
            format!(
                "the ingress gateway Service in namespace {} must expose port(s) {list}, which the default istio-ingressgateway Service does not",
                ctx.opts.ingress_gateway_namespace
            ),
        );
    }
}

fn note_shared_ports(ctx: &mut Context<'_>, port_users: &BTreeMap<u32, Vec<(ObjectRef, String)>>) {
    for (port, users) in port_users {
        if users.len() < 2 {
            continue;
        }
        let shapes: BTreeSet<&str> = users.iter().map(|(_, shape)| shape.as_str()).collect();
        for (subject, _) in users {
            let others: Vec<String> = users
                .iter()
                .filter(|(o, _)| o != subject)
                .map(|(o, _)| o.to_string())
                .collect();
            let conflict = if shapes.len() > 1 {
                "; their protocols or TLS settings differ, which one port cannot serve"
            } else {
                ""
            };
            ctx.note(
                CODE_SHARED_PORT,
                subject,
                "spec.listeners",
                format!("port {port} is also a listener of {} on the same Istio ingress gateway{conflict}", others.join(", ")),
            );
        }
    }
}

/// One Telemetry for the ingress gateway pods, logging with every provider a VirtualGateway
/// asked for (a workload may be selected by one Telemetry only, IST0159).
fn shared_access_log(ctx: &mut Context<'_>, logs: Vec<(ObjectRef, Vec<String>)>) {
    let mut providers: Vec<String> = Vec::new();
    for name in logs.iter().flat_map(|(_, p)| p) {
        if !providers.contains(name) {
            providers.push(name.clone());
        }
    }
    if providers.is_empty() {
        return;
    }
    let wanted: BTreeSet<&String> = providers.iter().collect();
    let namespace = ctx.opts.ingress_gateway_namespace.clone();
    let sources: Vec<&ObjectRef> = logs
        .iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(s, _)| s)
        .collect();
    for (subject, own) in &logs {
        if own.iter().collect::<BTreeSet<_>>() != wanted {
            ctx.note(
                CODE_SHARED_ACCESS_LOG,
                subject,
                "spec.logging",
                format!("the ingress gateway logs the traffic of every Gateway it serves with provider(s) {}", providers.join(", ")),
            );
        }
    }
    let spec = TelemetrySpec {
        selector: Some(WorkloadSelector::new(
            ctx.opts.ingress_gateway_selector.clone(),
        )),
        access_logging: vec![crate::istio::AccessLogging::to_providers(providers)],
    };
    let Some((first, rest)) = sources.split_first() else {
        return;
    };
    let name = ctx.output.free_name(
        Telemetry::KIND,
        &namespace,
        "ingress-gateway-access-log",
        &first.to_string(),
    );
    let key = ctx
        .output
        .insert(Telemetry::new(Metadata::new(name, namespace), spec), first);
    for source in rest {
        ctx.output.add_source(&key, source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_ports_map_onto_the_default_ingress_service() {
        assert_eq!(default_service_port(80), Some(80));
        assert_eq!(default_service_port(8080), Some(80));
        assert_eq!(default_service_port(8443), Some(443));
        assert_eq!(default_service_port(8088), None);
        assert_eq!(
            default_service_port(15021),
            None,
            "the status port carries no traffic"
        );
    }

    fn listener(listener: u32, server: u32, client: Option<&str>) -> ListenerPort {
        ListenerPort {
            index: 0,
            listener,
            server,
            client: client.map(str::to_owned),
            name: format!("http-{server}"),
        }
    }

    #[test]
    fn clients_keep_the_port_of_the_gateway_service() {
        // Service port 80 -> listener 8088: the ingress gateway's own port 80 serves it.
        assert_eq!(
            listener(8088, 80, Some("Service shop/gw port 80")).ingress_port(),
            (80, true)
        );
        // A Service port the default ingress Service lacks must be added, even if it is one
        // of its target ports.
        assert_eq!(
            listener(8080, 8080, Some("Service shop/gw port 8080")).ingress_port(),
            (8080, false)
        );
        // Without a known Service, the listener port may be a target port of the default one.
        assert_eq!(listener(8080, 8080, None).ingress_port(), (80, true));
        assert_eq!(listener(8088, 8088, None).ingress_port(), (8088, false));
    }

    #[test]
    fn client_port_is_the_service_port_targeting_the_listener() {
        let service = |ports: Vec<(i64, Option<&str>)>| Service {
            namespace: "shop".into(),
            name: "gw".into(),
            labels: BTreeMap::new(),
            selector: Some(BTreeMap::from([("app".into(), "gw".into())])),
            ports: ports
                .into_iter()
                .map(|(port, target)| crate::k8s::ServicePort {
                    name: None,
                    port,
                    target_port: target.map(str::to_owned),
                    protocol: None,
                    app_protocol: None,
                })
                .collect(),
            type_: Some("LoadBalancer".into()),
            cluster_ip: None,
            external_name: None,
        };
        let lb = service(vec![(80, Some("8088")), (443, Some("8443"))]);
        assert_eq!(
            client_port(&[&lb], 8443),
            Some((443, "Service shop/gw port 443".into()))
        );
        assert_eq!(client_port(&[&lb], 9000), None);
        let same = service(vec![(9000, None)]);
        assert_eq!(client_port(&[&same], 9000).map(|(p, _)| p), Some(9000));
    }

    #[test]
    fn added_privileged_ports_target_an_unprivileged_port() {
        let p = extra_service_port(81, "http-81".into());
        assert_eq!((p.port, p.target_port), (81, Some(8081)));
        let p = extra_service_port(9443, "https-9443".into());
        assert_eq!((p.port, p.target_port), (9443, Some(9443)));
        let defaults = default_ingress_ports();
        assert_eq!(
            defaults.iter().map(|p| p.port).collect::<Vec<_>>(),
            [15021, 80, 443]
        );
    }

    #[test]
    fn secret_names_are_labels_unique_per_gateway_and_port() {
        let key = NsName::new("shop", "ingress-gw");
        assert_eq!(secret_name(&key, 443), "shop-ingress-gw-443-tls");
        let odd = secret_name(&NsName::new("shop", "Ingress_GW"), 443);
        assert!(names::is_dns1123_label(&odd), "{odd}");
        assert_ne!(odd, secret_name(&NsName::new("shop", "ingress-gw"), 8443));
    }

    #[test]
    fn servers_without_routes_still_name_a_host() {
        let served = vec![
            ServedHost {
                namespace: "shop".into(),
                host: "*".into(),
                ports: None,
            },
            ServedHost {
                namespace: "web".into(),
                host: "a.example.com".into(),
                ports: Some(BTreeSet::from([8443])),
            },
        ];
        assert_eq!(server_hosts(&served, 8080, "gw"), ["shop/*"]);
        assert_eq!(
            server_hosts(&served, 8443, "gw"),
            ["shop/*", "web/a.example.com"]
        );
        assert_eq!(server_hosts(&[], 8080, "gw"), ["gw/*"]);
    }
}
