//! VirtualService rules: istio-validation.md §1 (VS-1..VS-9, VS-H1..VS-H8, VS-T1).

use std::collections::BTreeMap;

use super::Checker;
use super::primitives::{
    duration, export_to, fqdn, header_value, hosts_overlap, ip_or_cidr, is_dns1123_label,
    is_header_token, is_ip, is_jwt_claim_key, label_map, match_header_name, port, re2,
    wildcard_domain,
};
use crate::istio::uri_index::UriIndex;
use crate::istio::{
    Destination, HeaderOperations, Headers, HttpMatchRequest, HttpRetry, HttpRewrite, HttpRoute,
    StringMatch, TcpRoute, VirtualService, VirtualServiceSpec,
};

pub(super) fn check(c: &mut Checker, vs: &VirtualService) {
    let spec = &vs.spec;
    let gateway_bound = spec.gateway_refs().next().is_some();
    delegate_shape(c, spec);
    gateway_names(c, "spec.gateways", &spec.gateways);
    hosts(c, spec);
    overlapping_hosts(c, &spec.hosts);
    has_routes(c, spec);
    c.check(
        "VS-8",
        "spec.exportTo",
        export_to(&spec.export_to, vs.metadata.namespace.as_deref(), false),
    );
    for (i, route) in spec.http.iter().enumerate() {
        http_route(c, &format!("spec.http[{i}]"), route, gateway_bound);
    }
    for (i, route) in spec.tcp.iter().enumerate() {
        tcp_route(c, &format!("spec.tcp[{i}]"), route);
    }
    unreachable_http_rules(c, &spec.http);
    unreachable_tcp_rules(c, &spec.tcp);
    ineffective_matches(c, &spec.http);
}

/// VS-1: a VirtualService without hosts is a delegate: no gateways, no tcp routes.
fn delegate_shape(c: &mut Checker, spec: &VirtualServiceSpec) {
    if spec.hosts.is_empty() {
        if !spec.gateways.is_empty() {
            c.error(
                "VS-1",
                "spec.gateways",
                "a VirtualService without hosts is a delegate and must not set gateways",
            );
        }
        if !spec.tcp.is_empty() {
            c.error(
                "VS-1",
                "spec.tcp",
                "a VirtualService without hosts is a delegate and must not have tcp routes",
            );
        }
    }
}

/// VS-2: `mesh` or `<namespace>/<name>` (both DNS labels); the legacy `name.namespace`
/// form is accepted with a warning.
fn gateway_names(c: &mut Checker, field: &str, names: &[String]) {
    for (i, g) in names.iter().enumerate() {
        let f = format!("{field}[{i}]");
        if g == "mesh" {
            continue;
        }
        match g.split_once('/') {
            Some((ns, name)) => {
                if !is_dns1123_label(ns) || !is_dns1123_label(name) {
                    c.error(
                        "VS-2",
                        f,
                        format!("gateway {g:?}: namespace and name must both be DNS-1123 labels"),
                    );
                }
            }
            None => {
                if g.contains('.') {
                    c.warn("VS-2", f.clone(), format!("gateway {g:?} uses the legacy name.namespace form; prefer <namespace>/<name>"));
                }
                c.check("VS-2", f, fqdn(g));
            }
        }
    }
}

/// VS-3, VS-4: hosts are (wildcard) domain names or IPs; `*` only on gateway-bound routes.
fn hosts(c: &mut Checker, spec: &VirtualServiceSpec) {
    for (i, h) in spec.hosts.iter().enumerate() {
        let f = format!("spec.hosts[{i}]");
        if h == "*" && spec.is_mesh_bound() {
            c.error("VS-4", f, "host \"*\" is only allowed on a VirtualService bound to gateways only (not to mesh)");
        } else if !is_ip(h) {
            c.check("VS-3", f, wildcard_domain(h));
        }
    }
}

/// VS-5: no two hosts of one VirtualService may overlap.
fn overlapping_hosts(c: &mut Checker, hosts: &[String]) {
    for (j, b) in hosts.iter().enumerate() {
        if let Some(a) = hosts[..j].iter().find(|a| hosts_overlap(a, b)) {
            c.error(
                "VS-5",
                format!("spec.hosts[{j}]"),
                format!("host {b:?} overlaps host {a:?} of the same VirtualService"),
            );
        }
    }
}

/// VS-6: at least one http or tcp route.
fn has_routes(c: &mut Checker, spec: &VirtualServiceSpec) {
    if spec.http.is_empty() && spec.tcp.is_empty() {
        c.error(
            "VS-6",
            "spec",
            "a VirtualService needs at least one http or tcp route",
        );
    }
}

