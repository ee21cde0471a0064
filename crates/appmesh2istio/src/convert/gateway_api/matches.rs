//! VirtualService matches as Gateway API matches, keeping App Mesh's first-match order under
//! Istio's ranking of Gateway API rules.
//!
//! Istio turns every HTTPRoute rule match into a VirtualService route and sorts them
//! (`pilot/pkg/config/kube/gateway/conversion.go`, `sortHTTPRoutes`, a stable sort): path
//! type first (Exact > PathPrefix > RegularExpression), then the longer path value, then a
//! method match, then more header matches, then more query matches. App Mesh evaluates routes
//! in the order the classic output already has. So the translation tries the most readable
//! form (`PathPrefix /`, `Exact`, raw prefixes as regexes because Gateway API's `PathPrefix`
//! is segment-aware), then, if Istio's sort would reorder it, every path as a regex (regexes
//! rank below every prefix, so a regex route could otherwise never precede a `PathPrefix /`
//! catch-all), and gives up when even that would be reordered.

use crate::gateway_api::{HttpRouteMatch, PathMatch, PathMatchType, ValueMatch, ValueMatchType};
use crate::istio::{HttpMatchRequest, StringMatch};

/// Methods an HTTPRoute match may name.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// How paths are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PathStyle {
    /// `PathPrefix /` for the catch-all, `Exact` for exact paths, regexes otherwise.
    Readable,
    /// As readable, but the catch-all (and a match without a path) is the regex `/.*`, which
    /// Istio ranks with the other regexes instead of above them.
    RegexCatchAll,
    /// Every match gets a regex path, exact paths too.
    AllRegex,
}

impl PathStyle {
    /// The styles to try, most readable first.
    pub(super) const ALL: [PathStyle; 3] = [
        PathStyle::Readable,
        PathStyle::RegexCatchAll,
        PathStyle::AllRegex,
    ];
}

/// What was approximated while translating one route's matches.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct MatchNotes {
    /// Raw App Mesh prefixes written as regexes.
    pub prefix_regexes: Vec<String>,
    /// Header or query prefix/presence matches written as regexes (`name`).
    pub value_regexes: Vec<String>,
    /// Inverted header matches dropped (`name`).
    pub inverted: Vec<String>,
}

/// Why a match cannot be written as a Gateway API match.
pub(super) type Unsupported = String;

/// One VirtualService match as an HTTPRoute match.
pub(super) fn http_match(
    m: &HttpMatchRequest,
    style: PathStyle,
    notes: &mut MatchNotes,
) -> Result<HttpRouteMatch, Unsupported> {
    if m.scheme.is_some() {
        return Err("a scheme match (Gateway API has none)".into());
    }
    if m.authority.is_some() {
        return Err(
            "an authority match (Gateway API matches hostnames per route, not per rule)".into(),
        );
    }
    if !m.source_labels.is_empty() || !m.gateways.is_empty() {
        return Err("a sourceLabels or gateways match".into());
    }
    if m.ignore_uri_case == Some(true) {
        return Err("a case-insensitive path match".into());
    }
    let path = path(m.uri.as_ref(), style, notes)?;
    let headers = values(&m.headers, notes)?;
    let query_params = values(&m.query_params, notes)?;
    let method = match &m.method {
        None => None,
        Some(StringMatch::Exact(method)) if METHODS.contains(&method.as_str()) => {
            Some(method.clone())
        }
        Some(_) => return Err("a method match that is not one exact standard method".into()),
    };
    notes.inverted.extend(m.without_headers.keys().cloned());
    Ok(HttpRouteMatch {
        path,
        headers,
        query_params,
        method,
    })
}

/// `regex::escape` writes RE2-compatible escapes for every metacharacter.
fn literal(text: &str) -> String {
    regex::escape(text)
}

