//! istio: the Istio installation the migration goes to.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::super::labels::{ISTIO_INJECTION, ISTIO_REV, ISTIO_TAG};
use super::super::snapshot::{Object, Snapshot};
use super::super::{CheckOutput, Skipped, TARGET_ISTIO};
use super::{image_tag, tag_version};
use crate::cluster::kinds::ISTIO_KINDS;
use crate::findings::Finding;
use crate::origin::ObjectRef;

/// The first Istio minor that serves the `v1` APIs convert writes.
const FIRST_V1_MINOR: u32 = 22;

/// istiod Deployments (one per revision).
fn istiods(snap: &Snapshot) -> Result<Vec<&Object>, Skipped> {
    let deployments = snap.system_deployments()?;
    Ok(deployments
        .into_iter()
        .filter(|d| {
            d.name() == "istiod"
                || d.name().starts_with("istiod-")
                || d.labels().get("app").is_some_and(|a| a == "istiod")
        })
        .collect())
}

fn revision_of(object: &Object) -> String {
    object
        .labels()
        .get(ISTIO_REV)
        .cloned()
        .unwrap_or_else(|| "default".to_owned())
}

/// Injector webhook configurations (`*sidecar-injector.istio.io` webhooks).
fn injectors(configs: &[Object]) -> Vec<&Object> {
    configs
        .iter()
        .filter(|c| {
            c.at("/webhooks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|w| {
                    w.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.ends_with("sidecar-injector.istio.io"))
                })
        })
        .collect()
}

/// tag → revision, from the revision-tag webhook configurations.
fn tags(configs: &[Object]) -> BTreeMap<String, String> {
    configs
        .iter()
        .filter_map(|c| {
            let labels = c.labels();
            Some((
                labels.get(ISTIO_TAG)?.clone(),
                labels
                    .get(ISTIO_REV)
                    .cloned()
                    .unwrap_or_else(|| "default".into()),
            ))
        })
        .collect()
}

/// Whether Istio is in the cluster at all: an istiod, its injector webhook, or its API groups.
pub(crate) fn istio_present(snap: &Snapshot) -> bool {
    istiods(snap).is_ok_and(|d| !d.is_empty())
        || snap
            .mutating_webhooks
            .ok()
            .is_some_and(|m| !injectors(m).is_empty())
        || istio_groups_present(snap)
}

fn istio_groups_present(snap: &Snapshot) -> bool {
    snap.groups
        .ok()
        .is_some_and(|g| ISTIO_KINDS.iter().any(|k| g.contains_key(k.group)))
}

