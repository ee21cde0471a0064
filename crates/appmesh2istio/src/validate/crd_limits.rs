//! The size and range bounds of Istio 1.30.3's CRD schemas (`maxItems`, `maxProperties`,
//! `maxLength`, `minItems`, `minLength`, `minProperties`, `minimum`, `maximum` of the v1
//! `openAPIV3Schema` of every kind we generate), applied to our serialized output. The API
//! server refuses an object that breaks one before Istio's webhook even sees it (e.g. a
//! Sidecar whose `workloadSelector.labels` has 257 entries).
//!
//! [`LIMITS`] is a copy of the bounds in `shared/crds/istio/istio-1.30.3-crd-all.gen.yaml`;
//! `tests/crd_limits.rs` re-extracts them from that file and fails when the two differ, so
//! the table cannot drift from the CRDs. Paths: `a.b` for properties, `[]` for every item of
//! a list, `{}` for every value of a map.

use serde_json::Value;

use super::{Checker, Violation};
use crate::istio::IstioObject;

/// Rule id of a CRD schema bound in violations.
pub const RULE: &str = "CRD-LIMIT";

/// One bound of the schema, as the CRD writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    MaxItems(u64),
    MinItems(u64),
    MaxProperties(u64),
    MinProperties(u64),
    MaxLength(u64),
    MinLength(u64),
    Minimum(i64),
    Maximum(i64),
}

/// A bound at a path of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub kind: &'static str,
    pub path: &'static str,
    pub bound: Bound,
}

const fn limit(kind: &'static str, path: &'static str, bound: Bound) -> Limit {
    Limit { kind, path, bound }
}

/// The bounds `object` breaks (none for IstioOperator, which has no CRD; the Gateway API
/// kinds and Services have their own checks in [`super::gateway_api`]).
pub fn violations(object: &IstioObject) -> Vec<Violation> {
    let mut c = Checker::new(object.object_ref());
    let istio_crd = object.api_version().contains(".istio.io/")
        && !matches!(object, IstioObject::IstioOperator(_));
    if istio_crd {
        match serde_json::to_value(object) {
            Ok(value) => check(&mut c, object.kind(), &value),
            Err(e) => c.error(RULE, "", format!("cannot be serialized: {e}")),
        }
    }
    c.finish()
}

/// Checks every bound of `kind` on `object` (the serialized object, `spec` at the top).
pub(crate) fn check(c: &mut Checker, kind: &str, object: &Value) {
    for l in LIMITS.iter().filter(|l| l.kind == kind) {
        let mut found = Vec::new();
        select(object, l.path, String::new(), &mut found);
        for (field, value) in found {
            if let Some(message) = broken(l.bound, value) {
                c.error(RULE, field, message);
            }
        }
    }
}

/// Every value at `path` below `value`, with its concrete field path.
fn select<'v>(value: &'v Value, path: &str, here: String, out: &mut Vec<(String, &'v Value)>) {
    if path.is_empty() {
        out.push((here, value));
        return;
    }
    let (step, rest) = next_step(path);
    match step {
        Step::Items => {
            if let Value::Array(items) = value {
                for (i, item) in items.iter().enumerate() {
                    select(item, rest, format!("{here}[{i}]"), out);
                }
            }
        }
        Step::Values => {
            if let Value::Object(map) = value {
                for (k, v) in map {
                    select(v, rest, format!("{here}[{k}]"), out);
                }
            }
        }
        Step::Key(key) => {
            if let Some(child) = value.get(key) {
                let field = if here.is_empty() {
                    key.to_owned()
                } else {
                    format!("{here}.{key}")
                };
                select(child, rest, field, out);
            }
        }
    }
}

enum Step<'p> {
    Key(&'p str),
    Items,
    Values,
}

