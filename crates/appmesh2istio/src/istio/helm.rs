//! Helm values for Istio's charts, carrying what an [`IstioOperator`] carries: the same
//! `meshConfig` (istiod chart), the revision, and each ingress gateway component as a release
//! of the `gateway` chart with its labels and Service ports.
//!
//! The sidecar data plane needs `base`, `istiod` and `gateway`; the ambient one also `cni` and
//! `ztunnel`, and `profile: ambient` for istiod, cni and ztunnel (the charts merge their
//! `files/profile-ambient.yaml` under the values given). The default profile is the charts'
//! own defaults: it is not written, because the charts ship no `profile-default.yaml` and fail
//! on a profile they do not know.
//!
//! Keys were checked against the values.yaml and templates of Istio 1.30.3's charts
//! (`manifests/charts/{base,istio-control/istio-discovery,gateway,istio-cni,ztunnel}`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{IstioOperator, KubernetesServicePort, MeshConfig, default_ingress_service_ports};

/// Where Istio's Helm charts are published, for `helm install --repo`.
///
/// Istio stopped publishing to `https://istio-release.storage.googleapis.com/charts` and
/// `gcr.io/istio-release` with 1.31 (moving off Google Cloud; the old locations are removed in
/// December 2026), and publishes the charts of every version, 1.30 included, here (the OCI
/// copies are at `oci://ghcr.io/istio/release/charts`). Sources: Istio's blog post "ACTION
/// REQUIRED FOR GOOGLE CONTAINER REGISTRY USERS, scream tests, and our move to AWS"
/// (2026-08-21) and the 1.31 upgrade notes. The commands pass it with `--repo` on every
/// `helm install` rather than `helm repo add istio`, so a local repository already named
/// `istio` that still points at the old location is not used.
pub const ISTIO_HELM_REPOSITORY: &str = "https://blob.istio.io/istio-release/charts";

/// The chart versions the commands ask for: the Istio minor version appmesh2istio generates
/// and validates configuration for (a Helm version constraint: any 1.30 patch release).
pub const ISTIO_CHART_VERSION: &str = "1.30.x";

/// The registry Istio's images are pulled from (`global.hub` of istiod and cni, `hub` of
/// ztunnel; gateway pods get their image from istiod's injector). Docker Hub is where Istio
/// keeps publishing; `gcr.io/istio-release` and `registry.istio.io` are retired.
pub const ISTIO_IMAGE_HUB: &str = "docker.io/istio";

/// The data plane the installation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dataplane {
    /// Sidecar injection (istioctl's `default` profile): base, istiod, gateway.
    #[default]
    Sidecar,
    /// Ambient mode: also the CNI node agent and ztunnel, with `profile: ambient`.
    Ambient,
}

impl Dataplane {
    fn profile(self) -> Option<&'static str> {
        match self {
            Dataplane::Sidecar => None,
            Dataplane::Ambient => Some("ambient"),
        }
    }
}

/// One `helm install`: a release of one of Istio's charts with its values.
#[derive(Debug, Clone, PartialEq)]
pub struct HelmRelease {
    /// The release name (`istio-base`, `istiod`, the gateway's name, ...).
    pub name: String,
    /// The chart in [`ISTIO_HELM_REPOSITORY`].
    pub chart: &'static str,
    pub namespace: String,
    pub values: ChartValues,
}

impl HelmRelease {
    /// The file its values are written to: `<release>.values.yaml`.
    pub fn values_file(&self) -> String {
        format!("{}.values.yaml", self.name)
    }

    /// The `helm install` command line, reading the values from `values_path` (shell-quoted
    /// here); `create_namespace` for the first release of a namespace.
    pub fn command(&self, values_path: &str, create_namespace: bool) -> String {
        format!(
            "helm install {} {} --repo {ISTIO_HELM_REPOSITORY} --version {ISTIO_CHART_VERSION} -n {}{} -f {} --wait",
            self.name,
            self.chart,
            self.namespace,
            if create_namespace {
                " --create-namespace"
            } else {
                ""
            },
            shell_quote(values_path)
        )
    }
}

/// The values of one chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ChartValues {
    Base(BaseValues),
    Istiod(IstiodValues),
    Cni(CniValues),
    Ztunnel(ZtunnelValues),
    Gateway(GatewayValues),
}

