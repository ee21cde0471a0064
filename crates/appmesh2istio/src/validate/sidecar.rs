//! Sidecar rules: istio-validation.md §5 (SC-1..SC-4, SC-6; SC-5's egressProxy is not
//! modelled and `outboundTrafficPolicy.mode` is an enum in our model).

use std::collections::BTreeSet;

use super::Checker;
use super::primitives::{is_dns1123_label, is_http_protocol, namespace_slash_host, port, protocol};
use super::selector::selector_labels;
use super::traffic_policy::connection_pool;
use crate::istio::{EgressListener, IngressListener, Sidecar, SidecarPort, SidecarSpec};

pub(super) fn check(c: &mut Checker, sc: &Sidecar) {
    let spec = &sc.spec;
    if let Some(sel) = &spec.workload_selector {
        selector_labels(c, "SC-1", "spec.workloadSelector.labels", &sel.labels);
    }
    not_empty(c, spec);
    ingress(c, &spec.ingress);
    egress(c, &spec.egress);
    if let Some(cp) = &spec.inbound_connection_pool {
        connection_pool(c, "SC-6", "spec.inboundConnectionPool", cp);
    }
}

/// SC-2: a Sidecar must configure something.
fn not_empty(c: &mut Checker, spec: &SidecarSpec) {
    if spec.ingress.is_empty()
        && spec.egress.is_empty()
        && spec.outbound_traffic_policy.is_none()
        && spec.inbound_connection_pool.is_none()
    {
        c.error("SC-2", "spec", "sidecar: empty configuration provided (set egress, ingress, outboundTrafficPolicy or inboundConnectionPool)");
    }
}

fn sidecar_port(c: &mut Checker, rule: &'static str, field: &str, p: &SidecarPort) {
    if let Some(name) = &p.name
        && !is_dns1123_label(name)
    {
        c.error(
            rule,
            format!("{field}.name"),
            format!("port name {name:?} must be a DNS-1123 label"),
        );
    }
    if let Some(proto) = p.protocol.as_deref().filter(|p| !p.is_empty()) {
        c.check(rule, format!("{field}.protocol"), protocol(proto));
    }
    c.check(rule, format!("{field}.number"), port(p.number));
}

/// `defaultEndpoint`: a loopback/any address with a port, or a unix socket path.
fn default_endpoint(value: &str) -> Result<(), String> {
    if let Some(path) = value.strip_prefix("unix://") {
        return if path.starts_with('/') {
            Ok(())
        } else {
            Err(format!(
                "defaultEndpoint {value:?}: unix socket path must be absolute"
            ))
        };
    }
    let port_text = ["127.0.0.1:", "0.0.0.0:", "[::1]:", "[::]:", ":"]
        .iter()
        .find_map(|prefix| value.strip_prefix(prefix));
    match port_text.and_then(|p| p.parse::<u32>().ok()) {
        Some(n) if (1..=65535).contains(&n) => Ok(()),
        _ => Err(format!(
            "defaultEndpoint {value:?} must be 127.0.0.1:<port>, 0.0.0.0:<port>, [::1]:<port>, [::]:<port>, :<port> or unix:///path"
        )),
    }
}

/// SC-3: ingress listeners: valid, unique ports; defaultEndpoint shape; pools per DR-5.
fn ingress(c: &mut Checker, listeners: &[IngressListener]) {
    let mut numbers = BTreeSet::new();
    for (i, l) in listeners.iter().enumerate() {
        let f = format!("spec.ingress[{i}]");
        sidecar_port(c, "SC-3", &format!("{f}.port"), &l.port);
        if !numbers.insert(l.port.number) {
            c.error(
                "SC-3",
                format!("{f}.port.number"),
                format!("port {} is used by another ingress listener", l.port.number),
            );
        }
        if let Some(ep) = &l.default_endpoint {
            c.check("SC-3", format!("{f}.defaultEndpoint"), default_endpoint(ep));
        }
        if let Some(cp) = &l.connection_pool {
            connection_pool(c, "SC-3", &format!("{f}.connectionPool"), cp);
            let http_port = l.port.protocol.as_deref().is_some_and(is_http_protocol);
            if cp.http.is_some() && !http_port {
                c.warn(
                    "SC-3",
                    format!("{f}.connectionPool.http"),
                    "HTTP connection pool settings on a non-HTTP port are ignored",
                );
            }
        }
    }
}

