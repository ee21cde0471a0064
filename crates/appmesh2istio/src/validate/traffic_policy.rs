//! Traffic-policy blocks shared by DestinationRule and Sidecar: DR-2, DR-5, DR-6, DR-8, DR-9
//! and the IST0128/IST0129 analyzer warnings.

use super::Checker;
use super::primitives::{duration, port};
use crate::istio::{
    ClientTlsMode, ClientTlsSettings, ConnectionPoolSettings, OutlierDetection, TrafficPolicy,
};

/// DR-2 (and DR-9 for each port-level entry): a present `trafficPolicy` must not be empty.
pub(super) fn traffic_policy(
    c: &mut Checker,
    field: &str,
    tp: &TrafficPolicy,
    has_workload_selector: bool,
) {
    if tp.is_empty() {
        c.error("DR-2", field, "trafficPolicy must set at least one of connectionPool, outlierDetection, tls, portLevelSettings (an empty trafficPolicy is rejected)");
    }
    if let Some(cp) = &tp.connection_pool {
        connection_pool(c, "DR-5", &format!("{field}.connectionPool"), cp);
    }
    if let Some(od) = &tp.outlier_detection {
        outlier_detection(c, &format!("{field}.outlierDetection"), od);
    }
    if let Some(tls) = &tp.tls {
        client_tls(c, &format!("{field}.tls"), tls, has_workload_selector);
    }
    if tp.port_level_settings.len() > 4096 {
        c.error(
            "DR-9",
            format!("{field}.portLevelSettings"),
            "at most 4096 portLevelSettings are allowed",
        );
    }
    for (i, p) in tp.port_level_settings.iter().enumerate() {
        let pf = format!("{field}.portLevelSettings[{i}]");
        c.check("DR-9", format!("{pf}.port.number"), port(p.port.number));
        if p.connection_pool.is_none() && p.outlier_detection.is_none() && p.tls.is_none() {
            c.error("DR-9", pf.clone(), "port traffic policy must set at least one of connectionPool, outlierDetection, tls");
        }
        if let Some(cp) = &p.connection_pool {
            connection_pool(c, "DR-5", &format!("{pf}.connectionPool"), cp);
        }
        if let Some(od) = &p.outlier_detection {
            outlier_detection(c, &format!("{pf}.outlierDetection"), od);
        }
        if let Some(tls) = &p.tls {
            client_tls(c, &format!("{pf}.tls"), tls, has_workload_selector);
        }
    }
}

/// DR-5 (also SC-3/SC-6 for Sidecar pools): `http` or `tcp` set; counters ≥ 0; durations
/// ≥ 1 ms except `tcp.idleTimeout`, where `0s` means disabled.
pub(super) fn connection_pool(
    c: &mut Checker,
    rule: &'static str,
    field: &str,
    cp: &ConnectionPoolSettings,
) {
    if cp.tcp.is_none() && cp.http.is_none() {
        c.error(rule, field, "connectionPool must set http or tcp settings");
    }
    let non_negative = |c: &mut Checker, name: &str, v: Option<i32>| {
        if let Some(v) = v.filter(|v| *v < 0) {
            c.error(
                rule,
                format!("{field}.{name}"),
                format!("{v} must not be negative"),
            );
        }
    };
    if let Some(tcp) = &cp.tcp {
        non_negative(c, "tcp.maxConnections", tcp.max_connections);
        if let Some(d) = tcp.connect_timeout {
            c.check(
                rule,
                format!("{field}.tcp.connectTimeout"),
                duration(d, false),
            );
        }
        if let Some(d) = tcp.idle_timeout {
            c.check(rule, format!("{field}.tcp.idleTimeout"), duration(d, true));
        }
    }
    if let Some(http) = &cp.http {
        non_negative(
            c,
            "http.http1MaxPendingRequests",
            http.http1_max_pending_requests,
        );
        non_negative(c, "http.http2MaxRequests", http.http2_max_requests);
        non_negative(
            c,
            "http.maxRequestsPerConnection",
            http.max_requests_per_connection,
        );
        non_negative(c, "http.maxRetries", http.max_retries);
        if let Some(d) = http.idle_timeout {
            c.check(
                rule,
                format!("{field}.http.idleTimeout"),
                duration(d, false),
            );
        }
    }
}