pub fn installed(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let istiods = istiods(snap)?;
    let mutating = snap.mutating_webhooks.get()?;
    let mut out = CheckOutput::default();
    if istiods.is_empty() {
        let leftovers = !injectors(mutating).is_empty() || istio_groups_present(snap);
        let mut message = format!(
            "no istiod Deployment found (looked in {} and every namespace read): Istio is not installed. \
             `kubectl appmesh2istio convert --install` generates an IstioOperator for `istioctl install -f` \
             (Istio {}.{}), with meshConfig derived from the Meshes",
            snap.istio_namespace, TARGET_ISTIO.0, TARGET_ISTIO.1
        );
        if leftovers {
            message.push_str("; Istio CRDs or injector webhooks are present though (left over from an earlier install?)");
        }
        out.findings.push(Finding::new(
            "AMI3201",
            ObjectRef::new("Deployment", Some(&snap.istio_namespace), "istiod"),
            message,
        ));
        return Ok(out);
    }
    for d in &istiods {
        let image = d
            .at("/spec/template/spec/containers")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("name").and_then(Value::as_str) == Some("discovery"))
                    .or(cs.first())
            })
            .and_then(|c| c.get("image"))
            .and_then(Value::as_str)
            .unwrap_or("?");
        let tag = image_tag(image);
        out.details.push(format!(
            "{} in {} (revision {}): {}",
            d.name(),
            d.namespace().unwrap_or("-"),
            revision_of(d),
            tag.unwrap_or(image)
        ));
        match tag.and_then(tag_version) {
            Some((1, minor)) if minor < FIRST_V1_MINOR => out.findings.push(Finding::new(
                "AMI3202",
                d.object_ref(),
                format!(
                    "Istio {} does not serve the networking.istio.io/v1 and security.istio.io/v1 APIs the \
                     generated configuration uses (Istio 1.{FIRST_V1_MINOR}+)",
                    tag.unwrap_or("?")
                ),
            )),
            Some((major, minor)) if (major, minor) != TARGET_ISTIO => out.findings.push(Finding::new(
                "AMI3203",
                d.object_ref(),
                format!(
                    "Istio {} is installed; the configuration is generated and validated for Istio {}.{}",
                    tag.unwrap_or("?"),
                    TARGET_ISTIO.0,
                    TARGET_ISTIO.1
                ),
            )),
            _ => {}
        }
    }
    let tags = tags(mutating);
    if !tags.is_empty() {
        out.details.push(format!(
            "revision tags: {}",
            tags.iter()
                .map(|(t, r)| format!("{t} -> {r}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(out)
}

pub fn revisions(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let istiods = istiods(snap)?;
    let namespaces = snap.namespaces.get()?;
    let mutating = snap.mutating_webhooks.get()?;
    if istiods.is_empty() {
        return Err("Istio is not installed".into());
    }
    let mut known: BTreeSet<String> = istiods.iter().map(|d| revision_of(d)).collect();
    known.extend(tags(mutating).into_keys());
    // The revision of the default injector also answers to `default`.
    known.insert("default".to_owned());
    let mut out = CheckOutput::default();
    for ns in namespaces {
        let labels = ns.labels();
        // istio-injection wins over istio.io/rev: the rev label is then irrelevant (AMI3304).
        if labels.contains_key(ISTIO_INJECTION) {
            continue;
        }
        if let Some(rev) = labels.get(ISTIO_REV)
            && !known.contains(rev)
        {
            out.findings.push(
                Finding::new(
                    "AMI3204",
                    ns.object_ref(),
                    format!(
                        "{ISTIO_REV}={rev} names no installed revision or tag (known: {}): its pods will not be injected",
                        known.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )
                .at_field(format!("metadata.labels.{ISTIO_REV}")),
            );
        }
    }
    Ok(out)
}

pub fn injector(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let istiods = istiods(snap)?;
    let mutating = snap.mutating_webhooks.get()?;
    if istiods.is_empty() {
        return Err("Istio is not installed".into());
    }
    let mut out = CheckOutput::default();
    let found = injectors(mutating);
    if found.is_empty() {
        out.findings.push(Finding::new(
            "AMI3205",
            ObjectRef::new("MutatingWebhookConfiguration", None, "istio-sidecar-injector"),
            "istiod runs but no MutatingWebhookConfiguration has a sidecar-injector.istio.io webhook: no pod will get a sidecar",
        ));
    }
    for config in found {
        out.details.push(format!(
            "{} (revision {})",
            config.name(),
            revision_of(config)
        ));
    }
    Ok(out)
}

pub fn crds(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let served = snap.served.get()?;
    let istiods = istiods(snap)?;
    if istiods.is_empty() && !istio_groups_present(snap) {
        return Err("Istio is not installed".into());
    }
    let mut out = CheckOutput::default();
    let mut ok = 0;
    for kind in &ISTIO_KINDS {
        let gv = kind.api_version();
        if served
            .get(&gv)
            .is_some_and(|kinds| kinds.contains(kind.kind))
        {
            ok += 1;
            continue;
        }
        out.findings.push(Finding::new(
            "AMI3206",
            ObjectRef::new("CustomResourceDefinition", None, kind.resource_name()),
            format!(
                "{gv} {} is not served: convert's {} objects cannot be applied",
                kind.kind, kind.kind
            ),
        ));
    }
    out.details
        .push(format!("{ok} of {} kinds served at v1", ISTIO_KINDS.len()));
    Ok(out)
}
