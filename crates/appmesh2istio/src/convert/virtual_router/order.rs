//! App Mesh's route order across the routes of one host (priority, then specificity, then
//! position; catch-alls last) and the final split into Istio `http` and `tcp` rules.
//!
//! Apart because ordering runs once per host over the planned routes of all its sources,
//! after planning and before writing.

use crate::istio::{HttpRoute, TcpRoute};

use super::super::Context;

use super::{CODE_UNREACHABLE, PlannedRoute, Rule};

/// Put the planned routes of one source (a router, or a node provider) in App Mesh's order
/// and drop those App Mesh never reached: everything after a route that matches all
/// requests of its port (a catch-all; for TCP, any route).
pub(crate) fn order_source_routes(
    ctx: &mut Context<'_>,
    mut routes: Vec<PlannedRoute>,
) -> Vec<PlannedRoute> {
    routes.sort_by_key(|r| r.order);
    let mut kept: Vec<PlannedRoute> = Vec::new();
    for route in routes {
        let tcp = matches!(route.rule, Rule::Tcp(_));
        let shadow = kept.iter().find(|k| {
            k.catch_all
                && matches!(k.rule, Rule::Tcp(_)) == tcp
                && (k.port.is_none() || k.port == route.port)
        });
        if let Some(shadow) = shadow {
            let message = format!(
                "route `{}` comes after route `{}`, which matches every {} request{}, so App Mesh never used it; it is not generated",
                route.name,
                shadow.name,
                if tcp { "TCP" } else { "HTTP" },
                route
                    .port
                    .map(|p| format!(" on port {p}"))
                    .unwrap_or_default()
            );
            ctx.note(CODE_UNREACHABLE, &route.source, &route.field, message);
            continue;
        }
        kept.push(route);
    }
    kept
}

/// The rules of one host in Istio's order: sources one after the other, each in App Mesh
/// order, and every catch-all after all other rules (Istio stops at the first rule without
/// conditions, IST0130).
pub(crate) fn istio_rules(routes: Vec<PlannedRoute>) -> (Vec<HttpRoute>, Vec<TcpRoute>) {
    let (specific, catch_all): (Vec<PlannedRoute>, Vec<PlannedRoute>) =
        routes.into_iter().partition(|r| !r.catch_all);
    let (mut http, mut tcp) = (Vec::new(), Vec::new());
    let (mut tcp_specific, mut tcp_any) = (Vec::new(), Vec::new());
    for r in specific.into_iter().chain(catch_all) {
        match r.rule {
            Rule::Http(h) => http.push(*h),
            Rule::Tcp(t) if t.matches.is_empty() => tcp_any.push(t),
            Rule::Tcp(t) => tcp_specific.push(t),
        }
    }
    // Port-specific catch-alls only compete within their port; rules without any match go last.
    let (with_match, without): (Vec<HttpRoute>, Vec<HttpRoute>) =
        http.into_iter().partition(|h| !h.matches.is_empty());
    http = with_match.into_iter().chain(without).collect();
    tcp.extend(tcp_specific);
    tcp.extend(tcp_any);
    (http, tcp)
}
