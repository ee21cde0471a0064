//! The kinds this tool reads and writes, known statically: listing them needs no discovery
//! round-trips (and API server 1.20 has no aggregated discovery anyway).

use kube::core::ApiResource;

/// A kind: its resource and whether it is namespaced. `group` is empty for the core group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
}

impl KindInfo {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `virtualnodes.appmesh.k8s.aws`, `deployments.apps`, `pods`: as RBAC rules, CRD names and
    /// kubectl spell the resource.
    pub fn resource_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The collection path: `/api/v1/pods`, `/apis/apps/v1/namespaces/shop/deployments`.
    /// Cluster-scoped kinds ignore `namespace`.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let root = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{root}/namespaces/{ns}/{}", self.plural),
            _ => format!("{root}/{}", self.plural),
        }
    }

    pub fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.to_owned(),
            version: self.version.to_owned(),
            api_version: self.api_version(),
            kind: self.kind.to_owned(),
            plural: self.plural.to_owned(),
        }
    }
}

const fn core(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> KindInfo {
    KindInfo {
        group,
        version,
        kind,
        plural,
        namespaced,
    }
}

pub const NAMESPACES: KindInfo = core("", "v1", "Namespace", "namespaces", false);
pub const PODS: KindInfo = core("", "v1", "Pod", "pods", true);
pub const SERVICES: KindInfo = core("", "v1", "Service", "services", true);
/// Flagger's kinds convert reads next to the mesh (canaries driven through App Mesh).
pub const FLAGGER_KINDS: [KindInfo; 2] = [
    core("flagger.app", "v1beta1", "Canary", "canaries", true),
    core(
        "flagger.app",
        "v1beta1",
        "MetricTemplate",
        "metrictemplates",
        true,
    ),
];
/// Argo Rollouts' Rollout, read next to the mesh (canaries split by App Mesh).
pub const ROLLOUTS: KindInfo = core("argoproj.io", "v1alpha1", "Rollout", "rollouts", true);
pub const DEPLOYMENTS: KindInfo = core("apps", "v1", "Deployment", "deployments", true);
pub const STATEFULSETS: KindInfo = core("apps", "v1", "StatefulSet", "statefulsets", true);
pub const DAEMONSETS: KindInfo = core("apps", "v1", "DaemonSet", "daemonsets", true);
pub const MUTATING_WEBHOOKS: KindInfo = core(
    "admissionregistration.k8s.io",
    "v1",
    "MutatingWebhookConfiguration",
    "mutatingwebhookconfigurations",
    false,
);
pub const VALIDATING_WEBHOOKS: KindInfo = core(
    "admissionregistration.k8s.io",
    "v1",
    "ValidatingWebhookConfiguration",
    "validatingwebhookconfigurations",
    false,
);

pub const SERVICE_ACCOUNTS: KindInfo = core("", "v1", "ServiceAccount", "serviceaccounts", true);
pub const ROLES: KindInfo = core("rbac.authorization.k8s.io", "v1", "Role", "roles", true);
pub const ROLE_BINDINGS: KindInfo = core(
    "rbac.authorization.k8s.io",
    "v1",
    "RoleBinding",
    "rolebindings",
    true,
);
pub const CLUSTER_ROLES: KindInfo = core(
    "rbac.authorization.k8s.io",
    "v1",
    "ClusterRole",
    "clusterroles",
    false,
);
pub const CLUSTER_ROLE_BINDINGS: KindInfo = core(
    "rbac.authorization.k8s.io",
    "v1",
    "ClusterRoleBinding",
    "clusterrolebindings",
    false,
);
pub const CRDS: KindInfo = core(
    "apiextensions.k8s.io",
    "v1",
    "CustomResourceDefinition",
    "customresourcedefinitions",
    false,
);

pub const APPMESH_GROUP: &str = "appmesh.k8s.aws";
pub const APPMESH_VERSION: &str = "v1beta2";

const fn appmesh(kind: &'static str, plural: &'static str, namespaced: bool) -> KindInfo {
    KindInfo {
        group: APPMESH_GROUP,
        version: APPMESH_VERSION,
        kind,
        plural,
        namespaced,
    }
}

/// The seven App Mesh kinds (`appmesh.k8s.aws/v1beta2`), in deletion order reversed (Mesh first).
pub const APPMESH_KINDS: [KindInfo; 7] = [
    appmesh("Mesh", "meshes", false),
    appmesh("VirtualNode", "virtualnodes", true),
    appmesh("VirtualService", "virtualservices", true),
    appmesh("VirtualRouter", "virtualrouters", true),
    appmesh("VirtualGateway", "virtualgateways", true),
    appmesh("GatewayRoute", "gatewayroutes", true),
    appmesh("BackendGroup", "backendgroups", true),
];

const fn istio(group: &'static str, kind: &'static str, plural: &'static str) -> KindInfo {
    KindInfo {
        group,
        version: "v1",
        kind,
        plural,
        namespaced: true,
    }
}

/// The Istio kinds convert generates, at the API version it writes (`v1`, Istio 1.22+).
pub const ISTIO_KINDS: [KindInfo; 8] = [
    istio("networking.istio.io", "VirtualService", "virtualservices"),
    istio("networking.istio.io", "DestinationRule", "destinationrules"),
    istio("networking.istio.io", "Gateway", "gateways"),
    istio("networking.istio.io", "ServiceEntry", "serviceentries"),
    istio("networking.istio.io", "Sidecar", "sidecars"),
    istio(
        "security.istio.io",
        "PeerAuthentication",
        "peerauthentications",
    ),
    istio(
        "security.istio.io",
        "AuthorizationPolicy",
        "authorizationpolicies",
    ),
    istio("telemetry.istio.io", "Telemetry", "telemetries"),
];

/// The kind named `kind` among the core, App Mesh and Istio kinds this tool works with.
pub fn known_kind(kind: &str) -> Option<&'static KindInfo> {
    static CORE_KINDS: [KindInfo; 6] = [
        NAMESPACES,
        PODS,
        SERVICES,
        DEPLOYMENTS,
        STATEFULSETS,
        DAEMONSETS,
    ];
    CORE_KINDS
        .iter()
        .chain(&APPMESH_KINDS)
        .chain(&ISTIO_KINDS)
        .find(|k| k.kind == kind)
}

