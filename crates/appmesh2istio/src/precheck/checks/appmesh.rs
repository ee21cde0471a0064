//! appmesh: the App Mesh installation and its objects.

use std::collections::BTreeMap;

use serde_json::Value;

use super::super::labels::selector_matches;
use super::super::snapshot::{Object, Snapshot};
use super::super::{CheckOutput, Skipped};
use super::{image_tag, plural};
use crate::cluster::kinds::{APPMESH_GROUP, APPMESH_KINDS, APPMESH_VERSION};
use crate::findings::Finding;
use crate::origin::ObjectRef;

pub fn crds(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let groups = snap.groups.get()?;
    let served = snap.served.get()?;
    let mut out = CheckOutput::default();
    let Some(versions) = groups.get(APPMESH_GROUP) else {
        out.findings.push(Finding::new(
            "AMI3101",
            ObjectRef::new("APIGroup", None, APPMESH_GROUP),
            "the App Mesh API group is not served: App Mesh is not installed in this cluster",
        ));
        return Ok(out);
    };
    out.details
        .push(format!("{APPMESH_GROUP} serves {}", versions.join(", ")));
    let gv = format!("{APPMESH_GROUP}/{APPMESH_VERSION}");
    match served.get(&gv) {
        Some(kinds) => {
            let missing: Vec<&str> = APPMESH_KINDS
                .iter()
                .map(|k| k.kind)
                .filter(|k| !kinds.contains(*k))
                .collect();
            if !missing.is_empty() {
                out.details.push(format!(
                    "not installed: {} (nothing of those kinds to migrate)",
                    missing.join(", ")
                ));
            }
        }
        None => out.findings.push(Finding::new(
            "AMI3102",
            ObjectRef::new("APIGroup", None, APPMESH_GROUP),
            format!(
                "{gv} is not served (served: {}); its objects cannot be read or converted",
                versions.join(", ")
            ),
        )),
    }
    Ok(out)
}

/// The App Mesh controller Deployments found (preferring the configured namespace).
pub(super) fn controllers(snap: &Snapshot) -> Result<Vec<&Object>, Skipped> {
    let deployments = snap.system_deployments()?;
    let mut found: Vec<&Object> = deployments
        .into_iter()
        .filter(|d| {
            d.name() == "appmesh-controller"
                || d.name() == "appmesh-manager"
                || d.labels()
                    .get("app.kubernetes.io/name")
                    .is_some_and(|n| n == "appmesh-controller")
                || super::containers(
                    d.at("/spec/template/spec").unwrap_or(&Value::Null),
                    "containers",
                )
                .any(|c| {
                    c.get("image")
                        .and_then(Value::as_str)
                        .is_some_and(|i| i.contains("appmesh-controller"))
                })
        })
        .collect();
    found.sort_by_key(|d| d.namespace() != Some(snap.appmesh_namespace.as_str()));
    Ok(found)
}

/// Whether a Deployment has at least one available replica.
pub(super) fn available(deployment: &Object) -> bool {
    deployment
        .at("/status/availableReplicas")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        > 0
}

fn controller_image(deployment: &Object) -> Option<&str> {
    let spec = deployment.at("/spec/template/spec")?;
    let containers: Vec<&Value> = super::containers(spec, "containers").collect();
    let pick = containers
        .iter()
        .find(|c| {
            c.get("image")
                .and_then(Value::as_str)
                .is_some_and(|i| i.contains("appmesh-controller"))
        })
        .or_else(|| {
            containers
                .iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some("controller"))
        })
        .or(containers.first())?;
    pick.get("image").and_then(Value::as_str)
}

pub fn controller(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let found = controllers(snap)?;
    let objects = snap.appmesh_objects().count();
    let mut out = CheckOutput::default();
    if found.is_empty() {
        if objects == 0 {
            return Err("App Mesh is not in use here (no controller, no App Mesh objects)".into());
        }
        out.findings.push(Finding::new(
            "AMI3103",
            ObjectRef::new("Deployment", Some(&snap.appmesh_namespace), "appmesh-controller"),
            format!(
                "no App Mesh controller Deployment found (looked for appmesh-controller, in {} first), \
                 but {} exist",
                snap.appmesh_namespace,
                plural(objects, "App Mesh object")
            ),
        ));
        return Ok(out);
    }
    for d in found {
        let image = controller_image(d).unwrap_or("?");
        let version = image_tag(image).unwrap_or("unknown version");
        let ready = d
            .at("/status/availableReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let wanted = d.at("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
        out.details.push(format!(
            "{} in {}: {version} ({image}), {ready}/{wanted} available",
            d.name(),
            d.namespace().unwrap_or("-")
        ));
        if !available(d) {
            out.findings.push(Finding::new(
                "AMI3104",
                d.object_ref(),
                format!("the App Mesh controller has no available replica ({ready}/{wanted})"),
            ));
        }
    }
    Ok(out)
}

/// Webhook configurations that belong to App Mesh (`*.appmesh.k8s.aws` webhooks).
fn appmesh_webhooks(configs: &[Object]) -> Vec<&Object> {
    configs
        .iter()
        .filter(|c| {
            c.name().contains("appmesh")
                || c.at("/webhooks")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|w| {
                        w.get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| n.ends_with(".appmesh.k8s.aws"))
                    })
        })
        .collect()
}

