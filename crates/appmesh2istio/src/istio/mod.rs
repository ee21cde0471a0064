//! The Istio objects appmesh2istio emits, as typed structs.
//!
//! Only the fields the converter writes are modelled. Serialisation follows Istio's
//! proto-JSON: camelCase names, fields in proto order (struct order is output order), and
//! nothing written for `None`, empty lists or empty maps, so the output never carries
//! `null`s or empty blocks (Istio rejects several empty blocks, e.g. `trafficPolicy: {}`).
//! Maps are `BTreeMap`s so output is deterministic.
//!
//! Every object is checked by [`crate::validate`] before it is printed.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::gateway_api;
use crate::origin::ObjectRef;

pub mod argo;
pub mod duration;
pub mod flagger;
pub mod helm;
pub mod install;
pub mod networking;
pub mod security;
pub mod telemetry;
pub mod uri_index;

pub use argo::{Rollout, RolloutSpec};
pub use duration::{Duration, DurationError};
pub use flagger::{Canary, CanaryRetries, CanaryService, CanarySpec};
pub use install::*;
pub use networking::*;
pub use security::*;
pub use telemetry::*;

/// The label every generated object carries, so users can find (and delete) our output.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Its value.
pub const MANAGED_BY_VALUE: &str = "appmesh2istio";

/// Object metadata: the part of Kubernetes `ObjectMeta` we write.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Metadata {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Metadata {
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Metadata {
        Metadata {
            name: name.into(),
            namespace: Some(namespace.into()),
            ..Metadata::default()
        }
    }

    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Metadata {
        self.labels.insert(key.into(), value.into());
        self
    }

    pub fn with_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Metadata {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Adds `app.kubernetes.io/managed-by: appmesh2istio`.
    pub fn managed(self) -> Metadata {
        self.with_label(MANAGED_BY_LABEL, MANAGED_BY_VALUE)
    }
}

/// `istio.type.v1beta1.WorkloadSelector` / the policy `selector`: `{matchLabels: {...}}`.
/// Used by DestinationRule `workloadSelector` and the security/telemetry `selector`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkloadSelector {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

impl WorkloadSelector {
    pub fn new(match_labels: BTreeMap<String, String>) -> WorkloadSelector {
        WorkloadSelector { match_labels }
    }
}

/// `networking.v1.WorkloadSelector`: `{labels: {...}}` (Sidecar, ServiceEntry). Not the same
/// key as [`WorkloadSelector`]; Istio really spells them differently.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkloadLabels {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl WorkloadLabels {
    pub fn new(labels: BTreeMap<String, String>) -> WorkloadLabels {
        WorkloadLabels { labels }
    }
}

/// Clamps an App Mesh int64 into an Istio int32 field. Compare the result with the input
/// (`i64::from(clamped) != value`) to report the loss.
pub fn clamp_i32(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(if value < 0 { i32::MIN } else { i32::MAX })
}

/// Clamps an App Mesh int64 into an Istio uint32 field (negative values become 0).
pub fn clamp_u32(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(if value < 0 { 0 } else { u32::MAX })
}

/// How a typed kind is written: the full Kubernetes object.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FullRef<'a, S> {
    api_version: &'static str,
    kind: &'static str,
    metadata: &'a Metadata,
    spec: &'a S,
}

/// How a typed kind is read back. Unknown top-level keys (e.g. `status`) are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FullOwned<S> {
    api_version: String,
    kind: String,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    spec: S,
}

fn value_api_version(value: &serde_json::Value) -> &str {
    value
        .get("apiVersion")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
}

fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(g, _)| g)
}

pub(crate) fn serialize_full<S: Serializer, T: Serialize>(
    serializer: S,
    api_version: &'static str,
    kind: &'static str,
    metadata: &Metadata,
    spec: &T,
) -> Result<S::Ok, S::Error> {
    FullRef {
        api_version,
        kind,
        metadata,
        spec,
    }
    .serialize(serializer)
}

