//! `Mesh` (cluster-scoped): the App Mesh service mesh and which namespaces belong to it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::{Deserialize, Serialize};

use super::common::null_as_default;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mesh {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: MeshSpec,
    /// Controller-written state; kept loose because conversion never reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshSpec {
    /// Defaults to `metadata.name` (mutating webhook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_name: Option<String>,
    /// Namespaces whose App Mesh objects belong to this mesh. nil selects no namespace,
    /// `{}` selects all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_filter: Option<EgressFilter>,
    /// JSON key is `meshServiceDiscovery`, not `serviceDiscovery`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh_service_discovery: Option<MeshServiceDiscovery>,
    /// AWS account id of a shared (RAM) mesh owned by another account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh_owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressFilter {
    #[serde(rename = "type")]
    pub type_: EgressFilterType,
}

/// Unset egress filter means `DROP_ALL` (App Mesh API default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EgressFilterType {
    AllowAll,
    DropAll,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshServiceDiscovery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_preference: Option<IpPreference>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IpPreference {
    #[serde(rename = "IPv4_ONLY")]
    Ipv4Only,
    #[serde(rename = "IPv6_ONLY")]
    Ipv6Only,
}
