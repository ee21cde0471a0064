//! App Mesh request matches → Istio `HTTPMatchRequest` conditions (istio-mapping.md §4, §10).
//!
//! Shared by VirtualRouter routes and GatewayRoutes: every function works on the App Mesh
//! shapes common to both and records what it could not carry over exactly in [`Notes`], which
//! the caller reports against its own subject. A condition Istio cannot express makes the
//! function return [`Inexpressible`]: dropping just that condition would widen the route and
//! steal traffic from the routes after it, so callers drop the whole route instead.

use std::collections::BTreeMap;

use crate::appmesh::common::{
    HeaderMatchMethod, HttpMethod, HttpPathMatch, HttpQueryParameter, HttpScheme, MatchRange,
};
use crate::appmesh::gateway_route::HttpGatewayRouteRewrite;
use crate::istio::{HttpMatchRequest, StringMatch};
use crate::origin::ObjectRef;
use crate::validate::primitives;

use super::Context;

/// A header range match became a regex over the decimal integers of the range.
pub(crate) const CODE_RANGE_AS_REGEX: &str = "AMI2101";
/// A match condition Istio cannot express: the route is not converted.
pub(crate) const CODE_INEXPRESSIBLE: &str = "AMI2102";
/// A match App Mesh would have rejected (none or several methods set); read as best we can.
pub(crate) const CODE_AMBIGUOUS: &str = "AMI2103";

/// One finding about part of a route, reported later against the route's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    pub code: &'static str,
    pub field: String,
    pub message: String,
}

/// Findings collected while translating one route.
#[derive(Debug, Default)]
pub(crate) struct Notes(Vec<Note>);

impl Notes {
    pub(crate) fn add(
        &mut self,
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.0.push(Note {
            code,
            field: field.into(),
            message: message.into(),
        });
    }

    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Note> {
        self.0.iter()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Report every note as a finding about `subject`.
    pub(crate) fn report(self, ctx: &mut Context<'_>, subject: &ObjectRef) {
        for note in self.0 {
            ctx.note(note.code, subject, &note.field, note.message);
        }
    }
}

/// A condition of a match has no Istio equivalent; the reason is in the notes
/// ([`CODE_INEXPRESSIBLE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inexpressible;

/// The first control character (Unicode `Cc`) of `value`; TAB passes where `tab_allowed`.
pub(crate) fn control_character(value: &str, tab_allowed: bool) -> Option<char> {
    value
        .chars()
        .find(|c| c.is_control() && !(tab_allowed && *c == '\t'))
}

/// A literal value of a path, query or header condition must hold no control character: HTTP
/// allows none in a URL and only TAB in a header value, and Envoy refuses requests with NUL,
/// CR or LF (and header values with them in its configuration). Such a condition never
/// matched a request in App Mesh, and the validator refuses it in our output.
fn plain_text(
    value: &str,
    tab_allowed: bool,
    what: &str,
    field: &str,
    notes: &mut Notes,
) -> Result<(), Inexpressible> {
    match control_character(value, tab_allowed) {
        None => Ok(()),
        Some(c) => {
            notes.add(
                CODE_INEXPRESSIBLE,
                field.to_owned(),
                format!(
                    "{what} {value:?} holds the control character U+{:04X}, which no HTTP request carries there, so the condition never matched; Istio output cannot hold it",
                    u32::from(c)
                ),
            );
            Err(Inexpressible)
        }
    }
}

/// Why a GatewayRoute's path or prefix rewrite cannot be written, if it holds a control
/// character: the rewritten path would be no valid request path.
pub(crate) fn rewrite_control_character(
    rewrite: Option<&HttpGatewayRouteRewrite>,
) -> Option<String> {
    let rewrite = rewrite?;
    let values = [
        (
            rewrite.prefix.as_ref().and_then(|p| p.value.as_deref()),
            "prefix.value",
        ),
        (
            rewrite.path.as_ref().and_then(|p| p.exact.as_deref()),
            "path.exact",
        ),
    ];
    values.into_iter().find_map(|(value, what)| {
        let value = value?;
        control_character(value, false).map(|c| {
            format!(
                "its rewrite {what} {value:?} holds the control character U+{:04X}, which no request path can hold; Istio output cannot hold it",
                u32::from(c)
            )
        })
    })
}

/// One HTTP header (or gRPC metadata) condition as App Mesh writes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderCondition<'a> {
    pub name: &'a str,
    /// `None`: the header only has to be present.
    pub method: Option<&'a HeaderMatchMethod>,
    pub invert: bool,
}

