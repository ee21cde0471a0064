//! conversion-readiness (convert's own findings) and cleanup (what App Mesh's removal needs).

use std::collections::BTreeMap;

use super::super::snapshot::{ConversionOutcome, Snapshot};
use super::super::{CheckOutput, Skipped};
use super::appmesh::{available, controllers};
use super::{counted, plural};
use crate::findings::Finding;
use crate::origin::ObjectRef;

pub fn conversion(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let mut out = CheckOutput::default();
    match snap.conversion.get()? {
        ConversionOutcome::Converted(report) => {
            let s = &report.summary;
            out.details.push(format!(
                "{}: {} exact, {} approximated, {} not converted; {} Istio objects would be generated",
                plural(s.sources, "source object"),
                s.exact,
                s.approximated,
                s.not_converted,
                s.generated
            ));
            // convert's findings, unchanged: same codes, severities and messages as its report.
            out.findings.extend(report.findings().cloned());
        }
        ConversionOutcome::InvalidOutput(violations) => {
            out.details.push("convert would refuse this input: its generated configuration fails Istio validation".to_owned());
            out.findings.extend(violations.iter().cloned());
        }
        ConversionOutcome::Failed(message) => out.findings.push(Finding::new(
            "AMI3501",
            ObjectRef::new("Conversion", None, "convert"),
            format!("the conversion could not run: {message}"),
        )),
    }
    Ok(out)
}

/// Deletion order while the controller still runs (dependents first), from the controller's
/// issue #93 advice.
const DELETION_ORDER: &str =
    "GatewayRoute, VirtualGateway, VirtualService, VirtualRouter, VirtualNode, BackendGroup, Mesh";

pub fn finalizers(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    if snap.appmesh.values().all(|d| d.ok().is_none()) {
        return Err("no App Mesh kind could be read".into());
    }
    // Offline there is no controller to ask about: give the guidance, not the alarm.
    let controller_running = match controllers(snap) {
        Ok(found) => Some(found.iter().any(|d| available(d))),
        Err(_) => None,
    };
    let mut groups: BTreeMap<ObjectRef, (usize, std::collections::BTreeSet<String>)> =
        BTreeMap::new();
    for o in snap.appmesh_objects() {
        // Objects already being deleted are reported by AMI3107.
        if o.str_at("/metadata/deletionTimestamp").is_some() {
            continue;
        }
        let ours: Vec<&str> = o
            .finalizers()
            .into_iter()
            .filter(|f| f.starts_with("finalizers.appmesh.k8s.aws/"))
            .collect();
        if ours.is_empty() {
            continue;
        }
        let key = match o.namespace() {
            Some(ns) => ObjectRef::new("Namespace", None, ns),
            None => o.object_ref(),
        };
        let entry = groups.entry(key).or_default();
        entry.0 += 1;
        entry.1.extend(ours.into_iter().map(str::to_owned));
    }
    let mut out = CheckOutput::default();
    for (subject, (count, names)) in groups {
        let names = names.into_iter().collect::<Vec<_>>().join(", ");
        let finding = if controller_running == Some(false) {
            Finding::new(
                "AMI3602",
                subject,
                format!(
                    "{} App Mesh finalizers ({names}) and no App Mesh controller is available: deleting them will hang",
                    counted(count, "object", "carries", "carry")
                ),
            )
        } else {
            Finding::new(
                "AMI3601",
                subject,
                format!(
                    "{} App Mesh finalizers ({names}): delete them in the order {DELETION_ORDER} while the controller runs, then uninstall it",
                    counted(count, "object", "carries", "carry")
                ),
            )
        };
        out.findings.push(finding);
    }
    Ok(out)
}

pub fn cloud_map(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let nodes = snap
        .appmesh
        .get("VirtualNode")
        .ok_or(Skipped("no VirtualNode data".into()))?
        .get()?;
    let mut out = CheckOutput::default();
    for vn in nodes {
        let Some(cm) = vn.at("/spec/serviceDiscovery/awsCloudMap") else {
            continue;
        };
        let namespace = cm
            .get("namespaceName")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?");
        let service = cm
            .get("serviceName")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?");
        out.findings.push(
            Finding::new(
                "AMI3603",
                vn.object_ref(),
                format!(
                    "registers its pods as instances of Cloud Map service {service} in namespace {namespace}: \
                     delete the VirtualNode while the controller runs so it deregisters them, after checking \
                     that nothing outside the cluster resolves that service"
                ),
            )
            .at_field("spec.serviceDiscovery.awsCloudMap")
            .with_origin(Some(vn.origin.clone())),
        );
    }
    Ok(out)
}

pub fn mesh_deletion(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let meshes = snap
        .appmesh
        .get("Mesh")
        .ok_or(Skipped("no Mesh data".into()))?
        .get()?;
    let mut out = CheckOutput::default();
    for mesh in meshes {
        let aws_name = mesh.str_at("/spec/awsName").unwrap_or(mesh.name());
        let finding = match mesh.str_at("/spec/meshOwner") {
            Some(owner) => Finding::new(
                "AMI3604",
                mesh.object_ref(),
                format!(
                    "mesh {aws_name} belongs to AWS account {owner}: deleting this Mesh object makes the controller \
                     act on a mesh other accounts use"
                ),
            )
            .at_field("spec.meshOwner"),
            None => Finding::new(
                "AMI3605",
                mesh.object_ref(),
                format!(
                    "deleting this Mesh object deletes App Mesh mesh {aws_name} in AWS: make sure no ECS service, \
                     EC2 instance or other cluster still uses it"
                ),
            ),
        };
        out.findings
            .push(finding.with_origin(Some(mesh.origin.clone())));
    }
    Ok(out)
}