/// DR-6: interval and baseEjectionTime ≥ 1 ms; maxEjectionPercent within 0..100.
pub(super) fn outlier_detection(c: &mut Checker, field: &str, od: &OutlierDetection) {
    if let Some(d) = od.interval {
        c.check("DR-6", format!("{field}.interval"), duration(d, false));
    }
    if let Some(d) = od.base_ejection_time {
        c.check(
            "DR-6",
            format!("{field}.baseEjectionTime"),
            duration(d, false),
        );
    }
    if let Some(p) = od.max_ejection_percent.filter(|p| !(0..=100).contains(p)) {
        c.error(
            "DR-6",
            format!("{field}.maxEjectionPercent"),
            format!("{p} must be within 0..100"),
        );
    }
}

/// DR-8: client TLS field combinations per mode; IST0128/IST0129 warn about SIMPLE/MUTUAL
/// without a CA (the server certificate is then not verified).
pub(super) fn client_tls(
    c: &mut Checker,
    field: &str,
    tls: &ClientTlsSettings,
    has_workload_selector: bool,
) {
    let files = tls.client_certificate.is_some()
        || tls.private_key.is_some()
        || tls.ca_certificates.is_some();
    match tls.mode {
        ClientTlsMode::Simple | ClientTlsMode::Mutual if tls.credential_name.is_some() => {
            if files {
                c.error("DR-8", field, "with credentialName, clientCertificate, privateKey and caCertificates must not be set (the secret provides them)");
            }
        }
        ClientTlsMode::Mutual => {
            if tls.client_certificate.is_none() || tls.private_key.is_none() {
                c.error(
                    "DR-8",
                    field,
                    "MUTUAL TLS without credentialName requires clientCertificate and privateKey",
                );
            }
        }
        ClientTlsMode::IstioMutual | ClientTlsMode::Disable => {
            if files || tls.credential_name.is_some() || !tls.subject_alt_names.is_empty() {
                c.warn(
                    "DR-8",
                    field,
                    format!(
                        "certificate fields are ignored with mode {}; do not emit them",
                        mode_name(tls.mode)
                    ),
                );
            }
        }
        ClientTlsMode::Simple => {}
    }
    let verifies =
        tls.ca_certificates.is_some() || (tls.credential_name.is_some() && has_workload_selector);
    match tls.mode {
        ClientTlsMode::Simple if !verifies => c.warn(
            "IST0128",
            field,
            "SIMPLE TLS without caCertificates does not verify the server certificate",
        ),
        ClientTlsMode::Mutual if !verifies => c.warn(
            "IST0129",
            field,
            "MUTUAL TLS without caCertificates does not verify the server certificate",
        ),
        _ => {}
    }
}

