//! coexistence and workloads: namespaces, pods and pod templates.

use std::collections::BTreeMap;

use serde_json::Value;

use super::super::labels::{
    FARGATE_PROFILE, ISTIO_INJECTION, ISTIO_REV, appmesh_injection, istio_injection,
};
use super::super::snapshot::Snapshot;
use super::super::{CheckOutput, Skipped};
use super::{
    appmesh_label, containers, counted, editable_pod_specs, has_appmesh_sidecar, has_istio_sidecar,
    is_appmesh_envoy, meshed_namespaces, owner_of, plural, pod_annotations, pod_spec,
};
use crate::findings::Finding;
use crate::origin::ObjectRef;

// ---------------------------------------------------------------------------------------------
// coexistence

pub fn both_injectors(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let namespaces = snap.namespaces.get()?;
    let mut out = CheckOutput::default();
    for ns in namespaces {
        let labels = ns.labels();
        let (Some(appmesh), Some(istio)) = (appmesh_injection(&labels), istio_injection(&labels))
        else {
            continue;
        };
        let (code, effect) = if appmesh == "enabled" {
            (
                "AMI3301",
                "every new pod gets both App Mesh's Envoy and istio-proxy, which fight over the pod's iptables",
            )
        } else {
            (
                "AMI3302",
                "pods annotated appmesh.k8s.aws/sidecarInjectorWebhook: enabled get both sidecars",
            )
        };
        out.findings.push(
            Finding::new(
                code,
                ns.object_ref(),
                format!("labelled {} and {istio}: {effect}", appmesh_label(appmesh)),
            )
            .at_field("metadata.labels")
            .with_origin(Some(ns.origin.clone())),
        );
    }
    Ok(out)
}

pub fn both_sidecars(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let pods = snap.pods.get()?;
    let mut out = CheckOutput::default();
    for pod in pods {
        let Some(spec) = pod_spec(pod) else { continue };
        if has_appmesh_sidecar(spec) && has_istio_sidecar(spec) {
            let owner = owner_of(pod);
            let via = if owner != pod.object_ref() {
                format!(" (owned by {owner})")
            } else {
                String::new()
            };
            out.findings.push(Finding::new(
                "AMI3303",
                pod.object_ref(),
                format!("runs App Mesh's Envoy and istio-proxy side by side{via}"),
            ));
        }
    }
    Ok(out)
}

