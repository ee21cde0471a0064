//! App Mesh behaviour that is invisible in manifests but real at runtime.
//!
//! App Mesh's Envoy configuration applies these when a route or listener does not say
//! otherwise (App Mesh user guide, "Envoy defaults"); Istio's defaults differ (no request
//! timeout; retries on connect-failure,refused-stream,unavailable,cancelled), so a faithful
//! migration writes them out.

use crate::istio::{Duration, HttpRetry};

/// Per-request timeout of every HTTP/HTTP2/gRPC route and of VirtualNode-provided services.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Idle timeout of HTTP and TCP connections (listeners and routes).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Retries App Mesh performs when a route has no retry policy.
pub const RETRY_ATTEMPTS: i32 = 2;

/// The events of App Mesh's default retry policy, in Istio's `retryOn` vocabulary: HTTP 503,
/// connection failures, refused streams, resets, and gRPC UNAVAILABLE.
pub const RETRY_ON: [&str; 5] = [
    "503",
    "connect-failure",
    "refused-stream",
    "reset",
    "unavailable",
];

/// App Mesh's default retry policy as an Istio `HTTPRetry`.
pub fn retry_policy() -> HttpRetry {
    HttpRetry::attempts(RETRY_ATTEMPTS).with_retry_on(RETRY_ON)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serialise_as_istio_expects() {
        assert_eq!(serde_json::to_value(REQUEST_TIMEOUT).unwrap(), "15s");
        assert_eq!(serde_json::to_value(IDLE_TIMEOUT).unwrap(), "300s");
        let retry = serde_json::to_value(retry_policy()).unwrap();
        assert_eq!(retry["attempts"], 2);
        assert_eq!(
            retry["retryOn"],
            "503,connect-failure,refused-stream,reset,unavailable"
        );
    }
}
