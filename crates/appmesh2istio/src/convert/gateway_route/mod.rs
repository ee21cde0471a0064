//! GatewayRoutes → gateway-bound Istio `VirtualService`s (istio-mapping.md §4 "Rewrites", §11;
//! appmesh-crds.md §6, §12.6-7).
//!
//! App Mesh walks all GatewayRoutes of a VirtualGateway as one list: priority first (0 first,
//! unset = 1000), then the longest prefix, the hostname being one more condition. Istio first
//! picks a VirtualService by host (the most specific host wins) and only then walks its routes
//! in order, and routes of several VirtualServices for one host on one gateway are merged in
//! an order nobody controls. So there is one VirtualService per host the GatewayRoutes name,
//! and it holds every GatewayRoute whose hostname condition admits requests for that host
//! (one without hostname, a matching suffix), in App Mesh's order: whichever VirtualService
//! Istio picks for a request holds exactly the GatewayRoutes App Mesh would have tried, in
//! the same order.
//!
//! The target is the other trap: an Istio gateway sends requests straight to the destination
//! host, and the mesh VirtualService of that host (App Mesh's VirtualRouter) only applies to
//! sidecars, whereas App Mesh's gateway applied the router itself. A VirtualNode provider is
//! addressed directly; a router's routes are composed into the gateway route when their
//! conditions can be combined with the GatewayRoute's; otherwise the service host is the
//! destination and the report says what is lost.

mod compose;
mod host;
mod request;
mod shadow;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use crate::appmesh::AppMeshKind;
use crate::appmesh::gateway_route::{DefaultRewrite, GrpcGatewayRoute, HttpGatewayRoute};
use crate::istio::{HttpMatchRequest, HttpRoute, Metadata, VirtualService, VirtualServiceSpec};
use crate::origin::ObjectRef;
use crate::resolve::{GatewayRouteEntry, VirtualGatewayEntry};

use super::matches::{self, Notes};
use super::{Context, names};
use compose::{target_rules, target_virtual_service};
use host::{Coverage, HostMatch, describe_host};
use request::{authority_rewrite, grpc_match, http_match, http_rewrite, note_default_rewrites};
use shadow::PlacedRules;

/// Nothing could be generated for a GatewayRoute.
pub(crate) const CODE_NOT_CONVERTED: &str = "AMI2320";
/// The target's router could not be composed: routed to the service host.
pub(crate) const CODE_ROUTER_NOT_APPLIED: &str = "AMI2321";
/// The target's router routes are applied by the gateway route itself.
pub(crate) const CODE_ROUTER_COMPOSED: &str = "AMI2322";
/// A hostname condition became an `:authority` regex.
pub(crate) const CODE_AUTHORITY_MATCH: &str = "AMI2323";
/// Shadowed by an earlier GatewayRoute.
pub(crate) const CODE_UNREACHABLE: &str = "AMI2324";
/// A prefix rewrite without a prefix match.
pub(crate) const CODE_REWRITE_IGNORED: &str = "AMI2325";
/// App Mesh's default Host/prefix rewrites written out.
pub(crate) const CODE_DEFAULT_REWRITES: &str = "AMI2326";
/// The composed router has no catch-all route.
pub(crate) const CODE_ROUTER_FALLTHROUGH: &str = "AMI2327";

const TIMEOUT_DEFAULT: &str = "AMI2001";
const RETRIES_DEFAULT: &str = "AMI2002";
const DEFAULTS_DROPPED: &str = "AMI2003";

/// App Mesh's default GatewayRoute priority: the lowest.
const DEFAULT_PRIORITY: i64 = 1000;

/// The Istio Gateway a VirtualGateway became.
pub(super) struct GatewayBinding {
    /// `<namespace>/<name>` of the Gateway, as `gateways` lists it.
    pub gateway: String,
    /// The VirtualGateway's usable listener ports and the Gateway server port of each.
    pub ports: Vec<(u32, u32)>,
}

/// A host a generated VirtualService routes, for the Gateway's server hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ServedHost {
    pub namespace: String,
    pub host: String,
    /// The server ports its routes are restricted to; `None`: every server.
    pub ports: Option<BTreeSet<u32>>,
}

/// Path specificity of a GatewayRoute that does not constrain the path.
const ANY_PATH: u8 = 3;

