//! What a gateway route does to a request on its own: its match conditions (HTTP and gRPC),
//! App Mesh's Host and path rewrites written out explicitly, and the default timeout and
//! retry policies.
//!
//! Apart from `compose` because none of this depends on the target's router: it is the
//! translation of the GatewayRoute's own `match` and `action.rewrite`.

use crate::appmesh::gateway_route::{
    DefaultRewrite, GrpcGatewayRoute, HttpGatewayRoute, HttpGatewayRouteRewrite,
};
use crate::istio::{Duration, HttpMatchRequest, HttpRetry, HttpRewrite, RegexRewrite, StringMatch};

use super::super::matches::{self, HeaderCondition, Notes};
use super::super::{Context, defaults};

use super::{
    ANY_PATH, CODE_DEFAULT_REWRITES, CODE_REWRITE_IGNORED, DEFAULTS_DROPPED, MatchPlan,
    PathCondition, RETRIES_DEFAULT, TIMEOUT_DEFAULT,
};

pub(super) fn http_match(
    route: &HttpGatewayRoute,
    field: &str,
    notes: &mut Notes,
) -> Result<MatchPlan, matches::Inexpressible> {
    let am = &route.match_;
    let base = format!("{field}.match");
    let mut m = HttpMatchRequest::default();
    // A GatewayRoute may match on the hostname alone (the webhook requires one of prefix,
    // path, hostname), so no path condition is not an anomaly here.
    let uri = if am.prefix.is_some() || am.path.is_some() {
        matches::uri_match(am.prefix.as_deref(), am.path.as_ref(), &base, notes)
    } else {
        Ok(None)
    };
    let headers = matches::add_header_conditions(
        &mut m,
        am.headers.iter().map(|h| HeaderCondition {
            name: &h.name,
            method: h.match_.as_ref(),
            invert: h.invert.unwrap_or(false),
        }),
        &format!("{base}.headers"),
        notes,
    );
    let query = matches::add_query_conditions(
        &mut m,
        &am.query_parameters,
        &format!("{base}.queryParameters"),
        notes,
    );
    let uri = uri?;
    headers?;
    query?;
    if let Some(method) = am.method {
        m.method = Some(matches::method_match(method));
    }
    let (path, path_specificity, prefix_len) = match &uri {
        Some(StringMatch::Prefix(p)) if p == "/" => {
            (PathCondition::Prefix(p.clone()), ANY_PATH, p.len())
        }
        Some(StringMatch::Prefix(p)) => (PathCondition::Prefix(p.clone()), 1, p.len()),
        Some(StringMatch::Exact(_)) => (PathCondition::Exact, 0, 0),
        Some(_) => (PathCondition::Regex, 2, 0),
        None => (PathCondition::None, ANY_PATH, 0),
    };
    // `prefix: /` matches every path: no condition at all in Istio.
    m.uri = uri.filter(|u| *u != StringMatch::prefix("/"));
    Ok(MatchPlan {
        m,
        path,
        path_specificity,
        prefix_len,
    })
}

pub(super) fn grpc_match(
    route: &GrpcGatewayRoute,
    field: &str,
    notes: &mut Notes,
) -> Result<MatchPlan, matches::Inexpressible> {
    let am = &route.match_;
    let base = format!("{field}.match");
    let mut m = HttpMatchRequest::default();
    let uri = matches::grpc_uri(am.service_name.as_deref(), None, &base, notes);
    let metadata = matches::add_header_conditions(
        &mut m,
        am.metadata.iter().map(|h| HeaderCondition {
            name: &h.name,
            method: h.match_.as_ref(),
            invert: h.invert.unwrap_or(false),
        }),
        &format!("{base}.metadata"),
        notes,
    );
    let uri = uri?;
    metadata?;
    let prefix_len = match &uri {
        Some(StringMatch::Prefix(p)) => p.len(),
        _ => 0,
    };
    m.uri = uri;
    Ok(MatchPlan {
        m,
        path: PathCondition::None,
        path_specificity: if prefix_len == 0 { ANY_PATH } else { 1 },
        prefix_len,
    })
}

/// App Mesh's Host rewrite: to the target VirtualService's name, unless disabled.
pub(super) fn authority_rewrite(
    disabled: bool,
    target_name: &str,
    defaults_written: &mut Vec<String>,
) -> Option<HttpRewrite> {
    if disabled {
        return None;
    }
    defaults_written.push(format!("the Host header is rewritten to {target_name:?}"));
    Some(HttpRewrite {
        authority: Some(target_name.to_owned()),
        ..HttpRewrite::default()
    })
}