/// `base` chart: the CRDs and the default validation webhook.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BaseValues {
    /// The revision the default validation webhook points at.
    pub default_revision: String,
    pub global: NamespaceGlobal,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceGlobal {
    /// Where istiod runs.
    pub istio_namespace: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageGlobal {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub istio_namespace: Option<String>,
    pub hub: String,
}

/// `istiod` chart: the control plane, the injector and the mesh config.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IstiodValues {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub global: ImageGlobal,
    /// The IstioOperator's `spec.meshConfig`, unchanged (the chart merges it over its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh_config: Option<MeshConfig>,
}

/// `cni` chart (ambient): the node agent that redirects pod traffic to ztunnel.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CniValues {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub global: ImageGlobal,
}

/// `ztunnel` chart (ambient): the per-node proxy. Its image settings are top-level keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZtunnelValues {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub hub: String,
    pub istio_namespace: String,
}

/// `gateway` chart: one ingress gateway Deployment and its Service.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayValues {
    /// The Deployment and Service name (also what the chart derives the `app` and `istio`
    /// pod labels from: `istio-ingressgateway` gives `istio=ingressgateway`).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Extra pod labels (a Gateway's `selector` matches these).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub service: GatewayService,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayService {
    pub ports: Vec<KubernetesServicePort>,
}

/// The releases that install what `iop` describes, in install order: base (CRDs), istiod
/// (it must run before gateway pods can be injected), cni and ztunnel for ambient, then one
/// gateway per enabled ingress gateway component.
pub fn helm_releases(iop: &IstioOperator, dataplane: Dataplane) -> Vec<HelmRelease> {
    let namespace = iop
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "istio-system".to_owned());
    let revision = iop.spec.revision.clone();
    let profile = dataplane.profile();
    let image_global = |istio_namespace: Option<String>| ImageGlobal {
        istio_namespace,
        hub: ISTIO_IMAGE_HUB.to_owned(),
    };
    let release = |name: String, chart, values| HelmRelease {
        name,
        chart,
        namespace: namespace.clone(),
        values,
    };
    let mut releases = vec![
        release(
            "istio-base".to_owned(),
            "base",
            ChartValues::Base(BaseValues {
                default_revision: revision.clone().unwrap_or_else(|| "default".to_owned()),
                global: NamespaceGlobal {
                    istio_namespace: namespace.clone(),
                },
            }),
        ),
        release(
            // Istio's convention for a revisioned control plane: one istiod release each.
            revision
                .as_ref()
                .map_or_else(|| "istiod".to_owned(), |r| format!("istiod-{r}")),
            "istiod",
            ChartValues::Istiod(IstiodValues {
                profile,
                revision: revision.clone(),
                global: image_global(Some(namespace.clone())),
                mesh_config: iop.spec.mesh_config.clone(),
            }),
        ),
    ];
    if dataplane == Dataplane::Ambient {
        releases.push(release(
            "istio-cni".to_owned(),
            "cni",
            ChartValues::Cni(CniValues {
                profile,
                revision: revision.clone(),
                global: image_global(None),
            }),
        ));
        releases.push(release(
            "ztunnel".to_owned(),
            "ztunnel",
            ChartValues::Ztunnel(ZtunnelValues {
                profile,
                revision: revision.clone(),
                hub: ISTIO_IMAGE_HUB.to_owned(),
                istio_namespace: namespace.clone(),
            }),
        ));
    }
    let gateways = iop
        .spec
        .components
        .iter()
        .flat_map(|c| &c.ingress_gateways)
        .filter(|g| g.enabled != Some(false));
    for gateway in gateways {
        // The converted Gateways assume the ports of istioctl's ingress gateway (80 → 8080,
        // 443 → 8443), which the gateway chart's defaults (80 → 80, 443 → 443) are not: a
        // Gateway server on 8080 would match no Service port. So the ports are always listed.
        let ports = gateway
            .k8s
            .as_ref()
            .and_then(|k| k.service.as_ref())
            .map(|s| s.ports.clone())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(default_ingress_service_ports);
        releases.push(HelmRelease {
            name: gateway.name.clone(),
            chart: "gateway",
            namespace: gateway
                .namespace
                .clone()
                .unwrap_or_else(|| namespace.clone()),
            values: ChartValues::Gateway(GatewayValues {
                name: gateway.name.clone(),
                revision: revision.clone(),
                labels: gateway.label.clone(),
                service: GatewayService { ports },
            }),
        });
    }
    releases
}

