//! Gateway rules: istio-validation.md §3 (GW-1..GW-3, GW-5, GW-6; GW-4 `bind` is not
//! modelled). The selector is only checked by analyzers against pods (not available here).

use std::collections::BTreeSet;

use super::Checker;
use super::primitives::{is_dns1123_label, is_tls_protocol, namespace_slash_host, port, protocol};
use crate::istio::{Gateway, Server, ServerTlsMode, ServerTlsSettings};

pub(super) fn check(c: &mut Checker, gw: &Gateway) {
    name(c, &gw.metadata.name);
    if gw.spec.servers.is_empty() {
        c.error(
            "GW-2",
            "spec.servers",
            "a Gateway needs at least one server",
        );
    }
    port_names_unique(c, &gw.spec.servers);
    for (i, s) in gw.spec.servers.iter().enumerate() {
        let f = format!("spec.servers[{i}]");
        server_hosts(c, &f, s);
        server_port(c, &f, s);
        tls_presence(c, &f, s);
        if let Some(tls) = &s.tls {
            tls_options(c, &format!("{f}.tls"), tls);
        }
    }
}

/// GW-1 (M-3): Gateway names are DNS-1123 labels (no dots), unlike other kinds.
fn name(c: &mut Checker, name: &str) {
    if !is_dns1123_label(name) {
        c.error(
            "GW-1",
            "metadata.name",
            format!(
                "Gateway name {name:?} must be a DNS-1123 label (no dots, at most 63 characters)"
            ),
        );
    }
}

/// GW-2: each server has hosts, each `host` or `namespace/host` with a dotted host.
fn server_hosts(c: &mut Checker, field: &str, s: &Server) {
    if s.hosts.is_empty() {
        c.error(
            "GW-2",
            format!("{field}.hosts"),
            "a server needs at least one host",
        );
    }
    for (j, h) in s.hosts.iter().enumerate() {
        c.check(
            "GW-2",
            format!("{field}.hosts[{j}]"),
            namespace_slash_host(h, true),
        );
    }
}

/// GW-3: port number, known protocol, non-empty name.
fn server_port(c: &mut Checker, field: &str, s: &Server) {
    c.check("GW-3", format!("{field}.port.number"), port(s.port.number));
    c.check(
        "GW-3",
        format!("{field}.port.protocol"),
        protocol(&s.port.protocol),
    );
    if s.port.name.is_empty() {
        c.error(
            "GW-3",
            format!("{field}.port.name"),
            "port name must be set",
        );
    }
}

/// GW-3: port names are unique across all servers of the Gateway.
fn port_names_unique(c: &mut Checker, servers: &[Server]) {
    let mut seen = BTreeSet::new();
    for (i, s) in servers.iter().enumerate() {
        if !s.port.name.is_empty() && !seen.insert(s.port.name.as_str()) {
            c.error(
                "GW-3",
                format!("spec.servers[{i}].port.name"),
                format!("port name {:?} is used by another server", s.port.name),
            );
        }
    }
}

fn has_certs(tls: &ServerTlsSettings) -> bool {
    tls.server_certificate.is_some()
        || tls.private_key.is_some()
        || tls.ca_certificates.is_some()
        || tls.credential_name.is_some()
}

/// GW-5: HTTPS/TLS servers need `tls`; plain-text servers carry none, except an HTTP
/// server with `tls: {httpsRedirect: true}` (passthrough mode, no certificates).
fn tls_presence(c: &mut Checker, field: &str, s: &Server) {
    let p = &s.port.protocol;
    match &s.tls {
        None if is_tls_protocol(p) => {
            c.error(
                "GW-5",
                format!("{field}.tls"),
                format!("server must have TLS settings for the {p} protocol"),
            );
        }
        Some(tls) if !is_tls_protocol(p) => {
            let redirect_only = p.eq_ignore_ascii_case("http")
                && tls.mode.unwrap_or_default() == ServerTlsMode::Passthrough
                && !has_certs(tls);
            if !redirect_only {
                c.error(
                    "GW-5",
                    format!("{field}.tls"),
                    format!("server cannot have TLS settings for the plain-text {p} protocol"),
                );
            }
            if tls.https_redirect == Some(true) && !p.eq_ignore_ascii_case("http") {
                c.warn(
                    "GW-5",
                    format!("{field}.tls.httpsRedirect"),
                    "httpsRedirect only works on HTTP servers",
                );
            }
        }
        _ => {}
    }
}

