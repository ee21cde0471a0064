//! ServiceEntry rules: istio-validation.md §4 (SE-1..SE-7; the IST0134 "addresses
//! required" analyzer depends on proxy DNS auto-allocation and is not checked).

use std::collections::BTreeSet;

use super::Checker;
use super::primitives::{
    export_to, fqdn, ip_or_cidr, is_cidr, is_dns1123_label, is_http_protocol, is_ip,
    is_tls_protocol, label_map, no_partial_wildcard, port, protocol, wildcard_domain,
};
use super::selector::selector_labels;
use crate::istio::{Resolution, ServiceEntry, ServiceEntrySpec};

pub(super) fn check(c: &mut Checker, se: &ServiceEntry) {
    let spec = &se.spec;
    hosts(c, spec);
    selector_xor_endpoints(c, spec);
    addresses(c, spec);
    ports(c, spec);
    endpoints(c, spec);
    multi_host_protocols(c, spec);
    c.check(
        "SE-7",
        "spec.exportTo",
        export_to(&spec.export_to, se.metadata.namespace.as_deref(), true),
    );
}

fn resolution(spec: &ServiceEntrySpec) -> Resolution {
    spec.resolution.unwrap_or(Resolution::None)
}

/// SE-1: ≥1 host, not `*`, (wildcard) domain names; partial wildcards only for DYNAMIC_DNS.
fn hosts(c: &mut Checker, spec: &ServiceEntrySpec) {
    if spec.hosts.is_empty() {
        c.error(
            "SE-1",
            "spec.hosts",
            "a ServiceEntry needs at least one host",
        );
    }
    if spec.hosts.len() > 256 {
        c.error("SE-1", "spec.hosts", "at most 256 hosts are allowed");
    }
    for (i, h) in spec.hosts.iter().enumerate() {
        let f = format!("spec.hosts[{i}]");
        if h == "*" {
            c.error("SE-1", f, "host \"*\" is not allowed in a ServiceEntry");
            continue;
        }
        c.check("SE-1", f.clone(), wildcard_domain(h));
        if resolution(spec) != Resolution::DynamicDns
            && let Err(e) = no_partial_wildcard(h)
        {
            c.warn("SE-1", f, e);
        }
    }
}

/// SE-2: workloadSelector labels; workloadSelector and endpoints are mutually exclusive.
fn selector_xor_endpoints(c: &mut Checker, spec: &ServiceEntrySpec) {
    let Some(sel) = &spec.workload_selector else {
        return;
    };
    selector_labels(c, "SE-2", "spec.workloadSelector.labels", &sel.labels);
    if !spec.endpoints.is_empty() {
        c.error(
            "SE-2",
            "spec.workloadSelector",
            "only one of workloadSelector or endpoints can be set",
        );
    }
}

/// SE-3: addresses are IPs or CIDRs; CIDRs only with resolution NONE or STATIC.
fn addresses(c: &mut Checker, spec: &ServiceEntrySpec) {
    if spec.addresses.len() > 256 {
        c.error(
            "SE-3",
            "spec.addresses",
            "at most 256 addresses are allowed",
        );
    }
    let cidr_ok = matches!(resolution(spec), Resolution::None | Resolution::Static);
    for (i, a) in spec.addresses.iter().enumerate() {
        let f = format!("spec.addresses[{i}]");
        c.check("SE-3", f.clone(), ip_or_cidr(a));
        if is_cidr(a) && !cidr_ok {
            c.error(
                "SE-3",
                f,
                "CIDR addresses are allowed only for NONE/STATIC resolution",
            );
        }
    }
}

