//! A GatewayRoute's hostname condition and how it maps onto the hosts Istio picks a
//! VirtualService by.
//!
//! Apart from the ordering and placement in `mod.rs` because this is the one question of
//! which requests of a VirtualService host a condition admits (fully, partly, or not at
//! all), and which `:authority` condition the partial case needs.

use crate::appmesh::gateway_route::GatewayRouteHostnameMatch;
use crate::istio::StringMatch;
use crate::validate::primitives;

use super::super::matches::{self};

/// A GatewayRoute's hostname condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HostMatch {
    Any,
    Exact(String),
    Suffix(String),
}

/// How far a GatewayRoute's hostname condition admits the requests of one VirtualService host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Coverage {
    /// Every request for the host passes the condition.
    Full,
    /// Some do: the routes need an `:authority` condition there.
    Partial,
    None,
}

/// A name a Gateway server and a VirtualService can both use as a host.
fn is_gateway_host(host: &str) -> bool {
    !host.contains('*') && primitives::namespace_slash_host(host, true).is_ok()
}

impl HostMatch {
    pub(super) fn of(hostname: Option<&GatewayRouteHostnameMatch>) -> HostMatch {
        let Some(h) = hostname else {
            return HostMatch::Any;
        };
        // Host names are case-insensitive; Istio hosts are written in lower case.
        match (&h.exact, &h.suffix) {
            (Some(exact), _) => HostMatch::Exact(exact.trim_end_matches('.').to_ascii_lowercase()),
            (None, Some(suffix)) => {
                HostMatch::Suffix(suffix.trim_end_matches('.').to_ascii_lowercase())
            }
            (None, None) => HostMatch::Any,
        }
    }

    /// A suffix that starts at a label boundary: `*` + it is an Istio wildcard host.
    fn is_label_suffix(suffix: &str) -> bool {
        suffix.strip_prefix('.').is_some_and(is_gateway_host)
    }

    /// The VirtualService host whose requests this condition is mostly about; conditions no
    /// Istio host can express live in `*` with an `:authority` regex.
    pub(super) fn own_host(&self) -> String {
        match self {
            HostMatch::Exact(h) if is_gateway_host(h) => h.clone(),
            HostMatch::Suffix(s) if HostMatch::is_label_suffix(s) => format!("*{s}"),
            _ => "*".to_owned(),
        }
    }

    /// Whether the condition needs an `:authority` regex even in its own VirtualService.
    pub(super) fn needs_authority(&self) -> bool {
        match self {
            HostMatch::Any => false,
            HostMatch::Exact(h) => !is_gateway_host(h),
            HostMatch::Suffix(s) => !HostMatch::is_label_suffix(s),
        }
    }

    /// How the condition admits the requests Istio sends to the VirtualService of `host`
    /// (an exact name, `*.<domain>` or `*`).
    pub(super) fn coverage(&self, host: &str) -> Coverage {
        let wildcard = host.strip_prefix('*');
        match (self, wildcard) {
            (HostMatch::Any, _) => Coverage::Full,
            (HostMatch::Exact(h), None) => {
                if h == host {
                    Coverage::Full
                } else {
                    Coverage::None
                }
            }
            // A DNS name has its own, more specific VirtualService.
            (HostMatch::Exact(h), Some(_)) if is_gateway_host(h) => Coverage::None,
            (HostMatch::Exact(h), Some(t)) => {
                if h.ends_with(t) {
                    Coverage::Partial
                } else {
                    Coverage::None
                }
            }
            (HostMatch::Suffix(s), None) => {
                if host.ends_with(s.as_str()) {
                    Coverage::Full
                } else {
                    Coverage::None
                }
            }
            (HostMatch::Suffix(s), Some(t)) => {
                if !t.is_empty() && t.ends_with(s.as_str()) {
                    Coverage::Full
                } else if !HostMatch::is_label_suffix(s) && s.ends_with(t) {
                    // Istio sends the hosts ending in `s` that no more specific host claims
                    // to `*<t>`; a label suffix has its own `*<s>`, more specific than `*<t>`.
                    Coverage::Partial
                } else {
                    Coverage::None
                }
            }
        }
    }

    /// The `:authority` regex of the condition (a Host header may carry a port).
    pub(super) fn authority(&self) -> Option<StringMatch> {
        match self {
            HostMatch::Any => None,
            HostMatch::Exact(h) => Some(StringMatch::regex(format!(
                "{}(:[0-9]+)?",
                matches::escape_re2(h)
            ))),
            HostMatch::Suffix(s) => Some(StringMatch::regex(format!(
                ".*{}(:[0-9]+)?",
                matches::escape_re2(s)
            ))),
        }
    }

    /// Exact names before suffixes before no condition, among otherwise equal routes.
    pub(super) fn specificity(&self) -> u8 {
        match self {
            HostMatch::Exact(_) => 0,
            HostMatch::Suffix(_) => 1,
            HostMatch::Any => 2,
        }
    }
}

pub(super) fn describe_host(host: &HostMatch) -> String {
    match host {
        HostMatch::Any => "(none)".to_owned(),
        HostMatch::Exact(h) => format!("exact {h:?}"),
        HostMatch::Suffix(s) => format!("suffix {s:?}"),
    }
}
