//! Types shared by several App Mesh kinds (`appmesh.k8s.aws/v1beta2`).
//!
//! Field names follow the CRD's JSON keys exactly; where the Go JSON tag is not plain camelCase
//! (`certificateARN`, `certificateAuthorityARNs`, `virtualNodeARN`, ...) an explicit rename keeps it.
//! Integers are `i64` because the CRD declares them `format: int64`; bounds are not checked
//! here (the API server and the converter's findings deal with them).

use serde::{Deserialize, Deserializer, Serialize};

/// Deserialize `null` as the type's default, as the API server does for absent lists
/// (`backends:` with no value is common in hand-written manifests).
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `{name, uid}` of the Mesh an object belongs to; written by the webhook, never by users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshReference {
    pub name: String,
    pub uid: String,
}

/// A reference to a namespaced App Mesh object. `namespace` defaults to the namespace of the
/// object that holds the reference (`pkg/references/object_key.go`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedReference {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl NamespacedReference {
    /// The namespace this reference points into, given the namespace of the referring object.
    pub fn namespace_or<'a>(&'a self, referrer_namespace: &'a str) -> &'a str {
        self.namespace.as_deref().unwrap_or(referrer_namespace)
    }
}

pub type VirtualNodeReference = NamespacedReference;
pub type VirtualServiceReference = NamespacedReference;
pub type VirtualRouterReference = NamespacedReference;
pub type BackendGroupReference = NamespacedReference;

/// `spec.virtualGatewayRef` of a GatewayRoute: system-populated on create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualGatewayReference {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub uid: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DurationUnit {
    #[serde(rename = "s")]
    Seconds,
    #[serde(rename = "ms")]
    Milliseconds,
}

/// App Mesh's `{unit, value}` duration, used for every timeout and interval except health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Duration {
    pub unit: DurationUnit,
    pub value: i64,
}

impl Duration {
    /// The duration in milliseconds (saturating: the CRD bounds `value` only from below).
    pub fn to_millis(&self) -> i64 {
        match self.unit {
            DurationUnit::Seconds => self.value.saturating_mul(1000),
            DurationUnit::Milliseconds => self.value,
        }
    }
}

/// Listener protocol of VirtualNodes and VirtualRouters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortProtocol {
    Grpc,
    Http,
    Http2,
    Tcp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub port: i64,
    pub protocol: PortProtocol,
}

/// HTTP methods a route may match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Connect,
    Delete,
    Get,
    Head,
    Options,
    Patch,
    Post,
    Put,
    Trace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpScheme {
    Http,
    Https,
}

/// `[start, end)` integer range match on a header or gRPC metadata value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchRange {
    pub start: i64,
    pub end: i64,
}

/// How a header (HTTP) or metadata entry (gRPC) value is matched; exactly one is meant to be set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderMatchMethod {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<MatchRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
}

/// gRPC metadata uses the same shape as HTTP header matches.
pub type GrpcRouteMetadataMatchMethod = HeaderMatchMethod;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpPathMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryMatchMethod {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
}

/// A query parameter match; no `match` means the parameter only has to be present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpQueryParameter {
    pub name: String,
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_: Option<QueryMatchMethod>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpTimeout {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_request: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<Duration>,
}

pub type GrpcTimeout = HttpTimeout;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpTimeout {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<Duration>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAlternativeNameMatchers {
    pub exact: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAlternativeNames {
    #[serde(rename = "match")]
    pub match_: SubjectAlternativeNameMatchers,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsAcmCertificate {
    #[serde(rename = "certificateARN")]
    pub certificate_arn: String,
}

/// Certificate chain and key as paths on the Envoy filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsFileCertificate {
    pub certificate_chain: String,
    pub private_key: String,
}

/// An SDS secret name (in App Mesh examples, a SPIFFE ID served by SPIRE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsSdsCertificate {
    pub secret_name: String,
}

/// Server certificate of a listener: exactly one of acm/file/sds is meant to be set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerTlsCertificate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acm: Option<TlsAcmCertificate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<TlsFileCertificate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sds: Option<TlsSdsCertificate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ListenerTlsMode {
    Strict,
    Permissive,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsFileTrust {
    pub certificate_chain: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsAcmTrust {
    #[serde(rename = "certificateAuthorityARNs")]
    pub certificate_authority_arns: Vec<String>,
}

/// Trust of a VirtualNode listener's client-certificate validation: no ACM at this level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerTlsValidationTrust {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<TlsFileTrust>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sds: Option<TlsSdsCertificate>,
}

/// Presence on a listener means mutual TLS: clients must present a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerTlsValidation {
    pub trust: ListenerTlsValidationTrust,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_alternative_names: Option<SubjectAlternativeNames>,
}

