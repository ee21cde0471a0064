//! HTTPRoute, GRPCRoute and TCPRoute.

use std::sync::OnceLock;

use regex::Regex;

use super::*;
use crate::gateway_api::{
    FilterType, GrpcRouteSpec, HttpBackendRef, HttpRouteMatch, HttpRouteRule, HttpRouteSpec,
    PathMatchType, PathModifierType, RouteFilter, TcpRouteSpec,
};

/// "While 16 rules and 64 matches per rule are allowed, the total number of matches across
/// all rules in a route must be less than 128".
pub const CEL_MATCH_TOTAL: &str = "GAPI-CEL-MATCH-TOTAL";
/// "Rule name must be unique within the route".
pub const CEL_RULE_NAME: &str = "GAPI-CEL-RULE-NAME";
/// The path rules for `Exact`/`PathPrefix` values (absolute, no `//`, `/./`, `/../`, `%2f`,
/// `#`, no trailing `/.` or `/..`, only URI path characters).
pub const CEL_PATH: &str = "GAPI-CEL-PATH";
/// "When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match
/// must be specified" (in the rule's filters or a backend's).
pub const CEL_PREFIX_REWRITE: &str = "GAPI-CEL-PREFIX-REWRITE";
/// "replaceFullPath/replacePrefixMatch must be specified when type is set to ..." and the
/// converse.
pub const CEL_PATH_MODIFIER: &str = "GAPI-CEL-PATH-MODIFIER";
/// "backendRequest timeout cannot be longer than request timeout".
pub const CEL_TIMEOUTS: &str = "GAPI-CEL-TIMEOUTS";
/// GRPCRoute: "One or both of 'service' or 'method' must be specified" and their characters.
pub const CEL_GRPC_METHOD: &str = "GAPI-CEL-GRPC-METHOD";
/// A field or value the kind does not have (`URLRewrite` in a GRPCRoute, an unknown
/// method).
pub const ENUM: &str = "GAPI-ENUM";

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

pub(super) fn http_route(c: &mut Checker, spec: &HttpRouteSpec) {
    parent_refs(c, &spec.parent_refs);
    hostnames(c, &spec.hostnames);
    min_items(c, "spec.rules", spec.rules.len(), 1);
    max_items(c, "spec.rules", spec.rules.len(), 16);
    rule_names(c, spec.rules.iter().map(|r| r.name.as_deref()));
    match_total(c, spec.rules.iter().map(|r| r.matches.len()));
    for (i, rule) in spec.rules.iter().enumerate() {
        http_rule(c, &format!("spec.rules[{i}]"), rule);
    }
}

fn http_rule(c: &mut Checker, at: &str, rule: &HttpRouteRule) {
    if let Some(name) = &rule.name {
        subdomain(c, format!("{at}.name"), name);
    }
    max_items(c, &format!("{at}.matches"), rule.matches.len(), 64);
    for (i, m) in rule.matches.iter().enumerate() {
        http_match(c, &format!("{at}.matches[{i}]"), m);
    }
    filters(c, &format!("{at}.filters"), &rule.filters, true);
    backend_refs(c, at, &rule.backend_refs, true);
    prefix_rewrite(c, at, rule);
    if let Some(t) = &rule.timeouts {
        if let Some(d) = t.request {
            duration(c, format!("{at}.timeouts.request"), d);
        }
        if let Some(d) = t.backend_request {
            duration(c, format!("{at}.timeouts.backendRequest"), d);
        }
        if let (Some(request), Some(backend)) = (t.request, t.backend_request)
            && request.as_millis() != 0
            && backend > request
        {
            c.error(
                CEL_TIMEOUTS,
                format!("{at}.timeouts"),
                format!("backendRequest {backend} is longer than request {request}"),
            );
        }
    }
    if let Some(r) = &rule.retry {
        for (i, code) in r.codes.iter().enumerate() {
            if !(400..=599).contains(code) {
                c.error(
                    LIMIT,
                    format!("{at}.retry.codes[{i}]"),
                    format!("{code} is not an HTTP status 400..599"),
                );
            }
        }
        if let Some(b) = r.backoff {
            duration(c, format!("{at}.retry.backoff"), b);
        }
    }
}

