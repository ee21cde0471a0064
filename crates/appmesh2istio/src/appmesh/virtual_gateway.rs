//! `VirtualGateway`: a standalone Envoy ingress gateway, and which GatewayRoutes attach to it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::{Deserialize, Serialize};

use super::common::{
    BackendDefaults, GrpcConnectionPool, Http2ConnectionPool, HttpConnectionPool,
    ListenerTlsCertificate, ListenerTlsMode, Logging, MeshReference, TlsValidation,
    null_as_default,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualGateway {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: VirtualGatewaySpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualGatewaySpec {
    /// Defaults to `<name>_<namespace>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_name: Option<String>,
    /// Namespaces whose GatewayRoutes attach (matched against the GatewayRoute's namespace
    /// labels). nil selects none, `{}` all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Further filter on GatewayRoute labels; nil means every GatewayRoute of those namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_route_selector: Option<LabelSelector>,
    /// Gateway pods. nil selects none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub listeners: Vec<VirtualGatewayListener>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_defaults: Option<BackendDefaults>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh_ref: Option<MeshReference>,
}

/// Gateway listeners accept no `tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VirtualGatewayPortProtocol {
    Grpc,
    Http,
    Http2,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualGatewayPortMapping {
    pub port: i64,
    pub protocol: VirtualGatewayPortProtocol,
}

/// No `timeout` and no `outlierDetection` on gateway listeners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualGatewayListener {
    pub port_mapping: VirtualGatewayPortMapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<VirtualGatewayListenerTls>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<VirtualGatewayHealthCheckPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<VirtualGatewayConnectionPool>,
}

/// Unlike the VirtualNode's, `healthyThreshold` is optional here (CRD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualGatewayHealthCheckPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_threshold: Option<i64>,
    pub interval_millis: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    pub protocol: VirtualGatewayPortProtocol,
    pub timeout_millis: i64,
    pub unhealthy_threshold: i64,
}

/// At most one of http/http2/grpc (webhook); no tcp pool on gateways.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualGatewayConnectionPool {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpConnectionPool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http2: Option<Http2ConnectionPool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcConnectionPool>,
}

/// Gateway listener TLS; its client validation trust also accepts `acm` in the CRD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualGatewayListenerTls {
    pub certificate: ListenerTlsCertificate,
    pub mode: ListenerTlsMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<TlsValidation>,
}