/// TLS termination on a VirtualNode listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerTls {
    pub certificate: ListenerTlsCertificate,
    pub mode: ListenerTlsMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<ListenerTlsValidation>,
}

/// Trust used to validate a server (client policy) or a client (VirtualGateway listener).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsValidationTrust {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acm: Option<TlsAcmTrust>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<TlsFileTrust>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sds: Option<TlsSdsCertificate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsValidation {
    pub trust: TlsValidationTrust,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_alternative_names: Option<SubjectAlternativeNames>,
}

/// Client certificate for mutual TLS (no ACM: private keys never leave ACM).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTlsCertificate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<TlsFileCertificate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sds: Option<TlsSdsCertificate>,
}

/// TLS origination towards backends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientPolicyTls {
    /// Absent means `true` (App Mesh API default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce: Option<bool>,
    /// Restricts the policy to these backend ports; empty = all ports.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ports: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<ClientTlsCertificate>,
    pub validation: TlsValidation,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientPolicyTls>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendDefaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_policy: Option<ClientPolicy>,
}

/// One `{key, value}` pair of a JSON access-log format (a list, not a map).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonFormatRef {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggingFormat {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Vec<JsonFormatRef>>,
    /// Envoy command-operator format string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileAccessLog {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<LoggingFormat>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLog {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileAccessLog>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Logging {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log: Option<AccessLog>,
}

/// `maxConnections`/`maxPendingRequests` limits for HTTP/1 listeners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpConnectionPool {
    pub max_connections: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pending_requests: Option<i64>,
}

/// `maxRequests` limit for HTTP/2 and gRPC listeners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Http2ConnectionPool {
    pub max_requests: i64,
}

pub type GrpcConnectionPool = Http2ConnectionPool;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpConnectionPool {
    pub max_connections: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_to_millis() {
        let s = Duration {
            unit: DurationUnit::Seconds,
            value: 15,
        };
        let ms = Duration {
            unit: DurationUnit::Milliseconds,
            value: 250,
        };
        assert_eq!(s.to_millis(), 15_000);
        assert_eq!(ms.to_millis(), 250);
        let huge = Duration {
            unit: DurationUnit::Seconds,
            value: i64::MAX,
        };
        assert_eq!(huge.to_millis(), i64::MAX);
    }

    #[test]
    fn odd_json_keys_round_trip() {
        let json = serde_json::json!({"certificateAuthorityARNs": ["arn:a"]});
        let trust: TlsAcmTrust = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(trust.certificate_authority_arns, vec!["arn:a"]);
        assert_eq!(serde_json::to_value(&trust).unwrap(), json);
        let acm: TlsAcmCertificate =
            serde_json::from_value(serde_json::json!({"certificateARN": "arn:c"})).unwrap();
        assert_eq!(acm.certificate_arn, "arn:c");
    }

    #[test]
    fn reference_namespace_defaults_to_referrer() {
        let r = NamespacedReference {
            name: "a".into(),
            namespace: None,
        };
        assert_eq!(r.namespace_or("ns1"), "ns1");
        let r = NamespacedReference {
            name: "a".into(),
            namespace: Some("ns2".into()),
        };
        assert_eq!(r.namespace_or("ns1"), "ns2");
    }
}