/// Header keys Istio ignores in `headers` (they are matched by dedicated fields instead), so a
/// header of that literal name cannot be matched at all.
const RESERVED_HEADER_KEYS: [&str; 4] = ["uri", "scheme", "method", "authority"];

/// Add App Mesh header or gRPC metadata conditions to `m`: `headers` for normal conditions,
/// `withoutHeaders` for inverted ones. `field` is the path of the App Mesh list.
pub(crate) fn add_header_conditions<'a>(
    m: &mut HttpMatchRequest,
    conditions: impl IntoIterator<Item = HeaderCondition<'a>>,
    field: &str,
    notes: &mut Notes,
) -> Result<(), Inexpressible> {
    let mut result = Ok(());
    for (i, condition) in conditions.into_iter().enumerate() {
        let here = format!("{field}[{i}]");
        if let Err(e) = add_header_condition(m, condition, &here, notes) {
            result = Err(e);
        }
    }
    result
}

fn add_header_condition(
    m: &mut HttpMatchRequest,
    condition: HeaderCondition<'_>,
    field: &str,
    notes: &mut Notes,
) -> Result<(), Inexpressible> {
    // HTTP header names are case-insensitive; Istio wants them in lower case.
    let name = condition.name.to_ascii_lowercase();
    if let Err(e) = primitives::match_header_name(&name) {
        notes.add(
            CODE_INEXPRESSIBLE,
            format!("{field}.name"),
            format!(
                "header {:?} cannot be matched in Istio: {e}",
                condition.name
            ),
        );
        return Err(Inexpressible);
    }
    if RESERVED_HEADER_KEYS.contains(&name.as_str()) {
        notes.add(
            CODE_INEXPRESSIBLE,
            format!("{field}.name"),
            format!("Istio ignores a header condition named {name:?} (it reserves uri, scheme, method and authority for its own match fields)"),
        );
        return Err(Inexpressible);
    }
    let value = match condition.method {
        None => StringMatch::Presence,
        Some(method) => header_value_match(method, &format!("{field}.match"), notes)?,
    };
    let (target, place) = if condition.invert {
        (&mut m.without_headers, "withoutHeaders")
    } else {
        (&mut m.headers, "headers")
    };
    match target.get(&name) {
        Some(existing) if *existing != value => {
            notes.add(
                CODE_INEXPRESSIBLE,
                field.to_owned(),
                format!("header {name:?} has several different conditions; Istio {place} holds one condition per header"),
            );
            Err(Inexpressible)
        }
        _ => {
            target.insert(name, value);
            Ok(())
        }
    }
}

