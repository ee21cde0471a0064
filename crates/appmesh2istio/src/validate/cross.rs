//! Rules between objects of one output set, after `istioctl analyze` (istio-validation.md
//! §10). Only the objects we generate are known here: references to objects outside the
//! set (Services, pods, an existing Gateway) are not resolved, except where a rule says so.

use std::collections::{BTreeMap, BTreeSet};

use hashbrown::{HashMap, HashSet};

use super::install::BUILTIN_PROVIDERS;
use super::primitives::{hosts_overlap, resolve_host};
use super::{Violation, ViolationSeverity};
use crate::istio::{
    DestinationRule, Gateway, IstioObject, IstioOperator, Telemetry, VirtualService,
};

struct Out(Vec<Violation>);

/// Namespaces a config is visible in; `None` = everywhere.
type Visibility = Option<BTreeSet<String>>;

impl Out {
    fn add(
        &mut self,
        obj: &IstioObject,
        severity: ViolationSeverity,
        rule: &'static str,
        field: String,
        message: String,
    ) {
        self.0.push(Violation {
            rule,
            object: obj.object_ref(),
            field,
            message,
            severity,
        });
    }
}

pub(super) fn check(objs: &[IstioObject]) -> Vec<Violation> {
    let mut out = Out(Vec::new());
    duplicate_objects(&mut out, objs);
    conflicting_mesh_hosts(&mut out, objs);
    missing_subsets(&mut out, objs);
    gateway_references(&mut out, objs);
    namespace_wide_singletons(&mut out, objs);
    identical_selectors(&mut out, objs);
    telemetry_providers(&mut out, objs);
    out.0
}

/// K8S-DUPLICATE (ours): two objects with the same kind, namespace and name would
/// overwrite each other when applied.
fn duplicate_objects(out: &mut Out, objs: &[IstioObject]) {
    let mut seen = HashSet::new();
    for o in objs {
        if !seen.insert((o.api_version(), o.kind(), o.namespace(), o.name())) {
            out.add(
                o,
                ViolationSeverity::Error,
                "K8S-DUPLICATE",
                "metadata.name".to_owned(),
                format!(
                    "{} is generated more than once; the later object would overwrite the earlier",
                    o.object_ref()
                ),
            );
        }
    }
}

fn virtual_services(objs: &[IstioObject]) -> impl Iterator<Item = (&IstioObject, &VirtualService)> {
    objs.iter().filter_map(|o| match o {
        IstioObject::VirtualService(vs) => Some((o, vs)),
        _ => None,
    })
}

fn visibility(export_to: &[String], own: Option<&str>) -> Visibility {
    if export_to.is_empty() || export_to.iter().any(|e| e == "*") {
        return None;
    }
    Some(
        export_to
            .iter()
            .map(|e| {
                if e == "." {
                    own.unwrap_or(".").to_owned()
                } else {
                    e.clone()
                }
            })
            .collect(),
    )
}

fn visible_together(a: &Visibility, b: &Visibility) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => !a.is_disjoint(b),
        _ => true,
    }
}

/// IST0109: for mesh traffic there must be one VirtualService per host (within the
/// namespaces both are exported to); Istio would merge or drop the others unpredictably.
fn conflicting_mesh_hosts(out: &mut Out, objs: &[IstioObject]) {
    let mut seen: HashMap<String, Vec<(&IstioObject, Visibility)>> = HashMap::new();
    for (obj, vs) in virtual_services(objs).filter(|(_, vs)| vs.spec.is_mesh_bound()) {
        let ns = obj.namespace();
        let vis = visibility(&vs.spec.export_to, ns);
        for (i, h) in vs.spec.hosts.iter().enumerate() {
            let host = resolve_host(h, ns);
            let earlier = seen.entry(host.clone()).or_default();
            if let Some((other, _)) = earlier.iter().find(|(_, v)| visible_together(v, &vis)) {
                out.add(obj, ViolationSeverity::Error, "IST0109", format!("spec.hosts[{i}]"), format!(
                    "host {host:?} is also routed for mesh traffic by {}; merge them into one VirtualService",
                    other.object_ref()
                ));
            }
            earlier.push((obj, vis.clone()));
        }
    }
}

