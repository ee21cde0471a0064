//! App Mesh `retryPolicy` → Istio `HTTPRetry`, and App Mesh durations → Istio durations
//! (istio-mapping.md §5).

use crate::appmesh::common::Duration as AppMeshDuration;
use crate::appmesh::virtual_router::{
    GrpcRetryPolicy, GrpcRetryPolicyEvent, HttpRetryPolicy, HttpRetryPolicyEvent,
    TcpRetryPolicyEvent,
};
use crate::istio::{Duration, HttpRetry, clamp_i32};

use super::matches::Notes;

/// `maxRetries` does not fit Istio's int32 `attempts`.
pub(crate) const CODE_ATTEMPTS_CLAMPED: &str = "AMI2107";
/// A retry policy without any retry event.
pub(crate) const CODE_NO_RETRY_EVENTS: &str = "AMI2108";
/// A duration outside what App Mesh or Istio accept.
pub(crate) const CODE_DURATION_RANGE: &str = "AMI2116";

/// The retry policy of an HTTP/HTTP2 or a gRPC route, whichever it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy<'a> {
    pub max_retries: i64,
    pub per_retry_timeout: &'a AppMeshDuration,
    pub http_events: &'a [HttpRetryPolicyEvent],
    pub tcp_events: &'a [TcpRetryPolicyEvent],
    pub grpc_events: &'a [GrpcRetryPolicyEvent],
}

impl<'a> From<&'a HttpRetryPolicy> for RetryPolicy<'a> {
    fn from(p: &'a HttpRetryPolicy) -> RetryPolicy<'a> {
        RetryPolicy {
            max_retries: p.max_retries,
            per_retry_timeout: &p.per_retry_timeout,
            http_events: &p.http_retry_events,
            tcp_events: &p.tcp_retry_events,
            grpc_events: &[],
        }
    }
}

impl<'a> From<&'a GrpcRetryPolicy> for RetryPolicy<'a> {
    fn from(p: &'a GrpcRetryPolicy) -> RetryPolicy<'a> {
        RetryPolicy {
            max_retries: p.max_retries,
            per_retry_timeout: &p.per_retry_timeout,
            http_events: &p.http_retry_events,
            tcp_events: &p.tcp_retry_events,
            grpc_events: &p.grpc_retry_events,
        }
    }
}

/// Istio `retryOn` tokens of one App Mesh HTTP retry event.
fn http_event_tokens(event: HttpRetryPolicyEvent) -> &'static [&'static str] {
    match event {
        // App Mesh: HTTP 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511, plus Envoy's
        // `reset`. Envoy's `5xx` would also retry connect failures, so the codes are listed.
        HttpRetryPolicyEvent::ServerError => &[
            "500", "501", "502", "503", "504", "505", "506", "507", "508", "510", "511", "reset",
        ],
        // App Mesh: 502, 503, 504 plus `reset` (API_HttpRetryPolicy).
        HttpRetryPolicyEvent::GatewayError => &["gateway-error", "reset"],
        // App Mesh: 409 only.
        HttpRetryPolicyEvent::ClientError => &["409"],
        HttpRetryPolicyEvent::StreamError => &["refused-stream"],
    }
}

fn tcp_event_token(event: TcpRetryPolicyEvent) -> &'static str {
    // App Mesh documents `connection-error` as a failure to connect before any request
    // processing began, which is what Envoy's (and so Istio's) `connect-failure` retries.
    match event {
        TcpRetryPolicyEvent::ConnectionError => "connect-failure",
    }
}

fn grpc_event_token(event: GrpcRetryPolicyEvent) -> &'static str {
    match event {
        GrpcRetryPolicyEvent::Cancelled => "cancelled",
        GrpcRetryPolicyEvent::DeadlineExceeded => "deadline-exceeded",
        GrpcRetryPolicyEvent::Internal => "internal",
        GrpcRetryPolicyEvent::ResourceExhausted => "resource-exhausted",
        GrpcRetryPolicyEvent::Unavailable => "unavailable",
    }
}

