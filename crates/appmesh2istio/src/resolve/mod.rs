//! App Mesh's webhook and controller semantics, computed once from an [`Inventory`].
//!
//! Manifests in Git lack what the App Mesh webhook fills in on create (`spec.meshRef`,
//! `spec.virtualGatewayRef`, defaulted `spec.awsName`), so they are recomputed here with the
//! same rules; when present (objects read from a cluster) they are authoritative. Later stages
//! read [`Resolved`] and never re-derive membership, names or references.

pub mod selector;
mod workloads;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::appmesh::common::{ClientPolicy, PortMapping, PortProtocol};
use crate::appmesh::virtual_router::{RouteAction, WeightedTarget};
use crate::appmesh::{
    AppMeshKind, AppMeshObject, BackendGroup, GatewayRoute, Mesh, VirtualGateway, VirtualNode,
    VirtualRouter, VirtualService,
};
use crate::findings::Finding;
use crate::k8s::{Service, Workload};
use crate::load::{Inventory, Sourced};
use crate::origin::{ObjectRef, Origin};

pub use selector::{selector_matches, selector_problem, selects_everything};

/// A podSelector that is not a valid Kubernetes label selector.
pub(crate) const CODE_INVALID_SELECTOR: &str = "AMI1120";

/// Namespace and name of a namespaced object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NsName {
    pub namespace: String,
    pub name: String,
}

