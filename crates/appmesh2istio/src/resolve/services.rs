//! VirtualServices and VirtualRouters: each service's provider, each router's routes and
//! weighted targets, and the nodes each service reaches.
//!
//! Apart because this is the routing side of the model (what a request to a service host
//! reaches), resolved before nodes' backends, which name these services.

use std::collections::BTreeSet;

use crate::appmesh::AppMeshKind;
use crate::appmesh::common::PortProtocol;
use crate::appmesh::virtual_router::{RouteAction, WeightedTarget};
use crate::origin::{ObjectRef, Origin};

use super::{NsName, Provider, ResolvedRoute, ResolvedWeightedTarget, Resolver, Target, ref_field};

impl<'a> Resolver<'a> {
    pub(super) fn resolve_virtual_services(&mut self) {
        let keys: Vec<NsName> = self.r.virtual_services.keys().cloned().collect();
        for key in keys {
            let Some(entry) = self.r.virtual_services.get(&key) else {
                continue;
            };
            let (vs, origin) = (entry.object, entry.common.origin);
            let subject = key.object_ref(AppMeshKind::VirtualService);
            let provider = vs.spec.provider.as_ref();
            let node = provider.and_then(|p| p.virtual_node.as_ref());
            let router = provider.and_then(|p| p.virtual_router.as_ref());
            let resolved = match (node, router) {
                (None, None) => {
                    self.finding(
                        "AMI1114",
                        subject,
                        origin,
                        Some("spec.provider".into()),
                        "no provider: traffic to this VirtualService goes nowhere".into(),
                    );
                    None
                }
                (Some(_), Some(_)) => {
                    self.finding(
                        "AMI1115",
                        subject,
                        origin,
                        Some("spec.provider".into()),
                        "both virtualNode and virtualRouter are set; App Mesh requires exactly one"
                            .into(),
                    );
                    None
                }
                (Some(n), None) => {
                    let (field, exactly_one) = ref_field(
                        "spec.provider.virtualNode",
                        "virtualNodeRef",
                        "virtualNodeARN",
                        n.virtual_node_ref.is_some(),
                        n.virtual_node_arn.is_some(),
                    );
                    if !exactly_one {
                        self.finding(
                            "AMI1115",
                            subject.clone(),
                            origin,
                            Some("spec.provider.virtualNode".into()),
                            "set exactly one of virtualNodeRef and virtualNodeARN".into(),
                        );
                    }
                    let target = n
                        .virtual_node_ref
                        .as_ref()
                        .map(|r| NsName::new(r.namespace_or(&key.namespace), &r.name));
                    self.reference(
                        &subject,
                        origin,
                        field,
                        AppMeshKind::VirtualNode,
                        target,
                        n.virtual_node_arn.as_deref(),
                    )
                    .map(Provider::VirtualNode)
                }
                (None, Some(rt)) => {
                    let (field, exactly_one) = ref_field(
                        "spec.provider.virtualRouter",
                        "virtualRouterRef",
                        "virtualRouterARN",
                        rt.virtual_router_ref.is_some(),
                        rt.virtual_router_arn.is_some(),
                    );
                    if !exactly_one {
                        self.finding(
                            "AMI1115",
                            subject.clone(),
                            origin,
                            Some("spec.provider.virtualRouter".into()),
                            "set exactly one of virtualRouterRef and virtualRouterARN".into(),
                        );
                    }
                    let target = rt
                        .virtual_router_ref
                        .as_ref()
                        .map(|r| NsName::new(r.namespace_or(&key.namespace), &r.name));
                    self.reference(
                        &subject,
                        origin,
                        field,
                        AppMeshKind::VirtualRouter,
                        target,
                        rt.virtual_router_arn.as_deref(),
                    )
                    .map(Provider::VirtualRouter)
                }
            };
            let ports = match &resolved {
                Some(Provider::VirtualNode(Target::Object(n))) => self
                    .r
                    .virtual_nodes
                    .get(n)
                    .map(|vn| {
                        vn.object
                            .spec
                            .listeners
                            .iter()
                            .map(|l| l.port_mapping.clone())
                            .collect()
                    })
                    .unwrap_or_default(),
                Some(Provider::VirtualRouter(Target::Object(r))) => self
                    .r
                    .virtual_routers
                    .get(r)
                    .map(|vr| {
                        vr.object
                            .spec
                            .listeners
                            .iter()
                            .map(|l| l.port_mapping.clone())
                            .collect()
                    })
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            if let Some(Provider::VirtualRouter(Target::Object(r))) = &resolved
                && let Some(router) = self.r.virtual_routers.get_mut(r)
            {
                router.virtual_services.insert(key.clone());
            }
            if let Some(entry) = self.r.virtual_services.get_mut(&key) {
                entry.provider = resolved;
                entry.ports = ports;
            }
        }
    }

    pub(super) fn resolve_virtual_routers(&mut self) {
        let keys: Vec<NsName> = self.r.virtual_routers.keys().cloned().collect();
        for key in keys {
            let Some(entry) = self.r.virtual_routers.get(&key) else {
                continue;
            };
            let (vr, origin) = (entry.object, entry.common.origin);
            let subject = key.object_ref(AppMeshKind::VirtualRouter);
            let mut names = BTreeSet::new();
            let mut routes = Vec::new();
            for (index, route) in vr.spec.routes.iter().enumerate() {
                let base = format!("spec.routes[{index}]");
                if !names.insert(route.name.as_str()) {
                    self.finding(
                        "AMI1115",
                        subject.clone(),
                        origin,
                        Some(format!("{base}.name")),
                        format!("route name `{}` is used twice in this router", route.name),
                    );
                }
                let typed: Vec<(&str, PortProtocol, &RouteAction)> = [
                    route
                        .http_route
                        .as_ref()
                        .map(|r| ("httpRoute", PortProtocol::Http, &r.action)),
                    route
                        .http2_route
                        .as_ref()
                        .map(|r| ("http2Route", PortProtocol::Http2, &r.action)),
                    route
                        .grpc_route
                        .as_ref()
                        .map(|r| ("grpcRoute", PortProtocol::Grpc, &r.action)),
                    route
                        .tcp_route
                        .as_ref()
                        .map(|r| ("tcpRoute", PortProtocol::Tcp, &r.action)),
                ]
                .into_iter()
                .flatten()
                .collect();
                if typed.len() != 1 {
                    self.finding("AMI1115", subject.clone(), origin, Some(base.clone()), format!("route `{}` must set exactly one of httpRoute, http2Route, grpcRoute and tcpRoute ({} set)", route.name, typed.len()));
                }
                for (field, http) in [
                    ("httpRoute", route.http_route.as_ref()),
                    ("http2Route", route.http2_route.as_ref()),
                ] {
                    let Some(http) = http else { continue };
                    let m = &http.match_;
                    if m.prefix.is_some() == m.path.is_some() {
                        self.finding(
                            "AMI1115",
                            subject.clone(),
                            origin,
                            Some(format!("{base}.{field}.match")),
                            "set exactly one of prefix and path".into(),
                        );
                    }
                    if let Some(path) = &m.path
                        && path.exact.is_some() == path.regex.is_some()
                    {
                        self.finding(
                            "AMI1115",
                            subject.clone(),
                            origin,
                            Some(format!("{base}.{field}.match.path")),
                            "set exactly one of exact and regex".into(),
                        );
                    }
                }
                let Some((field, protocol, action)) = typed.first().copied() else {
                    routes.push(ResolvedRoute {
                        index,
                        name: route.name.clone(),
                        protocol: None,
                        targets: Vec::new(),
                    });
                    continue;
                };
                let targets = self.weighted_targets(
                    &subject,
                    origin,
                    &key,
                    &format!("{base}.{field}.action"),
                    action,
                );
                routes.push(ResolvedRoute {
                    index,
                    name: route.name.clone(),
                    protocol: Some(protocol),
                    targets,
                });
            }
            if let Some(entry) = self.r.virtual_routers.get_mut(&key) {
                entry.routes = routes;
            }
        }
    }

    fn weighted_targets(
        &mut self,
        subject: &ObjectRef,
        origin: &Origin,
        key: &NsName,
        base: &str,
        action: &RouteAction,
    ) -> Vec<ResolvedWeightedTarget> {
        let mut out = Vec::new();
        for (i, t) in action.weighted_targets.iter().enumerate() {
            let WeightedTarget {
                virtual_node_ref,
                virtual_node_arn,
                weight,
                port,
            } = t;
            let (field, exactly_one) = ref_field(
                &format!("{base}.weightedTargets[{i}]"),
                "virtualNodeRef",
                "virtualNodeARN",
                virtual_node_ref.is_some(),
                virtual_node_arn.is_some(),
            );
            if !exactly_one {
                self.finding(
                    "AMI1115",
                    subject.clone(),
                    origin,
                    Some(format!("{base}.weightedTargets[{i}]")),
                    "set exactly one of virtualNodeRef and virtualNodeARN".into(),
                );
            }
            let target = virtual_node_ref
                .as_ref()
                .map(|r| NsName::new(r.namespace_or(&key.namespace), &r.name));
            if let Some(node) = self.reference(
                subject,
                origin,
                field,
                AppMeshKind::VirtualNode,
                target,
                virtual_node_arn.as_deref(),
            ) {
                out.push(ResolvedWeightedTarget {
                    node,
                    weight: *weight,
                    port: *port,
                });
            }
        }
        out
    }

    /// VirtualService → VirtualNodes it reaches, and the reverse.
    pub(super) fn link_service_nodes(&mut self) {
        let mut links = Vec::new();
        for (key, vs) in &self.r.virtual_services {
            let nodes: BTreeSet<NsName> = match &vs.provider {
                Some(Provider::VirtualNode(Target::Object(n))) => [n.clone()].into(),
                Some(Provider::VirtualRouter(Target::Object(r))) => self
                    .r
                    .virtual_routers
                    .get(r)
                    .map(|vr| {
                        vr.routes
                            .iter()
                            .flat_map(|rt| &rt.targets)
                            .filter_map(|t| t.node.object().cloned())
                            .collect()
                    })
                    .unwrap_or_default(),
                _ => BTreeSet::new(),
            };
            let nodes: BTreeSet<NsName> = nodes
                .into_iter()
                .filter(|n| self.r.virtual_nodes.contains_key(n))
                .collect();
            links.push((key.clone(), nodes));
        }
        for (vs, nodes) in links {
            for node in &nodes {
                if let Some(vn) = self.r.virtual_nodes.get_mut(node) {
                    vn.virtual_services.insert(vs.clone());
                }
            }
            if let Some(entry) = self.r.virtual_services.get_mut(&vs) {
                entry.nodes = nodes;
            }
        }
    }
}