/// IST0101 (host+subset): a destination subset must exist in the DestinationRule(s) of the
/// same host, when the set contains a DestinationRule for that host.
fn missing_subsets(out: &mut Out, objs: &[IstioObject]) {
    let mut subsets: HashMap<String, HashSet<&str>> = HashMap::new();
    for o in objs {
        if let IstioObject::DestinationRule(DestinationRule { spec, .. }) = o {
            let entry = subsets
                .entry(resolve_host(&spec.host, o.namespace()))
                .or_default();
            entry.extend(spec.subsets.iter().map(|s| s.name.as_str()));
        }
    }
    for (obj, vs) in virtual_services(objs) {
        let ns = obj.namespace();
        // Field paths are spelled out only for a violation: there is one per destination.
        let http = vs.spec.http.iter().enumerate().flat_map(|(i, r)| {
            r.route
                .iter()
                .enumerate()
                .map(move |(k, d)| ("http", i, k, &d.destination))
        });
        let tcp = vs.spec.tcp.iter().enumerate().flat_map(|(i, r)| {
            r.route
                .iter()
                .enumerate()
                .map(move |(k, d)| ("tcp", i, k, &d.destination))
        });
        for (list, i, k, d) in http.chain(tcp) {
            let Some(subset) = &d.subset else { continue };
            let host = resolve_host(&d.host, ns);
            if let Some(known) = subsets.get(&host)
                && !known.contains(subset.as_str())
            {
                out.add(
                    obj,
                    ViolationSeverity::Error,
                    "IST0101",
                    format!("spec.{list}[{i}].route[{k}].destination.subset"),
                    format!(
                        "subset {subset:?} is not defined by the DestinationRule for host {host:?}"
                    ),
                );
            }
        }
    }
}

/// `<ns>/<name>`, legacy `<name>.<ns>` or short `<name>` (in the VirtualService's namespace).
fn gateway_key(reference: &str, vs_namespace: Option<&str>) -> (String, String) {
    if let Some((ns, name)) = reference.split_once('/') {
        return (ns.to_owned(), name.to_owned());
    }
    if let Some((name, ns)) = reference.split_once('.') {
        return (ns.to_owned(), name.to_owned());
    }
    (vs_namespace.unwrap_or("").to_owned(), reference.to_owned())
}

/// IST0101 (gateway): referenced Gateways exist in the set; IST0132: every host of a
/// gateway-bound VirtualService is served by a server of each Gateway it binds to.
fn gateway_references(out: &mut Out, objs: &[IstioObject]) {
    let gateways: BTreeMap<(String, String), &Gateway> = objs
        .iter()
        .filter_map(|o| match o {
            IstioObject::Gateway(g) => Some((
                (o.namespace().unwrap_or("").to_owned(), o.name().to_owned()),
                g,
            )),
            _ => None,
        })
        .collect();
    for (obj, vs) in virtual_services(objs) {
        let ns = obj.namespace();
        let refs =
            vs.spec
                .gateways
                .iter()
                .enumerate()
                .map(|(i, g)| (format!("spec.gateways[{i}]"), g))
                .chain(vs.spec.http.iter().enumerate().flat_map(|(i, r)| {
                    r.matches.iter().enumerate().flat_map(move |(j, m)| {
                        m.gateways.iter().enumerate().map(move |(k, g)| {
                            (format!("spec.http[{i}].match[{j}].gateways[{k}]"), g)
                        })
                    })
                }));
        for (field, reference) in refs.filter(|(_, g)| *g != "mesh") {
            let key = gateway_key(reference, ns);
            let Some(gw) = gateways.get(&key) else {
                out.add(
                    obj,
                    ViolationSeverity::Error,
                    "IST0101",
                    field,
                    format!(
                        "gateway {}/{} is not among the generated Gateways",
                        key.0, key.1
                    ),
                );
                continue;
            };
            if !field.starts_with("spec.gateways") {
                continue;
            }
            for (j, host) in vs.spec.hosts.iter().enumerate() {
                if !gateway_serves(gw, &key.0, ns.unwrap_or(""), host) {
                    out.add(
                        obj,
                        ViolationSeverity::Warning,
                        "IST0132",
                        format!("spec.hosts[{j}]"),
                        format!(
                            "host {host:?} is not matched by any server host of Gateway {}/{}",
                            key.0, key.1
                        ),
                    );
                }
            }
        }
    }
}

