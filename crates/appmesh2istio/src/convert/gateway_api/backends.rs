//! Route destinations as Gateway API backendRefs.
//!
//! A backendRef names a Service (or an Istio `Hostname`) and a port, never a subset. So a
//! destination subset (VirtualNodes that share one Service, told apart by pod labels)
//! becomes a generated per-version Service selecting that subset's pods; a destination
//! without a port gets the Service port of the VirtualNode listener it reaches; a backend in
//! another namespace gets a ReferenceGrant there.

use std::collections::{BTreeMap, BTreeSet};

use crate::convert::ConvertOptions;
use crate::convert::destinations::{node_address, service_port};
use crate::convert::names::{dns1123_label, service_of_host};
use crate::gateway_api::{
    BackendRef, CORE_GROUP, GROUP, ReferenceGrant, ReferenceGrantFrom, ReferenceGrantSpec,
    ReferenceGrantTo, Service, ServicePort, ServiceSpec, TargetPort,
};
use crate::istio::{Destination, IstioObject, Metadata};
use crate::origin::ObjectRef;
use crate::resolve::{NsName, Resolved};

/// (backend namespace, route namespace) → route kinds and Service names to allow, and the
/// App Mesh objects asking for it.
type Grants = BTreeMap<(String, String), Grant>;
type Grant = (
    BTreeSet<&'static str>,
    BTreeSet<String>,
    BTreeSet<ObjectRef>,
);

/// Istio's backendRef kind for a host of its registry (ServiceEntry hosts, Cloud Map).
const HOSTNAME_GROUP: &str = "networking.istio.io";
const HOSTNAME_KIND: &str = "Hostname";
/// At most this many names in one ReferenceGrant `to` (the CRD's maxItems).
const MAX_GRANT_TARGETS: usize = 16;

/// A node a destination may reach: where it is and its listener ports.
struct NodeTarget {
    namespace: String,
    name: String,
    listener_ports: Vec<i64>,
}

/// What the destinations of the whole output need.
pub(super) struct Backends<'a> {
    resolved: &'a Resolved<'a>,
    opts: &'a ConvertOptions,
    /// DestinationRule subsets by host: subset name → pod labels.
    subsets: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    /// VirtualNodes by (host, subset).
    nodes: BTreeMap<(String, Option<String>), Vec<NodeTarget>>,
    /// Generated per-version Services, with the App Mesh objects they serve.
    services: BTreeMap<(String, String), (Service, BTreeSet<ObjectRef>)>,
    /// (backend namespace, route namespace) → route kinds and Service names to allow.
    grants: Grants,
}