fn http_route(c: &mut Checker, field: &str, r: &HttpRoute, gateway_bound: bool) {
    if r.route.is_empty() {
        c.error(
            "VS-H1",
            format!("{field}.route"),
            "an HTTP route needs a route (redirect and directResponse are not generated)",
        );
    }
    for (j, m) in r.matches.iter().enumerate() {
        http_match(c, &format!("{field}.match[{j}]"), m, gateway_bound);
    }
    if let Some(h) = &r.headers {
        header_operations(c, &format!("{field}.headers"), h);
    }
    for (k, d) in r.route.iter().enumerate() {
        if let Some(h) = &d.headers {
            header_operations(c, &format!("{field}.route[{k}].headers"), h);
        }
    }
    authority_rewritten_once(c, field, r);
    if let Some(rw) = &r.rewrite {
        rewrite(c, &format!("{field}.rewrite"), rw);
    }
    if let Some(retry) = &r.retries {
        retries(c, &format!("{field}.retries"), retry);
    }
    if let Some(t) = r.timeout {
        c.check("VS-H7", format!("{field}.timeout"), duration(t, false));
    }
    destinations(
        c,
        "VS-H8",
        &format!("{field}.route"),
        r.route.iter().map(|d| (&d.destination, d.weight)),
    );
}

/// A StringMatch in uri/scheme/method/authority/headers/queryParams/withoutHeaders.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MatchPlace {
    Uri,
    Other,
    Header,
    WithoutHeader,
}

/// VS-H2: `prefix: ""` only on uri; regexes valid RE2; `{}` (presence) only in
/// headers/queryParams/withoutHeaders; `regex: "*"` only in withoutHeaders.
fn string_match(c: &mut Checker, field: &str, m: &StringMatch, place: MatchPlace) {
    match m {
        StringMatch::Prefix(p) if p.is_empty() && place != MatchPlace::Uri => {
            c.error(
                "VS-H2",
                field,
                "prefix string match should not be empty (use {} to match presence)",
            );
        }
        StringMatch::Regex(r) if r == "*" && place == MatchPlace::WithoutHeader => {}
        StringMatch::Regex(r) => c.check("VS-H2", field, re2(r)),
        StringMatch::Presence if matches!(place, MatchPlace::Uri | MatchPlace::Other) => {
            c.error("VS-H2", field, "an empty match ({}) only means \"present\" in headers, queryParams and withoutHeaders");
        }
        _ => {}
    }
}

/// VS-H2 and VS-7 for one `match` entry.
fn http_match(c: &mut Checker, field: &str, m: &HttpMatchRequest, gateway_bound: bool) {
    if let Some(u) = &m.uri {
        string_match(c, &format!("{field}.uri"), u, MatchPlace::Uri);
    }
    for (name, sm) in [
        ("scheme", &m.scheme),
        ("method", &m.method),
        ("authority", &m.authority),
    ] {
        if let Some(sm) = sm {
            string_match(c, &format!("{field}.{name}"), sm, MatchPlace::Other);
        }
    }
    header_matches(
        c,
        &format!("{field}.headers"),
        &m.headers,
        MatchPlace::Header,
        gateway_bound,
    );
    header_matches(
        c,
        &format!("{field}.withoutHeaders"),
        &m.without_headers,
        MatchPlace::WithoutHeader,
        gateway_bound,
    );
    for (k, sm) in &m.query_params {
        let f = format!("{field}.queryParams[{k}]");
        if k.is_empty() {
            c.error("VS-H2", f.clone(), "query parameter name must not be empty");
        }
        string_match(c, &f, sm, MatchPlace::Header);
    }
    if let Some(p) = m.port.filter(|p| *p != 0) {
        c.check("VS-H2", format!("{field}.port"), port(p));
    }
    c.check(
        "VS-H2",
        format!("{field}.sourceLabels"),
        label_map(&m.source_labels),
    );
    gateway_names(c, &format!("{field}.gateways"), &m.gateways);
}

fn header_matches(
    c: &mut Checker,
    field: &str,
    headers: &BTreeMap<String, StringMatch>,
    place: MatchPlace,
    gateway_bound: bool,
) {
    for (name, sm) in headers {
        let f = format!("{field}[{name}]");
        if is_jwt_claim_key(name) && !gateway_bound {
            c.error(
                "VS-7",
                f.clone(),
                "JWT claim matches are only supported on VirtualServices bound to a gateway",
            );
        }
        c.check("VS-H2", f.clone(), match_header_name(name));
        if name.chars().any(|ch| ch.is_ascii_uppercase()) && !is_jwt_claim_key(name) {
            c.warn(
                "VS-H2",
                f.clone(),
                "header names in matches must be lower case",
            );
        }
        string_match(c, &f, sm, place);
    }
}

/// VS-H3: header manipulation names and values.
fn header_operations(c: &mut Checker, field: &str, h: &Headers) {
    if let Some(req) = &h.request {
        operation_set(c, &format!("{field}.request"), req, true);
    }
    if let Some(resp) = &h.response {
        operation_set(c, &format!("{field}.response"), resp, false);
    }
}

