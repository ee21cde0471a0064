//! The gateway route's target: the VirtualService it names, and either the router's routes
//! composed into the gateway route or the service host as destination.
//!
//! Apart because App Mesh's gateway applied the target's VirtualRouter itself while an Istio
//! gateway does not (see the module docs of `gateway_route`); joining the router's conditions
//! with the GatewayRoute's (`conjoin`) is its own small algebra over Istio matches.

use crate::istio::{
    Destination, Duration, HttpMatchRequest, HttpRetry, HttpRoute, HttpRouteDestination,
    StringMatch,
};
use crate::report::ReportBuilder;
use crate::resolve::{Provider, Target, VirtualServiceEntry};

use super::super::matches::Notes;
use super::super::virtual_router::{self, Rule};
use super::super::{Context, OutputSet, destinations, names};

use super::request::default_policies;
use super::{CODE_ROUTER_COMPOSED, CODE_ROUTER_FALLTHROUGH, CODE_ROUTER_NOT_APPLIED};

/// The target VirtualService of a GatewayRoute, or why there is none to route to.
pub(super) fn target_virtual_service<'r>(
    ctx: &Context<'r>,
    target: Option<&Target>,
) -> Result<&'r VirtualServiceEntry<'r>, Option<String>> {
    let resolved = ctx.resolved;
    match target {
        None => Err(Some(
            "the GatewayRoute names no target VirtualService".to_owned(),
        )),
        Some(Target::Arn(arn)) => Err(Some(format!(
            "the target VirtualService is referenced by ARN ({arn}), which cannot be mapped to an Istio host from manifests"
        ))),
        Some(Target::Object(key)) => match resolved.virtual_services.get(key) {
            None => Err(Some(format!(
                "the target VirtualService {key} is not in the input"
            ))),
            Some(vs) if vs.provider.is_none() => Err(Some(format!(
                "the target VirtualService {key} has no provider, so App Mesh's gateway had nowhere to send these requests"
            ))),
            // Its host is the destination (and the Host rewrite) of every rule written here;
            // the VirtualService itself is not converted for the same reason.
            Some(vs) => {
                let host = ctx.qualify(&vs.aws_name, &vs.common.key.namespace);
                match crate::validate::primitives::fqdn(&host) {
                    Ok(()) => Ok(vs),
                    Err(e) => Err(Some(format!(
                        "the target VirtualService {key} has host {host:?}, which cannot be an Istio host: {e}"
                    ))),
                }
            }
        },
    }
}

/// The Istio rules of a GatewayRoute: `base` (its match and rewrite) sent to where App Mesh's
/// gateway sent the target VirtualService's requests.
#[allow(clippy::too_many_arguments)]
pub(super) fn target_rules(
    ctx: &mut Context<'_>,
    vs: &VirtualServiceEntry<'_>,
    target_port: Option<i64>,
    base: &HttpRoute,
    gr_match: &HttpMatchRequest,
    path_rewritten: bool,
    field: &str,
    notes: &mut Notes,
    usage: &mut Notes,
) -> Result<Vec<HttpRoute>, Option<String>> {
    let target_field = format!("{field}.target");
    let single = |route: Vec<HttpRouteDestination>,
                  (timeout, retries): (Option<Duration>, Option<HttpRetry>)| {
        vec![HttpRoute {
            route,
            timeout,
            retries,
            ..base.clone()
        }]
    };
    match &vs.provider {
        None => Err(Some(format!(
            "the target VirtualService {} has no provider",
            vs.common.key
        ))),
        Some(Provider::VirtualNode(Target::Arn(arn))) => Err(Some(format!(
            "the target VirtualService {} is provided by a VirtualNode referenced by ARN ({arn}), which cannot be addressed from manifests",
            vs.common.key
        ))),
        Some(Provider::VirtualNode(Target::Object(node_key))) => {
            let destination =
                virtual_router::target_destination(ctx, node_key, target_port).map_err(Some)?;
            // A VirtualService provided by a node has no route to carry a timeout or retry
            // policy: App Mesh's gateway applies the defaults.
            let policies = default_policies(ctx, &target_field, usage);
            Ok(single(
                vec![HttpRouteDestination::to(destination)],
                policies,
            ))
        }
        Some(Provider::VirtualRouter(router)) => {
            match compose_router(ctx, vs, router, target_port, base, gr_match, path_rewritten) {
                Ok(composed) => {
                    usage.add(CODE_ROUTER_COMPOSED, target_field.clone(), composed.summary);
                    if !composed.ends_with_catch_all {
                        notes.add(
                        CODE_ROUTER_FALLTHROUGH,
                        target_field,
                        format!("no route of {} matches every request, so requests it does not route continue to later gateway routes instead of failing", composed.router),
                    );
                    }
                    Ok(composed.rules)
                }
                Err(why) => {
                    let destination = service_host_destination(ctx, vs, target_port);
                    notes.add(
                    CODE_ROUTER_NOT_APPLIED,
                    target_field.clone(),
                    format!(
                        "routed to the service host {} because {why}; the router's matches, weights, timeouts and retries do not apply to these requests",
                        destination.host
                    ),
                );
                    let policies = default_policies(ctx, &target_field, usage);
                    Ok(single(
                        vec![HttpRouteDestination::to(destination)],
                        policies,
                    ))
                }
            }
        }
    }
}

