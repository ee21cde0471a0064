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
