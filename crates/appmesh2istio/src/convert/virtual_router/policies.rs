//! Per-request policies of an HTTP/HTTP2/gRPC rule: timeout and retries (App Mesh's defaults
//! written out), and the target listeners' serving-side limits folded into the route timeout.
//!
//! Apart from the match and target translation because these are the settings App Mesh
//! splits between the route and the listener; the idle timeouts are in `idle`.

use crate::appmesh::common::HttpTimeout;
use crate::istio::{Duration, HttpRetry};
use crate::origin::ObjectRef;

use super::super::matches::Notes;
use super::super::retries::{self, RetryPolicy};
use super::super::route_idle;
use super::super::{Context, defaults};

use super::targets::{ListenerLimit, Target};
use super::{
    CODE_LISTENER_LIMIT, CODE_LISTENER_LIMIT_APPROXIMATED, DEFAULTS_DROPPED, RETRIES_DEFAULT,
    TIMEOUT_DEFAULT,
};

/// Timeout and retries of an HTTP/HTTP2/gRPC rule (its idle timeout: route_idle.rs).
pub(super) struct HttpPolicies {
    pub(super) timeout: Option<Duration>,
    pub(super) retries: Option<HttpRetry>,
}

pub(super) fn http_policies(
    ctx: &Context<'_>,
    source: &ObjectRef,
    field: &str,
    timeout: Option<&HttpTimeout>,
    retry: Option<&RetryPolicy<'_>>,
    targets: &[Target],
    notes: &mut Notes,
) -> HttpPolicies {
    let preserve = ctx.opts.preserve_defaults;
    let mut dropped: Vec<String> = Vec::new();
    // A VirtualNode provider has no timeout or retry fields: findings point at the provider.
    let (timeout_field, retry_field) = if source.kind == "VirtualService" {
        (field.to_owned(), field.to_owned())
    } else {
        (format!("{field}.timeout"), format!("{field}.retryPolicy"))
    };
    let per_request = timeout.and_then(|t| t.per_request.as_ref());
    // Istio's `timeout` is the budget for the request including retries, which is also what
    // App Mesh's per-request timeout bounds (it becomes Envoy's route timeout).
    let mut timeout_value = match per_request {
        Some(d) => retries::timeout(d, &format!("{field}.timeout.perRequest"), notes),
        None if preserve => Some(defaults::REQUEST_TIMEOUT),
        None => {
            dropped.push(format!("{} per-request timeout", defaults::REQUEST_TIMEOUT));
            None
        }
    };
    let retries_value = match retry {
        Some(policy) => Some(retries::retry_policy(
            policy,
            &format!("{field}.retryPolicy"),
            notes,
        )),
        None if preserve => {
            notes.add(
                RETRIES_DEFAULT,
                retry_field,
                format!(
                    "no retry policy: App Mesh's default ({} retries on {}) is written out",
                    defaults::RETRY_ATTEMPTS,
                    defaults::RETRY_ON.join(",")
                ),
            );
            Some(defaults::retry_policy())
        }
        None => {
            dropped.push("default retry policy".to_owned());
            None
        }
    };
    let lowered = apply_listener_limits(
        targets,
        &mut timeout_value,
        retries_value.as_ref(),
        &timeout_field,
        notes,
    );
    if per_request.is_none() && preserve && !lowered {
        notes.add(
            TIMEOUT_DEFAULT,
            timeout_field.clone(),
            format!(
                "no per-request timeout: App Mesh's default of {} is written out",
                defaults::REQUEST_TIMEOUT
            ),
        );
    }
    // A route's HTTP idle timeout is per request, which Istio cannot carry (route_idle.rs).
    route_idle::report_http_route_idle(
        timeout.and_then(|t| t.idle.as_ref()),
        field,
        &timeout_field,
        preserve,
        notes,
    );
    if !dropped.is_empty() {
        notes.add(
            DEFAULTS_DROPPED,
            field.to_owned(),
            format!(
                "not carried over (--no-preserve-defaults): App Mesh's implicit {}",
                join_words(&dropped)
            ),
        );
    }
    HttpPolicies {
        timeout: timeout_value,
        retries: retries_value,
    }
}

/// App Mesh enforces per-request timeouts on both sides: the caller's route timeout and the
/// serving listener's (15 s unless set), so a request ends after the smaller of the two.
/// Istio has no serving-side request timeout, so a tighter listener limit becomes the route's
/// `timeout`. (Not `perTryTimeout`: Envoy retries an attempt that hit its per-try timeout when
/// `reset` is a retry condition, as in App Mesh's default policy, while App Mesh's serving
/// side answered 504, which that policy does not retry.) Returns whether it lowered it.
fn apply_listener_limits(
    targets: &[Target],
    timeout: &mut Option<Duration>,
    retries: Option<&HttpRetry>,
    field: &str,
    notes: &mut Notes,
) -> bool {
    let limits: Vec<ListenerLimit> = targets.iter().filter_map(|t| t.listener_limit).collect();
    let Some(limit) = limits.iter().map(|l| l.timeout).min() else {
        return false;
    };
    if timeout.is_some_and(|t| t <= limit) {
        return false;
    }
    let before = timeout.map_or_else(|| "no timeout".to_owned(), |t| t.to_string());
    *timeout = Some(limit);
    let mut distinct: Vec<Duration> = limits.iter().map(|l| l.timeout).collect();
    distinct.sort();
    distinct.dedup();
    let retrying = retries.is_some_and(|r| r.attempts > 0);
    if distinct.len() > 1 || limits.len() < targets.len() {
        let each: Vec<String> = targets
            .iter()
            .map(|t| match t.listener_limit {
                Some(l) => format!("{} after {}", t.destination.host, l.timeout),
                None => format!("{} never", t.destination.host),
            })
            .collect();
        notes.add(
            CODE_LISTENER_LIMIT_APPROXIMATED,
            field.to_owned(),
            format!(
                "the targets' listeners end requests on the serving side at different times ({}); Istio cannot set that per destination, so the route's timeout is the smallest, {limit}, instead of {before}",
                each.join(", ")
            ),
        );
    } else {
        let origin = if limits.iter().all(|l| l.implicit) {
            "App Mesh's default for listeners without a perRequest timeout"
        } else {
            "its perRequest timeout"
        };
        let (code, retry_note) = if retrying {
            (
                CODE_LISTENER_LIMIT_APPROXIMATED,
                "; App Mesh applied it to each attempt, Istio's timeout covers the retries too",
            )
        } else {
            (CODE_LISTENER_LIMIT, "")
        };
        notes.add(
            code,
            field.to_owned(),
            format!(
                "the target's listener ends each request after {limit} ({origin}), which App Mesh enforced on the serving side and Istio cannot; the route's timeout is {limit} instead of {before}{retry_note}"
            ),
        );
    }
    true
}

pub(super) fn join_words(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
