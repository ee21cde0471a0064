//! VirtualNode → Istio (istio-mapping §6–§9, appmesh-crds §2).
//!
//! A VirtualNode mixes settings for two audiences:
//! - its *callers* (outlier detection, how it is discovered): these become DestinationRule
//!   policies and subsets on the node's host and, for Cloud Map or off-cluster DNS names,
//!   ServiceEntries ([`super::destinations`] decides the host and subset);
//! - its own *pods* (listener pools, timeouts and TLS, backends, access logs): these become
//!   one Sidecar, PeerAuthentication, AuthorizationPolicy and Telemetry each, selecting the
//!   pods of its `podSelector` and named after the node.
//!
//! Nodes are converted before anything else so that these objects get the plain names.

mod cloud_map;
mod egress;
pub(crate) use egress::virtual_service_name_of_arn;
mod listeners;
mod selector;
mod tls;

use std::collections::BTreeMap;

use crate::appmesh::virtual_node::DnsResponseType;
use crate::appmesh::{AppMeshKind, VirtualNode};
use crate::istio::{
    AuthorizationPolicy, EgressListener, Location, Metadata, OutboundTrafficMode,
    OutboundTrafficPolicy, PeerAuthentication, Resolution, ServiceEntry, ServiceEntrySpec,
    ServicePort, Sidecar, SidecarSpec, Telemetry, TelemetrySpec, WorkloadLabels, WorkloadSelector,
};
use crate::origin::ObjectRef;
use crate::resolve::VirtualNodeEntry;

use super::destinations::{self, Discovery, NodeAddress, Unaddressable};
use super::{Context, OutputKey, access_log, names};
use egress::Egress;
use selector::Scope;

const CODE_MATCH_EXPRESSIONS: &str = "AMI2202";
const CODE_SELECTOR_UNEXPRESSIBLE: &str = "AMI2203";
const CODE_NO_PODS: &str = "AMI2204";
const CODE_AWS_APIS: &str = "AMI2216";
const CODE_SELECTOR_TAKEN: &str = "AMI2217";
const CODE_NO_BACKENDS: &str = "AMI2228";
const CODE_RESPONSE_TYPE: &str = "AMI2231";
const CODE_EXTERNAL_HOST: &str = "AMI2232";
const CODE_INVALID_HOST: &str = "AMI2233";
/// The node's DNS hostname or Cloud Map name is no host an Istio destination may name.
const CODE_HOST_NOT_ROUTABLE: &str = "AMI1121";

/// AWS API endpoints, which App Mesh's DROP_ALL egress filter still lets through.
const AWS_API_HOST: &str = "*.amazonaws.com";

/// One VirtualNode and what is derived from it once.
struct NodeCtx<'r> {
    entry: &'r VirtualNodeEntry<'r>,
    node: &'r VirtualNode,
    subject: ObjectRef,
    namespace: &'r str,
    address: Result<NodeAddress, Unaddressable>,
    scope: selector::Translated,
}

#[derive(Default)]
struct State {
    /// Every node's equality selector, by namespace: to tell whose pods a widened selector
    /// also selects.
    selections: Vec<(String, BTreeMap<String, String>, ObjectRef)>,
    /// Pod selections already given workload-scoped objects: namespace and labels (`None`
    /// for namespace-wide). Istio allows one Sidecar/Telemetry per pod and one namespace-wide
    /// object per namespace.
    claims: BTreeMap<(String, Option<BTreeMap<String, String>>), ObjectRef>,
    /// The `*.amazonaws.com` ServiceEntry made for each namespace.
    aws_apis: BTreeMap<String, OutputKey>,
}

