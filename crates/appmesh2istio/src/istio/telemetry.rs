//! `telemetry.istio.io/v1`: Telemetry (access logging only; that is what App Mesh has).

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
        };
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            json!({"accessLogging": [{"match": {"mode": "SERVER"}, "providers": [{"name": "envoy"}]}]})
        );
    }
}
