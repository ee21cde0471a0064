//! IstioOperator rules: istio-validation.md §12. IOP-1 (strict decoding) holds by
//! construction of the typed model. IOP-2 covers the fields we write; IOP-3 is our own
//! check of `meshConfig`, which `istioctl install` does not validate (istiod later does).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use regex::Regex;

use super::Checker;
use super::primitives::{is_dns1123_label, is_k8s_label_name, label_map};
use super::virtual_service::retries;
use crate::istio::{GatewayComponent, IstioOperator, LogFormat, MeshConfig};

/// Providers Istio's default mesh config defines.
pub(super) const BUILTIN_PROVIDERS: &[&str] = &["envoy", "prometheus", "stackdriver"];

/// Profiles shipped with istioctl 1.30.
const PROFILES: &[&str] = &[
    "default",
    "demo",
    "minimal",
    "empty",
    "preview",
    "remote",
    "ambient",
    "openshift",
    "openshift-ambient",
];

pub(super) fn check(c: &mut Checker, iop: &IstioOperator) {
    let spec = &iop.spec;
    if let Some(p) = &spec.profile
        && !PROFILES.contains(&p.as_str())
    {
        c.error(
            "IOP-2",
            "spec.profile",
            format!("unknown profile {p:?} (known: {})", PROFILES.join(", ")),
        );
    }
    if let Some(r) = &spec.revision
        && !is_dns1123_label(r)
    {
        c.error(
            "IOP-2",
            "spec.revision",
            format!("revision {r:?} must be a DNS-1123 label"),
        );
    }
    if let Some(components) = &spec.components {
        gateways(c, &components.ingress_gateways);
    }
    if let Some(mc) = &spec.mesh_config {
        mesh_config(c, mc);
    }
}

fn component_name_ok(name: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[a-z0-9.-]{1,254}$").ok())
        .as_ref()
        .is_some_and(|re| re.is_match(name))
}

/// IOP-2: gateway components: names, namespaces, labels, Service ports.
fn gateways(c: &mut Checker, gws: &[GatewayComponent]) {
    let mut names = BTreeSet::new();
    for (i, g) in gws.iter().enumerate() {
        let f = format!("spec.components.ingressGateways[{i}]");
        if !component_name_ok(&g.name) {
            c.error(
                "IOP-2",
                format!("{f}.name"),
                format!("gateway name {:?} must match [a-z0-9.-]{{1,254}}", g.name),
            );
        } else if !names.insert(g.name.as_str()) {
            c.error(
                "IOP-2",
                format!("{f}.name"),
                format!("duplicate gateway name {:?}", g.name),
            );
        }
        if let Some(ns) = &g.namespace
            && !is_k8s_label_name(ns)
        {
            c.error(
                "IOP-2",
                format!("{f}.namespace"),
                format!("{ns:?} is not a valid namespace name"),
            );
        }
        c.check("IOP-2", format!("{f}.label"), label_map(&g.label));
        let ports = g
            .k8s
            .as_ref()
            .and_then(|k| k.service.as_ref())
            .map(|s| s.ports.as_slice())
            .unwrap_or(&[]);
        let mut port_names = BTreeSet::new();
        for (j, p) in ports.iter().enumerate() {
            let pf = format!("{f}.k8s.service.ports[{j}]");
            if !is_k8s_label_name(&p.name) || !port_names.insert(p.name.as_str()) {
                c.error(
                    "IOP-2",
                    format!("{pf}.name"),
                    format!(
                        "port name {:?} must be a unique lower-case DNS-1123 label",
                        p.name
                    ),
                );
            }
            if !(1..=65535).contains(&p.port) {
                c.error(
                    "IOP-2",
                    format!("{pf}.port"),
                    format!("port {} must be in 1..65535", p.port),
                );
            }
            // Gateways run as non-root, so they cannot bind privileged ports.
            if let Some(t) = p.target_port.filter(|t| !(1024..=65535).contains(t)) {
                c.error(
                    "IOP-2",
                    format!("{pf}.targetPort"),
                    format!("targetPort {t} must be in 1024..65535 (gateways do not run as root)"),
                );
            }
            if let Some(proto) = p
                .protocol
                .as_deref()
                .filter(|p| !["TCP", "UDP", "SCTP"].contains(p))
            {
                c.error(
                    "IOP-2",
                    format!("{pf}.protocol"),
                    format!("Service port protocol {proto:?} must be TCP, UDP or SCTP"),
                );
            }
        }
    }
}