/// SC-4: egress listeners: one port-less listener at most, and last; unique ports; hosts
/// `namespace/dnsName` with a dotted dnsName.
fn egress(c: &mut Checker, listeners: &[EgressListener]) {
    let mut numbers = BTreeSet::new();
    let last = listeners.len().saturating_sub(1);
    let mut portless = 0;
    for (i, l) in listeners.iter().enumerate() {
        let f = format!("spec.egress[{i}]");
        match &l.port {
            None => {
                portless += 1;
                if portless > 1 {
                    c.error(
                        "SC-4",
                        f.clone(),
                        "at most one egress listener may omit the port",
                    );
                } else if i != last {
                    c.error(
                        "SC-4",
                        f.clone(),
                        "the egress listener without a port must be the last one",
                    );
                }
            }
            Some(p) => {
                sidecar_port(c, "SC-4", &format!("{f}.port"), p);
                if !numbers.insert(p.number) {
                    c.error(
                        "SC-4",
                        format!("{f}.port.number"),
                        format!("port {} is used by another egress listener", p.number),
                    );
                }
            }
        }
        if l.hosts.is_empty() {
            c.error(
                "SC-4",
                format!("{f}.hosts"),
                "an egress listener needs at least one host",
            );
        }
        let mut seen = BTreeSet::new();
        for (j, h) in l.hosts.iter().enumerate() {
            let hf = format!("{f}.hosts[{j}]");
            c.check("SC-4", hf.clone(), namespace_slash_host(h, false));
            if !seen.insert(h.as_str()) {
                c.warn("SC-4", hf, format!("duplicate host {h:?}"));
            }
        }
        if l.hosts.len() > 1 && l.hosts.iter().any(|h| h == "*/*") {
            c.warn(
                "SC-4",
                format!("{f}.hosts"),
                "\"*/*\" already imports everything; the other hosts are redundant",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::{
        ConnectionPoolSettings, HttpSettings, Metadata, OutboundTrafficMode, OutboundTrafficPolicy,
        WorkloadLabels,
    };
    use crate::validate::testing::{errors, labels, one, run, warnings};

    fn eg(port: Option<u32>, hosts: &[&str]) -> EgressListener {
        EgressListener {
            port: port.map(|number| SidecarPort {
                number,
                protocol: Some("HTTP".into()),
                name: Some("http".into()),
            }),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
        }
    }

    fn ing(number: u32, protocol: &str) -> IngressListener {
        IngressListener {
            port: SidecarPort {
                number,
                protocol: Some(protocol.into()),
                name: None,
            },
            default_endpoint: Some(format!("127.0.0.1:{number}")),
            connection_pool: None,
        }
    }

    #[test]
    fn sc1_selector() {
        let sc = Sidecar::new(
            Metadata::new("cart", "shop"),
            SidecarSpec {
                workload_selector: Some(WorkloadLabels::new(labels(&[("app", "*")]))),
                outbound_traffic_policy: Some(OutboundTrafficPolicy {
                    mode: OutboundTrafficMode::RegistryOnly,
                }),
                ..Default::default()
            },
        );
        assert_eq!(
            errors(|c| check(c, &sc)),
            one("SC-1", "spec.workloadSelector.labels[app]")
        );
    }

    #[test]
    fn sc2_not_empty() {
        let ok = SidecarSpec {
            egress: vec![eg(None, &["./a.shop.svc.cluster.local"])],
            ..Default::default()
        };
        assert!(errors(|c| not_empty(c, &ok)).is_empty());
        assert_eq!(
            errors(|c| not_empty(c, &SidecarSpec::default())),
            one("SC-2", "spec")
        );
    }

    #[test]
    fn sc3_ingress() {
        assert!(run(|c| ingress(c, &[ing(8080, "HTTP"), ing(9000, "TCP")])).is_empty());
        assert_eq!(
            errors(|c| ingress(c, &[ing(8080, "HTTP"), ing(8080, "TCP")])),
            one("SC-3", "spec.ingress[1].port.number")
        );
        let bad_ep = IngressListener {
            default_endpoint: Some("10.0.0.1:8080".into()),
            ..ing(8080, "HTTP")
        };
        assert_eq!(
            errors(|c| ingress(c, &[bad_ep])),
            one("SC-3", "spec.ingress[0].defaultEndpoint")
        );
        assert_eq!(
            errors(|c| ingress(c, &[ing(8080, "SPDY")])),
            one("SC-3", "spec.ingress[0].port.protocol")
        );
        let http_pool_on_tcp = IngressListener {
            connection_pool: Some(ConnectionPoolSettings {
                tcp: None,
                http: Some(HttpSettings {
                    http1_max_pending_requests: Some(10),
                    ..Default::default()
                }),
            }),
            ..ing(9000, "TCP")
        };
        assert_eq!(
            warnings(|c| ingress(c, &[http_pool_on_tcp])),
            one("SC-3", "spec.ingress[0].connectionPool.http")
        );
    }

    #[test]
    fn sc4_egress() {
        let ok = [
            eg(Some(8080), &["./a.shop.svc.cluster.local"]),
            eg(None, &["istio-system/*", "~/*"]),
        ];
        assert!(run(|c| egress(c, &ok)).is_empty());
        let portless_first = [eg(None, &["*/*"]), eg(Some(8080), &["*/*"])];
        assert_eq!(
            errors(|c| egress(c, &portless_first)),
            one("SC-4", "spec.egress[0]")
        );
        let two_portless = [eg(None, &["*/*"]), eg(None, &["*/*"])];
        assert_eq!(
            errors(|c| egress(c, &two_portless)),
            vec![
                ("SC-4", "spec.egress[0]".to_owned()),
                ("SC-4", "spec.egress[1]".to_owned())
            ]
        );
        assert_eq!(
            errors(|c| egress(c, &[eg(None, &["./reviews"])])),
            one("SC-4", "spec.egress[0].hosts[0]")
        );
        assert_eq!(
            errors(|c| egress(c, &[eg(None, &[])])),
            one("SC-4", "spec.egress[0].hosts")
        );
        assert_eq!(
            warnings(|c| egress(c, &[eg(None, &["*/*", "./a.b.svc.cluster.local"])])),
            one("SC-4", "spec.egress[0].hosts")
        );
    }

    #[test]
    fn sc6_inbound_pool() {
        let sc = Sidecar::new(
            Metadata::new("cart", "shop"),
            SidecarSpec {
                inbound_connection_pool: Some(ConnectionPoolSettings::default()),
                ..Default::default()
            },
        );
        assert_eq!(
            errors(|c| check(c, &sc)),
            one("SC-6", "spec.inboundConnectionPool")
        );
    }
}