fn http_match(c: &mut Checker, at: &str, m: &HttpRouteMatch) {
    if let Some(path) = &m.path {
        let field = format!("{at}.path.value");
        if path.value.len() > 1024 {
            c.error(
                LIMIT,
                field.clone(),
                "path value is longer than 1024 characters",
            );
        }
        match path.match_type {
            PathMatchType::RegularExpression => {
                c.check(RE2, field, super::super::primitives::re2(&path.value))
            }
            PathMatchType::Exact | PathMatchType::PathPrefix => {
                if let Err(message) = plain_path(&path.value) {
                    c.error(CEL_PATH, field, message);
                }
            }
        }
    }
    value_matches(c, &format!("{at}.headers"), &m.headers, 4096, true);
    value_matches(
        c,
        &format!("{at}.queryParams"),
        &m.query_params,
        1024,
        false,
    );
    if let Some(method) = m.method.as_deref().filter(|m| !METHODS.contains(m)) {
        c.error(
            ENUM,
            format!("{at}.method"),
            format!("{method:?} is not one of {}", METHODS.join(", ")),
        );
    }
}

/// The CEL rules on an `Exact` or `PathPrefix` value.
fn plain_path(value: &str) -> Result<(), String> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    if !value.starts_with('/') {
        return Err(format!(
            "{value:?} must be an absolute path starting with '/'"
        ));
    }
    for bad in ["//", "/./", "/../", "%2f", "%2F", "#"] {
        if value.contains(bad) {
            return Err(format!("{value:?} must not contain {bad:?}"));
        }
    }
    for bad in ["/..", "/."] {
        if value.ends_with(bad) {
            return Err(format!("{value:?} must not end with {bad:?}"));
        }
    }
    if !pattern(
        &RE,
        r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$",
        value,
    ) {
        return Err(format!(
            "{value:?} contains characters a path may not (percent-encode them)"
        ));
    }
    Ok(())
}

