//! VirtualGateways and GatewayRoutes: each route's gateway (`gatewayRouteSelector` and
//! namespace selection, as App Mesh's webhook fills in `spec.virtualGatewayRef`), its target,
//! and the gateway's own checks.
//!
//! Apart because gateway attachment is its own selection rule, independent of routers and
//! nodes.

use crate::appmesh::{AppMeshKind, GatewayRoute};
use crate::origin::{ObjectRef, Origin};

use super::{Match, NsName, Resolver, match_labels, ref_field, selector_matches};

impl<'a> Resolver<'a> {
    /// GatewayRoute → VirtualGateway: `spec.virtualGatewayRef` when written, else the single
    /// VirtualGateway whose namespaceSelector matches the route's namespace labels and whose
    /// gatewayRouteSelector (nil = all) matches the route's labels.
    pub(super) fn resolve_gateway_routes(&mut self) {
        let keys: Vec<NsName> = self.r.gateway_routes.keys().cloned().collect();
        for key in keys {
            let Some(entry) = self.r.gateway_routes.get(&key) else {
                continue;
            };
            let (gr, origin, gr_mesh) =
                (entry.object, entry.common.origin, entry.common.mesh.clone());
            let subject = key.object_ref(AppMeshKind::GatewayRoute);
            let spec = &gr.spec;
            let types = [
                spec.http_route.is_some(),
                spec.http2_route.is_some(),
                spec.grpc_route.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if types != 1 {
                self.finding(
                    "AMI1115",
                    subject.clone(),
                    origin,
                    Some("spec".into()),
                    format!("set exactly one of httpRoute, http2Route and grpcRoute ({types} set)"),
                );
            }
            let route_target = if let Some(r) = &spec.http_route {
                Some((
                    "spec.httpRoute.action.target.virtualService",
                    &r.action.target,
                ))
            } else if let Some(r) = &spec.http2_route {
                Some((
                    "spec.http2Route.action.target.virtualService",
                    &r.action.target,
                ))
            } else {
                spec.grpc_route.as_ref().map(|r| {
                    (
                        "spec.grpcRoute.action.target.virtualService",
                        &r.action.target,
                    )
                })
            };
            let target = match route_target {
                None => None,
                Some((route_field, target)) => {
                    let vs = &target.virtual_service;
                    let (field, exactly_one) = ref_field(
                        route_field,
                        "virtualServiceRef",
                        "virtualServiceARN",
                        vs.virtual_service_ref.is_some(),
                        vs.virtual_service_arn.is_some(),
                    );
                    if !exactly_one {
                        self.finding(
                            "AMI1115",
                            subject.clone(),
                            origin,
                            Some(route_field.into()),
                            "set exactly one of virtualServiceRef and virtualServiceARN".into(),
                        );
                    }
                    let obj = vs
                        .virtual_service_ref
                        .as_ref()
                        .map(|r| NsName::new(r.namespace_or(&key.namespace), &r.name));
                    self.reference(
                        &subject,
                        origin,
                        field,
                        AppMeshKind::VirtualService,
                        obj,
                        vs.virtual_service_arn.as_deref(),
                    )
                }
            };

            let gateway = if let Some(vg_ref) = &spec.virtual_gateway_ref {
                let vg_key = NsName::new(
                    vg_ref.namespace.as_deref().unwrap_or(&key.namespace),
                    &vg_ref.name,
                );
                self.reference(
                    &subject,
                    origin,
                    "spec.virtualGatewayRef".into(),
                    AppMeshKind::VirtualGateway,
                    Some(vg_key.clone()),
                    None,
                );
                Some(vg_key)
            } else {
                self.attach(&key, &subject, origin, gr)
            };
            let gateway = gateway.filter(|vg| {
                let vg_mesh = self.r.virtual_gateways.get(vg).and_then(|e| e.common.mesh.clone());
                match (&vg_mesh, &gr_mesh) {
                    (Some(a), Some(b)) if a != b && spec.virtual_gateway_ref.is_none() => {
                        self.finding("AMI1109", subject.clone(), origin, None, format!("VirtualGateway {vg} is in Mesh `{a}` but this GatewayRoute is in Mesh `{b}`"));
                        false
                    }
                    _ => true,
                }
            });
            if let Some(vg) = &gateway
                && let Some(vg_entry) = self.r.virtual_gateways.get_mut(vg)
            {
                vg_entry.gateway_routes.insert(key.clone());
            }
            if let Some(entry) = self.r.gateway_routes.get_mut(&key) {
                entry.virtual_gateway = gateway;
                entry.target = target;
            }
        }
    }

    fn attach(
        &mut self,
        key: &NsName,
        subject: &ObjectRef,
        origin: &Origin,
        gr: &GatewayRoute,
    ) -> Option<NsName> {
        let labels = self
            .r
            .namespaces
            .get(&key.namespace)
            .map(|n| &n.object.labels);
        let gr_labels = gr.metadata.labels.clone().unwrap_or_default();
        let mut yes = Vec::new();
        let mut maybe = Vec::new();
        for (vg_key, vg) in &self.r.virtual_gateways {
            if !selector_matches(
                vg.object.spec.gateway_route_selector.as_ref(),
                &gr_labels,
                true,
            ) {
                continue;
            }
            match match_labels(vg.object.spec.namespace_selector.as_ref(), labels) {
                Match::Yes => yes.push(vg_key.clone()),
                Match::Maybe => maybe.push(vg_key.clone()),
                Match::No => {}
            }
        }
        let list = |v: &[NsName]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if yes.len() > 1 {
            self.finding(
                "AMI1108",
                subject.clone(),
                origin,
                None,
                format!("selected by VirtualGateways {}", list(&yes)),
            );
            return None;
        }
        match (yes.len(), maybe.len()) {
            (1, 0) => Some(yes[0].clone()),
            (0, 0) => {
                let why = if labels.is_some() {
                    "no VirtualGateway selects its namespace's labels and its own labels"
                } else {
                    "its namespace is not in the input and no VirtualGateway could select it"
                };
                self.finding(
                    "AMI1107",
                    subject.clone(),
                    origin,
                    None,
                    format!("{why}; the App Mesh webhook rejects it"),
                );
                None
            }
            (0, 1) => {
                self.finding(
                    "AMI1110",
                    subject.clone(),
                    origin,
                    None,
                    format!("namespace `{}` is not in the input; attached to VirtualGateway {}, the only one that could select it", key.namespace, maybe[0]),
                );
                Some(maybe[0].clone())
            }
            _ => {
                let all: Vec<NsName> = yes.iter().chain(&maybe).cloned().collect();
                self.finding(
                    "AMI1118",
                    subject.clone(),
                    origin,
                    None,
                    format!("namespace `{}` is not in the input and VirtualGateways {} could each select it", key.namespace, list(&all)),
                );
                None
            }
        }
    }

    pub(super) fn check_virtual_gateways(&mut self) {
        let checks: Vec<(ObjectRef, &'a Origin, usize)> = self
            .r
            .virtual_gateways
            .iter()
            .flat_map(|(key, vg)| {
                vg.object
                    .spec
                    .listeners
                    .iter()
                    .enumerate()
                    .filter_map(move |(i, l)| {
                        let pool = l.connection_pool.as_ref()?;
                        let set = [
                            pool.http.is_some(),
                            pool.http2.is_some(),
                            pool.grpc.is_some(),
                        ]
                        .iter()
                        .filter(|b| **b)
                        .count();
                        (set > 1).then(|| {
                            (
                                key.object_ref(AppMeshKind::VirtualGateway),
                                vg.common.origin,
                                i,
                            )
                        })
                    })
            })
            .collect();
        for (subject, origin, i) in checks {
            self.finding(
                "AMI1115",
                subject,
                origin,
                Some(format!("spec.listeners[{i}].connectionPool")),
                "at most one connection pool type may be set per listener".into(),
            );
        }
    }
}
