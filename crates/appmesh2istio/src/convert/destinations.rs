//! How a VirtualNode is addressed in Istio: the one place that decides, so routes, gateway
//! routes and the node's own policies (DestinationRule, ServiceEntry) always agree.
//!
//! - DNS discovery: the node's `hostname` (usually its own per-version Kubernetes Service) is
//!   the Istio host. App Mesh's Envoy resolves that name and balances over every address it
//!   returns, regardless of `podSelector`, which is exactly what an Istio destination on the
//!   same host does: no subset is needed, and the mapping is exact.
//! - Cloud Map discovery: App Mesh registers the node's pods in a Cloud Map service and
//!   clients receive the instances matching the node's `attributes`. Istio gets a
//!   ServiceEntry for `<serviceName>.<namespaceName>` selecting the pods, and the node becomes
//!   a subset of it (a DNS-1123 label derived from the node name; the VirtualNode module
//!   creates both).

use crate::appmesh::VirtualNode;
use crate::appmesh::common::PortProtocol;
use crate::k8s::Service;
use crate::resolve::{NsName, Resolved};
use crate::validate::primitives;

use super::names;

/// Where traffic for one VirtualNode goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddress {
    /// Fully qualified Istio host.
    pub host: String,
    /// Set for Cloud Map nodes: the subset of `host` this node is.
    pub subset: Option<String>,
    pub discovery: Discovery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    Dns,
    CloudMap,
}

/// The host for a Cloud Map service, as App Mesh clients (and our ServiceEntry) name it.
pub fn cloud_map_host(namespace_name: &str, service_name: &str) -> String {
    format!(
        "{}.{}",
        service_name.to_ascii_lowercase(),
        namespace_name.to_ascii_lowercase().trim_end_matches('.')
    )
}

/// The subset name of a Cloud Map VirtualNode.
pub fn cloud_map_subset(node_name: &str) -> String {
    names::dns1123_label(node_name, 63)
}

/// Why a VirtualNode has no Istio address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unaddressable {
    /// No service discovery: App Mesh cannot route to it either (the webhook only allows that
    /// without listeners).
    NoDiscovery,
    /// Its discovery names a host Istio cannot route to: the field and why.
    InvalidHost { field: &'static str, reason: String },
}

impl std::fmt::Display for Unaddressable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unaddressable::NoDiscovery => f.write_str("has no service discovery"),
            Unaddressable::InvalidHost { field, reason } => write!(f, "has {field} {reason}"),
        }
    }
}

/// How `node` (in `namespace`) is addressed, or why it cannot be.
///
/// The host must be one an Istio destination may name (a DNS name, not an IP address): the
/// CRD accepts any string as a DNS hostname or Cloud Map name, and App Mesh's Envoy would look
/// up whatever it was given, but Istio refuses such a destination host.
pub fn node_address(
    node: &VirtualNode,
    namespace: &str,
    cluster_domain: &str,
) -> Result<NodeAddress, Unaddressable> {
    let discovery = node
        .spec
        .service_discovery
        .as_ref()
        .ok_or(Unaddressable::NoDiscovery)?;
    if let Some(dns) = &discovery.dns {
        let host = names::qualify_host(&dns.hostname, namespace, cluster_domain);
        destination_host_problem(&dns.hostname, &host).map_or(Ok(()), |reason| {
            Err(Unaddressable::InvalidHost {
                field: "spec.serviceDiscovery.dns.hostname",
                reason,
            })
        })?;
        return Ok(NodeAddress {
            host,
            subset: None,
            discovery: Discovery::Dns,
        });
    }
    let cloud_map = discovery
        .aws_cloud_map
        .as_ref()
        .ok_or(Unaddressable::NoDiscovery)?;
    let host = cloud_map_host(&cloud_map.namespace_name, &cloud_map.service_name);
    let written = format!("{}.{}", cloud_map.service_name, cloud_map.namespace_name);
    destination_host_problem(&written, &host).map_or(Ok(()), |reason| {
        Err(Unaddressable::InvalidHost {
            field: "spec.serviceDiscovery.awsCloudMap",
            reason,
        })
    })?;
    Ok(NodeAddress {
        host,
        subset: Some(cloud_map_subset(
            node.metadata.name.as_deref().unwrap_or_default(),
        )),
        discovery: Discovery::CloudMap,
    })
}

/// Why `host` (qualified from `written`) cannot be an Istio destination host, checked as
/// Istio validates DestinationRule and route destination hosts.
fn destination_host_problem(written: &str, host: &str) -> Option<String> {
    if primitives::is_ip(host) {
        return Some(format!(
            "{written:?}, an IP address: Istio destinations must name a host (declare a ServiceEntry \
             with a host name and this address as its endpoint)"
        ));
    }
    if host == "*" {
        return Some(format!("{written:?}, which matches every host"));
    }
    primitives::wildcard_domain(host)
        .err()
        .map(|e| format!("{written:?}, which is not a DNS name Istio can route to ({e})"))
}