/// Route or backend filters: ≤16, each `type` paired with exactly its block, header
/// modifiers and URLRewrite at most once, allowed types per kind.
fn filters(c: &mut Checker, at: &str, filters: &[RouteFilter], http: bool) {
    max_items(c, at, filters.len(), 16);
    for (i, f) in filters.iter().enumerate() {
        let here = format!("{at}[{i}]");
        let blocks = [
            (
                FilterType::RequestHeaderModifier,
                f.request_header_modifier.is_some(),
                "requestHeaderModifier",
            ),
            (
                FilterType::ResponseHeaderModifier,
                f.response_header_modifier.is_some(),
                "responseHeaderModifier",
            ),
            (
                FilterType::RequestMirror,
                f.request_mirror.is_some(),
                "requestMirror",
            ),
            (
                FilterType::UrlRewrite,
                f.url_rewrite.is_some(),
                "urlRewrite",
            ),
        ];
        for (ty, present, block) in blocks {
            if present && f.filter_type != ty {
                c.error(
                    CEL_FILTER_TYPE,
                    format!("{here}.{block}"),
                    format!(
                        "filter.{block} must be nil if the filter.type is not {}",
                        ty.as_str()
                    ),
                );
            }
            if !present && f.filter_type == ty {
                c.error(
                    CEL_FILTER_TYPE,
                    here.clone(),
                    format!(
                        "filter.{block} must be specified for {} filter.type",
                        ty.as_str()
                    ),
                );
            }
        }
        if !http && f.filter_type == FilterType::UrlRewrite {
            c.error(
                ENUM,
                format!("{here}.type"),
                "GRPCRoute has no URLRewrite filter",
            );
        }
        if let Some(m) = &f.request_header_modifier {
            header_modifier(c, &format!("{here}.requestHeaderModifier"), m);
        }
        if let Some(m) = &f.response_header_modifier {
            header_modifier(c, &format!("{here}.responseHeaderModifier"), m);
        }
        if let Some(m) = &f.request_mirror {
            backend_ref(
                c,
                &format!("{here}.requestMirror.backendRef"),
                &m.backend_ref,
            );
            if let Some(p) = m.percent.filter(|p| !(0..=100).contains(p)) {
                c.error(
                    LIMIT,
                    format!("{here}.requestMirror.percent"),
                    format!("{p} is outside 0..100"),
                );
            }
        }
        if let Some(r) = &f.url_rewrite {
            if let Some(h) = r.hostname.as_deref().filter(|h| !is_dns1123_subdomain(h)) {
                c.error(
                    PATTERN,
                    format!("{here}.urlRewrite.hostname"),
                    format!("{h:?} is not a lower-case DNS name"),
                );
            }
            if let Some(p) = &r.path {
                let field = format!("{here}.urlRewrite.path");
                let (full, prefix) = (
                    p.replace_full_path.as_ref(),
                    p.replace_prefix_match.as_ref(),
                );
                let paired = match p.modifier_type {
                    PathModifierType::ReplaceFullPath => full.is_some() && prefix.is_none(),
                    PathModifierType::ReplacePrefixMatch => prefix.is_some() && full.is_none(),
                };
                if !paired {
                    c.error(CEL_PATH_MODIFIER, field.clone(), "type must be ReplaceFullPath with replaceFullPath, or ReplacePrefixMatch with replacePrefixMatch, and nothing else");
                }
                if full.or(prefix).is_some_and(|v| v.len() > 1024) {
                    c.error(LIMIT, field, "the path is longer than 1024 characters");
                }
            }
        }
    }
    for (ty, name) in [
        (FilterType::RequestHeaderModifier, "RequestHeaderModifier"),
        (FilterType::ResponseHeaderModifier, "ResponseHeaderModifier"),
        (FilterType::UrlRewrite, "URLRewrite"),
    ] {
        if filters.iter().filter(|f| f.filter_type == ty).count() > 1 {
            c.error(
                CEL_FILTER_REPEAT,
                at,
                format!("{name} filter cannot be repeated"),
            );
        }
    }
}

fn backend_refs(c: &mut Checker, at: &str, refs: &[HttpBackendRef], http: bool) {
    max_items(c, &format!("{at}.backendRefs"), refs.len(), 16);
    for (i, b) in refs.iter().enumerate() {
        let here = format!("{at}.backendRefs[{i}]");
        backend_ref(c, &here, &b.backend);
        filters(c, &format!("{here}.filters"), &b.filters, http);
    }
}

/// `ReplacePrefixMatch` (in the rule's or a backend's URLRewrite) needs exactly one match,
/// and it must be a `PathPrefix`.
fn prefix_rewrite(c: &mut Checker, at: &str, rule: &HttpRouteRule) {
    let is_prefix_rewrite = |f: &RouteFilter| {
        f.url_rewrite
            .as_ref()
            .and_then(|r| r.path.as_ref())
            .is_some_and(|p| {
                p.modifier_type == PathModifierType::ReplacePrefixMatch
                    && p.replace_prefix_match.is_some()
            })
    };
    let used = rule.filters.iter().any(is_prefix_rewrite)
        || rule
            .backend_refs
            .iter()
            .any(|b| b.filters.iter().any(is_prefix_rewrite));
    let one_prefix = rule.matches.len() == 1
        && rule.matches[0]
            .path
            .as_ref()
            .is_some_and(|p| p.match_type == PathMatchType::PathPrefix);
    if used && !one_prefix {
        c.error(
            CEL_PREFIX_REWRITE,
            format!("{at}.matches"),
            "when using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified",
        );
    }
}

fn rule_names<'a>(c: &mut Checker, names: impl Iterator<Item = Option<&'a str>>) {
    let names: Vec<Option<&str>> = names.collect();
    for (i, name) in names.iter().enumerate() {
        if let Some(name) = name
            && names[..i].contains(&Some(name))
        {
            c.error(
                CEL_RULE_NAME,
                format!("spec.rules[{i}].name"),
                format!("rule name {name:?} is used twice"),
            );
        }
    }
}