/// App Mesh's order of GatewayRoutes: priority, then the most specific path, then the most
/// specific hostname; name order breaks ties. App Mesh documents only "longest prefix first"
/// among equal priorities; exact paths rank first, regexes after prefixes, and routes that do
/// not constrain the path last, so such a catch-all never hides a more specific route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct OrderKey {
    priority: i64,
    path_specificity: u8,
    longer_prefix_first: Reverse<usize>,
    host_specificity: u8,
    namespace: String,
    name: String,
}

/// One converted GatewayRoute, before it is placed in VirtualServices.
#[derive(Debug)]
struct Candidate {
    source: ObjectRef,
    namespace: String,
    order: OrderKey,
    host: HostMatch,
    /// Its Istio rules in order (several when a router was composed).
    rules: Vec<HttpRoute>,
    /// Findings about its translation, reported once placed.
    notes: Notes,
    /// Findings describing what its rules do, moot when no rule of it is reachable.
    usage: Notes,
}

/// The path condition of a GatewayRoute, which decides its default rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PathCondition {
    None,
    Prefix(String),
    Exact,
    Regex,
}

/// Translate the GatewayRoutes attached to `vg` into VirtualServices bound to `binding`, and
/// return the hosts the Gateway's servers must admit.
pub(super) fn translate_routes(
    ctx: &mut Context<'_>,
    vg: &VirtualGatewayEntry<'_>,
    binding: &GatewayBinding,
) -> Vec<ServedHost> {
    let resolved = ctx.resolved;
    let mut candidates = Vec::new();
    for gr in resolved.gateway_routes_of(&vg.common.key) {
        if let Some(c) = candidate(ctx, gr, binding) {
            candidates.push(c);
        }
    }
    candidates.sort_by(|a, b| a.order.cmp(&b.order));
    let hosts: BTreeSet<String> = candidates.iter().map(|c| c.host.own_host()).collect();
    let mut served = Vec::new();
    let mut reachable: BTreeSet<ObjectRef> = BTreeSet::new();
    let mut shadowed_by: BTreeMap<ObjectRef, String> = BTreeMap::new();
    for host in &hosts {
        let members: Vec<(&Candidate, Coverage)> = candidates
            .iter()
            .map(|c| (c, c.host.coverage(host)))
            .filter(|(_, coverage)| *coverage != Coverage::None)
            .collect();
        let several_namespaces = members
            .iter()
            .map(|(c, _)| &c.namespace)
            .collect::<BTreeSet<_>>()
            .len()
            > 1;
        let mut rules: Vec<(&Candidate, HttpRoute)> = Vec::new();
        let mut placed = PlacedRules::default();
        for (c, coverage) in &members {
            let own = c.host.own_host() == *host;
            for rule in &c.rules {
                let mut rule = rule.clone();
                if *coverage == Coverage::Partial {
                    restrict_authority(&mut rule, &c.host);
                }
                if several_namespaces {
                    rule.name = rule.name.map(|n| format!("{}.{n}", c.namespace));
                }
                if let Some(i) = placed.first_shadowing(&rules, &rule) {
                    if own && let Some((earlier, _)) = rules.get(i) {
                        shadowed_by
                            .entry(c.source.clone())
                            .or_insert_with(|| earlier.source.to_string());
                    }
                    continue;
                }
                if own {
                    reachable.insert(c.source.clone());
                }
                placed.push(rules.len(), &rule);
                rules.push((c, rule));
            }
        }
        if rules.is_empty() {
            continue;
        }
        let sources: Vec<&ObjectRef> = {
            let mut seen = BTreeSet::new();
            rules
                .iter()
                .map(|(c, _)| &c.source)
                .filter(|s| seen.insert((*s).clone()))
                .collect()
        };
        let namespaces: BTreeSet<&str> = rules.iter().map(|(c, _)| c.namespace.as_str()).collect();
        let namespace = match namespaces.iter().next() {
            Some(only) if namespaces.len() == 1 => (*only).to_owned(),
            _ => vg.common.key.namespace.clone(),
        };
        // Named after gateway and host: the GatewayRoutes' names usually are those of the
        // App Mesh VirtualServices they target, whose mesh VirtualServices already use them.
        let name = virtual_service_name(&vg.common.key.name, host);
        let ports = served_ports(rules.iter().map(|(_, r)| r));
        let spec = VirtualServiceSpec {
            hosts: vec![host.clone()],
            gateways: vec![binding.gateway.clone()],
            http: rules.into_iter().map(|(_, r)| r).collect(),
            ..VirtualServiceSpec::default()
        };
        let Some((first, rest)) = sources.split_first() else {
            continue;
        };
        let key = ctx.output.insert(
            VirtualService::new(
                Metadata::new(names::object_name(&name), namespace.clone()),
                spec,
            ),
            first,
        );
        for source in rest {
            ctx.output.add_source(&key, source);
        }
        served.push(ServedHost {
            namespace,
            host: host.clone(),
            ports,
        });
    }
    for c in candidates {
        c.notes.report(ctx, &c.source);
        if reachable.contains(&c.source) {
            c.usage.report(ctx, &c.source);
            continue;
        }
        let earlier = shadowed_by
            .get(&c.source)
            .map_or_else(|| "an earlier GatewayRoute".to_owned(), |s| s.clone());
        ctx.note(
            CODE_UNREACHABLE,
            &c.source,
            "spec",
            format!("{earlier} comes first in App Mesh's order and matches every request this GatewayRoute matches, so it is not generated"),
        );
    }
    served
}