fn operation_set(c: &mut Checker, field: &str, ops: &HeaderOperations, request: bool) {
    for (verb, map) in [("set", &ops.set), ("add", &ops.add)] {
        for (name, value) in map {
            let f = format!("{field}.{verb}[{name}]");
            let lower = name.to_ascii_lowercase();
            let authority = request && (lower == "host" || lower == ":authority");
            if !authority && (!is_header_token(name) || (!request && lower == "host")) {
                c.error("VS-H3", f.clone(), format!("header {name:?} cannot be set (empty, pseudo header, host on a response, or not a token)"));
            }
            c.check("VS-H3", f, header_value(value));
        }
    }
    for (i, name) in ops.remove.iter().enumerate() {
        if !is_header_token(name) || name.eq_ignore_ascii_case("host") {
            c.error(
                "VS-H3",
                format!("{field}.remove[{i}]"),
                format!("header {name:?} cannot be removed"),
            );
        }
    }
}

/// VS-H4: the authority may be rewritten in one place only.
fn authority_rewritten_once(c: &mut Checker, field: &str, r: &HttpRoute) {
    let sets_authority = |h: &Option<Headers>| {
        h.as_ref()
            .and_then(|h| h.request.as_ref())
            .is_some_and(|req| {
                req.set
                    .keys()
                    .chain(req.add.keys())
                    .any(|k| k.eq_ignore_ascii_case("host") || k.eq_ignore_ascii_case(":authority"))
            })
    };
    let rewrites = r.rewrite.as_ref().is_some_and(|rw| rw.authority.is_some());
    let header_sets =
        sets_authority(&r.headers) || r.route.iter().any(|d| sets_authority(&d.headers));
    if rewrites && header_sets {
        c.error("VS-H4", format!("{field}.rewrite.authority"), "authority is rewritten both by rewrite.authority and by a host/:authority header operation");
    }
}

/// VS-H5: `uri` xor `uriRegexRewrite`; something to rewrite; regex rewrite complete.
fn rewrite(c: &mut Checker, field: &str, rw: &HttpRewrite) {
    if rw.uri.is_some() && rw.uri_regex_rewrite.is_some() {
        c.error(
            "VS-H5",
            field,
            "rewrite.uri and rewrite.uriRegexRewrite are mutually exclusive",
        );
    }
    if rw.uri.is_none() && rw.uri_regex_rewrite.is_none() && rw.authority.is_none() {
        c.error(
            "VS-H5",
            field,
            "rewrite must specify uri, uriRegexRewrite or authority",
        );
    }
    if let Some(rr) = &rw.uri_regex_rewrite {
        if rr.pattern.is_empty() || rr.rewrite.is_empty() {
            c.error(
                "VS-H5",
                format!("{field}.uriRegexRewrite"),
                "uriRegexRewrite requires both match and rewrite",
            );
        } else {
            c.check(
                "VS-H5",
                format!("{field}.uriRegexRewrite.match"),
                re2(&rr.pattern),
            );
        }
    }
}

