//! A router route's match conditions (HTTP and gRPC) → an Istio `HttpMatchRequest`.
//!
//! Apart from the planning in `mod.rs` because it is the pure translation of `match`, with
//! no knowledge of listeners, targets or policies.

use crate::appmesh::virtual_router::{GrpcRoute, HttpRoute as AppMeshHttpRoute};
use crate::istio::{HttpMatchRequest, StringMatch};

use super::super::matches::{self, HeaderCondition, Inexpressible, Notes};

/// The Istio match of an HTTP/HTTP2 route, its specificity rank and prefix length.
pub(super) fn http_match(
    http: &AppMeshHttpRoute,
    field: &str,
    notes: &mut Notes,
) -> Result<(HttpMatchRequest, u8, usize), Inexpressible> {
    let am = &http.match_;
    let base = format!("{field}.match");
    let mut m = HttpMatchRequest::default();
    let uri = matches::uri_match(am.prefix.as_deref(), am.path.as_ref(), &base, notes);
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
    let (specificity, prefix_len) = match &uri {
        Some(StringMatch::Exact(_)) => (0, 0),
        Some(StringMatch::Prefix(p)) => (1, p.len()),
        _ => (2, 0),
    };
    // `prefix: /` matches every path; leaving the condition out says the same and lets a route
    // with nothing else be Istio's catch-all.
    m.uri = uri.filter(|u| *u != StringMatch::prefix("/"));
    m.method = am.method.map(matches::method_match);
    m.scheme = am.scheme.map(matches::scheme_match);
    Ok((m, specificity, prefix_len))
}

pub(super) fn grpc_match(
    grpc: &GrpcRoute,
    field: &str,
    notes: &mut Notes,
) -> Result<(HttpMatchRequest, u8, usize), Inexpressible> {
    let am = &grpc.match_;
    let base = format!("{field}.match");
    let mut m = HttpMatchRequest::default();
    let uri = matches::grpc_uri(
        am.service_name.as_deref(),
        am.method_name.as_deref(),
        &base,
        notes,
    );
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
    let (specificity, prefix_len) = match &uri {
        Some(StringMatch::Exact(_)) => (0, 0),
        Some(StringMatch::Prefix(p)) => (1, p.len()),
        _ => (2, 0),
    };
    m.uri = uri;
    Ok((m, specificity, prefix_len))
}