/// The `helm install` commands for `releases`, in order, reading each values file from
/// `dir` (as the user gave it); `--create-namespace` on the first release of each namespace.
pub fn helm_commands(releases: &[HelmRelease], dir: &std::path::Path) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    releases
        .iter()
        .map(|r| {
            let path = dir.join(r.values_file());
            r.command(
                &path.display().to_string(),
                seen.insert(r.namespace.as_str()),
            )
        })
        .collect()
}

/// `text` as one shell word: unchanged when it holds only characters no shell treats
/// specially, else in single quotes.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::istio::{
        Components, GatewayComponent, IstioOperatorSpec, KubernetesResources, Metadata,
        OutboundTrafficMode, OutboundTrafficPolicy, ServiceSpec,
    };
    use serde_json::{Value, json};

    fn operator(components: Components) -> IstioOperator {
        IstioOperator::new(
            Metadata::new("appmesh2istio", "istio-system"),
            IstioOperatorSpec {
                profile: Some("default".into()),
                mesh_config: Some(MeshConfig {
                    outbound_traffic_policy: Some(OutboundTrafficPolicy {
                        mode: OutboundTrafficMode::RegistryOnly,
                    }),
                    enable_auto_mtls: Some(true),
                    ..MeshConfig::default()
                }),
                components: Some(components),
                ..IstioOperatorSpec::default()
            },
        )
    }

    fn ingress(label: &[(&str, &str)], ports: Option<Vec<KubernetesServicePort>>) -> Components {
        Components {
            ingress_gateways: vec![GatewayComponent {
                name: "istio-ingressgateway".into(),
                enabled: Some(true),
                label: label
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                k8s: ports.map(|ports| KubernetesResources {
                    service: Some(ServiceSpec { ports }),
                }),
                ..GatewayComponent::default()
            }],
        }
    }

    /// A release's values as written, parsed back as YAML.
    fn parsed(release: &HelmRelease) -> Value {
        let text = serde_saphyr::to_string(&release.values).unwrap();
        serde_saphyr::from_str(&text).unwrap()
    }

    #[test]
    fn sidecar_install_is_base_istiod_and_the_gateway_with_the_operators_mesh_config() {
        let iop = operator(ingress(&[], None));
        let releases = helm_releases(&iop, Dataplane::Sidecar);
        let names: Vec<(&str, &str, &str)> = releases
            .iter()
            .map(|r| (r.name.as_str(), r.chart, r.namespace.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("istio-base", "base", "istio-system"),
                ("istiod", "istiod", "istio-system"),
                ("istio-ingressgateway", "gateway", "istio-system")
            ]
        );
        assert_eq!(
            parsed(&releases[0]),
            json!({"defaultRevision": "default", "global": {"istioNamespace": "istio-system"}})
        );
        let istiod = parsed(&releases[1]);
        assert_eq!(
            istiod["global"],
            json!({"istioNamespace": "istio-system", "hub": "docker.io/istio"})
        );
        assert!(istiod.get("profile").is_none(), "{istiod}");
        let mesh: MeshConfig = serde_json::from_value(istiod["meshConfig"].clone()).unwrap();
        assert_eq!(Some(mesh), iop.spec.mesh_config);
        assert_eq!(
            istiod["meshConfig"]["outboundTrafficPolicy"]["mode"],
            "REGISTRY_ONLY"
        );
        // The gateway keeps istioctl's ports, which the converted Gateways assume.
        let gateway = parsed(&releases[2]);
        assert_eq!(gateway["name"], "istio-ingressgateway");
        assert!(gateway.get("labels").is_none(), "{gateway}");
        assert_eq!(
            gateway["service"]["ports"],
            json!([
                {"name": "status-port", "port": 15021, "targetPort": 15021, "protocol": "TCP"},
                {"name": "http2", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}
            ])
        );
    }

    #[test]
    fn ambient_adds_cni_and_ztunnel_with_the_ambient_profile() {
        let iop = operator(ingress(&[], None));
        let releases = helm_releases(&iop, Dataplane::Ambient);
        let charts: Vec<&str> = releases.iter().map(|r| r.chart).collect();
        assert_eq!(charts, ["base", "istiod", "cni", "ztunnel", "gateway"]);
        for release in &releases[1..4] {
            assert_eq!(parsed(release)["profile"], "ambient", "{}", release.name);
        }
        assert!(parsed(&releases[0]).get("profile").is_none());
        assert_eq!(
            parsed(&releases[2])["global"],
            json!({"hub": "docker.io/istio"})
        );
        let ztunnel = parsed(&releases[3]);
        assert_eq!(ztunnel["hub"], "docker.io/istio");
        assert_eq!(ztunnel["istioNamespace"], "istio-system");
        // The mesh config is the same whatever the data plane.
        let mesh: MeshConfig =
            serde_json::from_value(parsed(&releases[1])["meshConfig"].clone()).unwrap();
        assert_eq!(Some(mesh), iop.spec.mesh_config);
    }

    #[test]
    fn gateway_labels_ports_namespace_and_revision_carry_over() {
        let extra = KubernetesServicePort {
            name: "http-8088".into(),
            port: 8088,
            target_port: Some(8088),
            protocol: Some("TCP".into()),
        };
        let mut ports = default_ingress_service_ports();
        ports.push(extra);
        let mut iop = operator(ingress(&[("app", "edge")], Some(ports)));
        iop.spec.revision = Some("canary".into());
        if let Some(c) = iop.spec.components.as_mut() {
            c.ingress_gateways[0].namespace = Some("istio-ingress".into());
            c.ingress_gateways.push(GatewayComponent {
                name: "disabled-gateway".into(),
                enabled: Some(false),
                ..GatewayComponent::default()
            });
        }
        let releases = helm_releases(&iop, Dataplane::Sidecar);
        assert_eq!(releases.len(), 3, "the disabled gateway is not installed");
        assert_eq!(releases[1].name, "istiod-canary");
        assert_eq!(parsed(&releases[0])["defaultRevision"], "canary");
        assert_eq!(parsed(&releases[1])["revision"], "canary");
        let gateway = &releases[2];
        assert_eq!(gateway.namespace, "istio-ingress");
        let values = parsed(gateway);
        assert_eq!(values["labels"], json!({"app": "edge"}));
        assert_eq!(values["revision"], "canary");
        assert_eq!(values["service"]["ports"][3]["port"], 8088);
        assert_eq!(values["service"]["ports"].as_array().unwrap().len(), 4);

        let commands = helm_commands(&releases, std::path::Path::new("my install"));
        assert_eq!(
            commands,
            [
                format!(
                    "helm install istio-base base --repo {ISTIO_HELM_REPOSITORY} --version 1.30.x -n istio-system --create-namespace -f 'my install/istio-base.values.yaml' --wait"
                ),
                format!(
                    "helm install istiod-canary istiod --repo {ISTIO_HELM_REPOSITORY} --version 1.30.x -n istio-system -f 'my install/istiod-canary.values.yaml' --wait"
                ),
                format!(
                    "helm install istio-ingressgateway gateway --repo {ISTIO_HELM_REPOSITORY} --version 1.30.x -n istio-ingress --create-namespace -f 'my install/istio-ingressgateway.values.yaml' --wait"
                ),
            ]
        );
    }

    #[test]
    fn the_chart_location_is_not_one_istio_stopped_publishing_to() {
        for retired in ["storage.googleapis.com", "gcr.io", "registry.istio.io"] {
            assert!(!ISTIO_HELM_REPOSITORY.contains(retired));
            assert!(!ISTIO_IMAGE_HUB.contains(retired));
        }
        assert!(ISTIO_HELM_REPOSITORY.starts_with("https://"));
    }

    #[test]
    fn shell_quoting_leaves_plain_paths_alone() {
        assert_eq!(shell_quote("istio-install/a.yaml"), "istio-install/a.yaml");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote(""), "''");
    }
}
