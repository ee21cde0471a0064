//! VirtualRouter routes (and VirtualNode providers) → the `http` / `tcp` rules of a host's
//! mesh VirtualService (istio-mapping.md §4, §5, §10).
//!
//! Routes are planned first and written later: one Istio VirtualService holds every route of
//! a host, so ordering (App Mesh priority, then specificity, catch-alls last) and the
//! DestinationRule idle timeouts of route targets can only be settled once all routes of the
//! host, and all routes targeting a node, are known.

mod idle;
mod order;
mod policies;
mod route_match;
mod targets;

use crate::appmesh::VirtualNode;
use crate::appmesh::common::{PortMapping, PortProtocol};
use crate::appmesh::virtual_router::Route;
use crate::istio::{Duration, HttpMatchRequest, HttpRoute, L4MatchAttributes, TcpRoute};
use crate::origin::ObjectRef;
use crate::resolve::{NsName, VirtualRouterEntry};

use super::Context;
use super::matches::Notes;
use super::retries::RetryPolicy;
use super::route_idle;
use idle::{default_tcp_idle, tcp_idle};
use policies::http_policies;
use route_match::{grpc_match, http_match};
use targets::{
    Target, destinations_of, http_destinations, node_listener_destination, tcp_destinations,
};

pub(crate) use idle::apply_idle_timeouts;
pub(crate) use order::{istio_rules, order_source_routes};
pub(crate) use targets::target_destination;

/// A weighted target was dropped; the route keeps its other targets.
pub(crate) const CODE_TARGET_DROPPED: &str = "AMI2104";
/// No usable target is left: the route is not converted.
pub(crate) const CODE_NO_TARGET: &str = "AMI2105";
/// Several targets, all with weight 0.
pub(crate) const CODE_ZERO_WEIGHTS: &str = "AMI2106";
/// App Mesh's default idle timeout (written for TCP routes; see route_idle.rs for HTTP).
pub(crate) const CODE_DEFAULT_IDLE: &str = route_idle::CODE_DEFAULT_IDLE;
/// An idle timeout that could not be carried over as written.
pub(crate) const CODE_IDLE_APPROXIMATED: &str = "AMI2110";
/// A route that does not fit its router's listeners.
pub(crate) const CODE_LISTENER_MISMATCH: &str = "AMI2111";
/// A route App Mesh never reached.
pub(crate) const CODE_UNREACHABLE: &str = "AMI2112";
/// A weight outside App Mesh's 0..100.
pub(crate) const CODE_WEIGHT_RANGE: &str = "AMI2117";
/// The target listener's serving-side request timeout became the route timeout.
pub(crate) const CODE_LISTENER_LIMIT: &str = "AMI2122";
/// The same, approximately (retries, or targets with different limits).
pub(crate) const CODE_LISTENER_LIMIT_APPROXIMATED: &str = "AMI2123";

const TIMEOUT_DEFAULT: &str = "AMI2001";
const RETRIES_DEFAULT: &str = "AMI2002";
const DEFAULTS_DROPPED: &str = "AMI2003";

/// Either kind of Istio rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rule {
    Http(Box<HttpRoute>),
    Tcp(TcpRoute),
}

/// Where App Mesh puts a route among the routes of its router: priority (0 first, unset
/// after every prioritised route), then routes with conditions before a route matching
/// everything, then the most specific path (exact, then the longest prefix, then the rest),
/// then declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RouteOrder {
    unprioritised: bool,
    priority: i64,
    catch_all: bool,
    specificity: u8,
    longer_prefix_first: std::cmp::Reverse<usize>,
    position: usize,
}

/// The idle timeout a route asks for on the DestinationRule of one target host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdleRequest {
    pub host: String,
    /// Where the DestinationRule is created if it does not exist yet.
    pub namespace: String,
    pub tcp: bool,
    /// `None`: disabled (App Mesh value 0).
    pub value: Option<Duration>,
    /// False for App Mesh's implicit default.
    pub explicit: bool,
    pub source: ObjectRef,
    pub field: String,
}

