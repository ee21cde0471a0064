//! Rights preflight: one SelfSubjectAccessReview for every verb, resource and namespace the
//! plan's writes need, asked before anything is written, so a user learns every missing right at
//! once instead of a 403 half-way. Reads the server refused while planning join the same list.

use std::collections::BTreeSet;

use super::plan::Plan;
use super::{Change, ObjectKey};
use crate::cluster::Cluster;
use crate::cluster::access::{AccessAnswer, AccessRequest, review_all};

/// The right to `verb` the object `key` names (its resource, in its namespace): what a 403
/// while planning (a GET, or a LIST of its collection) adds to [`Plan::forbidden`].
pub fn request_for(verb: &str, key: &ObjectKey) -> AccessRequest {
    let plural = key
        .kind_info()
        .map_or_else(|| key.kind.to_ascii_lowercase(), |k| k.plural.to_owned());
    AccessRequest::new(verb, key.group(), &plural, key.namespace.as_deref())
}

/// The rights the plan's writes need.
pub fn needed<C: Change>(plan: &Plan<C>) -> Vec<AccessRequest> {
    let mut requests = BTreeSet::new();
    for item in &plan.items {
        let key = item.change.key();
        let Some(info) = key.kind_info() else {
            continue;
        };
        if item.decision.action.id == super::Action::UNREADABLE.id {
            for verb in item.change.possible_verbs() {
                requests.insert(AccessRequest::new(
                    verb,
                    info.group,
                    info.plural,
                    key.namespace.as_deref(),
                ));
            }
        }
        let exists = item.live.is_some();
        for operation in &item.decision.writes {
            for verb in operation.verbs(exists) {
                requests.insert(AccessRequest::new(
                    verb,
                    info.group,
                    info.plural,
                    key.namespace.as_deref(),
                ));
            }
        }
    }
    requests.into_iter().collect()
}

/// The rights the current user lacks: the reads refused while planning, then the writes' rights
/// the server denies. A review that itself failed is not reported: the write will tell.
pub async fn missing<C: Change>(cluster: &Cluster, plan: &Plan<C>) -> Vec<AccessAnswer> {
    let mut out: Vec<AccessAnswer> = plan
        .forbidden
        .iter()
        .map(|request| AccessAnswer {
            request: request.clone(),
            allowed: false,
            reason: Some("refused while planning: 403".into()),
            error: None,
        })
        .collect();
    let requests = needed(plan);
    if !requests.is_empty() {
        out.extend(
            review_all(&cluster.client, requests)
                .await
                .into_iter()
                .filter(|a| !a.allowed && a.error.is_none()),
        );
    }
    out
}

/// One line per missing right: `  not allowed to create virtualservices.networking.istio.io in
/// namespace shop`.
pub fn describe(denied: &[AccessAnswer]) -> String {
    denied
        .iter()
        .map(|a| {
            let reason = a
                .reason
                .as_deref()
                .filter(|r| !r.is_empty())
                .map(|r| format!(" ({})", super::write::bounded(r)))
                .unwrap_or_default();
            format!("  not allowed to {}{reason}", a.request)
        })
        .collect::<Vec<_>>()
        .join("\n")
}
