//! `BackendGroup`: a named set of VirtualServices that VirtualNodes can list as backends
//! (only honoured when the controller runs with `--enable-backend-groups`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::common::{MeshReference, VirtualServiceReference, null_as_default};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendGroup {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: BackendGroupSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendGroupSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh_ref: Option<MeshReference>,
    /// JSON key is all lowercase: `virtualservices`.
    #[serde(
        default,
        rename = "virtualservices",
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub virtual_services: Vec<VirtualServiceReference>,
}
