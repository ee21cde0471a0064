//! `networking.istio.io/v1`: VirtualService, DestinationRule, Gateway, ServiceEntry, Sidecar.
//!
//! Field order in each struct is the order of the Istio proto, which is the order Istio's
//! own docs and `kubectl get -o yaml` show, so our output reads like hand-written config.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Duration, WorkloadLabels, WorkloadSelector, istio_kind};

istio_kind!(
    /// Routing rules for one or more hosts.
    VirtualService,
    VirtualServiceSpec,
    "networking.istio.io/v1",
    "VirtualService"
);
istio_kind!(
    /// Policies applied after routing: subsets, connection pools, outlier detection, TLS.
    DestinationRule,
    DestinationRuleSpec,
    "networking.istio.io/v1",
    "DestinationRule"
);
istio_kind!(
    /// Listeners of an ingress/egress gateway.
    Gateway,
    GatewaySpec,
    "networking.istio.io/v1",
    "Gateway"
);
istio_kind!(
    /// Adds an entry to Istio's service registry.
    ServiceEntry,
    ServiceEntrySpec,
    "networking.istio.io/v1",
    "ServiceEntry"
);
istio_kind!(
    /// Scopes a workload's proxy configuration.
    Sidecar,
    SidecarSpec,
    "networking.istio.io/v1",
    "Sidecar"
);

// ------------------------------------------------------------------------------------------
// VirtualService

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VirtualServiceSpec {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// `mesh` and/or `<namespace>/<gateway>`; empty means mesh only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpRoute>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<TcpRoute>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
}

impl VirtualServiceSpec {
    /// True when the routes apply to sidecars: no `gateways`, or `mesh` listed.
    pub fn is_mesh_bound(&self) -> bool {
        self.gateways.is_empty() || self.gateways.iter().any(|g| g == "mesh")
    }

    /// The non-`mesh` gateway references.
    pub fn gateway_refs(&self) -> impl Iterator<Item = &str> {
        self.gateways
            .iter()
            .map(String::as_str)
            .filter(|g| *g != "mesh")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpRoute {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Entries are ORed; an empty list matches everything (a catch-all must be last).
    #[serde(rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<HttpMatchRequest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<HttpRouteDestination>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<HttpRewrite>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<HttpRetry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
}

/// One match condition; its fields are ANDed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpMatchRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<StringMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<StringMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<StringMatch>,
    /// Keys are header names (lower case); [`StringMatch::Presence`] means "present".
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub query_params: BTreeMap<String, StringMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_uri_case: Option<bool>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub without_headers: BTreeMap<String, StringMatch>,
}

/// Istio's `StringMatch` oneof, plus the empty form `{}` that means "present" in
/// `headers`, `queryParams` and `withoutHeaders`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StringMatch {
    Exact(String),
    Prefix(String),
    /// RE2 syntax, full-string match.
    Regex(String),
    /// `{}`: the header or query parameter is present, whatever its value.
    Presence,
}

impl StringMatch {
    pub fn exact(s: impl Into<String>) -> StringMatch {
        StringMatch::Exact(s.into())
    }
    pub fn prefix(s: impl Into<String>) -> StringMatch {
        StringMatch::Prefix(s.into())
    }
    pub fn regex(s: impl Into<String>) -> StringMatch {
        StringMatch::Regex(s.into())
    }
}

impl Serialize for StringMatch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entry = match self {
            StringMatch::Exact(v) => Some(("exact", v)),
            StringMatch::Prefix(v) => Some(("prefix", v)),
            StringMatch::Regex(v) => Some(("regex", v)),
            StringMatch::Presence => None,
        };
        let mut map = serializer.serialize_map(Some(usize::from(entry.is_some())))?;
        if let Some((key, value)) = entry {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for StringMatch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<StringMatch, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringMatch;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map with at most one of exact, prefix, regex")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StringMatch, A::Error> {
                let mut found: Option<StringMatch> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let value: String = map.next_value()?;
                    let m = match key.as_str() {
                        "exact" => StringMatch::Exact(value),
                        "prefix" => StringMatch::Prefix(value),
                        "regex" => StringMatch::Regex(value),
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["exact", "prefix", "regex"],
                            ));
                        }
                    };
                    if found.replace(m).is_some() {
                        return Err(de::Error::custom(
                            "only one of exact, prefix, regex may be set",
                        ));
                    }
                }
                Ok(found.unwrap_or(StringMatch::Presence))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// `destination` of a route.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Destination {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<PortSelector>,
}

