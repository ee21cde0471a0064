//! VirtualService rules: istio-validation.md §1 (VS-1..VS-9, VS-H1..VS-H8, VS-T1).

use super::Checker;
use super::primitives::{
    RULE_CONTROL_CHARACTER, duration, export_to, fqdn, header_value, hosts_overlap, ip_or_cidr,
    is_dns1123_label, is_header_token, is_ip, label_map, plain_text, port, re2, wildcard_domain,
};
use crate::istio::uri_index::UriIndex;

mod http_match;
use crate::istio::{
    Destination, HeaderOperations, Headers, HttpMatchRequest, HttpRetry, HttpRewrite, HttpRoute,
    StringMatch, TcpRoute, VirtualService, VirtualServiceSpec,
};
use http_match::http_match;

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
    // HTTP-CTL: the rewritten path and authority must be valid request text.
    let texts = [
        (rw.uri.as_deref(), "uri"),
        (rw.authority.as_deref(), "authority"),
        (
            rw.uri_regex_rewrite.as_ref().map(|r| r.rewrite.as_str()),
            "uriRegexRewrite.rewrite",
        ),
    ];
    for (text, name) in texts {
        if let Some(text) = text {
            c.check(
                RULE_CONTROL_CHARACTER,
                format!("{field}.{name}"),
                plain_text(text, false),
            );
        }
    }
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
mod tests;