/// `retryOn` keywords Istio accepts besides HTTP status codes.
const RETRY_ON: &[&str] = &[
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "envoy-ratelimited",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// Status codes Go's `http.StatusText` names (Istio accepts exactly these as retryOn).
fn has_status_text(code: u32) -> bool {
    matches!(code,
        100..=103 | 200..=208 | 226 | 300..=305 | 307 | 308 | 400..=418 | 421..=426 | 428 | 429
        | 431 | 451 | 500..=508 | 510 | 511)
}

/// VS-H6: retries. `attempts: 0` stands alone; retryOn uses Istio's vocabulary.
pub(super) fn retries(c: &mut Checker, field: &str, r: &HttpRetry) {
    if r.attempts < 0 {
        c.error(
            "VS-H6",
            format!("{field}.attempts"),
            "attempts must not be negative",
        );
    }
    if r.attempts == 0
        && (r.per_try_timeout.is_some()
            || r.retry_on.is_some()
            || r.retry_remote_localities.is_some())
    {
        c.error("VS-H6", field, "http retry policy configured when attempts are set to 0 (disabled); write {attempts: 0} alone");
    }
    if let Some(d) = r.per_try_timeout {
        c.check(
            "VS-H6",
            format!("{field}.perTryTimeout"),
            duration(d, false),
        );
    }
    if let Some(on) = &r.retry_on {
        for token in on.split(',') {
            let valid = RETRY_ON.contains(&token)
                || (!token.is_empty()
                    && token.bytes().all(|b| b.is_ascii_digit())
                    && token.parse().is_ok_and(has_status_text));
            if !valid {
                c.error("VS-H6", format!("{field}.retryOn"), format!("{token:?} is not a valid retryOn policy (no spaces; a known event or an HTTP status code)"));
            }
        }
    }
}

/// VS-H8 (VS-T1 for tcp): destinations; with several, the weights must not all be 0.
fn destinations<'a>(
    c: &mut Checker,
    rule: &'static str,
    field: &str,
    dests: impl Iterator<Item = (&'a Destination, Option<i32>)>,
) {
    let mut count = 0usize;
    let mut total: i64 = 0;
    for (k, (d, weight)) in dests.enumerate() {
        count += 1;
        let f = format!("{field}[{k}]");
        destination(c, rule, &format!("{f}.destination"), d);
        match weight {
            Some(w) if w < 0 => c.error(rule, format!("{f}.weight"), "weight must not be negative"),
            Some(w) => total += i64::from(w),
            None => {}
        }
    }
    if count > 1 && total <= 0 {
        c.error(rule, field, "total destination weight = 0: with several destinations at least one weight must be positive");
    }
}

fn destination(c: &mut Checker, rule: &'static str, field: &str, d: &Destination) {
    if d.host == "*" {
        c.error(
            rule,
            format!("{field}.host"),
            "destination host must not be \"*\"",
        );
    } else {
        c.check(rule, format!("{field}.host"), wildcard_domain(&d.host));
    }
    if let Some(s) = &d.subset
        && !is_dns1123_label(s)
    {
        c.error(
            rule,
            format!("{field}.subset"),
            format!("subset {s:?} must be a DNS-1123 label (at most 63 characters, no dots)"),
        );
    }
    if let Some(p) = d.port {
        c.check(rule, format!("{field}.port.number"), port(p.number));
    }
}

/// VS-T1: tcp routes need destinations; match attributes valid.
fn tcp_route(c: &mut Checker, field: &str, r: &TcpRoute) {
    if r.route.is_empty() {
        c.error(
            "VS-T1",
            format!("{field}.route"),
            "a TCP route needs at least one destination",
        );
    }
    for (j, m) in r.matches.iter().enumerate() {
        let f = format!("{field}.match[{j}]");
        for (k, s) in m.destination_subnets.iter().enumerate() {
            c.check(
                "VS-T1",
                format!("{f}.destinationSubnets[{k}]"),
                ip_or_cidr(s),
            );
        }
        if let Some(p) = m.port.filter(|p| *p != 0) {
            c.check("VS-T1", format!("{f}.port"), port(p));
        }
        c.check(
            "VS-T1",
            format!("{f}.sourceLabels"),
            label_map(&m.source_labels),
        );
        gateway_names(c, &format!("{f}.gateways"), &m.gateways);
    }
    destinations(
        c,
        "VS-T1",
        &format!("{field}.route"),
        r.route.iter().map(|d| (&d.destination, d.weight)),
    );
}

fn is_catch_all(m: &HttpMatchRequest) -> bool {
    m.uri.is_none() && same_conditions_but_uri(m, &HttpMatchRequest::default())
}

/// VS-9 (IST0130): routes are evaluated in order; a rule without match conditions catches
/// everything, so every rule after it is unreachable.
fn unreachable_http_rules(c: &mut Checker, routes: &[HttpRoute]) {
    let first = routes
        .iter()
        .position(|r| r.matches.is_empty() || r.matches.iter().any(is_catch_all));
    if let Some(i) = first {
        for j in i + 1..routes.len() {
            c.warn("VS-9", format!("spec.http[{j}]"), format!(
                "unreachable (IST0130): spec.http[{i}] has no match conditions and catches all requests; only the last rule can have no matches"
            ));
        }
    }
}

fn unreachable_tcp_rules(c: &mut Checker, routes: &[TcpRoute]) {
    if let Some(i) = routes.iter().position(|r| r.matches.is_empty()) {
        for j in i + 1..routes.len() {
            c.warn("VS-9", format!("spec.tcp[{j}]"), format!(
                "unreachable (IST0130): spec.tcp[{i}] has no match conditions; only the last rule can have no matches"
            ));
        }
    }
}

/// VS-9 (IST0131): a match identical to an earlier one (ignoring `name`), or whose uri is
/// covered by an earlier prefix match with otherwise identical conditions, never applies.
/// Earlier matches are looked up through a [`UriIndex`]: both a duplicate and a covering
/// prefix match have a uri that admits the later one's.
fn ineffective_matches(c: &mut Checker, routes: &[HttpRoute]) {
    let mut seen: Vec<(String, &HttpMatchRequest)> = Vec::new();
    let mut index = UriIndex::default();
    for (i, r) in routes.iter().enumerate() {
        for (j, m) in r.matches.iter().enumerate() {
            let here = format!("spec.http[{i}].match[{j}]");
            let candidates = index.covering(m.uri.as_ref());
            let earlier = |test: &dyn Fn(&HttpMatchRequest) -> bool| {
                candidates
                    .iter()
                    .filter_map(|&k| seen.get(k))
                    .find(|(_, e)| test(e))
                    .map(|(at, _)| at.clone())
            };
            let duplicate = |e: &HttpMatchRequest| e.uri == m.uri && same_conditions_but_uri(e, m);
            if let Some(earlier) = earlier(&duplicate) {
                c.warn(
                    "VS-9",
                    here.clone(),
                    format!("ineffective (IST0131): duplicate of {earlier}"),
                );
            } else if let Some(earlier) = earlier(&|e| covers(e, m)) {
                c.warn(
                    "VS-9",
                    here.clone(),
                    format!(
                        "ineffective (IST0131): every request it matches is matched by {earlier}"
                    ),
                );
            }
            index.insert(m.uri.as_ref(), seen.len());
            seen.push((here, m));
        }
    }
}

/// `earlier` is a uri prefix match that matches everything `later` matches.
fn covers(earlier: &HttpMatchRequest, later: &HttpMatchRequest) -> bool {
    let Some(StringMatch::Prefix(p)) = &earlier.uri else {
        return false;
    };
    let later_path = match &later.uri {
        Some(StringMatch::Prefix(q) | StringMatch::Exact(q)) => q,
        _ => return false,
    };
    later_path.starts_with(p.as_str()) && same_conditions_but_uri(earlier, later)
}

/// Whether two matches have the same conditions besides `uri` (and `name`, which is no
/// condition). Spelled out field by field so that a new field cannot be forgotten.
fn same_conditions_but_uri(a: &HttpMatchRequest, b: &HttpMatchRequest) -> bool {
    let HttpMatchRequest {
        name: _,
        uri: _,
        scheme,
        method,
        authority,
        headers,
        port,
        source_labels,
        gateways,
        query_params,
        ignore_uri_case,
        without_headers,
    } = a;
    *scheme == b.scheme
        && *method == b.method
        && *authority == b.authority
        && *headers == b.headers
        && *port == b.port
        && *source_labels == b.source_labels
        && *gateways == b.gateways
        && *query_params == b.query_params
        && *ignore_uri_case == b.ignore_uri_case
        && *without_headers == b.without_headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::{
        Duration, HttpRouteDestination, L4MatchAttributes, RegexRewrite, RouteDestination,
    };
    use crate::validate::testing::{errors, labels, one, warnings};

    const HOST: &str = "cart.shop.svc.cluster.local";

    fn spec(hosts: &[&str], gateways: &[&str]) -> VirtualServiceSpec {
        VirtualServiceSpec {
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            gateways: gateways.iter().map(|s| s.to_string()).collect(),
            http: vec![route_to(HOST)],
            ..Default::default()
        }
    }

    fn route_to(host: &str) -> HttpRoute {
        HttpRoute {
            route: vec![HttpRouteDestination::to(Destination::host(host))],
            ..Default::default()
        }
    }

    fn with_match(m: HttpMatchRequest) -> HttpRoute {
        HttpRoute {
            matches: vec![m],
            ..route_to(HOST)
        }
    }

    fn uri_prefix(p: &str) -> HttpMatchRequest {
        HttpMatchRequest {
            uri: Some(StringMatch::prefix(p)),
            ..Default::default()
        }
    }

    #[test]
    fn vs1_delegate_shape() {
        assert!(errors(|c| delegate_shape(c, &spec(&[], &[]))).is_empty());
        assert_eq!(
            errors(|c| delegate_shape(c, &spec(&[], &["ns/gw"]))),
            one("VS-1", "spec.gateways")
        );
    }

    #[test]
    fn vs2_gateway_names() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(
            errors(|c| gateway_names(
                c,
                "spec.gateways",
                &names(&["mesh", "istio-system/ingress"])
            ))
            .is_empty()
        );
        assert_eq!(
            errors(|c| gateway_names(c, "spec.gateways", &names(&["mesh", "ns/a.b"]))),
            one("VS-2", "spec.gateways[1]")
        );
        assert_eq!(
            warnings(|c| gateway_names(c, "spec.gateways", &names(&["gw.ns"]))),
            one("VS-2", "spec.gateways[0]")
        );
    }

    #[test]
    fn vs3_vs4_hosts() {
        assert!(errors(|c| hosts(c, &spec(&["*"], &["ns/gw"]))).is_empty());
        assert!(errors(|c| hosts(c, &spec(&[HOST, "10.0.0.1"], &[]))).is_empty());
        assert_eq!(
            errors(|c| hosts(c, &spec(&["*"], &["ns/gw", "mesh"]))),
            one("VS-4", "spec.hosts[0]")
        );
        assert_eq!(
            errors(|c| hosts(c, &spec(&["bad_host.com"], &[]))),
            one("VS-3", "spec.hosts[0]")
        );
    }

    #[test]
    fn vs5_overlapping_hosts() {
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(
            errors(|c| overlapping_hosts(c, &h(&["a.example.com", "b.example.com"]))).is_empty()
        );
        assert_eq!(
            errors(|c| overlapping_hosts(c, &h(&["*.example.com", "a.example.com"]))),
            one("VS-5", "spec.hosts[1]")
        );
    }

    #[test]
    fn vs6_needs_routes() {
        assert!(errors(|c| has_routes(c, &spec(&[HOST], &[]))).is_empty());
        assert_eq!(
            errors(|c| has_routes(c, &VirtualServiceSpec::default())),
            one("VS-6", "spec")
        );
    }

    #[test]
    fn vs7_jwt_claims_only_on_gateways() {
        let m = HttpMatchRequest {
            headers: BTreeMap::from([(
                "@request.auth.claims.group".into(),
                StringMatch::exact("admin"),
            )]),
            ..Default::default()
        };
        assert!(errors(|c| http_match(c, "m", &m, true)).is_empty());
        assert_eq!(
            errors(|c| http_match(c, "m", &m, false)),
            one("VS-7", "m.headers[@request.auth.claims.group]")
        );
    }

    #[test]
    fn vs_h1_route_required() {
        assert!(errors(|c| http_route(c, "spec.http[0]", &route_to(HOST), false)).is_empty());
        assert_eq!(
            errors(|c| http_route(c, "spec.http[0]", &HttpRoute::default(), false)),
            one("VS-H1", "spec.http[0].route")
        );
    }

    #[test]
    fn vs_h2_string_matches() {
        let ok = HttpMatchRequest {
            uri: Some(StringMatch::prefix("")),
            headers: BTreeMap::from([("x-user".into(), StringMatch::Presence)]),
            without_headers: BTreeMap::from([("x-debug".into(), StringMatch::regex("*"))]),
            query_params: BTreeMap::from([("v".into(), StringMatch::exact(""))]),
            method: Some(StringMatch::exact("GET")),
            port: Some(8080),
            ..Default::default()
        };
        assert!(errors(|c| http_match(c, "m", &ok, false)).is_empty());
        let empty_prefix = HttpMatchRequest {
            headers: BTreeMap::from([("x-user".into(), StringMatch::prefix(""))]),
            ..Default::default()
        };
        assert_eq!(
            errors(|c| http_match(c, "m", &empty_prefix, false)),
            one("VS-H2", "m.headers[x-user]")
        );
        let bad_regex = HttpMatchRequest {
            uri: Some(StringMatch::regex("(?!x)")),
            ..Default::default()
        };
        assert_eq!(
            errors(|c| http_match(c, "m", &bad_regex, false)),
            one("VS-H2", "m.uri")
        );
        let star_in_headers = HttpMatchRequest {
            headers: BTreeMap::from([("x".into(), StringMatch::regex("*"))]),
            ..Default::default()
        };
        assert_eq!(
            errors(|c| http_match(c, "m", &star_in_headers, false)),
            one("VS-H2", "m.headers[x]")
        );
        let presence_method = HttpMatchRequest {
            method: Some(StringMatch::Presence),
            ..Default::default()
        };
        assert_eq!(
            errors(|c| http_match(c, "m", &presence_method, false)),
            one("VS-H2", "m.method")
        );
        let bad_header = HttpMatchRequest {
            headers: BTreeMap::from([("x user".into(), StringMatch::exact("a"))]),
            source_labels: labels(&[("app", "ok")]),
            ..Default::default()
        };
        assert_eq!(
            errors(|c| http_match(c, "m", &bad_header, false)),
            one("VS-H2", "m.headers[x user]")
        );
        let bad_port = HttpMatchRequest {
            port: Some(70000),
            ..Default::default()
        };
        assert_eq!(
            errors(|c| http_match(c, "m", &bad_port, false)),
            one("VS-H2", "m.port")
        );
    }

    #[test]
    fn vs_h2_upper_case_header_names_warn() {
        let m = HttpMatchRequest {
            headers: BTreeMap::from([("X-User".into(), StringMatch::exact("a"))]),
            ..Default::default()
        };
        assert_eq!(
            warnings(|c| http_match(c, "m", &m, false)),
            one("VS-H2", "m.headers[X-User]")
        );
    }

    #[test]
    fn vs_h3_header_operations() {
        let ok = Headers {
            request: Some(HeaderOperations {
                set: BTreeMap::from([
                    (
                        "x-forwarded-by".into(),
                        "%DOWNSTREAM_REMOTE_ADDRESS%".into(),
                    ),
                    ("host".into(), "a.b".into()),
                ]),
                ..Default::default()
            }),
            response: Some(HeaderOperations {
                remove: vec!["server".into()],
                ..Default::default()
            }),
        };
        assert!(errors(|c| header_operations(c, "h", &ok)).is_empty());
        let bad = Headers {
            request: None,
            response: Some(HeaderOperations {
                set: BTreeMap::from([("host".into(), "x".into())]),
                ..Default::default()
            }),
        };
        assert_eq!(
            errors(|c| header_operations(c, "h", &bad)),
            one("VS-H3", "h.response.set[host]")
        );
        let bad_value = Headers {
            request: Some(HeaderOperations {
                add: BTreeMap::from([("x-a".into(), "50%".into())]),
                ..Default::default()
            }),
            response: None,
        };
        assert_eq!(
            errors(|c| header_operations(c, "h", &bad_value)),
            one("VS-H3", "h.request.add[x-a]")
        );
    }

    #[test]
    fn vs_h4_authority_once() {
        let mut r = route_to(HOST);
        r.rewrite = Some(HttpRewrite {
            authority: Some("a.b".into()),
            ..Default::default()
        });
        assert!(errors(|c| authority_rewritten_once(c, "r", &r)).is_empty());
        r.headers = Some(Headers {
            request: Some(HeaderOperations {
                set: BTreeMap::from([(":authority".into(), "c.d".into())]),
                ..Default::default()
            }),
            response: None,
        });
        assert_eq!(
            errors(|c| authority_rewritten_once(c, "r", &r)),
            one("VS-H4", "r.rewrite.authority")
        );
    }

    #[test]
    fn vs_h5_rewrite() {
        let ok = HttpRewrite {
            uri: Some("/".into()),
            authority: Some("a.b".into()),
            ..Default::default()
        };
        assert!(errors(|c| rewrite(c, "rw", &ok)).is_empty());
        let both = HttpRewrite {
            uri: Some("/".into()),
            uri_regex_rewrite: Some(RegexRewrite {
                pattern: "^/a(.*)".into(),
                rewrite: "/b\\1".into(),
            }),
            ..Default::default()
        };
        assert_eq!(errors(|c| rewrite(c, "rw", &both)), one("VS-H5", "rw"));
        assert_eq!(
            errors(|c| rewrite(c, "rw", &HttpRewrite::default())),
            one("VS-H5", "rw")
        );
        let incomplete = HttpRewrite {
            uri_regex_rewrite: Some(RegexRewrite {
                pattern: "^/a".into(),
                rewrite: String::new(),
            }),
            ..Default::default()
        };
        assert_eq!(
            errors(|c| rewrite(c, "rw", &incomplete)),
            one("VS-H5", "rw.uriRegexRewrite")
        );
    }

    #[test]
    fn vs_h6_retries() {
        assert!(errors(|c| retries(c, "r", &HttpRetry::disabled())).is_empty());
        let ok = HttpRetry::attempts(2)
            .with_retry_on(["5xx", "503", "409", "gateway-error", "unavailable"])
            .with_per_try_timeout(Duration::from_millis(1500));
        assert!(errors(|c| retries(c, "r", &ok)).is_empty());
        let zero_with_timeout = HttpRetry::disabled().with_per_try_timeout(Duration::from_secs(1));
        assert_eq!(
            errors(|c| retries(c, "r", &zero_with_timeout)),
            one("VS-H6", "r")
        );
        let app_mesh_vocab = HttpRetry::attempts(2).with_retry_on(["server-error"]);
        assert_eq!(
            errors(|c| retries(c, "r", &app_mesh_vocab)),
            one("VS-H6", "r.retryOn")
        );
        let spaced = HttpRetry {
            retry_on: Some("5xx, reset".into()),
            ..HttpRetry::attempts(1)
        };
        assert_eq!(
            errors(|c| retries(c, "r", &spaced)),
            one("VS-H6", "r.retryOn")
        );
        let unnamed_status = HttpRetry::attempts(1).with_retry_on(["599"]);
        assert_eq!(
            errors(|c| retries(c, "r", &unnamed_status)),
            one("VS-H6", "r.retryOn")
        );
        let zero_timeout = HttpRetry::attempts(1).with_per_try_timeout(Duration::ZERO);
        assert_eq!(
            errors(|c| retries(c, "r", &zero_timeout)),
            one("VS-H6", "r.perTryTimeout")
        );
        assert_eq!(
            errors(|c| retries(c, "r", &HttpRetry::attempts(-1))),
            one("VS-H6", "r.attempts")
        );
    }

    #[test]
    fn vs_h7_timeout() {
        let mut r = route_to(HOST);
        r.timeout = Some(Duration::from_secs(15));
        assert!(errors(|c| http_route(c, "h", &r, false)).is_empty());
        r.timeout = Some(Duration::ZERO);
        assert_eq!(
            errors(|c| http_route(c, "h", &r, false)),
            one("VS-H7", "h.timeout")
        );
    }

    #[test]
    fn vs_h8_destinations() {
        let a = Destination::host(HOST).with_subset("v1").with_port(8080);
        let b = Destination::host(HOST).with_subset("v2");
        let ok = [(&a, Some(0)), (&b, Some(1))];
        assert!(errors(|c| destinations(c, "VS-H8", "r", ok.into_iter())).is_empty());
        let lone_zero = [(&a, Some(0))];
        assert!(errors(|c| destinations(c, "VS-H8", "r", lone_zero.into_iter())).is_empty());
        let all_zero = [(&a, Some(0)), (&b, None)];
        assert_eq!(
            errors(|c| destinations(c, "VS-H8", "r", all_zero.into_iter())),
            one("VS-H8", "r")
        );
        let star = Destination::host("*");
        assert_eq!(
            errors(|c| destinations(c, "VS-H8", "r", [(&star, None)].into_iter())),
            one("VS-H8", "r[0].destination.host")
        );
        let dotted = Destination::host(HOST).with_subset("v1.2");
        assert_eq!(
            errors(|c| destinations(c, "VS-H8", "r", [(&dotted, None)].into_iter())),
            one("VS-H8", "r[0].destination.subset")
        );
        let port0 = Destination::host(HOST).with_port(0);
        assert_eq!(
            errors(|c| destinations(c, "VS-H8", "r", [(&port0, None)].into_iter())),
            one("VS-H8", "r[0].destination.port.number")
        );
        assert_eq!(
            errors(|c| destinations(c, "VS-H8", "r", [(&a, Some(-5))].into_iter())),
            one("VS-H8", "r[0].weight")
        );
    }

    #[test]
    fn vs_t1_tcp_routes() {
        let ok = TcpRoute {
            matches: vec![L4MatchAttributes {
                port: Some(9000),
                destination_subnets: vec!["10.0.0.0/8".into()],
                ..Default::default()
            }],
            route: vec![RouteDestination::to(
                Destination::host(HOST).with_port(9000),
            )],
        };
        assert!(errors(|c| tcp_route(c, "spec.tcp[0]", &ok)).is_empty());
        assert_eq!(
            errors(|c| tcp_route(c, "spec.tcp[0]", &TcpRoute::default())),
            one("VS-T1", "spec.tcp[0].route")
        );
        let bad_subnet = TcpRoute {
            matches: vec![L4MatchAttributes {
                destination_subnets: vec!["10.0.0.0/40".into()],
                ..Default::default()
            }],
            ..ok
        };
        assert_eq!(
            errors(|c| tcp_route(c, "spec.tcp[0]", &bad_subnet)),
            one("VS-T1", "spec.tcp[0].match[0].destinationSubnets[0]")
        );
    }

    #[test]
    fn vs9_catch_all_must_be_last() {
        let ok = [with_match(uri_prefix("/api")), route_to(HOST)];
        assert!(warnings(|c| unreachable_http_rules(c, &ok)).is_empty());
        let bad = [route_to(HOST), with_match(uri_prefix("/api"))];
        assert_eq!(
            warnings(|c| unreachable_http_rules(c, &bad)),
            one("VS-9", "spec.http[1]")
        );
        let named_empty = HttpMatchRequest {
            name: Some("all".into()),
            ..Default::default()
        };
        let bad2 = [with_match(named_empty), route_to(HOST)];
        assert_eq!(
            warnings(|c| unreachable_http_rules(c, &bad2)),
            one("VS-9", "spec.http[1]")
        );
        let tcp = [TcpRoute::default(), TcpRoute::default()];
        assert_eq!(
            warnings(|c| unreachable_tcp_rules(c, &tcp)),
            one("VS-9", "spec.tcp[1]")
        );
    }

    #[test]
    fn vs9_ineffective_matches() {
        let ok = [
            with_match(uri_prefix("/api/v2")),
            with_match(uri_prefix("/api")),
        ];
        assert!(warnings(|c| ineffective_matches(c, &ok)).is_empty());
        let shadowed = [
            with_match(uri_prefix("/api")),
            with_match(uri_prefix("/api/v2")),
        ];
        assert_eq!(
            warnings(|c| ineffective_matches(c, &shadowed)),
            one("VS-9", "spec.http[1].match[0]")
        );
        let mut named = uri_prefix("/x");
        named.name = Some("dup".into());
        let dup = [with_match(uri_prefix("/x")), with_match(named)];
        assert_eq!(
            warnings(|c| ineffective_matches(c, &dup)),
            one("VS-9", "spec.http[1].match[0]")
        );
        let mut with_header = uri_prefix("/api/v2");
        with_header
            .headers
            .insert("x-canary".into(), StringMatch::exact("1"));
        let differs = [with_match(uri_prefix("/api")), with_match(with_header)];
        assert!(warnings(|c| ineffective_matches(c, &differs)).is_empty());
    }

    #[test]
    fn vs8_export_to() {
        let mut vs = VirtualService::new(
            crate::istio::Metadata::new("cart", "shop"),
            spec(&[HOST], &[]),
        );
        vs.spec.export_to = vec![".".into(), "istio-system".into()];
        assert!(crate::validate::testing::run(|c| check(c, &vs)).is_empty());
        vs.spec.export_to = vec!["*".into(), ".".into()];
        assert_eq!(errors(|c| check(c, &vs)), one("VS-8", "spec.exportTo"));
    }

    #[test]
    fn whole_virtual_service_passes() {
        let vs = VirtualService::new(
            crate::istio::Metadata::new("cart", "shop"),
            spec(&[HOST], &[]),
        );
        assert!(crate::validate::testing::run(|c| check(c, &vs)).is_empty());
    }
}
