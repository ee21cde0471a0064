//! A route's weighted targets → Istio destinations: the target VirtualNodes' hosts and
//! ports, their weights, and the serving-side request timeout of each target's listener.
//!
//! Apart because resolving a target (node, listener, namespace of its DestinationRule) is
//! the same for router routes, node providers and gateway routes composed with a router.

use crate::appmesh::VirtualNode;
use crate::appmesh::common::PortProtocol;
use crate::appmesh::virtual_router::RouteAction;
use crate::istio::{Destination, Duration, HttpRouteDestination, RouteDestination, clamp_i32};
use crate::resolve::NsName;

use super::super::matches::Notes;
use super::super::{Context, defaults, destinations, names};

use super::{
    CODE_NO_TARGET, CODE_TARGET_DROPPED, CODE_WEIGHT_RANGE, CODE_ZERO_WEIGHTS, RouteInput, port_u32,
};

/// A resolved weighted target.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub destination: Destination,
    pub weight: i32,
    /// The node's namespace: where a new DestinationRule for its host goes.
    pub namespace: String,
    /// The per-request timeout the node's listener enforces on the serving side.
    pub listener_limit: Option<ListenerLimit>,
}

/// A serving-side per-request timeout of a VirtualNode listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListenerLimit {
    pub timeout: Duration,
    /// App Mesh's implicit 15 s rather than a value in the listener.
    pub implicit: bool,
}

/// Resolve the weighted targets of `action`; `None` when no usable target is left (a note
/// says why).
pub(super) fn destinations_of(
    ctx: &mut Context<'_>,
    input: &RouteInput<'_>,
    action: &RouteAction,
    notes: &mut Notes,
) -> Option<Vec<Target>> {
    let base = format!("{}.action.weightedTargets", input.field);
    let mut targets: Vec<Target> = Vec::new();
    let mut dropped_weight = 0i64;
    for (i, t) in action.weighted_targets.iter().enumerate() {
        let here = format!("{base}[{i}]");
        let weight = t.weight.max(0);
        if t.weight < 0 || t.weight > 100 {
            notes.add(
                CODE_WEIGHT_RANGE,
                format!("{here}.weight"),
                format!(
                    "weight {} is outside App Mesh's 0..100; {} is used as a relative weight",
                    t.weight, weight
                ),
            );
        }
        let node_key = match (&t.virtual_node_ref, &t.virtual_node_arn) {
            (Some(r), _) => NsName::new(r.namespace_or(input.namespace), &r.name),
            (None, Some(arn)) => {
                dropped_weight += weight;
                notes.add(CODE_TARGET_DROPPED, here, format!("target VirtualNode `{arn}` is referenced by ARN and cannot be addressed from manifests"));
                continue;
            }
            (None, None) => {
                notes.add(CODE_TARGET_DROPPED, here, "target names no VirtualNode");
                continue;
            }
        };
        let found = match ctx.resolved.virtual_nodes.get(&node_key) {
            Some(node) => node_listener_destination(ctx, node.object, &node_key.namespace, t.port),
            None => Err(format!("target VirtualNode {node_key} is not in the input")),
        };
        match found {
            Ok((destination, listener_limit)) => {
                let weight32 = clamp_i32(weight);
                // Two targets reaching the same destination (e.g. nodes sharing a hostname)
                // are one Istio destination with their weights added.
                match targets.iter_mut().find(|x| x.destination == destination) {
                    Some(existing) => existing.weight = existing.weight.saturating_add(weight32),
                    None => targets.push(Target {
                        destination,
                        weight: weight32,
                        namespace: node_key.namespace.clone(),
                        listener_limit,
                    }),
                }
            }
            Err(why) => {
                dropped_weight += weight;
                notes.add(CODE_TARGET_DROPPED, here, why);
            }
        }
    }
    if targets.is_empty() {
        notes.add(
            CODE_NO_TARGET,
            format!("{}.action", input.field),
            format!(
                "route `{}` has no target Istio can address, so it is not generated",
                input.route.name
            ),
        );
        return None;
    }
    if dropped_weight > 0 {
        notes.add(
            CODE_TARGET_DROPPED,
            format!("{}.action", input.field),
            format!("route `{}` lost targets with a total weight of {dropped_weight}; their share of traffic now goes to the remaining targets", input.route.name),
        );
    }
    if targets.len() > 1 && targets.iter().all(|t| t.weight == 0) {
        notes.add(
            CODE_ZERO_WEIGHTS,
            format!("{}.action", input.field),
            format!("all {} targets of route `{}` have weight 0: App Mesh's Envoy rejects such a split and Istio does too, so the route is not generated", targets.len(), input.route.name),
        );
        return None;
    }
    Some(targets)
}

