//! An Istio Gateway (a VirtualGateway) and the gateway VirtualServices bound to it (its
//! GatewayRoutes) as a Gateway API `Gateway` (`gatewayClassName: istio`) and HTTPRoutes with
//! that Gateway as parent.
//!
//! Istio deploys a gateway for each such Gateway, in the Gateway's namespace, instead of
//! serving it from the shared ingress gateway, so TLS Secrets (`certificateRefs`) are looked up
//! in that namespace. All or nothing per gateway: when the Gateway or one of its
//! VirtualServices has no Gateway API form, all of them are kept as they are.

use std::collections::BTreeMap;

use super::routes::{GatewayParent, Kept, RouteContext, gateway_routes};
use super::{Note, codes};
use crate::gateway_api::{
    self as gw, AllowedRoutes, FromNamespaces, GatewaySpec, Listener, ListenerTls, RouteNamespaces,
    SecretObjectReference,
};
use crate::istio::{Gateway, IstioObject, Metadata, ServerTlsMode, VirtualService};
use crate::origin::ObjectRef;

fn kept(reason: impl Into<String>) -> Kept {
    Kept {
        code: codes::INGRESS_KEPT,
        reason: reason.into(),
    }
}

/// The Gateway, the routes (with their sources) and what they approximate.
/// Notes about a route carry its App Mesh source; the others are about the VirtualGateway.
pub(super) type Translated = (
    IstioObject,
    Vec<(IstioObject, Vec<ObjectRef>)>,
    Vec<(Option<ObjectRef>, Note)>,
);

/// The Gateway API objects replacing `gateway` and its `routes`.
pub(super) fn translate(
    gateway: &Gateway,
    routes: &[(&VirtualService, &[ObjectRef])],
    ctx: &mut RouteContext<'_, '_>,
) -> Result<Translated, Kept> {
    let namespace = gateway.metadata.namespace.clone().unwrap_or_default();
    let mut listeners = Vec::new();
    let mut by_port = BTreeMap::new();
    let cross_namespace = routes
        .iter()
        .any(|(vs, _)| vs.metadata.namespace.as_deref() != Some(namespace.as_str()));
    let mut notes: Vec<Note> = Vec::new();
    for server in &gateway.spec.servers {
        let port = server.port.number;
        // One listener per host (`namespace/host`; `*` is every host).
        let hostnames: Vec<Option<String>> = server
            .hosts
            .iter()
            .map(|h| {
                let host = h.split_once('/').map_or(h.as_str(), |(_, h)| h);
                (host != "*").then(|| host.to_owned())
            })
            .collect();
        if hostnames.is_empty() {
            return Err(kept(format!("port {port} serves no host")));
        }
        let (protocol, tls) = match (server.port.protocol.as_str(), &server.tls) {
            ("HTTP" | "HTTP2" | "GRPC", None) => ("HTTP", None),
            ("HTTPS", Some(tls)) => {
                let mode = tls.mode.unwrap_or_default();
                let Some(secret) = tls.credential_name.as_ref() else {
                    return Err(kept(format!(
                        "port {port} terminates TLS without a credential Secret"
                    )));
                };
                if mode != ServerTlsMode::Simple || tls.https_redirect == Some(true) {
                    return Err(kept(format!(
                        "port {port} validates client certificates (or redirects), which needs settings Gateway API's standard listener does not have"
                    )));
                }
                notes.push(Note::new(codes::GATEWAY_SECRET, "", format!(
                    "listener {port} terminates TLS with Secret {secret}, which must be in namespace {namespace}: Istio deploys this Gateway there"
                )));
                (
                    "HTTPS",
                    Some(ListenerTls {
                        mode: None,
                        certificate_refs: vec![SecretObjectReference::secret(secret.clone(), None)],
                        options: BTreeMap::new(),
                    }),
                )
            }
            (other, _) => {
                return Err(kept(format!("port {port} has protocol {other}")));
            }
        };
        let name = server
            .port
            .name
            .clone()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect::<String>();
        let several = hostnames.len() > 1;
        // Routes attach by sectionName to a port's only listener, else by port.
        by_port.insert(port, (!several).then(|| name.clone()));
        for (i, hostname) in hostnames.into_iter().enumerate() {
            listeners.push(Listener {
                name: if several {
                    format!("{name}-{i}")
                } else {
                    name.clone()
                },
                hostname,
                port,
                protocol: protocol.to_owned(),
                tls: tls.clone(),
                allowed_routes: cross_namespace.then(|| AllowedRoutes {
                    namespaces: Some(RouteNamespaces {
                        from: FromNamespaces::All,
                    }),
                    kinds: Vec::new(),
                }),
            });
        }
    }
    if listeners.is_empty() {
        return Err(kept("it has no listener"));
    }
    notes.push(Note::new(codes::GATEWAY_SECRET, "", format!(
        "Istio deploys a gateway Deployment and Service for Gateway {} in namespace {namespace}: clients reach the ingress through that Service, not the shared ingress gateway",
        gateway.metadata.name
    )));
    let parent = GatewayParent {
        name: gateway.metadata.name.clone(),
        namespace: namespace.clone(),
        listeners: by_port,
    };
    let mut out = Vec::new();
    let mut notes: Vec<(Option<ObjectRef>, Note)> = notes.into_iter().map(|n| (None, n)).collect();
    for (vs, sources) in routes {
        let (objects, route_notes) = gateway_routes(vs, sources, ctx, &parent)?;
        // A gateway VirtualService gathers the GatewayRoutes of one host; its routes are named
        // after them.
        notes.extend(route_notes.into_iter().map(|n| {
            let source = sources
                .iter()
                .find(|s| s.kind == "GatewayRoute" && s.name == n.route)
                .or(sources.first())
                .cloned();
            (source, n)
        }));
        out.extend(objects.into_iter().map(|o| (o, sources.to_vec())));
    }
    let kube_gateway = gw::Gateway::new(
        Metadata {
            name: gateway.metadata.name.clone(),
            namespace: Some(namespace),
            labels: gateway.metadata.labels.clone(),
            annotations: gateway.metadata.annotations.clone(),
        },
        GatewaySpec {
            gateway_class_name: gw::ISTIO_GATEWAY_CLASS.to_owned(),
            listeners,
        },
    );
    Ok((kube_gateway.into(), out, notes))
}