/// Whether a server host of `gw` (in `gw_ns`) admits `host` of a VirtualService in `vs_ns`.
fn gateway_serves(gw: &Gateway, gw_ns: &str, vs_ns: &str, host: &str) -> bool {
    gw.spec
        .servers
        .iter()
        .flat_map(|s| s.hosts.iter())
        .any(|server_host| {
            let (allowed_ns, h) = match server_host.split_once('/') {
                Some((n, h)) => (n, h),
                None => ("*", server_host.as_str()),
            };
            let ns_ok = match allowed_ns {
                "*" => true,
                "." => gw_ns == vs_ns,
                n => n == vs_ns,
            };
            ns_ok && hosts_overlap(h, host)
        })
}

/// The selector labels of the kinds where "no selector" means namespace-wide; an empty
/// selector means the same.
fn selector_of(o: &IstioObject) -> Option<Option<&BTreeMap<String, String>>> {
    let labels = match o {
        IstioObject::Sidecar(s) => s.spec.workload_selector.as_ref().map(|w| &w.labels),
        IstioObject::Telemetry(t) => t.spec.selector.as_ref().map(|w| &w.match_labels),
        IstioObject::PeerAuthentication(p) => p.spec.selector.as_ref().map(|w| &w.match_labels),
        _ => return None,
    };
    Some(labels.filter(|l| !l.is_empty()))
}

/// IST0111 (Sidecar), IST0160 (Telemetry), PA-NS (PeerAuthentication, ours: Istio lets the
/// oldest win, which makes the outcome depend on apply order): at most one namespace-wide
/// object per namespace.
fn namespace_wide_singletons(out: &mut Out, objs: &[IstioObject]) {
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for o in objs {
        let (Some(None), Some(ns)) = (selector_of(o), o.namespace()) else {
            continue;
        };
        let (rule, field) = match o {
            IstioObject::Sidecar(_) => ("IST0111", "spec.workloadSelector"),
            IstioObject::Telemetry(_) => ("IST0160", "spec.selector"),
            _ => ("PA-NS", "spec.selector"),
        };
        if !seen.insert((o.kind(), ns)) {
            out.add(o, ViolationSeverity::Error, rule, field.to_owned(), format!(
                "another {} without a selector already exists in namespace {ns}; only one may apply namespace-wide",
                o.kind()
            ));
        }
    }
}

/// IST0110 (Sidecar), IST0159 (Telemetry): two objects with the same selector in one
/// namespace select the same pods.
fn identical_selectors(out: &mut Out, objs: &[IstioObject]) {
    let mut seen: HashMap<(&str, &str, &BTreeMap<String, String>), &IstioObject> = HashMap::new();
    for o in objs
        .iter()
        .filter(|o| matches!(o, IstioObject::Sidecar(_) | IstioObject::Telemetry(_)))
    {
        let (Some(Some(labels)), Some(ns)) = (selector_of(o), o.namespace()) else {
            continue;
        };
        let (rule, field) = match o {
            IstioObject::Sidecar(_) => ("IST0110", "spec.workloadSelector"),
            _ => ("IST0159", "spec.selector"),
        };
        match seen.get(&(o.kind(), ns, labels)) {
            Some(other) => out.add(
                o,
                ViolationSeverity::Error,
                rule,
                field.to_owned(),
                format!(
                    "{} has the same selector; a workload may be selected by only one {}",
                    other.object_ref(),
                    o.kind()
                ),
            ),
            None => {
                seen.insert((o.kind(), ns, labels), o);
            }
        }
    }
}

