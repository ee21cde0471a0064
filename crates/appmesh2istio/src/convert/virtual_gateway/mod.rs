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
use crate::appmesh::common::ListenerTlsMode;
use crate::appmesh::virtual_gateway::VirtualGatewayPortProtocol;
use crate::istio::{Gateway, GatewayPort, GatewaySpec, Metadata, Server};
use crate::origin::ObjectRef;
use crate::resolve::VirtualGatewayEntry;

use super::gateway_route::{self, GatewayBinding, ServedHost};
use super::{Context, access_log, names};

mod notes;
mod ports;
mod tls;

#[cfg(test)]
mod tests;

use self::notes::{note_ingress, note_shared_ports, shared_access_log};
use self::ports::{ListenerPort, listener_ports, protocol_name};
pub(crate) use self::ports::{default_ingress_ports, ingress_ports_to_add};
use self::tls::server_tls;

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
/// One listener as an Istio Gateway server (hosts are filled in later).
#[derive(Debug, Clone)]
struct PlannedServer {
    port: ListenerPort,
    server: Server,
    /// Protocol and TLS as they decide whether two Gateways can share the port.
    shape: String,
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
