//! App Mesh VirtualService → the one mesh Istio VirtualService of its host
//! (istio-mapping.md §1, §4, §10).
//!
//! The App Mesh VirtualService's awsName is the hostname clients call; its provider (a router
//! or a single node) decides where that traffic goes. Every App Mesh VirtualService naming the
//! same host feeds one Istio VirtualService (Istio merges several per host badly, IST0109),
//! and a host that is not a Kubernetes Service also gets a ServiceEntry so Istio knows it.

use std::collections::{BTreeMap, BTreeSet};

use crate::appmesh::AppMeshKind;
use crate::appmesh::common::{PortMapping, PortProtocol};
use crate::istio::{
    IstioObject, Location, Metadata, Resolution, ServiceEntry, ServiceEntrySpec, ServicePort,
};
use crate::k8s::ServicePort as K8sServicePort;
use crate::origin::ObjectRef;
use crate::resolve::{
    NsName, Provider, Target, VirtualNodeEntry, VirtualRouterEntry, VirtualServiceEntry,
};
use crate::validate::primitives;

use super::virtual_router::{self, IdleRequest, PlannedRoute};
use super::{Context, names};

/// The VirtualService produced nothing.
pub(crate) const CODE_NOT_CONVERTED: &str = "AMI2113";
/// Several App Mesh VirtualServices share one host.
pub(crate) const CODE_SHARED_HOST: &str = "AMI2114";
/// The host names a Kubernetes Service missing from the input.
pub(crate) const CODE_SERVICE_NOT_IN_INPUT: &str = "AMI2115";
/// A ServiceEntry makes a non-Service host known to Istio.
pub(crate) const CODE_SERVICE_ENTRY: &str = "AMI2118";
/// The host's Service declares a protocol that does not fit the provider's listener.
pub(crate) const CODE_PORT_PROTOCOL: &str = "AMI2119";
/// The host's Service has no port for a provider listener.
pub(crate) const CODE_PORT_MISSING: &str = "AMI2120";
/// A VirtualRouter no VirtualService uses.
pub(crate) const CODE_ROUTER_UNUSED: &str = "AMI2121";

/// What serves one App Mesh VirtualService.
enum Served<'a> {
    Router(&'a VirtualRouterEntry<'a>),
    Node(&'a NsName, &'a VirtualNodeEntry<'a>),
}

/// Translate every App Mesh VirtualService; runs after the VirtualNode module so its
/// ServiceEntries and DestinationRules exist.
pub(crate) fn convert_virtual_services<'a>(ctx: &mut Context<'a>) {
    let resolved: &'a crate::resolve::Resolved<'a> = ctx.resolved;
    let mut by_host: BTreeMap<String, Vec<&'a VirtualServiceEntry<'a>>> = BTreeMap::new();
    for (key, entry) in &resolved.virtual_services {
        if ctx.managed_by_flagger(&key.object_ref(AppMeshKind::VirtualService)) {
            continue;
        }
        let host = ctx.qualify(entry.host(), &key.namespace);
        by_host.entry(host).or_default().push(entry);
    }
    let mut idle: Vec<IdleRequest> = Vec::new();
    let mut used: BTreeSet<ObjectRef> = BTreeSet::new();
    for (host, entries) in by_host {
        used.extend(convert_host(ctx, &host, &entries, &mut idle));
    }
    virtual_router::apply_idle_timeouts(ctx, idle);
    for (key, router) in &resolved.virtual_routers {
        let subject = key.object_ref(AppMeshKind::VirtualRouter);
        if used.contains(&subject) || ctx.managed_by_flagger(&subject) {
            continue;
        }
        if router.virtual_services.is_empty() {
            ctx.note(
                CODE_ROUTER_UNUSED,
                &subject,
                "",
                "no VirtualService has this router as its provider, so App Mesh routes no traffic through it; nothing is generated",
            );
        } else {
            let users: Vec<String> = router
                .virtual_services
                .iter()
                .map(ToString::to_string)
                .collect();
            ctx.note(
                CODE_NOT_CONVERTED,
                &subject,
                "spec.routes",
                format!("VirtualService {} using this router got no Istio routes (see the findings of both)", users.join(", ")),
            );
        }
    }
}

fn vs_ref(entry: &VirtualServiceEntry<'_>) -> ObjectRef {
    entry.common.key.object_ref(AppMeshKind::VirtualService)
}