fn next_step(path: &str) -> (Step<'_>, &str) {
    let path = path.strip_prefix('.').unwrap_or(path);
    if let Some(rest) = path.strip_prefix("[]") {
        return (Step::Items, rest);
    }
    if let Some(rest) = path.strip_prefix("{}") {
        return (Step::Values, rest);
    }
    let end = path.find(['.', '[', '{']).unwrap_or(path.len());
    (Step::Key(&path[..end]), &path[end..])
}

/// The message when `value` breaks `bound`; values of another type are not this bound's.
fn broken(bound: Bound, value: &Value) -> Option<String> {
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    match (bound, value) {
        (Bound::MaxItems(max), Value::Array(a)) if count(a.len()) > max => Some(format!(
            "has {} items; Istio's CRD allows at most {max}",
            a.len()
        )),
        (Bound::MinItems(min), Value::Array(a)) if count(a.len()) < min => Some(format!(
            "has {} items; Istio's CRD requires at least {min}",
            a.len()
        )),
        (Bound::MaxProperties(max), Value::Object(m)) if count(m.len()) > max => Some(format!(
            "has {} entries; Istio's CRD allows at most {max}",
            m.len()
        )),
        (Bound::MinProperties(min), Value::Object(m)) if count(m.len()) < min => Some(format!(
            "has {} entries; Istio's CRD requires at least {min}",
            m.len()
        )),
        (Bound::MaxLength(max), Value::String(s)) if count(s.chars().count()) > max => {
            Some(format!(
                "is {} characters long; Istio's CRD allows at most {max}",
                s.chars().count()
            ))
        }
        (Bound::MinLength(min), Value::String(s)) if count(s.chars().count()) < min => {
            Some(format!(
                "is {} characters long; Istio's CRD requires at least {min}",
                s.chars().count()
            ))
        }
        (Bound::Minimum(min), Value::Number(n)) if n.as_f64().is_some_and(|v| v < min as f64) => {
            Some(format!("is {n}; Istio's CRD requires at least {min}"))
        }
        (Bound::Maximum(max), Value::Number(n)) if n.as_f64().is_some_and(|v| v > max as f64) => {
            Some(format!("is {n}; Istio's CRD allows at most {max}"))
        }
        _ => None,
    }
}

