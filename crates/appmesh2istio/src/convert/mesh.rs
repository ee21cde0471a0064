//! Meshes → mesh-wide Istio settings: the `meshConfig` of an `IstioOperator` with `--install`,
//! a report of the settings otherwise (istio-mapping.md §3, §7, §11; appmesh-crds.md §1).
//!
//! - `egressFilter`: ALLOW_ALL → `outboundTrafficPolicy.mode: ALLOW_ANY`; DROP_ALL, or no
//!   filter (the App Mesh API default is DROP_ALL) → REGISTRY_ONLY. Istio has one mesh-wide
//!   mode, so when Meshes disagree the stricter one wins; VirtualNodes keep their own Mesh's
//!   mode through their Sidecars.
//! - App Mesh's default retry policy becomes `defaultHttpRetryPolicy` when defaults are
//!   preserved, so traffic no converted route covers retries as App Mesh's Envoy did.
//! - Custom access-log providers of VirtualNodes and VirtualGateways are defined in
//!   `extensionProviders` (the Telemetry objects name them).
//! - The ingress gateway that serves the VirtualGateways exposes their listener ports.

use std::collections::BTreeMap;

use crate::appmesh::mesh::{EgressFilterType, IpPreference};
use crate::appmesh::{AppMeshKind, AppMeshObject};
use crate::istio::{
    Components, ExtensionProvider, GatewayComponent, IstioOperator, IstioOperatorSpec,
    KubernetesResources, MeshConfig, Metadata, OutboundTrafficMode, OutboundTrafficPolicy,
    ServiceSpec,
};
use crate::origin::ObjectRef;

use super::access_log::access_log_provider;
use super::{Context, ConvertOptions, defaults, virtual_gateway};

/// The mesh settings were reported, not installed.
pub(crate) const CODE_NOT_INSTALLED: &str = "AMI2401";
/// The mesh settings are in the generated IstioOperator.
pub(crate) const CODE_INSTALLED: &str = "AMI2402";
/// Meshes disagree on egress; the stricter mode was chosen.
pub(crate) const CODE_EGRESS_CONFLICT: &str = "AMI2403";
/// A mesh shared from another account.
pub(crate) const CODE_SHARED_MESH: &str = "AMI2404";
/// `meshServiceDiscovery.ipPreference` has no Istio setting.
pub(crate) const CODE_IP_PREFERENCE: &str = "AMI2405";

/// Name of the generated IstioOperator.
pub const OPERATOR_NAME: &str = "appmesh2istio";
/// The ingress gateway component of Istio's default profile.
const INGRESS_GATEWAY: &str = "istio-ingressgateway";

fn mode_name(mode: OutboundTrafficMode) -> &'static str {
    match mode {
        OutboundTrafficMode::RegistryOnly => "REGISTRY_ONLY",
        OutboundTrafficMode::AllowAny => "ALLOW_ANY",
    }
}

/// A Mesh's egress filter as Istio's outbound traffic mode, and how it was written.
fn outbound_mode(filter: Option<EgressFilterType>) -> (OutboundTrafficMode, &'static str) {
    match filter {
        Some(EgressFilterType::AllowAll) => {
            (OutboundTrafficMode::AllowAny, "egressFilter ALLOW_ALL")
        }
        Some(EgressFilterType::DropAll) => {
            (OutboundTrafficMode::RegistryOnly, "egressFilter DROP_ALL")
        }
        None => (
            OutboundTrafficMode::RegistryOnly,
            "no egressFilter (App Mesh's default is DROP_ALL)",
        ),
    }
}

/// The pod labels of Istio's default ingress gateway, which need no `label` override.
fn is_default_selector(opts: &ConvertOptions) -> bool {
    opts.ingress_gateway_selector == ConvertOptions::default().ingress_gateway_selector
}

/// Every custom access-log provider a VirtualNode or VirtualGateway uses, by name, with the
/// objects using it.
fn custom_providers(ctx: &Context<'_>) -> BTreeMap<String, (ExtensionProvider, Vec<ObjectRef>)> {
    let mut providers: BTreeMap<String, (ExtensionProvider, Vec<ObjectRef>)> = BTreeMap::new();
    for sourced in &ctx.inventory.appmesh {
        let logging = match &sourced.object {
            AppMeshObject::VirtualNode(n) => n.spec.logging.as_ref(),
            AppMeshObject::VirtualGateway(g) => g.spec.logging.as_ref(),
            _ => None,
        };
        let Some(file) = logging
            .and_then(|l| l.access_log.as_ref())
            .and_then(|a| a.file.as_ref())
        else {
            continue;
        };
        if let Some(custom) = access_log_provider(file).extension_provider() {
            let entry = providers
                .entry(custom.name.clone())
                .or_insert_with(|| (custom.clone(), Vec::new()));
            entry.1.push(sourced.object.object_ref());
        }
    }
    providers
}