impl<'a> Backends<'a> {
    pub(super) fn new(
        objects: &[(IstioObject, Vec<ObjectRef>)],
        resolved: &'a Resolved<'a>,
        opts: &'a ConvertOptions,
    ) -> Backends<'a> {
        let mut subsets: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>> =
            BTreeMap::new();
        for (object, _) in objects {
            if let IstioObject::DestinationRule(dr) = object {
                let by_name = subsets.entry(dr.spec.host.clone()).or_default();
                for s in &dr.spec.subsets {
                    by_name.insert(s.name.clone(), s.labels.clone());
                }
            }
        }
        let mut nodes: BTreeMap<(String, Option<String>), Vec<NodeTarget>> = BTreeMap::new();
        for (key, entry) in &resolved.virtual_nodes {
            let Ok(address) = node_address(entry.object, &key.namespace, &opts.cluster_domain)
            else {
                continue;
            };
            let listener_ports = entry
                .object
                .spec
                .listeners
                .iter()
                .map(|l| l.port_mapping.port)
                .collect();
            nodes
                .entry((address.host, address.subset))
                .or_default()
                .push(NodeTarget {
                    namespace: key.namespace.clone(),
                    name: key.name.clone(),
                    listener_ports,
                });
        }
        Backends {
            resolved,
            opts,
            subsets,
            nodes,
            services: BTreeMap::new(),
            grants: BTreeMap::new(),
        }
    }

    /// The backendRef of `dest` for a route of `route_kind` in `route_ns`.
    pub(super) fn backend(
        &mut self,
        dest: &Destination,
        route_kind: &'static str,
        route_ns: &str,
        sources: &[ObjectRef],
    ) -> Result<BackendRef, String> {
        let (service_port, target_port) = self.port(dest)?;
        let port = u32::try_from(service_port)
            .map_err(|_| format!("{} has port {service_port}", dest.host))?;
        let (ns, name) = match (
            &dest.subset,
            service_of_host(&dest.host, &self.opts.cluster_domain),
        ) {
            // A Cloud Map node: a Service of its own selecting the subset's pods.
            (Some(subset), _) => self.version_service(dest, subset, port, target_port, sources)?,
            (None, Some((ns, name))) => (ns.to_owned(), name.to_owned()),
            (None, None) => {
                return Ok(BackendRef {
                    group: Some(HOSTNAME_GROUP.into()),
                    kind: Some(HOSTNAME_KIND.into()),
                    name: dest.host.clone(),
                    namespace: None,
                    port: Some(port),
                    weight: None,
                });
            }
        };
        let ns = ns.as_str();
        let namespace = (ns != route_ns).then(|| ns.to_owned());
        if namespace.is_some() {
            let (kinds, names, grant_sources) = self
                .grants
                .entry((ns.to_owned(), route_ns.to_owned()))
                .or_default();
            kinds.insert(route_kind);
            names.insert(name.clone());
            grant_sources.extend(sources.iter().cloned());
        }
        Ok(BackendRef::service(name, namespace, port))
    }

    /// The Service port of `dest`, and the container port behind it when known.
    fn port(&self, dest: &Destination) -> Result<(i64, Option<i64>), String> {
        let targets = self
            .nodes
            .get(&(dest.host.clone(), dest.subset.clone()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if let Some(p) = &dest.port {
            let listener = i64::from(p.number);
            let known = targets.iter().any(|t| t.listener_ports.contains(&listener));
            return Ok((i64::from(p.number), known.then_some(listener)));
        }
        let listeners: BTreeSet<i64> = targets
            .iter()
            .flat_map(|t| &t.listener_ports)
            .copied()
            .collect();
        let mut listeners = listeners.into_iter();
        match (listeners.next(), listeners.next()) {
            (Some(listener), None) => Ok((
                service_port(
                    self.resolved,
                    &dest.host,
                    listener,
                    &self.opts.cluster_domain,
                ),
                Some(listener),
            )),
            _ => Err(format!(
                "the port of destination {} is not known (a backendRef must name one): no single VirtualNode listener serves it",
                dest.host
            )),
        }
    }

    /// A Service selecting the pods of one subset, named after its VirtualNode and in the
    /// VirtualNode's namespace: `(namespace, name)`.
    fn version_service(
        &mut self,
        dest: &Destination,
        subset: &str,
        port: u32,
        target_port: Option<i64>,
        sources: &[ObjectRef],
    ) -> Result<(String, String), String> {
        let labels = self
            .subsets
            .get(&dest.host)
            .and_then(|s| s.get(subset))
            .filter(|l| !l.is_empty())
            .ok_or_else(|| format!("subset {subset} of {} has no pod labels", dest.host))?
            .clone();
        let node = match self
            .nodes
            .get(&(dest.host.clone(), Some(subset.to_owned())))
            .map(Vec::as_slice)
        {
            Some([node]) => node,
            _ => {
                return Err(format!(
                    "subset {subset} of {} is not one VirtualNode",
                    dest.host
                ));
            }
        };
        let (ns, name) = (node.namespace.clone(), dns1123_label(&node.name, 63));
        // A Service of that name in the input: use it when it selects these pods, never
        // overwrite it.
        if let Some(existing) = self.resolved.services.get(&NsName::new(&ns, &name)) {
            return if existing.object.selector.as_ref() == Some(&labels) {
                Ok((ns, name))
            } else {
                Err(format!(
                    "Service {ns}/{name} exists and selects other pods, so the per-version Service for VirtualNode {} cannot take its name",
                    node.name
                ))
            };
        }
        let (service, service_sources) = self
            .services
            .entry((ns.clone(), name.clone()))
            .or_insert_with(|| {
                (
                    Service::new(
                        Metadata::new(&name, &ns).managed(),
                        ServiceSpec {
                            ports: Vec::new(),
                            selector: labels,
                        },
                    ),
                    BTreeSet::new(),
                )
            });
        service_sources.extend(sources.iter().cloned());
        if !service.spec.ports.iter().any(|p| p.port == port) {
            service.spec.ports.push(ServicePort {
                // Written although it is the default: server-side apply keys Service ports
                // by port and protocol and refuses a port without one.
                protocol: Some("TCP".into()),
                port,
                target_port: target_port
                    .and_then(|t| u32::try_from(t).ok())
                    .map(TargetPort::Number),
                ..ServicePort::default()
            });
            service.spec.ports.sort_by_key(|p| p.port);
            let several = service.spec.ports.len() > 1;
            for p in &mut service.spec.ports {
                p.name = several.then(|| format!("port-{}", p.port));
            }
        }
        Ok((ns, name))
    }

    /// The generated Services and ReferenceGrants, with their sources.
    pub(super) fn finish(self) -> Vec<(IstioObject, Vec<ObjectRef>)> {
        let mut out: Vec<(IstioObject, Vec<ObjectRef>)> = self
            .services
            .into_values()
            .map(|(service, sources)| (service.into(), sources.into_iter().collect()))
            .collect();
        for ((backend_ns, route_ns), (kinds, names, sources)) in self.grants {
            let to = if names.len() > MAX_GRANT_TARGETS {
                vec![ReferenceGrantTo {
                    group: CORE_GROUP.into(),
                    kind: "Service".into(),
                    name: None,
                }]
            } else {
                names
                    .into_iter()
                    .map(|name| ReferenceGrantTo {
                        group: CORE_GROUP.into(),
                        kind: "Service".into(),
                        name: Some(name),
                    })
                    .collect()
            };
            let grant = ReferenceGrant::new(
                Metadata::new(format!("appmesh2istio-from-{route_ns}"), backend_ns).managed(),
                ReferenceGrantSpec {
                    from: kinds
                        .into_iter()
                        .map(|kind| ReferenceGrantFrom {
                            group: GROUP.into(),
                            kind: kind.into(),
                            namespace: route_ns.clone(),
                        })
                        .collect(),
                    to,
                },
            );
            out.push((grant.into(), sources.into_iter().collect()));
        }
        out
    }
}

/// What [`Backends::restore`] goes back to.
pub(super) struct Checkpoint {
    services: BTreeMap<(String, String), (Service, BTreeSet<ObjectRef>)>,
    grants: Grants,
}

impl Backends<'_> {
    /// The generated objects so far, to drop what a route that is kept after all added.
    pub(super) fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            services: self.services.clone(),
            grants: self.grants.clone(),
        }
    }

    pub(super) fn restore(&mut self, checkpoint: Checkpoint) {
        self.services = checkpoint.services;
        self.grants = checkpoint.grants;
    }
}