pub fn both_istio_labels(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let namespaces = snap.namespaces.get()?;
    let mut out = CheckOutput::default();
    for ns in namespaces {
        let labels = ns.labels();
        if let (Some(injection), Some(rev)) = (labels.get(ISTIO_INJECTION), labels.get(ISTIO_REV)) {
            out.findings.push(
                Finding::new(
                    "AMI3304",
                    ns.object_ref(),
                    format!("labelled {ISTIO_INJECTION}={injection} and {ISTIO_REV}={rev}: {ISTIO_INJECTION} wins and {ISTIO_REV} is ignored"),
                )
                .at_field("metadata.labels")
                .with_origin(Some(ns.origin.clone())),
            );
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// workloads

pub fn appmesh_sidecars(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let pods = snap.pods.get()?;
    let mut owners: BTreeMap<ObjectRef, usize> = BTreeMap::new();
    for pod in pods {
        if pod_spec(pod).is_some_and(has_appmesh_sidecar) {
            *owners.entry(owner_of(pod)).or_default() += 1;
        }
    }
    let mut out = CheckOutput::default();
    let mut per_ns: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (owner, count) in &owners {
        let entry = per_ns
            .entry(owner.namespace.as_deref().unwrap_or("-"))
            .or_default();
        entry.0 += 1;
        entry.1 += count;
    }
    for (ns, (workloads, pods)) in &per_ns {
        out.details.push(format!(
            "{ns}: {} in {}",
            plural(*pods, "pod"),
            plural(*workloads, "workload")
        ));
    }
    for (owner, count) in owners {
        let restart = if owner.kind == "Pod" {
            "recreate it"
        } else {
            "restart it"
        };
        out.findings.push(Finding::new(
            "AMI3401",
            owner,
            format!(
                "{} App Mesh's Envoy sidecar: {restart} once App Mesh injection is off and Istio's is on",
                counted(count, "pod", "carries", "carry")
            ),
        ));
    }
    Ok(out)
}

pub fn fargate(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let pods = snap.pods.get()?;
    let meshed = meshed_namespaces(snap);
    let mut owners: BTreeMap<ObjectRef, (usize, String)> = BTreeMap::new();
    for pod in pods {
        let in_scope = pod.namespace().is_some_and(|ns| meshed.contains(ns))
            || pod_spec(pod).is_some_and(has_appmesh_sidecar);
        if !in_scope {
            continue;
        }
        let labels = pod.labels();
        let evidence = if let Some(profile) = labels.get(FARGATE_PROFILE) {
            format!("label {FARGATE_PROFILE}={profile}")
        } else if let Some(node) = pod
            .str_at("/spec/nodeName")
            .filter(|n| n.starts_with("fargate-"))
        {
            format!("node {node}")
        } else {
            continue;
        };
        let entry = owners.entry(owner_of(pod)).or_insert((0, evidence));
        entry.0 += 1;
    }
    let mut out = CheckOutput::default();
    for (owner, (count, evidence)) in owners {
        out.findings.push(Finding::new(
            "AMI3402",
            owner,
            format!(
                "{} on AWS Fargate ({evidence}): Fargate grants neither NET_ADMIN (istio-init) nor the \
                 DaemonSet istio-cni needs, so Istio sidecars cannot redirect their traffic",
                counted(count, "pod", "runs", "run")
            ),
        ));
    }
    Ok(out)
}

pub fn host_network(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let meshed = meshed_namespaces(snap);
    let mut out = CheckOutput::default();
    for object in editable_pod_specs(snap) {
        if !object.namespace().is_some_and(|ns| meshed.contains(ns)) {
            continue;
        }
        if pod_spec(object)
            .and_then(|s| s.get("hostNetwork"))
            .and_then(Value::as_bool)
            == Some(true)
        {
            out.findings.push(
                Finding::new(
                    "AMI3403",
                    object.object_ref(),
                    "uses hostNetwork: Istio never injects such pods, so it stays outside the mesh",
                )
                .at_field(if object.kind() == "Pod" {
                    "spec.hostNetwork"
                } else {
                    "spec.template.spec.hostNetwork"
                })
                .with_origin(Some(object.origin.clone())),
            );
        }
    }
    Ok(out)
}

pub fn uid_1337(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let mut out = CheckOutput::default();
    for object in editable_pod_specs(snap) {
        let Some(spec) = pod_spec(object) else {
            continue;
        };
        let pod_uid = spec
            .pointer("/securityContext/runAsUser")
            .and_then(Value::as_i64);
        let prefix = if object.kind() == "Pod" {
            "spec"
        } else {
            "spec.template.spec"
        };
        for (field, list) in [
            ("containers", containers(spec, "containers")),
            ("initContainers", containers(spec, "initContainers")),
        ] {
            for (i, c) in list.enumerate() {
                let name = c.get("name").and_then(Value::as_str).unwrap_or("");
                // The meshes' own proxies run as 1337 by design.
                if is_appmesh_envoy(c) || name == "istio-proxy" {
                    continue;
                }
                let own = c
                    .pointer("/securityContext/runAsUser")
                    .and_then(Value::as_i64);
                let (uid, at) = match own {
                    Some(uid) => (
                        uid,
                        format!("{prefix}.{field}[{i}].securityContext.runAsUser"),
                    ),
                    None => match pod_uid {
                        Some(uid) => (uid, format!("{prefix}.securityContext.runAsUser")),
                        None => continue,
                    },
                };
                if uid == 1337 {
                    out.findings.push(
                        Finding::new(
                            "AMI3404",
                            object.object_ref(),
                            format!(
                                "container {name} runs as UID 1337, the UID whose traffic Istio's iptables rules let \
                                 bypass the sidecar: its traffic would escape the mesh"
                            ),
                        )
                        .at_field(at)
                        .with_origin(Some(object.origin.clone())),
                    );
                }
            }
        }
    }
    Ok(out)
}

pub fn paused(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let deployments = snap.deployments.get()?;
    let meshed = meshed_namespaces(snap);
    let mut out = CheckOutput::default();
    for d in deployments {
        if d.at("/spec/paused").and_then(Value::as_bool) == Some(true)
            && d.namespace().is_some_and(|ns| meshed.contains(ns))
        {
            out.findings.push(
                Finding::new(
                    "AMI3405",
                    d.object_ref(),
                    "is paused: `rollout restart` records the restart but no new pod (with Istio's sidecar) starts until it is resumed",
                )
                .at_field("spec.paused")
                .with_origin(Some(d.origin.clone())),
            );
        }
    }
    Ok(out)
}

/// App Mesh pod annotations and their Istio counterparts (istio-mapping: pod annotations).
pub(crate) fn istio_equivalent(key: &str) -> Option<Result<&'static str, &'static str>> {
    let suffix = key.strip_prefix("appmesh.k8s.aws/")?;
    Some(match suffix {
        "sidecarInjectorWebhook" => Ok("label sidecar.istio.io/inject"),
        "egressIgnoredIPs" => Ok(
            "traffic.sidecar.istio.io/excludeOutboundIPRanges (as CIDRs, e.g. 169.254.169.254/32)",
        ),
        "egressIgnoredPorts" => Ok("traffic.sidecar.istio.io/excludeOutboundPorts"),
        "ports" => Ok("traffic.sidecar.istio.io/includeInboundPorts"),
        "cpuRequest" => Ok("sidecar.istio.io/proxyCPU"),
        "memoryRequest" => Ok("sidecar.istio.io/proxyMemory"),
        "cpuLimit" => Ok("sidecar.istio.io/proxyCPULimit"),
        "memoryLimit" => Ok("sidecar.istio.io/proxyMemoryLimit"),
        "sidecarEnv" | "sidecarEnvJson" => Ok("proxy.istio.io/config proxyMetadata"),
        "mesh" | "virtualNode" => {
            Err("inert since App Mesh v1beta2 (legacy injector annotation): drop it")
        }
        "appmeshCNI" => Err("Istio's equivalent is cluster-wide (istio-cni), not per pod"),
        "secretMounts" | "volumeMounts" | "xrayAgentConfigMount" => Err(
            "Envoy mounts have no 1:1 Istio annotation (sidecar.istio.io/userVolume and userVolumeMount come closest)",
        ),
        "ignoredUID" | "ignoredGID" | "proxyEgressPort" | "proxyIngressPort" => {
            Err("Istio's proxy UID (1337) and ports (15001/15006) are fixed")
        }
        "preview" | "sds" | "ipv6" | "virtualGatewaySkipImageOverride" => {
            Err("App Mesh-specific: no Istio counterpart")
        }
        _ => Err("unknown App Mesh annotation: no Istio counterpart"),
    })
}

pub fn annotations(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let mut out = CheckOutput::default();
    for object in editable_pod_specs(snap) {
        let field = if object.kind() == "Pod" {
            "metadata.annotations"
        } else {
            "spec.template.metadata.annotations"
        };
        let mut mapped = Vec::new();
        let mut unmapped = Vec::new();
        for key in pod_annotations(object).keys() {
            match istio_equivalent(key) {
                Some(Ok(istio)) => mapped.push(format!("{key} → {istio}")),
                Some(Err(why)) => unmapped.push(format!("{key} ({why})")),
                None => {}
            }
        }
        if !mapped.is_empty() {
            out.findings.push(
                Finding::new("AMI3406", object.object_ref(), mapped.join("; "))
                    .at_field(field)
                    .with_origin(Some(object.origin.clone())),
            );
        }
        if !unmapped.is_empty() {
            out.findings.push(
                Finding::new("AMI3407", object.object_ref(), unmapped.join("; "))
                    .at_field(field)
                    .with_origin(Some(object.origin.clone())),
            );
        }
    }
    Ok(out)
}

/// Callers and backends coupled by App Mesh TLS (`rollout::coupling`): they must move to Istio
/// together.
pub fn tls_coupled(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    if let Some(data) = snap.appmesh.get("VirtualNode") {
        data.get()?;
    }
    let inventory = super::super::snapshot::cluster_inventory(snap);
    let resolved = crate::resolve::resolve(&inventory);
    let graph = crate::rollout::coupling::graph(&resolved);
    let mut out = CheckOutput::default();
    for group in graph.tls_groups {
        let Some(first) = group.workloads.iter().next().cloned() else {
            continue;
        };
        let members: Vec<String> = group
            .workloads
            .iter()
            .map(|w| {
                format!(
                    "{} {}/{}",
                    w.kind,
                    w.namespace.as_deref().unwrap_or(""),
                    w.name
                )
            })
            .collect();
        out.findings.push(Finding::new(
            "AMI3420",
            first,
            format!(
                "{} are coupled by App Mesh TLS ({}): restart them together",
                members.join(", "),
                group.links.join("; ")
            ),
        ));
    }
    Ok(out)
}