/// Convert the App Mesh VirtualServices of one host; returns the sources of the Istio
/// VirtualService written (none when nothing could be converted).
fn convert_host<'a>(
    ctx: &mut Context<'a>,
    host: &str,
    entries: &[&'a VirtualServiceEntry<'a>],
    idle: &mut Vec<IdleRequest>,
) -> Vec<ObjectRef> {
    let resolved = ctx.resolved;
    if let Err(e) = primitives::fqdn(host) {
        for entry in entries {
            ctx.note(
                CODE_NOT_CONVERTED,
                &vs_ref(entry),
                "spec.awsName",
                format!("host {host:?} cannot be an Istio host: {e}"),
            );
        }
        return Vec::new();
    }
    if entries.len() > 1 {
        let all: Vec<String> = entries.iter().map(|e| e.common.key.to_string()).collect();
        for entry in entries {
            ctx.note(
                CODE_SHARED_HOST,
                &vs_ref(entry),
                "spec.awsName",
                format!("VirtualServices {} all serve host {host}; their routes are merged into one Istio VirtualService", all.join(", ")),
            );
        }
    }
    let served: Vec<(&'a VirtualServiceEntry<'a>, Served<'a>)> = entries
        .iter()
        .filter_map(|entry| served_by(ctx, entry).map(|s| (*entry, s)))
        .collect();
    let ports = listener_ports(&served);
    // `listener_ports` keeps one entry per port number.
    let multi_port = ports.len() > 1;
    let mut planned: Vec<PlannedRoute> = Vec::new();
    let mut sources: Vec<ObjectRef> = Vec::new();
    for (entry, served) in &served {
        let vs = vs_ref(entry);
        let (routes, provider) = match served {
            Served::Router(router) => {
                let routes = virtual_router::plan_router(ctx, router, multi_port);
                (
                    routes,
                    router.common.key.object_ref(AppMeshKind::VirtualRouter),
                )
            }
            Served::Node(key, node) => {
                let routes =
                    virtual_router::plan_node_provider(ctx, &vs, key, node.object, multi_port);
                (routes, key.object_ref(AppMeshKind::VirtualNode))
            }
        };
        let routes = virtual_router::order_source_routes(ctx, routes);
        if routes.is_empty() {
            let why = match served {
                Served::Router(router) if router.object.spec.routes.is_empty() => {
                    format!(
                        "VirtualRouter {} has no routes, so App Mesh answers no request for host {host}",
                        router.common.key
                    )
                }
                Served::Router(router) => format!(
                    "no route of VirtualRouter {} could be converted (see its findings)",
                    router.common.key
                ),
                Served::Node(key, _) => format!(
                    "VirtualNode {key} cannot receive this service's traffic (see the findings)"
                ),
            };
            ctx.note(
                CODE_NOT_CONVERTED,
                &vs,
                "spec.provider",
                format!("{why}; no Istio route is generated for {host}, so Istio sends its traffic straight to the host's own endpoints"),
            );
            continue;
        }
        sources.push(vs);
        if matches!(served, Served::Router(_)) {
            sources.push(provider);
        }
        planned.extend(routes);
    }
    // The Istio VirtualService is named after the first App Mesh VirtualService of the host.
    let (Some(first), Some((owner, _))) = (sources.first().cloned(), served.first()) else {
        return sources;
    };
    let owner = &owner.common.key;
    idle.extend(planned.iter().flat_map(|r| r.idle.iter().cloned()));
    let (http, tcp) = virtual_router::istio_rules(planned);
    let spec = ctx
        .output
        .mesh_virtual_service(host, &owner.namespace, &owner.name, &first);
    spec.http.extend(http);
    spec.tcp.extend(tcp);
    for source in sources.iter().skip(1) {
        ctx.output
            .mesh_virtual_service(host, &owner.namespace, &owner.name, source);
    }
    match names::service_of_host(host, &ctx.opts.cluster_domain) {
        None => service_entry(ctx, host, &owner.namespace, &ports, &first),
        Some((namespace, name)) => {
            let key = NsName::new(namespace, name);
            let node_services: Vec<&NsName> = served
                .iter()
                .filter_map(|(_, s)| match s {
                    Served::Node(k, _) => resolved
                        .virtual_nodes
                        .get(*k)
                        .and_then(|n| n.service.as_ref()),
                    Served::Router(_) => None,
                })
                .collect();
            // The VirtualNode module already reviews the ports of a node's own Service.
            if !node_services.contains(&&key) {
                check_host_service(ctx, &key, &ports, &first);
            }
        }
    }
    sources
}

/// The router or node serving `entry`, or a finding saying why there is none.
fn served_by<'a>(ctx: &mut Context<'a>, entry: &'a VirtualServiceEntry<'a>) -> Option<Served<'a>> {
    let resolved: &'a crate::resolve::Resolved<'a> = ctx.resolved;
    let subject = vs_ref(entry);
    let why = match &entry.provider {
        None => "it has no (valid) provider, so App Mesh routes its traffic nowhere".to_owned(),
        Some(Provider::VirtualRouter(Target::Arn(arn)))
        | Some(Provider::VirtualNode(Target::Arn(arn))) => {
            format!("its provider is referenced by ARN `{arn}`, which manifests cannot resolve")
        }
        Some(Provider::VirtualRouter(Target::Object(key))) => {
            match resolved.virtual_routers.get(key) {
                Some(router) => return Some(Served::Router(router)),
                None => format!("its VirtualRouter {key} is not in the input"),
            }
        }
        Some(Provider::VirtualNode(Target::Object(key))) => {
            match resolved.virtual_nodes.get_key_value(key) {
                Some((k, node)) => return Some(Served::Node(k, node)),
                None => format!("its VirtualNode {key} is not in the input"),
            }
        }
    };
    ctx.note(
        CODE_NOT_CONVERTED,
        &subject,
        "spec.provider",
        format!(
            "{why}; nothing is generated for host {}",
            ctx.qualify(entry.host(), &entry.common.key.namespace)
        ),
    );
    None
}

