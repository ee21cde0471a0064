//! The shared primitive checks of istio-validation.md §0.2 (DNS names, hosts, labels,
//! headers, regexes, ports, exportTo), as pure functions returning a message on failure.
//! The per-kind modules attach the rule id and field path.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::OnceLock;

use regex::Regex;

use crate::istio::Duration;

/// A compiled pattern that is a constant of this module. A constant that failed to compile
/// is a defect caught by the unit tests; at runtime it degrades to "never matches".
fn pattern(cell: &'static OnceLock<Option<Regex>>, source: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(source).ok()).as_ref()
}

fn is_match(cell: &'static OnceLock<Option<Regex>>, source: &str, text: &str) -> bool {
    pattern(cell, source).is_some_and(|re| re.is_match(text))
}

/// Istio's `IsDNS1123Label`: letters (either case), digits and `-`, ≤63.
pub fn is_dns1123_label(s: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    s.len() <= 63 && is_match(&RE, r"^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$", s)
}

/// Kubernetes' stricter DNS-1123 label (lower case), used for namespaces and k8s names.
pub fn is_k8s_label_name(s: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    s.len() <= 63 && is_match(&RE, r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$", s)
}

/// Kubernetes DNS-1123 subdomain (object names of most kinds).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    s.len() <= 253
        && is_match(
            &RE,
            r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$",
            s,
        )
}

fn dns_preconditions(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("domain name must not be empty".into());
    }
    if s.len() > 255 {
        return Err(format!("domain name {s:?} is longer than 255 characters"));
    }
    Ok(())
}

/// Dot-separated DNS labels; the last part may be empty (`istio.io.`).
fn dns_labels(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split('.').collect();
    for (i, label) in parts.iter().enumerate() {
        if i + 1 == parts.len() && label.is_empty() && i > 0 {
            continue;
        }
        if !is_dns1123_label(label) {
            return Err(format!("{s:?}: label {label:?} is not a DNS-1123 label"));
        }
    }
    Ok(())
}

/// Istio's `ValidateFQDN`: DNS labels, last label not all-numeric.
pub fn fqdn(s: &str) -> Result<(), String> {
    dns_preconditions(s)?;
    dns_labels(s)?;
    let top = s.trim_end_matches('.').rsplit('.').next().unwrap_or("");
    if !top.is_empty() && top.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{s:?}: the top-level label must not be all-numeric"
        ));
    }
    Ok(())
}

/// Istio's `ValidateWildcardDomain`: as a DNS name, but the first label may be `*`, `*foo`
/// or `*-foo`. Short single-label names are valid.
pub fn wildcard_domain(s: &str) -> Result<(), String> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    dns_preconditions(s)?;
    let (first, rest) = match s.split_once('.') {
        Some((f, r)) => (f, Some(r)),
        None => (s, None),
    };
    if first.len() > 63
        || !is_match(
            &RE,
            r"^(?:\*|(?:\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)$",
            first,
        )
    {
        return Err(format!(
            "{s:?}: {first:?} is not a valid (wildcard) DNS label"
        ));
    }
    match rest {
        Some(rest) if !rest.is_empty() => dns_labels(rest),
        _ => Ok(()),
    }
}

/// Istio's `ValidatePartialWildCard`: a host with `*` is `*` or starts with `*.`.
pub fn no_partial_wildcard(s: &str) -> Result<(), String> {
    let leading_label_wildcard = s.starts_with("*.") && !s[1..].contains('*');
    if s.contains('*') && s != "*" && !leading_label_wildcard {
        return Err(format!(
            "{s:?}: partial wildcards are not allowed (use \"*\" or \"*.domain\")"
        ));
    }
    Ok(())
}

