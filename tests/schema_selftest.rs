//! The CRD schema checker against our Istio model: one object of every kind, with most
//! fields set, must pass Istio's CRD schemas and our validator; deliberately broken
//! objects must fail at the expected path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use appmesh2istio::istio::*;
use appmesh2istio::validate::validate_all;
use appmesh2istio_tests::schema::{go_duration_nanos, istio_schema, validate_value};
use serde_json::{Value, json};

const NS: &str = "shop";
const CART: &str = "cart.shop.svc.cluster.local";

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn meta(name: &str) -> Metadata {
    Metadata::new(name, NS)
        .managed()
        .with_annotation("appmesh2istio.io/source", "VirtualNode shop/cart-v1")
}

fn connection_pool() -> ConnectionPoolSettings {
    ConnectionPoolSettings {
        tcp: Some(TcpSettings {
            max_connections: Some(clamp_i32(1 << 40)),
            connect_timeout: Some(Duration::from_millis(1500)),
            idle_timeout: Some(Duration::ZERO),
        }),
        http: Some(HttpSettings {
            http1_max_pending_requests: Some(100),
            http2_max_requests: Some(1000),
            max_requests_per_connection: Some(10),
            max_retries: Some(3),
            idle_timeout: Some(Duration::from_secs(300)),
        }),
    }
}

fn virtual_service() -> VirtualService {
    let header_ops = Headers {
        request: Some(HeaderOperations {
            set: labels(&[("x-mesh", "istio")]),
            add: labels(&[("x-forwarded-client", "%DOWNSTREAM_REMOTE_ADDRESS%")]),
            remove: vec!["x-internal".into()],
        }),
        response: Some(HeaderOperations {
            remove: vec!["server".into()],
            ..Default::default()
        }),
    };
    VirtualService::new(
        meta("cart"),
        VirtualServiceSpec {
            hosts: vec![CART.into()],
            http: vec![
                HttpRoute {
                    name: Some("api-v2".into()),
                    matches: vec![HttpMatchRequest {
                        name: Some("by-header".into()),
                        uri: Some(StringMatch::prefix("/api/v2")),
                        scheme: Some(StringMatch::exact("http")),
                        method: Some(StringMatch::regex("GET|HEAD")),
                        authority: Some(StringMatch::prefix("cart")),
                        headers: BTreeMap::from([
                            ("x-canary".into(), StringMatch::exact("1")),
                            ("x-user".into(), StringMatch::Presence),
                        ]),
                        port: Some(8080),
                        source_labels: labels(&[("app", "web")]),
                        query_params: BTreeMap::from([("debug".into(), StringMatch::Presence)]),
                        ignore_uri_case: Some(true),
                        without_headers: BTreeMap::from([(
                            "x-legacy".into(),
                            StringMatch::regex(".*"),
                        )]),
                        ..Default::default()
                    }],
                    route: vec![
                        HttpRouteDestination {
                            destination: Destination::host(CART).with_subset("v2").with_port(8080),
                            weight: Some(90),
                            headers: Some(header_ops.clone()),
                        },
                        HttpRouteDestination::weighted(
                            Destination::host(CART).with_subset("v1").with_port(8080),
                            10,
                        ),
                    ],
                    rewrite: Some(HttpRewrite {
                        uri: Some("/v2".into()),
                        authority: Some(CART.into()),
                        uri_regex_rewrite: None,
                    }),
                    timeout: Some(Duration::from_secs(15)),
                    retries: Some(
                        HttpRetry::attempts(2)
                            .with_retry_on([
                                "503",
                                "connect-failure",
                                "refused-stream",
                                "unavailable",
                            ])
                            .with_per_try_timeout(Duration::from_millis(2500)),
                    ),
                    headers: Some(header_ops),
                },
                HttpRoute {
                    name: Some("regex-rewrite".into()),
                    matches: vec![HttpMatchRequest {
                        uri: Some(StringMatch::regex("^/legacy/(.*)$")),
                        ..Default::default()
                    }],
                    route: vec![HttpRouteDestination::to(
                        Destination::host(CART).with_subset("v1"),
                    )],
                    rewrite: Some(HttpRewrite {
                        uri_regex_rewrite: Some(RegexRewrite {
                            pattern: "^/legacy/(.*)$".into(),
                            rewrite: "/\\1".into(),
                        }),
                        ..Default::default()
                    }),
                    retries: Some(HttpRetry::disabled()),
                    ..Default::default()
                },
                HttpRoute {
                    name: Some("default".into()),
                    route: vec![HttpRouteDestination::to(
                        Destination::host(CART).with_subset("v1"),
                    )],
                    ..Default::default()
                },
            ],
            tcp: vec![TcpRoute {
                matches: vec![L4MatchAttributes {
                    destination_subnets: vec!["10.0.0.0/8".into()],
                    port: Some(9000),
                    source_labels: labels(&[("app", "batch")]),
                    gateways: vec!["mesh".into()],
                }],
                route: vec![RouteDestination::weighted(
                    Destination::host(CART).with_port(9000),
                    100,
                )],
            }],
            export_to: vec![".".into(), "istio-system".into()],
            ..Default::default()
        },
    )
}