fn path(
    uri: Option<&StringMatch>,
    style: PathStyle,
    notes: &mut MatchNotes,
) -> Result<Option<PathMatch>, Unsupported> {
    let regex = |value: String| Some(PathMatch::new(PathMatchType::RegularExpression, value));
    Ok(match (uri, style) {
        (None, PathStyle::Readable) => None,
        (None, _) => regex("/.*".into()),
        (Some(StringMatch::Prefix(p)), PathStyle::Readable) if p == "/" => {
            Some(PathMatch::new(PathMatchType::PathPrefix, "/"))
        }
        (Some(StringMatch::Prefix(p)), _) => {
            if p != "/" {
                notes.prefix_regexes.push(p.clone());
            }
            regex(format!("{}.*", literal(p)))
        }
        (Some(StringMatch::Exact(e)), PathStyle::AllRegex) => regex(literal(e)),
        (Some(StringMatch::Exact(e)), _) => Some(PathMatch::new(PathMatchType::Exact, e.clone())),
        (Some(StringMatch::Regex(r)), _) => regex(r.clone()),
        (Some(StringMatch::Presence), _) => return Err("an empty uri match".into()),
    })
}

fn values(
    matches: &std::collections::BTreeMap<String, StringMatch>,
    notes: &mut MatchNotes,
) -> Result<Vec<ValueMatch>, Unsupported> {
    matches
        .iter()
        .map(|(name, m)| {
            let (match_type, value) = match m {
                StringMatch::Exact(v) if v.is_empty() => {
                    return Err(format!("an exact match of {name} on the empty value"));
                }
                StringMatch::Exact(v) => (ValueMatchType::Exact, v.clone()),
                StringMatch::Regex(r) => (ValueMatchType::RegularExpression, r.clone()),
                StringMatch::Prefix(p) => {
                    notes.value_regexes.push(name.clone());
                    (
                        ValueMatchType::RegularExpression,
                        format!("{}.*", literal(p)),
                    )
                }
                StringMatch::Presence => {
                    notes.value_regexes.push(name.clone());
                    (ValueMatchType::RegularExpression, ".*".to_owned())
                }
            };
            Ok(ValueMatch::new(match_type, name.clone(), value))
        })
        .collect()
}

/// Istio's sort key of one match (larger sorts first).
fn rank(m: &HttpRouteMatch) -> (u8, usize, bool, usize, usize) {
    // An absent path is defaulted by the API server to `PathPrefix /`.
    let (kind, len) = match &m.path {
        None => (2, 1),
        Some(p) => match p.match_type {
            PathMatchType::Exact => (3, p.value.len()),
            // Istio trims a trailing `/` of a prefix (but keeps `/` itself).
            PathMatchType::PathPrefix => (2, p.value.trim_end_matches('/').len().max(1)),
            PathMatchType::RegularExpression => (1, p.value.len()),
        },
    };
    (
        kind,
        len,
        m.method.is_some(),
        m.headers.len(),
        m.query_params.len(),
    )
}

/// One match of a rule, as Istio ranks it: the rule it belongs to, the Gateway API match,
/// and the VirtualService match it came from (`None` for a rule without matches).
pub(super) struct Ranked<'m> {
    pub rule: usize,
    pub converted: HttpRouteMatch,
    pub original: Option<&'m HttpMatchRequest>,
}

