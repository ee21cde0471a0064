//! Cloud Map service discovery → a ServiceEntry per Cloud Map service and a subset per node.
//!
//! App Mesh registers the pods of every node using `awsCloudMap {namespaceName, serviceName}`
//! as instances of that Cloud Map service, with their pod labels plus the node's `attributes`
//! as instance attributes; a client of node X receives the instances whose attributes
//! include all of X's `attributes` (appmesh-crds §2.3). In Istio the service becomes a
//! `ServiceEntry` for `<serviceName>.<namespaceName>` (MESH_INTERNAL, STATIC) selecting the
//! registering pods, and X a DestinationRule subset whose labels select the pods App Mesh
//! would have returned for X: its own pods when its attributes single them out (the usual
//! version-per-node layout), otherwise the labels shared by every node whose instances match.

use std::collections::BTreeMap;

use crate::istio::{
    Location, Metadata, Resolution, ServiceEntry, ServiceEntrySpec, ServicePort, Subset,
    WorkloadLabels,
};
use crate::resolve::{NsName, VirtualNodeEntry};

use super::super::destinations::{Discovery, cloud_map_subset};
use super::super::{Context, names};
use super::NodeCtx;
use super::listeners::{istio_port, istio_protocol, note_conflict, port_name};
use super::selector::Scope;

pub(super) const CODE_CLOUD_MAP: &str = "AMI2205";
pub(super) const CODE_SUBSET_APPROXIMATED: &str = "AMI2221";
pub(super) const CODE_NOT_SELECTABLE: &str = "AMI2222";

type Labels = BTreeMap<String, String>;

/// What is known of one node registering in a Cloud Map service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Member {
    pub(super) key: NsName,
    /// Labels all its pods carry (selector labels plus those common to its workloads in the
    /// input); `None` when it selects no pods and so registers no instance.
    pub(super) pod_labels: Option<Labels>,
    /// The equality part of its podSelector, if it has one.
    pub(super) selector_labels: Option<Labels>,
    /// Its `attributes`, the filter its clients apply.
    pub(super) attributes: Labels,
}

impl Member {
    /// Attributes its instances are registered with: pod labels plus the node's attributes.
    fn instance_attributes(&self) -> Option<Labels> {
        let mut all = self.pod_labels.clone()?;
        all.extend(self.attributes.clone());
        Some(all)
    }
}

fn is_subset(small: &Labels, big: &Labels) -> bool {
    small.iter().all(|(k, v)| big.get(k) == Some(v))
}

fn intersect<'a>(mut sets: impl Iterator<Item = &'a Labels>) -> Labels {
    let Some(first) = sets.next() else {
        return Labels::new();
    };
    let mut common = first.clone();
    for set in sets {
        common.retain(|k, v| set.get(k) == Some(v));
    }
    common
}

/// How a node's subset is defined and whether that is exactly App Mesh's instance set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SubsetLabels {
    pub(super) labels: Labels,
    /// Why the subset differs from App Mesh's instance set, if it may.
    pub(super) approximation: Option<String>,
}

/// The subset labels of `x` among `members` (all registering in the same Cloud Map service).
pub(super) fn subset_labels(x: &Member, members: &[Member]) -> SubsetLabels {
    // Nodes registering instances, split by whether those instances carry x's attributes.
    let (matching, others): (Vec<&Member>, Vec<&Member>) = members
        .iter()
        .filter(|m| m.pod_labels.is_some())
        .partition(|m| {
            m.instance_attributes()
                .is_some_and(|attrs| is_subset(&x.attributes, &attrs))
        });
    let over_selects = |labels: &Labels| {
        others
            .iter()
            .filter(|m| m.pod_labels.as_ref().is_some_and(|p| is_subset(labels, p)))
            .map(|m| m.key.to_string())
            .collect::<Vec<_>>()
    };
    match matching.as_slice() {
        [] => {
            let mut labels = x.selector_labels.clone().unwrap_or_default();
            labels.extend(x.attributes.clone());
            SubsetLabels {
                labels,
                approximation: Some(
                    "no node in the input registers instances with these attributes, so App Mesh returned none (or \
                     only pods not in the input); the subset uses the node's selector and attributes as pod labels"
                        .to_owned(),
                ),
            }
        }
        [only] if only.key == x.key => {
            let labels = x
                .selector_labels
                .clone()
                .or_else(|| x.pod_labels.clone())
                .unwrap_or_default();
            let over = over_selects(&labels);
            SubsetLabels {
                approximation: (!over.is_empty()).then(|| {
                    format!(
                        "the subset's labels also select pods of {}, which App Mesh did not return",
                        over.join(", ")
                    )
                }),
                labels,
            }
        }
        _ => {
            let labels = intersect(matching.iter().filter_map(|m| m.pod_labels.as_ref()));
            let names: Vec<String> = matching.iter().map(|m| m.key.to_string()).collect();
            let over = over_selects(&labels);
            SubsetLabels {
                approximation: (!over.is_empty()).then(|| {
                    format!(
                        "App Mesh returned the instances of {}; the labels they share also select pods of {}",
                        names.join(", "),
                        over.join(", ")
                    )
                }),
                labels,
            }
        }
    }
}

