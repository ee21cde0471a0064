//! `v1 Service`: the per-version Services generated when App Mesh told versions of one
//! Service apart by pod labels, which Gateway API backendRefs cannot (no subsets), and the
//! canary and stable copies Argo Rollouts' host-level splitting needs (`convert::argo`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

crate::istio::istio_kind!(
    /// A ClusterIP Service selecting the pods of one version (or of a Rollout's canary or
    /// stable side).
    Service,
    ServiceSpec,
    "v1",
    "Service"
);

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceSpec {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
    /// Equality matches only (a Service has no `matchExpressions`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServicePort {
    /// Required (DNS-1123 label) when the Service has more than one port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// `http`, `http2`, `grpc`, `tcp`, ...: how Istio treats the port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    pub port: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_port: Option<TargetPort>,
}

/// `targetPort`: a number, or the name of a container port (as a copied Service wrote it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetPort {
    Number(u32),
    Name(String),
}
