//! `install.istio.io/v1alpha1` IstioOperator: the input of `istioctl install -f`.
//!
//! istioctl decodes `spec` strictly but does not validate `meshConfig` (it discards the
//! errors), so [`crate::validate`] checks the mesh settings we write itself.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{HttpRetry, OutboundTrafficPolicy, istio_kind};

istio_kind!(
    /// Installation settings: profile, mesh-wide config, gateways.
    IstioOperator,
    IstioOperatorSpec,
    "install.istio.io/v1alpha1",
    "IstioOperator"
);

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IstioOperatorSpec {
    /// `default`, `minimal`, `demo`, `empty`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh_config: Option<MeshConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<Components>,
}

/// The `meshConfig` fields we write, in `mesh/v1alpha1/config.proto` order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MeshConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_log_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_log_format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_log_encoding: Option<AccessLogEncoding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_config: Option<ProxyConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_traffic_policy: Option<OutboundTrafficPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_auto_mtls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_domain: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension_providers: Vec<ExtensionProvider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_providers: Option<DefaultProviders>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_http_retry_policy: Option<HttpRetry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccessLogEncoding {
    Text,
    Json,
}

/// `meshConfig.defaultConfig` (ProxyConfig), the fields we write.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProxyConfig {
    /// Becomes environment variables of istio-proxy.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub proxy_metadata: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_application_until_proxy_starts: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExtensionProvider {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envoy_file_access_log: Option<EnvoyFileAccessLogProvider>,
    /// Zipkin-protocol tracing (what App Mesh's Jaeger tracing sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zipkin: Option<TracingService>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datadog: Option<TracingService>,
    /// OTLP over gRPC to a collector (for X-Ray, one with the AWS X-Ray exporter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opentelemetry: Option<TracingService>,
}

/// Where a tracing provider sends spans: `service` is a fully qualified host (or
/// `namespace/host`), as Istio's `extensionProviders` take it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TracingService {
    pub service: String,
    pub port: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnvoyFileAccessLogProvider {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

/// `logFormat` oneof: a text template or JSON labels (both use Envoy `%OPERATOR%`s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LogFormat {
    Text(String),
    Labels(BTreeMap<String, String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DefaultProviders {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub access_logging: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Components {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ingress_gateways: Vec<GatewayComponent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GatewayComponent {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Pod labels; a Gateway's `selector` matches these.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub label: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k8s: Option<KubernetesResources>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KubernetesResources {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceSpec>,
}

/// The part of a Kubernetes `ServiceSpec` we write.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceSpec {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<KubernetesServicePort>,
}

/// Ports of the `istio-ingressgateway` Service of istioctl's default profile and the target
/// ports behind them, as `(port, targetPort, name)`. The converted Gateways assume exactly these
/// (a Gateway server port may name either, IST0162); the status port 15021 is not for traffic.
pub const DEFAULT_INGRESS_SERVICE_PORTS: [(u32, u32, &str); 3] = [
    (15021, 15021, "status-port"),
    (80, 8080, "http2"),
    (443, 8443, "https"),
];

/// [`DEFAULT_INGRESS_SERVICE_PORTS`] as Service ports, for a gateway that lists its own ports
/// (a list replaces the default one, so it has to repeat these).
pub fn default_ingress_service_ports() -> Vec<KubernetesServicePort> {
    DEFAULT_INGRESS_SERVICE_PORTS
        .iter()
        .map(|(port, target, name)| KubernetesServicePort {
            name: (*name).to_owned(),
            port: *port,
            target_port: Some(*target),
            protocol: Some("TCP".to_owned()),
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KubernetesServicePort {
    pub name: String,
    pub port: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u32>,
    /// `TCP` (default), `UDP`, `SCTP`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::{Metadata, OutboundTrafficMode};
    use serde_json::json;

    #[test]
    fn operator_serialises_mesh_config_and_gateways() {
        let iop = IstioOperator::new(
            Metadata::new("appmesh2istio", "istio-system"),
            IstioOperatorSpec {
                profile: Some("default".into()),
                mesh_config: Some(MeshConfig {
                    outbound_traffic_policy: Some(OutboundTrafficPolicy {
                        mode: OutboundTrafficMode::RegistryOnly,
                    }),
                    extension_providers: vec![ExtensionProvider {
                        name: "json-log".into(),
                        envoy_file_access_log: Some(EnvoyFileAccessLogProvider {
                            path: "/dev/stdout".into(),
                            log_format: Some(LogFormat::Labels(BTreeMap::from([(
                                "code".into(),
                                "%RESPONSE_CODE%".into(),
                            )]))),
                        }),
                        ..ExtensionProvider::default()
                    }],
                    ..Default::default()
                }),
                components: Some(Components {
                    ingress_gateways: vec![GatewayComponent {
                        name: "istio-ingressgateway".into(),
                        enabled: Some(true),
                        ..Default::default()
                    }],
                }),
                ..Default::default()
            },
        );
        assert_eq!(
            serde_json::to_value(&iop).unwrap(),
            json!({"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
                "metadata": {"name": "appmesh2istio", "namespace": "istio-system"},
                "spec": {"profile": "default", "meshConfig": {
                    "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
                    "extensionProviders": [{"name": "json-log", "envoyFileAccessLog": {
                        "path": "/dev/stdout", "logFormat": {"labels": {"code": "%RESPONSE_CODE%"}}}}]},
                    "components": {"ingressGateways": [{"name": "istio-ingressgateway", "enabled": true}]}}})
        );
        assert_eq!(
            serde_json::to_value(LogFormat::Text("%START_TIME%".into())).unwrap(),
            json!({"text": "%START_TIME%"})
        );
    }
}