fn destination_rule() -> DestinationRule {
    let outlier = OutlierDetection {
        consecutive_5xx_errors: Some(clamp_u32(5)),
        interval: Some(Duration::from_secs(10)),
        base_ejection_time: Some(Duration::from_secs(30)),
        max_ejection_percent: Some(50),
    };
    DestinationRule::new(
        meta("cart"),
        DestinationRuleSpec {
            host: CART.into(),
            traffic_policy: Some(TrafficPolicy {
                connection_pool: Some(connection_pool()),
                outlier_detection: Some(outlier.clone()),
                tls: Some(ClientTlsSettings {
                    mode: ClientTlsMode::IstioMutual,
                    ..Default::default()
                }),
                port_level_settings: vec![PortTrafficPolicy {
                    port: PortSelector { number: 9443 },
                    tls: Some(ClientTlsSettings {
                        mode: ClientTlsMode::Mutual,
                        client_certificate: Some("/etc/certs/cert.pem".into()),
                        private_key: Some("/etc/certs/key.pem".into()),
                        ca_certificates: Some("/etc/certs/ca.pem".into()),
                        subject_alt_names: vec!["cart.example.com".into()],
                        sni: Some("cart.example.com".into()),
                        ..Default::default()
                    }),
                    outlier_detection: Some(outlier),
                    ..Default::default()
                }],
            }),
            subsets: vec![
                Subset {
                    name: "v1".into(),
                    labels: labels(&[("version", "v1")]),
                    traffic_policy: None,
                },
                Subset {
                    name: "v2".into(),
                    labels: labels(&[("version", "v2"), ("app.kubernetes.io/name", "cart")]),
                    traffic_policy: Some(TrafficPolicy {
                        connection_pool: Some(ConnectionPoolSettings {
                            tcp: Some(TcpSettings {
                                max_connections: Some(10),
                                ..Default::default()
                            }),
                            http: None,
                        }),
                        ..Default::default()
                    }),
                },
            ],
            export_to: vec!["*".into()],
            workload_selector: None,
        },
    )
}

fn gateway() -> Gateway {
    Gateway::new(
        meta("ingress"),
        GatewaySpec {
            servers: vec![
                Server {
                    port: GatewayPort {
                        number: 80,
                        protocol: "HTTP".into(),
                        name: "http".into(),
                    },
                    hosts: vec!["./*.example.com".into()],
                    tls: Some(ServerTlsSettings {
                        https_redirect: Some(true),
                        ..Default::default()
                    }),
                    name: Some("plain".into()),
                },
                Server {
                    port: GatewayPort {
                        number: 443,
                        protocol: "HTTPS".into(),
                        name: "https".into(),
                    },
                    hosts: vec!["shop/app.example.com".into()],
                    tls: Some(ServerTlsSettings {
                        mode: Some(ServerTlsMode::Simple),
                        credential_name: Some("app-example-com".into()),
                        subject_alt_names: vec!["client.example.com".into()],
                        ..Default::default()
                    }),
                    name: None,
                },
                Server {
                    port: GatewayPort {
                        number: 8443,
                        protocol: "HTTPS".into(),
                        name: "https-files".into(),
                    },
                    hosts: vec!["app.example.com".into()],
                    tls: Some(ServerTlsSettings {
                        mode: Some(ServerTlsMode::Mutual),
                        server_certificate: Some("/etc/certs/cert.pem".into()),
                        private_key: Some("/etc/certs/key.pem".into()),
                        ca_certificates: Some("/etc/certs/ca.pem".into()),
                        ..Default::default()
                    }),
                    name: None,
                },
            ],
            selector: labels(&[("istio", "ingressgateway")]),
        },
    )
}