/// The Istio destination of a VirtualNode listener (`port`: the target's listener port), or
/// why there is none.
pub(crate) fn target_destination(
    ctx: &Context<'_>,
    node_key: &NsName,
    port: Option<i64>,
) -> Result<Destination, String> {
    let Some(node) = ctx.resolved.virtual_nodes.get(node_key) else {
        return Err(format!("target VirtualNode {node_key} is not in the input"));
    };
    node_listener_destination(ctx, node.object, &node_key.namespace, port).map(|(d, _)| d)
}

/// The Istio destination of a VirtualNode listener (and the listener's serving-side
/// per-request timeout), or why there is none. `port` is the target's listener port.
pub(super) fn node_listener_destination(
    ctx: &Context<'_>,
    node: &VirtualNode,
    namespace: &str,
    port: Option<i64>,
) -> Result<(Destination, Option<ListenerLimit>), String> {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    let domain = &ctx.opts.cluster_domain;
    let address = destinations::node_address(node, namespace, domain).map_err(|why| {
        format!("target VirtualNode {namespace}/{name} {why}, so nothing can reach it")
    })?;
    let Some((listener_port, _)) = destinations::target_listener(node, port) else {
        return Err(match port {
            Some(p) => format!("target VirtualNode {namespace}/{name} has no listener on port {p}"),
            None if node.spec.listeners.is_empty() => {
                format!("target VirtualNode {namespace}/{name} has no listener")
            }
            None => format!(
                "target VirtualNode {namespace}/{name} has several listeners and the target names no port"
            ),
        });
    };
    let mut destination = Destination::host(&address.host);
    if let Some(subset) = address.subset {
        destination = destination.with_subset(subset);
    }
    if port.is_some()
        || destinations::needs_explicit_port(ctx.resolved, node, &address.host, domain)
    {
        let service_port =
            destinations::service_port(ctx.resolved, &address.host, listener_port, domain);
        let Some(number) = port_u32(service_port) else {
            return Err(format!(
                "port {service_port} of target VirtualNode {namespace}/{name} is not a valid port number"
            ));
        };
        destination = destination.with_port(number);
    }
    Ok((destination, listener_limit(ctx, node, listener_port)))
}

/// The per-request timeout a node's listener enforces on requests it serves: its own
/// `timeout.<protocol>.perRequest` (0 disables it), else App Mesh's 15 s default.
fn listener_limit(ctx: &Context<'_>, node: &VirtualNode, port: i64) -> Option<ListenerLimit> {
    let listener = node
        .spec
        .listeners
        .iter()
        .find(|l| l.port_mapping.port == port)?;
    let timeouts = listener.timeout.as_ref();
    let block = match listener.port_mapping.protocol {
        PortProtocol::Http => timeouts.and_then(|t| t.http.as_ref()),
        PortProtocol::Http2 => timeouts.and_then(|t| t.http2.as_ref()),
        PortProtocol::Grpc => timeouts.and_then(|t| t.grpc.as_ref()),
        PortProtocol::Tcp => return None,
    };
    match block.and_then(|b| b.per_request.as_ref()) {
        Some(d) => {
            let millis = u64::try_from(d.to_millis()).ok().filter(|m| *m > 0)?;
            Some(ListenerLimit {
                timeout: Duration::from_millis(millis.min(Duration::MAX_GO_MILLIS)),
                implicit: false,
            })
        }
        None => ctx.opts.preserve_defaults.then_some(ListenerLimit {
            timeout: defaults::REQUEST_TIMEOUT,
            implicit: true,
        }),
    }
}

pub(super) fn http_destinations(targets: Vec<Target>) -> Vec<HttpRouteDestination> {
    // A sole destination receives all traffic in both meshes, whatever its weight.
    if let [only] = targets.as_slice() {
        return vec![HttpRouteDestination::to(only.destination.clone())];
    }
    targets
        .into_iter()
        .map(|t| HttpRouteDestination::weighted(t.destination, t.weight))
        .collect()
}

pub(super) fn tcp_destinations(targets: Vec<Target>) -> Vec<RouteDestination> {
    if let [only] = targets.as_slice() {
        return vec![RouteDestination::to(only.destination.clone())];
    }
    targets
        .into_iter()
        .map(|t| RouteDestination::weighted(t.destination, t.weight))
        .collect()
}

/// Where a target host's DestinationRule lives: the Service's namespace for Kubernetes
/// Service hosts, otherwise the node's.
pub(super) fn rule_namespace(ctx: &Context<'_>, host: &str, node_namespace: &str) -> String {
    names::service_of_host(host, &ctx.opts.cluster_domain)
        .map_or(node_namespace, |(ns, _)| ns)
        .to_owned()
}
