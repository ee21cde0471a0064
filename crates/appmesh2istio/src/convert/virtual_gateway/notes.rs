//! The findings that say what changes for clients of a VirtualGateway: the ingress gateway
//! serves it, ports it shares with other VirtualGateways, and its merged access log.

use std::collections::{BTreeMap, BTreeSet};

use crate::istio::{Metadata, Telemetry, TelemetrySpec, WorkloadSelector};
use crate::origin::ObjectRef;
use crate::resolve::VirtualGatewayEntry;

use super::ports::ListenerPort;
use super::{
    CODE_INGRESS_REPLACES_ENVOY, CODE_PORT_INSTALLED, CODE_PORT_TO_ADD, CODE_SHARED_ACCESS_LOG,
    CODE_SHARED_PORT,
};
use crate::convert::Context;

/// The info finding saying the ingress gateway serves the VirtualGateway, and which ports its
/// Service needs.
pub(super) fn note_ingress(
    ctx: &mut Context<'_>,
    vg: &VirtualGatewayEntry<'_>,
    subject: &ObjectRef,
    ports: &[ListenerPort],
) {
    let selector = ctx
        .opts
        .ingress_gateway_selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let deployments: Vec<String> = vg
        .workloads
        .iter()
        .filter_map(|i| ctx.resolved.workload(*i))
        .map(|w| {
            format!(
                "{} {}/{}",
                w.object.kind.as_str(),
                w.object.namespace,
                w.object.name
            )
        })
        .collect();
    let mapping: Vec<String> = ports
        .iter()
        .map(|p| {
            let (service, _) = p.ingress_port();
            let before = p
                .client
                .as_ref()
                .map(|c| format!(" (clients used {c})"))
                .unwrap_or_default();
            if service == p.server {
                format!(
                    "listener {}{before} on ingress Service port {service}",
                    p.listener
                )
            } else {
                format!(
                    "listener {}{before} on ingress Service port {service} (target port {})",
                    p.listener, p.server
                )
            }
        })
        .collect();
    ctx.note(
        CODE_INGRESS_REPLACES_ENVOY,
        subject,
        "spec.podSelector",
        format!(
            "served by the Istio ingress gateway (pods {selector} in namespace {}) instead of {}: {}",
            ctx.opts.ingress_gateway_namespace,
            if deployments.is_empty() { "the VirtualGateway's own Envoy".to_owned() } else { deployments.join(", ") },
            mapping.join(", ")
        ),
    );
    let missing: Vec<u32> = ports
        .iter()
        .map(ListenerPort::ingress_port)
        .filter(|(_, present)| !present)
        .map(|(port, _)| port)
        .collect();
    if missing.is_empty() {
        return;
    }
    let list = missing
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if ctx.opts.install {
        ctx.note(
            CODE_PORT_INSTALLED,
            subject,
            "spec.listeners",
            format!(
                "the generated IstioOperator adds port(s) {list} to the ingress gateway Service"
            ),
        );
    } else {
        ctx.note(
            CODE_PORT_TO_ADD,
            subject,
            "spec.listeners",
            format!(
                "the ingress gateway Service in namespace {} must expose port(s) {list}, which the default istio-ingressgateway Service does not",
                ctx.opts.ingress_gateway_namespace
            ),
        );
    }
}

pub(super) fn note_shared_ports(
    ctx: &mut Context<'_>,
    port_users: &BTreeMap<u32, Vec<(ObjectRef, String)>>,
) {
    for (port, users) in port_users {
        if users.len() < 2 {
            continue;
        }
        let shapes: BTreeSet<&str> = users.iter().map(|(_, shape)| shape.as_str()).collect();
        for (subject, _) in users {
            let others: Vec<String> = users
                .iter()
                .filter(|(o, _)| o != subject)
                .map(|(o, _)| o.to_string())
                .collect();
            let conflict = if shapes.len() > 1 {
                "; their protocols or TLS settings differ, which one port cannot serve"
            } else {
                ""
            };
            ctx.note(
                CODE_SHARED_PORT,
                subject,
                "spec.listeners",
                format!("port {port} is also a listener of {} on the same Istio ingress gateway{conflict}", others.join(", ")),
            );
        }
    }
}

/// One Telemetry for the ingress gateway pods, logging with every provider a VirtualGateway
/// asked for (a workload may be selected by one Telemetry only, IST0159).
pub(super) fn shared_access_log(ctx: &mut Context<'_>, logs: Vec<(ObjectRef, Vec<String>)>) {
    let mut providers: Vec<String> = Vec::new();
    for name in logs.iter().flat_map(|(_, p)| p) {
        if !providers.contains(name) {
            providers.push(name.clone());
        }
    }
    if providers.is_empty() {
        return;
    }
    let wanted: BTreeSet<&String> = providers.iter().collect();
    let namespace = ctx.opts.ingress_gateway_namespace.clone();
    let sources: Vec<&ObjectRef> = logs
        .iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(s, _)| s)
        .collect();
    for (subject, own) in &logs {
        if own.iter().collect::<BTreeSet<_>>() != wanted {
            ctx.note(
                CODE_SHARED_ACCESS_LOG,
                subject,
                "spec.logging",
                format!("the ingress gateway logs the traffic of every Gateway it serves with provider(s) {}", providers.join(", ")),
            );
        }
    }
    let spec = TelemetrySpec {
        selector: Some(WorkloadSelector::new(
            ctx.opts.ingress_gateway_selector.clone(),
        )),
        access_logging: vec![crate::istio::AccessLogging::to_providers(providers)],
        ..TelemetrySpec::default()
    };
    let Some((first, rest)) = sources.split_first() else {
        return;
    };
    let name = ctx.output.free_name(
        Telemetry::KIND,
        &namespace,
        "ingress-gateway-access-log",
        &first.to_string(),
    );
    let key = ctx
        .output
        .insert(Telemetry::new(Metadata::new(name, namespace), spec), first);
    for source in rest {
        ctx.output.add_source(&key, source);
    }
}