/// Reads a full object, accepting any served version of the kind's group (the schemas of
/// the v1/v1beta1/v1alpha3 versions we model are identical).
pub(crate) fn deserialize_full<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(
    deserializer: D,
    api_version: &'static str,
    kind: &'static str,
) -> Result<(Metadata, T), D::Error> {
    let full = FullOwned::<T>::deserialize(deserializer)?;
    if full.kind != kind || group_of(&full.api_version) != group_of(api_version) {
        return Err(D::Error::custom(format!(
            "expected {api_version} {kind}, found {} {}",
            full.api_version, full.kind
        )));
    }
    Ok((full.metadata, full.spec))
}

/// One kind we emit: its struct (metadata and spec), constants, serde in proto-JSON order,
/// and its [`IstioObject`] variant (`Name => Variant` where the two differ, e.g. Gateway
/// API's `Gateway`, whose variant is `KubernetesGateway` beside Istio's).
macro_rules! istio_kind {
    ($(#[$doc:meta])* $name:ident, $spec:ty, $api:literal, $kind:literal) => {
        $crate::istio::istio_kind!($(#[$doc])* $name => $name, $spec, $api, $kind);
    };
    ($(#[$doc:meta])* $name:ident => $variant:ident, $spec:ty, $api:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            pub metadata: $crate::istio::Metadata,
            pub spec: $spec,
        }

        impl $name {
            pub const API_VERSION: &'static str = $api;
            pub const KIND: &'static str = $kind;

            pub fn new(metadata: $crate::istio::Metadata, spec: $spec) -> $name {
                $name { metadata, spec }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $crate::istio::serialize_full(serializer, $api, $kind, &self.metadata, &self.spec)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let (metadata, spec) = $crate::istio::deserialize_full(deserializer, $api, $kind)?;
                Ok($name { metadata, spec })
            }
        }

        impl From<$name> for $crate::istio::IstioObject {
            fn from(object: $name) -> $crate::istio::IstioObject {
                $crate::istio::IstioObject::$variant(object)
            }
        }
    };
}
pub(crate) use istio_kind;

/// Any object we emit: Istio's kinds, and for the `gateway-api` and `ambient` targets the
/// Gateway API kinds and generated per-version Services ([`crate::gateway_api`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IstioObject {
    VirtualService(VirtualService),
    DestinationRule(DestinationRule),
    Gateway(Gateway),
    ServiceEntry(ServiceEntry),
    Sidecar(Sidecar),
    PeerAuthentication(PeerAuthentication),
    AuthorizationPolicy(AuthorizationPolicy),
    Telemetry(Telemetry),
    IstioOperator(IstioOperator),
    Service(gateway_api::Service),
    /// `gateway.networking.k8s.io` Gateway (same kind name as Istio's Gateway).
    KubernetesGateway(gateway_api::Gateway),
    HttpRoute(gateway_api::HttpRoute),
    GrpcRoute(gateway_api::GrpcRoute),
    TcpRoute(gateway_api::TcpRoute),
    ReferenceGrant(gateway_api::ReferenceGrant),
    /// Not Istio's, but it drives Istio: a Flagger Canary moved to `provider: istio`.
    Canary(Canary),
    /// Not Istio's either: an Argo Rollout moved to `trafficRouting.istio`.
    Rollout(Rollout),
}

/// Applies `$body` to the inner object whatever the variant.
macro_rules! each_kind {
    ($self:expr, $inner:ident => $body:expr) => {
        match $self {
            IstioObject::VirtualService($inner) => $body,
            IstioObject::DestinationRule($inner) => $body,
            IstioObject::Gateway($inner) => $body,
            IstioObject::ServiceEntry($inner) => $body,
            IstioObject::Sidecar($inner) => $body,
            IstioObject::PeerAuthentication($inner) => $body,
            IstioObject::AuthorizationPolicy($inner) => $body,
            IstioObject::Telemetry($inner) => $body,
            IstioObject::IstioOperator($inner) => $body,
            IstioObject::Service($inner) => $body,
            IstioObject::KubernetesGateway($inner) => $body,
            IstioObject::HttpRoute($inner) => $body,
            IstioObject::GrpcRoute($inner) => $body,
            IstioObject::TcpRoute($inner) => $body,
            IstioObject::ReferenceGrant($inner) => $body,
            IstioObject::Canary($inner) => $body,
            IstioObject::Rollout($inner) => $body,
        }
    };
}

impl IstioObject {
    pub fn api_version(&self) -> &'static str {
        match self {
            IstioObject::VirtualService(_) => VirtualService::API_VERSION,
            IstioObject::DestinationRule(_) => DestinationRule::API_VERSION,
            IstioObject::Gateway(_) => Gateway::API_VERSION,
            IstioObject::ServiceEntry(_) => ServiceEntry::API_VERSION,
            IstioObject::Sidecar(_) => Sidecar::API_VERSION,
            IstioObject::PeerAuthentication(_) => PeerAuthentication::API_VERSION,
            IstioObject::AuthorizationPolicy(_) => AuthorizationPolicy::API_VERSION,
            IstioObject::Telemetry(_) => Telemetry::API_VERSION,
            IstioObject::IstioOperator(_) => IstioOperator::API_VERSION,
            IstioObject::Service(_) => gateway_api::Service::API_VERSION,
            IstioObject::KubernetesGateway(_) => gateway_api::Gateway::API_VERSION,
            IstioObject::HttpRoute(_) => gateway_api::HttpRoute::API_VERSION,
            IstioObject::GrpcRoute(_) => gateway_api::GrpcRoute::API_VERSION,
            IstioObject::TcpRoute(_) => gateway_api::TcpRoute::API_VERSION,
            IstioObject::ReferenceGrant(_) => gateway_api::ReferenceGrant::API_VERSION,
            IstioObject::Canary(_) => Canary::API_VERSION,
            IstioObject::Rollout(_) => Rollout::API_VERSION,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            IstioObject::VirtualService(_) => VirtualService::KIND,
            IstioObject::DestinationRule(_) => DestinationRule::KIND,
            IstioObject::Gateway(_) => Gateway::KIND,
            IstioObject::ServiceEntry(_) => ServiceEntry::KIND,
            IstioObject::Sidecar(_) => Sidecar::KIND,
            IstioObject::PeerAuthentication(_) => PeerAuthentication::KIND,
            IstioObject::AuthorizationPolicy(_) => AuthorizationPolicy::KIND,
            IstioObject::Telemetry(_) => Telemetry::KIND,
            IstioObject::IstioOperator(_) => IstioOperator::KIND,
            IstioObject::Service(_) => gateway_api::Service::KIND,
            IstioObject::KubernetesGateway(_) => gateway_api::Gateway::KIND,
            IstioObject::HttpRoute(_) => gateway_api::HttpRoute::KIND,
            IstioObject::GrpcRoute(_) => gateway_api::GrpcRoute::KIND,
            IstioObject::TcpRoute(_) => gateway_api::TcpRoute::KIND,
            IstioObject::ReferenceGrant(_) => gateway_api::ReferenceGrant::KIND,
            IstioObject::Canary(_) => Canary::KIND,
            IstioObject::Rollout(_) => Rollout::KIND,
        }
    }

    pub fn metadata(&self) -> &Metadata {
        each_kind!(self, o => &o.metadata)
    }

    pub fn metadata_mut(&mut self) -> &mut Metadata {
        each_kind!(self, o => &mut o.metadata)
    }

    pub fn name(&self) -> &str {
        &self.metadata().name
    }

    pub fn namespace(&self) -> Option<&str> {
        self.metadata().namespace.as_deref()
    }

    /// `Kind namespace/name`, as findings name objects.
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::new(self.kind(), self.namespace(), self.name())
    }

    /// Position of the kind in output order: the installation first, then objects before
    /// the objects that refer to them (Gateway before the VirtualServices bound to it,
    /// DestinationRule subsets before the routes using them — Istio's "make before break"
    /// advice), then policies. Generated Services come before the routes whose backends
    /// they are, Gateway API Gateways and ReferenceGrants before the routes they admit.
    pub fn kind_order(&self) -> u8 {
        match self {
            IstioObject::IstioOperator(_) => 0,
            IstioObject::Service(_) => 1,
            IstioObject::Gateway(_) => 2,
            IstioObject::KubernetesGateway(_) => 3,
            IstioObject::ReferenceGrant(_) => 4,
            IstioObject::ServiceEntry(_) => 5,
            IstioObject::DestinationRule(_) => 6,
            IstioObject::VirtualService(_) => 7,
            IstioObject::HttpRoute(_) => 8,
            IstioObject::GrpcRoute(_) => 9,
            IstioObject::TcpRoute(_) => 10,
            IstioObject::Sidecar(_) => 11,
            IstioObject::PeerAuthentication(_) => 12,
            IstioObject::AuthorizationPolicy(_) => 13,
            IstioObject::Telemetry(_) => 14,
            // After the Istio objects its workloads' routing and egress depend on.
            IstioObject::Canary(_) | IstioObject::Rollout(_) => 15,
        }
    }

    /// Stable output order: kind order, namespace, name.
    pub fn sort_key(&self) -> (u8, &str, &str) {
        (
            self.kind_order(),
            self.namespace().unwrap_or(""),
            self.name(),
        )
    }
}