/// IOP-3: the mesh settings we write.
fn mesh_config(c: &mut Checker, mc: &MeshConfig) {
    if let Some(td) = &mc.trust_domain {
        let valid = !td.is_empty() && td.trim_end_matches('.').split('.').all(is_dns1123_label);
        if !valid {
            c.error(
                "IOP-3",
                "spec.meshConfig.trustDomain",
                format!("trust domain {td:?} must be dot-separated DNS-1123 labels"),
            );
        }
    }
    if mc.access_log_format.is_some() && mc.access_log_file.is_none() {
        c.warn(
            "IOP-3",
            "spec.meshConfig.accessLogFormat",
            "accessLogFormat has no effect without accessLogFile",
        );
    }
    if let Some(f) = mc.access_log_file.as_deref().filter(|f| f.is_empty()) {
        c.warn(
            "IOP-3",
            "spec.meshConfig.accessLogFile",
            format!("accessLogFile {f:?} disables access logging; omit it instead"),
        );
    }
    let mut defined: BTreeSet<&str> = BUILTIN_PROVIDERS.iter().copied().collect();
    let mut seen = BTreeSet::new();
    for (i, p) in mc.extension_providers.iter().enumerate() {
        let f = format!("spec.meshConfig.extensionProviders[{i}]");
        if p.name.is_empty() {
            c.error(
                "IOP-3",
                format!("{f}.name"),
                "extension provider name must not be empty",
            );
        } else if !seen.insert(p.name.as_str()) {
            c.error(
                "IOP-3",
                format!("{f}.name"),
                format!("duplicate extension provider name {:?}", p.name),
            );
        }
        defined.insert(p.name.as_str());
        let tracing = [
            ("zipkin", &p.zipkin),
            ("datadog", &p.datadog),
            ("opentelemetry", &p.opentelemetry),
        ];
        let kinds = usize::from(p.envoy_file_access_log.is_some())
            + tracing.iter().filter(|(_, t)| t.is_some()).count();
        if kinds != 1 {
            c.error(
                "IOP-3",
                f.clone(),
                "an extension provider sets exactly one kind of provider settings",
            );
        }
        for (kind, settings) in tracing {
            let Some(t) = settings else { continue };
            if t.service.is_empty() {
                c.error(
                    "IOP-3",
                    format!("{f}.{kind}.service"),
                    "the tracing service host must not be empty",
                );
            }
            c.check(
                "IOP-3",
                format!("{f}.{kind}.port"),
                super::primitives::port(t.port),
            );
        }
        match &p.envoy_file_access_log {
            None => {}
            Some(log) => {
                if log.path.is_empty() {
                    c.error(
                        "IOP-3",
                        format!("{f}.envoyFileAccessLog.path"),
                        "access log path must not be empty",
                    );
                }
                match &log.log_format {
                    Some(LogFormat::Labels(labels)) if labels.keys().any(String::is_empty) => {
                        c.error(
                            "IOP-3",
                            format!("{f}.envoyFileAccessLog.logFormat.labels"),
                            "log format keys must not be empty",
                        );
                    }
                    Some(LogFormat::Text(t)) if t.is_empty() => {
                        c.error(
                            "IOP-3",
                            format!("{f}.envoyFileAccessLog.logFormat.text"),
                            "text log format must not be empty",
                        );
                    }
                    _ => {}
                }
            }
        }
    }
    if let Some(dp) = &mc.default_providers {
        for (i, name) in dp.access_logging.iter().enumerate() {
            if !defined.contains(name.as_str()) {
                c.error(
                    "IOP-3",
                    format!("spec.meshConfig.defaultProviders.accessLogging[{i}]"),
                    format!("provider {name:?} is not defined in extensionProviders"),
                );
            }
        }
    }
    if let Some(r) = &mc.default_http_retry_policy {
        retries(c, "spec.meshConfig.defaultHttpRetryPolicy", r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::{
        Components, DefaultProviders, EnvoyFileAccessLogProvider, ExtensionProvider, HttpRetry,
        IstioOperatorSpec, KubernetesResources, KubernetesServicePort, Metadata, ServiceSpec,
    };
    use crate::validate::testing::{errors, labels, one, run, warnings};

    fn iop(spec: IstioOperatorSpec) -> IstioOperator {
        IstioOperator::new(Metadata::new("appmesh2istio", "istio-system"), spec)
    }

    fn gw(name: &str, target: u32) -> GatewayComponent {
        GatewayComponent {
            name: name.into(),
            enabled: Some(true),
            namespace: Some("istio-ingress".into()),
            label: labels(&[("istio", "ingressgateway")]),
            k8s: Some(KubernetesResources {
                service: Some(ServiceSpec {
                    ports: vec![KubernetesServicePort {
                        name: "http2".into(),
                        port: 80,
                        target_port: Some(target),
                        protocol: Some("TCP".into()),
                    }],
                }),
            }),
        }
    }

    #[test]
    fn iop2_profile_and_revision() {
        let ok = iop(IstioOperatorSpec {
            profile: Some("minimal".into()),
            revision: Some("1-30".into()),
            ..Default::default()
        });
        assert!(run(|c| check(c, &ok)).is_empty());
        let bad = iop(IstioOperatorSpec {
            profile: Some("fast".into()),
            revision: Some("1.30".into()),
            ..Default::default()
        });
        assert_eq!(
            errors(|c| check(c, &bad)),
            vec![
                ("IOP-2", "spec.profile".to_owned()),
                ("IOP-2", "spec.revision".to_owned())
            ]
        );
    }

    #[test]
    fn iop2_gateway_components() {
        assert!(errors(|c| gateways(c, &[gw("istio-ingressgateway", 8080)])).is_empty());
        assert_eq!(
            errors(|c| gateways(c, &[gw("istio-ingressgateway", 80)])),
            one(
                "IOP-2",
                "spec.components.ingressGateways[0].k8s.service.ports[0].targetPort"
            )
        );
        assert_eq!(
            errors(|c| gateways(c, &[gw("Ingress_GW", 8080)])),
            one("IOP-2", "spec.components.ingressGateways[0].name")
        );
        assert_eq!(
            errors(|c| gateways(c, &[gw("a", 8080), gw("a", 8080)])),
            one("IOP-2", "spec.components.ingressGateways[1].name")
        );
        let spec = IstioOperatorSpec {
            components: Some(Components {
                ingress_gateways: vec![gw("a", 8080)],
            }),
            ..Default::default()
        };
        assert!(run(|c| check(c, &iop(spec))).is_empty());
    }

    #[test]
    fn iop3_mesh_config() {
        let provider = |name: &str, path: &str| ExtensionProvider {
            name: name.into(),
            envoy_file_access_log: Some(EnvoyFileAccessLogProvider {
                path: path.into(),
                log_format: None,
            }),
            ..ExtensionProvider::default()
        };
        let ok = MeshConfig {
            trust_domain: Some("cluster.local".into()),
            extension_providers: vec![provider("file-log", "/var/log/access.log")],
            default_providers: Some(DefaultProviders {
                access_logging: vec!["file-log".into(), "envoy".into()],
            }),
            default_http_retry_policy: Some(
                HttpRetry::attempts(2).with_retry_on(["503", "connect-failure"]),
            ),
            ..Default::default()
        };
        assert!(run(|c| mesh_config(c, &ok)).is_empty());
        let bad = MeshConfig {
            trust_domain: Some("cluster_local".into()),
            extension_providers: vec![provider("a", ""), provider("a", "/x")],
            default_providers: Some(DefaultProviders {
                access_logging: vec!["missing".into()],
            }),
            default_http_retry_policy: Some(HttpRetry::disabled().with_retry_on(["5xx"])),
            ..Default::default()
        };
        assert_eq!(
            errors(|c| mesh_config(c, &bad)),
            vec![
                ("IOP-3", "spec.meshConfig.trustDomain".to_owned()),
                (
                    "IOP-3",
                    "spec.meshConfig.extensionProviders[0].envoyFileAccessLog.path".to_owned()
                ),
                (
                    "IOP-3",
                    "spec.meshConfig.extensionProviders[1].name".to_owned()
                ),
                (
                    "IOP-3",
                    "spec.meshConfig.defaultProviders.accessLogging[0]".to_owned()
                ),
                ("VS-H6", "spec.meshConfig.defaultHttpRetryPolicy".to_owned()),
            ]
        );
        let format_only = MeshConfig {
            access_log_format: Some("%START_TIME%".into()),
            ..Default::default()
        };
        assert_eq!(
            warnings(|c| mesh_config(c, &format_only)),
            one("IOP-3", "spec.meshConfig.accessLogFormat")
        );
    }
}