/// GW-6: certificate fields per TLS mode; one certificate source only.
fn tls_options(c: &mut Checker, field: &str, tls: &ServerTlsSettings) {
    let mode = tls.mode.unwrap_or_default();
    let files = tls.server_certificate.is_some() || tls.private_key.is_some();
    if tls.credential_name.is_some() && files {
        c.error("GW-6", field, "only one certificate source may be set: credentialName or serverCertificate/privateKey");
    }
    match mode {
        ServerTlsMode::IstioMutual => {
            if has_certs(tls) {
                c.error("GW-6", field, "ISTIO_MUTUAL must not set serverCertificate, privateKey, caCertificates or credentialName");
            }
        }
        ServerTlsMode::Passthrough | ServerTlsMode::AutoPassthrough => {
            if has_certs(tls) {
                c.warn(
                    "GW-6",
                    field,
                    "certificates are ignored in PASSTHROUGH/AUTO_PASSTHROUGH mode",
                );
            }
        }
        ServerTlsMode::Simple | ServerTlsMode::Mutual | ServerTlsMode::OptionalMutual => {
            if tls.credential_name.is_none() {
                if tls.server_certificate.is_none() || tls.private_key.is_none() {
                    c.error(
                        "GW-6",
                        field,
                        "without credentialName, serverCertificate and privateKey are required",
                    );
                }
                if mode != ServerTlsMode::Simple && tls.ca_certificates.is_none() {
                    c.error(
                        "GW-6",
                        field,
                        "MUTUAL/OPTIONAL_MUTUAL without credentialName require caCertificates",
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::{GatewayPort, GatewaySpec, Metadata};
    use crate::validate::testing::{errors, labels, one, run, warnings};

    fn server(number: u32, protocol: &str, name: &str, hosts: &[&str]) -> Server {
        Server {
            port: GatewayPort {
                number,
                protocol: protocol.into(),
                name: name.into(),
            },
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            tls: None,
            name: None,
        }
    }

    fn https(tls: ServerTlsSettings) -> Server {
        Server {
            tls: Some(tls),
            ..server(443, "HTTPS", "https", &["shop/app.example.com"])
        }
    }

    fn simple_secret() -> ServerTlsSettings {
        ServerTlsSettings {
            mode: Some(ServerTlsMode::Simple),
            credential_name: Some("app-cert".into()),
            ..Default::default()
        }
    }

    #[test]
    fn gw1_name_is_a_label() {
        assert!(errors(|c| name(c, "ingress")).is_empty());
        assert_eq!(
            errors(|c| name(c, "ingress.shop")),
            one("GW-1", "metadata.name")
        );
    }

    #[test]
    fn gw2_servers_and_hosts() {
        assert!(
            errors(|c| server_hosts(
                c,
                "s",
                &server(80, "HTTP", "http", &["*", "./app.example.com", "10.0.0.1"])
            ))
            .is_empty()
        );
        assert_eq!(
            errors(|c| server_hosts(c, "s", &server(80, "HTTP", "http", &[]))),
            one("GW-2", "s.hosts")
        );
        assert_eq!(
            errors(|c| server_hosts(c, "s", &server(80, "HTTP", "http", &["shop/app"]))),
            one("GW-2", "s.hosts[0]")
        );
        assert_eq!(
            errors(|c| server_hosts(c, "s", &server(80, "HTTP", "http", &["*app.example.com"]))),
            one("GW-2", "s.hosts[0]")
        );
        let gw = Gateway::new(
            Metadata::new("gw", "shop"),
            GatewaySpec {
                servers: vec![],
                selector: labels(&[("istio", "ingressgateway")]),
            },
        );
        assert_eq!(errors(|c| check(c, &gw)), one("GW-2", "spec.servers"));
    }

    #[test]
    fn gw3_ports() {
        assert!(errors(|c| server_port(c, "s", &server(8080, "http2", "h2", &["*"]))).is_empty());
        assert_eq!(
            errors(|c| server_port(c, "s", &server(0, "HTTP", "http", &["*"]))),
            one("GW-3", "s.port.number")
        );
        assert_eq!(
            errors(|c| server_port(c, "s", &server(80, "QUIC", "http", &["*"]))),
            one("GW-3", "s.port.protocol")
        );
        assert_eq!(
            errors(|c| server_port(c, "s", &server(80, "HTTP", "", &["*"]))),
            one("GW-3", "s.port.name")
        );
        let dup = [
            server(80, "HTTP", "web", &["*"]),
            server(8080, "HTTP", "web", &["*"]),
        ];
        assert!(errors(|c| port_names_unique(c, &dup[..1])).is_empty());
        assert_eq!(
            errors(|c| port_names_unique(c, &dup)),
            one("GW-3", "spec.servers[1].port.name")
        );
    }

    #[test]
    fn gw5_tls_presence() {
        assert!(errors(|c| tls_presence(c, "s", &https(simple_secret()))).is_empty());
        let redirect = Server {
            tls: Some(ServerTlsSettings {
                https_redirect: Some(true),
                ..Default::default()
            }),
            ..server(80, "HTTP", "http", &["*"])
        };
        assert!(run(|c| tls_presence(c, "s", &redirect)).is_empty());
        assert_eq!(
            errors(|c| tls_presence(c, "s", &server(443, "HTTPS", "https", &["*"]))),
            one("GW-5", "s.tls")
        );
        let http_with_cert = Server {
            tls: Some(simple_secret()),
            ..server(80, "HTTP", "http", &["*"])
        };
        assert_eq!(
            errors(|c| tls_presence(c, "s", &http_with_cert)),
            one("GW-5", "s.tls")
        );
        let tcp_redirect = Server {
            tls: Some(ServerTlsSettings {
                https_redirect: Some(true),
                ..Default::default()
            }),
            ..server(9000, "TCP", "tcp", &["*"])
        };
        assert_eq!(
            warnings(|c| tls_presence(c, "s", &tcp_redirect)),
            one("GW-5", "s.tls.httpsRedirect")
        );
    }

    #[test]
    fn gw6_tls_options() {
        assert!(errors(|c| tls_options(c, "t", &simple_secret())).is_empty());
        let files = ServerTlsSettings {
            mode: Some(ServerTlsMode::Mutual),
            server_certificate: Some("/c.pem".into()),
            private_key: Some("/k.pem".into()),
            ca_certificates: Some("/ca.pem".into()),
            ..Default::default()
        };
        assert!(errors(|c| tls_options(c, "t", &files)).is_empty());
        let mutual_no_ca = ServerTlsSettings {
            ca_certificates: None,
            ..files.clone()
        };
        assert_eq!(
            errors(|c| tls_options(c, "t", &mutual_no_ca)),
            one("GW-6", "t")
        );
        let two_sources = ServerTlsSettings {
            credential_name: Some("s".into()),
            ..files
        };
        assert_eq!(
            errors(|c| tls_options(c, "t", &two_sources)),
            one("GW-6", "t")
        );
        let istio_mutual = ServerTlsSettings {
            mode: Some(ServerTlsMode::IstioMutual),
            credential_name: Some("s".into()),
            ..Default::default()
        };
        assert_eq!(
            errors(|c| tls_options(c, "t", &istio_mutual)),
            one("GW-6", "t")
        );
        let simple_nothing = ServerTlsSettings {
            mode: Some(ServerTlsMode::Simple),
            ..Default::default()
        };
        assert_eq!(
            errors(|c| tls_options(c, "t", &simple_nothing)),
            one("GW-6", "t")
        );
        let passthrough_cert = ServerTlsSettings {
            mode: Some(ServerTlsMode::Passthrough),
            credential_name: Some("s".into()),
            ..Default::default()
        };
        assert_eq!(
            warnings(|c| tls_options(c, "t", &passthrough_cert)),
            one("GW-6", "t")
        );
    }
}
