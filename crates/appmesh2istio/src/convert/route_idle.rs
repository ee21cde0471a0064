//! The idle timeout of an HTTP, HTTP/2 or gRPC route (`timeout.idle`), which Istio cannot
//! carry.
//!
//! App Mesh applies a route's idle timeout per request: it is Envoy's route-level
//! `idle_timeout`, which resets a stream (an HTTP request, a gRPC call) that sees no traffic
//! for that long. Users of long gRPC streams saw `RST_STREAM` after exactly the route's idle
//! time, or after its 300 s default (aws-app-mesh-roadmap#302). Istio has no per-route idle
//! timeout (istio#24565), and its sidecars and gateways disable Envoy's stream idle timeout
//! altogether (`stream_idle_timeout: 0s` in every HTTP connection manager Istio builds), so an
//! idle request is never reset. The only idle timeout Istio exposes for HTTP,
//! DestinationRule `connectionPool.http.idleTimeout`, is another timer: it closes upstream
//! connections that carry no request, and never touches a request in flight.
//!
//! So nothing is written for a route's idle timeout: a set value is reported as approximated
//! ([`CODE_STREAM_IDLE`]) with what differs (0, which switched the reset off, is exact), and App Mesh's implicit 300 s is reported (info,
//! AMI2109) as not written, because writing it to the DestinationRule (as this converter did
//! before) only closed idle upstream connections after 5 minutes instead of Istio's hour and
//! kept nothing of App Mesh's behaviour. TCP routes are different: their idle timeout is a
//! connection timeout on both sides and still goes to `connectionPool.tcp.idleTimeout`.

use crate::appmesh::common::Duration as AppMeshDuration;

use super::matches::Notes;
use super::{defaults, retries};

/// A route idle timeout App Mesh applied per request, which Istio cannot apply.
pub(crate) const CODE_STREAM_IDLE: &str = "AMI2125";
/// App Mesh's implicit route idle timeout, not written.
pub(crate) const CODE_DEFAULT_IDLE: &str = "AMI2109";

/// Reports what becomes of the `timeout.idle` of an HTTP/HTTP2/gRPC route (`idle`), or of
/// App Mesh's default when it is unset and defaults are preserved. `field` is the route's
/// path, `default_field` where a finding about the default points.
pub(crate) fn report_http_route_idle(
    idle: Option<&AppMeshDuration>,
    field: &str,
    default_field: &str,
    preserve_defaults: bool,
    notes: &mut Notes,
) {
    match idle {
        Some(d) => {
            let here = format!("{field}.timeout.idle");
            // Idle 0 turned App Mesh's per-request idle timeout off, which is what Istio's
            // sidecars do for every request: exact, nothing to say.
            if let Some(value) = retries::timeout(d, &here, notes) {
                notes.add(
                    CODE_STREAM_IDLE,
                    here,
                    format!(
                        "App Mesh reset a request (stream) that saw no traffic for {value}; Istio has no per-route idle timeout and its sidecars never reset an idle request, so idle requests stay open until the route timeout or the peer ends them; nothing is written (DestinationRule connectionPool.http.idleTimeout would only close idle upstream connections)"
                    ),
                );
            }
        }
        None if preserve_defaults => notes.add(
            CODE_DEFAULT_IDLE,
            default_field.to_owned(),
            format!(
                "no idle timeout: App Mesh reset requests idle for {} (its default); Istio's sidecars never reset an idle request, and no Istio field restores it, so nothing is written",
                defaults::IDLE_TIMEOUT
            ),
        ),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notes_of(
        idle: Option<&AppMeshDuration>,
        preserve: bool,
    ) -> Vec<(&'static str, String, String)> {
        let mut notes = Notes::default();
        report_http_route_idle(
            idle,
            "spec.routes[0].httpRoute",
            "spec.routes[0].httpRoute.timeout",
            preserve,
            &mut notes,
        );
        notes
            .iter()
            .map(|n| (n.code, n.field.clone(), n.message.clone()))
            .collect()
    }

    fn secs(value: i64) -> AppMeshDuration {
        serde_json::from_value(serde_json::json!({"unit": "s", "value": value})).unwrap()
    }

    #[test]
    fn a_set_route_idle_timeout_is_approximated_with_what_differs() {
        let got = notes_of(Some(&secs(5)), true);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, CODE_STREAM_IDLE);
        assert_eq!(got[0].1, "spec.routes[0].httpRoute.timeout.idle");
        assert!(
            got[0]
                .2
                .contains("reset a request (stream) that saw no traffic for 5s"),
            "{}",
            got[0].2
        );
        assert!(got[0].2.contains("nothing is written"), "{}", got[0].2);
        // Idle 0 switched the reset off, as Istio's sidecars do for every request.
        assert!(notes_of(Some(&secs(0)), true).is_empty());
    }

    #[test]
    fn the_default_is_reported_only_when_defaults_are_preserved() {
        let got = notes_of(None, true);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, CODE_DEFAULT_IDLE);
        assert_eq!(got[0].1, "spec.routes[0].httpRoute.timeout");
        assert!(got[0].2.contains("300s"), "{}", got[0].2);
        assert!(notes_of(None, false).is_empty());
    }
}