pub fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// `netip.ParsePrefix`: address/bits with bits within the address family.
pub fn is_cidr(s: &str) -> bool {
    let Some((addr, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    !bits.is_empty()
        && bits.bytes().all(|b| b.is_ascii_digit())
        && bits.len() <= 3
        && bits.parse::<u32>().is_ok_and(|b| b <= max)
}

pub fn ip_or_cidr(s: &str) -> Result<(), String> {
    if is_ip(s) || is_cidr(s) {
        Ok(())
    } else {
        Err(format!("{s:?} is not an IP address or CIDR block"))
    }
}

/// Port numbers: 1..65535.
pub fn port(n: u32) -> Result<(), String> {
    if (1..=65535).contains(&n) {
        Ok(())
    } else {
        Err(format!("port number {n} must be in 1..65535"))
    }
}

/// Istio `Duration` fields: ≥ 1 ms (whole ms is guaranteed by the type). `0s` is legal only
/// where `allow_zero` (tcp idleTimeout). Above Go's int64 nanoseconds Istio cannot parse it.
pub fn duration(d: Duration, allow_zero: bool) -> Result<(), String> {
    if d.is_zero() && !allow_zero {
        return Err(
            "duration must be at least 1ms; \"0s\" is rejected (omit the field instead)".into(),
        );
    }
    if d.as_millis() > Duration::MAX_GO_MILLIS {
        return Err(format!("duration {d} is too large for a Go duration"));
    }
    Ok(())
}

/// Protocols Istio's `protocol.Parse` knows (case-insensitive).
const PROTOCOLS: &[&str] = &[
    "tcp",
    "udp",
    "grpc",
    "grpc-web",
    "http",
    "http_proxy",
    "http2",
    "https",
    "tls",
    "mongo",
    "redis",
    "mysql",
];

pub fn protocol(p: &str) -> Result<(), String> {
    if PROTOCOLS.contains(&p.to_ascii_lowercase().as_str()) {
        Ok(())
    } else {
        Err(format!(
            "{p:?} is not a protocol Istio knows (HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, TCP, TLS, UDP, MONGO, REDIS, MYSQL)"
        ))
    }
}

/// HTTP-family protocols (`IsHTTP`): HTTP, HTTP2, HTTP_PROXY, GRPC, GRPC-WEB.
pub fn is_http_protocol(p: &str) -> bool {
    matches!(
        p.to_ascii_lowercase().as_str(),
        "http" | "http2" | "http_proxy" | "grpc" | "grpc-web"
    )
}

/// TLS-carrying protocols (`IsTLS`): HTTPS, TLS.
pub fn is_tls_protocol(p: &str) -> bool {
    matches!(p.to_ascii_lowercase().as_str(), "https" | "tls")
}

/// Kubernetes label key: optional DNS-subdomain prefix + `/` + name.
pub fn label_key(key: &str) -> Result<(), String> {
    static NAME: OnceLock<Option<Regex>> = OnceLock::new();
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && !is_dns1123_subdomain(prefix)
    {
        return Err(format!(
            "label key {key:?}: prefix {prefix:?} is not a DNS-1123 subdomain"
        ));
    }
    if name.is_empty()
        || name.len() > 63
        || !is_match(&NAME, r"^(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$", name)
    {
        return Err(format!(
            "label key {key:?}: name part must be 1-63 characters of letters, digits, '-', '_', '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// Kubernetes label value: empty or ≤63 of `[-A-Za-z0-9_.]` starting/ending alphanumeric.
pub fn label_value(value: &str) -> Result<(), String> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    if value.len() > 63
        || !is_match(
            &RE,
            r"^(?:(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$",
            value,
        )
    {
        return Err(format!(
            "label value {value:?} must be at most 63 characters of letters, digits, '-', '_', '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// A label map (`labels.Instance.Validate`): every key and value.
pub fn label_map<'a>(
    labels: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<(), String> {
    for (k, v) in labels {
        label_key(k)?;
        label_value(v)?;
    }
    Ok(())
}

/// RFC 7230 token characters.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

pub fn is_header_token(name: &str) -> bool {
    !name.is_empty() && name.chars().all(is_tchar)
}

const PSEUDO_HEADERS: &[&str] = &[":method", ":scheme", ":authority", ":path", ":status"];

/// JWT claim route key (`@request.auth.claims.x` / `@request.auth.claims[x]`).
pub fn is_jwt_claim_key(name: &str) -> bool {
    name.starts_with("@request.auth.claims")
}

/// Header names used as match keys: a token, a pseudo header or a JWT claim.
pub fn match_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("header name must not be empty".into());
    }
    if is_header_token(name) || PSEUDO_HEADERS.contains(&name) || is_jwt_claim_key(name) {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid header name"))
    }
}

/// Values set/added to headers: no control characters except TAB, and every `%` is either
/// `%%` or starts an Envoy `%VAR%` / `%VAR(args)%` command operator.
pub fn header_value(value: &str) -> Result<(), String> {
    if let Some(c) = value.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(format!(
            "header value {value:?} contains control character {c:?}"
        ));
    }
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'%') {
            i += 2;
            continue;
        }
        let mut j = i + 1;
        while j < bytes.len()
            && (bytes[j].is_ascii_uppercase() || bytes[j].is_ascii_digit() || bytes[j] == b'_')
        {
            j += 1;
        }
        if j == i + 1 {
            return Err(format!(
                "header value {value:?}: a lone '%' must be written '%%'"
            ));
        }
        if bytes.get(j) == Some(&b'(') {
            match bytes[j..].iter().position(|b| *b == b')') {
                Some(close) => j += close + 1,
                None => {
                    return Err(format!(
                        "header value {value:?}: unterminated '%VAR(' operator"
                    ));
                }
            }
        }
        if bytes.get(j) != Some(&b'%') {
            return Err(format!(
                "header value {value:?}: command operator is not closed with '%'"
            ));
        }
        i = j + 1;
    }
    Ok(())
}

/// Rule id of [`plain_text`] violations: HTTP's (RFC 9110 / 3986) and Envoy's, not Istio's.
pub const RULE_CONTROL_CHARACTER: &str = "HTTP-CTL";

/// Text that ends up in a request's path, query, authority or a header value: no control
/// characters (Unicode `Cc`), except TAB where `tab_allowed` (header values). HTTP allows
/// none of them in a URL and only TAB in a field value; Envoy refuses requests with NUL, CR
/// or LF and header values holding them in its configuration, so a match on such text never
/// matches and a rewrite to it makes an invalid request.
pub fn plain_text(value: &str, tab_allowed: bool) -> Result<(), String> {
    match value
        .chars()
        .find(|c| c.is_control() && !(tab_allowed && *c == '\t'))
    {
        None => Ok(()),
        Some(c) => Err(format!(
            "{value:?} holds the control character U+{:04X}, which HTTP does not allow here",
            u32::from(c)
        )),
    }
}

/// Istio's limit on the length of a regex (`validateStringRegexp`; the Gateway API CRD has
/// the same maxLength for `RegularExpression` values).
pub const MAX_REGEX_LENGTH: usize = 1024;

/// Regexes (`validateStringRegexp`): non-empty, at most 1024 characters, and accepted by
/// RE2 (Envoy) and Go `regexp` (Istio's webhook); see [`super::re2`].
pub fn re2(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("regex must not be empty".into());
    }
    if pattern.len() > MAX_REGEX_LENGTH {
        return Err(format!(
            "regex is {} characters long; at most {MAX_REGEX_LENGTH} are allowed",
            pattern.len()
        ));
    }
    super::re2::check(pattern).map_err(|e| match e.kind {
        super::re2::Re2ErrorKind::GoOnly => format!(
            "regex {pattern:?} is valid RE2 but Istio's validation (Go regexp) refuses {}",
            e.fragment
        ),
        _ => format!("regex {pattern:?} is not valid RE2: {e}"),
    })
}

/// `exportTo` (`validateExportTo`): `.`, `*`, a namespace, or `~` (ServiceEntry only); no
/// duplicates (`.` and the own namespace are the same); `*` and `~` must stand alone.
pub fn export_to(
    entries: &[String],
    own_namespace: Option<&str>,
    allow_tilde: bool,
) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for e in entries {
        let normalized = if e == "." {
            own_namespace.unwrap_or(".")
        } else {
            e.as_str()
        };
        let valid = e == "." || e == "*" || (e == "~" && allow_tilde) || is_dns1123_label(e);
        if !valid {
            return Err(format!(
                "exportTo entry {e:?} must be \".\", \"*\"{} or a namespace",
                if allow_tilde { ", \"~\"" } else { "" }
            ));
        }
        if !seen.insert(normalized.to_owned()) {
            return Err(format!("exportTo entry {e:?} is a duplicate"));
        }
    }
    if entries.len() > 1 {
        if entries.iter().any(|e| e == "*") {
            return Err("exportTo \"*\" must be the only entry".into());
        }
        if entries.iter().any(|e| e == "~") {
            return Err("exportTo \"~\" must be the only entry".into());
        }
    }
    Ok(())
}

/// The host part of a Sidecar egress or Gateway server host: `*`, or a dotted (wildcard)
/// DNS name without partial wildcards; gateways also accept IPs.
fn sidecar_or_gateway_host(host: &str, is_gateway: bool) -> Result<(), String> {
    if host == "*" {
        return Ok(());
    }
    if is_gateway && is_ip(host) {
        return Ok(());
    }
    if !host.contains('.') {
        return Err(format!(
            "host {host:?}: short names (non FQDN) are not allowed; write the FQDN, e.g. {host}.<namespace>.svc.cluster.local"
        ));
    }
    wildcard_domain(host)?;
    no_partial_wildcard(host)
}

/// `namespace/host` of Sidecar egress (slash required; ns may be `~`) and Gateway servers
/// (ns optional).
pub fn namespace_slash_host(value: &str, is_gateway: bool) -> Result<(), String> {
    let Some((ns, host)) = value.split_once('/') else {
        if is_gateway {
            return sidecar_or_gateway_host(value, true);
        }
        return Err(format!("{value:?} must be of the form namespace/dnsName"));
    };
    if ns.is_empty() || host.is_empty() {
        return Err(format!(
            "{value:?}: namespace and host must both be non-empty"
        ));
    }
    let ns_ok = ns == "*" || ns == "." || (ns == "~" && !is_gateway) || is_dns1123_label(ns);
    if !ns_ok {
        return Err(format!(
            "{value:?}: namespace {ns:?} must be \"*\", \".\"{} or a namespace",
            if is_gateway { "" } else { ", \"~\"" }
        ));
    }
    sidecar_or_gateway_host(host, is_gateway)
}

/// Istio's `host.Name.Matches`: whether two (possibly wildcard) hosts overlap.
pub fn hosts_overlap(a: &str, b: &str) -> bool {
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(sa), Some(sb)) => {
            if sa.len() < sb.len() {
                sb.ends_with(sa)
            } else {
                sa.ends_with(sb)
            }
        }
        (Some(sa), None) => b.ends_with(sa),
        (None, Some(sb)) => a.ends_with(sb),
        (None, None) => a == b,
    }
}