impl NsName {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> NsName {
        NsName {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    pub fn object_ref(&self, kind: AppMeshKind) -> ObjectRef {
        ObjectRef::new(kind.as_str(), Some(&self.namespace), &self.name)
    }
}

impl fmt::Display for NsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A resolved reference: an object (which may be absent from the input, with a finding
/// saying so) or an AWS ARN, which manifests cannot resolve.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Object(NsName),
    Arn(String),
}

impl Target {
    pub fn object(&self) -> Option<&NsName> {
        match self {
            Target::Object(key) => Some(key),
            Target::Arn(_) => None,
        }
    }
}

/// How an object's Mesh was determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshSource {
    /// `spec.meshRef` as written (objects read from a cluster).
    MeshRef,
    /// The namespace's labels matched exactly one Mesh's namespaceSelector.
    NamespaceLabels,
    /// The Namespace is not in the input and only one Mesh could select it (AMI1103).
    Assumed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MeshEntry<'a> {
    pub object: &'a Mesh,
    pub origin: &'a Origin,
    /// `spec.awsName`, default `metadata.name`.
    pub aws_name: String,
    /// Namespaces of the input whose objects belong to this mesh.
    pub namespaces: BTreeSet<String>,
}

/// What every namespaced entry carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Common<'a> {
    pub key: NsName,
    pub origin: &'a Origin,
    /// The Mesh (its `metadata.name`), when it could be determined.
    pub mesh: Option<String>,
    pub mesh_source: Option<MeshSource>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VirtualNodeEntry<'a> {
    pub object: &'a VirtualNode,
    pub common: Common<'a>,
    /// `spec.awsName`, default `<name>_<namespace>`.
    pub aws_name: String,
    /// `spec.serviceDiscovery.dns.hostname`.
    pub hostname: Option<String>,
    /// The Kubernetes Service that DNS hostname names, when it is in the input.
    pub service: Option<NsName>,
    /// Backends after BackendGroup expansion, without duplicates, in declaration order.
    pub backends: Vec<ResolvedBackend<'a>>,
    /// Indices into `Inventory::workloads` selected by `spec.podSelector`.
    pub workloads: Vec<usize>,
    /// VirtualServices whose traffic reaches this node (directly or through a router).
    pub virtual_services: BTreeSet<NsName>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedBackend<'a> {
    pub virtual_service: Target,
    /// The backend's own client policy (not merged with `backendDefaults`).
    pub client_policy: Option<&'a ClientPolicy>,
    pub source: BackendSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendSource {
    /// `spec.backends[index]`.
    Listed { index: usize },
    /// Expanded from this BackendGroup.
    BackendGroup(NsName),
    /// `backendGroups: [{name: "*", namespace}]`: every VirtualService of that namespace.
    Wildcard { namespace: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    VirtualNode(Target),
    VirtualRouter(Target),
}

#[derive(Debug, Clone, PartialEq)]
pub struct VirtualServiceEntry<'a> {
    pub object: &'a VirtualService,
    pub common: Common<'a>,
    /// `spec.awsName`, default `<name>.<namespace>`: the hostname clients call.
    pub aws_name: String,
    pub provider: Option<Provider>,
    /// Listeners of the provider (router or node) that is in the input: the ports clients use.
    pub ports: Vec<PortMapping>,
    /// VirtualNodes reached (the provider node, or every router target), present in the input.
    pub nodes: BTreeSet<NsName>,
    /// The Kubernetes Service that makes the host resolvable, when it is in the input.
    pub service: Option<NsName>,
}

impl VirtualServiceEntry<'_> {
    /// The hostname clients call (= `awsName`).
    pub fn host(&self) -> &str {
        &self.aws_name
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedWeightedTarget {
    pub node: Target,
    pub weight: i64,
    pub port: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRoute {
    /// Index into `spec.routes`.
    pub index: usize,
    pub name: String,
    /// None when the route sets no route type (a webhook finding says so).
    pub protocol: Option<PortProtocol>,
    pub targets: Vec<ResolvedWeightedTarget>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VirtualRouterEntry<'a> {
    pub object: &'a VirtualRouter,
    pub common: Common<'a>,
    /// `spec.awsName`, default `<name>_<namespace>`.
    pub aws_name: String,
    pub routes: Vec<ResolvedRoute>,
    /// VirtualServices whose provider is this router.
    pub virtual_services: BTreeSet<NsName>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VirtualGatewayEntry<'a> {
    pub object: &'a VirtualGateway,
    pub common: Common<'a>,
    /// `spec.awsName`, default `<name>_<namespace>`.
    pub aws_name: String,
    /// Attached GatewayRoutes.
    pub gateway_routes: BTreeSet<NsName>,
    /// Indices into `Inventory::workloads` selected by `spec.podSelector`.
    pub workloads: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GatewayRouteEntry<'a> {
    pub object: &'a GatewayRoute,
    pub common: Common<'a>,
    /// `spec.awsName`, default `<name>_<namespace>`.
    pub aws_name: String,
    /// The VirtualGateway it attaches to (`spec.virtualGatewayRef`, or recomputed).
    pub virtual_gateway: Option<NsName>,
    /// The target VirtualService of its (single) route type.
    pub target: Option<Target>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BackendGroupEntry<'a> {
    pub object: &'a BackendGroup,
    pub common: Common<'a>,
    /// Members, namespaces defaulted to the group's.
    pub virtual_services: Vec<NsName>,
}

/// The resolved App Mesh graph.
#[derive(Debug, Clone)]
pub struct Resolved<'a> {
    pub inventory: &'a Inventory,
    /// By `metadata.name`.
    pub meshes: BTreeMap<String, MeshEntry<'a>>,
    pub virtual_nodes: BTreeMap<NsName, VirtualNodeEntry<'a>>,
    pub virtual_services: BTreeMap<NsName, VirtualServiceEntry<'a>>,
    pub virtual_routers: BTreeMap<NsName, VirtualRouterEntry<'a>>,
    pub virtual_gateways: BTreeMap<NsName, VirtualGatewayEntry<'a>>,
    pub gateway_routes: BTreeMap<NsName, GatewayRouteEntry<'a>>,
    pub backend_groups: BTreeMap<NsName, BackendGroupEntry<'a>>,
    /// Namespaces of the input by name.
    pub namespaces: BTreeMap<String, &'a Sourced<crate::k8s::Namespace>>,
    /// Kubernetes Services of the input.
    pub services: BTreeMap<NsName, &'a Sourced<Service>>,
    /// Mesh of each namespace holding App Mesh objects without `meshRef` (None: undetermined).
    pub namespace_mesh: BTreeMap<String, Option<String>>,
    /// AMI11xx findings.
    pub findings: Vec<Finding>,
}

impl<'a> Resolved<'a> {
    /// The Mesh (`metadata.name`) an object belongs to.
    pub fn mesh_of(&self, object: &ObjectRef) -> Option<&str> {
        if object.kind == AppMeshKind::Mesh.as_str() {
            return self
                .meshes
                .get_key_value(&object.name)
                .map(|(name, _)| name.as_str());
        }
        self.common(object)?.mesh.as_deref()
    }

    /// The AWS name of an object (BackendGroups have none).
    pub fn aws_name(&self, object: &ObjectRef) -> Option<&str> {
        let key = ns_name_of(object)?;
        Some(match AppMeshKind::from_kind(&object.kind)? {
            AppMeshKind::Mesh => &self.meshes.get(&object.name)?.aws_name,
            AppMeshKind::VirtualNode => &self.virtual_nodes.get(&key)?.aws_name,
            AppMeshKind::VirtualService => &self.virtual_services.get(&key)?.aws_name,
            AppMeshKind::VirtualRouter => &self.virtual_routers.get(&key)?.aws_name,
            AppMeshKind::VirtualGateway => &self.virtual_gateways.get(&key)?.aws_name,
            AppMeshKind::GatewayRoute => &self.gateway_routes.get(&key)?.aws_name,
            AppMeshKind::BackendGroup => return None,
        })
    }

    fn common(&self, object: &ObjectRef) -> Option<&Common<'a>> {
        let key = ns_name_of(object)?;
        Some(match AppMeshKind::from_kind(&object.kind)? {
            AppMeshKind::Mesh => return None,
            AppMeshKind::VirtualNode => &self.virtual_nodes.get(&key)?.common,
            AppMeshKind::VirtualService => &self.virtual_services.get(&key)?.common,
            AppMeshKind::VirtualRouter => &self.virtual_routers.get(&key)?.common,
            AppMeshKind::VirtualGateway => &self.virtual_gateways.get(&key)?.common,
            AppMeshKind::GatewayRoute => &self.gateway_routes.get(&key)?.common,
            AppMeshKind::BackendGroup => &self.backend_groups.get(&key)?.common,
        })
    }

    /// The VirtualService whose awsName (the host clients call) is `host`.
    pub fn virtual_service_by_host(&self, host: &str) -> Option<&VirtualServiceEntry<'a>> {
        self.virtual_services
            .values()
            .find(|vs| vs.aws_name == host)
    }

