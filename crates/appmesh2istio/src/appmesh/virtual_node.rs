//! `VirtualNode`: one workload's inbound listeners, how clients find it, and its outbound
//! allow-list (backends).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::{Deserialize, Serialize};

use super::common::{
    BackendDefaults, BackendGroupReference, ClientPolicy, Duration, GrpcConnectionPool,
    GrpcTimeout, Http2ConnectionPool, HttpConnectionPool, HttpTimeout, ListenerTls, Logging,
    MeshReference, PortMapping, PortProtocol, TcpConnectionPool, TcpTimeout,
    VirtualServiceReference, null_as_default,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNode {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: VirtualNodeSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNodeSpec {
    /// Defaults to `<name>_<namespace>` (an underscore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_name: Option<String>,
    /// Pods (same namespace) that get this node's Envoy config. nil selects no pod, `{}` all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub listeners: Vec<Listener>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_discovery: Option<ServiceDiscovery>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub backends: Vec<Backend>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub backend_groups: Vec<BackendGroupReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_defaults: Option<BackendDefaults>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh_ref: Option<MeshReference>,
}

/// An inbound listener of a VirtualNode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    pub port_mapping: PortMapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ListenerTls>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<VirtualNodeConnectionPool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<ListenerTimeout>,
}

/// Active health check run by *client* Envoys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckPolicy {
    pub healthy_threshold: i64,
    pub interval_millis: i64,
    /// Only used for http/http2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Defaults to the listener port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    pub protocol: PortProtocol,
    pub timeout_millis: i64,
    pub unhealthy_threshold: i64,
}

/// Passive ejection of hosts returning consecutive server errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutlierDetection {
    pub max_server_errors: i64,
    pub interval: Duration,
    pub base_ejection_duration: Duration,
    pub max_ejection_percent: i64,
}

/// Limits on Envoy → local app connections; at most one sub-pool (webhook).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNodeConnectionPool {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpConnectionPool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpConnectionPool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http2: Option<Http2ConnectionPool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcConnectionPool>,
}

/// Inbound timeouts; the key is meant to match the listener protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerTimeout {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpTimeout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpTimeout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http2: Option<HttpTimeout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcTimeout>,
}

/// How clients find this node: exactly one of `dns` / `awsCloudMap`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDiscovery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_cloud_map: Option<AwsCloudMapServiceDiscovery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsServiceDiscovery>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsCloudMapServiceDiscovery {
    pub namespace_name: String,
    pub service_name: String,
    /// Clients only receive instances carrying all these attributes (a subset selector).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub attributes: Vec<AwsCloudMapInstanceAttribute>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsCloudMapInstanceAttribute {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsServiceDiscovery {
    /// Usually the Kubernetes Service FQDN.
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_type: Option<DnsResponseType>,
}

/// `ENDPOINTS` = Envoy STRICT_DNS (all addresses), `LOADBALANCER` = LOGICAL_DNS (one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DnsResponseType {
    Endpoints,
    Loadbalancer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backend {
    pub virtual_service: VirtualServiceBackend,
}

/// A backend: exactly one of the reference / the ARN, plus an optional per-backend client policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceBackend {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_service_ref: Option<VirtualServiceReference>,
    #[serde(
        default,
        rename = "virtualServiceARN",
        skip_serializing_if = "Option::is_none"
    )]
    pub virtual_service_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_policy: Option<ClientPolicy>,
}