pub(super) fn note_default_rewrites(notes: &mut Notes, field: &str, written: &[String]) {
    if !written.is_empty() {
        notes.add(
            CODE_DEFAULT_REWRITES,
            format!("{field}.rewrite"),
            format!(
                "App Mesh's default rewrites are written out: {}",
                written.join("; ")
            ),
        );
    }
}

/// The rewrite of an HTTP GatewayRoute, and whether the path the target sees differs from the
/// path the gateway received.
pub(super) fn http_rewrite(
    rewrite: Option<&HttpGatewayRouteRewrite>,
    path: &PathCondition,
    target_name: &str,
    field: &str,
    notes: &mut Notes,
    usage: &mut Notes,
) -> (Option<HttpRewrite>, bool) {
    let hostname_disabled = rewrite
        .and_then(|r| r.hostname.as_ref())
        .and_then(|h| h.default_target_hostname)
        == Some(DefaultRewrite::Disabled);
    let mut written = Vec::new();
    let mut result =
        authority_rewrite(hostname_disabled, target_name, &mut written).unwrap_or_default();
    let prefix_rewrite = rewrite.and_then(|r| r.prefix.as_ref());
    let path_rewrite = rewrite
        .and_then(|r| r.path.as_ref())
        .and_then(|p| p.exact.as_deref());
    let rewrite_field = format!("{field}.rewrite");
    if let Some(value) = path_rewrite {
        // Istio's `uri` replaces the whole path only after an exact or regex match; after a
        // prefix match (or none) it would replace just the prefix.
        if matches!(path, PathCondition::Exact | PathCondition::Regex) {
            result.uri = Some(value.to_owned());
        } else {
            result.uri_regex_rewrite = Some(RegexRewrite {
                pattern: "^.*$".to_owned(),
                rewrite: value.to_owned(),
            });
        }
        if prefix_rewrite.is_some() {
            notes.add(CODE_REWRITE_IGNORED, format!("{rewrite_field}.prefix"), "both prefix and path rewrites are set (App Mesh accepts one); the path rewrite is used");
        }
    } else if let PathCondition::Prefix(prefix) = path {
        let value = prefix_rewrite.and_then(|p| p.value.as_deref());
        let disabled =
            prefix_rewrite.and_then(|p| p.default_prefix) == Some(DefaultRewrite::Disabled);
        match value {
            // Istio's `uri` replaces the matched prefix, as App Mesh's value does.
            Some(value) => result.uri = Some(value.to_owned()),
            None if disabled || prefix == "/" => {}
            None => {
                written.push(format!(
                    "the matched prefix {prefix:?} is rewritten to \"/\""
                ));
                if prefix.ends_with('/') {
                    result.uri = Some("/".to_owned());
                } else {
                    // Replacing `/chapter` by `/` would turn `/chapter/1` into `//1`; App Mesh
                    // documents `/1`, so the slash after the prefix goes too.
                    result.uri_regex_rewrite = Some(RegexRewrite {
                        pattern: format!("^{}/?", matches::escape_re2(prefix)),
                        rewrite: "/".to_owned(),
                    });
                }
            }
        }
    } else if prefix_rewrite
        .is_some_and(|p| p.value.is_some() || p.default_prefix == Some(DefaultRewrite::Enabled))
    {
        notes.add(CODE_REWRITE_IGNORED, format!("{rewrite_field}.prefix"), "a prefix rewrite needs a prefix match, and this GatewayRoute matches no prefix; it is left out");
    }
    note_default_rewrites(usage, field, &written);
    let path_rewritten = result.uri.is_some() || result.uri_regex_rewrite.is_some();
    let rewrite = (result != HttpRewrite::default()).then_some(result);
    (rewrite, path_rewritten)
}

/// Timeout and retries of a gateway route whose target sets none: App Mesh's defaults.
pub(super) fn default_policies(
    ctx: &Context<'_>,
    field: &str,
    notes: &mut Notes,
) -> (Option<Duration>, Option<HttpRetry>) {
    if ctx.opts.preserve_defaults {
        notes.add(
            TIMEOUT_DEFAULT,
            field.to_owned(),
            format!(
                "App Mesh's default per-request timeout of {} is written out",
                defaults::REQUEST_TIMEOUT
            ),
        );
        notes.add(
            RETRIES_DEFAULT,
            field.to_owned(),
            format!(
                "App Mesh's default retry policy ({} retries on {}) is written out",
                defaults::RETRY_ATTEMPTS,
                defaults::RETRY_ON.join(",")
            ),
        );
        (
            Some(defaults::REQUEST_TIMEOUT),
            Some(defaults::retry_policy()),
        )
    } else {
        notes.add(
            DEFAULTS_DROPPED,
            field.to_owned(),
            format!("App Mesh's implicit {} per-request timeout and default retry policy are not carried over (--no-preserve-defaults)", defaults::REQUEST_TIMEOUT),
        );
        (None, None)
    }
}