impl Destination {
    pub fn host(host: impl Into<String>) -> Destination {
        Destination {
            host: host.into(),
            ..Destination::default()
        }
    }
    pub fn with_subset(mut self, subset: impl Into<String>) -> Destination {
        self.subset = Some(subset.into());
        self
    }
    pub fn with_port(mut self, number: u32) -> Destination {
        self.port = Some(PortSelector { number });
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PortSelector {
    pub number: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpRouteDestination {
    pub destination: Destination,
    /// Relative weight; a lone destination receives all traffic whatever its weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
}

impl HttpRouteDestination {
    pub fn to(destination: Destination) -> HttpRouteDestination {
        HttpRouteDestination {
            destination,
            ..HttpRouteDestination::default()
        }
    }
    pub fn weighted(destination: Destination, weight: i32) -> HttpRouteDestination {
        HttpRouteDestination {
            destination,
            weight: Some(weight),
            headers: None,
        }
    }
}

/// Retry policy. `attempts` is always written: `{attempts: 0}` alone disables retries.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpRetry {
    pub attempts: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<Duration>,
    /// Comma-separated tokens, no spaces (Istio does not trim them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_remote_localities: Option<bool>,
}

impl HttpRetry {
    /// `{attempts: 0}`: no retries (Istio would otherwise apply its default of 2).
    pub fn disabled() -> HttpRetry {
        HttpRetry::default()
    }

    pub fn attempts(attempts: i32) -> HttpRetry {
        HttpRetry {
            attempts,
            ..HttpRetry::default()
        }
    }

    /// Joins tokens the way Istio needs them: with `,` and no whitespace.
    pub fn with_retry_on<I, S>(mut self, tokens: I) -> HttpRetry
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined: Vec<String> = tokens
            .into_iter()
            .map(|t| t.as_ref().trim().to_owned())
            .collect();
        self.retry_on = if joined.is_empty() {
            None
        } else {
            Some(joined.join(","))
        };
        self
    }

    pub fn with_per_try_timeout(mut self, timeout: Duration) -> HttpRetry {
        self.per_try_timeout = Some(timeout);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpRewrite {
    /// Replaces the matched prefix (prefix match) or the whole path (exact/regex match).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri_regex_rewrite: Option<RegexRewrite>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegexRewrite {
    #[serde(rename = "match")]
    pub pattern: String,
    pub rewrite: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Headers {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<HeaderOperations>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<HeaderOperations>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeaderOperations {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub add: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TcpRoute {
    #[serde(rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<L4MatchAttributes>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<RouteDestination>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct L4MatchAttributes {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination_subnets: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RouteDestination {
    pub destination: Destination,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

impl RouteDestination {
    pub fn to(destination: Destination) -> RouteDestination {
        RouteDestination {
            destination,
            weight: None,
        }
    }
    pub fn weighted(destination: Destination, weight: i32) -> RouteDestination {
        RouteDestination {
            destination,
            weight: Some(weight),
        }
    }
}

// ------------------------------------------------------------------------------------------
// DestinationRule

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DestinationRuleSpec {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<Subset>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<WorkloadSelector>,
}

/// Must not be empty when present (Istio rejects `trafficPolicy: {}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TrafficPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPoolSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTlsSettings>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub port_level_settings: Vec<PortTrafficPolicy>,
}

impl TrafficPolicy {
    pub fn is_empty(&self) -> bool {
        self.connection_pool.is_none()
            && self.outlier_detection.is_none()
            && self.tls.is_none()
            && self.port_level_settings.is_empty()
    }
}

/// Needs `tcp` or `http` (Istio rejects an empty pool).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConnectionPoolSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TcpSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<Duration>,
    /// [`Duration::ZERO`] is legal here only: it disables the idle timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http1_max_pending_requests: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http2_max_requests: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_requests_per_connection: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OutlierDetection {
    #[serde(
        rename = "consecutive5xxErrors",
        skip_serializing_if = "Option::is_none"
    )]
    pub consecutive_5xx_errors: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_ejection_time: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ejection_percent: Option<i32>,
}

/// Client-side (origination) TLS of a DestinationRule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClientTlsSettings {
    pub mode: ClientTlsMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClientTlsMode {
    #[default]
    Disable,
    Simple,
    Mutual,
    IstioMutual,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PortTrafficPolicy {
    pub port: PortSelector,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPoolSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTlsSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Subset {
    /// DNS-1123 label, ≤63 characters, unique within the DestinationRule.
    pub name: String,
    /// Equality matches only (no `matchExpressions` in Istio).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
}

// ------------------------------------------------------------------------------------------
// Gateway

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GatewaySpec {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<Server>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Server {
    pub port: GatewayPort,
    /// `host` or `namespace/host`; the host needs a dot unless it is `*`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A Gateway server port: all three fields are required by the CRD.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GatewayPort {
    pub number: u32,
    /// `HTTP`, `HTTPS`, `GRPC`, `HTTP2`, `MONGO`, `TCP` or `TLS`.
    pub protocol: String,
    /// Unique across the Gateway's servers.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerTlsSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https_redirect: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<ServerTlsMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
    /// A TLS secret in the namespace of the gateway pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServerTlsMode {
    /// Istio's default when `tls.mode` is omitted.
    #[default]
    Passthrough,
    Simple,
    Mutual,
    AutoPassthrough,
    IstioMutual,
    OptionalMutual,
}

// ------------------------------------------------------------------------------------------
// ServiceEntry

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceEntrySpec {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<WorkloadEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<WorkloadLabels>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServicePort {
    pub number: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Location {
    MeshExternal,
    MeshInternal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Resolution {
    None,
    Static,
    Dns,
    DnsRoundRobin,
    DynamicDns,
}

/// A ServiceEntry endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkloadEntry {
    pub address: String,
    /// Service port name → endpoint port.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<String, u32>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

// ------------------------------------------------------------------------------------------
// Sidecar

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SidecarSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<WorkloadLabels>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IngressListener>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<EgressListener>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_connection_pool: Option<ConnectionPoolSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_traffic_policy: Option<OutboundTrafficPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IngressListener {
    pub port: SidecarPort,
    /// `127.0.0.1:<port>`, `0.0.0.0:<port>`, `[::1]:<port>`, `[::]:<port>`, `:<port>` or
    /// `unix:///abs/path`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPoolSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EgressListener {
    /// At most one listener may omit the port, and it must be last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<SidecarPort>,
    /// `namespace/dnsName` entries; dnsName is `*` or contains a dot.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SidecarPort {
    pub number: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Shared by Sidecar and meshConfig. `mode` is always written: an empty block would mean
/// REGISTRY_ONLY (the proto zero value), not Istio's documented default ALLOW_ANY.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OutboundTrafficPolicy {
    pub mode: OutboundTrafficMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutboundTrafficMode {
    RegistryOnly,
    #[default]
    AllowAny,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::Metadata;
    use serde_json::json;

    #[test]
    fn string_match_serialises_each_form() {
        assert_eq!(
            serde_json::to_value(StringMatch::exact("a")).unwrap(),
            json!({"exact": "a"})
        );
        assert_eq!(
            serde_json::to_value(StringMatch::prefix("/")).unwrap(),
            json!({"prefix": "/"})
        );
        assert_eq!(
            serde_json::to_value(StringMatch::regex(".*")).unwrap(),
            json!({"regex": ".*"})
        );
        assert_eq!(
            serde_json::to_value(StringMatch::Presence).unwrap(),
            json!({})
        );
        assert_eq!(
            serde_json::from_value::<StringMatch>(json!({})).unwrap(),
            StringMatch::Presence
        );
        assert_eq!(
            serde_json::from_value::<StringMatch>(json!({"prefix": "/x"})).unwrap(),
            StringMatch::prefix("/x")
        );
        assert!(
            serde_json::from_value::<StringMatch>(json!({"exact": "a", "prefix": "b"})).is_err()
        );
        assert!(serde_json::from_value::<StringMatch>(json!({"suffix": "a"})).is_err());
    }

    #[test]
    fn virtual_service_serialises_in_istio_order_without_empty_blocks() {
        let vs = VirtualService::new(
            Metadata::new("cart", "shop"),
            VirtualServiceSpec {
                hosts: vec!["cart.shop.svc.cluster.local".into()],
                http: vec![HttpRoute {
                    name: Some("r1".into()),
                    matches: vec![HttpMatchRequest {
                        uri: Some(StringMatch::prefix("/v1")),
                        headers: BTreeMap::from([("x-user".into(), StringMatch::Presence)]),
                        ..Default::default()
                    }],
                    route: vec![HttpRouteDestination::weighted(
                        Destination::host("cart.shop.svc.cluster.local")
                            .with_subset("v1")
                            .with_port(8080),
                        100,
                    )],
                    timeout: Some(Duration::from_secs(15)),
                    retries: Some(
                        HttpRetry::attempts(2)
                            .with_retry_on(["5xx", "reset"])
                            .with_per_try_timeout(Duration::from_millis(1500)),
                    ),
                    ..Default::default()
                }],
                ..Default::default()
            },
        );
        let text = serde_json::to_string(&vs).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","#,
                r#""metadata":{"name":"cart","namespace":"shop"},"spec":{"#,
                r#""hosts":["cart.shop.svc.cluster.local"],"http":[{"name":"r1","#,
                r#""match":[{"uri":{"prefix":"/v1"},"headers":{"x-user":{}}}],"#,
                r#""route":[{"destination":{"host":"cart.shop.svc.cluster.local","subset":"v1","#,
                r#""port":{"number":8080}},"weight":100}],"timeout":"15s","#,
                r#""retries":{"attempts":2,"perTryTimeout":"1500ms","retryOn":"5xx,reset"}}]}}"#
            )
        );
        let back: VirtualService = serde_json::from_str(&text).unwrap();
        assert_eq!(back, vs);
    }

    #[test]
    fn yaml_output_has_no_nulls_and_writes_presence_as_empty_map() {
        let m = HttpMatchRequest {
            headers: BTreeMap::from([("x-user".into(), StringMatch::Presence)]),
            ..Default::default()
        };
        let yaml = serde_saphyr::to_string(&m).unwrap();
        assert_eq!(yaml.trim(), "headers:\n  x-user: {}");
        assert_eq!(
            serde_saphyr::from_str::<HttpMatchRequest>(&yaml).unwrap(),
            m
        );
    }

    #[test]
    fn disabled_retries_write_only_attempts_zero() {
        assert_eq!(
            serde_json::to_value(HttpRetry::disabled()).unwrap(),
            json!({"attempts": 0})
        );
        assert_eq!(
            HttpRetry::attempts(1)
                .with_retry_on(Vec::<String>::new())
                .retry_on,
            None
        );
    }

    #[test]
    fn destination_rule_and_enums_use_istio_spelling() {
        let dr = DestinationRuleSpec {
            host: "a.b.svc.cluster.local".into(),
            traffic_policy: Some(TrafficPolicy {
                connection_pool: Some(ConnectionPoolSettings {
                    tcp: Some(TcpSettings {
                        idle_timeout: Some(Duration::ZERO),
                        ..Default::default()
                    }),
                    http: None,
                }),
                outlier_detection: Some(OutlierDetection {
                    consecutive_5xx_errors: Some(5),
                    ..Default::default()
                }),
                tls: Some(ClientTlsSettings {
                    mode: ClientTlsMode::IstioMutual,
                    ..Default::default()
                }),
                port_level_settings: vec![],
            }),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&dr).unwrap(),
            json!({"host": "a.b.svc.cluster.local", "trafficPolicy": {
                "connectionPool": {"tcp": {"idleTimeout": "0s"}},
                "outlierDetection": {"consecutive5xxErrors": 5},
                "tls": {"mode": "ISTIO_MUTUAL"}}})
        );
        assert_eq!(
            serde_json::to_value(Resolution::DnsRoundRobin).unwrap(),
            json!("DNS_ROUND_ROBIN")
        );
        assert_eq!(
            serde_json::to_value(Location::MeshExternal).unwrap(),
            json!("MESH_EXTERNAL")
        );
        assert_eq!(
            serde_json::to_value(OutboundTrafficPolicy {
                mode: OutboundTrafficMode::RegistryOnly
            })
            .unwrap(),
            json!({"mode": "REGISTRY_ONLY"})
        );
    }

    #[test]
    fn mesh_binding_helpers() {
        let mut spec = VirtualServiceSpec::default();
        assert!(spec.is_mesh_bound());
        spec.gateways = vec!["ns/gw".into()];
        assert!(!spec.is_mesh_bound());
        spec.gateways.push("mesh".into());
        assert!(spec.is_mesh_bound());
        assert_eq!(spec.gateway_refs().collect::<Vec<_>>(), ["ns/gw"]);
    }
}
