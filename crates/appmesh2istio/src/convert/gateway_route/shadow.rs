//! Unreachable-rule detection among the rules placed in one gateway VirtualService.
//!
//! Apart because it is a self-contained index over rules (by uri condition) whose only
//! question is whether an earlier rule hides a later one; placement in `mod.rs` only asks it.

use std::collections::BTreeMap;

use crate::istio::uri_index::{UriIndex, uri_covers};
use crate::istio::{HttpMatchRequest, HttpRoute, StringMatch};

/// The rules placed so far in one VirtualService, indexed so that finding the first one that
/// hides a new rule looks only at rules whose uri condition could (a gateway host with
/// hundreds of routes would otherwise cost a scan of all earlier rules per rule).
#[derive(Debug, Default)]
pub(super) struct PlacedRules {
    /// The first placed rule without match conditions: it hides every later rule.
    catch_all: Option<usize>,
    uris: UriIndex,
}

impl PlacedRules {
    pub(super) fn push(&mut self, id: usize, rule: &HttpRoute) {
        if rule.matches.is_empty() {
            self.catch_all.get_or_insert(id);
        }
        for m in &rule.matches {
            self.uris.insert(m.uri.as_ref(), id);
        }
    }

    /// The position in `placed` of the first rule that [`shadows`] `rule`. An earlier rule
    /// with conditions must cover the first condition of `rule`, uri included, so only the
    /// rules the uri index yields for it are candidates.
    pub(super) fn first_shadowing<T>(
        &self,
        placed: &[(T, HttpRoute)],
        rule: &HttpRoute,
    ) -> Option<usize> {
        let Some(first) = rule.matches.first() else {
            return self.catch_all;
        };
        self.uris
            .covering(first.uri.as_ref())
            .into_iter()
            .take_while(|&i| self.catch_all.is_none_or(|c| i < c))
            .find(|&i| {
                placed
                    .get(i)
                    .is_some_and(|(_, earlier)| shadows(earlier, rule))
            })
            .or(self.catch_all)
    }
}

/// Whether `earlier` matches every request `later` matches (so Istio, like App Mesh, never
/// reaches `later`). Each condition of an earlier match must hold for the later one.
pub(super) fn shadows(earlier: &HttpRoute, later: &HttpRoute) -> bool {
    if earlier.matches.is_empty() {
        return true;
    }
    !later.matches.is_empty()
        && later
            .matches
            .iter()
            .all(|l| earlier.matches.iter().any(|e| match_covers(e, l)))
}

fn match_covers(e: &HttpMatchRequest, l: &HttpMatchRequest) -> bool {
    let uri = uri_covers(e.uri.as_ref(), l.uri.as_ref());
    let option = |a: &Option<StringMatch>, b: &Option<StringMatch>| a.is_none() || a == b;
    let map = |a: &BTreeMap<String, StringMatch>, b: &BTreeMap<String, StringMatch>| {
        a.iter().all(|(k, v)| b.get(k) == Some(v))
    };
    uri && option(&e.scheme, &l.scheme)
        && option(&e.method, &l.method)
        && option(&e.authority, &l.authority)
        && map(&e.headers, &l.headers)
        && map(&e.query_params, &l.query_params)
        && map(&e.without_headers, &l.without_headers)
        && (e.port.is_none() || e.port == l.port)
        && e.ignore_uri_case == l.ignore_uri_case
        && e.source_labels
            .iter()
            .all(|(k, v)| l.source_labels.get(k) == Some(v))
        && e.gateways.iter().all(|g| l.gateways.contains(g))
}