/// Converts every VirtualNode of the input.
pub(crate) fn convert_virtual_nodes(ctx: &mut Context<'_>) {
    let resolved = ctx.resolved;
    let domain = ctx.opts.cluster_domain.clone();
    let nodes: Vec<NodeCtx<'_>> = resolved
        .virtual_nodes
        .values()
        .filter(|entry| {
            !ctx.managed_by_flagger(&entry.common.key.object_ref(AppMeshKind::VirtualNode))
        })
        .map(|entry| NodeCtx {
            entry,
            node: entry.object,
            subject: entry.common.key.object_ref(AppMeshKind::VirtualNode),
            namespace: &entry.common.key.namespace,
            address: destinations::node_address(entry.object, &entry.common.key.namespace, &domain),
            scope: selector::translate(entry.object.spec.pod_selector.as_ref()),
        })
        .collect();
    cloud_map::convert_cloud_map_services(ctx, &nodes);
    let selections = nodes
        .iter()
        .filter_map(|n| {
            n.scope
                .scope
                .labels()
                .map(|l| (n.namespace.to_owned(), l.clone(), n.subject.clone()))
        })
        .collect();
    let mut state = State {
        selections,
        ..State::default()
    };
    for n in &nodes {
        convert_node(ctx, n, &mut state);
    }
}

fn convert_node(ctx: &mut Context<'_>, n: &NodeCtx<'_>, state: &mut State) {
    for (i, l) in n.node.spec.listeners.iter().enumerate() {
        if listeners::istio_port(l.port_mapping.port).is_none() {
            ctx.note(
                listeners::CODE_CLAMPED,
                &n.subject,
                &format!("spec.listeners[{i}].portMapping.port"),
                format!(
                    "{} is not a port number (1-65535; App Mesh rejects it too); the listener is left out wherever \
                     Istio needs its port",
                    l.port_mapping.port
                ),
            );
        }
    }
    if let Err(Unaddressable::InvalidHost { field, reason }) = &n.address {
        ctx.note(
            CODE_HOST_NOT_ROUTABLE,
            &n.subject,
            field,
            format!(
                "{reason}; nothing can route to this node in Istio, so routes to it and the settings its \
                 callers apply (outlier detection, Cloud Map subsets) are not converted"
            ),
        );
    }
    dns_host(ctx, n);
    outlier_detection(ctx, n);
    listeners::health_checks(ctx, n);
    listeners::service_port_protocols(ctx, n);
    if !n.scope.scope.selects_no_pods() {
        tls::certificate_findings(ctx, n);
        tls::client_policy_findings(ctx, n);
    }
    workload_objects(ctx, n, state);
}

/// Findings (and a ServiceEntry) for DNS discovery: in-cluster names are Istio's own
/// registry entries; a name outside the cluster served by no pod of the mesh is an external
/// service, which Istio only routes to once a ServiceEntry declares it.
fn dns_host(ctx: &mut Context<'_>, n: &NodeCtx<'_>) {
    let (Ok(address), Some(dns)) = (
        &n.address,
        n.node
            .spec
            .service_discovery
            .as_ref()
            .and_then(|d| d.dns.as_ref()),
    ) else {
        return;
    };
    let in_cluster = address
        .host
        .ends_with(&format!(".svc.{}", ctx.opts.cluster_domain));
    if in_cluster {
        if let Some(response_type) = dns.response_type {
            ctx.note(
                CODE_RESPONSE_TYPE,
                &n.subject,
                "spec.serviceDiscovery.dns.responseType",
                format!(
                    "responseType {} has no Istio equivalent for a Kubernetes Service: callers balance over the \
                     Service's endpoints",
                    match response_type {
                        DnsResponseType::Endpoints => "ENDPOINTS",
                        DnsResponseType::Loadbalancer => "LOADBALANCER",
                    }
                ),
            );
        }
        return;
    }
    if !n.scope.scope.selects_no_pods()
        || n.node.spec.listeners.is_empty()
        || !names::is_dns1123_subdomain(&address.host)
    {
        return;
    }
    let resolution = match dns.response_type {
        Some(DnsResponseType::Loadbalancer) => Resolution::DnsRoundRobin,
        Some(DnsResponseType::Endpoints) | None => Resolution::Dns,
    };
    let mut ports: Vec<ServicePort> = Vec::new();
    for l in &n.node.spec.listeners {
        let Some(number) = listeners::istio_port(l.port_mapping.port) else {
            continue;
        };
        if ports.iter().all(|p| p.number != number) {
            ports.push(ServicePort {
                number,
                protocol: Some(listeners::istio_protocol(l.port_mapping.protocol).to_owned()),
                name: listeners::port_name(l.port_mapping.protocol, l.port_mapping.port),
                target_port: None,
            });
        }
    }
    let spec = ServiceEntrySpec {
        hosts: vec![address.host.clone()],
        ports,
        location: Some(Location::MeshExternal),
        resolution: Some(resolution),
        ..ServiceEntrySpec::default()
    };
    let name = names::name_for_host(&address.host);
    let key = ctx.output.insert(
        ServiceEntry::new(Metadata::new(name, n.namespace), spec),
        &n.subject,
    );
    ctx.note(
        CODE_EXTERNAL_HOST,
        &n.subject,
        "spec.serviceDiscovery.dns.hostname",
        format!(
            "{} is served by no pod of the mesh and lies outside the cluster, so it is declared to Istio by the \
             ServiceEntry {}/{} ({} resolution)",
            address.host,
            key.1,
            key.2,
            if resolution == Resolution::Dns { "DNS" } else { "DNS_ROUND_ROBIN" }
        ),
    );
}