/// IST0157: access logging without providers needs a mesh default provider; TM-PROVIDER
/// (ours): named providers must be built in or defined by the IstioOperator in the set.
fn telemetry_providers(out: &mut Out, objs: &[IstioObject]) {
    let operators: Vec<&IstioOperator> = objs
        .iter()
        .filter_map(|o| {
            if let IstioObject::IstioOperator(i) = o {
                Some(i)
            } else {
                None
            }
        })
        .collect();
    let mesh = operators.iter().filter_map(|i| i.spec.mesh_config.as_ref());
    let mut defined: BTreeSet<&str> = BUILTIN_PROVIDERS.iter().copied().collect();
    let mut has_default = false;
    for mc in mesh {
        defined.extend(mc.extension_providers.iter().map(|p| p.name.as_str()));
        has_default |= mc
            .default_providers
            .as_ref()
            .is_some_and(|d| !d.access_logging.is_empty());
    }
    for o in objs {
        let IstioObject::Telemetry(Telemetry { spec, .. }) = o else {
            continue;
        };
        // Tracing providers are never built in: the generated IstioOperator must define them.
        for (i, tracing) in spec.tracing.iter().enumerate() {
            for (j, p) in tracing.providers.iter().enumerate() {
                if !p.name.is_empty() && !defined.contains(p.name.as_str()) && !operators.is_empty()
                {
                    out.add(o, ViolationSeverity::Error, "TM-PROVIDER", format!("spec.tracing[{i}].providers[{j}].name"),
                        format!("tracing provider {:?} is not defined in meshConfig.extensionProviders of the generated IstioOperator", p.name));
                }
            }
        }
        for (i, a) in spec.access_logging.iter().enumerate() {
            if a.providers.is_empty() && a.disabled != Some(true) && !has_default {
                out.add(o, ViolationSeverity::Warning, "IST0157", format!("spec.accessLogging[{i}].providers"),
                    "no providers and no default access-log provider in meshConfig: nothing will be logged".to_owned());
            }
            for (j, p) in a.providers.iter().enumerate() {
                if p.name.is_empty() || defined.contains(p.name.as_str()) {
                    continue;
                }
                let (severity, why) = if operators.is_empty() {
                    (
                        ViolationSeverity::Warning,
                        "is not built in and no IstioOperator in the output defines it",
                    )
                } else {
                    (
                        ViolationSeverity::Error,
                        "is not defined in meshConfig.extensionProviders of the generated IstioOperator",
                    )
                };
                out.add(
                    o,
                    severity,
                    "TM-PROVIDER",
                    format!("spec.accessLogging[{i}].providers[{j}].name"),
                    format!("provider {:?} {why}", p.name),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::{
        AccessLogging, Destination, DestinationRuleSpec, EnvoyFileAccessLogProvider,
        ExtensionProvider, GatewayPort, GatewaySpec, HttpRoute, HttpRouteDestination,
        IstioOperatorSpec, MeshConfig, Metadata, Mtls, MtlsMode, OutboundTrafficMode,
        OutboundTrafficPolicy, PeerAuthentication, PeerAuthenticationSpec, Server, Sidecar,
        SidecarSpec, Subset, TelemetrySpec, VirtualServiceSpec, WorkloadLabels, WorkloadSelector,
    };
    use crate::validate::testing::labels;

    const HOST: &str = "cart.shop.svc.cluster.local";

    fn vs(name: &str, hosts: &[&str], gateways: &[&str], subset: Option<&str>) -> IstioObject {
        let mut dest = Destination::host(HOST);
        dest.subset = subset.map(str::to_owned);
        VirtualService::new(
            Metadata::new(name, "shop"),
            VirtualServiceSpec {
                hosts: hosts.iter().map(|h| h.to_string()).collect(),
                gateways: gateways.iter().map(|h| h.to_string()).collect(),
                http: vec![HttpRoute {
                    route: vec![HttpRouteDestination::to(dest)],
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .into()
    }

    fn dr(subsets: &[&str]) -> IstioObject {
        DestinationRule::new(
            Metadata::new("cart", "shop"),
            DestinationRuleSpec {
                host: HOST.into(),
                subsets: subsets
                    .iter()
                    .map(|s| Subset {
                        name: s.to_string(),
                        labels: labels(&[("version", s)]),
                        traffic_policy: None,
                    })
                    .collect(),
                ..Default::default()
            },
        )
        .into()
    }

    fn gateway(ns: &str, name: &str, hosts: &[&str]) -> IstioObject {
        Gateway::new(
            Metadata::new(name, ns),
            GatewaySpec {
                servers: vec![Server {
                    port: GatewayPort {
                        number: 80,
                        protocol: "HTTP".into(),
                        name: "http".into(),
                    },
                    hosts: hosts.iter().map(|h| h.to_string()).collect(),
                    tls: None,
                    name: None,
                }],
                selector: labels(&[("istio", "ingressgateway")]),
            },
        )
        .into()
    }

    fn rules(v: &[Violation]) -> Vec<(&'static str, String, String)> {
        v.iter()
            .map(|v| (v.rule, v.object.to_string(), v.field.clone()))
            .collect()
    }

    #[test]
    fn k8s_duplicate_objects() {
        assert!(check(&[dr(&["v1"])]).is_empty());
        assert_eq!(
            rules(&check(&[dr(&["v1"]), dr(&["v2"])])),
            [(
                "K8S-DUPLICATE",
                "DestinationRule shop/cart".into(),
                "metadata.name".into()
            )]
        );
    }

    #[test]
    fn ist0109_one_mesh_virtual_service_per_host() {
        let ok = [
            vs("a", &[HOST], &[], None),
            vs("b", &[HOST], &["shop/gw"], None),
            gateway("shop", "gw", &["*"]),
        ];
        assert!(rules(&check(&ok)).iter().all(|(r, _, _)| *r != "IST0109"));
        let short = [
            vs("a", &[HOST], &[], None),
            vs("b", &["cart"], &["mesh"], None),
        ];
        assert_eq!(
            rules(&check(&short)),
            [(
                "IST0109",
                "VirtualService shop/b".into(),
                "spec.hosts[0]".into()
            )]
        );
    }

    #[test]
    fn ist0109_respects_export_to() {
        let mut a = vs("a", &[HOST], &[], None);
        let mut b = vs("b", &[HOST], &[], None);
        if let (IstioObject::VirtualService(a), IstioObject::VirtualService(b)) = (&mut a, &mut b) {
            a.spec.export_to = vec![".".into()];
            b.spec.export_to = vec!["other".into()];
        }
        assert!(check(&[a, b]).is_empty());
    }

    #[test]
    fn ist0101_subset_must_exist_in_destination_rule() {
        assert!(check(&[dr(&["v1"]), vs("a", &[HOST], &[], Some("v1"))]).is_empty());
        assert!(
            check(&[vs("a", &[HOST], &[], Some("v9"))]).is_empty(),
            "no DR in the set: not checked"
        );
        assert_eq!(
            rules(&check(&[dr(&["v1"]), vs("a", &[HOST], &[], Some("v2"))])),
            [(
                "IST0101",
                "VirtualService shop/a".into(),
                "spec.http[0].route[0].destination.subset".into()
            )]
        );
    }

    #[test]
    fn ist0101_gateway_must_exist() {
        assert!(
            check(&[
                gateway("shop", "gw", &["*"]),
                vs("a", &["*"], &["shop/gw"], None)
            ])
            .is_empty()
        );
        assert!(
            check(&[
                gateway("shop", "gw", &["*"]),
                vs("a", &["*"], &["gw"], None)
            ])
            .is_empty(),
            "short name resolves in the VS namespace"
        );
        assert_eq!(
            rules(&check(&[
                gateway("shop", "gw", &["*"]),
                vs("a", &["*"], &["other/gw"], None)
            ])),
            [(
                "IST0101",
                "VirtualService shop/a".into(),
                "spec.gateways[0]".into()
            )]
        );
    }

    #[test]
    fn ist0132_hosts_must_match_gateway_servers() {
        let ok = [
            gateway("shop", "gw", &["./*.example.com"]),
            vs("a", &["app.example.com"], &["shop/gw"], None),
        ];
        assert!(check(&ok).is_empty());
        let other_ns = [
            gateway("ingress", "gw", &["./*.example.com"]),
            vs("a", &["app.example.com"], &["ingress/gw"], None),
        ];
        let v = check(&other_ns);
        assert_eq!(
            rules(&v),
            [(
                "IST0132",
                "VirtualService shop/a".into(),
                "spec.hosts[0]".into()
            )]
        );
        assert_eq!(v[0].severity, ViolationSeverity::Warning);
        let wrong_host = [
            gateway("shop", "gw", &["app.example.com"]),
            vs("a", &["api.example.com"], &["shop/gw"], None),
        ];
        assert_eq!(
            rules(&check(&wrong_host)),
            [(
                "IST0132",
                "VirtualService shop/a".into(),
                "spec.hosts[0]".into()
            )]
        );
    }

    fn sidecar(name: &str, selector: Option<&[(&str, &str)]>) -> IstioObject {
        Sidecar::new(
            Metadata::new(name, "shop"),
            SidecarSpec {
                workload_selector: selector.map(|s| WorkloadLabels::new(labels(s))),
                outbound_traffic_policy: Some(OutboundTrafficPolicy {
                    mode: OutboundTrafficMode::RegistryOnly,
                }),
                ..Default::default()
            },
        )
        .into()
    }

    #[test]
    fn ist0111_one_namespace_wide_sidecar() {
        assert!(check(&[sidecar("a", None), sidecar("b", Some(&[("app", "x")]))]).is_empty());
        assert_eq!(
            rules(&check(&[sidecar("a", None), sidecar("b", None)])),
            [(
                "IST0111",
                "Sidecar shop/b".into(),
                "spec.workloadSelector".into()
            )]
        );
    }

    #[test]
    fn ist0110_identical_sidecar_selectors() {
        assert!(
            check(&[
                sidecar("a", Some(&[("app", "x")])),
                sidecar("b", Some(&[("app", "y")]))
            ])
            .is_empty()
        );
        assert_eq!(
            rules(&check(&[
                sidecar("a", Some(&[("app", "x")])),
                sidecar("b", Some(&[("app", "x")]))
            ])),
            [(
                "IST0110",
                "Sidecar shop/b".into(),
                "spec.workloadSelector".into()
            )]
        );
    }

    fn telemetry(name: &str, selector: Option<&[(&str, &str)]>, provider: &str) -> IstioObject {
        Telemetry::new(
            Metadata::new(name, "shop"),
            TelemetrySpec {
                selector: selector.map(|s| WorkloadSelector::new(labels(s))),
                access_logging: vec![AccessLogging::to_providers([provider])],
                ..TelemetrySpec::default()
            },
        )
        .into()
    }

    #[test]
    fn ist0160_and_ist0159_telemetry_selectors() {
        assert!(
            check(&[
                telemetry("a", None, "envoy"),
                telemetry("b", Some(&[("app", "x")]), "envoy")
            ])
            .is_empty()
        );
        assert_eq!(
            rules(&check(&[
                telemetry("a", None, "envoy"),
                telemetry("b", None, "envoy")
            ])),
            [("IST0160", "Telemetry shop/b".into(), "spec.selector".into())]
        );
        assert_eq!(
            rules(&check(&[
                telemetry("a", Some(&[("app", "x")]), "envoy"),
                telemetry("b", Some(&[("app", "x")]), "envoy")
            ])),
            [("IST0159", "Telemetry shop/b".into(), "spec.selector".into())]
        );
    }

    #[test]
    fn pa_ns_one_namespace_wide_peer_authentication() {
        let pa = |name: &str| -> IstioObject {
            PeerAuthentication::new(
                Metadata::new(name, "shop"),
                PeerAuthenticationSpec {
                    mtls: Some(Mtls::new(MtlsMode::Strict)),
                    ..Default::default()
                },
            )
            .into()
        };
        assert!(check(&[pa("a")]).is_empty());
        assert_eq!(
            rules(&check(&[pa("a"), pa("b")])),
            [(
                "PA-NS",
                "PeerAuthentication shop/b".into(),
                "spec.selector".into()
            )]
        );
    }

    #[test]
    fn telemetry_providers_must_be_defined() {
        let iop: IstioObject = IstioOperator::new(
            Metadata::new("install", "istio-system"),
            IstioOperatorSpec {
                mesh_config: Some(MeshConfig {
                    extension_providers: vec![ExtensionProvider {
                        name: "json-log".into(),
                        envoy_file_access_log: Some(EnvoyFileAccessLogProvider {
                            path: "/dev/stdout".into(),
                            log_format: None,
                        }),
                        ..ExtensionProvider::default()
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .into();
        assert!(check(&[iop.clone(), telemetry("a", None, "json-log")]).is_empty());
        let v = check(&[iop, telemetry("a", None, "text-log")]);
        assert_eq!(
            rules(&v),
            [(
                "TM-PROVIDER",
                "Telemetry shop/a".into(),
                "spec.accessLogging[0].providers[0].name".into()
            )]
        );
        assert_eq!(v[0].severity, ViolationSeverity::Error);
        let v = check(&[telemetry("a", None, "text-log")]);
        assert_eq!(v[0].severity, ViolationSeverity::Warning);
    }

    #[test]
    fn ist0157_access_logging_without_providers() {
        let t: IstioObject = Telemetry::new(
            Metadata::new("logs", "shop"),
            TelemetrySpec {
                selector: None,
                access_logging: vec![AccessLogging::default()],
                ..TelemetrySpec::default()
            },
        )
        .into();
        assert_eq!(
            rules(&check(&[t])),
            [(
                "IST0157",
                "Telemetry shop/logs".into(),
                "spec.accessLogging[0].providers".into()
            )]
        );
    }
}
