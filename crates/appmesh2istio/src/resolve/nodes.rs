//! BackendGroups and VirtualNodes: group members, each node's backends (with groups
//! expanded), service discovery and listener checks.
//!
//! Apart because this is the client side of the model: what each node may call, resolved
//! once the services it names are known.

use std::collections::BTreeSet;

use crate::appmesh::AppMeshKind;

use super::{BackendSource, NsName, ResolvedBackend, Resolver, Target, ref_field, service_key};

impl<'a> Resolver<'a> {
    pub(super) fn resolve_backend_groups(&mut self) {
        let keys: Vec<NsName> = self.r.backend_groups.keys().cloned().collect();
        for key in keys {
            let Some(entry) = self.r.backend_groups.get(&key) else {
                continue;
            };
            let (members, origin) = (entry.virtual_services.clone(), entry.common.origin);
            let subject = key.object_ref(AppMeshKind::BackendGroup);
            for (i, member) in members.into_iter().enumerate() {
                if member.name != "*" {
                    self.reference(
                        &subject,
                        origin,
                        format!("spec.virtualservices[{i}]"),
                        AppMeshKind::VirtualService,
                        Some(member),
                        None,
                    );
                }
            }
        }
    }

    pub(super) fn resolve_virtual_nodes(&mut self) {
        let keys: Vec<NsName> = self.r.virtual_nodes.keys().cloned().collect();
        let any_service = !self.r.services.is_empty();
        for key in keys {
            let Some(entry) = self.r.virtual_nodes.get(&key) else {
                continue;
            };
            let (vn, origin) = (entry.object, entry.common.origin);
            let subject = key.object_ref(AppMeshKind::VirtualNode);
            let spec = &vn.spec;
            if !spec.listeners.is_empty() && spec.service_discovery.is_none() {
                self.finding(
                    "AMI1115",
                    subject.clone(),
                    origin,
                    Some("spec.serviceDiscovery".into()),
                    "serviceDiscovery is required when listeners are set".into(),
                );
            }
            if let Some(sd) = &spec.service_discovery
                && sd.dns.is_some() == sd.aws_cloud_map.is_some()
            {
                self.finding(
                    "AMI1115",
                    subject.clone(),
                    origin,
                    Some("spec.serviceDiscovery".into()),
                    "set exactly one of dns and awsCloudMap".into(),
                );
            }
            for (i, l) in spec.listeners.iter().enumerate() {
                if let Some(pool) = &l.connection_pool {
                    let set = [
                        pool.tcp.is_some(),
                        pool.http.is_some(),
                        pool.http2.is_some(),
                        pool.grpc.is_some(),
                    ]
                    .iter()
                    .filter(|b| **b)
                    .count();
                    if set > 1 {
                        self.finding(
                            "AMI1115",
                            subject.clone(),
                            origin,
                            Some(format!("spec.listeners[{i}].connectionPool")),
                            "at most one connection pool type may be set per listener".into(),
                        );
                    }
                }
            }
            let mut backends: Vec<ResolvedBackend<'a>> = Vec::new();
            let mut seen: BTreeSet<Target> = BTreeSet::new();
            for (index, b) in spec.backends.iter().enumerate() {
                let vsb = &b.virtual_service;
                let base = format!("spec.backends[{index}].virtualService");
                let (field, exactly_one) = ref_field(
                    &base,
                    "virtualServiceRef",
                    "virtualServiceARN",
                    vsb.virtual_service_ref.is_some(),
                    vsb.virtual_service_arn.is_some(),
                );
                if !exactly_one {
                    self.finding(
                        "AMI1115",
                        subject.clone(),
                        origin,
                        Some(base.clone()),
                        "set exactly one of virtualServiceRef and virtualServiceARN".into(),
                    );
                }
                let target = vsb
                    .virtual_service_ref
                    .as_ref()
                    .map(|r| NsName::new(r.namespace_or(&key.namespace), &r.name));
                let Some(target) = self.reference(
                    &subject,
                    origin,
                    field,
                    AppMeshKind::VirtualService,
                    target,
                    vsb.virtual_service_arn.as_deref(),
                ) else {
                    continue;
                };
                if !seen.insert(target.clone()) {
                    self.finding(
                        "AMI1115",
                        subject.clone(),
                        origin,
                        Some(format!("spec.backends[{index}]")),
                        "duplicate backend".into(),
                    );
                    continue;
                }
                backends.push(ResolvedBackend {
                    virtual_service: target,
                    client_policy: vsb.client_policy.as_ref(),
                    source: BackendSource::Listed { index },
                });
            }
            if !spec.backend_groups.is_empty() {
                self.finding("AMI1116", subject.clone(), origin, Some("spec.backendGroups".into()), "backendGroups expanded into backends (honoured only with --enable-backend-groups=true)".into());
            }
            for (i, group) in spec.backend_groups.iter().enumerate() {
                let namespace = group.namespace_or(&key.namespace).to_owned();
                let (members, source): (Vec<NsName>, BackendSource) = if group.name == "*" {
                    let members = self
                        .r
                        .virtual_services
                        .keys()
                        .filter(|k| k.namespace == namespace)
                        .cloned()
                        .collect();
                    (members, BackendSource::Wildcard { namespace })
                } else {
                    let bg_key = NsName::new(namespace, &group.name);
                    self.reference(
                        &subject,
                        origin,
                        format!("spec.backendGroups[{i}]"),
                        AppMeshKind::BackendGroup,
                        Some(bg_key.clone()),
                        None,
                    );
                    let members = self
                        .r
                        .backend_groups
                        .get(&bg_key)
                        .map(|bg| bg.virtual_services.clone())
                        .unwrap_or_default();
                    // A member named `*` inside a group also means every VirtualService there.
                    let members = members
                        .into_iter()
                        .flat_map(|m| {
                            if m.name == "*" {
                                self.r
                                    .virtual_services
                                    .keys()
                                    .filter(|k| k.namespace == m.namespace)
                                    .cloned()
                                    .collect()
                            } else {
                                vec![m]
                            }
                        })
                        .collect();
                    (members, BackendSource::BackendGroup(bg_key))
                };
                for member in members {
                    let target = Target::Object(member);
                    if seen.insert(target.clone()) {
                        backends.push(ResolvedBackend {
                            virtual_service: target,
                            client_policy: None,
                            source: source.clone(),
                        });
                    }
                }
            }
            let hostname = self
                .r
                .virtual_nodes
                .get(&key)
                .and_then(|e| e.hostname.clone());
            let service = hostname
                .as_deref()
                .and_then(|h| service_key(h, &key.namespace))
                .filter(|k| self.r.services.contains_key(k));
            if let Some(h) = &hostname
                && service.is_none()
                && any_service
                && service_key(h, &key.namespace).is_some()
            {
                self.finding(
                    "AMI1117",
                    subject.clone(),
                    origin,
                    Some("spec.serviceDiscovery.dns.hostname".into()),
                    format!("`{h}` names no Kubernetes Service of the input"),
                );
            }
            if let Some(entry) = self.r.virtual_nodes.get_mut(&key) {
                entry.backends = backends;
                entry.service = service;
            }
        }
    }
}
