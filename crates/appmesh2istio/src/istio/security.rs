//! `security.istio.io/v1`: PeerAuthentication and AuthorizationPolicy.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{WorkloadSelector, istio_kind};

istio_kind!(
    /// Which mutual-TLS mode a workload's inbound traffic accepts.
    PeerAuthentication,
    PeerAuthenticationSpec,
    "security.istio.io/v1",
    "PeerAuthentication"
);
istio_kind!(
    /// Access control on a workload's inbound traffic.
    AuthorizationPolicy,
    AuthorizationPolicySpec,
    "security.istio.io/v1",
    "AuthorizationPolicy"
);

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PeerAuthenticationSpec {
    /// Omitted: namespace-wide (mesh-wide in the root namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtls: Option<Mtls>,
    /// Keyed by workload (container) port, not Service port; needs a non-empty selector.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "serialize_port_map",
        deserialize_with = "deserialize_port_map"
    )]
    pub port_level_mtls: BTreeMap<u32, Mtls>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Mtls {
    pub mode: MtlsMode,
}

impl Mtls {
    pub fn new(mode: MtlsMode) -> Mtls {
        Mtls { mode }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MtlsMode {
    /// Inherit from the parent (namespace or mesh) policy.
    #[default]
    Unset,
    Disable,
    Permissive,
    Strict,
}

/// JSON object keys are strings; YAML readers may hand us integer keys. Write strings so
/// the output is the same in both formats.
fn serialize_port_map<S: Serializer>(
    map: &BTreeMap<u32, Mtls>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut out = serializer.serialize_map(Some(map.len()))?;
    for (port, mtls) in map {
        out.serialize_entry(&port.to_string(), mtls)?;
    }
    out.end()
}

fn deserialize_port_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<u32, Mtls>, D::Error> {
    struct PortKey(u32);
    impl<'de> Deserialize<'de> for PortKey {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PortKey, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = PortKey;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a port number")
                }
                fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PortKey, E> {
                    u32::try_from(v).map(PortKey).map_err(E::custom)
                }
                fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PortKey, E> {
                    u32::try_from(v).map(PortKey).map_err(E::custom)
                }
                fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PortKey, E> {
                    v.parse().map(PortKey).map_err(E::custom)
                }
            }
            deserializer.deserialize_any(V)
        }
    }
    struct M;
    impl<'de> Visitor<'de> for M {
        type Value = BTreeMap<u32, Mtls>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of port to mtls")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut map = BTreeMap::new();
            while let Some((PortKey(port), mtls)) = access.next_entry::<PortKey, Mtls>()? {
                map.insert(port, mtls);
            }
            Ok(map)
        }
    }
    deserializer.deserialize_map(M)
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthorizationPolicySpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// ALLOW with no rules denies everything; `vec![Rule::default()]` (`rules: [{}]`)
    /// matches everything. DENY needs rules.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// Omitted means ALLOW.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<AuthorizationAction>,
    /// Only with CUSTOM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<ExtensionProviderRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthorizationAction {
    Allow,
    Deny,
    Audit,
    Custom,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExtensionProviderRef {
    pub name: String,
}

/// One rule: all of `from`, `to` and `when` must match (each list is ORed inside).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Rule {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<RuleFrom>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<RuleTo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RuleFrom {
    /// Must not be empty.
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RuleTo {
    /// Must not be empty.
    pub operation: Operation,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Source {
    /// `<trust-domain>/ns/<namespace>/sa/<serviceaccount>`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_principals: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub request_principals: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_request_principals: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_namespaces: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_blocks: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_ip_blocks: Vec<String>,
}

impl Source {
    pub fn is_empty(&self) -> bool {
        self.principals.is_empty()
            && self.not_principals.is_empty()
            && self.request_principals.is_empty()
            && self.not_request_principals.is_empty()
            && self.namespaces.is_empty()
            && self.not_namespaces.is_empty()
            && self.ip_blocks.is_empty()
            && self.not_ip_blocks.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Operation {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_methods: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_paths: Vec<String>,
}

impl Operation {
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
            && self.not_hosts.is_empty()
            && self.ports.is_empty()
            && self.not_ports.is_empty()
            && self.methods.is_empty()
            && self.not_methods.is_empty()
            && self.paths.is_empty()
            && self.not_paths.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Condition {
    pub key: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_values: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::Metadata;
    use serde_json::json;

    #[test]
    fn port_level_mtls_keys_are_written_as_strings_and_read_from_either() {
        let pa = PeerAuthentication::new(
            Metadata::new("p", "ns"),
            PeerAuthenticationSpec {
                selector: Some(WorkloadSelector::new(BTreeMap::from([(
                    "app".into(),
                    "a".into(),
                )]))),
                mtls: Some(Mtls::new(MtlsMode::Strict)),
                port_level_mtls: BTreeMap::from([(8080, Mtls::new(MtlsMode::Disable))]),
            },
        );
        let value = serde_json::to_value(&pa).unwrap();
        assert_eq!(
            value["spec"],
            json!({"selector": {"matchLabels": {"app": "a"}}, "mtls": {"mode": "STRICT"},
                   "portLevelMtls": {"8080": {"mode": "DISABLE"}}})
        );
        assert_eq!(
            serde_json::from_value::<PeerAuthentication>(value).unwrap(),
            pa
        );
        let yaml = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p, namespace: ns}\n\
                    spec:\n  selector: {matchLabels: {app: a}}\n  mtls: {mode: STRICT}\n  portLevelMtls:\n    8080: {mode: DISABLE}\n";
        assert_eq!(
            serde_saphyr::from_str::<PeerAuthentication>(yaml).unwrap(),
            pa
        );
    }

    #[test]
    fn allow_all_rule_is_an_empty_object() {
        let spec = AuthorizationPolicySpec {
            rules: vec![Rule::default()],
            action: Some(AuthorizationAction::Allow),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            json!({"rules": [{}], "action": "ALLOW"})
        );
        assert!(Source::default().is_empty());
        assert!(Operation::default().is_empty());
    }
}
