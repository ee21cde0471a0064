//! Flagger canaries driven through App Mesh (`provider: appmesh`, `appmesh:v1beta2`, or no
//! provider while Flagger runs with `-mesh-provider=appmesh`) move to Istio with the mesh.
//!
//! - Each such Canary is written back with `provider: istio` ([`canary`]): Flagger then
//!   generates the Istio VirtualService and DestinationRules itself.
//! - The App Mesh objects Flagger generated for it (VirtualNodes `<apex>-primary` and
//!   `<apex>-canary`, VirtualRouters and VirtualServices `<apex>` and `<apex>-canary`) are
//!   not converted as ordinary objects ([`generated`]): Flagger would fight our copies.
//! - MetricTemplates querying App Mesh's Envoy metrics are reported with the Istio metric to
//!   use ([`metric_templates`]), and so is the load tester's VirtualNode.
//!
//! Flagger's facts (object names, labels, the access-log annotation, the retry mapping) are
//! from its App Mesh v1beta2 router, `pkg/router/appmesh_v1beta2.go` in fluxcd/flagger.

mod canary;
pub(crate) mod generated;
mod metric_templates;

use std::collections::BTreeMap;

use serde_json::Value;

use super::Context;
use crate::k8s::WorkloadKind;
use crate::load::{Inventory, Sourced};
use crate::origin::ObjectRef;

/// Flagger's API group.
pub const GROUP: &str = "flagger.app";

/// A Canary written back with `provider: istio`.
pub(crate) const CODE_CONVERTED: &str = "AMI2700";
/// `service.meshName` dropped.
pub(crate) const CODE_MESH_NAME: &str = "AMI2701";
/// `service.backends` became Sidecar egress hosts.
pub(crate) const CODE_BACKENDS: &str = "AMI2702";
/// The App Mesh access-log annotation dropped.
pub(crate) const CODE_ACCESS_LOG: &str = "AMI2703";
/// `service.retries.retryOn` translated (or partly dropped).
pub(crate) const CODE_RETRY_ON: &str = "AMI2704";
/// An App Mesh object Flagger generated: not converted, Flagger makes the Istio side.
pub(crate) const CODE_MANAGED: &str = "AMI2705";
/// A MetricTemplate querying App Mesh's Envoy metrics.
pub(crate) const CODE_METRIC_TEMPLATE: &str = "AMI2706";
/// A Canary whose provider cannot be told (no `spec.provider`, Flagger's default unknown).
pub(crate) const CODE_PROVIDER_UNKNOWN: &str = "AMI2707";
/// A Canary that cannot be converted (what Flagger needs is missing or malformed).
pub(crate) const CODE_INVALID: &str = "AMI2708";
/// The Flagger load tester's App Mesh settings.
pub(crate) const CODE_LOAD_TESTER: &str = "AMI2709";
/// A Canary of another provider, left alone.
pub(crate) const CODE_OTHER_PROVIDER: &str = "AMI2710";
/// A duration of the Canary Istio cannot take, dropped.
pub(crate) const CODE_DURATION: &str = "AMI2711";
/// `service.hosts`: App Mesh gateway exposure that Istio needs a Gateway for.
pub(crate) const CODE_HOSTS: &str = "AMI2712";

/// Annotation of Flagger's App Mesh router turning Envoy access logs on.
pub(crate) const ACCESS_LOG_ANNOTATION: &str = "appmesh.flagger.app/accesslog";

/// Which mesh Flagger itself drives (its `-mesh-provider` flag), and where that was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MeshProvider {
    pub provider: String,
    /// The Flagger Deployment, or `None` for convert's `--flagger-mesh-provider`.
    pub seen_on: Option<ObjectRef>,
}

/// Flagger's `-mesh-provider`: from the option when given, else from a Flagger Deployment
/// of the input (a container whose arguments set `-mesh-provider`/`--mesh-provider`).
pub(crate) fn mesh_provider(inventory: &Inventory, option: Option<&str>) -> Option<MeshProvider> {
    if let Some(provider) = option {
        return Some(MeshProvider {
            provider: provider.to_owned(),
            seen_on: None,
        });
    }
    inventory
        .workloads
        .iter()
        .filter(|w| w.object.kind == WorkloadKind::Deployment)
        .find_map(|w| {
            w.object.containers.iter().find_map(|c| {
                flag_value(&c.args, "mesh-provider").map(|provider| MeshProvider {
                    provider,
                    seen_on: Some(w.object.object_ref()),
                })
            })
        })
}

/// The value of a Go `flag` argument (`-name=v`, `--name=v`, or `-name v`).
pub(crate) fn flag_value(args: &[String], name: &str) -> Option<String> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let Some(rest) = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .and_then(|a| a.strip_prefix(name))
        else {
            continue;
        };
        if let Some(value) = rest.strip_prefix('=') {
            return Some(value.to_owned());
        }
        if rest.is_empty() {
            return args.next().cloned();
        }
    }
    None
}