/// The listener ports (and protocols) of every provider of a host, first protocol per port.
fn listener_ports(served: &[(&VirtualServiceEntry<'_>, Served<'_>)]) -> Vec<PortMapping> {
    let mut ports: Vec<PortMapping> = Vec::new();
    for (_, s) in served {
        let listeners: Vec<&PortMapping> = match s {
            Served::Router(r) => r
                .object
                .spec
                .listeners
                .iter()
                .map(|l| &l.port_mapping)
                .collect(),
            Served::Node(_, n) => n
                .object
                .spec
                .listeners
                .iter()
                .map(|l| &l.port_mapping)
                .collect(),
        };
        for l in listeners {
            if !ports.iter().any(|p| p.port == l.port) {
                ports.push(l.clone());
            }
        }
    }
    ports.sort_by_key(|p| p.port);
    ports
}

fn istio_protocol(protocol: PortProtocol) -> &'static str {
    match protocol {
        PortProtocol::Http => "HTTP",
        PortProtocol::Http2 => "HTTP2",
        PortProtocol::Grpc => "GRPC",
        PortProtocol::Tcp => "TCP",
    }
}

fn service_ports(ports: &[PortMapping]) -> Vec<ServicePort> {
    ports
        .iter()
        .filter_map(|p| {
            let number = u32::try_from(p.port)
                .ok()
                .filter(|n| (1..=65535).contains(n))?;
            let protocol = istio_protocol(p.protocol);
            Some(ServicePort {
                number,
                protocol: Some(protocol.to_owned()),
                name: format!("{}-{number}", protocol.to_ascii_lowercase()),
                target_port: None,
            })
        })
        .collect()
}

/// Make a host that is no Kubernetes Service (a Cloud Map name, usually) known to Istio,
/// unless the VirtualNode module already did for a Cloud Map node of the same name.
fn service_entry(
    ctx: &mut Context<'_>,
    host: &str,
    namespace: &str,
    ports: &[PortMapping],
    source: &ObjectRef,
) {
    let wanted = service_ports(ports);
    let existing = ctx.output.service_entry_for_host(host);
    if let Some(key) = existing {
        ctx.output.add_source(&key, source);
        if let Some(IstioObject::ServiceEntry(se)) = ctx.output.get_mut(&key) {
            for port in wanted {
                let taken = se
                    .spec
                    .ports
                    .iter()
                    .any(|p| p.number == port.number || p.name == port.name);
                if !taken {
                    se.spec.ports.push(port);
                }
            }
        }
        return;
    }
    // Named after the whole host: its first label alone often names the node's own entry.
    let entry = ServiceEntry::new(
        Metadata::new(names::dns1123_label(&host.replace('.', "-"), 63), namespace),
        ServiceEntrySpec {
            hosts: vec![host.to_owned()],
            ports: wanted,
            location: Some(Location::MeshInternal),
            // Clients resolve the name in DNS, as they had to for App Mesh to intercept it.
            resolution: Some(Resolution::Dns),
            ..ServiceEntrySpec::default()
        },
    );
    ctx.output.insert(entry, source);
    ctx.note(
        CODE_SERVICE_ENTRY,
        source,
        "spec.awsName",
        format!("host {host} is not a Kubernetes Service; a ServiceEntry (MESH_INTERNAL, DNS resolution) declares it to Istio"),
    );
}