/// The `retryOn` tokens of a policy, in App Mesh's order, without duplicates.
pub(crate) fn retry_on_tokens(policy: &RetryPolicy<'_>) -> Vec<&'static str> {
    let mut tokens: Vec<&'static str> = Vec::new();
    let all = policy
        .http_events
        .iter()
        .flat_map(|e| http_event_tokens(*e).iter().copied())
        .chain(policy.tcp_events.iter().map(|e| tcp_event_token(*e)))
        .chain(policy.grpc_events.iter().map(|e| grpc_event_token(*e)));
    for token in all {
        if !tokens.contains(&token) {
            tokens.push(token);
        }
    }
    tokens
}

/// App Mesh retry event names written as one comma-separated string (Flagger's
/// `service.retries.retryOn` with an App Mesh provider, which Flagger splits into the
/// VirtualRouter's `httpRetryEvents`) as Istio `retryOn` tokens, with the same mapping as
/// routes. Returns the tokens and the names App Mesh does not know (kept out).
pub(crate) fn app_mesh_retry_on(events: &str) -> (Vec<&'static str>, Vec<String>) {
    let mut http = Vec::new();
    let mut tcp = Vec::new();
    let mut unknown = Vec::new();
    for name in events.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let value = serde_json::Value::String(name.to_owned());
        if let Ok(event) = serde_json::from_value::<HttpRetryPolicyEvent>(value.clone()) {
            http.push(event);
        } else if let Ok(event) = serde_json::from_value::<TcpRetryPolicyEvent>(value) {
            tcp.push(event);
        } else {
            unknown.push(name.to_owned());
        }
    }
    let no_timeout = AppMeshDuration {
        unit: crate::appmesh::common::DurationUnit::Milliseconds,
        value: 0,
    };
    let tokens = retry_on_tokens(&RetryPolicy {
        max_retries: 0,
        per_retry_timeout: &no_timeout,
        http_events: &http,
        tcp_events: &tcp,
        grpc_events: &[],
    });
    (tokens, unknown)
}

/// An explicit App Mesh retry policy as Istio retries. `field` is the path of `retryPolicy`.
pub(crate) fn retry_policy(policy: &RetryPolicy<'_>, field: &str, notes: &mut Notes) -> HttpRetry {
    if policy.max_retries <= 0 {
        if policy.max_retries < 0 {
            notes.add(
                CODE_ATTEMPTS_CLAMPED,
                format!("{field}.maxRetries"),
                format!(
                    "maxRetries {} is negative (App Mesh requires >= 0); no retries are configured",
                    policy.max_retries
                ),
            );
        }
        // Istio rejects any other retry setting next to `attempts: 0`.
        return HttpRetry::disabled();
    }
    let attempts = clamp_i32(policy.max_retries);
    if i64::from(attempts) != policy.max_retries {
        notes.add(
            CODE_ATTEMPTS_CLAMPED,
            format!("{field}.maxRetries"),
            format!(
                "maxRetries {} exceeds Istio's limit; {attempts} attempts are configured",
                policy.max_retries
            ),
        );
    }
    let tokens = retry_on_tokens(policy);
    if tokens.is_empty() {
        notes.add(
            CODE_NO_RETRY_EVENTS,
            field.to_owned(),
            "the retry policy lists no httpRetryEvents, tcpRetryEvents or grpcRetryEvents (App Mesh requires at least one); Istio retries on its default conditions (connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes)",
        );
    }
    let mut retry = HttpRetry::attempts(attempts).with_retry_on(tokens);
    if let Some(per_try) = timeout(
        policy.per_retry_timeout,
        &format!("{field}.perRetryTimeout"),
        notes,
    ) {
        retry = retry.with_per_try_timeout(per_try);
    }
    retry
}

/// An App Mesh timeout as an Istio duration; `None` when it is 0, which disables the timeout
/// in App Mesh and is written in Istio by leaving the field out.
pub(crate) fn timeout(d: &AppMeshDuration, field: &str, notes: &mut Notes) -> Option<Duration> {
    let millis = d.to_millis();
    if millis < 0 {
        notes.add(
            CODE_DURATION_RANGE,
            field.to_owned(),
            format!(
                "negative duration {} (App Mesh requires >= 0); treated as 0, i.e. no timeout",
                d.value
            ),
        );
        return None;
    }
    let millis = u64::try_from(millis).unwrap_or(0);
    if millis == 0 {
        return None;
    }
    if millis > Duration::MAX_GO_MILLIS {
        let max = Duration::from_millis(Duration::MAX_GO_MILLIS);
        notes.add(
            CODE_DURATION_RANGE,
            field.to_owned(),
            format!("duration of {millis} ms is longer than Istio can represent; {max} is used"),
        );
        return Some(max);
    }
    Some(Duration::from_millis(millis))
}

