//! Indexing: one entry per App Mesh object with its defaulted `awsName`, its Mesh (what
//! App Mesh's webhook fills in as `spec.meshRef`), and the check that a reference names an
//! object of the input.
//!
//! Apart from the per-kind resolution because every kind goes through it first, and the
//! Mesh membership rules (meshRef, else namespace labels against namespaceSelectors) are
//! the webhook's own.

use std::collections::BTreeSet;

use crate::appmesh::{AppMeshKind, AppMeshObject};
use crate::load::Sourced;
use crate::origin::{ObjectRef, Origin};

use super::{
    BackendGroupEntry, Common, GatewayRouteEntry, Match, MeshSource, NsName, Resolver, Target,
    VirtualGatewayEntry, VirtualNodeEntry, VirtualRouterEntry, VirtualServiceEntry,
    default_aws_name, match_labels, service_key,
};

impl<'a> Resolver<'a> {
    pub(super) fn add_entry(&mut self, s: &'a Sourced<AppMeshObject>) {
        let kind = s.object.kind();
        let aws = |c: &Common<'_>| {
            s.object
                .spec_aws_name()
                .map(str::to_owned)
                .unwrap_or_else(|| default_aws_name(kind, &c.key.namespace, &c.key.name))
        };
        match &s.object {
            AppMeshObject::Mesh(_) => {}
            AppMeshObject::VirtualNode(vn) => {
                let common = self.common(s);
                let aws_name = aws(&common);
                let hostname = vn
                    .spec
                    .service_discovery
                    .as_ref()
                    .and_then(|sd| sd.dns.as_ref())
                    .map(|d| d.hostname.clone());
                self.r.virtual_nodes.insert(
                    common.key.clone(),
                    VirtualNodeEntry {
                        object: vn,
                        common,
                        aws_name,
                        hostname,
                        service: None,
                        backends: Vec::new(),
                        workloads: Vec::new(),
                        virtual_services: BTreeSet::new(),
                    },
                );
            }
            AppMeshObject::VirtualService(vs) => {
                let common = self.common(s);
                let aws_name = aws(&common);
                let service = service_key(&aws_name, &common.key.namespace)
                    .filter(|k| self.r.services.contains_key(k));
                self.r.virtual_services.insert(
                    common.key.clone(),
                    VirtualServiceEntry {
                        object: vs,
                        common,
                        aws_name,
                        provider: None,
                        ports: Vec::new(),
                        nodes: BTreeSet::new(),
                        service,
                    },
                );
            }
            AppMeshObject::VirtualRouter(vr) => {
                let common = self.common(s);
                let aws_name = aws(&common);
                self.r.virtual_routers.insert(
                    common.key.clone(),
                    VirtualRouterEntry {
                        object: vr,
                        common,
                        aws_name,
                        routes: Vec::new(),
                        virtual_services: BTreeSet::new(),
                    },
                );
            }
            AppMeshObject::VirtualGateway(vg) => {
                let common = self.common(s);
                let aws_name = aws(&common);
                self.r.virtual_gateways.insert(
                    common.key.clone(),
                    VirtualGatewayEntry {
                        object: vg,
                        common,
                        aws_name,
                        gateway_routes: BTreeSet::new(),
                        workloads: Vec::new(),
                    },
                );
            }
            AppMeshObject::GatewayRoute(gr) => {
                let common = self.common(s);
                let aws_name = aws(&common);
                self.r.gateway_routes.insert(
                    common.key.clone(),
                    GatewayRouteEntry {
                        object: gr,
                        common,
                        aws_name,
                        virtual_gateway: None,
                        target: None,
                    },
                );
            }
            AppMeshObject::BackendGroup(bg) => {
                let common = self.common(s);
                let virtual_services = bg
                    .spec
                    .virtual_services
                    .iter()
                    .map(|r| NsName::new(r.namespace_or(&common.key.namespace), &r.name))
                    .collect();
                self.r.backend_groups.insert(
                    common.key.clone(),
                    BackendGroupEntry {
                        object: bg,
                        common,
                        virtual_services,
                    },
                );
            }
        }
    }

    /// The Mesh of a namespaced object: `spec.meshRef` when written, else the namespace labels
    /// against every Mesh's namespaceSelector (exactly one must match).
    pub(super) fn membership(
        &mut self,
        s: &'a Sourced<AppMeshObject>,
        key: &NsName,
    ) -> (Option<String>, Option<MeshSource>) {
        let subject = s.object.object_ref();
        if let Some(mesh_ref) = s.object.mesh_ref() {
            if !self.r.meshes.contains_key(&mesh_ref.name) {
                self.finding(
                    "AMI1105",
                    subject,
                    &s.origin,
                    Some("spec.meshRef".into()),
                    format!(
                        "spec.meshRef names Mesh `{}`, which is not in the input",
                        mesh_ref.name
                    ),
                );
            }
            return (Some(mesh_ref.name.clone()), Some(MeshSource::MeshRef));
        }
        let namespace = key.namespace.clone();
        let first_time = !self.r.namespace_mesh.contains_key(&namespace);
        let labels = self.r.namespaces.get(&namespace).map(|n| &n.object.labels);
        let mut yes = Vec::new();
        let mut maybe = Vec::new();
        for (name, mesh) in &self.r.meshes {
            match match_labels(mesh.object.spec.namespace_selector.as_ref(), labels) {
                Match::Yes => yes.push(name.clone()),
                Match::Maybe => maybe.push(name.clone()),
                Match::No => {}
            }
        }
        let candidates = yes.len() + maybe.len();
        let result = if yes.len() == 1 && maybe.is_empty() {
            (Some(yes[0].clone()), Some(MeshSource::NamespaceLabels))
        } else if yes.is_empty() && maybe.len() == 1 {
            if first_time {
                let ns_ref = ObjectRef::new("Namespace", None, &namespace);
                self.finding(
                    "AMI1103",
                    ns_ref,
                    &s.origin,
                    None,
                    format!(
                        "namespace `{namespace}` is not in the input; its App Mesh objects are assumed to belong to \
                         Mesh `{}`, the only one that could select it",
                        maybe[0]
                    ),
                );
            }
            (Some(maybe[0].clone()), Some(MeshSource::Assumed))
        } else if self.r.meshes.is_empty() {
            if first_time {
                let ns_ref = ObjectRef::new("Namespace", None, &namespace);
                self.finding(
                    "AMI1104",
                    ns_ref,
                    &s.origin,
                    None,
                    format!("there is no Mesh in the input, so the mesh of namespace `{namespace}` is unknown"),
                );
            }
            (None, None)
        } else if candidates == 0 {
            let why = if labels.is_some() {
                format!("the labels of namespace `{namespace}` match no Mesh's namespaceSelector")
            } else {
                format!(
                    "namespace `{namespace}` is not in the input and every Mesh's namespaceSelector is nil (selects nothing)"
                )
            };
            self.finding(
                "AMI1101",
                subject,
                &s.origin,
                None,
                format!("{why}; the App Mesh webhook rejects this object"),
            );
            (None, None)
        } else if yes.len() > 1 {
            self.finding(
                "AMI1102",
                subject,
                &s.origin,
                None,
                format!("namespace `{namespace}` is selected by Meshes {}; the App Mesh webhook rejects this object", yes.join(", ")),
            );
            (None, None)
        } else {
            if first_time {
                let ns_ref = ObjectRef::new("Namespace", None, &namespace);
                let all: Vec<String> = yes.iter().chain(&maybe).cloned().collect();
                self.finding(
                    "AMI1104",
                    ns_ref,
                    &s.origin,
                    None,
                    format!(
                        "namespace `{namespace}` is not in the input and Meshes {} could each select it",
                        all.join(", ")
                    ),
                );
            }
            (None, None)
        };
        self.r
            .namespace_mesh
            .entry(namespace)
            .or_insert_with(|| result.0.clone());
        result
    }

    /// Check that a referenced object exists; findings for missing ones and ARNs.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn reference(
        &mut self,
        referrer: &ObjectRef,
        origin: &Origin,
        field: String,
        kind: AppMeshKind,
        target: Option<NsName>,
        arn: Option<&str>,
    ) -> Option<Target> {
        if let Some(key) = target {
            let exists = match kind {
                AppMeshKind::VirtualNode => self.r.virtual_nodes.contains_key(&key),
                AppMeshKind::VirtualService => self.r.virtual_services.contains_key(&key),
                AppMeshKind::VirtualRouter => self.r.virtual_routers.contains_key(&key),
                AppMeshKind::VirtualGateway => self.r.virtual_gateways.contains_key(&key),
                AppMeshKind::GatewayRoute => self.r.gateway_routes.contains_key(&key),
                AppMeshKind::BackendGroup => self.r.backend_groups.contains_key(&key),
                AppMeshKind::Mesh => self.r.meshes.contains_key(&key.name),
            };
            if !exists {
                self.finding(
                    "AMI1106",
                    referrer.clone(),
                    origin,
                    Some(field),
                    format!("{kind} {key} is not in the input"),
                );
            }
            return Some(Target::Object(key));
        }
        let arn = arn?;
        self.finding(
            "AMI1111",
            referrer.clone(),
            origin,
            Some(field),
            format!("{kind} referenced by ARN `{arn}` cannot be resolved from manifests"),
        );
        Some(Target::Arn(arn.to_owned()))
    }
}