/// SE-4: ports have unique names and numbers; names DNS labels; protocol known; numbers
/// and targetPorts within 1..65535.
fn ports(c: &mut Checker, spec: &ServiceEntrySpec) {
    let mut names = BTreeSet::new();
    let mut numbers = BTreeSet::new();
    for (i, p) in spec.ports.iter().enumerate() {
        let f = format!("spec.ports[{i}]");
        if !is_dns1123_label(&p.name) {
            c.error(
                "SE-4",
                format!("{f}.name"),
                format!("port name {:?} must be a DNS-1123 label", p.name),
            );
        } else if !names.insert(p.name.as_str()) {
            c.error(
                "SE-4",
                format!("{f}.name"),
                format!("duplicate port name {:?}", p.name),
            );
        }
        c.check("SE-4", format!("{f}.number"), port(p.number));
        if !numbers.insert(p.number) {
            c.error(
                "SE-4",
                format!("{f}.number"),
                format!("port number {} cannot be duplicated", p.number),
            );
        }
        if let Some(proto) = &p.protocol {
            c.check("SE-4", format!("{f}.protocol"), protocol(proto));
        }
        if let Some(t) = p.target_port {
            c.check("SE-4", format!("{f}.targetPort"), port(t));
        }
    }
}

/// SE-5: endpoint shape per resolution.
fn endpoints(c: &mut Checker, spec: &ServiceEntrySpec) {
    let res = resolution(spec);
    let port_names: BTreeSet<&str> = spec.ports.iter().map(|p| p.name.as_str()).collect();
    match res {
        Resolution::None if !spec.endpoints.is_empty() => {
            c.error(
                "SE-5",
                "spec.endpoints",
                "resolution NONE cannot have endpoints",
            );
        }
        Resolution::None if spec.workload_selector.is_some() => {
            c.warn(
                "SE-5",
                "spec.workloadSelector",
                "workloadSelector is ignored with resolution NONE",
            );
        }
        Resolution::DnsRoundRobin if spec.endpoints.len() > 1 => {
            c.error(
                "SE-5",
                "spec.endpoints",
                "DNS_ROUND_ROBIN resolution cannot have more than one endpoint",
            );
        }
        Resolution::Dns | Resolution::DnsRoundRobin if spec.endpoints.is_empty() => {
            for (i, h) in spec.hosts.iter().enumerate() {
                let name = h.strip_prefix("*.").unwrap_or(h);
                if !h.starts_with('*') || h.starts_with("*.") {
                    c.check("SE-5", format!("spec.hosts[{i}]"), fqdn(name));
                }
            }
        }
        Resolution::DynamicDns => {
            if !spec.endpoints.is_empty() || !spec.addresses.is_empty() {
                c.error(
                    "SE-5",
                    "spec",
                    "DYNAMIC_DNS resolution cannot have endpoints or addresses",
                );
            }
            for (i, h) in spec
                .hosts
                .iter()
                .enumerate()
                .filter(|(_, h)| !h.starts_with('*'))
            {
                c.error(
                    "SE-5",
                    format!("spec.hosts[{i}]"),
                    format!("DYNAMIC_DNS requires wildcard hosts, found {h:?}"),
                );
            }
            for (i, p) in spec.ports.iter().enumerate() {
                let ok = p.protocol.as_deref().is_some_and(|pr| {
                    matches!(
                        pr.to_ascii_lowercase().as_str(),
                        "http" | "tls" | "grpc" | "http2"
                    )
                });
                if !ok {
                    c.error(
                        "SE-5",
                        format!("spec.ports[{i}].protocol"),
                        "DYNAMIC_DNS supports only HTTP, TLS, GRPC and HTTP2 ports",
                    );
                }
            }
        }
        _ => {}
    }
    if spec.endpoints.len() > 4096 {
        c.error(
            "SE-5",
            "spec.endpoints",
            "at most 4096 endpoints are allowed",
        );
    }
    for (i, e) in spec.endpoints.iter().enumerate() {
        let f = format!("spec.endpoints[{i}]");
        let address = &e.address;
        if let Some(path) = address.strip_prefix("unix://") {
            if res != Resolution::Static {
                c.error(
                    "SE-5",
                    format!("{f}.address"),
                    "unix domain socket endpoints require STATIC resolution",
                );
            }
            if !(path.starts_with('/') || path.starts_with('@')) || path.ends_with('/') {
                c.error("SE-5", format!("{f}.address"), "unix domain socket must be an absolute path or abstract socket, not a directory");
            }
            if !e.ports.is_empty() {
                c.error(
                    "SE-5",
                    format!("{f}.ports"),
                    "unix domain socket endpoints may not include ports",
                );
            }
            if spec.ports.len() != 1 {
                c.error(
                    "SE-5",
                    "spec.ports",
                    "a unix domain socket endpoint needs exactly one service port",
                );
            }
        } else if res == Resolution::Static {
            if !is_ip(address) {
                c.error(
                    "SE-5",
                    format!("{f}.address"),
                    format!("STATIC resolution needs IP endpoints, found {address:?}"),
                );
            }
        } else if !is_ip(address)
            && let Err(e) = fqdn(address)
        {
            c.error("SE-5", format!("{f}.address"), e);
        }
        for (name, number) in &e.ports {
            let pf = format!("{f}.ports[{name}]");
            if !port_names.contains(name.as_str()) {
                c.error(
                    "SE-5",
                    pf.clone(),
                    format!("endpoint port {name:?} is not a port name of the ServiceEntry"),
                );
            }
            c.check("SE-5", pf, port(*number));
        }
        c.check("SE-5", format!("{f}.labels"), label_map(&e.labels));
    }
}