/// Every bound of the v1 schemas of the kinds we generate, in the CRD file's order.
#[rustfmt::skip]
pub const LIMITS: &[Limit] = &[
    limit("DestinationRule", "spec.subsets[].trafficPolicy.connectionPool.tcp.tcpKeepalive.probes", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.connectionPool.tcp.tcpKeepalive.probes", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.loadBalancer.consistentHash.maglev.tableSize", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.loadBalancer.consistentHash.minimumRingSize", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.loadBalancer.consistentHash.ringHash.minimumRingSize", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.loadBalancer.localityLbSetting.distribute[].to{}", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.loadBalancer.localityLbSetting.distribute[].to{}", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.loadBalancer.warmup.aggression", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.loadBalancer.warmup.minimumPercent", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.loadBalancer.warmup.minimumPercent", Bound::Maximum(100)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.outlierDetection.consecutive5xxErrors", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.outlierDetection.consecutive5xxErrors", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.outlierDetection.consecutiveGatewayErrors", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.outlierDetection.consecutiveGatewayErrors", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.outlierDetection.consecutiveLocalOriginFailures", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.outlierDetection.consecutiveLocalOriginFailures", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings", Bound::MaxItems(4096)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].connectionPool.tcp.tcpKeepalive.probes", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].connectionPool.tcp.tcpKeepalive.probes", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].loadBalancer.consistentHash.maglev.tableSize", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].loadBalancer.consistentHash.minimumRingSize", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].loadBalancer.consistentHash.ringHash.minimumRingSize", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].loadBalancer.localityLbSetting.distribute[].to{}", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].loadBalancer.localityLbSetting.distribute[].to{}", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].loadBalancer.warmup.aggression", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].loadBalancer.warmup.minimumPercent", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].loadBalancer.warmup.minimumPercent", Bound::Maximum(100)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].outlierDetection.consecutive5xxErrors", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].outlierDetection.consecutive5xxErrors", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].outlierDetection.consecutiveGatewayErrors", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].outlierDetection.consecutiveGatewayErrors", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].outlierDetection.consecutiveLocalOriginFailures", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].outlierDetection.consecutiveLocalOriginFailures", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].port.number", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.portLevelSettings[].port.number", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.retryBudget.minRetryConcurrency", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.retryBudget.minRetryConcurrency", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.retryBudget.percent", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.retryBudget.percent", Bound::Maximum(100)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.tunnel.targetPort", Bound::Minimum(0)),
    limit("DestinationRule", "spec.subsets[].trafficPolicy.tunnel.targetPort", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.probes", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.probes", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.loadBalancer.consistentHash.ringHash.minimumRingSize", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[].to{}", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[].to{}", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.trafficPolicy.loadBalancer.warmup.aggression", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.loadBalancer.warmup.minimumPercent", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.loadBalancer.warmup.minimumPercent", Bound::Maximum(100)),
    limit("DestinationRule", "spec.trafficPolicy.outlierDetection.consecutive5xxErrors", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.outlierDetection.consecutive5xxErrors", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.trafficPolicy.outlierDetection.consecutiveGatewayErrors", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.outlierDetection.consecutiveGatewayErrors", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings", Bound::MaxItems(4096)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].connectionPool.tcp.tcpKeepalive.probes", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].connectionPool.tcp.tcpKeepalive.probes", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].loadBalancer.consistentHash.maglev.tableSize", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].loadBalancer.consistentHash.minimumRingSize", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].loadBalancer.consistentHash.ringHash.minimumRingSize", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].loadBalancer.localityLbSetting.distribute[].to{}", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].loadBalancer.localityLbSetting.distribute[].to{}", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].loadBalancer.warmup.aggression", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].loadBalancer.warmup.minimumPercent", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].loadBalancer.warmup.minimumPercent", Bound::Maximum(100)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].outlierDetection.consecutive5xxErrors", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].outlierDetection.consecutive5xxErrors", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].outlierDetection.consecutiveGatewayErrors", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].outlierDetection.consecutiveGatewayErrors", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].outlierDetection.consecutiveLocalOriginFailures", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].outlierDetection.consecutiveLocalOriginFailures", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].port.number", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.portLevelSettings[].port.number", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.trafficPolicy.retryBudget.minRetryConcurrency", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.retryBudget.minRetryConcurrency", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.trafficPolicy.retryBudget.percent", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.retryBudget.percent", Bound::Maximum(100)),
    limit("DestinationRule", "spec.trafficPolicy.tunnel.targetPort", Bound::Minimum(0)),
    limit("DestinationRule", "spec.trafficPolicy.tunnel.targetPort", Bound::Maximum(4294967295)),
    limit("DestinationRule", "spec.workloadSelector.matchLabels", Bound::MaxProperties(4096)),
    limit("DestinationRule", "spec.workloadSelector.matchLabels{}", Bound::MaxLength(63)),
    limit("Gateway", "spec.servers[].port.number", Bound::Minimum(0)),
    limit("Gateway", "spec.servers[].port.number", Bound::Maximum(4294967295)),
    limit("Gateway", "spec.servers[].port.targetPort", Bound::Minimum(0)),
    limit("Gateway", "spec.servers[].port.targetPort", Bound::Maximum(4294967295)),
    limit("Gateway", "spec.servers[].tls.credentialNames", Bound::MaxItems(2)),
    limit("Gateway", "spec.servers[].tls.credentialNames", Bound::MinItems(1)),
    limit("Gateway", "spec.servers[].tls.tlsCertificates", Bound::MaxItems(2)),
    limit("Gateway", "spec.servers[].tls.tlsCertificates", Bound::MinItems(1)),
    limit("ServiceEntry", "spec.addresses", Bound::MaxItems(256)),
    limit("ServiceEntry", "spec.addresses[]", Bound::MaxLength(64)),
    limit("ServiceEntry", "spec.endpoints", Bound::MaxItems(4096)),
    limit("ServiceEntry", "spec.endpoints[].address", Bound::MaxLength(256)),
    limit("ServiceEntry", "spec.endpoints[].labels", Bound::MaxProperties(256)),
    limit("ServiceEntry", "spec.endpoints[].locality", Bound::MaxLength(2048)),
    limit("ServiceEntry", "spec.endpoints[].network", Bound::MaxLength(2048)),
    limit("ServiceEntry", "spec.endpoints[].ports", Bound::MaxProperties(128)),
    limit("ServiceEntry", "spec.endpoints[].ports{}", Bound::Minimum(0)),
    limit("ServiceEntry", "spec.endpoints[].ports{}", Bound::Maximum(4294967295)),
    limit("ServiceEntry", "spec.endpoints[].serviceAccount", Bound::MaxLength(253)),
    limit("ServiceEntry", "spec.endpoints[].weight", Bound::Minimum(0)),
    limit("ServiceEntry", "spec.endpoints[].weight", Bound::Maximum(4294967295)),
    limit("ServiceEntry", "spec.hosts", Bound::MaxItems(256)),
    limit("ServiceEntry", "spec.hosts", Bound::MinItems(1)),
    limit("ServiceEntry", "spec.ports", Bound::MaxItems(256)),
    limit("ServiceEntry", "spec.ports[].name", Bound::MaxLength(256)),
    limit("ServiceEntry", "spec.ports[].number", Bound::Minimum(0)),
    limit("ServiceEntry", "spec.ports[].number", Bound::Maximum(4294967295)),
    limit("ServiceEntry", "spec.ports[].protocol", Bound::MaxLength(256)),
    limit("ServiceEntry", "spec.ports[].targetPort", Bound::Minimum(0)),
    limit("ServiceEntry", "spec.ports[].targetPort", Bound::Maximum(4294967295)),
    limit("ServiceEntry", "spec.workloadSelector.labels", Bound::MaxProperties(256)),
    limit("ServiceEntry", "spec.workloadSelector.labels{}", Bound::MaxLength(63)),
    limit("Sidecar", "spec.egress[].port.number", Bound::Minimum(0)),
    limit("Sidecar", "spec.egress[].port.number", Bound::Maximum(4294967295)),
    limit("Sidecar", "spec.egress[].port.targetPort", Bound::Minimum(0)),
    limit("Sidecar", "spec.egress[].port.targetPort", Bound::Maximum(4294967295)),
    limit("Sidecar", "spec.inboundConnectionPool.tcp.tcpKeepalive.probes", Bound::Minimum(0)),
    limit("Sidecar", "spec.inboundConnectionPool.tcp.tcpKeepalive.probes", Bound::Maximum(4294967295)),
    limit("Sidecar", "spec.ingress[].connectionPool.tcp.tcpKeepalive.probes", Bound::Minimum(0)),
    limit("Sidecar", "spec.ingress[].connectionPool.tcp.tcpKeepalive.probes", Bound::Maximum(4294967295)),
    limit("Sidecar", "spec.ingress[].port.number", Bound::Minimum(0)),
    limit("Sidecar", "spec.ingress[].port.number", Bound::Maximum(4294967295)),
    limit("Sidecar", "spec.ingress[].port.targetPort", Bound::Minimum(0)),
    limit("Sidecar", "spec.ingress[].port.targetPort", Bound::Maximum(4294967295)),
    limit("Sidecar", "spec.ingress[].tls.credentialNames", Bound::MaxItems(2)),
    limit("Sidecar", "spec.ingress[].tls.credentialNames", Bound::MinItems(1)),
    limit("Sidecar", "spec.ingress[].tls.tlsCertificates", Bound::MaxItems(2)),
    limit("Sidecar", "spec.ingress[].tls.tlsCertificates", Bound::MinItems(1)),
    limit("Sidecar", "spec.outboundTrafficPolicy.egressProxy.port.number", Bound::Minimum(0)),
    limit("Sidecar", "spec.outboundTrafficPolicy.egressProxy.port.number", Bound::Maximum(4294967295)),
    limit("Sidecar", "spec.workloadSelector.labels", Bound::MaxProperties(256)),
    limit("Sidecar", "spec.workloadSelector.labels{}", Bound::MaxLength(63)),
    limit("VirtualService", "spec.http[].directResponse.status", Bound::Minimum(0)),
    limit("VirtualService", "spec.http[].directResponse.status", Bound::Maximum(4294967295)),
    limit("VirtualService", "spec.http[].match[].port", Bound::Minimum(0)),
    limit("VirtualService", "spec.http[].match[].port", Bound::Maximum(4294967295)),
    limit("VirtualService", "spec.http[].mirror.port.number", Bound::Minimum(0)),
    limit("VirtualService", "spec.http[].mirror.port.number", Bound::Maximum(4294967295)),
    limit("VirtualService", "spec.http[].mirror_percent", Bound::Minimum(0)),
    limit("VirtualService", "spec.http[].mirror_percent", Bound::Maximum(4294967295)),
    limit("VirtualService", "spec.http[].mirrorPercent", Bound::Minimum(0)),
    limit("VirtualService", "spec.http[].mirrorPercent", Bound::Maximum(4294967295)),
    limit("VirtualService", "spec.http[].mirrors[].destination.port.number", Bound::Minimum(0)),
    limit("VirtualService", "spec.http[].mirrors[].destination.port.number", Bound::Maximum(4294967295)),
    limit("VirtualService", "spec.http[].redirect.port", Bound::Minimum(0)),
    limit("VirtualService", "spec.http[].redirect.port", Bound::Maximum(4294967295)),
    limit("VirtualService", "spec.http[].redirect.redirectCode", Bound::Minimum(0)),
    limit("VirtualService", "spec.http[].redirect.redirectCode", Bound::Maximum(4294967295)),
    limit("VirtualService", "spec.http[].route[].destination.port.number", Bound::Minimum(0)),
    limit("VirtualService", "spec.http[].route[].destination.port.number", Bound::Maximum(4294967295)),
    limit("VirtualService", "spec.tcp[].match[].port", Bound::Minimum(0)),
    limit("VirtualService", "spec.tcp[].match[].port", Bound::Maximum(4294967295)),
    limit("VirtualService", "spec.tcp[].route[].destination.port.number", Bound::Minimum(0)),
    limit("VirtualService", "spec.tcp[].route[].destination.port.number", Bound::Maximum(4294967295)),
    limit("VirtualService", "spec.tls[].match[].port", Bound::Minimum(0)),
    limit("VirtualService", "spec.tls[].match[].port", Bound::Maximum(4294967295)),
    limit("VirtualService", "spec.tls[].route[].destination.port.number", Bound::Minimum(0)),
    limit("VirtualService", "spec.tls[].route[].destination.port.number", Bound::Maximum(4294967295)),
    limit("AuthorizationPolicy", "spec.rules", Bound::MaxItems(512)),
    limit("AuthorizationPolicy", "spec.rules[].from", Bound::MaxItems(512)),
    limit("AuthorizationPolicy", "spec.rules[].from[].source.notServiceAccounts", Bound::MaxItems(16)),
    limit("AuthorizationPolicy", "spec.rules[].from[].source.notServiceAccounts[]", Bound::MaxLength(320)),
    limit("AuthorizationPolicy", "spec.rules[].from[].source.serviceAccounts", Bound::MaxItems(16)),
    limit("AuthorizationPolicy", "spec.rules[].from[].source.serviceAccounts[]", Bound::MaxLength(320)),
    limit("AuthorizationPolicy", "spec.selector.matchLabels", Bound::MaxProperties(4096)),
    limit("AuthorizationPolicy", "spec.selector.matchLabels{}", Bound::MaxLength(63)),
    limit("AuthorizationPolicy", "spec.targetRef.group", Bound::MaxLength(253)),
    limit("AuthorizationPolicy", "spec.targetRef.kind", Bound::MaxLength(63)),
    limit("AuthorizationPolicy", "spec.targetRef.kind", Bound::MinLength(1)),
    limit("AuthorizationPolicy", "spec.targetRef.name", Bound::MaxLength(253)),
    limit("AuthorizationPolicy", "spec.targetRef.name", Bound::MinLength(1)),
    limit("AuthorizationPolicy", "spec.targetRefs", Bound::MaxItems(16)),
    limit("AuthorizationPolicy", "spec.targetRefs[].group", Bound::MaxLength(253)),
    limit("AuthorizationPolicy", "spec.targetRefs[].kind", Bound::MaxLength(63)),
    limit("AuthorizationPolicy", "spec.targetRefs[].kind", Bound::MinLength(1)),
    limit("AuthorizationPolicy", "spec.targetRefs[].name", Bound::MaxLength(253)),
    limit("AuthorizationPolicy", "spec.targetRefs[].name", Bound::MinLength(1)),
    limit("PeerAuthentication", "spec.portLevelMtls", Bound::MinProperties(1)),
    limit("PeerAuthentication", "spec.selector.matchLabels", Bound::MaxProperties(4096)),
    limit("PeerAuthentication", "spec.selector.matchLabels{}", Bound::MaxLength(63)),
    limit("Telemetry", "spec.accessLogging[].providers[].name", Bound::MinLength(1)),
    limit("Telemetry", "spec.metrics[].overrides[].match.customMetric", Bound::MinLength(1)),
    limit("Telemetry", "spec.metrics[].providers[].name", Bound::MinLength(1)),
    limit("Telemetry", "spec.selector.matchLabels", Bound::MaxProperties(4096)),
    limit("Telemetry", "spec.selector.matchLabels{}", Bound::MaxLength(63)),
    limit("Telemetry", "spec.targetRef.group", Bound::MaxLength(253)),
    limit("Telemetry", "spec.targetRef.kind", Bound::MaxLength(63)),
    limit("Telemetry", "spec.targetRef.kind", Bound::MinLength(1)),
    limit("Telemetry", "spec.targetRef.name", Bound::MaxLength(253)),
    limit("Telemetry", "spec.targetRef.name", Bound::MinLength(1)),
    limit("Telemetry", "spec.targetRefs", Bound::MaxItems(16)),
    limit("Telemetry", "spec.targetRefs[].group", Bound::MaxLength(253)),
    limit("Telemetry", "spec.targetRefs[].kind", Bound::MaxLength(63)),
    limit("Telemetry", "spec.targetRefs[].kind", Bound::MinLength(1)),
    limit("Telemetry", "spec.targetRefs[].name", Bound::MaxLength(253)),
    limit("Telemetry", "spec.targetRefs[].name", Bound::MinLength(1)),
    limit("Telemetry", "spec.tracing[].customTags{}.environment.name", Bound::MinLength(1)),
    limit("Telemetry", "spec.tracing[].customTags{}.formatter.value", Bound::MinLength(1)),
    limit("Telemetry", "spec.tracing[].customTags{}.header.name", Bound::MinLength(1)),
    limit("Telemetry", "spec.tracing[].customTags{}.literal.value", Bound::MinLength(1)),
    limit("Telemetry", "spec.tracing[].providers[].name", Bound::MinLength(1)),
    limit("Telemetry", "spec.tracing[].randomSamplingPercentage", Bound::Minimum(0)),
    limit("Telemetry", "spec.tracing[].randomSamplingPercentage", Bound::Maximum(100)),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::istio::{IstioObject, Metadata, Sidecar, SidecarSpec, WorkloadLabels};
    use crate::validate::testing::errors;
    use crate::validate::{ViolationSeverity, validate_object};

    fn sidecar_with_labels(n: usize) -> IstioObject {
        let labels: BTreeMap<String, String> =
            (0..n).map(|i| (format!("l{i}"), "v".to_owned())).collect();
        Sidecar::new(
            Metadata::new("cart", "shop"),
            SidecarSpec {
                workload_selector: Some(WorkloadLabels::new(labels)),
                ..Default::default()
            },
        )
        .into()
    }

    fn limit_errors(obj: &IstioObject) -> Vec<String> {
        validate_object(obj)
            .into_iter()
            .filter(|v| v.rule == RULE && v.severity == ViolationSeverity::Error)
            .map(|v| format!("{}: {}", v.field, v.message))
            .collect()
    }

    #[test]
    fn a_sidecar_selects_at_most_256_labels() {
        assert_eq!(
            limit_errors(&sidecar_with_labels(256)),
            Vec::<String>::new()
        );
        assert_eq!(
            limit_errors(&sidecar_with_labels(257)),
            vec![
                "spec.workloadSelector.labels: has 257 entries; Istio's CRD allows at most 256"
                    .to_owned()
            ]
        );
    }

    #[test]
    fn every_kind_of_bound_is_applied_at_its_path() {
        let many = |n: usize| Value::Array((0..n).map(|i| json!(format!("h{i}.x"))).collect());
        let se = json!({"spec": {
            "hosts": many(257),
            "addresses": [],
            "ports": [{"name": "p".repeat(257), "number": 80}],
            "endpoints": [{"labels": {}, "address": "a".repeat(257)}],
        }});
        let mut got = errors(|c| check(c, "ServiceEntry", &se));
        got.sort();
        // An empty `addresses` is within its bounds (no minItems).
        assert_eq!(
            got,
            vec![
                (RULE, "spec.endpoints[0].address".to_owned()),
                (RULE, "spec.hosts".to_owned()),
                (RULE, "spec.ports[0].name".to_owned()),
            ]
        );
        let telemetry = json!({"spec": {
            "accessLogging": [{"providers": [{"name": ""}]}],
            "selector": {"matchLabels": {"app": "x".repeat(64)}},
        }});
        assert_eq!(
            errors(|c| check(c, "Telemetry", &telemetry)),
            vec![
                (RULE, "spec.accessLogging[0].providers[0].name".to_owned()),
                (RULE, "spec.selector.matchLabels[app]".to_owned()),
            ]
        );
        let dr = json!({"spec": {"trafficPolicy": {"outlierDetection":
            {"consecutive5xxErrors": 4294967296_u64, "consecutiveGatewayErrors": -1}}}});
        assert_eq!(
            errors(|c| check(c, "DestinationRule", &dr)),
            vec![
                (
                    RULE,
                    "spec.trafficPolicy.outlierDetection.consecutive5xxErrors".to_owned()
                ),
                (
                    RULE,
                    "spec.trafficPolicy.outlierDetection.consecutiveGatewayErrors".to_owned()
                ),
            ]
        );
        let gw = json!({"spec": {"servers": [{"tls": {"credentialNames": []}}]}});
        assert_eq!(
            errors(|c| check(c, "Gateway", &gw)),
            vec![(RULE, "spec.servers[0].tls.credentialNames".to_owned())]
        );
    }

    #[test]
    fn paths_are_read_in_steps() {
        let value = json!({"spec": {"a": [{"m": {"k1": "v", "k2": "w"}}]}});
        let mut out = Vec::new();
        select(&value, "spec.a[].m{}", String::new(), &mut out);
        let fields: Vec<&str> = out.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["spec.a[0].m[k1]", "spec.a[0].m[k2]"]);
    }
}