/// Outlier detection runs in the callers in both meshes: a DestinationRule policy on the
/// node's host, or on its subset for Cloud Map nodes.
fn outlier_detection(ctx: &mut Context<'_>, n: &NodeCtx<'_>) {
    let Ok(address) = &n.address else { return };
    let resolved = ctx.resolved;
    let domain = ctx.opts.cluster_domain.clone();
    let service_port = |port: i64| match address.discovery {
        Discovery::Dns => destinations::service_port(resolved, &address.host, port, &domain),
        Discovery::CloudMap => port,
    };
    let Some(policy) = listeners::outlier_policy(ctx, n, service_port) else {
        return;
    };
    let dr = ctx
        .output
        .destination_rule(&address.host, n.namespace, &n.subject);
    let consistent = match &address.subset {
        None => listeners::merge_outlier_policy(&mut dr.traffic_policy, policy),
        // A subset missing here was not created (reported by the Cloud Map conversion).
        Some(subset) => match dr.subsets.iter_mut().find(|s| s.name == *subset) {
            Some(s) => listeners::merge_outlier_policy(&mut s.traffic_policy, policy),
            None => true,
        },
    };
    if !consistent {
        listeners::note_conflict(
            ctx,
            n,
            "spec.listeners",
            &format!(
                "another VirtualNode addressed as {} already set a different outlier detection, which is kept",
                address.host
            ),
        );
    }
}