/// SE-6: with DNS/STATIC resolution, several hosts share the ports, which only works for
/// HTTP (host header) or TLS (SNI) ports.
fn multi_host_protocols(c: &mut Checker, spec: &ServiceEntrySpec) {
    if resolution(spec) == Resolution::None || spec.hosts.len() <= 1 {
        return;
    }
    for (i, p) in spec.ports.iter().enumerate() {
        let proto = p.protocol.as_deref().unwrap_or("");
        if !is_http_protocol(proto) && !is_tls_protocol(proto) {
            c.error(
                "SE-6",
                format!("spec.ports[{i}].protocol"),
                "multiple hosts provided with non-HTTP, non-TLS ports",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::{Location, Metadata, ServicePort, WorkloadEntry, WorkloadLabels};
    use crate::validate::testing::{errors, labels, one, run, warnings};
    use std::collections::BTreeMap;

    fn base() -> ServiceEntrySpec {
        ServiceEntrySpec {
            hosts: vec!["api.example.com".into()],
            ports: vec![ServicePort {
                number: 443,
                protocol: Some("TLS".into()),
                name: "tls".into(),
                target_port: None,
            }],
            location: Some(Location::MeshExternal),
            resolution: Some(Resolution::Dns),
            ..Default::default()
        }
    }

    #[test]
    fn se1_hosts() {
        assert!(run(|c| hosts(c, &base())).is_empty());
        assert_eq!(
            errors(|c| hosts(
                c,
                &ServiceEntrySpec {
                    hosts: vec!["*".into()],
                    ..base()
                }
            )),
            one("SE-1", "spec.hosts[0]")
        );
        assert_eq!(
            errors(|c| hosts(
                c,
                &ServiceEntrySpec {
                    hosts: vec![],
                    ..base()
                }
            )),
            one("SE-1", "spec.hosts")
        );
        assert_eq!(
            warnings(|c| hosts(
                c,
                &ServiceEntrySpec {
                    hosts: vec!["*api.example.com".into()],
                    ..base()
                }
            )),
            one("SE-1", "spec.hosts[0]")
        );
    }

    #[test]
    fn se2_selector_xor_endpoints() {
        let sel = ServiceEntrySpec {
            workload_selector: Some(WorkloadLabels::new(labels(&[("app", "vm")]))),
            ..base()
        };
        assert!(errors(|c| selector_xor_endpoints(c, &sel)).is_empty());
        let both = ServiceEntrySpec {
            endpoints: vec![WorkloadEntry {
                address: "10.0.0.1".into(),
                ..Default::default()
            }],
            ..sel
        };
        assert_eq!(
            errors(|c| selector_xor_endpoints(c, &both)),
            one("SE-2", "spec.workloadSelector")
        );
    }

    #[test]
    fn se3_addresses() {
        let ok = ServiceEntrySpec {
            addresses: vec!["10.0.0.0/24".into()],
            resolution: Some(Resolution::Static),
            ..base()
        };
        assert!(errors(|c| addresses(c, &ok)).is_empty());
        let cidr_dns = ServiceEntrySpec {
            addresses: vec!["10.0.0.0/24".into()],
            ..base()
        };
        assert_eq!(
            errors(|c| addresses(c, &cidr_dns)),
            one("SE-3", "spec.addresses[0]")
        );
        let bad = ServiceEntrySpec {
            addresses: vec!["example.com".into()],
            ..base()
        };
        assert_eq!(
            errors(|c| addresses(c, &bad)),
            one("SE-3", "spec.addresses[0]")
        );
    }

    #[test]
    fn se4_ports() {
        assert!(errors(|c| ports(c, &base())).is_empty());
        let mut dup = base();
        dup.ports.push(ServicePort {
            number: 443,
            protocol: Some("HTTPS".into()),
            name: "https".into(),
            target_port: Some(0),
        });
        assert_eq!(
            errors(|c| ports(c, &dup)),
            vec![
                ("SE-4", "spec.ports[1].number".to_owned()),
                ("SE-4", "spec.ports[1].targetPort".to_owned())
            ]
        );
        let mut bad_name = base();
        bad_name.ports[0].name = "tls.443".into();
        assert_eq!(
            errors(|c| ports(c, &bad_name)),
            one("SE-4", "spec.ports[0].name")
        );
    }

    #[test]
    fn se5_endpoints_per_resolution() {
        let stat = ServiceEntrySpec {
            resolution: Some(Resolution::Static),
            endpoints: vec![WorkloadEntry {
                address: "10.0.0.1".into(),
                ports: BTreeMap::from([("tls".into(), 8443)]),
                ..Default::default()
            }],
            ..base()
        };
        assert!(errors(|c| endpoints(c, &stat)).is_empty());
        let stat_dns_name = ServiceEntrySpec {
            endpoints: vec![WorkloadEntry {
                address: "a.example.com".into(),
                ..Default::default()
            }],
            ..stat.clone()
        };
        assert_eq!(
            errors(|c| endpoints(c, &stat_dns_name)),
            one("SE-5", "spec.endpoints[0].address")
        );
        let none = ServiceEntrySpec {
            resolution: Some(Resolution::None),
            ..stat.clone()
        };
        assert_eq!(
            errors(|c| endpoints(c, &none)),
            one("SE-5", "spec.endpoints")
        );
        let unknown_port = ServiceEntrySpec {
            endpoints: vec![WorkloadEntry {
                address: "10.0.0.1".into(),
                ports: BTreeMap::from([("http".into(), 80)]),
                ..Default::default()
            }],
            ..stat
        };
        assert_eq!(
            errors(|c| endpoints(c, &unknown_port)),
            one("SE-5", "spec.endpoints[0].ports[http]")
        );
        let rr = ServiceEntrySpec {
            resolution: Some(Resolution::DnsRoundRobin),
            endpoints: vec![
                WorkloadEntry {
                    address: "a.example.com".into(),
                    ..Default::default()
                };
                2
            ],
            ..base()
        };
        assert_eq!(errors(|c| endpoints(c, &rr)), one("SE-5", "spec.endpoints"));
    }

    #[test]
    fn se6_multiple_hosts_need_http_or_tls_ports() {
        let ok = ServiceEntrySpec {
            hosts: vec!["a.example.com".into(), "b.example.com".into()],
            ..base()
        };
        assert!(errors(|c| multi_host_protocols(c, &ok)).is_empty());
        let mut tcp = ok;
        tcp.ports[0].protocol = Some("TCP".into());
        assert_eq!(
            errors(|c| multi_host_protocols(c, &tcp)),
            one("SE-6", "spec.ports[0].protocol")
        );
    }

    #[test]
    fn se7_export_to_allows_tilde() {
        let se = ServiceEntry::new(
            Metadata::new("api", "shop"),
            ServiceEntrySpec {
                export_to: vec!["~".into()],
                ..base()
            },
        );
        assert!(run(|c| check(c, &se)).is_empty());
        let bad = ServiceEntry::new(
            Metadata::new("api", "shop"),
            ServiceEntrySpec {
                export_to: vec!["~".into(), ".".into()],
                ..base()
            },
        );
        assert_eq!(errors(|c| check(c, &bad)), one("SE-7", "spec.exportTo"));
    }
}