/// A readable name for the VirtualService of the GatewayRoutes of one gateway host.
fn virtual_service_name(gateway: &str, host: &str) -> String {
    match host {
        "*" => format!("{gateway}-routes"),
        _ => format!("{gateway}-{}", host.replace('*', "wildcard")),
    }
}

/// The server ports some rule is restricted to, or `None` when a rule applies on every port.
fn served_ports<'r>(rules: impl Iterator<Item = &'r HttpRoute>) -> Option<BTreeSet<u32>> {
    let mut ports = BTreeSet::new();
    for rule in rules {
        if rule.matches.is_empty() {
            return None;
        }
        for m in &rule.matches {
            ports.insert(m.port?);
        }
    }
    Some(ports)
}

/// Limit a rule to the requests whose `:authority` passes `host`'s condition.
fn restrict_authority(rule: &mut HttpRoute, host: &HostMatch) {
    let Some(authority) = host.authority() else {
        return;
    };
    if rule.matches.is_empty() {
        rule.matches.push(HttpMatchRequest::default());
    }
    for m in &mut rule.matches {
        m.authority = Some(authority.clone());
    }
}

/// The route of a GatewayRoute, whichever type it is.
enum RouteKind<'g> {
    Http {
        key: &'static str,
        route: &'g HttpGatewayRoute,
    },
    Grpc(&'g GrpcGatewayRoute),
}

/// The match of a GatewayRoute without its hostname, and what ordering and rewriting need.
struct MatchPlan {
    m: HttpMatchRequest,
    path: PathCondition,
    path_specificity: u8,
    prefix_len: usize,
}

