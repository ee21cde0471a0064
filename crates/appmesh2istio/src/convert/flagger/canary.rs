//! One Canary from App Mesh to Istio: the same Canary with `provider: istio`.
//!
//! Kept as written: targetRef, autoscalerRef, analysis (metrics, webhooks, alerts), match,
//! rewrite, headers and every other field Flagger's Istio router reads the same way.
//! Changed: `service.retries.retryOn` (App Mesh event names, which Flagger's App Mesh router
//! passed to the VirtualRouter, become Envoy's vocabulary with the routes' mapping), and for
//! the same behaviour `attempts` 0 becomes 1 (Flagger's App Mesh router used 1). Dropped,
//! each reported: `service.meshName`, `service.backends` (they become the egress hosts of
//! Sidecars for the primary and canary pods) and the access-log annotation.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::generated::CanaryNames;
use super::{
    ACCESS_LOG_ANNOTATION, CODE_ACCESS_LOG, CODE_BACKENDS, CODE_CONVERTED, CODE_DURATION,
    CODE_HOSTS, CODE_INVALID, CODE_MESH_NAME, CODE_OTHER_PROVIDER, CODE_PROVIDER_UNKNOWN,
    CODE_RETRY_ON, Drive, MeshProvider, drive, object_ref,
};
use crate::convert::Context;
use crate::convert::retries::app_mesh_retry_on;
use crate::istio::{
    Canary, CanarySpec, Duration, EgressListener, Metadata, Sidecar, SidecarSpec, WorkloadLabels,
};
use crate::k8s::WorkloadKind;
use crate::origin::ObjectRef;
use crate::resolve::NsName;

/// Annotations never carried onto generated objects (kubectl's copy of the old object).
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Flagger's default `-selector-labels`: the first of these on the target's selector names
/// the pods (`<label>: <value>` canary, `<label>: <value>-primary` primary).
const SELECTOR_LABELS: &[&str] = &["app", "name", "app.kubernetes.io/name"];

pub(super) fn convert_canary(ctx: &mut Context<'_>, value: &Value, mesh: Option<&MeshProvider>) {
    let subject = object_ref(value);
    let provider = value
        .pointer("/spec/provider")
        .and_then(Value::as_str)
        .unwrap_or("");
    match drive(value, mesh) {
        Drive::AppMesh => {}
        Drive::Other(p) => {
            ctx.note(
                CODE_OTHER_PROVIDER,
                &subject,
                "spec.provider",
                format!(
                    "Flagger drives this canary through {p}, not App Mesh: it is left as it is"
                ),
            );
            return;
        }
        Drive::Unknown => {
            ctx.note(
                CODE_PROVIDER_UNKNOWN,
                &subject,
                "spec.provider",
                "no spec.provider, and Flagger's own -mesh-provider is not in the input: if Flagger runs with \
                 -mesh-provider=appmesh, convert again with --flagger-mesh-provider appmesh (or include the \
                 Flagger Deployment); the Canary is left as it is",
            );
            return;
        }
    }
    let (spec, names) = match read_spec(value) {
        Ok(read) => read,
        Err((field, problem)) => {
            ctx.note(
                CODE_INVALID,
                &subject,
                &field,
                format!("{problem}; Flagger's CRD requires it, so the Canary is not converted"),
            );
            return;
        }
    };
    let mut spec = spec;
    let was = if provider.is_empty() {
        mesh.map_or_else(String::new, |m| {
            format!(
                "Flagger's -mesh-provider={}{}",
                m.provider,
                m.seen_on
                    .as_ref()
                    .map(|d| format!(" on {d}"))
                    .unwrap_or_default()
            )
        })
    } else {
        format!("provider {provider}")
    };
    spec.provider = "istio".to_owned();
    if let Some(service) = spec.service.as_mut() {
        if let Some(mesh_name) = service.other.remove("meshName") {
            ctx.note(
                CODE_MESH_NAME,
                &subject,
                "spec.service.meshName",
                format!(
                    "dropped: Istio has no mesh name (membership comes from sidecar injection); it was {mesh_name}"
                ),
            );
        }
        if let Some(hosts) = service.other.get("hosts").filter(|h| is_non_empty(h)) {
            ctx.note(
                CODE_HOSTS,
                &subject,
                "spec.service.hosts",
                format!(
                    "App Mesh exposed {hosts} through its gateway annotations; Flagger's Istio router adds these hosts \
                     to its VirtualService, which needs spec.service.gateways naming the Istio ingress Gateway to be \
                     reachable from outside"
                ),
            );
        }
        if let Some(timeout) = service.timeout.take() {
            service.timeout = duration(ctx, &subject, "spec.service.timeout", timeout);
        }
        if let Some(retries) = service.retries.as_mut() {
            if let Some(events) = retries.retry_on.take() {
                let (tokens, unknown) = app_mesh_retry_on(&events);
                let mut message = format!(
                    "App Mesh retry events {events:?} are Envoy's {:?} in Istio (the same mapping as routes)",
                    tokens.join(",")
                );
                if !unknown.is_empty() {
                    message.push_str(&format!(
                        "; {} not an App Mesh retry event and left out",
                        unknown.join(", ")
                    ));
                }
                if !tokens.is_empty() {
                    retries.retry_on = Some(tokens.join(","));
                }
                ctx.note(
                    CODE_RETRY_ON,
                    &subject,
                    "spec.service.retries.retryOn",
                    message,
                );
            }
            if let Some(per_try) = retries.per_try_timeout.take() {
                retries.per_try_timeout =
                    duration(ctx, &subject, "spec.service.retries.perTryTimeout", per_try);
            }
            // Flagger's App Mesh router retried once when attempts was not positive; Istio
            // refuses other retry settings next to `attempts: 0`.
            if retries.attempts.is_none_or(|a| a <= 0) {
                retries.attempts = Some(1);
            }
        }
    }
    let backends = spec
        .service
        .as_mut()
        .and_then(|s| s.other.remove("backends"));
    let metadata = metadata(ctx, &subject, value);
    ctx.output.insert(Canary::new(metadata, spec), &subject);
    ctx.note(
        CODE_CONVERTED,
        &subject,
        "spec.provider",
        format!(
            "{was} becomes provider istio: Flagger now generates the Istio VirtualService and DestinationRules \
             for {}; analysis, metrics and webhooks are kept as written",
            names.apex
        ),
    );
    if let Some(backends) = backends {
        backend_sidecars(ctx, &subject, &names, &backends);
    }
}