fn mode_name(mode: ClientTlsMode) -> &'static str {
    match mode {
        ClientTlsMode::Disable => "DISABLE",
        ClientTlsMode::Simple => "SIMPLE",
        ClientTlsMode::Mutual => "MUTUAL",
        ClientTlsMode::IstioMutual => "ISTIO_MUTUAL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::{Duration, HttpSettings, PortSelector, PortTrafficPolicy, TcpSettings};
    use crate::validate::testing::{errors, one, warnings};

    fn pool_tcp(tcp: TcpSettings) -> ConnectionPoolSettings {
        ConnectionPoolSettings {
            tcp: Some(tcp),
            http: None,
        }
    }

    #[test]
    fn dr2_traffic_policy_not_empty() {
        let tp = TrafficPolicy {
            tls: Some(ClientTlsSettings {
                mode: ClientTlsMode::IstioMutual,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(errors(|c| traffic_policy(c, "spec.trafficPolicy", &tp, false)).is_empty());
        assert_eq!(
            errors(|c| traffic_policy(c, "spec.trafficPolicy", &TrafficPolicy::default(), false)),
            one("DR-2", "spec.trafficPolicy")
        );
    }

    #[test]
    fn dr5_pool_needs_http_or_tcp() {
        let ok = pool_tcp(TcpSettings {
            max_connections: Some(10),
            ..Default::default()
        });
        assert!(errors(|c| connection_pool(c, "DR-5", "p", &ok)).is_empty());
        assert_eq!(
            errors(|c| connection_pool(c, "DR-5", "p", &ConnectionPoolSettings::default())),
            one("DR-5", "p")
        );
    }

    #[test]
    fn dr5_durations_and_counters() {
        let zero_idle_ok = pool_tcp(TcpSettings {
            idle_timeout: Some(Duration::ZERO),
            ..Default::default()
        });
        assert!(errors(|c| connection_pool(c, "DR-5", "p", &zero_idle_ok)).is_empty());
        let zero_connect = pool_tcp(TcpSettings {
            connect_timeout: Some(Duration::ZERO),
            ..Default::default()
        });
        assert_eq!(
            errors(|c| connection_pool(c, "DR-5", "p", &zero_connect)),
            one("DR-5", "p.tcp.connectTimeout")
        );
        let http = ConnectionPoolSettings {
            tcp: None,
            http: Some(HttpSettings {
                idle_timeout: Some(Duration::ZERO),
                max_retries: Some(-1),
                ..Default::default()
            }),
        };
        assert_eq!(
            errors(|c| connection_pool(c, "SC-6", "p", &http)),
            vec![
                ("SC-6", "p.http.maxRetries".to_owned()),
                ("SC-6", "p.http.idleTimeout".to_owned())
            ]
        );
    }

    #[test]
    fn dr6_outlier_detection() {
        let ok = OutlierDetection {
            consecutive_5xx_errors: Some(5),
            interval: Some(Duration::from_secs(10)),
            base_ejection_time: Some(Duration::from_secs(30)),
            max_ejection_percent: Some(100),
        };
        assert!(errors(|c| outlier_detection(c, "o", &ok)).is_empty());
        let bad = OutlierDetection {
            interval: Some(Duration::ZERO),
            max_ejection_percent: Some(101),
            ..ok
        };
        assert_eq!(
            errors(|c| outlier_detection(c, "o", &bad)),
            vec![
                ("DR-6", "o.interval".to_owned()),
                ("DR-6", "o.maxEjectionPercent".to_owned())
            ]
        );
    }

    #[test]
    fn dr8_client_tls_modes() {
        let mutual_files = ClientTlsSettings {
            mode: ClientTlsMode::Mutual,
            client_certificate: Some("/certs/cert.pem".into()),
            private_key: Some("/certs/key.pem".into()),
            ca_certificates: Some("/certs/ca.pem".into()),
            ..Default::default()
        };
        assert!(errors(|c| client_tls(c, "t", &mutual_files, false)).is_empty());
        let mutual_missing = ClientTlsSettings {
            client_certificate: None,
            ..mutual_files.clone()
        };
        assert_eq!(
            errors(|c| client_tls(c, "t", &mutual_missing, false)),
            one("DR-8", "t")
        );
        let both = ClientTlsSettings {
            credential_name: Some("secret".into()),
            ..mutual_files
        };
        assert_eq!(
            errors(|c| client_tls(c, "t", &both, false)),
            one("DR-8", "t")
        );
    }

    #[test]
    fn ist0128_simple_without_ca() {
        let with_ca = ClientTlsSettings {
            mode: ClientTlsMode::Simple,
            ca_certificates: Some("/ca.pem".into()),
            ..Default::default()
        };
        assert!(warnings(|c| client_tls(c, "t", &with_ca, false)).is_empty());
        let no_ca = ClientTlsSettings {
            mode: ClientTlsMode::Simple,
            ..Default::default()
        };
        assert_eq!(
            warnings(|c| client_tls(c, "t", &no_ca, false)),
            one("IST0128", "t")
        );
    }

    #[test]
    fn dr9_port_level_settings() {
        let ok = TrafficPolicy {
            port_level_settings: vec![PortTrafficPolicy {
                port: PortSelector { number: 8080 },
                connection_pool: Some(pool_tcp(TcpSettings {
                    max_connections: Some(1),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(errors(|c| traffic_policy(c, "tp", &ok, false)).is_empty());
        let bad = TrafficPolicy {
            port_level_settings: vec![PortTrafficPolicy {
                port: PortSelector { number: 0 },
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            errors(|c| traffic_policy(c, "tp", &bad, false)),
            vec![
                ("DR-9", "tp.portLevelSettings[0].port.number".to_owned()),
                ("DR-9", "tp.portLevelSettings[0]".to_owned())
            ]
        );
    }
}