/// The Sidecar, PeerAuthentication, AuthorizationPolicy and Telemetry of the node's pods.
fn workload_objects(ctx: &mut Context<'_>, n: &NodeCtx<'_>, state: &mut State) {
    match &n.scope.scope {
        Scope::NoPods => {
            let why = if n.node.spec.pod_selector.is_none() {
                "the podSelector is not set, so App Mesh configured no pod for this node"
            } else {
                "the podSelector's requirements contradict each other, so it selects no pod"
            };
            ctx.note(
                CODE_NO_PODS,
                &n.subject,
                "spec.podSelector",
                format!(
                    "{why}; its pod-side settings (listener TLS, pools and timeouts, backends, client policies, \
                     access log) had no effect and no Sidecar, PeerAuthentication, AuthorizationPolicy or \
                     Telemetry is generated"
                ),
            );
            return;
        }
        // Reported by the resolver (AMI1120), with the reason.
        Scope::Invalid => return,
        Scope::Unexpressible => {
            ctx.note(
                CODE_SELECTOR_UNEXPRESSIBLE,
                &n.subject,
                "spec.podSelector.matchExpressions",
                format!(
                    "the podSelector ({}) has no equality labels Istio could select the pods with, so the pod-side \
                     settings (listener TLS, pools and timeouts, backends, access log) are not converted",
                    n.scope.dropped.join("; ")
                ),
            );
            return;
        }
        Scope::Namespace | Scope::Labels(_) => {}
    }
    let labels = n.scope.scope.labels().cloned();
    if !n.scope.dropped.is_empty() {
        // Other nodes whose pods carry at least these labels: the widened selector takes them in.
        let widened_over: Vec<String> = state
            .selections
            .iter()
            .filter(|(ns, other, subject)| {
                ns == n.namespace
                    && *subject != n.subject
                    && labels
                        .as_ref()
                        .is_none_or(|l| l.iter().all(|(k, v)| other.get(k) == Some(v)))
            })
            .map(|(_, _, subject)| subject.to_string())
            .collect();
        if !widened_over.is_empty() {
            ctx.note(
                CODE_SELECTOR_TAKEN,
                &n.subject,
                "spec.podSelector.matchExpressions",
                format!(
                    "without its matchExpressions ({}) the podSelector would also select the pods of {}, which \
                     Istio would then configure twice; this node's pod-side settings are not converted",
                    n.scope.dropped.join("; "),
                    widened_over.join(", ")
                ),
            );
            return;
        }
        ctx.note(
            CODE_MATCH_EXPRESSIONS,
            &n.subject,
            "spec.podSelector.matchExpressions",
            format!(
                "Istio selectors are equality labels only: the pod-side objects select every pod labelled {} \
                 without also requiring {}",
                describe_labels(labels.as_ref()),
                n.scope.dropped.join("; ")
            ),
        );
    }
    let claim = (n.namespace.to_owned(), labels.clone());
    if let Some(other) = state.claims.get(&claim) {
        // The canary and stable nodes of an Argo Rollout select the same pods once the
        // run-time hash is gone: the Rollout's pods get the pod-side objects of the first.
        if let Some(rollout) = super::argo::splitting_rollout(ctx.inventory, other, &n.subject) {
            ctx.note(
                super::argo::CODE_SHARED_PODS,
                &n.subject,
                "spec.podSelector",
                format!(
                    "{other} and this node are the stable and canary nodes of {rollout} and select the same pods \
                     without the run-time hash; the pods get {other}'s pod-side objects"
                ),
            );
            return;
        }
        ctx.note(
            CODE_SELECTOR_TAKEN,
            &n.subject,
            "spec.podSelector",
            format!(
                "{other} selects the same pods ({}), and a pod may belong to one VirtualNode only; this node's \
                 pod-side settings are not converted",
                describe_labels(labels.as_ref())
            ),
        );
        return;
    }
    state.claims.insert(claim, n.subject.clone());
    let name = n.entry.common.key.name.as_str();

    let mut sidecar = SidecarSpec {
        workload_selector: labels.clone().map(WorkloadLabels::new),
        ..SidecarSpec::default()
    };
    let pools = n
        .node
        .spec
        .listeners
        .iter()
        .enumerate()
        .map(|(i, l)| {
            (
                l.port_mapping.port,
                l.port_mapping.protocol,
                listeners::inbound_pool(ctx, n, i, l),
            )
        })
        .collect();
    listeners::apply_inbound_pools(&mut sidecar, pools);
    let egress = egress::egress(ctx, n);
    apply_egress(ctx, n, state, &egress, &mut sidecar);
    if !sidecar.ingress.is_empty()
        || !sidecar.egress.is_empty()
        || sidecar.inbound_connection_pool.is_some()
        || sidecar.outbound_traffic_policy.is_some()
    {
        let key = ctx.output.insert(
            Sidecar::new(Metadata::new(name, n.namespace), sidecar),
            &n.subject,
        );
        for group in &egress.groups {
            ctx.output
                .add_source(&key, &group.object_ref(AppMeshKind::BackendGroup));
        }
    }

    let selector = labels.map(WorkloadSelector::new);
    if let Some(mut spec) = tls::peer_authentication(ctx, n, &n.scope.scope) {
        spec.selector = selector.clone();
        ctx.output.insert(
            PeerAuthentication::new(Metadata::new(name, n.namespace), spec),
            &n.subject,
        );
    }
    if let Some(mut spec) = tls::san_policy(ctx, n) {
        spec.selector = selector.clone();
        ctx.output.insert(
            AuthorizationPolicy::new(Metadata::new(name, n.namespace), spec),
            &n.subject,
        );
    }
    if let Some(file) = n
        .node
        .spec
        .logging
        .as_ref()
        .and_then(|l| l.access_log.as_ref())
        .and_then(|a| a.file.as_ref())
    {
        let logging =
            access_log::access_logging(ctx, &n.subject, "spec.logging.accessLog.file", file);
        let spec = TelemetrySpec {
            selector,
            access_logging: vec![logging],
            ..TelemetrySpec::default()
        };
        ctx.output.insert(
            Telemetry::new(Metadata::new(name, n.namespace), spec),
            &n.subject,
        );
    }
}