/// A node's Cloud Map membership as [`Member`].
fn member(ctx: &Context<'_>, entry: &VirtualNodeEntry<'_>, scope: &Scope) -> Member {
    let resolved = ctx.resolved;
    let selector_labels = match scope {
        Scope::Labels(labels) => Some(labels.clone()),
        Scope::Namespace => Some(Labels::new()),
        Scope::NoPods | Scope::Unexpressible | Scope::Invalid => None,
    };
    let pod_labels = (!scope.selects_no_pods()).then(|| {
        let workloads = intersect(
            entry
                .workloads
                .iter()
                .filter_map(|&i| resolved.workload(i))
                .map(|w| &w.object.pod_labels),
        );
        let mut known = selector_labels.clone().unwrap_or_default();
        known.extend(workloads);
        known
    });
    let attributes = entry
        .object
        .spec
        .service_discovery
        .as_ref()
        .and_then(|d| d.aws_cloud_map.as_ref())
        .map(|c| {
            c.attributes
                .iter()
                .map(|a| (a.key.clone(), a.value.clone()))
                .collect()
        })
        .unwrap_or_default();
    Member {
        key: entry.common.key.clone(),
        pod_labels,
        selector_labels,
        attributes,
    }
}

/// Creates the ServiceEntry and the subsets of every Cloud Map service used by a node.
pub(super) fn convert_cloud_map_services(ctx: &mut Context<'_>, nodes: &[NodeCtx<'_>]) {
    let mut services: BTreeMap<String, Vec<&NodeCtx<'_>>> = BTreeMap::new();
    for n in nodes.iter() {
        // A Cloud Map name that is no valid host is reported with the node (AMI1121).
        let Ok(address) = &n.address else { continue };
        if address.discovery == Discovery::CloudMap {
            services.entry(address.host.clone()).or_default().push(n);
        }
    }
    for (host, group) in services {
        convert_service(ctx, &host, &group);
    }
}

