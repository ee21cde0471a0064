//! App Mesh's webhook and controller semantics, computed once from an [`Inventory`].
//!
//! Manifests in Git lack what the App Mesh webhook fills in on create (`spec.meshRef`,
//! `spec.virtualGatewayRef`, defaulted `spec.awsName`), so they are recomputed here with the
//! same rules; when present (objects read from a cluster) they are authoritative. Later stages
//! read [`Resolved`] and never re-derive membership, names or references.

mod gateways;
mod membership;
mod nodes;
pub mod selector;
mod services;
mod workloads;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::appmesh::common::{ClientPolicy, PortMapping, PortProtocol};
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
