//! `HTTPRoute` and `GRPCRoute` (v1, standard channel; `retry` is experimental) and
//! `TCPRoute` (v1alpha2, experimental channel only).

use serde::{Deserialize, Serialize};

use super::{BackendRef, Duration, ParentReference};

crate::istio::istio_kind!(
    /// HTTP routing rules for the Services or Gateway listeners in `parentRefs`.
    HttpRoute,
    HttpRouteSpec,
    "gateway.networking.k8s.io/v1",
    "HTTPRoute"
);
crate::istio::istio_kind!(
    /// gRPC routing rules (method matches; no timeouts or retries in v1.5.1).
    GrpcRoute,
    GrpcRouteSpec,
    "gateway.networking.k8s.io/v1",
    "GRPCRoute"
);
crate::istio::istio_kind!(
    /// TCP forwarding (no matches; experimental channel).
    TcpRoute,
    TcpRouteSpec,
    "gateway.networking.k8s.io/v1alpha2",
    "TCPRoute"
);

// ------------------------------------------------------------------------------------------
// HTTPRoute

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpRouteSpec {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parent_refs: Vec<ParentReference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<HttpRouteRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpRouteRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ORed; absent means "every path" (the API server defaults it to `PathPrefix /`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<HttpRouteMatch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<RouteFilter>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backend_refs: Vec<HttpBackendRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<HttpRouteTimeouts>,
    /// Experimental channel only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<HttpRouteRetry>,
}

/// One match; its fields are ANDed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpRouteMatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathMatch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<ValueMatch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub query_params: Vec<ValueMatch>,
    /// `GET`, `POST`, ... (the CRD's enum).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum PathMatchType {
    Exact,
    /// Segment-aware: `/foo` matches `/foo` and `/foo/bar`, not `/foobar`.
    #[default]
    PathPrefix,
    RegularExpression,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PathMatch {
    #[serde(rename = "type")]
    pub match_type: PathMatchType,
    pub value: String,
}

impl PathMatch {
    pub fn new(match_type: PathMatchType, value: impl Into<String>) -> PathMatch {
        PathMatch {
            match_type,
            value: value.into(),
        }
    }
}

/// Header and query-parameter matches have only these two types (no prefix, suffix,
/// presence or invert).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum ValueMatchType {
    #[default]
    Exact,
    RegularExpression,
}

/// A header or query-parameter match: `{type, name, value}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ValueMatch {
    #[serde(rename = "type")]
    pub match_type: ValueMatchType,
    pub name: String,
    pub value: String,
}

impl ValueMatch {
    pub fn new(
        match_type: ValueMatchType,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> ValueMatch {
        ValueMatch {
            match_type,
            name: name.into(),
            value: value.into(),
        }
    }
}

/// The filter types we write (`RequestRedirect`, `CORS`, `ExtensionRef` are never needed).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum FilterType {
    #[default]
    RequestHeaderModifier,
    ResponseHeaderModifier,
    RequestMirror,
    #[serde(rename = "URLRewrite")]
    UrlRewrite,
}

impl FilterType {
    pub fn as_str(self) -> &'static str {
        match self {
            FilterType::RequestHeaderModifier => "RequestHeaderModifier",
            FilterType::ResponseHeaderModifier => "ResponseHeaderModifier",
            FilterType::RequestMirror => "RequestMirror",
            FilterType::UrlRewrite => "URLRewrite",
        }
    }
}

/// A route or backend filter: `type` plus the one block of that type (the CRD's CEL rules
/// require exactly that pairing; the model does not enforce it, the validator does).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RouteFilter {
    #[serde(rename = "type")]
    pub filter_type: FilterType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_header_modifier: Option<HeaderModifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_header_modifier: Option<HeaderModifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_mirror: Option<RequestMirror>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_rewrite: Option<UrlRewrite>,
}

impl RouteFilter {
    pub fn request_headers(modifier: HeaderModifier) -> RouteFilter {
        RouteFilter {
            filter_type: FilterType::RequestHeaderModifier,
            request_header_modifier: Some(modifier),
            ..RouteFilter::default()
        }
    }

    pub fn response_headers(modifier: HeaderModifier) -> RouteFilter {
        RouteFilter {
            filter_type: FilterType::ResponseHeaderModifier,
            response_header_modifier: Some(modifier),
            ..RouteFilter::default()
        }
    }

    pub fn url_rewrite(rewrite: UrlRewrite) -> RouteFilter {
        RouteFilter {
            filter_type: FilterType::UrlRewrite,
            url_rewrite: Some(rewrite),
            ..RouteFilter::default()
        }
    }

    pub fn mirror(mirror: RequestMirror) -> RouteFilter {
        RouteFilter {
            filter_type: FilterType::RequestMirror,
            request_mirror: Some(mirror),
            ..RouteFilter::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeaderModifier {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<HttpHeader>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<HttpHeader>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

impl HeaderModifier {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RequestMirror {
    pub backend_ref: BackendRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UrlRewrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathModifier>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum PathModifierType {
    #[default]
    ReplaceFullPath,
    /// Needs exactly one `PathPrefix` match in the rule.
    ReplacePrefixMatch,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PathModifier {
    #[serde(rename = "type")]
    pub modifier_type: PathModifierType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replace_full_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replace_prefix_match: Option<String>,
}

impl PathModifier {
    pub fn full_path(path: impl Into<String>) -> PathModifier {
        PathModifier {
            modifier_type: PathModifierType::ReplaceFullPath,
            replace_full_path: Some(path.into()),
            replace_prefix_match: None,
        }
    }

    pub fn prefix(prefix: impl Into<String>) -> PathModifier {
        PathModifier {
            modifier_type: PathModifierType::ReplacePrefixMatch,
            replace_full_path: None,
            replace_prefix_match: Some(prefix.into()),
        }
    }
}

/// A backendRef of an HTTPRoute or GRPCRoute: a [`BackendRef`] plus per-backend filters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpBackendRef {
    #[serde(flatten)]
    pub backend: BackendRef,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<RouteFilter>,
}

impl From<BackendRef> for HttpBackendRef {
    fn from(backend: BackendRef) -> HttpBackendRef {
        HttpBackendRef {
            backend,
            filters: Vec::new(),
        }
    }
}

/// `request`: the whole request including retries (Istio's route `timeout`);
/// `backendRequest`: one attempt (Istio's `perTryTimeout` when retries are set, otherwise
/// the route timeout). `0s` disables either.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpRouteTimeouts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_request: Option<Duration>,
}

/// Experimental `retry`: Istio retries on connect-failure, refused-stream, unavailable and
/// cancelled plus the listed status codes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpRouteRetry {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Duration>,
}

// ------------------------------------------------------------------------------------------
// GRPCRoute

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GrpcRouteSpec {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parent_refs: Vec<ParentReference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<GrpcRouteRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GrpcRouteRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<GrpcRouteMatch>,
    /// Header modifiers and mirrors only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<RouteFilter>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backend_refs: Vec<HttpBackendRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GrpcRouteMatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<GrpcMethodMatch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<ValueMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GrpcMethodMatch {
    #[serde(rename = "type")]
    pub match_type: ValueMatchType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

// ------------------------------------------------------------------------------------------
// TCPRoute

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TcpRouteSpec {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parent_refs: Vec<ParentReference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<TcpRouteRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TcpRouteRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backend_refs: Vec<BackendRef>,
}
