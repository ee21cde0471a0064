//! Gateway API v1.5.1's rules, run on every Gateway API object (and generated Service) we
//! emit, before anything is printed: the CRD schemas' bounds, patterns and enums and their
//! CEL rules (`x-kubernetes-validations`), as `shared/reference/gateway-api-constraints.md`
//! lists them, plus what Istio refuses when it translates a route (RE2 regexes).
//!
//! The API server (1.25+) enforces all of them; our test API server (1.20) enforces the
//! structural schema only, so the CEL rules are only ever checked here. Rule ids name the
//! constraint: `GAPI-LIMIT` (maxItems/maxLength/minimum/...), `GAPI-PATTERN`, `GAPI-ENUM`,
//! `GAPI-LIST-KEY` (duplicate key of a `list-type: map`), and one `GAPI-CEL-*` id per CEL
//! rule. Only the fields our model ([`crate::gateway_api`]) has are checked.

use std::sync::OnceLock;

use regex::Regex;

use super::Checker;
use super::primitives::{is_dns1123_subdomain, is_k8s_label_name};
use crate::gateway_api::{
    BackendRef, Duration, HeaderModifier, ParentReference, ValueMatch, ValueMatchType,
};
use crate::istio::IstioObject;

mod cross;
mod gateway;
mod routes;

pub(super) use cross::check as check_set;

pub const LIMIT: &str = "GAPI-LIMIT";
pub const PATTERN: &str = "GAPI-PATTERN";
pub const LIST_KEY: &str = "GAPI-LIST-KEY";
/// "sectionName or port must be specified when parentRefs includes 2 or more references to
/// the same parent".
pub const CEL_PARENT_SECTION: &str = "GAPI-CEL-PARENT-SECTION";
/// "sectionName or port must be unique when parentRefs includes 2 or more references to the
/// same parent".
pub const CEL_PARENT_UNIQUE: &str = "GAPI-CEL-PARENT-UNIQUE";
/// "Must have port for Service reference".
pub const CEL_SERVICE_PORT: &str = "GAPI-CEL-SERVICE-PORT";
/// "filter.X must be nil if the filter.type is not X" / "must be specified for X".
pub const CEL_FILTER_TYPE: &str = "GAPI-CEL-FILTER-TYPE";
/// "X filter cannot be repeated".
pub const CEL_FILTER_REPEAT: &str = "GAPI-CEL-FILTER-REPEAT";
/// A regex Istio (RE2) refuses: the route is not programmed.
pub const RE2: &str = "GAPI-RE2";

/// Gateway API's rules for `obj`; nothing for Istio's kinds.
pub(super) fn check(c: &mut Checker, obj: &IstioObject) {
    match obj {
        IstioObject::HttpRoute(o) => routes::http_route(c, &o.spec),
        IstioObject::GrpcRoute(o) => routes::grpc_route(c, &o.spec),
        IstioObject::TcpRoute(o) => routes::tcp_route(c, &o.spec),
        IstioObject::KubernetesGateway(o) => gateway::gateway(c, &o.spec),
        IstioObject::ReferenceGrant(o) => gateway::reference_grant(c, &o.spec),
        IstioObject::Service(o) => gateway::service(c, &o.metadata.name, &o.spec),
        _ => {}
    }
}

// ------------------------------------------------------------------------------------------
// Bounds and patterns of the schema

fn pattern(cell: &'static OnceLock<Option<Regex>>, source: &str, text: &str) -> bool {
    cell.get_or_init(|| Regex::new(source).ok())
        .as_ref()
        .is_some_and(|re| re.is_match(text))
}

/// `^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`, ≤253.
pub(crate) fn is_hostname(s: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    !s.is_empty()
        && s.len() <= 253
        && pattern(
            &RE,
            r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
            s,
        )
}

/// Group: empty or a lower-case DNS subdomain, ≤253.
fn is_group(s: &str) -> bool {
    s.is_empty() || is_dns1123_subdomain(s)
}