pub fn webhooks(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let mutating = snap.mutating_webhooks.get()?;
    let validating = snap.validating_webhooks.get()?;
    let controllers = controllers(snap)?;
    let running = controllers.iter().any(|d| available(d));
    let mut out = CheckOutput::default();
    let found: Vec<&Object> = appmesh_webhooks(mutating)
        .into_iter()
        .chain(appmesh_webhooks(validating))
        .collect();
    if found.is_empty() {
        out.details
            .push("no App Mesh webhook configuration".to_owned());
        return Ok(out);
    }
    for config in found {
        let hooks: Vec<&Value> = config
            .at("/webhooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect();
        let failing: Vec<&str> = hooks
            .iter()
            .filter(|w| {
                w.get("failurePolicy")
                    .and_then(Value::as_str)
                    .unwrap_or("Fail")
                    == "Fail"
            })
            .filter_map(|w| w.get("name").and_then(Value::as_str))
            .collect();
        out.details.push(format!(
            "{} {} ({})",
            config.kind(),
            config.name(),
            plural(hooks.len(), "webhook")
        ));
        if !running && !failing.is_empty() {
            let effect = if config.kind() == "MutatingWebhookConfiguration"
                && failing.iter().any(|n| n.starts_with("mpod"))
            {
                "pod creation fails in namespaces labelled appmesh.k8s.aws/sidecarInjectorWebhook, and App Mesh objects cannot be changed"
            } else {
                "creating or changing App Mesh objects fails"
            };
            out.findings.push(Finding::new(
                "AMI3105",
                config.object_ref(),
                format!(
                    "failurePolicy Fail on {} but no App Mesh controller is available to answer: {effect}",
                    failing.join(", ")
                ),
            ));
        }
    }
    Ok(out)
}

pub fn inventory(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    if snap.appmesh.values().all(|d| d.ok().is_none()) {
        return Err("no App Mesh kind could be read".into());
    }
    let mut out = CheckOutput::default();
    let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
    let mut per_ns: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for o in snap.appmesh_objects() {
        *totals.entry(o.kind()).or_default() += 1;
        if let Some(ns) = o.namespace() {
            *per_ns.entry(ns).or_default().entry(o.kind()).or_default() += 1;
        }
    }
    let total: usize = totals.values().sum();
    let by_kind = |counts: &BTreeMap<&str, usize>| {
        APPMESH_KINDS
            .iter()
            .filter_map(|k| counts.get(k.kind).map(|n| plural(*n, k.kind)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.details.push(if total == 0 {
        "no App Mesh objects".to_owned()
    } else {
        format!(
            "{} in {}: {}",
            plural(total, "App Mesh object"),
            plural(per_ns.len(), "namespace"),
            by_kind(&totals)
        )
    });
    let ns_labels = snap.namespace_labels();
    for mesh in snap.appmesh_of("Mesh") {
        let members: Vec<&str> = ns_labels
            .iter()
            .filter(|(_, labels)| selector_matches(mesh.at("/spec/namespaceSelector"), labels))
            .map(|(n, _)| *n)
            .collect();
        let selector = mesh
            .at("/spec/namespaceSelector")
            .map(Value::to_string)
            .unwrap_or_else(|| "none".into());
        let members = if members.is_empty() {
            "no namespace".to_owned()
        } else {
            members.join(", ")
        };
        out.findings.push(
            Finding::new(
                "AMI3106",
                mesh.object_ref(),
                format!("namespaceSelector {selector} selects {members}"),
            )
            .with_origin(Some(mesh.origin.clone())),
        );
    }
    for (ns, counts) in &per_ns {
        out.findings.push(Finding::new(
            "AMI3106",
            ObjectRef::new("Namespace", None, *ns),
            by_kind(counts),
        ));
    }
    Ok(out)
}

pub fn stuck(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    if snap.appmesh.values().all(|d| d.ok().is_none()) {
        return Err("no App Mesh kind could be read".into());
    }
    let mut out = CheckOutput::default();
    for o in snap.appmesh_objects() {
        let Some(deleted) = o.str_at("/metadata/deletionTimestamp") else {
            continue;
        };
        let finalizers = o.finalizers();
        let pending = if finalizers.is_empty() {
            "no finalizer left".to_owned()
        } else {
            format!("finalizers {}", finalizers.join(", "))
        };
        out.findings.push(
            Finding::new(
                "AMI3107",
                o.object_ref(),
                format!("deleted at {deleted} but still present ({pending})"),
            )
            .at_field("metadata.finalizers")
            .with_origin(Some(o.origin.clone())),
        );
    }
    Ok(out)
}

/// `(path, value)` of every `*ARN` reference under `value` (virtualServiceARN, virtualNodeARN,
/// virtualRouterARN …), for the field of a finding.
fn arn_references(value: &Value, path: String, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match v {
                    Value::String(s) if k.ends_with("ARN") && k.starts_with("virtual") => {
                        out.push((child, s.clone()))
                    }
                    _ => arn_references(v, child, out),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                arn_references(v, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// `(mesh name, account)` of an App Mesh ARN:
/// `arn:aws:appmesh:<region>:<account>:mesh/<mesh>[/<kind>/<name>]`.
fn arn_mesh(arn: &str) -> Option<(String, String)> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, _, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if service != "appmesh" {
        return None;
    }
    let mesh = resource.strip_prefix("mesh/")?.split('/').next()?;
    Some((mesh.to_owned(), account.to_owned()))
}

/// Shared meshes, seen from the mesh: `meshOwner` (AWS RAM), and the meshes and accounts that
/// ARN references point to (each reference itself is convert's AMI1111 finding).
pub fn shared(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    if snap.appmesh.values().all(|d| d.ok().is_none()) {
        return Err("no App Mesh kind could be read".into());
    }
    let mut out = CheckOutput::default();
    let meshes = snap.appmesh_of("Mesh");
    let mesh_ref = |aws_name: &str| {
        meshes
            .iter()
            .find(|m| m.str_at("/spec/awsName").unwrap_or(m.name()) == aws_name)
            .map(|m| m.object_ref())
            .unwrap_or_else(|| ObjectRef::new("Mesh", None, aws_name))
    };
    for mesh in meshes {
        if let Some(owner) = mesh.str_at("/spec/meshOwner") {
            out.findings.push(
                Finding::new(
                    "AMI3108",
                    mesh.object_ref(),
                    format!("the mesh is owned by AWS account {owner} and shared with this one (AWS RAM)"),
                )
                .at_field("spec.meshOwner")
                .with_origin(Some(mesh.origin.clone())),
            );
        }
    }
    // (mesh, account) → referencing objects
    let mut referenced: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for o in snap.appmesh_objects() {
        let Some(spec) = o.at("/spec") else { continue };
        let mut refs = Vec::new();
        arn_references(spec, "spec".to_owned(), &mut refs);
        for (_, arn) in refs {
            if let Some(key) = arn_mesh(&arn) {
                let who = o.object_ref().to_string();
                let list = referenced.entry(key).or_default();
                if !list.contains(&who) {
                    list.push(who);
                }
            }
        }
    }
    for ((mesh, account), from) in referenced {
        let shown: Vec<&str> = from.iter().take(5).map(String::as_str).collect();
        let more = if from.len() > shown.len() {
            format!(" and {} more", from.len() - shown.len())
        } else {
            String::new()
        };
        out.findings.push(Finding::new(
            "AMI3108",
            mesh_ref(&mesh),
            format!(
                "mesh {mesh} of AWS account {account} is referenced by ARN from {}{more}: resources outside this \
                 cluster's objects take part in it",
                shown.join(", ")
            ),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_their_mesh_and_account() {
        assert_eq!(
            arn_mesh("arn:aws:appmesh:us-west-2:111122223333:mesh/shared/virtualService/a.b"),
            Some(("shared".into(), "111122223333".into()))
        );
        assert_eq!(
            arn_mesh("arn:aws:appmesh:us-west-2:1:mesh/m"),
            Some(("m".into(), "1".into()))
        );
        assert_eq!(arn_mesh("arn:aws:acm:us-west-2:1:certificate/x"), None);
    }
}