/// The listener of `node` a target reaches: the one on `port` if given, else the only one.
pub fn target_listener(node: &VirtualNode, port: Option<i64>) -> Option<(i64, PortProtocol)> {
    let listeners = &node.spec.listeners;
    match port {
        Some(p) => listeners
            .iter()
            .find(|l| l.port_mapping.port == p)
            .map(|l| (p, l.port_mapping.protocol)),
        None if listeners.len() == 1 => listeners
            .first()
            .map(|l| (l.port_mapping.port, l.port_mapping.protocol)),
        None => None,
    }
}

/// The Service port Istio must be told for a node listener port.
///
/// App Mesh's Envoy connects to `<hostname>:<listener port>`, while an Istio destination
/// port is a *Service* port. When the node's host is a Kubernetes Service in the input, the
/// Service port whose targetPort (or port) is the listener port is used; otherwise the
/// listener port itself, which is right whenever the Service exposes the container port as
/// is (what App Mesh required for DNS discovery to work at all).
pub fn service_port(
    resolved: &Resolved<'_>,
    host: &str,
    listener_port: i64,
    cluster_domain: &str,
) -> i64 {
    let Some(service) = host_service(resolved, host, cluster_domain) else {
        return listener_port;
    };
    let listener = listener_port.to_string();
    service
        .ports
        .iter()
        .find(|p| p.target_port.as_deref() == Some(listener.as_str()))
        .or_else(|| {
            service
                .ports
                .iter()
                .find(|p| p.port == listener_port && p.target_port.is_none())
        })
        .map_or(listener_port, |p| p.port)
}

/// Whether the node's host has more than one port in the input, so destinations must name one
/// (Istio IST0112) — or the node itself has several listeners.
pub fn needs_explicit_port(
    resolved: &Resolved<'_>,
    node: &VirtualNode,
    host: &str,
    cluster_domain: &str,
) -> bool {
    node.spec.listeners.len() > 1
        || host_service(resolved, host, cluster_domain).is_some_and(|s| s.ports.len() > 1)
}

/// The Kubernetes Service in the input that a Service FQDN names (an indexed lookup: this runs
/// once per route target).
fn host_service<'r>(
    resolved: &'r Resolved<'_>,
    host: &str,
    cluster_domain: &str,
) -> Option<&'r Service> {
    let (ns, name) = names::service_of_host(host, cluster_domain)?;
    resolved
        .services
        .get(&NsName::new(ns, name))
        .map(|s| &s.object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appmesh::AppMeshObject;
    use crate::load::{Inventory, LoadOptions, load_str};
    use crate::resolve::resolve;

    fn load(text: &str) -> Inventory {
        load_str("t.yaml", text, &LoadOptions::default()).unwrap()
    }

    fn node(inv: &Inventory) -> &VirtualNode {
        inv.appmesh
            .iter()
            .find_map(|s| match &s.object {
                AppMeshObject::VirtualNode(n) => Some(n),
                _ => None,
            })
            .unwrap()
    }

    const DNS_NODE: &str = "apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: cart-v1, namespace: shop}
spec:
  listeners: [{portMapping: {port: 8080, protocol: http}}]
  serviceDiscovery: {dns: {hostname: cart-v1.shop}}
---
apiVersion: v1
kind: Service
metadata: {name: cart-v1, namespace: shop}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}, {name: admin, port: 9000}]
";

    #[test]
    fn dns_nodes_are_their_hostname_and_map_listener_to_service_ports() {
        let inv = load(DNS_NODE);
        let resolved = resolve(&inv);
        let n = node(&inv);
        let addr = node_address(n, "shop", "cluster.local").unwrap();
        assert_eq!(addr.host, "cart-v1.shop.svc.cluster.local");
        assert_eq!(addr.subset, None);
        assert_eq!(
            service_port(&resolved, &addr.host, 8080, "cluster.local"),
            80
        );
        assert_eq!(
            service_port(&resolved, &addr.host, 9000, "cluster.local"),
            9000
        );
        assert!(needs_explicit_port(
            &resolved,
            n,
            &addr.host,
            "cluster.local"
        ));
        assert_eq!(target_listener(n, None), Some((8080, PortProtocol::Http)));
        assert_eq!(target_listener(n, Some(9999)), None);
    }

    #[test]
    fn cloud_map_nodes_are_subsets_of_their_service() {
        let inv = load(
            "apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: {name: colorteller.blue, namespace: demo}
spec:
  serviceDiscovery: {awsCloudMap: {namespaceName: Demo.pvt.aws.local, serviceName: colorteller}}
",
        );
        let addr = node_address(node(&inv), "demo", "cluster.local").unwrap();
        assert_eq!(addr.host, "colorteller.demo.pvt.aws.local");
        let subset = addr.subset.unwrap();
        assert!(
            names::is_dns1123_label(&subset) && subset.starts_with("colorteller-blue-"),
            "{subset}"
        );
        assert_eq!(addr.discovery, Discovery::CloudMap);
    }
}
