//! `telemetry.istio.io/v1`: Telemetry (access logging and tracing: what App Mesh has).

use serde::{Deserialize, Serialize};

use super::{WorkloadSelector, istio_kind};

istio_kind!(
    /// Access-log (and other telemetry) settings for a namespace or workloads.
    Telemetry,
    TelemetrySpec,
    "telemetry.istio.io/v1",
    "Telemetry"
);

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TelemetrySpec {
    /// Omitted: namespace-wide (at most one such Telemetry per namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub access_logging: Vec<AccessLogging>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tracing: Vec<Tracing>,
}

/// `tracing[]`: which providers receive spans, and how many requests are sampled.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Tracing {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderRef>,
    /// 0 to 100 (a JSON number, so the type stays `Eq`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_sampling_percentage: Option<serde_json::Number>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AccessLogging {
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_mode: Option<AccessLogMatch>,
    /// Extension provider names (`envoy` is built in: /dev/stdout, default format).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<AccessLogFilter>,
}

impl AccessLogging {
    /// Logs through the named providers.
    pub fn to_providers<I, S>(names: I) -> AccessLogging
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AccessLogging {
            providers: names
                .into_iter()
                .map(|n| ProviderRef { name: n.into() })
                .collect(),
            ..AccessLogging::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AccessLogMatch {
    pub mode: WorkloadMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkloadMode {
    #[default]
    ClientAndServer,
    Client,
    Server,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProviderRef {
    pub name: String,
}

/// A CEL expression over Envoy attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AccessLogFilter {
    pub expression: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn access_logging_serialises_provider_list() {
        let spec = TelemetrySpec {
            selector: None,
            access_logging: vec![AccessLogging {
                match_mode: Some(AccessLogMatch {
                    mode: WorkloadMode::Server,
                }),
                ..AccessLogging::to_providers(["envoy"])
            }],
            ..TelemetrySpec::default()
        };
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            json!({"accessLogging": [{"match": {"mode": "SERVER"}, "providers": [{"name": "envoy"}]}]})
        );
    }
}