/// Whether a Flagger provider name is App Mesh's.
pub(crate) fn is_app_mesh(provider: &str) -> bool {
    provider == "appmesh" || provider.starts_with("appmesh:")
}

/// A Canary or MetricTemplate of the input, by kind.
pub(crate) fn of_kind<'a>(
    inventory: &'a Inventory,
    kind: &'a str,
) -> impl Iterator<Item = &'a Sourced<Value>> + 'a {
    inventory
        .flagger
        .iter()
        .filter(move |s| s.object.get("kind").and_then(Value::as_str) == Some(kind))
}

/// `Kind namespace/name` of a Flagger object.
pub(crate) fn object_ref(value: &Value) -> ObjectRef {
    let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str);
    ObjectRef::new(
        text("/kind").unwrap_or("Canary").to_owned(),
        text("/metadata/namespace"),
        text("/metadata/name").unwrap_or(""),
    )
}

/// How a Canary is driven, as far as convert is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Drive {
    /// Through App Mesh: converted.
    AppMesh,
    /// No `spec.provider` and Flagger's own provider is unknown.
    Unknown,
    /// Through another provider (named).
    Other(String),
}

pub(crate) fn drive(canary: &Value, mesh: Option<&MeshProvider>) -> Drive {
    match canary.pointer("/spec/provider").and_then(Value::as_str) {
        Some(p) if !p.is_empty() => {
            if is_app_mesh(p) {
                Drive::AppMesh
            } else {
                Drive::Other(p.to_owned())
            }
        }
        _ => match mesh {
            Some(m) if is_app_mesh(&m.provider) => Drive::AppMesh,
            Some(m) => Drive::Other(m.provider.clone()),
            None => Drive::Unknown,
        },
    }
}

/// The App Mesh objects Flagger generated, each with the Canary it belongs to.
pub(crate) fn managed_objects(
    inventory: &Inventory,
    mesh_provider_option: Option<&str>,
) -> BTreeMap<ObjectRef, ObjectRef> {
    let mesh = mesh_provider(inventory, mesh_provider_option);
    let canaries: Vec<&Value> = of_kind(inventory, "Canary")
        .map(|s| &s.object)
        .filter(|c| drive(c, mesh.as_ref()) == Drive::AppMesh)
        .collect();
    generated::managed_objects(inventory, &canaries)
}

/// Convert the input's Canaries and report its MetricTemplates and load tester.
pub(crate) fn translate(ctx: &mut Context<'_>) {
    let inventory = ctx.inventory;
    let mesh = mesh_provider(inventory, ctx.opts.flagger_mesh_provider.as_deref());
    for sourced in &inventory.flagger {
        ctx.report
            .source(&object_ref(&sourced.object), Some(&sourced.origin));
    }
    for sourced in of_kind(inventory, "Canary") {
        canary::convert_canary(ctx, &sourced.object, mesh.as_ref());
    }
    for sourced in of_kind(inventory, "MetricTemplate") {
        metric_templates::report(ctx, &sourced.object);
    }
    for (object, canary) in ctx.flagger_managed.clone() {
        ctx.note(
            CODE_MANAGED,
            &object,
            "",
            format!(
                "managed by Flagger {canary}: not converted as an ordinary object; once the Canary's provider is \
                 istio, Flagger generates the Istio VirtualService and DestinationRules for it, and this object can \
                 be deleted with the rest of App Mesh"
            ),
        );
    }
    generated::report_load_tester(ctx);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn mesh_provider_flag_in_every_go_spelling() {
        for form in [
            args(&["-log-level=info", "-mesh-provider=appmesh"]),
            args(&["--mesh-provider=appmesh"]),
            args(&["./flagger", "-mesh-provider", "appmesh"]),
        ] {
            assert_eq!(
                flag_value(&form, "mesh-provider").as_deref(),
                Some("appmesh")
            );
        }
        assert_eq!(
            flag_value(&args(&["-mesh-providers=x"]), "mesh-provider"),
            None
        );
        assert_eq!(
            flag_value(&args(&["-metrics-server=x"]), "mesh-provider"),
            None
        );
    }

    #[test]
    fn drive_reads_the_provider_then_flaggers_default() {
        let with = |p: &str| serde_json::json!({"spec": {"provider": p}});
        assert_eq!(drive(&with("appmesh"), None), Drive::AppMesh);
        assert_eq!(drive(&with("appmesh:v1beta2"), None), Drive::AppMesh);
        assert_eq!(drive(&with("istio"), None), Drive::Other("istio".into()));
        let none = serde_json::json!({"spec": {}});
        assert_eq!(drive(&none, None), Drive::Unknown);
        let appmesh = MeshProvider {
            provider: "appmesh:v1beta2".into(),
            seen_on: None,
        };
        assert_eq!(drive(&none, Some(&appmesh)), Drive::AppMesh);
    }
}
