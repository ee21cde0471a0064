//! VS-H2 and VS-7: the conditions of one HTTP `match` entry.

use std::collections::BTreeMap;

use super::gateway_names;
use crate::istio::{HttpMatchRequest, StringMatch};
use crate::validate::Checker;
use crate::validate::primitives::{
    RULE_CONTROL_CHARACTER, is_jwt_claim_key, label_map, match_header_name, plain_text, port, re2,
};

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
    // HTTP-CTL: literal text of a path, query, authority or header condition.
    if let StringMatch::Exact(text) | StringMatch::Prefix(text) = m {
        let tab_allowed = matches!(place, MatchPlace::Header | MatchPlace::WithoutHeader);
        c.check(RULE_CONTROL_CHARACTER, field, plain_text(text, tab_allowed));
    }
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
pub(super) fn http_match(c: &mut Checker, field: &str, m: &HttpMatchRequest, gateway_bound: bool) {
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