/// The protocol Istio gives a Service port: `appProtocol`, else the name up to the first `-`;
/// `None` when Istio sniffs it.
fn declared_protocol(port: &K8sServicePort) -> Option<String> {
    let known = [
        "http", "http2", "https", "grpc", "grpc-web", "tcp", "tls", "mongo", "mysql", "redis",
        "udp",
    ];
    let parse = |text: &str| {
        let lower = text.to_ascii_lowercase();
        let lower = match lower.as_str() {
            "kubernetes.io/h2c" => "http2".to_owned(),
            "kubernetes.io/ws" => "http".to_owned(),
            "kubernetes.io/wss" => "https".to_owned(),
            _ => lower,
        };
        known.contains(&lower.as_str()).then_some(lower)
    };
    if let Some(p) = port.app_protocol.as_deref().and_then(parse) {
        return Some(p);
    }
    let name = port.name.as_deref()?;
    parse(name.split('-').next().unwrap_or(name))
}

/// Whether Istio handling a port as `declared` keeps the App Mesh listener protocol working.
fn protocol_fits(listener: PortProtocol, declared: &str) -> bool {
    match listener {
        PortProtocol::Http => matches!(declared, "http" | "http2" | "grpc"),
        PortProtocol::Http2 | PortProtocol::Grpc => matches!(declared, "http2" | "grpc"),
        PortProtocol::Tcp => matches!(
            declared,
            "tcp" | "tls" | "https" | "mongo" | "mysql" | "redis"
        ),
    }
}

/// Istio only routes the ports a Service declares, with the protocol the Service declares:
/// check the host's Service against the provider's listeners.
fn check_host_service(
    ctx: &mut Context<'_>,
    key: &NsName,
    ports: &[PortMapping],
    source: &ObjectRef,
) {
    let resolved = ctx.resolved;
    let Some(service) = resolved.services.get(key) else {
        ctx.note(
            CODE_SERVICE_NOT_IN_INPUT,
            source,
            "spec.awsName",
            format!("the host is Service {key}, which is not in the input; Istio applies these routes only if that Service exists with the listener ports"),
        );
        return;
    };
    let service = &service.object;
    for listener in ports {
        let Some(port) = service.ports.iter().find(|p| p.port == listener.port) else {
            ctx.note(
                CODE_PORT_MISSING,
                source,
                "spec.provider",
                format!(
                    "Service {key} has no port {}, which the provider listens on; Istio routes only declared Service ports, so add port {} to the Service",
                    listener.port, listener.port
                ),
            );
            continue;
        };
        if let Some(declared) = declared_protocol(port)
            && !protocol_fits(listener.protocol, &declared)
        {
            let wanted = istio_protocol(listener.protocol).to_ascii_lowercase();
            ctx.note(
                CODE_PORT_PROTOCOL,
                source,
                "spec.provider",
                format!(
                    "Service {key} port {} is declared {declared} but the provider's listener is {wanted}, so Istio would not apply these routes as written; set appProtocol: {wanted} on the port",
                    listener.port
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: Option<&str>, app: Option<&str>) -> K8sServicePort {
        K8sServicePort {
            name: name.map(str::to_owned),
            port: 80,
            target_port: None,
            protocol: None,
            app_protocol: app.map(str::to_owned),
        }
    }

    #[test]
    fn declared_protocols_follow_istio() {
        assert_eq!(
            declared_protocol(&port(Some("http-web"), None)).as_deref(),
            Some("http")
        );
        assert_eq!(declared_protocol(&port(Some("web"), None)), None);
        assert_eq!(
            declared_protocol(&port(Some("tcp"), Some("kubernetes.io/h2c"))).as_deref(),
            Some("http2")
        );
        assert!(protocol_fits(PortProtocol::Grpc, "grpc"));
        assert!(!protocol_fits(PortProtocol::Grpc, "http"));
        assert!(!protocol_fits(PortProtocol::Tcp, "http"));
        assert!(!protocol_fits(PortProtocol::Http, "tcp"));
    }

    #[test]
    fn service_entry_ports_are_named_by_protocol() {
        let ports = [
            PortMapping {
                port: 8080,
                protocol: PortProtocol::Http,
            },
            PortMapping {
                port: 9000,
                protocol: PortProtocol::Tcp,
            },
        ];
        let se = service_ports(&ports);
        assert_eq!(se[0].name, "http-8080");
        assert_eq!(se[1].protocol.as_deref(), Some("TCP"));
    }
}