/// Whether Istio's stable sort keeps App Mesh's first match for every request: a later match
/// that Istio ranks higher than an earlier one of another rule is harmless only when no
/// request can match both (their relative order decides nothing).
pub(super) fn order_kept(matches: &[Ranked<'_>]) -> bool {
    matches.iter().enumerate().all(|(i, earlier)| {
        matches[i + 1..].iter().all(|later| {
            later.rule == earlier.rule
                || rank(&later.converted) <= rank(&earlier.converted)
                || disjoint(earlier.original, later.original)
        })
    })
}

/// True when no request can match both (a conservative test: `false` when unsure).
fn disjoint(a: Option<&HttpMatchRequest>, b: Option<&HttpMatchRequest>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return false;
    };
    let paths_disjoint = match (&a.uri, &b.uri) {
        (Some(StringMatch::Exact(x)), Some(StringMatch::Exact(y))) => x != y,
        (Some(StringMatch::Exact(e)), Some(StringMatch::Regex(r)))
        | (Some(StringMatch::Regex(r)), Some(StringMatch::Exact(e))) => {
            // Envoy matches the whole path; a regex that does not compile here decides
            // nothing.
            regex::Regex::new(&format!("^(?:{r})$")).is_ok_and(|re| !re.is_match(e))
        }
        (Some(StringMatch::Exact(e)), Some(StringMatch::Prefix(p)))
        | (Some(StringMatch::Prefix(p)), Some(StringMatch::Exact(e))) => !e.starts_with(p.as_str()),
        (Some(StringMatch::Prefix(x)), Some(StringMatch::Prefix(y))) => {
            !x.starts_with(y.as_str()) && !y.starts_with(x.as_str())
        }
        _ => false,
    };
    let exact_differs = |x: Option<&StringMatch>, y: Option<&StringMatch>| matches!((x, y), (Some(StringMatch::Exact(x)), Some(StringMatch::Exact(y))) if x != y);
    paths_disjoint
        || exact_differs(a.method.as_ref(), b.method.as_ref())
        || a.headers
            .iter()
            .any(|(name, m)| exact_differs(Some(m), b.headers.get(name)))
        || a.query_params
            .iter()
            .any(|(name, m)| exact_differs(Some(m), b.query_params.get(name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn uri(m: StringMatch) -> HttpMatchRequest {
        HttpMatchRequest {
            uri: Some(m),
            ..Default::default()
        }
    }

    fn convert(ms: &[HttpMatchRequest], style: PathStyle) -> (Vec<HttpRouteMatch>, MatchNotes) {
        let mut notes = MatchNotes::default();
        let out = ms
            .iter()
            .map(|m| http_match(m, style, &mut notes).unwrap())
            .collect();
        (out, notes)
    }

    #[test]
    fn raw_prefixes_become_regexes_and_the_catch_all_a_path_prefix() {
        let (out, notes) = convert(
            &[
                uri(StringMatch::prefix("/cart/v2")),
                uri(StringMatch::prefix("/")),
            ],
            PathStyle::Readable,
        );
        assert_eq!(
            out[0].path,
            Some(PathMatch::new(
                PathMatchType::RegularExpression,
                "/cart/v2.*"
            ))
        );
        assert_eq!(
            out[1].path,
            Some(PathMatch::new(PathMatchType::PathPrefix, "/"))
        );
        assert_eq!(notes.prefix_regexes, ["/cart/v2"]);
        // A regex ranks below `PathPrefix /`: Istio would try the catch-all first.
        assert!(!order_kept(&ranked(&out, &[])));
        let (out, _) = convert(
            &[
                uri(StringMatch::prefix("/cart/v2")),
                uri(StringMatch::prefix("/")),
            ],
            PathStyle::AllRegex,
        );
        assert_eq!(
            out[1].path,
            Some(PathMatch::new(PathMatchType::RegularExpression, "/.*"))
        );
        assert!(order_kept(&ranked(&out, &[])));
        let (out, _) = convert(
            &[uri(StringMatch::exact("/x")), uri(StringMatch::prefix("/"))],
            PathStyle::RegexCatchAll,
        );
        assert_eq!(
            out[0].path,
            Some(PathMatch::new(PathMatchType::Exact, "/x"))
        );
        assert_eq!(
            out[1].path,
            Some(PathMatch::new(PathMatchType::RegularExpression, "/.*"))
        );
    }

    #[test]
    fn regex_metacharacters_of_prefixes_and_exact_paths_are_escaped() {
        let (out, _) = convert(
            &[
                uri(StringMatch::prefix("/a.b+")),
                uri(StringMatch::exact("/x(1)")),
            ],
            PathStyle::AllRegex,
        );
        assert_eq!(out[0].path.as_ref().unwrap().value, r"/a\.b\+.*");
        assert_eq!(out[1].path.as_ref().unwrap().value, r"/x\(1\)");
    }

    /// One rule per match, with the VirtualService matches they came from.
    fn ranked<'m>(out: &[HttpRouteMatch], originals: &'m [HttpMatchRequest]) -> Vec<Ranked<'m>> {
        out.iter()
            .enumerate()
            .map(|(rule, m)| Ranked {
                rule,
                converted: m.clone(),
                original: originals.get(rule),
            })
            .collect()
    }

    #[test]
    fn an_order_istio_would_change_is_detected_when_it_matters() {
        // App Mesh tries the short prefix first (priority); Istio ranks the longer first,
        // and "/abc/x" matches both.
        let ms = [
            uri(StringMatch::prefix("/a")),
            uri(StringMatch::prefix("/abc")),
        ];
        let (out, _) = convert(&ms, PathStyle::AllRegex);
        assert!(!order_kept(&ranked(&out, &ms)));
        // Istio puts the exact path first, but no request matches both.
        let ms = [
            uri(StringMatch::prefix("/cart")),
            uri(StringMatch::exact("/health")),
        ];
        let (out, _) = convert(&ms, PathStyle::Readable);
        assert!(order_kept(&ranked(&out, &ms)));
        // Two exact header values never match the same request either.
        let header = |v: &str| HttpMatchRequest {
            headers: BTreeMap::from([("x-v".into(), StringMatch::exact(v))]),
            ..Default::default()
        };
        let ms = [
            header("1"),
            HttpMatchRequest {
                uri: Some(StringMatch::exact("/x")),
                ..header("2")
            },
        ];
        let (out, _) = convert(&ms, PathStyle::Readable);
        assert!(order_kept(&ranked(&out, &ms)));
        let ms = [header("1"), uri(StringMatch::exact("/x"))];
        let (out, _) = convert(&ms, PathStyle::Readable);
        assert!(!order_kept(&ranked(&out, &ms)));
    }

    #[test]
    fn header_prefix_and_presence_become_regexes_and_inverts_are_noted() {
        let m = HttpMatchRequest {
            headers: BTreeMap::from([
                ("x-a".into(), StringMatch::prefix("2.")),
                ("x-b".into(), StringMatch::Presence),
                ("x-c".into(), StringMatch::exact("1")),
            ]),
            without_headers: BTreeMap::from([("x-internal".into(), StringMatch::Presence)]),
            ..Default::default()
        };
        let (out, notes) = convert(&[m], PathStyle::Readable);
        let headers: Vec<(ValueMatchType, &str)> = out[0]
            .headers
            .iter()
            .map(|h| (h.match_type, h.value.as_str()))
            .collect();
        assert_eq!(
            headers,
            [
                (ValueMatchType::RegularExpression, r"2\..*"),
                (ValueMatchType::RegularExpression, ".*"),
                (ValueMatchType::Exact, "1")
            ]
        );
        assert_eq!(notes.value_regexes, ["x-a", "x-b"]);
        assert_eq!(notes.inverted, ["x-internal"]);
    }

    #[test]
    fn matches_without_a_gateway_api_form_are_refused() {
        let mut notes = MatchNotes::default();
        let scheme = HttpMatchRequest {
            scheme: Some(StringMatch::exact("https")),
            ..Default::default()
        };
        assert!(http_match(&scheme, PathStyle::Readable, &mut notes).is_err());
        let method = HttpMatchRequest {
            method: Some(StringMatch::regex("GET|HEAD")),
            ..Default::default()
        };
        assert!(http_match(&method, PathStyle::Readable, &mut notes).is_err());
    }
}