/// Kind: `^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`, 1..63.
fn is_kind(s: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    !s.is_empty() && s.len() <= 63 && pattern(&RE, r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$", s)
}

/// HTTP header (and query parameter) name: RFC 7230 token, 1..256.
fn is_header_name(s: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    !s.is_empty() && s.len() <= 256 && pattern(&RE, r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$", s)
}

/// HTTP header value: `^[!-~]+([\t ]?[!-~]+)*$` (visible ASCII, single inner spaces/tabs).
fn is_header_value(s: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    s.len() <= 4096 && pattern(&RE, r"^[!-~]+([\t ]?[!-~]+)*$", s)
}

/// A duration field as written: `^([0-9]{1,5}(h|m|s|ms)){1,4}$`.
fn duration(c: &mut Checker, field: String, d: Duration) {
    let text = d.to_string();
    if Duration::parse(&text).is_none() {
        c.error(
            PATTERN,
            field,
            format!(
                "{text:?} is not a Gateway API duration (at most 99999 of a unit, e.g. \"1h30m\")"
            ),
        );
    }
}

fn max_items(c: &mut Checker, field: &str, len: usize, max: usize) {
    if len > max {
        c.error(
            LIMIT,
            field,
            format!("{len} items; the CRD allows at most {max}"),
        );
    }
}

fn min_items(c: &mut Checker, field: &str, len: usize, min: usize) {
    if len < min {
        c.error(
            LIMIT,
            field,
            format!("{len} items; the CRD requires at least {min}"),
        );
    }
}

fn name_like(c: &mut Checker, field: String, value: &str, max: usize) {
    if value.is_empty() || value.len() > max {
        c.error(
            LIMIT,
            field,
            format!("{value:?} must be 1 to {max} characters long"),
        );
    }
}

fn subdomain(c: &mut Checker, field: String, value: &str) {
    if !is_dns1123_subdomain(value) {
        c.error(
            PATTERN,
            field,
            format!("{value:?} is not a lower-case DNS-1123 subdomain of at most 253 characters"),
        );
    }
}

fn namespace(c: &mut Checker, field: String, value: &str) {
    if !is_k8s_label_name(value) {
        c.error(
            PATTERN,
            field,
            format!("{value:?} is not a valid namespace name (lower-case DNS-1123 label)"),
        );
    }
}

fn group_kind(c: &mut Checker, at: &str, group: Option<&str>, kind: Option<&str>) {
    if let Some(group) = group.filter(|g| !is_group(g)) {
        c.error(
            PATTERN,
            format!("{at}.group"),
            format!("{group:?} is not an API group (empty or a lower-case DNS subdomain)"),
        );
    }
    if let Some(kind) = kind.filter(|k| !is_kind(k)) {
        c.error(
            PATTERN,
            format!("{at}.kind"),
            format!("{kind:?} is not a kind name"),
        );
    }
}

fn port(c: &mut Checker, field: String, port: u32) {
    if !(1..=65535).contains(&port) {
        c.error(LIMIT, field, format!("port {port} is outside 1..65535"));
    }
}

fn hostnames(c: &mut Checker, hostnames: &[String]) {
    max_items(c, "spec.hostnames", hostnames.len(), 16);
    for (i, h) in hostnames.iter().enumerate() {
        if !is_hostname(h) {
            c.error(
                PATTERN,
                format!("spec.hostnames[{i}]"),
                format!("{h:?} is not a hostname (lower case, optionally starting with \"*.\"; no IP, no port)"),
            );
        }
    }
}

// ------------------------------------------------------------------------------------------
// Shared parts of the route kinds

/// `spec.parentRefs`: ≤32, each field's bounds, and the two CEL rules about several
/// references to the same parent.
fn parent_refs(c: &mut Checker, refs: &[ParentReference]) {
    max_items(c, "spec.parentRefs", refs.len(), 32);
    for (i, r) in refs.iter().enumerate() {
        let at = format!("spec.parentRefs[{i}]");
        group_kind(c, &at, r.group.as_deref(), r.kind.as_deref());
        name_like(c, format!("{at}.name"), &r.name, 253);
        if let Some(ns) = &r.namespace {
            namespace(c, format!("{at}.namespace"), ns);
        }
        if let Some(section) = &r.section_name {
            subdomain(c, format!("{at}.sectionName"), section);
        }
        if let Some(p) = r.port {
            port(c, format!("{at}.port"), p);
        }
    }
    let same_parent = |a: &ParentReference, b: &ParentReference| {
        a.effective_group() == b.effective_group()
            && a.effective_kind() == b.effective_kind()
            && a.name == b.name
            && a.namespace.as_deref().unwrap_or("") == b.namespace.as_deref().unwrap_or("")
    };
    let has_section =
        |r: &ParentReference| r.section_name.as_deref().is_some_and(|s| !s.is_empty());
    let has_port = |r: &ParentReference| r.port.is_some_and(|p| p != 0);
    for (i, a) in refs.iter().enumerate() {
        for b in refs.iter().skip(i + 1).filter(|b| same_parent(a, b)) {
            if has_section(a) != has_section(b) || has_port(a) != has_port(b) {
                c.error(
                    CEL_PARENT_SECTION,
                    "spec.parentRefs",
                    format!("{} is referenced more than once; every reference to it needs the same of sectionName and port", a.name),
                );
            } else if a.section_name == b.section_name && a.port == b.port {
                c.error(
                    CEL_PARENT_UNIQUE,
                    "spec.parentRefs",
                    format!(
                        "{} is referenced twice with the same sectionName and port",
                        a.name
                    ),
                );
            }
        }
    }
}

/// A backendRef's (or mirror's) bounds and "Must have port for Service reference".
fn backend_ref(c: &mut Checker, at: &str, b: &BackendRef) {
    group_kind(c, at, b.group.as_deref(), b.kind.as_deref());
    name_like(c, format!("{at}.name"), &b.name, 253);
    if let Some(ns) = &b.namespace {
        namespace(c, format!("{at}.namespace"), ns);
    }
    if let Some(p) = b.port {
        port(c, format!("{at}.port"), p);
    }
    if let Some(w) = b.weight.filter(|w| !(0..=1_000_000).contains(w)) {
        c.error(
            LIMIT,
            format!("{at}.weight"),
            format!("weight {w} is outside 0..1000000"),
        );
    }
    if b.effective_group().is_empty() && b.effective_kind() == "Service" && b.port.is_none() {
        c.error(CEL_SERVICE_PORT, at, "a Service backend must have a port");
    }
}

/// Header or query-parameter matches: ≤16, names unique (list-type map keyed by name),
/// name and value bounds, RE2 for regexes.
fn value_matches(
    c: &mut Checker,
    at: &str,
    matches: &[ValueMatch],
    value_max: usize,
    header_pattern: bool,
) {
    max_items(c, at, matches.len(), 16);
    for (i, m) in matches.iter().enumerate() {
        let here = format!("{at}[{i}]");
        if !is_header_name(&m.name) {
            c.error(
                PATTERN,
                format!("{here}.name"),
                format!("{:?} is not a valid name (HTTP token, 1..256)", m.name),
            );
        }
        if matches[..i]
            .iter()
            .any(|o| o.name.eq_ignore_ascii_case(&m.name))
        {
            c.error(
                LIST_KEY,
                format!("{here}.name"),
                format!("{:?} is matched twice", m.name),
            );
        }
        if m.value.is_empty() || m.value.len() > value_max {
            c.error(
                LIMIT,
                format!("{here}.value"),
                format!("value must be 1 to {value_max} characters long"),
            );
        } else if header_pattern && !is_header_value(&m.value) {
            c.error(
                PATTERN,
                format!("{here}.value"),
                format!(
                    "{:?} is not a valid header value (visible ASCII, single inner spaces)",
                    m.value
                ),
            );
        }
        if m.match_type == ValueMatchType::RegularExpression {
            c.check(
                RE2,
                format!("{here}.value"),
                super::primitives::re2(&m.value),
            );
        }
    }
}

/// `requestHeaderModifier` / `responseHeaderModifier`: ≤16 per list, names unique per list,
/// valid names and values.
fn header_modifier(c: &mut Checker, at: &str, m: &HeaderModifier) {
    for (list, headers) in [("set", &m.set), ("add", &m.add)] {
        max_items(c, &format!("{at}.{list}"), headers.len(), 16);
        for (i, h) in headers.iter().enumerate() {
            let here = format!("{at}.{list}[{i}]");
            if !is_header_name(&h.name) {
                c.error(
                    PATTERN,
                    format!("{here}.name"),
                    format!("{:?} is not a valid header name", h.name),
                );
            }
            if headers[..i]
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&h.name))
            {
                c.error(
                    LIST_KEY,
                    format!("{here}.name"),
                    format!("{:?} is listed twice", h.name),
                );
            }
            if !is_header_value(&h.value) {
                c.error(PATTERN, format!("{here}.value"), format!("{:?} is not a valid header value (1..4096 visible ASCII, single inner spaces)", h.value));
            }
        }
    }
    max_items(c, &format!("{at}.remove"), m.remove.len(), 16);
    for (i, name) in m.remove.iter().enumerate() {
        if m.remove[..i].contains(name) {
            c.error(
                LIST_KEY,
                format!("{at}.remove[{i}]"),
                format!("{name:?} is listed twice (list-type set)"),
            );
        }
    }
}

#[cfg(test)]
mod tests;