/// Sorts objects into output order (see [`IstioObject::sort_key`]).
pub fn sort_objects(objects: &mut [IstioObject]) {
    objects.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
}

impl Serialize for IstioObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        each_kind!(self, o => o.serialize(serializer))
    }
}

impl<'de> Deserialize<'de> for IstioObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<IstioObject, D::Error> {
        // Buffer once to look at `kind`, then decode the typed object.
        let value = serde_json::Value::deserialize(deserializer)?;
        let kind = value
            .get("kind")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_owned();
        fn typed<T: DeserializeOwned, E: serde::de::Error>(
            value: serde_json::Value,
        ) -> Result<T, E> {
            serde_json::from_value(value).map_err(E::custom)
        }
        Ok(match kind.as_str() {
            VirtualService::KIND => IstioObject::VirtualService(typed(value)?),
            DestinationRule::KIND => IstioObject::DestinationRule(typed(value)?),
            // Two kinds are called Gateway: Istio's and Gateway API's.
            Gateway::KIND
                if group_of(value_api_version(&value))
                    == group_of(gateway_api::Gateway::API_VERSION) =>
            {
                IstioObject::KubernetesGateway(typed(value)?)
            }
            Gateway::KIND => IstioObject::Gateway(typed(value)?),
            ServiceEntry::KIND => IstioObject::ServiceEntry(typed(value)?),
            Sidecar::KIND => IstioObject::Sidecar(typed(value)?),
            PeerAuthentication::KIND => IstioObject::PeerAuthentication(typed(value)?),
            AuthorizationPolicy::KIND => IstioObject::AuthorizationPolicy(typed(value)?),
            Telemetry::KIND => IstioObject::Telemetry(typed(value)?),
            IstioOperator::KIND => IstioObject::IstioOperator(typed(value)?),
            gateway_api::Service::KIND => IstioObject::Service(typed(value)?),
            gateway_api::HttpRoute::KIND => IstioObject::HttpRoute(typed(value)?),
            gateway_api::GrpcRoute::KIND => IstioObject::GrpcRoute(typed(value)?),
            gateway_api::TcpRoute::KIND => IstioObject::TcpRoute(typed(value)?),
            gateway_api::ReferenceGrant::KIND => IstioObject::ReferenceGrant(typed(value)?),
            Canary::KIND => IstioObject::Canary(typed(value)?),
            Rollout::KIND => IstioObject::Rollout(typed(value)?),
            other => {
                return Err(D::Error::custom(format!(
                    "unsupported Istio kind {other:?}"
                )));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vs(ns: &str, name: &str) -> IstioObject {
        VirtualService::new(
            Metadata::new(name, ns),
            VirtualServiceSpec {
                hosts: vec!["a.b.svc.cluster.local".into()],
                ..Default::default()
            },
        )
        .into()
    }

    #[test]
    fn object_serialises_as_full_kubernetes_object_without_empty_fields() {
        let obj = vs("shop", "cart");
        let json = serde_json::to_value(&obj).unwrap();
        assert_eq!(
            json,
            json!({
                "apiVersion": "networking.istio.io/v1",
                "kind": "VirtualService",
                "metadata": {"name": "cart", "namespace": "shop"},
                "spec": {"hosts": ["a.b.svc.cluster.local"]}
            })
        );
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 4);
    }

    #[test]
    fn object_round_trips_through_yaml_and_json() {
        let mut obj = vs("shop", "cart");
        obj.metadata_mut()
            .labels
            .insert(MANAGED_BY_LABEL.into(), MANAGED_BY_VALUE.into());
        let yaml = serde_saphyr::to_string(&obj).unwrap();
        let back: IstioObject = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, obj);
        let json = serde_json::to_string(&obj).unwrap();
        assert_eq!(serde_json::from_str::<IstioObject>(&json).unwrap(), obj);
    }

    #[test]
    fn yaml_with_integer_map_keys_reads_through_istio_object() {
        let yaml = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
                    metadata: {name: p, namespace: ns}\n\
                    spec:\n  selector: {matchLabels: {app: a}}\n  portLevelMtls:\n    8080: {mode: DISABLE}\n";
        let obj: IstioObject = serde_saphyr::from_str(yaml).unwrap();
        let IstioObject::PeerAuthentication(pa) = obj else {
            panic!("wrong kind")
        };
        assert_eq!(
            pa.spec.port_level_mtls.keys().copied().collect::<Vec<_>>(),
            [8080]
        );
    }

    #[test]
    fn deserialising_checks_kind_and_group() {
        let wrong =
            json!({"apiVersion": "security.istio.io/v1", "kind": "VirtualService", "spec": {}});
        assert!(serde_json::from_value::<VirtualService>(wrong).is_err());
        let unknown = json!({"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry"});
        assert!(serde_json::from_value::<IstioObject>(unknown).is_err());
        let beta = json!({"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
            "metadata": {"name": "x"}, "spec": {"hosts": ["h"]}});
        let obj: IstioObject = serde_json::from_value(beta).unwrap();
        assert_eq!(obj.api_version(), "networking.istio.io/v1");
    }

    #[test]
    fn sort_key_orders_by_kind_then_namespace_then_name() {
        let gw: IstioObject = Gateway::new(Metadata::new("gw", "z"), GatewaySpec::default()).into();
        let mut objs = vec![vs("b", "x"), vs("a", "y"), gw, vs("a", "b")];
        sort_objects(&mut objs);
        let order: Vec<String> = objs.iter().map(|o| o.object_ref().to_string()).collect();
        assert_eq!(
            order,
            [
                "Gateway z/gw",
                "VirtualService a/b",
                "VirtualService a/y",
                "VirtualService b/x"
            ]
        );
    }

    #[test]
    fn clamps_int64_into_istio_ints() {
        assert_eq!(clamp_i32(5), 5);
        assert_eq!(clamp_i32(i64::MAX), i32::MAX);
        assert_eq!(clamp_i32(i64::MIN), i32::MIN);
        assert_eq!(clamp_u32(-1), 0);
        assert_eq!(clamp_u32(1 << 40), u32::MAX);
        assert_eq!(clamp_u32(70000), 70000);
    }

    #[test]
    fn metadata_helpers_add_the_managed_by_label() {
        let m = Metadata::new("n", "ns").managed().with_annotation("a", "b");
        assert_eq!(
            m.labels.get(MANAGED_BY_LABEL).map(String::as_str),
            Some(MANAGED_BY_VALUE)
        );
        assert_eq!(m.annotations.len(), 1);
    }
}
