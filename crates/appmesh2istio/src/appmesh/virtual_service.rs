//! `VirtualService`: the name clients call, and who serves it (a VirtualNode or a VirtualRouter).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::common::{MeshReference, VirtualNodeReference, VirtualRouterReference, null_as_default};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualService {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: VirtualServiceSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceSpec {
    /// The hostname clients call. Defaults to `<name>.<namespace>` (a dot, unlike other kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_name: Option<String>,
    /// Absent is allowed: the service then routes nowhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<VirtualServiceProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh_ref: Option<MeshReference>,
}

/// Exactly one of `virtualNode` / `virtualRouter` is meant to be set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceProvider {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_node: Option<VirtualNodeServiceProvider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_router: Option<VirtualRouterServiceProvider>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNodeServiceProvider {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_node_ref: Option<VirtualNodeReference>,
    #[serde(
        default,
        rename = "virtualNodeARN",
        skip_serializing_if = "Option::is_none"
    )]
    pub virtual_node_arn: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualRouterServiceProvider {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_router_ref: Option<VirtualRouterReference>,
    #[serde(
        default,
        rename = "virtualRouterARN",
        skip_serializing_if = "Option::is_none"
    )]
    pub virtual_router_arn: Option<String>,
}