/// The value condition of one header. Exactly one method is meant to be set; with several
/// (which the App Mesh API rejects) the first of exact, prefix, suffix, regex, range is used.
fn header_value_match(
    method: &HeaderMatchMethod,
    field: &str,
    notes: &mut Notes,
) -> Result<StringMatch, Inexpressible> {
    let set = [
        method.exact.is_some(),
        method.prefix.is_some(),
        method.suffix.is_some(),
        method.regex.is_some(),
        method.range.is_some(),
    ]
    .into_iter()
    .filter(|s| *s)
    .count();
    if set == 0 {
        notes.add(
            CODE_AMBIGUOUS,
            field.to_owned(),
            "the header match sets none of exact, prefix, suffix, regex, range; read as \"header present\"",
        );
        return Ok(StringMatch::Presence);
    }
    if set > 1 {
        notes.add(
            CODE_AMBIGUOUS,
            field.to_owned(),
            "the header match sets several of exact, prefix, suffix, regex, range (App Mesh accepts exactly one); only the first of them in that order is used",
        );
    }
    for (value, what) in [
        (&method.exact, "exact"),
        (&method.prefix, "prefix"),
        (&method.suffix, "suffix"),
    ] {
        if let Some(value) = value {
            plain_text(
                value,
                true,
                &format!("header {what} value"),
                &format!("{field}.{what}"),
                notes,
            )?;
        }
    }
    if let Some(exact) = &method.exact {
        return Ok(StringMatch::exact(exact));
    }
    if let Some(prefix) = &method.prefix {
        // Every value starts with "", and Istio rejects an empty prefix outside `uri`.
        return Ok(if prefix.is_empty() {
            StringMatch::Presence
        } else {
            StringMatch::prefix(prefix)
        });
    }
    if let Some(suffix) = &method.suffix {
        if suffix.is_empty() {
            return Ok(StringMatch::Presence);
        }
        return Ok(StringMatch::regex(format!(".*{}", escape_re2(suffix))));
    }
    if let Some(regex) = &method.regex {
        return user_regex(regex, &format!("{field}.regex"), notes).map(StringMatch::Regex);
    }
    if let Some(range) = &method.range {
        return range_match(range, &format!("{field}.range"), notes);
    }
    Ok(StringMatch::Presence)
}

fn range_match(
    range: &MatchRange,
    field: &str,
    notes: &mut Notes,
) -> Result<StringMatch, Inexpressible> {
    if range.start >= range.end {
        notes.add(
            CODE_INEXPRESSIBLE,
            field.to_owned(),
            format!(
                "range [{}, {}) contains no integer, so the route never matched in App Mesh",
                range.start, range.end
            ),
        );
        return Err(Inexpressible);
    }
    if range.start < 0 {
        notes.add(
            CODE_INEXPRESSIBLE,
            field.to_owned(),
            format!("range [{}, {}) includes negative numbers; Istio has no numeric range match and only non-negative ranges are rewritten as a regex", range.start, range.end),
        );
        return Err(Inexpressible);
    }
    let regex = range_regex(range.start, range.end).unwrap_or_default();
    if let Err(e) = primitives::re2(&regex) {
        notes.add(
            CODE_INEXPRESSIBLE,
            field.to_owned(),
            format!(
                "range [{}, {}) as a regex is not usable: {e}",
                range.start, range.end
            ),
        );
        return Err(Inexpressible);
    }
    notes.add(
        CODE_RANGE_AS_REGEX,
        field.to_owned(),
        format!(
            "range [{}, {}) became the regex {regex:?}, which matches the plain decimal integers of the range; App Mesh (Envoy) also accepted forms such as a leading + or leading zeros",
            range.start, range.end
        ),
    );
    Ok(StringMatch::Regex(regex))
}

/// A regex written by the user: kept when it is valid RE2 within Istio's length limit (App
/// Mesh's Envoy uses RE2 too, so a regex App Mesh accepted is accepted here).
fn user_regex(regex: &str, field: &str, notes: &mut Notes) -> Result<String, Inexpressible> {
    match primitives::re2(regex) {
        Ok(()) => Ok(regex.to_owned()),
        Err(e) => {
            notes.add(CODE_INEXPRESSIBLE, field.to_owned(), e);
            Err(Inexpressible)
        }
    }
}