/// An App Mesh TCP idle timeout: 0 disables it, which Istio writes as `0s` in
/// `connectionPool.tcp.idleTimeout` (the one duration where zero is legal).
pub(crate) fn tcp_idle_timeout(d: &AppMeshDuration, field: &str, notes: &mut Notes) -> Duration {
    timeout(d, field, notes).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appmesh::common::DurationUnit;

    fn ms(value: i64) -> AppMeshDuration {
        AppMeshDuration {
            unit: DurationUnit::Milliseconds,
            value,
        }
    }

    fn policy<'a>(
        max: i64,
        per_try: &'a AppMeshDuration,
        http: &'a [HttpRetryPolicyEvent],
    ) -> RetryPolicy<'a> {
        RetryPolicy {
            max_retries: max,
            per_retry_timeout: per_try,
            http_events: http,
            tcp_events: &[],
            grpc_events: &[],
        }
    }

    #[test]
    fn http_events_become_exact_retry_on_tokens() {
        use HttpRetryPolicyEvent::*;
        let per_try = ms(250);
        let events = [ServerError, GatewayError, ClientError, StreamError];
        let mut notes = Notes::default();
        let retry = retry_policy(&policy(3, &per_try, &events), "r", &mut notes);
        assert_eq!(retry.attempts, 3);
        assert_eq!(retry.per_try_timeout, Some(Duration::from_millis(250)));
        assert_eq!(
            retry.retry_on.as_deref(),
            Some(
                "500,501,502,503,504,505,506,507,508,510,511,reset,gateway-error,409,refused-stream"
            )
        );
        assert!(notes.is_empty());
    }

    #[test]
    fn tcp_and_grpc_events() {
        let per_try = AppMeshDuration {
            unit: DurationUnit::Seconds,
            value: 2,
        };
        let p = RetryPolicy {
            max_retries: 1,
            per_retry_timeout: &per_try,
            http_events: &[],
            tcp_events: &[TcpRetryPolicyEvent::ConnectionError],
            grpc_events: &[
                GrpcRetryPolicyEvent::Unavailable,
                GrpcRetryPolicyEvent::DeadlineExceeded,
            ],
        };
        let retry = retry_policy(&p, "r", &mut Notes::default());
        assert_eq!(
            retry.retry_on.as_deref(),
            Some("connect-failure,unavailable,deadline-exceeded")
        );
        assert_eq!(retry.per_try_timeout, Some(Duration::from_secs(2)));
    }

    #[test]
    fn zero_retries_stand_alone_and_clamping_is_reported() {
        let per_try = ms(100);
        let retry = retry_policy(
            &policy(0, &per_try, &[HttpRetryPolicyEvent::ServerError]),
            "r",
            &mut Notes::default(),
        );
        assert_eq!(retry, HttpRetry::disabled());
        let mut notes = Notes::default();
        let retry = retry_policy(
            &policy(i64::MAX, &ms(0), &[HttpRetryPolicyEvent::StreamError]),
            "r",
            &mut notes,
        );
        assert_eq!(retry.attempts, i32::MAX);
        assert_eq!(retry.per_try_timeout, None, "0 means no per-try limit");
        assert_eq!(
            notes.iter().map(|n| n.code).collect::<Vec<_>>(),
            vec![CODE_ATTEMPTS_CLAMPED]
        );
    }

    #[test]
    fn flagger_retry_on_uses_the_route_mapping() {
        let (tokens, unknown) = app_mesh_retry_on("gateway-error,client-error, stream-error");
        assert_eq!(tokens, ["gateway-error", "reset", "409", "refused-stream"]);
        assert!(unknown.is_empty());
        let (tokens, unknown) = app_mesh_retry_on("server-error,connection-error,5xx");
        assert_eq!(tokens.len(), 13, "{tokens:?}");
        assert_eq!(tokens.last(), Some(&"connect-failure"));
        assert_eq!(unknown, ["5xx"]);
    }

    #[test]
    fn durations() {
        let mut notes = Notes::default();
        assert_eq!(timeout(&ms(0), "t", &mut notes), None);
        assert_eq!(
            timeout(
                &AppMeshDuration {
                    unit: DurationUnit::Seconds,
                    value: 30
                },
                "t",
                &mut notes
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(tcp_idle_timeout(&ms(0), "t", &mut notes), Duration::ZERO);
        assert!(notes.is_empty());
        let huge = AppMeshDuration {
            unit: DurationUnit::Seconds,
            value: i64::MAX,
        };
        assert_eq!(
            timeout(&huge, "t", &mut notes),
            Some(Duration::from_millis(Duration::MAX_GO_MILLIS))
        );
        assert_eq!(timeout(&ms(-1), "t", &mut notes), None);
        assert_eq!(notes.iter().count(), 2);
    }
}