fn convert_service(ctx: &mut Context<'_>, host: &str, group: &[&NodeCtx<'_>]) {
    let Some(first) = group.first() else { return };
    let namespace = first.namespace.to_owned();
    let members: Vec<Member> = group
        .iter()
        .map(|n| member(ctx, n.entry, &n.scope.scope))
        .collect();

    let mut ports: Vec<ServicePort> = Vec::new();
    for n in group {
        for (i, l) in n.node.spec.listeners.iter().enumerate() {
            let Some(number) = istio_port(l.port_mapping.port) else {
                continue;
            };
            let protocol = istio_protocol(l.port_mapping.protocol);
            match ports.iter().find(|p| p.number == number) {
                Some(p) if p.protocol.as_deref() != Some(protocol) => note_conflict(
                    ctx,
                    n,
                    &format!("spec.listeners[{i}].portMapping"),
                    &format!(
                        "Cloud Map service {host} already has port {number} as {} from another node; Istio keeps that protocol",
                        p.protocol.as_deref().unwrap_or("?")
                    ),
                ),
                Some(_) => {}
                None => ports.push(ServicePort {
                    number,
                    protocol: Some(protocol.to_owned()),
                    name: port_name(l.port_mapping.protocol, l.port_mapping.port),
                    target_port: None,
                }),
            }
        }
    }
    ports.sort_by_key(|p| p.number);

    // Pods are selected in the ServiceEntry's namespace only.
    let local: Vec<&Member> = members
        .iter()
        .filter(|m| m.key.namespace == namespace && m.pod_labels.is_some())
        .collect();
    for (n, m) in group.iter().zip(&members) {
        if m.key.namespace != namespace && m.pod_labels.is_some() {
            ctx.note(
                CODE_NOT_SELECTABLE,
                &n.subject,
                "spec.serviceDiscovery.awsCloudMap",
                format!(
                    "the ServiceEntry for {host} lives in namespace {namespace} and selects pods there only; this \
                     node's pods in {} are not among its instances",
                    m.key.namespace
                ),
            );
        }
    }
    let selector = intersect(local.iter().filter_map(|m| m.pod_labels.as_ref()));
    if selector.is_empty() && !local.is_empty() {
        ctx.note(
            CODE_NOT_SELECTABLE,
            &first.subject,
            "spec.serviceDiscovery.awsCloudMap",
            format!(
                "the nodes registering in {host} share no pod label, so no ServiceEntry selector can pick exactly \
                 their pods; the ServiceEntry has no instances"
            ),
        );
    }
    let spec = ServiceEntrySpec {
        hosts: vec![host.to_owned()],
        ports,
        location: Some(Location::MeshInternal),
        resolution: Some(Resolution::Static),
        workload_selector: (!selector.is_empty()).then(|| WorkloadLabels::new(selector)),
        ..ServiceEntrySpec::default()
    };
    let name = ctx.output.free_name(
        ServiceEntry::KIND,
        &namespace,
        &names::name_for_host(host),
        host,
    );
    let key = ctx.output.insert(
        ServiceEntry::new(Metadata::new(name, namespace.clone()), spec),
        &first.subject,
    );
    for n in group.iter().skip(1) {
        ctx.output.add_source(&key, &n.subject);
    }

    for (n, m) in group.iter().zip(&members) {
        ctx.note(
            CODE_CLOUD_MAP,
            &n.subject,
            "spec.serviceDiscovery.awsCloudMap",
            format!(
                "callers find this node's instances through the ServiceEntry {}/{} for {host} (pods selected by \
                 label) instead of Cloud Map; {host} must still resolve in DNS",
                key.1, key.2
            ),
        );
        let subset = cloud_map_subset(&m.key.name);
        let SubsetLabels {
            labels,
            approximation,
        } = subset_labels(m, &members);
        if let Some(why) = approximation {
            ctx.note(
                CODE_SUBSET_APPROXIMATED,
                &n.subject,
                "spec.serviceDiscovery.awsCloudMap.attributes",
                why,
            );
        }
        let dr = ctx.output.destination_rule(host, &namespace, &n.subject);
        if dr.subsets.iter().any(|s| s.name == subset) {
            note_conflict(
                ctx,
                n,
                "metadata.name",
                &format!(
                    "another node registering in {host} has the same subset name {subset}; this node's subset is not created"
                ),
            );
            continue;
        }
        dr.subsets.push(Subset {
            name: subset,
            labels,
            traffic_policy: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn m(name: &str, pods: Option<&[(&str, &str)]>, attrs: &[(&str, &str)]) -> Member {
        Member {
            key: NsName::new("demo", name),
            pod_labels: pods.map(labels),
            selector_labels: pods.map(labels),
            attributes: labels(attrs),
        }
    }

    #[test]
    fn version_attributes_single_out_each_nodes_pods() {
        let blue = m(
            "blue",
            Some(&[("app", "ct"), ("version", "blue")]),
            &[("version", "blue")],
        );
        let red = m(
            "red",
            Some(&[("app", "ct"), ("version", "red")]),
            &[("version", "red")],
        );
        let all = [blue.clone(), red];
        let s = subset_labels(&blue, &all);
        assert_eq!(s.labels, labels(&[("app", "ct"), ("version", "blue")]));
        assert_eq!(s.approximation, None);
    }

    #[test]
    fn attribute_only_known_to_cloud_map_still_selects_the_nodes_pods() {
        // `color` is a registered attribute, not a pod label: selecting on it would match nothing.
        let blue = m(
            "blue",
            Some(&[("app", "ct"), ("version", "v1")]),
            &[("color", "blue")],
        );
        let red = m(
            "red",
            Some(&[("app", "ct"), ("version", "v2")]),
            &[("color", "red")],
        );
        let s = subset_labels(&blue, &[blue.clone(), red]);
        assert_eq!(s.labels, labels(&[("app", "ct"), ("version", "v1")]));
        assert_eq!(s.approximation, None);
    }

    #[test]
    fn node_without_attributes_gets_every_instance() {
        let all_node = m("ct", None, &[]);
        let blue = m(
            "blue",
            Some(&[("app", "ct"), ("version", "blue")]),
            &[("version", "blue")],
        );
        let red = m(
            "red",
            Some(&[("app", "ct"), ("version", "red")]),
            &[("version", "red")],
        );
        let s = subset_labels(&all_node, &[all_node.clone(), blue, red]);
        assert_eq!(s.labels, labels(&[("app", "ct")]));
        assert_eq!(s.approximation, None);
    }

    #[test]
    fn overlapping_labels_are_reported() {
        let wide = m("wide", Some(&[("app", "ct")]), &[]);
        let narrow = m(
            "narrow",
            Some(&[("app", "ct"), ("tier", "x")]),
            &[("tier", "y")],
        );
        // `wide` has no attributes: App Mesh returns both nodes' instances; `narrow`'s
        // attribute tier=y is only on its own instances.
        let s = subset_labels(&narrow, &[wide.clone(), narrow.clone()]);
        assert_eq!(s.labels, labels(&[("app", "ct"), ("tier", "x")]));
        assert_eq!(s.approximation, None);
        let s = subset_labels(&wide, &[wide.clone(), narrow]);
        assert_eq!(s.labels, labels(&[("app", "ct")]));
        assert_eq!(s.approximation, None);
    }

    #[test]
    fn subset_selecting_pods_of_an_excluded_node_is_approximate() {
        let a = m("a", Some(&[("app", "ct")]), &[("zone", "a")]);
        let b = m("b", Some(&[("app", "ct"), ("zone", "b")]), &[]);
        // a's attribute zone=a is not on b's pods, yet a's selector app=ct selects them too.
        let s = subset_labels(&a, &[a.clone(), b]);
        assert_eq!(s.labels, labels(&[("app", "ct")]));
        assert!(s.approximation.unwrap().contains("demo/b"));
    }

    #[test]
    fn nothing_matching_falls_back_to_selector_and_attributes() {
        let ghost = m("ghost", None, &[("version", "v9")]);
        let s = subset_labels(&ghost, std::slice::from_ref(&ghost));
        assert_eq!(s.labels, labels(&[("version", "v9")]));
        assert!(s.approximation.is_some());
    }
}