/// App Mesh `prefix` / `path` → `uri`. `None`: no condition on the path. Exactly one of prefix
/// and path (and of path.exact / path.regex) is meant to be set.
pub(crate) fn uri_match(
    prefix: Option<&str>,
    path: Option<&HttpPathMatch>,
    field: &str,
    notes: &mut Notes,
) -> Result<Option<StringMatch>, Inexpressible> {
    match (prefix, path) {
        (Some(_), Some(_)) => {
            notes.add(
                CODE_INEXPRESSIBLE,
                field.to_owned(),
                "the match sets both prefix and path (App Mesh accepts exactly one); Istio matches the path once per condition",
            );
            Err(Inexpressible)
        }
        // App Mesh prefixes are plain string prefixes, like Istio's `uri.prefix`.
        (Some(prefix), None) => {
            plain_text(
                prefix,
                false,
                "path prefix",
                &format!("{field}.prefix"),
                notes,
            )?;
            Ok(Some(StringMatch::prefix(prefix)))
        }
        (None, Some(path)) => match (&path.exact, &path.regex) {
            (Some(exact), None) => {
                plain_text(exact, false, "path", &format!("{field}.path.exact"), notes)?;
                Ok(Some(StringMatch::exact(exact)))
            }
            (None, Some(regex)) => user_regex(regex, &format!("{field}.path.regex"), notes)
                .map(|r| Some(StringMatch::Regex(r))),
            _ => {
                notes.add(
                    CODE_INEXPRESSIBLE,
                    format!("{field}.path"),
                    "path must set exactly one of exact and regex",
                );
                Err(Inexpressible)
            }
        },
        (None, None) => {
            notes.add(
                CODE_AMBIGUOUS,
                field.to_owned(),
                "the match sets neither prefix nor path (the App Mesh webhook requires one); it matches any path here",
            );
            Ok(None)
        }
    }
}

/// App Mesh query parameter conditions → `queryParams` (exact value, or presence).
pub(crate) fn add_query_conditions(
    m: &mut HttpMatchRequest,
    params: &[HttpQueryParameter],
    field: &str,
    notes: &mut Notes,
) -> Result<(), Inexpressible> {
    let mut wanted: BTreeMap<&str, StringMatch> = BTreeMap::new();
    let mut result = Ok(());
    for (i, param) in params.iter().enumerate() {
        let here = format!("{field}[{i}]");
        if plain_text(
            &param.name,
            false,
            "query parameter name",
            &format!("{here}.name"),
            notes,
        )
        .is_err()
        {
            result = Err(Inexpressible);
            continue;
        }
        if param.name.is_empty() {
            notes.add(
                CODE_INEXPRESSIBLE,
                format!("{here}.name"),
                "query parameter name is empty",
            );
            result = Err(Inexpressible);
            continue;
        }
        let value = match param.match_.as_ref() {
            Some(m) => match &m.exact {
                Some(exact) => {
                    if plain_text(
                        exact,
                        false,
                        "query parameter value",
                        &format!("{here}.match.exact"),
                        notes,
                    )
                    .is_err()
                    {
                        result = Err(Inexpressible);
                        continue;
                    }
                    StringMatch::exact(exact)
                }
                None => {
                    notes.add(CODE_AMBIGUOUS, format!("{here}.match"), "the query parameter match sets no exact value; read as \"parameter present\"");
                    StringMatch::Presence
                }
            },
            None => StringMatch::Presence,
        };
        match wanted.get(param.name.as_str()) {
            Some(existing) if *existing != value => {
                notes.add(
                    CODE_INEXPRESSIBLE,
                    here,
                    format!("query parameter {:?} has several different conditions; Istio holds one per parameter", param.name),
                );
                result = Err(Inexpressible);
            }
            _ => {
                wanted.insert(param.name.as_str(), value);
            }
        }
    }
    m.query_params
        .extend(wanted.into_iter().map(|(k, v)| (k.to_owned(), v)));
    result
}

pub(crate) fn method_match(method: HttpMethod) -> StringMatch {
    StringMatch::exact(match method {
        HttpMethod::Connect => "CONNECT",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Get => "GET",
        HttpMethod::Head => "HEAD",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Trace => "TRACE",
    })
}

pub(crate) fn scheme_match(scheme: HttpScheme) -> StringMatch {
    StringMatch::exact(match scheme {
        HttpScheme::Http => "http",
        HttpScheme::Https => "https",
    })
}