/// One Istio rule to be, with what ordering and pruning need to know.
#[derive(Debug, Clone)]
pub(crate) struct PlannedRoute {
    pub source: ObjectRef,
    pub field: String,
    pub name: String,
    /// The listener port the rule is restricted to (`match.port`), if any.
    pub port: Option<u32>,
    pub order: RouteOrder,
    /// Matches every request (of its port): App Mesh never reaches routes after it.
    pub catch_all: bool,
    pub rule: Rule,
    pub idle: Vec<IdleRequest>,
}

/// Istio port numbers are 1..65535; App Mesh's CRD bounds them the same way, but input may not.
fn port_u32(port: i64) -> Option<u32> {
    u32::try_from(port).ok().filter(|p| (1..=65535).contains(p))
}

/// The routes of `router`, planned for a host whose providers listen on several ports when
/// `multi_port` (then every rule matches its listener port).
pub(crate) fn plan_router(
    ctx: &mut Context<'_>,
    router: &VirtualRouterEntry<'_>,
    multi_port: bool,
) -> Vec<PlannedRoute> {
    let source = router
        .common
        .key
        .object_ref(crate::appmesh::AppMeshKind::VirtualRouter);
    let namespace = router.common.key.namespace.as_str();
    let listeners = &router.object.spec.listeners;
    let mut planned = Vec::new();
    for (index, route) in router.object.spec.routes.iter().enumerate() {
        let mut notes = Notes::default();
        let Some((key, protocol)) = route_type(route) else {
            // No route type: the resolver reports it (AMI1115) and there is nothing to convert.
            continue;
        };
        let field = format!("spec.routes[{index}].{key}");
        if let Some(listener) = listener_of(route, protocol, listeners, &field, &mut notes) {
            let input = RouteInput {
                source: &source,
                namespace,
                index,
                route,
                field: &field,
                listener,
                multi_port,
            };
            if let Some(p) = plan_route(ctx, &input, &mut notes) {
                planned.push(p);
            }
        }
        notes.report(ctx, &source);
    }
    planned
}

/// The route type set first (the resolver warns when several are set) and its protocol.
fn route_type(route: &Route) -> Option<(&'static str, PortProtocol)> {
    if route.http_route.is_some() {
        Some(("httpRoute", PortProtocol::Http))
    } else if route.http2_route.is_some() {
        Some(("http2Route", PortProtocol::Http2))
    } else if route.grpc_route.is_some() {
        Some(("grpcRoute", PortProtocol::Grpc))
    } else if route.tcp_route.is_some() {
        Some(("tcpRoute", PortProtocol::Tcp))
    } else {
        None
    }
}

fn match_port(route: &Route) -> Option<i64> {
    route
        .http_route
        .as_ref()
        .or(route.http2_route.as_ref())
        .and_then(|r| r.match_.port)
        .or_else(|| route.grpc_route.as_ref().and_then(|r| r.match_.port))
        .or_else(|| {
            route
                .tcp_route
                .as_ref()
                .and_then(|r| r.match_.as_ref())
                .and_then(|m| m.port)
        })
}

fn protocol_name(p: PortProtocol) -> &'static str {
    match p {
        PortProtocol::Grpc => "grpc",
        PortProtocol::Http => "http",
        PortProtocol::Http2 => "http2",
        PortProtocol::Tcp => "tcp",
    }
}

