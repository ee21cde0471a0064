//! Idle timeouts: TCP rules' idle timeout (App Mesh's default written out) and the idle
//! requests of HTTP routes, settled per target host once every route targeting it is known.
//!
//! Apart because Istio sets the idle timeout on the DestinationRule of the target, not on the
//! route, so it is decided after all routes are planned (see route_idle.rs for the HTTP rules).

use std::collections::BTreeMap;

use crate::appmesh::common::TcpTimeout;
use crate::appmesh::virtual_router::TcpRoute as AppMeshTcpRoute;
use crate::istio::{ConnectionPoolSettings, Duration, HttpSettings, TcpSettings, TrafficPolicy};
use crate::origin::ObjectRef;

use super::super::matches::Notes;
use super::super::retries::{self};
use super::super::{Context, defaults};

use super::targets::{Target, rule_namespace};
use super::{CODE_DEFAULT_IDLE, CODE_IDLE_APPROXIMATED, DEFAULTS_DROPPED, IdleRequest, RouteInput};

pub(super) fn tcp_idle(
    ctx: &Context<'_>,
    input: &RouteInput<'_>,
    tcp: &AppMeshTcpRoute,
    targets: &[Target],
    notes: &mut Notes,
) -> Vec<IdleRequest> {
    let field = format!("{}.timeout", input.field);
    match tcp
        .timeout
        .as_ref()
        .and_then(|t: &TcpTimeout| t.idle.as_ref())
    {
        Some(d) => {
            let here = format!("{field}.idle");
            let value = retries::tcp_idle_timeout(d, &here, notes);
            idle_requests(ctx, input.source, &here, targets, true, Some(value), true)
        }
        None => default_tcp_idle(ctx, input.source, &field, targets, notes),
    }
}

pub(super) fn default_tcp_idle(
    ctx: &Context<'_>,
    source: &ObjectRef,
    field: &str,
    targets: &[Target],
    notes: &mut Notes,
) -> Vec<IdleRequest> {
    if ctx.opts.preserve_defaults {
        notes.add(
            CODE_DEFAULT_IDLE,
            field.to_owned(),
            format!("no idle timeout: App Mesh's default of {} is written to the DestinationRule of each target", defaults::IDLE_TIMEOUT),
        );
        idle_requests(
            ctx,
            source,
            field,
            targets,
            true,
            Some(defaults::IDLE_TIMEOUT),
            false,
        )
    } else {
        notes.add(
            DEFAULTS_DROPPED,
            field.to_owned(),
            format!(
                "not carried over (--no-preserve-defaults): App Mesh's implicit {} idle timeout",
                defaults::IDLE_TIMEOUT
            ),
        );
        Vec::new()
    }
}

fn idle_requests(
    ctx: &Context<'_>,
    source: &ObjectRef,
    field: &str,
    targets: &[Target],
    tcp: bool,
    value: Option<Duration>,
    explicit: bool,
) -> Vec<IdleRequest> {
    let mut out: Vec<IdleRequest> = Vec::new();
    for t in targets {
        let host = t.destination.host.clone();
        if out.iter().any(|r| r.host == host) {
            continue;
        }
        out.push(IdleRequest {
            namespace: rule_namespace(ctx, &host, &t.namespace),
            host,
            tcp,
            value,
            explicit,
            source: source.clone(),
            field: field.to_owned(),
        });
    }
    out
}

/// Write the idle timeouts the kept routes ask for into the DestinationRules of their target
/// hosts. One DestinationRule serves every route to a host, so when routes disagree the
/// longest explicit value wins (no route sees connections closed earlier than it allowed),
/// and each route that asked for something else is told.
pub(crate) fn apply_idle_timeouts(ctx: &mut Context<'_>, requests: Vec<IdleRequest>) {
    let mut by_target: BTreeMap<(String, bool), Vec<IdleRequest>> = BTreeMap::new();
    for r in requests {
        by_target
            .entry((r.host.clone(), r.tcp))
            .or_default()
            .push(r);
    }
    for ((host, tcp), requests) in by_target {
        let explicit: Vec<&IdleRequest> = requests.iter().filter(|r| r.explicit).collect();
        let pool = if explicit.is_empty() {
            requests.iter().collect::<Vec<_>>()
        } else {
            explicit
        };
        // TCP `0s` (disabled) outlasts any duration.
        let Some(chosen) = pool
            .iter()
            .filter_map(|r| r.value)
            .max_by_key(|d| if d.is_zero() { u64::MAX } else { d.as_millis() })
        else {
            continue;
        };
        let Some(first) = requests.first() else {
            continue;
        };
        let namespace = first.namespace.clone();
        let existing = {
            let dr = ctx
                .output
                .destination_rule(&host, &namespace, &first.source);
            let pool = dr
                .traffic_policy
                .get_or_insert_with(TrafficPolicy::default)
                .connection_pool
                .get_or_insert_with(ConnectionPoolSettings::default);
            let slot = if tcp {
                &mut pool
                    .tcp
                    .get_or_insert_with(TcpSettings::default)
                    .idle_timeout
            } else {
                &mut pool
                    .http
                    .get_or_insert_with(HttpSettings::default)
                    .idle_timeout
            };
            match *slot {
                Some(existing) => Some(existing),
                None => {
                    *slot = Some(chosen);
                    None
                }
            }
        };
        let effective = existing.unwrap_or(chosen);
        for r in &requests {
            ctx.output.destination_rule(&host, &namespace, &r.source);
            if r.value != Some(effective) {
                let asked = r.value.map_or_else(
                    || "no idle timeout".to_owned(),
                    |d| {
                        if d.is_zero() {
                            "no idle timeout (0)".to_owned()
                        } else {
                            d.to_string()
                        }
                    },
                );
                let why = if existing.is_some() {
                    "it already set by the VirtualNode's own policies"
                } else {
                    "the longest explicit value of the routes to that host"
                };
                ctx.note(
                    CODE_IDLE_APPROXIMATED,
                    &r.source,
                    &r.field,
                    format!(
                        "this route asks for {asked} but the one DestinationRule of host {host} uses {} for {} connections ({why})",
                        if effective.is_zero() { "0s (disabled)".to_owned() } else { effective.to_string() },
                        if tcp { "TCP" } else { "HTTP" }
                    ),
                );
            }
        }
    }
}
