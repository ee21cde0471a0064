//! `convert --target gateway-api`: the validated classic output with its mesh
//! VirtualServices replaced by Gateway API routes.
//!
//! The stage reads the finished Istio objects (with the App Mesh objects each came from)
//! rather than the App Mesh graph: every App Mesh rule the classic translation applies
//! (route order, defaults, listener timeouts, target ports) is already in them, so the two
//! targets cannot drift apart. What Gateway API cannot say is reported against the App Mesh
//! source with an AMI25xx code; a VirtualService that cannot be translated without changing
//! behaviour is kept as it is (Istio applies VirtualServices and Gateway API routes side by
//! side) and reported. An Istio Gateway and its gateway VirtualServices become a Gateway API
//! Gateway and HTTPRoutes, or stay together ([`ingress`]). DestinationRules, Sidecars,
//! ServiceEntries and the security and telemetry policies stay: Gateway API has no
//! equivalent and Istio applies them to Gateway API traffic too.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::appmesh::common::PortProtocol;
use crate::convert::{ConvertOptions, SOURCE_ANNOTATION};
use crate::findings::Finding;
use crate::istio::{Gateway, IstioObject, VirtualService, sort_objects};
use crate::origin::ObjectRef;
use crate::report::ReportBuilder;
use crate::resolve::{NsName, Resolved};

mod backends;
mod ingress;
mod matches;
mod routes;

/// The finding codes of this target.
pub(crate) mod codes {
    /// A raw App Mesh path prefix written as a RegularExpression.
    pub const PREFIX_REGEX: &str = "AMI2501";
    /// Every path of a route written as a RegularExpression to keep App Mesh's order.
    pub const ALL_REGEX: &str = "AMI2502";
    /// VirtualService kept: Istio's ranking would reorder its routes.
    pub const ORDER: &str = "AMI2503";
    /// Header/query prefix or presence matches written as RegularExpressions.
    pub const VALUE_REGEX: &str = "AMI2504";
    /// An inverted header match dropped.
    pub const INVERT: &str = "AMI2505";
    /// Retries dropped (standard channel).
    pub const RETRY_DROPPED: &str = "AMI2506";
    /// Retry events without a Gateway API form.
    pub const RETRY_EVENTS: &str = "AMI2507";
    /// A gRPC route written as an HTTPRoute.
    pub const GRPC_AS_HTTP: &str = "AMI2508";
    /// A per-version Service generated.
    pub const VERSION_SERVICE: &str = "AMI2509";
    /// VirtualService kept (no Gateway API form).
    pub const KEPT: &str = "AMI2510";
    /// A ReferenceGrant generated.
    pub const REFERENCE_GRANT: &str = "AMI2511";
    /// Ingress objects kept as Istio Gateway and VirtualService.
    pub const INGRESS_KEPT: &str = "AMI2512";
    /// A Gateway API Gateway's TLS Secret must be in its namespace.
    pub const GATEWAY_SECRET: &str = "AMI2513";
}

/// A finding about one route (by App Mesh route name; empty for the whole object).
pub(crate) struct Note {
    code: &'static str,
    route: String,
    message: String,
}

impl Note {
    fn new(code: &'static str, route: &str, message: impl Into<String>) -> Note {
        Note {
            code,
            route: route.to_owned(),
            message: message.into(),
        }
    }
}