    /// The Kubernetes Service a DNS name denotes (`name`, `name.ns`, `name.ns.svc[.domain]`);
    /// a bare `name` is looked up in `referrer_namespace`.
    pub fn service_for_host(
        &self,
        host: &str,
        referrer_namespace: &str,
    ) -> Option<&'a Sourced<Service>> {
        let key = service_key(host, referrer_namespace)?;
        self.services.get(&key).copied()
    }

    pub fn workload(&self, index: usize) -> Option<&'a Sourced<Workload>> {
        self.inventory.workloads.get(index)
    }

    /// Labels of a namespace of the input.
    pub fn namespace_labels(&self, namespace: &str) -> Option<&'a BTreeMap<String, String>> {
        self.namespaces.get(namespace).map(|n| &n.object.labels)
    }

    /// The GatewayRoutes attached to a VirtualGateway, in name order.
    pub fn gateway_routes_of(&self, gateway: &NsName) -> Vec<&GatewayRouteEntry<'a>> {
        self.virtual_gateways
            .get(gateway)
            .map(|vg| {
                vg.gateway_routes
                    .iter()
                    .filter_map(|gr| self.gateway_routes.get(gr))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn ns_name_of(object: &ObjectRef) -> Option<NsName> {
    Some(NsName::new(
        object.namespace.clone().unwrap_or_default(),
        object.name.clone(),
    ))
}

/// The Service key a DNS hostname denotes, if it has the shape of an in-cluster Service name.
pub fn service_key(host: &str, referrer_namespace: &str) -> Option<NsName> {
    let host = host.trim_end_matches('.');
    let parts: Vec<&str> = host.split('.').collect();
    match parts.as_slice() {
        [name] if !name.is_empty() => Some(NsName::new(referrer_namespace, *name)),
        [name, ns] => Some(NsName::new(*ns, *name)),
        [name, ns, "svc", ..] => Some(NsName::new(*ns, *name)),
        _ => None,
    }
}

/// Default AWS name of a namespaced kind: `name.namespace` for VirtualServices, `name_namespace`
/// for the others (the webhook's defaulting).
pub fn default_aws_name(kind: AppMeshKind, namespace: &str, name: &str) -> String {
    match kind {
        AppMeshKind::Mesh => name.to_owned(),
        AppMeshKind::VirtualService => format!("{name}.{namespace}"),
        _ => format!("{name}_{namespace}"),
    }
}

/// Resolve the inventory: membership, names, references, attachments, pod selection.
pub fn resolve(inventory: &Inventory) -> Resolved<'_> {
    Resolver::new(inventory).run()
}

/// Three-valued match when an object's labels may be unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    Yes,
    No,
    Maybe,
}

