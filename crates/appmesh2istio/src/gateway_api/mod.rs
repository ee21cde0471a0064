//! The Kubernetes Gateway API objects (bundle v1.5.1) appmesh2istio emits for the
//! `gateway-api` target, and the core/v1 Service it generates for per-version backends.
//!
//! Same discipline as [`crate::istio`]: only the fields the converter writes are modelled,
//! fields are in the order of the Go types (which `kubectl get -o yaml` shows), nothing is
//! written for `None`, empty lists or empty maps, and maps are `BTreeMap`s, so the output has
//! no `null`s, no empty blocks and a deterministic order. Where the schema gives a default
//! that differs from "absent" (the `group` of a Service parentRef, which defaults to
//! `gateway.networking.k8s.io`), the field is an `Option` written explicitly, even empty.
//!
//! Every object is checked by [`crate::validate::gateway_api`] before it is printed.

use serde::{Deserialize, Serialize};

pub mod core;
pub mod duration;
pub mod gateway;
pub mod routes;

pub use self::core::*;
pub use duration::Duration;
pub use gateway::*;
pub use routes::*;

/// The API group of every Gateway API kind.
pub const GROUP: &str = "gateway.networking.k8s.io";
/// The core group, as Gateway API references write it: empty.
pub const CORE_GROUP: &str = "";
/// The `gatewayClassName` of Istio's managed ingress gateways.
pub const ISTIO_GATEWAY_CLASS: &str = "istio";
/// The `gatewayClassName` of Istio's ambient waypoints.
pub const ISTIO_WAYPOINT_CLASS: &str = "istio-waypoint";

/// `ParentReference`: what a route attaches to. A `Service` parent (group `""`) makes a mesh
/// route (GAMMA); a `Gateway` parent an ingress route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ParentReference {
    /// Defaults to `gateway.networking.k8s.io`; a Service parent must write `""`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Defaults to `Gateway`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Defaults to the route's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
}

impl ParentReference {
    /// A mesh route's parent: the Service whose traffic it routes, on one port.
    pub fn service(name: impl Into<String>, port: Option<u32>) -> ParentReference {
        ParentReference {
            group: Some(CORE_GROUP.to_owned()),
            kind: Some("Service".to_owned()),
            name: name.into(),
            port,
            ..ParentReference::default()
        }
    }

    /// An ingress route's parent: a Gateway (in `namespace` when not the route's own),
    /// optionally one of its listeners.
    pub fn gateway(
        name: impl Into<String>,
        namespace: Option<String>,
        section_name: Option<String>,
    ) -> ParentReference {
        ParentReference {
            namespace,
            name: name.into(),
            section_name,
            ..ParentReference::default()
        }
    }

    /// The group as the API server defaults it.
    pub fn effective_group(&self) -> &str {
        self.group.as_deref().unwrap_or(GROUP)
    }

    /// The kind as the API server defaults it.
    pub fn effective_kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("Gateway")
    }
}

/// `BackendRef` (`BackendObjectReference` plus `weight`): a Service by default.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BackendRef {
    /// Defaults to `""` (core).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Defaults to `Service`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub name: String,
    /// Another namespace needs a ReferenceGrant there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Required for a Service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Relative weight, 0..=1,000,000; defaults to 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

impl BackendRef {
    /// A Service backend in the route's namespace (or `namespace`), on `port`.
    pub fn service(name: impl Into<String>, namespace: Option<String>, port: u32) -> BackendRef {
        BackendRef {
            name: name.into(),
            namespace,
            port: Some(port),
            ..BackendRef::default()
        }
    }

    pub fn with_weight(mut self, weight: i32) -> BackendRef {
        self.weight = Some(weight);
        self
    }

    /// The group as the API server defaults it.
    pub fn effective_group(&self) -> &str {
        self.group.as_deref().unwrap_or(CORE_GROUP)
    }

    /// The kind as the API server defaults it.
    pub fn effective_kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("Service")
    }
}

#[cfg(test)]
mod tests;
