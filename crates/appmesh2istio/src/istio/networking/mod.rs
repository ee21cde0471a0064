//! `networking.istio.io/v1`: VirtualService, DestinationRule, Gateway, ServiceEntry, Sidecar.
//!
//! Field order in each struct is the order of the Istio proto, which is the order Istio's
//! own docs and `kubectl get -o yaml` show, so our output reads like hand-written config.

use super::istio_kind;

istio_kind!(
    /// Routing rules for one or more hosts.
    VirtualService,
    VirtualServiceSpec,
    "networking.istio.io/v1",
    "VirtualService"
);
istio_kind!(
    /// Policies applied after routing: subsets, connection pools, outlier detection, TLS.
    DestinationRule,
    DestinationRuleSpec,
    "networking.istio.io/v1",
    "DestinationRule"
);
istio_kind!(
    /// Listeners of an ingress/egress gateway.
    Gateway,
    GatewaySpec,
    "networking.istio.io/v1",
    "Gateway"
);
istio_kind!(
    /// Adds an entry to Istio's service registry.
    ServiceEntry,
    ServiceEntrySpec,
    "networking.istio.io/v1",
    "ServiceEntry"
);
istio_kind!(
    /// Scopes a workload's proxy configuration.
    Sidecar,
    SidecarSpec,
    "networking.istio.io/v1",
    "Sidecar"
);

mod destination_rule;
mod gateway;
mod service_entry;
mod sidecar;
mod virtual_service;

pub use destination_rule::*;
pub use gateway::*;
pub use service_entry::*;
pub use sidecar::*;
pub use virtual_service::*;

#[cfg(test)]
mod tests;