/// Expands a short service name the way Istio resolves it relative to the config's
/// namespace (`reviews` → `reviews.<ns>.svc.cluster.local`); other hosts are unchanged.
pub fn resolve_host(host: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !host.contains('.') && !host.contains('*') && !is_ip(host) => {
            format!("{host}.{ns}.svc.cluster.local")
        }
        _ => host.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert!(is_dns1123_label("v1-abc"));
        assert!(is_dns1123_label("V1"));
        assert!(!is_dns1123_label("v1.abc"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(!is_dns1123_label("-a"));
        assert!(is_k8s_label_name("shop"));
        assert!(!is_k8s_label_name("Shop"));
        assert!(is_dns1123_subdomain("a.b-c.d"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(!is_dns1123_subdomain("A"));
    }

    #[test]
    fn fqdn_and_wildcards() {
        assert!(fqdn("reviews.default.svc.cluster.local").is_ok());
        assert!(fqdn("istio.io.").is_ok());
        assert!(fqdn("a.123").is_err());
        assert!(fqdn("").is_err());
        assert!(wildcard_domain("*.example.com").is_ok());
        assert!(wildcard_domain("*").is_ok());
        assert!(wildcard_domain("*foo.example.com").is_ok());
        assert!(wildcard_domain("reviews").is_ok());
        assert!(wildcard_domain("a.*.com").is_err());
        assert!(wildcard_domain("a_b.com").is_err());
        assert!(no_partial_wildcard("*foo.com").is_err());
        assert!(no_partial_wildcard("*.foo.com").is_ok());
        assert!(no_partial_wildcard("*").is_ok());
    }

    #[test]
    fn ips_and_cidrs() {
        assert!(ip_or_cidr("10.0.0.1").is_ok());
        assert!(ip_or_cidr("10.0.0.0/8").is_ok());
        assert!(ip_or_cidr("::1/128").is_ok());
        assert!(ip_or_cidr("10.0.0.0/33").is_err());
        assert!(ip_or_cidr("example.com").is_err());
    }

    #[test]
    fn durations_and_ports() {
        assert!(duration(Duration::from_millis(1), false).is_ok());
        assert!(duration(Duration::ZERO, false).is_err());
        assert!(duration(Duration::ZERO, true).is_ok());
        assert!(duration(Duration::from_millis(Duration::MAX_GO_MILLIS + 1), false).is_err());
        assert!(port(1).is_ok() && port(65535).is_ok());
        assert!(port(0).is_err() && port(65536).is_err());
        assert!(protocol("GRPC-WEB").is_ok() && protocol("http").is_ok());
        assert!(protocol("QUIC").is_err() && protocol("").is_err());
    }

    #[test]
    fn labels() {
        assert!(label_key("app.kubernetes.io/managed-by").is_ok());
        assert!(label_key("version").is_ok());
        assert!(label_key("bad key").is_err());
        assert!(label_key("Bad_Prefix/x").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("appmesh2istio").is_ok());
        assert!(label_value("-x").is_err());
        assert!(label_value(&"a".repeat(64)).is_err());
    }

    #[test]
    fn headers() {
        assert!(match_header_name("x-user").is_ok());
        assert!(match_header_name(":authority").is_ok());
        assert!(match_header_name("@request.auth.claims.group").is_ok());
        assert!(match_header_name("x user").is_err());
        assert!(match_header_name(":foo").is_err());
        assert!(header_value("plain\tvalue").is_ok());
        assert!(header_value("100%% and %DOWNSTREAM_REMOTE_ADDRESS%").is_ok());
        assert!(header_value("%REQ(x-user)%").is_ok());
        assert!(header_value("50%").is_err());
        assert!(header_value("a\nb").is_err());
    }

    #[test]
    fn plain_text_refuses_control_characters() {
        assert!(plain_text("/api/v1", false).is_ok());
        assert!(plain_text("a\tb", true).is_ok());
        for bad in ["a\0b", "a\rb", "a\nb", "\u{7f}", "\u{85}", "\u{1}"] {
            assert!(plain_text(bad, true).is_err(), "{bad:?}");
        }
        assert!(plain_text("a\tb", false).is_err());
    }

    #[test]
    fn regexes_follow_re2() {
        assert!(re2("/api/v[0-9]+/.*").is_ok());
        assert!(re2("").is_err());
        assert!(re2("(?=foo)").is_err());
        assert!(re2(r"(a)\1").is_err());
        assert!(re2(&"a".repeat(1025)).is_err());
    }

    #[test]
    fn export_to_rules() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(export_to(&v(&[".", "istio-system"]), Some("shop"), false).is_ok());
        assert!(export_to(&v(&[".", "shop"]), Some("shop"), false).is_err());
        assert!(export_to(&v(&["*", "a"]), Some("shop"), false).is_err());
        assert!(export_to(&v(&["~"]), Some("shop"), false).is_err());
        assert!(export_to(&v(&["~"]), Some("shop"), true).is_ok());
        assert!(export_to(&v(&["Bad_ns"]), Some("shop"), false).is_err());
    }

    #[test]
    fn namespace_slash_hosts() {
        assert!(namespace_slash_host("./reviews.shop.svc.cluster.local", false).is_ok());
        assert!(namespace_slash_host("istio-system/*", false).is_ok());
        assert!(namespace_slash_host("~/*", false).is_ok());
        assert!(namespace_slash_host("./reviews", false).is_err());
        assert!(namespace_slash_host("reviews.shop.svc.cluster.local", false).is_err());
        assert!(namespace_slash_host("*/*foo.com", false).is_err());
        assert!(namespace_slash_host("app.example.com", true).is_ok());
        assert!(namespace_slash_host("10.0.0.1", true).is_ok());
        assert!(namespace_slash_host("~/a.b", true).is_err());
    }

    #[test]
    fn host_overlap_follows_istio() {
        assert!(hosts_overlap("a.foo.com", "*.foo.com"));
        assert!(hosts_overlap("*.foo.com", "*.bar.foo.com"));
        assert!(hosts_overlap("*", "x.y"));
        assert!(!hosts_overlap("a.foo.com", "b.foo.com"));
        assert!(!hosts_overlap("*.foo.com", "foo.com"));
        assert_eq!(
            resolve_host("reviews", Some("shop")),
            "reviews.shop.svc.cluster.local"
        );
        assert_eq!(resolve_host("a.b.c", Some("shop")), "a.b.c");
    }

    #[test]
    fn constant_patterns_compile() {
        // Every constant regex above is exercised by a positive case in these tests; a
        // pattern that failed to compile would make them all fail.
        assert!(is_dns1123_label("a") && is_k8s_label_name("a") && is_dns1123_subdomain("a"));
        assert!(
            wildcard_domain("*.a").is_ok() && label_key("a").is_ok() && label_value("a").is_ok()
        );
    }
}
