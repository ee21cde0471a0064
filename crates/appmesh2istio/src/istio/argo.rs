//! Argo Rollouts' `Rollout` (`argoproj.io/v1alpha1`), as convert writes it back with
//! `trafficRouting.istio`.
//!
//! The Rollout is the user's object: its spec (pod template, steps, analysis, ...) is carried
//! through as written; only `strategy.canary` changes, so it alone is typed loosely enough to
//! be checked ([`crate::validate`]) and the rest stays a map.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `spec` of a Rollout: every field as written, `strategy` included.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RolloutSpec {
    pub fields: BTreeMap<String, Value>,
}

impl RolloutSpec {
    /// `strategy.canary`, if the Rollout has a canary strategy.
    pub fn canary(&self) -> Option<&serde_json::Map<String, Value>> {
        self.fields.get("strategy")?.get("canary")?.as_object()
    }
}

crate::istio::istio_kind!(
    /// An Argo Rollout whose canary traffic Istio splits.
    Rollout,
    RolloutSpec,
    "argoproj.io/v1alpha1",
    "Rollout"
);

/// `spec` of a Kubernetes Service convert generates: the canary and stable copies of a
/// Service that Argo Rollouts' host-level splitting needs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CoreServiceSpec {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<CoreServicePort>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CoreServicePort {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub port: i64,
    /// A number or a port name, as the copied Service wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_port: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

crate::istio::istio_kind!(
    /// A Kubernetes Service (`v1`).
    CoreService,
    CoreServiceSpec,
    "v1",
    "Service"
);
