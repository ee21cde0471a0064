//! Which ports serve a VirtualGateway's listeners on the shared Istio ingress gateway, and
//! which Service ports that gateway must expose for them.

use std::collections::BTreeMap;

use crate::appmesh::common::ListenerTlsMode;
use crate::appmesh::virtual_gateway::{VirtualGatewayListener, VirtualGatewayPortProtocol};
use crate::istio::KubernetesServicePort;
use crate::k8s::Service;
use crate::resolve::VirtualGatewayEntry;

use crate::convert::Context;

// Ports of the default `istio-ingressgateway` Service and the target ports behind them: a
// Gateway server port may name either (IST0162). The status port 15021 is not for traffic.
pub(super) use crate::istio::DEFAULT_INGRESS_SERVICE_PORTS as DEFAULT_SERVICE_PORTS;

/// Istio gateways run as non-root: a privileged Service port is served from this offset, as
/// Istio's own 80 → 8080 and 443 → 8443 are.
pub(super) const PRIVILEGED_PORT_OFFSET: u32 = 8000;

/// The Service port clients use for a gateway listener port on the default ingress gateway
/// Service, if it has one.
pub(super) fn default_service_port(listener: u32) -> Option<u32> {
    DEFAULT_SERVICE_PORTS
        .iter()
        .find(|(port, target, _)| *port != 15021 && (*port == listener || *target == listener))
        .map(|(port, _, _)| *port)
}

pub(super) fn port_number(port: i64) -> Option<u32> {
    u32::try_from(port).ok().filter(|p| (1..=65535).contains(p))
}

pub(super) fn protocol_name(protocol: VirtualGatewayPortProtocol) -> &'static str {
    match protocol {
        VirtualGatewayPortProtocol::Http => "http",
        VirtualGatewayPortProtocol::Http2 => "http2",
        VirtualGatewayPortProtocol::Grpc => "grpc",
    }
}

/// Where one usable VirtualGateway listener is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ListenerPort {
    /// Index in `spec.listeners`.
    pub(super) index: usize,
    pub(super) listener: u32,
    /// The Gateway server port. Clients keep the port they used on the VirtualGateway's own
    /// Service (Istio maps a server port that is a port of the ingress gateway's Service to
    /// that port's target); without such a Service, the listener port itself.
    pub(super) server: u32,
    /// The VirtualGateway Service port clients used, when the input has it.
    pub(super) client: Option<String>,
    pub(super) name: String,
}

impl ListenerPort {
    /// The ingress gateway Service port clients use for the listener, and whether the default
    /// `istio-ingressgateway` Service already has it.
    pub(super) fn ingress_port(&self) -> (u32, bool) {
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
pub(super) type ListenerProblems = Vec<(usize, String)>;

/// The Kubernetes Services of the input that send traffic to the VirtualGateway's pods: those
/// of its namespace whose selector matches the pods of its workloads (or, without workloads in
/// the input, its podSelector's labels).
pub(super) fn gateway_services<'i>(
    ctx: &Context<'i>,
    vg: &VirtualGatewayEntry<'_>,
) -> Vec<&'i Service> {
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
pub(super) fn client_port(services: &[&Service], listener: u32) -> Option<(u32, String)> {
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
pub(super) fn listener_ports(
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

pub(super) fn terminates_tls(listener: &VirtualGatewayListener) -> bool {
    listener
        .tls
        .as_ref()
        .is_some_and(|t| t.mode != ListenerTlsMode::Disabled)
}

pub(super) fn port_name(listener: &VirtualGatewayListener, port: u32) -> String {
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

pub(super) fn extra_service_port(port: u32, name: String) -> KubernetesServicePort {
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
    crate::istio::default_ingress_service_ports()
}
