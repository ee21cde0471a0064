use std::collections::BTreeMap;

use super::*;
use crate::istio::{Duration, Metadata};
use serde_json::json;

#[test]
fn string_match_serialises_each_form() {
    assert_eq!(
        serde_json::to_value(StringMatch::exact("a")).unwrap(),
        json!({"exact": "a"})
    );
    assert_eq!(
        serde_json::to_value(StringMatch::prefix("/")).unwrap(),
        json!({"prefix": "/"})
    );
    assert_eq!(
        serde_json::to_value(StringMatch::regex(".*")).unwrap(),
        json!({"regex": ".*"})
    );
    assert_eq!(
        serde_json::to_value(StringMatch::Presence).unwrap(),
        json!({})
    );
    assert_eq!(
        serde_json::from_value::<StringMatch>(json!({})).unwrap(),
        StringMatch::Presence
    );
    assert_eq!(
        serde_json::from_value::<StringMatch>(json!({"prefix": "/x"})).unwrap(),
        StringMatch::prefix("/x")
    );
    assert!(serde_json::from_value::<StringMatch>(json!({"exact": "a", "prefix": "b"})).is_err());
    assert!(serde_json::from_value::<StringMatch>(json!({"suffix": "a"})).is_err());
}

#[test]
fn virtual_service_serialises_in_istio_order_without_empty_blocks() {
    let vs = VirtualService::new(
        Metadata::new("cart", "shop"),
        VirtualServiceSpec {
            hosts: vec!["cart.shop.svc.cluster.local".into()],
            http: vec![HttpRoute {
                name: Some("r1".into()),
                matches: vec![HttpMatchRequest {
                    uri: Some(StringMatch::prefix("/v1")),
                    headers: BTreeMap::from([("x-user".into(), StringMatch::Presence)]),
                    ..Default::default()
                }],
                route: vec![HttpRouteDestination::weighted(
                    Destination::host("cart.shop.svc.cluster.local")
                        .with_subset("v1")
                        .with_port(8080),
                    100,
                )],
                timeout: Some(Duration::from_secs(15)),
                retries: Some(
                    HttpRetry::attempts(2)
                        .with_retry_on(["5xx", "reset"])
                        .with_per_try_timeout(Duration::from_millis(1500)),
                ),
                ..Default::default()
            }],
            ..Default::default()
        },
    );
    let text = serde_json::to_string(&vs).unwrap();
    assert_eq!(
        text,
        concat!(
            r#"{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","#,
            r#""metadata":{"name":"cart","namespace":"shop"},"spec":{"#,
            r#""hosts":["cart.shop.svc.cluster.local"],"http":[{"name":"r1","#,
            r#""match":[{"uri":{"prefix":"/v1"},"headers":{"x-user":{}}}],"#,
            r#""route":[{"destination":{"host":"cart.shop.svc.cluster.local","subset":"v1","#,
            r#""port":{"number":8080}},"weight":100}],"timeout":"15s","#,
            r#""retries":{"attempts":2,"perTryTimeout":"1500ms","retryOn":"5xx,reset"}}]}}"#
        )
    );
    let back: VirtualService = serde_json::from_str(&text).unwrap();
    assert_eq!(back, vs);
}

#[test]
fn yaml_output_has_no_nulls_and_writes_presence_as_empty_map() {
    let m = HttpMatchRequest {
        headers: BTreeMap::from([("x-user".into(), StringMatch::Presence)]),
        ..Default::default()
    };
    let yaml = serde_saphyr::to_string(&m).unwrap();
    assert_eq!(yaml.trim(), "headers:\n  x-user: {}");
    assert_eq!(
        serde_saphyr::from_str::<HttpMatchRequest>(&yaml).unwrap(),
        m
    );
}

#[test]
fn disabled_retries_write_only_attempts_zero() {
    assert_eq!(
        serde_json::to_value(HttpRetry::disabled()).unwrap(),
        json!({"attempts": 0})
    );
    assert_eq!(
        HttpRetry::attempts(1)
            .with_retry_on(Vec::<String>::new())
            .retry_on,
        None
    );
}

#[test]
fn destination_rule_and_enums_use_istio_spelling() {
    let dr = DestinationRuleSpec {
        host: "a.b.svc.cluster.local".into(),
        traffic_policy: Some(TrafficPolicy {
            connection_pool: Some(ConnectionPoolSettings {
                tcp: Some(TcpSettings {
                    idle_timeout: Some(Duration::ZERO),
                    ..Default::default()
                }),
                http: None,
            }),
            outlier_detection: Some(OutlierDetection {
                consecutive_5xx_errors: Some(5),
                ..Default::default()
            }),
            tls: Some(ClientTlsSettings {
                mode: ClientTlsMode::IstioMutual,
                ..Default::default()
            }),
            port_level_settings: vec![],
        }),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&dr).unwrap(),
        json!({"host": "a.b.svc.cluster.local", "trafficPolicy": {
            "connectionPool": {"tcp": {"idleTimeout": "0s"}},
            "outlierDetection": {"consecutive5xxErrors": 5},
            "tls": {"mode": "ISTIO_MUTUAL"}}})
    );
    assert_eq!(
        serde_json::to_value(Resolution::DnsRoundRobin).unwrap(),
        json!("DNS_ROUND_ROBIN")
    );
    assert_eq!(
        serde_json::to_value(Location::MeshExternal).unwrap(),
        json!("MESH_EXTERNAL")
    );
    assert_eq!(
        serde_json::to_value(OutboundTrafficPolicy {
            mode: OutboundTrafficMode::RegistryOnly
        })
        .unwrap(),
        json!({"mode": "REGISTRY_ONLY"})
    );
}

#[test]
fn mesh_binding_helpers() {
    let mut spec = VirtualServiceSpec::default();
    assert!(spec.is_mesh_bound());
    spec.gateways = vec!["ns/gw".into()];
    assert!(!spec.is_mesh_bound());
    spec.gateways.push("mesh".into());
    assert!(spec.is_mesh_bound());
    assert_eq!(spec.gateway_refs().collect::<Vec<_>>(), ["ns/gw"]);
}
