//! Gateway, ReferenceGrant, and the core/v1 Services generated for per-version backends.

use std::sync::OnceLock;

use regex::Regex;

use super::*;
use crate::gateway_api::{GatewaySpec, ReferenceGrantSpec, ServiceSpec, TargetPort, TlsMode};
use crate::validate::primitives::{label_key, label_value};

/// "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']", "tls mode must be
/// Terminate for protocol HTTPS", "tls mode must be set for protocol TLS".
pub const CEL_LISTENER_TLS: &str = "GAPI-CEL-LISTENER-TLS";
/// "hostname must not be specified for protocols ['TCP', 'UDP']".
pub const CEL_LISTENER_HOSTNAME: &str = "GAPI-CEL-LISTENER-HOSTNAME";
/// "Listener name must be unique within the Gateway".
pub const CEL_LISTENER_NAME: &str = "GAPI-CEL-LISTENER-NAME";
/// "Combination of port, protocol and hostname must be unique for each listener".
pub const CEL_LISTENER_UNIQUE: &str = "GAPI-CEL-LISTENER-UNIQUE";
/// "certificateRefs or options must be specified when mode is Terminate".
pub const CEL_TLS_CERTIFICATES: &str = "GAPI-CEL-TLS-CERTIFICATES";
/// What the API server requires of a core/v1 Service (name, ports, selector).
pub const SERVICE: &str = "K8S-SERVICE";

pub(super) fn gateway(c: &mut Checker, spec: &GatewaySpec) {
    static PROTOCOL: OnceLock<Option<Regex>> = OnceLock::new();
    name_like(
        c,
        "spec.gatewayClassName".into(),
        &spec.gateway_class_name,
        253,
    );
    min_items(c, "spec.listeners", spec.listeners.len(), 1);
    max_items(c, "spec.listeners", spec.listeners.len(), 64);
    for (i, l) in spec.listeners.iter().enumerate() {
        let at = format!("spec.listeners[{i}]");
        subdomain(c, format!("{at}.name"), &l.name);
        if spec.listeners[..i].iter().any(|o| o.name == l.name) {
            c.error(
                CEL_LISTENER_NAME,
                format!("{at}.name"),
                format!("listener name {:?} is used twice", l.name),
            );
        }
        if spec.listeners[..i]
            .iter()
            .any(|o| o.port == l.port && o.protocol == l.protocol && o.hostname == l.hostname)
        {
            c.error(
                CEL_LISTENER_UNIQUE,
                at.clone(),
                format!(
                    "another listener has port {}, protocol {} and the same hostname",
                    l.port, l.protocol
                ),
            );
        }
        if let Some(h) = l.hostname.as_deref().filter(|h| !is_hostname(h)) {
            c.error(
                PATTERN,
                format!("{at}.hostname"),
                format!("{h:?} is not a hostname"),
            );
        }
        port(c, format!("{at}.port"), l.port);
        if l.protocol.len() > 255
            || !pattern(
                &PROTOCOL,
                r"^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+$",
                &l.protocol,
            )
        {
            c.error(
                PATTERN,
                format!("{at}.protocol"),
                format!("{:?} is not a protocol name", l.protocol),
            );
        }
        let plain = ["HTTP", "TCP", "UDP"].contains(&l.protocol.as_str());
        if plain && l.tls.is_some() {
            c.error(
                CEL_LISTENER_TLS,
                format!("{at}.tls"),
                format!("tls must not be specified for protocol {}", l.protocol),
            );
        }
        if l.protocol == "HTTPS"
            && l.tls
                .as_ref()
                .is_some_and(|t| t.mode == Some(TlsMode::Passthrough))
        {
            c.error(
                CEL_LISTENER_TLS,
                format!("{at}.tls.mode"),
                "tls mode must be Terminate for protocol HTTPS",
            );
        }
        if l.protocol == "TLS" && l.tls.as_ref().is_none_or(|t| t.mode.is_none()) {
            c.error(
                CEL_LISTENER_TLS,
                format!("{at}.tls.mode"),
                "tls mode must be set for protocol TLS",
            );
        }
        if ["TCP", "UDP"].contains(&l.protocol.as_str()) && l.hostname.is_some() {
            c.error(
                CEL_LISTENER_HOSTNAME,
                format!("{at}.hostname"),
                format!("hostname must not be specified for protocol {}", l.protocol),
            );
        }
        if let Some(tls) = &l.tls {
            let terminate = tls.mode.unwrap_or_default() == TlsMode::Terminate;
            if terminate && tls.certificate_refs.is_empty() && tls.options.is_empty() {
                c.error(
                    CEL_TLS_CERTIFICATES,
                    format!("{at}.tls"),
                    "certificateRefs or options must be specified when mode is Terminate",
                );
            }
            max_items(
                c,
                &format!("{at}.tls.certificateRefs"),
                tls.certificate_refs.len(),
                64,
            );
            for (j, r) in tls.certificate_refs.iter().enumerate() {
                let here = format!("{at}.tls.certificateRefs[{j}]");
                group_kind(c, &here, r.group.as_deref(), r.kind.as_deref());
                name_like(c, format!("{here}.name"), &r.name, 253);
                if let Some(ns) = &r.namespace {
                    namespace(c, format!("{here}.namespace"), ns);
                }
            }
            if tls.options.len() > 16 {
                c.error(
                    LIMIT,
                    format!("{at}.tls.options"),
                    format!("{} options; at most 16 are allowed", tls.options.len()),
                );
            }
            for (k, v) in &tls.options {
                if v.len() > 4096 {
                    c.error(
                        LIMIT,
                        format!("{at}.tls.options.{k}"),
                        "option values are at most 4096 characters",
                    );
                }
            }
        }
        if let Some(allowed) = &l.allowed_routes {
            max_items(
                c,
                &format!("{at}.allowedRoutes.kinds"),
                allowed.kinds.len(),
                8,
            );
            for (j, k) in allowed.kinds.iter().enumerate() {
                group_kind(
                    c,
                    &format!("{at}.allowedRoutes.kinds[{j}]"),
                    k.group.as_deref(),
                    Some(&k.kind),
                );
            }
        }
    }
}