/// Translate the Meshes (and, with `--install`, write the IstioOperator).
pub(crate) fn translate(ctx: &mut Context<'_>) {
    let resolved = ctx.resolved;
    let meshes: Vec<(ObjectRef, &crate::appmesh::Mesh)> = resolved
        .meshes
        .values()
        .map(|m| {
            (
                ObjectRef::new(
                    AppMeshKind::Mesh.as_str(),
                    None,
                    m.object.metadata.name.as_deref().unwrap_or_default(),
                ),
                m.object,
            )
        })
        .collect();

    // Istio's single mesh-wide mode: REGISTRY_ONLY as soon as one Mesh drops unknown egress.
    let modes: Vec<(OutboundTrafficMode, &str)> = meshes
        .iter()
        .map(|(_, m)| outbound_mode(m.spec.egress_filter.as_ref().map(|f| f.type_)))
        .collect();
    let chosen = if modes
        .iter()
        .any(|(m, _)| *m == OutboundTrafficMode::RegistryOnly)
    {
        Some(OutboundTrafficMode::RegistryOnly)
    } else {
        modes.first().map(|(m, _)| *m)
    };
    let strict_meshes: Vec<String> = meshes
        .iter()
        .zip(&modes)
        .filter(|(_, (m, _))| *m == OutboundTrafficMode::RegistryOnly)
        .map(|((r, _), _)| r.name.clone())
        .collect();

    for ((subject, mesh), (mode, how)) in meshes.iter().zip(&modes) {
        if Some(*mode) != chosen {
            ctx.note(
                CODE_EGRESS_CONFLICT,
                subject,
                "spec.egressFilter",
                format!(
                    "this Mesh allows all egress ({how}), but Istio's mesh-wide outboundTrafficPolicy is REGISTRY_ONLY because of Mesh(es) {}",
                    strict_meshes.join(", ")
                ),
            );
        }
        if let Some(owner) = &mesh.spec.mesh_owner {
            ctx.note(
                CODE_SHARED_MESH,
                subject,
                "spec.meshOwner",
                format!("the mesh is owned by AWS account {owner} and shared with this one; its resources outside this cluster stay in App Mesh"),
            );
        }
        if let Some(preference) = mesh
            .spec
            .mesh_service_discovery
            .as_ref()
            .and_then(|d| d.ip_preference)
        {
            let name = match preference {
                IpPreference::Ipv4Only => "IPv4_ONLY",
                IpPreference::Ipv6Only => "IPv6_ONLY",
            };
            ctx.note(
                CODE_IP_PREFERENCE,
                subject,
                "spec.meshServiceDiscovery.ipPreference",
                format!("ipPreference {name} has no Istio setting; Istio uses the IP families of the cluster's Services and pods"),
            );
        }
    }

    let providers = custom_providers(ctx);
    let tracing = super::tracing::settings(ctx);
    let extra_ports = virtual_gateway::ingress_ports_to_add(ctx);
    let retry = ctx.opts.preserve_defaults.then(defaults::retry_policy);
    // The outbound mode is stated per Mesh; these are the other mesh-wide settings.
    let mut settings: Vec<String> = Vec::new();
    if retry.is_none() {
        settings.push(
            "defaultHttpRetryPolicy left at Istio's default (--no-preserve-defaults)".to_owned(),
        );
    }
    if retry.is_some() {
        settings.push(format!(
            "defaultHttpRetryPolicy {} attempts on {} (App Mesh's default retry policy)",
            defaults::RETRY_ATTEMPTS,
            defaults::RETRY_ON.join(",")
        ));
    }
    if !providers.is_empty() {
        settings.push(format!(
            "extensionProviders {} (access logs)",
            providers.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(t) = &tracing {
        settings.push(format!("extensionProviders {} (tracing)", t.provider.name));
    }
    if !extra_ports.is_empty() {
        settings.push(format!(
            "ingress gateway Service port(s) {}",
            extra_ports
                .iter()
                .map(|p| p.port.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    let others = if settings.is_empty() {
        "none".to_owned()
    } else {
        settings.join("; ")
    };
    if !ctx.opts.install {
        for ((subject, _), (mode, how)) in meshes.iter().zip(&modes) {
            ctx.note(
                CODE_NOT_INSTALLED,
                subject,
                "spec",
                format!(
                    "{how}: meshConfig.outboundTrafficPolicy.mode {}; other mesh-wide settings: {others}; no IstioOperator is written without --install",
                    mode_name(chosen.unwrap_or(*mode))
                ),
            );
        }
        return;
    }

    let mesh_config = MeshConfig {
        outbound_traffic_policy: chosen.map(|mode| OutboundTrafficPolicy { mode }),
        enable_auto_mtls: Some(true),
        extension_providers: providers
            .values()
            .map(|(p, _)| p.clone())
            .chain(tracing.iter().map(|t| t.provider.clone()))
            .collect(),
        default_http_retry_policy: retry,
        ..MeshConfig::default()
    };
    let opts = ctx.opts;
    let ingress = GatewayComponent {
        name: INGRESS_GATEWAY.to_owned(),
        enabled: Some(true),
        namespace: (opts.ingress_gateway_namespace != opts.istio_namespace)
            .then(|| opts.ingress_gateway_namespace.clone()),
        label: if is_default_selector(opts) {
            BTreeMap::new()
        } else {
            opts.ingress_gateway_selector.clone()
        },
        k8s: (!extra_ports.is_empty()).then(|| KubernetesResources {
            service: Some(ServiceSpec {
                ports: virtual_gateway::default_ingress_ports()
                    .into_iter()
                    .chain(extra_ports.iter().cloned())
                    .collect(),
            }),
        }),
    };
    let spec = IstioOperatorSpec {
        profile: Some("default".to_owned()),
        revision: None,
        mesh_config: Some(mesh_config),
        components: Some(Components {
            ingress_gateways: vec![ingress],
        }),
    };
    // The operator carries what Meshes, VirtualGateways (ports) and logging objects
    // (providers) asked for; without any of them there is nothing to install.
    let mut sources: Vec<ObjectRef> = meshes.iter().map(|(r, _)| r.clone()).collect();
    if !extra_ports.is_empty() {
        sources.extend(
            resolved
                .virtual_gateways
                .keys()
                .map(|k| k.object_ref(AppMeshKind::VirtualGateway)),
        );
    }
    sources.extend(
        providers
            .values()
            .flat_map(|(_, users)| users.iter().cloned()),
    );
    sources.extend(tracing.and_then(|t| t.seen_on));
    sources.sort();
    sources.dedup();
    let Some((first, rest)) = sources.split_first() else {
        return;
    };
    let key = ctx.output.insert(
        IstioOperator::new(
            Metadata::new(OPERATOR_NAME, opts.istio_namespace.clone()),
            spec,
        ),
        first,
    );
    for source in rest {
        ctx.output.add_source(&key, source);
    }
    for ((subject, _), (mode, how)) in meshes.iter().zip(&modes) {
        ctx.note(
            CODE_INSTALLED,
            subject,
            "spec",
            format!(
                "{how}: IstioOperator {}/{OPERATOR_NAME} sets meshConfig.outboundTrafficPolicy.mode {}; other mesh-wide settings: {others}",
                opts.istio_namespace,
                mode_name(chosen.unwrap_or(*mode))
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_egress_filter_is_app_mesh_drop_all() {
        assert_eq!(outbound_mode(None).0, OutboundTrafficMode::RegistryOnly);
        assert_eq!(
            outbound_mode(Some(EgressFilterType::DropAll)).0,
            OutboundTrafficMode::RegistryOnly
        );
        assert_eq!(
            outbound_mode(Some(EgressFilterType::AllowAll)).0,
            OutboundTrafficMode::AllowAny
        );
    }

    #[test]
    fn default_selector_needs_no_label_override() {
        let mut opts = ConvertOptions::default();
        assert!(is_default_selector(&opts));
        opts.ingress_gateway_selector
            .insert("app".into(), "edge".into());
        assert!(!is_default_selector(&opts));
    }
}