/// The Istio destination for a VirtualService's own host (and port).
fn service_host_destination(
    ctx: &Context<'_>,
    vs: &VirtualServiceEntry<'_>,
    target_port: Option<i64>,
) -> Destination {
    let domain = &ctx.opts.cluster_domain;
    let host = ctx.qualify(&vs.aws_name, &vs.common.key.namespace);
    let mut destination = Destination::host(&host);
    let listener_port = match (target_port, vs.ports.as_slice()) {
        (Some(p), _) => Some(p),
        (None, [only]) => Some(only.port),
        _ => None,
    };
    let service_ports = names::service_of_host(&host, domain)
        .and_then(|(ns, name)| {
            ctx.inventory
                .services
                .iter()
                .find(|s| s.object.namespace == ns && s.object.name == name)
        })
        .map_or(0, |s| s.object.ports.len());
    if let Some(port) = listener_port
        && (target_port.is_some() || service_ports > 1)
    {
        let number = destinations::service_port(ctx.resolved, &host, port, domain);
        if let Ok(number) = u32::try_from(number)
            && (1..=65535).contains(&number)
        {
            destination = destination.with_port(number);
        }
    }
    destination
}

struct Composed {
    rules: Vec<HttpRoute>,
    ends_with_catch_all: bool,
    router: String,
    summary: String,
}

/// The router's routes as rules of the gateway route: each router route's conditions joined
/// with the GatewayRoute's, its destinations, timeout and retries. `Err`: why that is not
/// possible.
fn compose_router(
    ctx: &Context<'_>,
    vs: &VirtualServiceEntry<'_>,
    router: &Target,
    target_port: Option<i64>,
    base: &HttpRoute,
    gr_match: &HttpMatchRequest,
    path_rewritten: bool,
) -> Result<Composed, String> {
    let Target::Object(router_key) = router else {
        return Err(format!(
            "the provider of {} is a VirtualRouter referenced by ARN",
            vs.common.key
        ));
    };
    let Some(router) = ctx.resolved.virtual_routers.get(router_key) else {
        return Err(format!(
            "its VirtualRouter {router_key} is not in the input"
        ));
    };
    let router_name = format!("VirtualRouter {router_key}");
    let multi_port = router.object.spec.listeners.len() > 1;
    // Planning reports its findings against the router, which the VirtualService translation
    // already did; a scratch context keeps them from being reported twice.
    let mut scratch = Context {
        inventory: ctx.inventory,
        resolved: ctx.resolved,
        opts: ctx.opts,
        output: OutputSet::default(),
        report: ReportBuilder::default(),
        flagger_managed: ctx.flagger_managed.clone(),
    };
    let mut planned = virtual_router::plan_router(&mut scratch, router, multi_port);
    if multi_port {
        let Some(port) = target_port.and_then(|p| u32::try_from(p).ok()) else {
            return Err(format!(
                "{router_name} has several listeners and the GatewayRoute names no target port"
            ));
        };
        planned.retain(|r| r.port == Some(port));
    }
    planned.sort_by_key(|r| r.order);
    if let Some(end) = planned.iter().position(|r| r.catch_all) {
        planned.truncate(end + 1);
    }
    if planned.is_empty() {
        return Err(format!(
            "no route of {router_name} could be converted for the target's port"
        ));
    }
    let ends_with_catch_all = planned.last().is_some_and(|r| r.catch_all);
    let mut rules = Vec::new();
    let mut described = Vec::new();
    for p in &planned {
        let Rule::Http(route) = &p.rule else {
            return Err(format!(
                "route `{}` of {router_name} is a TCP route",
                p.name
            ));
        };
        let router_match = route.matches.first().cloned().map(|mut m| {
            m.port = None;
            m
        });
        let joined = match router_match {
            None => Conjunction::Match(Box::new(gr_match.clone())),
            Some(m) => conjoin(gr_match, &m, path_rewritten),
        };
        let m = match joined {
            Conjunction::Match(m) => *m,
            Conjunction::Never => continue,
            Conjunction::Inexpressible(why) => {
                return Err(format!("route `{}` of {router_name} {why}", p.name));
            }
        };
        described.push(format!(
            "`{}` ({})",
            p.name,
            describe_destinations(&route.route)
        ));
        rules.push(HttpRoute {
            name: base.name.as_ref().map(|n| format!("{n}.{}", p.name)),
            matches: if m == HttpMatchRequest::default() {
                Vec::new()
            } else {
                vec![m]
            },
            route: route.route.clone(),
            timeout: route.timeout,
            retries: route.retries.clone(),
            ..base.clone()
        });
    }
    if rules.is_empty() {
        return Err(format!(
            "no route of {router_name} can match the requests of this GatewayRoute"
        ));
    }
    let summary = format!(
        "the gateway applies the routes of {router_name} itself: {}",
        described.join(", ")
    );
    Ok(Composed {
        rules,
        ends_with_catch_all,
        router: router_name,
        summary,
    })
}