fn describe_labels(labels: Option<&BTreeMap<String, String>>) -> String {
    match labels {
        Some(l) if !l.is_empty() => l
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        _ => "all pods of the namespace".to_owned(),
    }
}

/// The egress part of the Sidecar: backend hosts plus Istio's own namespace, and the
/// outbound mode of the node's Mesh. Under DROP_ALL the AWS APIs stay reachable through a
/// namespace-local ServiceEntry, as App Mesh let them through.
fn apply_egress(
    ctx: &mut Context<'_>,
    n: &NodeCtx<'_>,
    state: &mut State,
    egress: &Egress,
    sidecar: &mut SidecarSpec,
) {
    let mut hosts: Vec<String> = Vec::new();
    for host in &egress.hosts {
        if names::is_dns1123_subdomain(host) {
            hosts.push(format!("*/{host}"));
        } else {
            ctx.note(
                CODE_INVALID_HOST,
                &n.subject,
                "spec.backends",
                format!("backend host {host:?} is not a valid DNS name and cannot be imported by the Sidecar"),
            );
        }
    }
    let has_backends = !hosts.is_empty();
    match egress.mode {
        Some(OutboundTrafficMode::RegistryOnly) => {
            let key = aws_api_service_entry(ctx, n, state);
            hosts.push(format!("./{AWS_API_HOST}"));
            ctx.note(
                CODE_AWS_APIS,
                &n.subject,
                "spec.backends",
                format!(
                    "the Mesh drops traffic to non-mesh destinations (DROP_ALL) except AWS APIs; the Sidecar uses \
                     REGISTRY_ONLY and imports the ServiceEntry {}/{} for HTTPS to {AWS_API_HOST}",
                    key.1, key.2
                ),
            );
            if !has_backends {
                ctx.note(
                    CODE_NO_BACKENDS,
                    &n.subject,
                    "spec.backends",
                    "the node lists no backends, so under DROP_ALL it could call no mesh service; its Sidecar imports \
                     none either",
                );
            }
        }
        Some(OutboundTrafficMode::AllowAny) if !has_backends => ctx.note(
            CODE_NO_BACKENDS,
            &n.subject,
            "spec.backends",
            "the node lists no backends and the Mesh allows all egress (ALLOW_ALL), so its calls were passed \
             through; the Sidecar does not restrict egress (calls to mesh services now get Istio routing and mTLS)",
        ),
        _ => {}
    }
    if has_backends || egress.mode == Some(OutboundTrafficMode::RegistryOnly) {
        hosts.push(format!("{}/*", ctx.opts.istio_namespace));
        sidecar.egress = vec![EgressListener { port: None, hosts }];
    }
    sidecar.outbound_traffic_policy = egress.mode.map(|mode| OutboundTrafficPolicy { mode });
}

/// The namespace's ServiceEntry for AWS API endpoints (HTTPS, passed through by SNI).
fn aws_api_service_entry(ctx: &mut Context<'_>, n: &NodeCtx<'_>, state: &mut State) -> OutputKey {
    if let Some(key) = state.aws_apis.get(n.namespace) {
        ctx.output.add_source(key, &n.subject);
        return key.clone();
    }
    let spec = ServiceEntrySpec {
        hosts: vec![AWS_API_HOST.to_owned()],
        ports: vec![ServicePort {
            number: 443,
            protocol: Some("TLS".to_owned()),
            name: "tls-443".to_owned(),
            target_port: None,
        }],
        location: Some(Location::MeshExternal),
        resolution: Some(Resolution::None),
        export_to: vec![".".to_owned()],
        ..ServiceEntrySpec::default()
    };
    let key = ctx.output.insert(
        ServiceEntry::new(Metadata::new("aws-apis", n.namespace), spec),
        &n.subject,
    );
    state.aws_apis.insert(n.namespace.to_owned(), key.clone());
    key
}
