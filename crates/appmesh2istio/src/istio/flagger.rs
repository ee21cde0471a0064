//! Flagger's `Canary` (`flagger.app/v1beta1`), as convert writes it back with
//! `provider: istio`.
//!
//! A Canary is the user's own object, not one we design: only the fields convert changes are
//! typed (the provider, `service.retries`, `service.timeout`); everything else (targetRef,
//! analysis, metrics, webhooks, ...) is carried through untouched in `other`, in the order
//! serde_json keeps (sorted keys), so nothing the user wrote is lost or reinterpreted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `spec` of a Canary.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CanarySpec {
    /// The service mesh or ingress Flagger drives (`istio` for what convert writes).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<CanaryService>,
    /// Every other field of the spec, as written.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `spec.service` of a Canary.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CanaryService {
    /// Istio's `HTTPRoute.timeout` for the generated VirtualService (a Go duration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<CanaryRetries>,
    /// Every other field of `service`, as written.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `spec.service.retries`: Istio's `HTTPRetry`, which Flagger copies into its VirtualService.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CanaryRetries {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<String>,
    /// Envoy's `x-envoy-retry-on` vocabulary, comma-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<String>,
}

crate::istio::istio_kind!(
    /// A Flagger Canary driving Istio.
    Canary,
    CanarySpec,
    "flagger.app/v1beta1",
    "Canary"
);