/// The router listener a route is attached to. App Mesh requires `match.port` when the router
/// has several listeners, and a route type matching the listener protocol; a route breaking
/// either rule never carried traffic.
fn listener_of<'l>(
    route: &Route,
    protocol: PortProtocol,
    listeners: &'l [crate::appmesh::virtual_router::VirtualRouterListener],
    field: &str,
    notes: &mut Notes,
) -> Option<&'l PortMapping> {
    let port = match_port(route);
    let listener = match (listeners, port) {
        ([], _) => {
            notes.add(
                CODE_LISTENER_MISMATCH,
                field.to_owned(),
                "the router has no listener, so App Mesh routes nothing through it",
            );
            return None;
        }
        ([only], None) => Some(&only.port_mapping),
        (_, None) => {
            notes.add(
                CODE_LISTENER_MISMATCH,
                format!("{field}.match.port"),
                format!("route `{}` sets no match.port although the router has {} listeners (App Mesh requires it)", route.name, listeners.len()),
            );
            return None;
        }
        (_, Some(p)) => listeners
            .iter()
            .map(|l| &l.port_mapping)
            .find(|m| m.port == p),
    };
    let Some(listener) = listener else {
        notes.add(
            CODE_LISTENER_MISMATCH,
            format!("{field}.match.port"),
            format!("route `{}` matches port {} but the router has no listener on it, so it never matched", route.name, port.unwrap_or_default()),
        );
        return None;
    };
    if listener.protocol != protocol {
        notes.add(
            CODE_LISTENER_MISMATCH,
            field.to_owned(),
            format!(
                "route `{}` is a {} route but the router listener on port {} speaks {} (App Mesh requires the route type to match the listener protocol)",
                route.name,
                protocol_name(protocol),
                listener.port,
                protocol_name(listener.protocol)
            ),
        );
        return None;
    }
    if port_u32(listener.port).is_none() {
        notes.add(
            CODE_LISTENER_MISMATCH,
            field.to_owned(),
            format!("listener port {} is not a valid port number", listener.port),
        );
        return None;
    }
    Some(listener)
}

struct RouteInput<'r> {
    source: &'r ObjectRef,
    namespace: &'r str,
    index: usize,
    route: &'r Route,
    /// `spec.routes[i].<type>`.
    field: &'r str,
    listener: &'r PortMapping,
    multi_port: bool,
}

fn plan_route(
    ctx: &mut Context<'_>,
    input: &RouteInput<'_>,
    notes: &mut Notes,
) -> Option<PlannedRoute> {
    let route = input.route;
    let port = input
        .multi_port
        .then(|| port_u32(input.listener.port))
        .flatten();
    let position = input.index;
    let order_base = |catch_all: bool, specificity: u8, prefix_len: usize| RouteOrder {
        unprioritised: route.priority.is_none(),
        priority: route.priority.unwrap_or_default(),
        catch_all,
        specificity,
        longer_prefix_first: std::cmp::Reverse(prefix_len),
        position,
    };
    if let Some(tcp) = &route.tcp_route {
        let targets = destinations_of(ctx, input, &tcp.action, notes)?;
        let idle = tcp_idle(ctx, input, tcp, &targets, notes);
        let rule = TcpRoute {
            matches: port
                .map(|p| {
                    vec![L4MatchAttributes {
                        port: Some(p),
                        ..L4MatchAttributes::default()
                    }]
                })
                .unwrap_or_default(),
            route: tcp_destinations(targets),
        };
        return Some(PlannedRoute {
            source: input.source.clone(),
            field: input.field.to_owned(),
            name: route.name.clone(),
            port,
            order: order_base(true, 0, 0),
            catch_all: true,
            rule: Rule::Tcp(rule),
            idle,
        });
    }
    let (m, specificity, prefix_len) =
        if let Some(http) = route.http_route.as_ref().or(route.http2_route.as_ref()) {
            http_match(http, input.field, notes).ok()?
        } else {
            let grpc = route.grpc_route.as_ref()?;
            grpc_match(grpc, input.field, notes).ok()?
        };
    let (action, timeout, retry) =
        if let Some(http) = route.http_route.as_ref().or(route.http2_route.as_ref()) {
            (
                &http.action,
                http.timeout.as_ref(),
                http.retry_policy.as_ref().map(RetryPolicy::from),
            )
        } else {
            let grpc = route.grpc_route.as_ref()?;
            (
                &grpc.action,
                grpc.timeout.as_ref(),
                grpc.retry_policy.as_ref().map(RetryPolicy::from),
            )
        };
    let targets = destinations_of(ctx, input, action, notes)?;
    let policies = http_policies(
        ctx,
        input.source,
        input.field,
        timeout,
        retry.as_ref(),
        &targets,
        notes,
    );
    let catch_all = m == HttpMatchRequest::default();
    let mut m = m;
    m.port = port;
    let rule = HttpRoute {
        name: Some(route.name.clone()),
        matches: if m == HttpMatchRequest::default() {
            Vec::new()
        } else {
            vec![m]
        },
        route: http_destinations(targets),
        timeout: policies.timeout,
        retries: policies.retries,
        ..HttpRoute::default()
    };
    Some(PlannedRoute {
        source: input.source.clone(),
        field: input.field.to_owned(),
        name: route.name.clone(),
        port,
        order: order_base(catch_all, specificity, prefix_len),
        catch_all,
        rule: Rule::Http(Box::new(rule)),
        idle: Vec::new(),
    })
}