/// Replaces the mesh VirtualServices of `objects` by Gateway API routes.
pub(super) fn translate(
    objects: Vec<(IstioObject, Vec<ObjectRef>)>,
    resolved: &Resolved<'_>,
    opts: &ConvertOptions,
    report: &mut ReportBuilder,
) -> Vec<(IstioObject, Vec<ObjectRef>)> {
    let service_entries: BTreeMap<String, (String, String)> = objects
        .iter()
        .filter_map(|(o, _)| match o {
            IstioObject::ServiceEntry(se) => Some(se),
            _ => None,
        })
        .flat_map(|se| {
            let at = (
                se.metadata.namespace.clone().unwrap_or_default(),
                se.metadata.name.clone(),
            );
            se.spec.hosts.iter().map(move |h| (h.clone(), at.clone()))
        })
        .collect();
    let mut backends = backends::Backends::new(&objects, resolved, opts);
    let mut out = Vec::with_capacity(objects.len());
    // Istio Gateways and the gateway VirtualServices bound to each, by `namespace/name`.
    let mut gateways: BTreeMap<String, (Gateway, Vec<ObjectRef>)> = BTreeMap::new();
    let mut bound: BTreeMap<String, Vec<(VirtualService, Vec<ObjectRef>)>> = BTreeMap::new();
    let mut mesh = Vec::new();
    for (object, sources) in objects {
        match object {
            IstioObject::Gateway(g) => {
                let key = format!(
                    "{}/{}",
                    g.metadata.namespace.as_deref().unwrap_or_default(),
                    g.metadata.name
                );
                gateways.insert(key, (g, sources));
            }
            IstioObject::VirtualService(vs) if vs.spec.gateways.is_empty() => {
                mesh.push((vs, sources));
            }
            IstioObject::VirtualService(vs) => match vs.spec.gateways.as_slice() {
                [one] if one != "mesh" => bound.entry(one.clone()).or_default().push((vs, sources)),
                _ => {
                    keep_ingress(
                        report,
                        &sources,
                        &vs.metadata.name,
                        "it is bound to several gateways or also to the mesh",
                    );
                    out.push((vs.into(), sources));
                }
            },
            other => out.push((other, sources)),
        }
    }
    for (vs, sources) in mesh {
        let router = sources.iter().find(|s| s.kind == "VirtualRouter");
        let protocols = router_protocols(resolved, router);
        let checkpoint = backends.checkpoint();
        let mut ctx = routes::RouteContext {
            opts,
            backends: &mut backends,
            service_entries: &service_entries,
            protocols,
        };
        let subject = router.or(sources.first()).cloned();
        match routes::mesh_routes(&vs, &sources, &mut ctx) {
            Ok((routes, notes)) => {
                if let Some(subject) = &subject {
                    for note in notes {
                        report.finding(note_finding(resolved, subject, note));
                    }
                }
                out.extend(routes.into_iter().map(|r| (r, sources.clone())));
            }
            Err(kept) => {
                backends.restore(checkpoint);
                if let Some(subject) = subject {
                    report.finding(Finding::new(
                        kept.code,
                        subject,
                        format!(
                            "VirtualService {} is kept as it is: {}",
                            vs.metadata.name, kept.reason
                        ),
                    ));
                }
                out.push((vs.into(), sources));
            }
        }
    }
    for (key, (gateway, gateway_sources)) in gateways {
        let routes = bound.remove(&key).unwrap_or_default();
        let refs: Vec<(&VirtualService, &[ObjectRef])> =
            routes.iter().map(|(vs, s)| (vs, s.as_slice())).collect();
        let checkpoint = backends.checkpoint();
        let mut ctx = routes::RouteContext {
            opts,
            backends: &mut backends,
            service_entries: &service_entries,
            protocols: BTreeMap::new(),
        };
        match ingress::translate(&gateway, &refs, &mut ctx) {
            Ok((kube_gateway, replaced, notes)) => {
                for (route_source, note) in notes {
                    if let Some(subject) = route_source.as_ref().or(gateway_sources.first()) {
                        report.finding(note_finding(resolved, subject, note));
                    }
                }
                out.push((kube_gateway, gateway_sources));
                out.extend(replaced);
            }
            Err(kept) => {
                backends.restore(checkpoint);
                if let Some(subject) = gateway_sources.first() {
                    report.finding(Finding::new(
                        kept.code,
                        subject.clone(),
                        format!(
                            "Gateway {} and its gateway routes are kept as Istio objects: {}",
                            gateway.metadata.name, kept.reason
                        ),
                    ));
                }
                out.push((gateway.into(), gateway_sources));
                out.extend(routes.into_iter().map(|(vs, s)| (vs.into(), s)));
            }
        }
    }
    // Bound to a gateway that is not generated here (one that already exists).
    for (vs, sources) in bound.into_values().flatten() {
        keep_ingress(
            report,
            &sources,
            &vs.metadata.name,
            "its Gateway is not part of this output",
        );
        out.push((vs.into(), sources));
    }
    for (mut object, sources) in backends.finish() {
        let note = match &object {
            IstioObject::Service(s) => (
                codes::VERSION_SERVICE,
                format!(
                    "Service {}/{} is generated to select this version's pods ({}): a backendRef cannot name a subset",
                    s.metadata.namespace.as_deref().unwrap_or_default(),
                    s.metadata.name,
                    s.spec
                        .selector
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            ),
            other => (
                codes::REFERENCE_GRANT,
                format!(
                    "ReferenceGrant {}/{} is generated: routes reach Services in another namespace only where a grant allows it",
                    other.namespace().unwrap_or_default(),
                    other.name()
                ),
            ),
        };
        if let Some(subject) = sources.first() {
            report.finding(Finding::new(note.0, subject.clone(), note.1));
        }
        annotate(&mut object, &sources);
        out.push((object, sources));
    }
    let (mut objects, sources): (Vec<IstioObject>, Vec<Vec<ObjectRef>>) = out.into_iter().unzip();
    let mut order: Vec<usize> = (0..objects.len()).collect();
    order.sort_by(|&a, &b| objects[a].sort_key().cmp(&objects[b].sort_key()));
    let sources_sorted: Vec<Vec<ObjectRef>> = order.iter().map(|&i| sources[i].clone()).collect();
    sort_objects(&mut objects);
    objects.into_iter().zip(sources_sorted).collect()
}

/// Reports a gateway VirtualService kept as it is.
fn keep_ingress(report: &mut ReportBuilder, sources: &[ObjectRef], name: &str, why: &str) {
    if let Some(subject) = sources.first() {
        report.finding(Finding::new(
            codes::INGRESS_KEPT,
            subject.clone(),
            format!("the gateway routes stay Istio VirtualService {name}: {why}"),
        ));
    }
}

/// The App Mesh protocol of each route of `router`, by route name.
fn router_protocols(
    resolved: &Resolved<'_>,
    router: Option<&ObjectRef>,
) -> BTreeMap<String, PortProtocol> {
    let Some(r) = router else {
        return BTreeMap::new();
    };
    let key = NsName::new(r.namespace.clone().unwrap_or_default(), r.name.clone());
    resolved
        .virtual_routers
        .get(&key)
        .map(|entry| {
            entry
                .routes
                .iter()
                .filter_map(|route| route.protocol.map(|p| (route.name.clone(), p)))
                .collect()
        })
        .unwrap_or_default()
}

/// A note as a finding on the route's field of its VirtualRouter.
fn note_finding(resolved: &Resolved<'_>, subject: &ObjectRef, note: Note) -> Finding {
    let finding = Finding::new(note.code, subject.clone(), note.message);
    if note.route.is_empty() || subject.kind != "VirtualRouter" {
        return finding;
    }
    let key = NsName::new(
        subject.namespace.clone().unwrap_or_default(),
        subject.name.clone(),
    );
    match resolved
        .virtual_routers
        .get(&key)
        .and_then(|e| e.routes.iter().find(|r| r.name == note.route))
    {
        Some(route) => finding.at_field(format!("spec.routes[{}]", route.index)),
        None => finding,
    }
}

/// The managed-by label is set at creation; this adds the source annotation.
fn annotate(object: &mut IstioObject, sources: &[ObjectRef]) {
    let mut annotation = String::new();
    for (i, source) in sources.iter().enumerate() {
        let separator = if i == 0 { "" } else { ", " };
        // Writing into a String cannot fail.
        let _ = write!(annotation, "{separator}{source}");
    }
    object
        .metadata_mut()
        .annotations
        .insert(SOURCE_ANNOTATION.to_owned(), annotation);
}

#[cfg(test)]
mod tests;