/// gRPC `serviceName` / `methodName` → the HTTP/2 path gRPC uses (`/<package.Service>/<Method>`).
/// `None`: any service.
pub(crate) fn grpc_uri(
    service: Option<&str>,
    method: Option<&str>,
    field: &str,
    notes: &mut Notes,
) -> Result<Option<StringMatch>, Inexpressible> {
    for (value, what) in [(service, "serviceName"), (method, "methodName")] {
        if let Some(value) = value {
            plain_text(value, false, what, &format!("{field}.{what}"), notes)?;
        }
    }
    match (service, method) {
        (Some(service), Some(method)) => {
            Ok(Some(StringMatch::exact(format!("/{service}/{method}"))))
        }
        (Some(service), None) => Ok(Some(StringMatch::prefix(format!("/{service}/")))),
        (None, None) => Ok(None),
        (None, Some(_)) => {
            notes.add(
                CODE_INEXPRESSIBLE,
                format!("{field}.methodName"),
                "methodName requires serviceName (App Mesh rejects it alone), so the method's full path is unknown",
            );
            Err(Inexpressible)
        }
    }
}

/// `s` with every RE2 metacharacter escaped, for use as a literal inside a regex.
pub(crate) fn escape_re2(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An RE2 regex (for a full-string match) matching exactly the decimal integers in
/// `[start, end)`, written without sign or leading zeros. `None` unless `0 <= start < end`.
pub(crate) fn range_regex(start: i64, end: i64) -> Option<String> {
    if start < 0 || start >= end {
        return None;
    }
    let lo = u64::try_from(start).ok()?;
    let hi = u64::try_from(end).ok()? - 1;
    let mut parts = Vec::new();
    // Split into runs of equal digit count, then cover each run digit by digit.
    let mut from = lo;
    loop {
        let digits = from.to_string().len();
        let band_max = u32::try_from(digits)
            .ok()
            .and_then(|d| 10u64.checked_pow(d))
            .map_or(u64::MAX, |p| p - 1);
        let to = hi.min(band_max);
        same_length(&from.to_string(), &to.to_string(), "", &mut parts);
        if to >= hi {
            break;
        }
        from = to + 1;
    }
    Some(parts.join("|"))
}

/// Patterns for every digit string between `a` and `b` (same length, `a <= b`), each
/// prefixed with `prefix`.
fn same_length(a: &str, b: &str, prefix: &str, out: &mut Vec<String>) {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let Some(i) = ab.iter().zip(bb).position(|(x, y)| x != y) else {
        out.push(format!("{prefix}{a}"));
        return;
    };
    let prefix = format!("{prefix}{}", &a[..i]);
    let (da, db) = (ab[i], bb[i]);
    let (rest_a, rest_b) = (&a[i + 1..], &b[i + 1..]);
    let rest_len = rest_a.len();
    let low_full = rest_a.bytes().all(|c| c == b'0');
    let high_full = rest_b.bytes().all(|c| c == b'9');
    let mut first = da;
    if !low_full {
        same_length(
            rest_a,
            &"9".repeat(rest_len),
            &format!("{prefix}{}", char::from(da)),
            out,
        );
        first = da + 1;
    }
    let last = if high_full { db } else { db - 1 };
    if first <= last {
        out.push(format!(
            "{prefix}{}{}",
            digit_class(first, last),
            any_digits(rest_len)
        ));
    }
    if !high_full {
        same_length(
            &"0".repeat(rest_len),
            rest_b,
            &format!("{prefix}{}", char::from(db)),
            out,
        );
    }
}

fn digit_class(first: u8, last: u8) -> String {
    if first == last {
        char::from(first).to_string()
    } else {
        format!("[{}-{}]", char::from(first), char::from(last))
    }
}

fn any_digits(count: usize) -> String {
    match count {
        0 => String::new(),
        1 => "[0-9]".to_owned(),
        n => format!("[0-9]{{{n}}}"),
    }
}

#[cfg(test)]
mod tests;