pub(super) fn reference_grant(c: &mut Checker, spec: &ReferenceGrantSpec) {
    min_items(c, "spec.from", spec.from.len(), 1);
    max_items(c, "spec.from", spec.from.len(), 16);
    for (i, f) in spec.from.iter().enumerate() {
        let at = format!("spec.from[{i}]");
        group_kind(c, &at, Some(&f.group), Some(&f.kind));
        namespace(c, format!("{at}.namespace"), &f.namespace);
    }
    min_items(c, "spec.to", spec.to.len(), 1);
    max_items(c, "spec.to", spec.to.len(), 16);
    for (i, t) in spec.to.iter().enumerate() {
        let at = format!("spec.to[{i}]");
        group_kind(c, &at, Some(&t.group), Some(&t.kind));
        if let Some(name) = &t.name {
            name_like(c, format!("{at}.name"), name, 253);
        }
    }
}

/// A Service's name is a DNS-1035 label; its ports are named when there are several, and
/// unique by name and by port number; the selector is labels.
pub(super) fn service(c: &mut Checker, name: &str, spec: &ServiceSpec) {
    static DNS1035: OnceLock<Option<Regex>> = OnceLock::new();
    if name.len() > 63 || !pattern(&DNS1035, r"^[a-z]([-a-z0-9]*[a-z0-9])?$", name) {
        c.error(SERVICE, "metadata.name", format!("{name:?} is not a valid Service name (DNS-1035 label: lower case, starts with a letter, at most 63 characters)"));
    }
    if spec.ports.is_empty() {
        c.error(
            SERVICE,
            "spec.ports",
            "a ClusterIP Service needs at least one port",
        );
    }
    for (i, p) in spec.ports.iter().enumerate() {
        let at = format!("spec.ports[{i}]");
        match &p.name {
            None if spec.ports.len() > 1 => {
                c.error(
                    SERVICE,
                    format!("{at}.name"),
                    "every port of a multi-port Service must be named",
                );
            }
            Some(n) if !crate::validate::primitives::is_k8s_label_name(n) => {
                c.error(
                    SERVICE,
                    format!("{at}.name"),
                    format!("{n:?} is not a valid port name (DNS-1123 label)"),
                );
            }
            Some(n) if spec.ports[..i].iter().any(|o| o.name.as_ref() == Some(n)) => {
                c.error(
                    SERVICE,
                    format!("{at}.name"),
                    format!("port name {n:?} is used twice"),
                );
            }
            _ => {}
        }
        if spec.ports[..i]
            .iter()
            .any(|o| o.port == p.port && o.protocol == p.protocol)
        {
            c.error(
                SERVICE,
                format!("{at}.port"),
                format!("port {} is listed twice", p.port),
            );
        }
        port(c, format!("{at}.port"), p.port);
        match &p.target_port {
            Some(TargetPort::Number(t)) => port(c, format!("{at}.targetPort"), *t),
            // An IANA service name, as a container port's name: a DNS-1123 label of at most
            // 15 characters with a letter.
            Some(TargetPort::Name(n))
                if n.len() > 15
                    || !crate::validate::primitives::is_k8s_label_name(n)
                    || !n.chars().any(|ch| ch.is_ascii_lowercase()) =>
            {
                c.error(
                    SERVICE,
                    format!("{at}.targetPort"),
                    format!("{n:?} is not a valid port name (at most 15 characters, lower case, with a letter)"),
                );
            }
            _ => {}
        }
    }
    for (k, v) in &spec.selector {
        c.check(SERVICE, format!("spec.selector.{k}"), label_key(k));
        c.check(SERVICE, format!("spec.selector.{k}"), label_value(v));
    }
}