fn gateway_route() -> VirtualService {
    VirtualService::new(
        meta("app-route"),
        VirtualServiceSpec {
            hosts: vec!["app.example.com".into()],
            gateways: vec![format!("{NS}/ingress")],
            http: vec![HttpRoute {
                matches: vec![HttpMatchRequest {
                    uri: Some(StringMatch::prefix("/")),
                    ..Default::default()
                }],
                route: vec![HttpRouteDestination::to(
                    Destination::host(CART).with_port(8080),
                )],
                rewrite: Some(HttpRewrite {
                    authority: Some(CART.into()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        },
    )
}

fn service_entry() -> ServiceEntry {
    ServiceEntry::new(
        meta("payments-api"),
        ServiceEntrySpec {
            hosts: vec!["api.payments.example.com".into()],
            addresses: vec!["192.0.2.10".into()],
            ports: vec![
                ServicePort {
                    number: 443,
                    protocol: Some("TLS".into()),
                    name: "tls".into(),
                    target_port: Some(8443),
                },
                ServicePort {
                    number: 80,
                    protocol: Some("HTTP".into()),
                    name: "http".into(),
                    target_port: None,
                },
            ],
            location: Some(Location::MeshExternal),
            resolution: Some(Resolution::Dns),
            endpoints: vec![WorkloadEntry {
                address: "lb.payments.example.com".into(),
                ports: BTreeMap::from([("tls".into(), 8443)]),
                labels: labels(&[("zone", "a")]),
            }],
            workload_selector: None,
            export_to: vec![".".into()],
        },
    )
}

fn sidecar() -> Sidecar {
    Sidecar::new(
        meta("cart"),
        SidecarSpec {
            workload_selector: Some(WorkloadLabels::new(labels(&[("app", "cart")]))),
            ingress: vec![IngressListener {
                port: SidecarPort {
                    number: 8080,
                    protocol: Some("HTTP".into()),
                    name: Some("http".into()),
                },
                default_endpoint: Some("127.0.0.1:8080".into()),
                connection_pool: Some(connection_pool()),
            }],
            egress: vec![
                EgressListener {
                    port: Some(SidecarPort {
                        number: 9000,
                        protocol: Some("TCP".into()),
                        name: Some("tcp".into()),
                    }),
                    hosts: vec!["./cart.shop.svc.cluster.local".into()],
                },
                EgressListener {
                    port: None,
                    hosts: vec![
                        "./payments.shop.svc.cluster.local".into(),
                        "istio-system/*".into(),
                    ],
                },
            ],
            inbound_connection_pool: Some(ConnectionPoolSettings {
                tcp: None,
                http: Some(HttpSettings {
                    idle_timeout: Some(Duration::from_secs(300)),
                    ..Default::default()
                }),
            }),
            outbound_traffic_policy: Some(OutboundTrafficPolicy {
                mode: OutboundTrafficMode::RegistryOnly,
            }),
        },
    )
}

fn peer_authentication() -> PeerAuthentication {
    PeerAuthentication::new(
        meta("cart"),
        PeerAuthenticationSpec {
            selector: Some(WorkloadSelector::new(labels(&[("app", "cart")]))),
            mtls: Some(Mtls::new(MtlsMode::Strict)),
            port_level_mtls: BTreeMap::from([(9090, Mtls::new(MtlsMode::Permissive))]),
        },
    )
}

fn authorization_policy() -> AuthorizationPolicy {
    AuthorizationPolicy::new(
        meta("cart"),
        AuthorizationPolicySpec {
            selector: Some(WorkloadSelector::new(labels(&[("app", "cart")]))),
            rules: vec![Rule {
                from: vec![RuleFrom {
                    source: Source {
                        principals: vec!["cluster.local/ns/shop/sa/web".into()],
                        namespaces: vec!["shop".into()],
                        ip_blocks: vec!["10.0.0.0/8".into()],
                        not_ip_blocks: vec!["10.1.0.0/16".into()],
                        ..Default::default()
                    },
                }],
                to: vec![RuleTo {
                    operation: Operation {
                        hosts: vec![CART.into()],
                        ports: vec!["8080".into()],
                        methods: vec!["GET".into(), "POST".into()],
                        paths: vec!["/api/{*}/items/{**}".into()],
                        not_paths: vec!["/admin".into()],
                        ..Default::default()
                    },
                }],
                when: vec![Condition {
                    key: "request.headers[x-tenant]".into(),
                    values: vec!["acme".into()],
                    not_values: vec![],
                }],
            }],
            action: Some(AuthorizationAction::Allow),
            provider: None,
        },
    )
}

fn telemetry() -> Telemetry {
    Telemetry::new(
        meta("cart-logs"),
        TelemetrySpec {
            selector: Some(WorkloadSelector::new(labels(&[("app", "cart")]))),
            access_logging: vec![AccessLogging {
                match_mode: Some(AccessLogMatch {
                    mode: WorkloadMode::Server,
                }),
                filter: Some(AccessLogFilter {
                    expression: "response.code >= 400".into(),
                }),
                disabled: Some(false),
                ..AccessLogging::to_providers(["envoy", "cart-json"])
            }],
            tracing: vec![Tracing {
                providers: vec![ProviderRef {
                    name: "cart-zipkin".into(),
                }],
                random_sampling_percentage: serde_json::Number::from_f64(2.5),
            }],
        },
    )
}

fn istio_operator() -> IstioOperator {
    IstioOperator::new(
        Metadata::new("appmesh2istio", "istio-system").managed(),
        IstioOperatorSpec {
            profile: Some("default".into()),
            revision: None,
            mesh_config: Some(MeshConfig {
                access_log_file: Some("/dev/stdout".into()),
                access_log_format: Some("[%START_TIME%] %REQ(:METHOD)% %RESPONSE_CODE%\n".into()),
                access_log_encoding: Some(AccessLogEncoding::Text),
                default_config: Some(ProxyConfig {
                    proxy_metadata: labels(&[("ISTIO_META_DNS_CAPTURE", "true")]),
                    hold_application_until_proxy_starts: Some(true),
                }),
                outbound_traffic_policy: Some(OutboundTrafficPolicy {
                    mode: OutboundTrafficMode::AllowAny,
                }),
                enable_auto_mtls: Some(true),
                trust_domain: Some("cluster.local".into()),
                extension_providers: vec![
                    ExtensionProvider {
                        name: "cart-json".into(),
                        envoy_file_access_log: Some(EnvoyFileAccessLogProvider {
                            path: "/dev/stdout".into(),
                            log_format: Some(LogFormat::Labels(labels(&[(
                                "code",
                                "%RESPONSE_CODE%",
                            )]))),
                        }),
                        ..ExtensionProvider::default()
                    },
                    ExtensionProvider {
                        name: "cart-zipkin".into(),
                        zipkin: Some(TracingService {
                            service: "zipkin.tracing.svc.cluster.local".into(),
                            port: 9411,
                        }),
                        ..ExtensionProvider::default()
                    },
                ],
                default_providers: Some(DefaultProviders {
                    access_logging: vec!["envoy".into()],
                }),
                default_http_retry_policy: Some(
                    HttpRetry::attempts(2).with_retry_on(["503", "connect-failure"]),
                ),
            }),
            components: Some(Components {
                ingress_gateways: vec![GatewayComponent {
                    name: "istio-ingressgateway".into(),
                    enabled: Some(true),
                    namespace: Some("istio-system".into()),
                    label: labels(&[("istio", "ingressgateway")]),
                    k8s: Some(KubernetesResources {
                        service: Some(ServiceSpec {
                            ports: vec![KubernetesServicePort {
                                name: "http2".into(),
                                port: 80,
                                target_port: Some(8080),
                                protocol: Some("TCP".into()),
                            }],
                        }),
                    }),
                }],
            }),
        },
    )
}

fn all_objects() -> Vec<IstioObject> {
    vec![
        virtual_service().into(),
        gateway_route().into(),
        destination_rule().into(),
        gateway().into(),
        service_entry().into(),
        sidecar().into(),
        peer_authentication().into(),
        authorization_policy().into(),
        telemetry().into(),
        istio_operator().into(),
    ]
}

#[test]
fn every_model_kind_passes_our_validator() {
    let objects = all_objects();
    let violations = validate_all(&objects);
    assert!(
        violations.is_empty(),
        "{}",
        violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn every_model_kind_passes_the_istio_crd_schemas() {
    let Some(schemas) = istio_schema() else {
        return;
    };
    let mut kinds = Vec::new();
    for obj in all_objects() {
        let json = serde_json::to_value(&obj).unwrap();
        if let Err(errors) = schemas.validate(&json) {
            panic!(
                "{} fails the CRD schema:\n{}\n{json:#}",
                obj.object_ref(),
                errors.join("\n")
            );
        }
        kinds.push(obj.kind());
    }
    assert_eq!(kinds.len(), 10);
}

#[test]
fn bundle_has_the_kinds_and_versions_we_emit() {
    let Some(schemas) = istio_schema() else {
        return;
    };
    for (api, kind) in [
        ("networking.istio.io/v1", "VirtualService"),
        ("networking.istio.io/v1", "DestinationRule"),
        ("networking.istio.io/v1", "Gateway"),
        ("networking.istio.io/v1", "ServiceEntry"),
        ("networking.istio.io/v1", "Sidecar"),
        ("security.istio.io/v1", "PeerAuthentication"),
        ("security.istio.io/v1", "AuthorizationPolicy"),
        ("telemetry.istio.io/v1", "Telemetry"),
    ] {
        assert!(
            schemas.schema(api, kind).is_some(),
            "no schema for {api} {kind}"
        );
    }
    assert!(
        schemas
            .schema("networking.istio.io/v1beta1", "VirtualService")
            .is_some()
    );
    assert!(
        schemas
            .schema("install.istio.io/v1alpha1", "IstioOperator")
            .is_none()
    );
    assert!(schemas.len() > 20, "only {} schemas", schemas.len());
}

/// Serialises `obj`, applies `edit` to the JSON, and returns the schema errors.
fn errors_after(obj: impl Into<IstioObject>, edit: impl FnOnce(&mut Value)) -> Option<Vec<String>> {
    let schemas = istio_schema()?;
    let mut json = serde_json::to_value(obj.into()).unwrap();
    edit(&mut json);
    Some(schemas.validate(&json).err().unwrap_or_default())
}

fn assert_single_error(errors: Option<Vec<String>>, path: &str, contains: &str) {
    let Some(errors) = errors else { return };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(&format!("{path}: ")) && errors[0].contains(contains),
        "expected {path}: …{contains}…, got {errors:?}"
    );
}

#[test]
fn unknown_fields_are_rejected_with_their_path() {
    assert_single_error(
        errors_after(virtual_service(), |j| {
            j["spec"]["http"][0]["retries"]["perTryTimout"] = json!("1s")
        }),
        "spec.http[0].retries.perTryTimout",
        "unknown field",
    );
    assert_single_error(
        errors_after(gateway(), |j| j["spec"]["extra"] = json!(true)),
        "spec.extra",
        "unknown field",
    );
    assert_single_error(
        errors_after(sidecar(), |j| j["specs"] = json!({})),
        "specs",
        "unknown field",
    );
    assert_single_error(
        errors_after(telemetry(), |j| j["metadata"]["lables"] = json!({})),
        "metadata.lables",
        "unknown field",
    );
}

#[test]
fn wrong_enums_are_rejected() {
    assert_single_error(
        errors_after(destination_rule(), |j| {
            j["spec"]["trafficPolicy"]["tls"]["mode"] = json!("STRICT")
        }),
        "spec.trafficPolicy.tls.mode",
        "unsupported value",
    );
    assert_single_error(
        errors_after(service_entry(), |j| j["spec"]["resolution"] = json!("dns")),
        "spec.resolution",
        "unsupported value",
    );
}

#[test]
fn wrong_types_are_rejected() {
    assert_single_error(
        errors_after(gateway(), |j| {
            j["spec"]["servers"][0]["port"]["number"] = json!("80")
        }),
        "spec.servers[0].port.number",
        "expected integer, got string",
    );
    assert_single_error(
        errors_after(virtual_service(), |j| j["spec"]["hosts"] = json!(CART)),
        "spec.hosts",
        "expected array",
    );
    assert_single_error(
        errors_after(peer_authentication(), |j| j["spec"]["mtls"] = json!(null)),
        "spec.mtls",
        "null is not allowed",
    );
}

#[test]
fn required_fields_bounds_oneof_and_cel_are_enforced() {
    assert_single_error(
        errors_after(gateway(), |j| {
            j["spec"]["servers"][0]["port"]
                .as_object_mut()
                .unwrap()
                .remove("name");
        }),
        "spec.servers[0].port.name",
        "required",
    );
    assert_single_error(
        errors_after(gateway(), |j| {
            j["spec"]["servers"][0]["port"]["number"] = json!(-1)
        }),
        "spec.servers[0].port.number",
        "below the minimum",
    );
    assert_single_error(
        errors_after(virtual_service(), |j| {
            j["spec"]["http"][0]["match"][0]["uri"] = json!({"exact": "/a", "prefix": "/b"})
        }),
        "spec.http[0].match[0].uri",
        "oneOf",
    );
    assert_single_error(
        errors_after(virtual_service(), |j| {
            j["spec"]["http"][0]["timeout"] = json!("0s")
        }),
        "spec.http[0].timeout",
        "greater than 1ms",
    );
    assert_single_error(
        errors_after(peer_authentication(), |j| {
            j["spec"]["selector"]["matchLabels"] = json!({"app": "car*"})
        }),
        "spec.selector.matchLabels[app]",
        "wildcard",
    );
    assert_single_error(
        errors_after(service_entry(), |j| {
            j["spec"]["ports"][1]["name"] = json!("tls")
        }),
        "spec.ports[1]",
        "duplicate entry",
    );
    assert_single_error(
        errors_after(service_entry(), |j| {
            j["spec"]["ports"][1]["number"] = json!(443)
        }),
        "spec.ports",
        "port number cannot be duplicated",
    );
}

#[test]
fn istio_operator_is_skipped_with_a_notice() {
    let Some(schemas) = istio_schema() else {
        return;
    };
    let mut json = serde_json::to_value(IstioObject::from(istio_operator())).unwrap();
    json["spec"]["notAField"] = json!(1);
    assert_eq!(
        schemas.validate(&json),
        Ok(()),
        "IstioOperator has no CRD in the bundle"
    );
    let unknown =
        json!({"apiVersion": "networking.istio.io/v1", "kind": "Nope", "metadata": {"name": "x"}});
    assert!(schemas.validate(&unknown).is_err());
}

#[test]
fn checker_handles_int_or_string_and_nullable() {
    let schema = json!({"type": "object", "properties": {
        "port": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true},
        "flag": {"type": "boolean", "nullable": true},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"a": {"type": "string"}}}
    }});
    assert!(
        validate_value(
            &schema,
            &json!({"port": 80, "flag": null, "free": {"b": 1}})
        )
        .is_empty()
    );
    assert!(validate_value(&schema, &json!({"port": "http"})).is_empty());
    assert_eq!(
        validate_value(&schema, &json!({"port": 1.5})),
        ["port: expected integer or string, got number"]
    );
    assert_eq!(
        validate_value(&schema, &json!({"other": 1})),
        ["other: unknown field"]
    );
}

#[test]
fn cel_duration_parser_matches_go() {
    assert_eq!(go_duration_nanos("1ms"), Some(1_000_000));
    assert_eq!(go_duration_nanos("1m30s"), Some(90_000_000_000));
    assert_eq!(go_duration_nanos("0"), Some(0));
    assert_eq!(go_duration_nanos("1.5s"), Some(1_500_000_000));
    assert_eq!(go_duration_nanos("10"), None);
    assert_eq!(go_duration_nanos("1d"), None);
}