fn candidate(
    ctx: &mut Context<'_>,
    gr: &GatewayRouteEntry<'_>,
    binding: &GatewayBinding,
) -> Option<Candidate> {
    let source = gr.common.key.object_ref(AppMeshKind::GatewayRoute);
    let spec = &gr.object.spec;
    let kind = if let Some(route) = &spec.http_route {
        RouteKind::Http {
            key: "httpRoute",
            route,
        }
    } else if let Some(route) = &spec.http2_route {
        RouteKind::Http {
            key: "http2Route",
            route,
        }
    } else if let Some(route) = &spec.grpc_route {
        RouteKind::Grpc(route)
    } else {
        ctx.note(CODE_NOT_CONVERTED, &source, "spec", "the GatewayRoute sets none of httpRoute, http2Route and grpcRoute, so it routes nothing");
        return None;
    };
    let field = match &kind {
        RouteKind::Http { key, .. } => format!("spec.{key}"),
        RouteKind::Grpc(_) => "spec.grpcRoute".to_owned(),
    };
    let mut notes = Notes::default();
    let mut usage = Notes::default();
    let result = build_candidate(
        ctx, gr, &source, &kind, &field, binding, &mut notes, &mut usage,
    );
    match result {
        Ok(mut c) => {
            c.notes = notes;
            c.usage = usage;
            Some(c)
        }
        Err(Some(why)) => {
            notes.report(ctx, &source);
            ctx.note(CODE_NOT_CONVERTED, &source, &field, why);
            None
        }
        // The notes already say why (a condition Istio cannot express).
        Err(None) => {
            notes.report(ctx, &source);
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn build_candidate(
    ctx: &mut Context<'_>,
    gr: &GatewayRouteEntry<'_>,
    source: &ObjectRef,
    kind: &RouteKind<'_>,
    field: &str,
    binding: &GatewayBinding,
    notes: &mut Notes,
    usage: &mut Notes,
) -> Result<Candidate, Option<String>> {
    let (hostname, port) = match kind {
        RouteKind::Http { route, .. } => (route.match_.hostname.as_ref(), route.match_.port),
        RouteKind::Grpc(route) => (route.match_.hostname.as_ref(), route.match_.port),
    };
    let host = HostMatch::of(hostname);
    let mut plan = match kind {
        RouteKind::Http { route, .. } => http_match(route, field, notes),
        RouteKind::Grpc(route) => grpc_match(route, field, notes),
    }
    .map_err(|matches::Inexpressible| None)?;
    if let Some(port) = port {
        let server = binding
            .ports
            .iter()
            .find(|(listener, _)| i64::from(*listener) == port)
            .map(|(_, server)| *server);
        let Some(server) = server else {
            return Err(Some(format!(
                "it matches port {port}, which is no listener port of its VirtualGateway ({}), so App Mesh never routed anything to it",
                binding
                    .ports
                    .iter()
                    .map(|(listener, _)| listener.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        // Istio matches the Gateway server's port. With one listener the condition holds for
        // every request of the gateway.
        if binding.ports.len() > 1 {
            plan.m.port = Some(server);
        }
    }
    if host.needs_authority() {
        notes.add(
            CODE_AUTHORITY_MATCH,
            format!("{field}.match.hostname"),
            format!(
                "hostname condition {} is no Istio host, so the route is in the VirtualService for host \"*\" with an :authority regex",
                describe_host(&host)
            ),
        );
    }
    let (action_field, target_port, target_vs) = match kind {
        RouteKind::Http { route, .. } => (
            format!("{field}.action"),
            route.action.target.port,
            gr.target.as_ref(),
        ),
        RouteKind::Grpc(route) => (
            format!("{field}.action"),
            route.action.target.port,
            gr.target.as_ref(),
        ),
    };
    let vs = target_virtual_service(ctx, target_vs)?;
    if let RouteKind::Http { route, .. } = kind
        && let Some(why) = matches::rewrite_control_character(route.action.rewrite.as_ref())
    {
        return Err(Some(why));
    }
    let (rewrite, path_rewritten) = match kind {
        RouteKind::Http { route, .. } => http_rewrite(
            route.action.rewrite.as_ref(),
            &plan.path,
            &vs.aws_name,
            &action_field,
            notes,
            usage,
        ),
        RouteKind::Grpc(route) => {
            let disabled = route
                .action
                .rewrite
                .as_ref()
                .and_then(|r| r.hostname.as_ref())
                .and_then(|h| h.default_target_hostname)
                == Some(DefaultRewrite::Disabled);
            let mut defaults_written = Vec::new();
            let rewrite = authority_rewrite(disabled, &vs.aws_name, &mut defaults_written);
            note_default_rewrites(usage, &action_field, &defaults_written);
            (rewrite, false)
        }
    };
    let name = gr.common.key.name.clone();
    let base = HttpRoute {
        name: Some(name.clone()),
        matches: if plan.m == HttpMatchRequest::default() {
            Vec::new()
        } else {
            vec![plan.m.clone()]
        },
        rewrite,
        ..HttpRoute::default()
    };
    let rules = target_rules(
        ctx,
        vs,
        target_port,
        &base,
        &plan.m,
        path_rewritten,
        &action_field,
        notes,
        usage,
    )?;
    let priority = gr.object.spec.priority.unwrap_or(DEFAULT_PRIORITY);
    Ok(Candidate {
        source: source.clone(),
        namespace: gr.common.key.namespace.clone(),
        order: OrderKey {
            priority,
            path_specificity: plan.path_specificity,
            longer_prefix_first: Reverse(plan.prefix_len),
            host_specificity: host.specificity(),
            namespace: gr.common.key.namespace.clone(),
            name,
        },
        host,
        rules,
        notes: Notes::default(),
        usage: Notes::default(),
    })
}

#[cfg(test)]
mod tests;