fn is_non_empty(value: &Value) -> bool {
    value.as_array().is_some_and(|a| !a.is_empty())
}

/// The spec as typed, after checking what Flagger's CRD requires of the input.
fn read_spec(value: &Value) -> Result<(CanarySpec, CanaryNames), (String, String)> {
    let spec = value
        .get("spec")
        .filter(|s| s.is_object())
        .ok_or_else(|| ("spec".to_owned(), "no spec".to_owned()))?;
    for key in ["apiVersion", "kind", "name"] {
        if spec
            .pointer(&format!("/targetRef/{key}"))
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err((
                format!("spec.targetRef.{key}"),
                "missing or not a string".to_owned(),
            ));
        }
    }
    if !spec.get("analysis").is_some_and(Value::is_object) {
        return Err(("spec.analysis".to_owned(), "missing".to_owned()));
    }
    if !spec
        .pointer("/service/port")
        .and_then(Value::as_u64)
        .is_some_and(|p| (1..=65535).contains(&p))
    {
        return Err((
            "spec.service.port".to_owned(),
            "missing or not a port number".to_owned(),
        ));
    }
    let typed: CanarySpec = serde_json::from_value(spec.clone())
        .map_err(|e| ("spec.service".to_owned(), format!("unreadable: {e}")))?;
    let names = CanaryNames::of(value)
        .ok_or_else(|| ("metadata".to_owned(), "no name or namespace".to_owned()))?;
    Ok((typed, names))
}

/// A Go duration Istio accepts (at least 1 ms), or `None` after reporting why it is dropped.
fn duration(
    ctx: &mut Context<'_>,
    subject: &ObjectRef,
    field: &str,
    text: String,
) -> Option<String> {
    match Duration::parse(&text) {
        Ok(d) if !d.is_zero() && d.as_millis() <= Duration::MAX_GO_MILLIS => Some(text),
        Ok(_) | Err(_) => {
            ctx.note(
                CODE_DURATION,
                subject,
                field,
                format!(
                    "{text:?} is not a duration Istio accepts (Go syntax, at least 1ms); it is left out, so Istio's \
                     default applies"
                ),
            );
            None
        }
    }
}

