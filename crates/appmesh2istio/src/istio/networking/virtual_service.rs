//! VirtualService: routing rules (HTTP, TCP) for one or more hosts.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::super::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VirtualServiceSpec {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// `mesh` and/or `<namespace>/<gateway>`; empty means mesh only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpRoute>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<TcpRoute>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
}

impl VirtualServiceSpec {
    /// True when the routes apply to sidecars: no `gateways`, or `mesh` listed.
    pub fn is_mesh_bound(&self) -> bool {
        self.gateways.is_empty() || self.gateways.iter().any(|g| g == "mesh")
    }

    /// The non-`mesh` gateway references.
    pub fn gateway_refs(&self) -> impl Iterator<Item = &str> {
        self.gateways
            .iter()
            .map(String::as_str)
            .filter(|g| *g != "mesh")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpRoute {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Entries are ORed; an empty list matches everything (a catch-all must be last).
    #[serde(rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<HttpMatchRequest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<HttpRouteDestination>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<HttpRewrite>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<HttpRetry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
}

/// One match condition; its fields are ANDed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpMatchRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<StringMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<StringMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<StringMatch>,
    /// Keys are header names (lower case); [`StringMatch::Presence`] means "present".
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub query_params: BTreeMap<String, StringMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_uri_case: Option<bool>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub without_headers: BTreeMap<String, StringMatch>,
}

/// Istio's `StringMatch` oneof, plus the empty form `{}` that means "present" in
/// `headers`, `queryParams` and `withoutHeaders`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StringMatch {
    Exact(String),
    Prefix(String),
    /// RE2 syntax, full-string match.
    Regex(String),
    /// `{}`: the header or query parameter is present, whatever its value.
    Presence,
}

impl StringMatch {
    pub fn exact(s: impl Into<String>) -> StringMatch {
        StringMatch::Exact(s.into())
    }
    pub fn prefix(s: impl Into<String>) -> StringMatch {
        StringMatch::Prefix(s.into())
    }
    pub fn regex(s: impl Into<String>) -> StringMatch {
        StringMatch::Regex(s.into())
    }
}

impl Serialize for StringMatch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entry = match self {
            StringMatch::Exact(v) => Some(("exact", v)),
            StringMatch::Prefix(v) => Some(("prefix", v)),
            StringMatch::Regex(v) => Some(("regex", v)),
            StringMatch::Presence => None,
        };
        let mut map = serializer.serialize_map(Some(usize::from(entry.is_some())))?;
        if let Some((key, value)) = entry {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for StringMatch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<StringMatch, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringMatch;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map with at most one of exact, prefix, regex")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StringMatch, A::Error> {
                let mut found: Option<StringMatch> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let value: String = map.next_value()?;
                    let m = match key.as_str() {
                        "exact" => StringMatch::Exact(value),
                        "prefix" => StringMatch::Prefix(value),
                        "regex" => StringMatch::Regex(value),
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["exact", "prefix", "regex"],
                            ));
                        }
                    };
                    if found.replace(m).is_some() {
                        return Err(de::Error::custom(
                            "only one of exact, prefix, regex may be set",
                        ));
                    }
                }
                Ok(found.unwrap_or(StringMatch::Presence))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// `destination` of a route.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Destination {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<PortSelector>,
}

impl Destination {
    pub fn host(host: impl Into<String>) -> Destination {
        Destination {
            host: host.into(),
            ..Destination::default()
        }
    }
    pub fn with_subset(mut self, subset: impl Into<String>) -> Destination {
        self.subset = Some(subset.into());
        self
    }
    pub fn with_port(mut self, number: u32) -> Destination {
        self.port = Some(PortSelector { number });
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PortSelector {
    pub number: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpRouteDestination {
    pub destination: Destination,
    /// Relative weight; a lone destination receives all traffic whatever its weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
}

impl HttpRouteDestination {
    pub fn to(destination: Destination) -> HttpRouteDestination {
        HttpRouteDestination {
            destination,
            ..HttpRouteDestination::default()
        }
    }
    pub fn weighted(destination: Destination, weight: i32) -> HttpRouteDestination {
        HttpRouteDestination {
            destination,
            weight: Some(weight),
            headers: None,
        }
    }
}

/// Retry policy. `attempts` is always written: `{attempts: 0}` alone disables retries.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpRetry {
    pub attempts: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<Duration>,
    /// Comma-separated tokens, no spaces (Istio does not trim them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_remote_localities: Option<bool>,
}

impl HttpRetry {
    /// `{attempts: 0}`: no retries (Istio would otherwise apply its default of 2).
    pub fn disabled() -> HttpRetry {
        HttpRetry::default()
    }

    pub fn attempts(attempts: i32) -> HttpRetry {
        HttpRetry {
            attempts,
            ..HttpRetry::default()
        }
    }

    /// Joins tokens the way Istio needs them: with `,` and no whitespace.
    pub fn with_retry_on<I, S>(mut self, tokens: I) -> HttpRetry
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined: Vec<String> = tokens
            .into_iter()
            .map(|t| t.as_ref().trim().to_owned())
            .collect();
        self.retry_on = if joined.is_empty() {
            None
        } else {
            Some(joined.join(","))
        };
        self
    }

    pub fn with_per_try_timeout(mut self, timeout: Duration) -> HttpRetry {
        self.per_try_timeout = Some(timeout);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpRewrite {
    /// Replaces the matched prefix (prefix match) or the whole path (exact/regex match).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri_regex_rewrite: Option<RegexRewrite>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegexRewrite {
    #[serde(rename = "match")]
    pub pattern: String,
    pub rewrite: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Headers {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<HeaderOperations>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<HeaderOperations>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeaderOperations {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub add: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TcpRoute {
    #[serde(rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<L4MatchAttributes>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<RouteDestination>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct L4MatchAttributes {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination_subnets: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RouteDestination {
    pub destination: Destination,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

impl RouteDestination {
    pub fn to(destination: Destination) -> RouteDestination {
        RouteDestination {
            destination,
            weight: None,
        }
    }
    pub fn weighted(destination: Destination, weight: i32) -> RouteDestination {
        RouteDestination {
            destination,
            weight: Some(weight),
        }
    }
}