fn match_total(c: &mut Checker, per_rule: impl Iterator<Item = usize>) {
    let total: usize = per_rule.sum();
    if total > 128 {
        c.error(
            CEL_MATCH_TOTAL,
            "spec.rules",
            format!("{total} matches across the rules; at most 128 are allowed"),
        );
    }
}

pub(super) fn grpc_route(c: &mut Checker, spec: &GrpcRouteSpec) {
    static SERVICE: OnceLock<Option<Regex>> = OnceLock::new();
    static METHOD: OnceLock<Option<Regex>> = OnceLock::new();
    parent_refs(c, &spec.parent_refs);
    hostnames(c, &spec.hostnames);
    max_items(c, "spec.rules", spec.rules.len(), 16);
    rule_names(c, spec.rules.iter().map(|r| r.name.as_deref()));
    match_total(c, spec.rules.iter().map(|r| r.matches.len()));
    for (i, rule) in spec.rules.iter().enumerate() {
        let at = format!("spec.rules[{i}]");
        if let Some(name) = &rule.name {
            subdomain(c, format!("{at}.name"), name);
        }
        max_items(c, &format!("{at}.matches"), rule.matches.len(), 64);
        for (j, m) in rule.matches.iter().enumerate() {
            let here = format!("{at}.matches[{j}]");
            value_matches(c, &format!("{here}.headers"), &m.headers, 4096, false);
            let Some(method) = &m.method else { continue };
            let field = format!("{here}.method");
            if method.service.is_none() && method.method.is_none() {
                c.error(
                    CEL_GRPC_METHOD,
                    field.clone(),
                    "one or both of 'service' or 'method' must be specified",
                );
            }
            for value in [&method.service, &method.method].into_iter().flatten() {
                if value.len() > 1024 {
                    c.error(
                        LIMIT,
                        field.clone(),
                        "service and method are at most 1024 characters",
                    );
                }
                if method.match_type == ValueMatchType::RegularExpression {
                    c.check(RE2, field.clone(), super::super::primitives::re2(value));
                }
            }
            if method.match_type == ValueMatchType::Exact {
                if let Some(s) = method.service.as_deref().filter(|s| {
                    !pattern(
                        &SERVICE,
                        r"^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$",
                        s,
                    )
                }) {
                    c.error(
                        CEL_GRPC_METHOD,
                        format!("{field}.service"),
                        format!("{s:?} is not a gRPC service name"),
                    );
                }
                if let Some(m) = method
                    .method
                    .as_deref()
                    .filter(|m| !pattern(&METHOD, r"^[A-Za-z_][A-Za-z_0-9]*$", m))
                {
                    c.error(
                        CEL_GRPC_METHOD,
                        format!("{field}.method"),
                        format!("{m:?} is not a gRPC method name"),
                    );
                }
            }
        }
        filters(c, &format!("{at}.filters"), &rule.filters, false);
        backend_refs(c, &at, &rule.backend_refs, false);
    }
}

pub(super) fn tcp_route(c: &mut Checker, spec: &TcpRouteSpec) {
    parent_refs(c, &spec.parent_refs);
    min_items(c, "spec.rules", spec.rules.len(), 1);
    max_items(c, "spec.rules", spec.rules.len(), 16);
    rule_names(c, spec.rules.iter().map(|r| r.name.as_deref()));
    for (i, rule) in spec.rules.iter().enumerate() {
        let at = format!("spec.rules[{i}]");
        if let Some(name) = &rule.name {
            subdomain(c, format!("{at}.name"), name);
        }
        min_items(c, &format!("{at}.backendRefs"), rule.backend_refs.len(), 1);
        max_items(c, &format!("{at}.backendRefs"), rule.backend_refs.len(), 16);
        for (j, b) in rule.backend_refs.iter().enumerate() {
            backend_ref(c, &format!("{at}.backendRefs[{j}]"), b);
        }
    }
}