fn describe_destinations(route: &[HttpRouteDestination]) -> String {
    route
        .iter()
        .map(|d| match d.weight {
            Some(w) => format!("{} weight {w}", d.destination.host),
            None => d.destination.host.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The conjunction of two Istio match conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Conjunction {
    Match(Box<HttpMatchRequest>),
    /// No request satisfies both.
    Never,
    /// Both can hold, but one Istio match cannot say so; the reason.
    Inexpressible(String),
}

/// Join the GatewayRoute's conditions with a router route's. The router sees the request after
/// the gateway's rewrites, so its path condition cannot be checked at the gateway once the path
/// was rewritten.
pub(super) fn conjoin(
    gateway: &HttpMatchRequest,
    router: &HttpMatchRequest,
    path_rewritten: bool,
) -> Conjunction {
    let mut m = gateway.clone();
    // `prefix: /` holds for every path, rewritten or not.
    let router_uri = router
        .uri
        .as_ref()
        .filter(|u| **u != StringMatch::prefix("/"));
    if let Some(router_uri) = router_uri {
        if path_rewritten {
            return Conjunction::Inexpressible(
                "matches the path, which the gateway rewrites before the router sees it".to_owned(),
            );
        }
        m.uri = match both_uri(gateway.uri.as_ref(), router_uri) {
            Ok(Some(uri)) => Some(uri),
            Ok(None) => return Conjunction::Never,
            Err(why) => return Conjunction::Inexpressible(why),
        };
    }
    for (mine, theirs, what) in [
        (&mut m.scheme, &router.scheme, "scheme"),
        (&mut m.method, &router.method, "method"),
        (&mut m.authority, &router.authority, "authority"),
    ] {
        match join_value(mine.as_ref(), theirs.as_ref()) {
            Ok(v) => *mine = v,
            Err(never) => return never_or(never, what),
        }
    }
    for (mine, theirs, what) in [
        (&mut m.headers, &router.headers, "header"),
        (&mut m.query_params, &router.query_params, "query parameter"),
        (
            &mut m.without_headers,
            &router.without_headers,
            "absent header",
        ),
    ] {
        for (key, value) in theirs {
            match join_value(mine.get(key), Some(value)) {
                Ok(Some(v)) => {
                    mine.insert(key.clone(), v);
                }
                Ok(None) => {}
                Err(never) => return never_or(never, &format!("{what} {key:?}")),
            }
        }
    }
    Conjunction::Match(Box::new(m))
}

fn never_or(never: bool, what: &str) -> Conjunction {
    if never {
        Conjunction::Never
    } else {
        Conjunction::Inexpressible(format!(
            "and the GatewayRoute both set different {what} conditions, which one Istio match cannot combine"
        ))
    }
}

/// Both conditions on one value: `Err(true)` when they exclude each other (two different exact
/// values), `Err(false)` when they may overlap but cannot be written as one.
fn join_value(
    a: Option<&StringMatch>,
    b: Option<&StringMatch>,
) -> Result<Option<StringMatch>, bool> {
    match (a, b) {
        (None, x) | (x, None) => Ok(x.cloned()),
        (Some(a), Some(b)) if a == b => Ok(Some(a.clone())),
        (Some(StringMatch::Exact(_)), Some(StringMatch::Exact(_))) => Err(true),
        _ => Err(false),
    }
}

/// Both path conditions: `Ok(None)` when no path satisfies both.
fn both_uri(
    gateway: Option<&StringMatch>,
    router: &StringMatch,
) -> Result<Option<StringMatch>, String> {
    let Some(gateway) = gateway else {
        return Ok(Some(router.clone()));
    };
    match (gateway, router) {
        (StringMatch::Prefix(p), StringMatch::Prefix(q)) => Ok(if q.starts_with(p.as_str()) {
            Some(router.clone())
        } else if p.starts_with(q.as_str()) {
            Some(gateway.clone())
        } else {
            None
        }),
        (StringMatch::Prefix(p), StringMatch::Exact(e)) | (StringMatch::Exact(e), StringMatch::Prefix(p)) => {
            Ok(e.starts_with(p.as_str()).then(|| StringMatch::exact(e)))
        }
        (StringMatch::Exact(a), StringMatch::Exact(b)) => Ok((a == b).then(|| gateway.clone())),
        (a, b) if a == b => Ok(Some(a.clone())),
        _ => Err("matches the path with a regex, which cannot be combined with the GatewayRoute's path condition".to_owned()),
    }
}