/// The Canary's labels and annotations, without App Mesh's access-log switch and kubectl's
/// bookkeeping.
fn metadata(ctx: &mut Context<'_>, subject: &ObjectRef, value: &Value) -> Metadata {
    let strings = |pointer: &str| -> BTreeMap<String, String> {
        value
            .pointer(pointer)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut annotations = strings("/metadata/annotations");
    annotations.remove(LAST_APPLIED);
    if let Some(access_log) = annotations.remove(ACCESS_LOG_ANNOTATION) {
        ctx.note(
            CODE_ACCESS_LOG,
            subject,
            &format!("metadata.annotations[{ACCESS_LOG_ANNOTATION}]"),
            format!(
                "dropped ({access_log:?}): only Flagger's App Mesh router reads it; with Istio, access logs are \
                 turned on by a Telemetry object (accessLogging with the envoy provider) for the workload or mesh"
            ),
        );
    }
    Metadata {
        name: subject.name.clone(),
        namespace: subject.namespace.clone(),
        labels: strings("/metadata/labels"),
        annotations,
    }
}

/// Sidecars giving the primary and canary pods the egress App Mesh's backends gave them.
fn backend_sidecars(
    ctx: &mut Context<'_>,
    subject: &ObjectRef,
    names: &CanaryNames,
    backends: &Value,
) {
    let field = "spec.service.backends";
    let ns = names.namespace.as_str();
    let mut hosts = BTreeSet::new();
    let mut arns = Vec::new();
    for backend in backends
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let name = if backend.starts_with("arn:") {
            match crate::convert::virtual_node::virtual_service_name_of_arn(backend) {
                Some(name) => {
                    arns.push(backend.to_owned());
                    name
                }
                None => continue,
            }
        } else {
            backend
        };
        let host = ctx
            .resolved
            .virtual_services
            .get(&NsName::new(ns, name))
            .map_or_else(|| ctx.qualify(name, ns), |vs| ctx.qualify(vs.host(), ns));
        hosts.insert(format!("*/{host}"));
    }
    if hosts.is_empty() {
        ctx.note(
            CODE_BACKENDS,
            subject,
            field,
            "dropped: Flagger's Istio router has no backends, and none of these name an App Mesh VirtualService",
        );
        return;
    }
    hosts.insert("istio-system/*".to_owned());
    let (label, value) = pod_label(ctx, names);
    let sidecars = [
        (
            format!("{}-primary", names.apex),
            format!("{value}-primary"),
        ),
        (format!("{}-canary", names.apex), value),
    ];
    let mut made = Vec::new();
    for (name, selected) in sidecars {
        let spec = SidecarSpec {
            workload_selector: Some(WorkloadLabels::new(BTreeMap::from([(
                label.clone(),
                selected.clone(),
            )]))),
            egress: vec![EgressListener {
                port: None,
                hosts: hosts.iter().cloned().collect(),
            }],
            ..SidecarSpec::default()
        };
        let key = ctx
            .output
            .insert(Sidecar::new(Metadata::new(name, ns), spec), subject);
        made.push(format!("Sidecar {}/{} ({label}: {selected})", key.1, key.2));
    }
    let mut message = format!(
        "dropped: Flagger's Istio router has no backends; the pods' egress is {} in {}",
        hosts.iter().cloned().collect::<Vec<_>>().join(", "),
        made.join(" and ")
    );
    if !arns.is_empty() {
        message.push_str(&format!(
            "; the ARN backends {} are taken as VirtualServices of namespace {ns}",
            arns.join(", ")
        ));
    }
    ctx.note(CODE_BACKENDS, subject, field, message);
}

/// The label Flagger selects the target's pods by, and its value on the canary pods.
fn pod_label(ctx: &Context<'_>, names: &CanaryNames) -> (String, String) {
    let target = ctx.inventory.workloads.iter().find(|w| {
        w.object.kind == WorkloadKind::Deployment
            && w.object.namespace == names.namespace
            && w.object.name == names.target
    });
    let labels = target.and_then(|w| {
        w.object
            .selector
            .as_ref()
            .and_then(|s| s.match_labels.clone())
    });
    SELECTOR_LABELS
        .iter()
        .find_map(|key| {
            labels
                .as_ref()
                .and_then(|l| l.get(*key))
                .map(|v| ((*key).to_owned(), v.clone()))
        })
        .unwrap_or_else(|| ("app".to_owned(), names.target.clone()))
}