/// The rules of a VirtualService whose provider is a VirtualNode: one per node listener,
/// carrying App Mesh's defaults (a node provider cannot set timeouts or retries).
pub(crate) fn plan_node_provider(
    ctx: &mut Context<'_>,
    vs: &ObjectRef,
    node_key: &NsName,
    node: &VirtualNode,
    multi_port: bool,
) -> Vec<PlannedRoute> {
    let field = "spec.provider.virtualNode";
    let mut notes = Notes::default();
    let mut planned = Vec::new();
    for (i, listener) in node.spec.listeners.iter().enumerate() {
        let mapping = &listener.port_mapping;
        let Some(listener_port) = port_u32(mapping.port) else {
            notes.add(
                CODE_LISTENER_MISMATCH,
                field,
                format!(
                    "listener port {} of VirtualNode {node_key} is not a valid port number",
                    mapping.port
                ),
            );
            continue;
        };
        let target_port = Some(mapping.port).filter(|_| node.spec.listeners.len() > 1);
        let (destination, listener_limit) =
            match node_listener_destination(ctx, node, &node_key.namespace, target_port) {
                Ok(found) => found,
                Err(why) => {
                    notes.add(CODE_NO_TARGET, field, why);
                    continue;
                }
            };
        let targets = [Target {
            destination,
            weight: 100,
            namespace: node_key.namespace.clone(),
            listener_limit,
        }];
        let port = multi_port.then_some(listener_port);
        let order = RouteOrder {
            unprioritised: true,
            priority: 0,
            catch_all: true,
            specificity: 0,
            longer_prefix_first: std::cmp::Reverse(0),
            position: i,
        };
        let (rule, idle) = if mapping.protocol == PortProtocol::Tcp {
            let idle = default_tcp_idle(ctx, vs, field, &targets, &mut notes);
            let rule = TcpRoute {
                matches: port
                    .map(|p| {
                        vec![L4MatchAttributes {
                            port: Some(p),
                            ..L4MatchAttributes::default()
                        }]
                    })
                    .unwrap_or_default(),
                route: tcp_destinations(targets.to_vec()),
            };
            (Rule::Tcp(rule), idle)
        } else {
            let policies = http_policies(ctx, vs, field, None, None, &targets, &mut notes);
            let rule = HttpRoute {
                matches: port
                    .map(|p| {
                        vec![HttpMatchRequest {
                            port: Some(p),
                            ..HttpMatchRequest::default()
                        }]
                    })
                    .unwrap_or_default(),
                route: http_destinations(targets.to_vec()),
                timeout: policies.timeout,
                retries: policies.retries,
                ..HttpRoute::default()
            };
            (Rule::Http(Box::new(rule)), Vec::new())
        };
        planned.push(PlannedRoute {
            source: vs.clone(),
            field: field.to_owned(),
            name: format!("{node_key} port {}", mapping.port),
            port,
            order,
            catch_all: true,
            rule,
            idle,
        });
    }
    if node.spec.listeners.is_empty() {
        notes.add(CODE_NO_TARGET, field, format!("VirtualNode {node_key} has no listener, so App Mesh cannot send this service's traffic to it"));
    }
    notes.report(ctx, vs);
    planned
}

#[cfg(test)]
mod tests;