fn match_labels(
    selector: Option<&LabelSelector>,
    labels: Option<&BTreeMap<String, String>>,
) -> Match {
    match labels {
        Some(labels) => {
            if selector_matches(selector, labels, false) {
                Match::Yes
            } else {
                Match::No
            }
        }
        // Unknown labels: nil still selects nothing, `{}` still selects everything.
        None if selector.is_none() => Match::No,
        None if selects_everything(selector) => Match::Yes,
        None => Match::Maybe,
    }
}

struct Resolver<'a> {
    r: Resolved<'a>,
}

impl<'a> Resolver<'a> {
    fn new(inventory: &'a Inventory) -> Self {
        Resolver {
            r: Resolved {
                inventory,
                meshes: BTreeMap::new(),
                virtual_nodes: BTreeMap::new(),
                virtual_services: BTreeMap::new(),
                virtual_routers: BTreeMap::new(),
                virtual_gateways: BTreeMap::new(),
                gateway_routes: BTreeMap::new(),
                backend_groups: BTreeMap::new(),
                namespaces: inventory
                    .namespaces
                    .iter()
                    .map(|n| (n.object.name.clone(), n))
                    .collect(),
                services: inventory
                    .services
                    .iter()
                    .map(|s| (NsName::new(&s.object.namespace, &s.object.name), s))
                    .collect(),
                namespace_mesh: BTreeMap::new(),
                findings: Vec::new(),
            },
        }
    }

    fn finding(
        &mut self,
        code: &str,
        subject: ObjectRef,
        origin: &Origin,
        field: Option<String>,
        message: String,
    ) {
        let mut f = Finding::new(code, subject, message).with_origin(Some(origin.clone()));
        if let Some(field) = field {
            f = f.at_field(field);
        }
        self.r.findings.push(f);
    }

    fn run(mut self) -> Resolved<'a> {
        let inventory = self.r.inventory;
        for s in &inventory.appmesh {
            if let AppMeshObject::Mesh(mesh) = &s.object {
                let name = s.object.name().to_owned();
                let aws_name = mesh.spec.aws_name.clone().unwrap_or_else(|| name.clone());
                self.r.meshes.insert(
                    name,
                    MeshEntry {
                        object: mesh,
                        origin: &s.origin,
                        aws_name,
                        namespaces: BTreeSet::new(),
                    },
                );
            }
        }
        for s in &inventory.appmesh {
            self.add_entry(s);
        }
        self.resolve_virtual_services();
        self.resolve_virtual_routers();
        self.link_service_nodes();
        self.resolve_backend_groups();
        self.resolve_virtual_nodes();
        self.resolve_gateway_routes();
        self.check_virtual_gateways();
        self.select_workloads();
        self.r
    }

    fn common(&mut self, s: &'a Sourced<AppMeshObject>) -> Common<'a> {
        let key = NsName::new(s.object.namespace().unwrap_or_default(), s.object.name());
        let (mesh, mesh_source) = self.membership(s, &key);
        if let Some(mesh) = &mesh
            && let Some(entry) = self.r.meshes.get_mut(mesh)
        {
            entry.namespaces.insert(key.namespace.clone());
        }
        Common {
            key,
            origin: &s.origin,
            mesh,
            mesh_source,
        }
    }

    fn add_entry(&mut self, s: &'a Sourced<AppMeshObject>) {
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
    fn membership(
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
    fn reference(
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

    fn resolve_virtual_services(&mut self) {
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

    fn resolve_virtual_routers(&mut self) {
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
    fn link_service_nodes(&mut self) {
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

    fn resolve_backend_groups(&mut self) {
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

    fn resolve_virtual_nodes(&mut self) {
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

    /// GatewayRoute → VirtualGateway: `spec.virtualGatewayRef` when written, else the single
    /// VirtualGateway whose namespaceSelector matches the route's namespace labels and whose
    /// gatewayRouteSelector (nil = all) matches the route's labels.
    fn resolve_gateway_routes(&mut self) {
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

    fn check_virtual_gateways(&mut self) {
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

/// The field path of a `{xRef | xARN}` pair, and whether exactly one is set.
fn ref_field(
    base: &str,
    ref_key: &str,
    arn_key: &str,
    has_ref: bool,
    has_arn: bool,
) -> (String, bool) {
    let key = if has_ref { ref_key } else { arn_key };
    (format!("{base}.{key}"), has_ref != has_arn)
}

#[cfg(test)]
mod tests;