/// The kind `kind` of API group `group` (empty for the core group) among every kind this tool
/// reads or writes. Unlike [`known_kind`] this tells App Mesh's `VirtualService` from Istio's.
pub fn by_group_kind(group: &str, kind: &str) -> Option<&'static KindInfo> {
    static OTHER_KINDS: [KindInfo; 14] = [
        NAMESPACES,
        PODS,
        SERVICES,
        DEPLOYMENTS,
        STATEFULSETS,
        DAEMONSETS,
        MUTATING_WEBHOOKS,
        VALIDATING_WEBHOOKS,
        // cleanup --controller/--crds: what the App Mesh controller's Helm chart installs
        SERVICE_ACCOUNTS,
        ROLES,
        ROLE_BINDINGS,
        CLUSTER_ROLES,
        CLUSTER_ROLE_BINDINGS,
        CRDS,
    ];
    OTHER_KINDS
        .iter()
        .chain(&APPMESH_KINDS)
        .chain(&ISTIO_KINDS)
        .find(|k| k.group == group && k.kind == kind)
}

/// The App Mesh kind named `kind`, if it is one.
pub fn appmesh_kind(kind: &str) -> Option<&'static KindInfo> {
    APPMESH_KINDS.iter().find(|k| k.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_names() {
        assert_eq!(PODS.collection_path(None), "/api/v1/pods");
        assert_eq!(
            PODS.collection_path(Some("shop")),
            "/api/v1/namespaces/shop/pods"
        );
        assert_eq!(
            NAMESPACES.collection_path(Some("shop")),
            "/api/v1/namespaces"
        );
        assert_eq!(DEPLOYMENTS.resource_name(), "deployments.apps");
        assert_eq!(PODS.api_version(), "v1");
        let vn = appmesh_kind("VirtualNode").unwrap();
        assert_eq!(
            vn.collection_path(Some("a")),
            "/apis/appmesh.k8s.aws/v1beta2/namespaces/a/virtualnodes"
        );
        assert_eq!(
            APPMESH_KINDS[0].collection_path(Some("a")),
            "/apis/appmesh.k8s.aws/v1beta2/meshes"
        );
        assert_eq!(vn.resource_name(), "virtualnodes.appmesh.k8s.aws");
        assert_eq!(
            by_group_kind("networking.istio.io", "VirtualService").map(|k| k.plural),
            Some("virtualservices")
        );
        assert_eq!(
            by_group_kind(APPMESH_GROUP, "VirtualService").map(|k| k.group),
            Some(APPMESH_GROUP)
        );
        assert_eq!(by_group_kind("", "Namespace"), Some(&NAMESPACES));
        assert_eq!(by_group_kind("apps", "Namespace"), None);
    }
}
