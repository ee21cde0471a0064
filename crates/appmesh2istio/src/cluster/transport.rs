//! The one retry policy for API calls, and the request counter, as a tower layer on top of
//! kube's client stack so that every request (lists, discovery, access reviews, patches) goes
//! through them whichever code path sends it.
//!
//! What is retried, and why:
//! - `429 Too Many Requests`, for every method: API Priority and Fairness rejects the request
//!   before executing it, so even a POST is safe to resend. `Retry-After` is honoured (up to
//!   [`RetryPolicy::max_retry_after`]; a server asking for longer is answered with the 429).
//! - `500`, `502`, `503`, `504` and transport errors, for idempotent methods only (GET, HEAD,
//!   OPTIONS): a write that failed that way may or may not have been applied, and resending a
//!   create or a JSON patch blindly could apply it twice. The caller decides for writes.
//! - Connection failures (the request never left this process), for every method.
//! - Never our own `--request-timeout`: the user asked for that bound.
//!
//! Attempts are bounded ([`RetryPolicy::max_attempts`]) with exponential backoff and jitter.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Method, Request, Response};
use kube::client::Body;
use tower::{BoxError, Layer, Service, ServiceExt};

/// When and how long to wait before resending a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubled for each further retry.
    pub base_delay: Duration,
    /// Cap of the exponential backoff.
    pub max_delay: Duration,
    /// The longest `Retry-After` we wait for.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// What one attempt ended with, as the policy needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// The connection could not be established: the request was never sent.
    ConnectFailed,
    /// The connection broke after the request may have been sent.
    TransportFailed,
    /// Our own `--request-timeout` elapsed.
    TimedOut,
}

impl RetryPolicy {
    /// Methods that can be resent without changing the result.
    pub fn is_idempotent(method: &Method) -> bool {
        matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
    }

    /// The delay before the next attempt, or `None` to return `outcome` to the caller.
    /// `attempts` is the number of attempts made so far (1 after the first).
    pub fn delay(&self, method: &Method, outcome: &Outcome, attempts: u32) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let idempotent = Self::is_idempotent(method);
        let (retry, retry_after) = match outcome {
            Outcome::Status {
                code: 429,
                retry_after,
            } => (true, *retry_after),
            Outcome::Status {
                code: 500 | 502 | 503 | 504,
                retry_after,
            } => (idempotent, *retry_after),
            Outcome::Status { .. } => (false, None),
            Outcome::ConnectFailed => (true, None),
            Outcome::TransportFailed => (idempotent, None),
            Outcome::TimedOut => (false, None),
        };
        if !retry {
            return None;
        }
        match retry_after {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait),
            None => Some(self.backoff(attempts)),
        }
    }

    /// Exponential backoff with up to 25 % jitter, so that many clients rejected together do
    /// not come back together.
    fn backoff(&self, attempts: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        let jitter_permille = RandomState::new().hash_one(attempts) % 250;
        capped + capped.mul_f64(jitter_permille as f64 / 1000.0)
    }
}

/// One HTTP request as sent (each retry is its own record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    /// Path and query, e.g. `/api/v1/pods?limit=500`.
    pub path: String,
    /// The HTTP status, when the server answered.
    pub status: Option<u16>,
    pub error: Option<String>,
    pub elapsed: Duration,
    /// 1 for the first attempt of a request, 2 for its first retry, …
    pub attempt: u32,
}

struct StatsInner {
    verbosity: u8,
    requests: AtomicU64,
    retries: AtomicU64,
    records: Mutex<Vec<RequestRecord>>,
}

/// Counts and records every HTTP request made by a client; shared by clones.
#[derive(Clone)]
pub struct RequestStats {
    inner: Arc<StatsInner>,
}

impl std::fmt::Debug for RequestStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestStats")
            .field("requests", &self.requests())
            .field("retries", &self.retries())
            .finish()
    }
}

impl Default for RequestStats {
    fn default() -> Self {
        RequestStats::new(0)
    }
}

impl RequestStats {
    /// `verbosity` >= 1 prints each request on stderr as it completes (kubectl's `-v=6`).
    pub fn new(verbosity: u8) -> Self {
        RequestStats {
            inner: Arc::new(StatsInner {
                verbosity,
                requests: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                records: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn verbosity(&self) -> u8 {
        self.inner.verbosity
    }

    /// HTTP requests sent, retries included.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// How many of those were retries.
    pub fn retries(&self) -> u64 {
        self.inner.retries.load(Ordering::Relaxed)
    }

    /// Every request so far, in completion order.
    pub fn records(&self) -> Vec<RequestRecord> {
        self.inner
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn record(&self, record: RequestRecord, retry_in: Option<Duration>) {
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        if record.attempt > 1 {
            self.inner.retries.fetch_add(1, Ordering::Relaxed);
        }
        if self.inner.verbosity > 0 {
            let result = match (&record.status, &record.error) {
                (Some(code), _) => code.to_string(),
                (None, Some(e)) => format!("error ({e})"),
                (None, None) => "?".to_owned(),
            };
            let retry = retry_in
                .map(|d| format!(", retrying in {} ms", d.as_millis()))
                .unwrap_or_default();
            eprintln!(
                "{} {} {} in {} ms{retry}",
                record.method,
                record.path,
                result,
                record.elapsed.as_millis()
            );
        }
        self.inner
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record);
    }
}

/// Our own request timeout, distinct from transport errors so it is never retried.
#[derive(Debug, thiserror::Error)]
#[error("no answer within {0:?} (--request-timeout)")]
pub struct RequestTimedOut(pub Duration);

/// The layer that adds [`Transport`] to a client stack.
#[derive(Debug, Clone)]
pub struct TransportLayer {
    policy: RetryPolicy,
    stats: RequestStats,
    timeout: Option<Duration>,
}

impl TransportLayer {
    pub fn new(policy: RetryPolicy, stats: RequestStats, timeout: Option<Duration>) -> Self {
        TransportLayer {
            policy,
            stats,
            timeout,
        }
    }
}

impl<S> Layer<S> for TransportLayer {
    type Service = Transport<S>;
    fn layer(&self, inner: S) -> Transport<S> {
        Transport {
            inner,
            policy: self.policy.clone(),
            stats: self.stats.clone(),
            timeout: self.timeout,
        }
    }
}

/// Retries, times out and counts requests; see the module documentation.
#[derive(Debug, Clone)]
pub struct Transport<S> {
    inner: S,
    policy: RetryPolicy,
    stats: RequestStats,
    timeout: Option<Duration>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<Request<Body>> for Transport<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Response<B>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // Keep the instance that was polled ready for the first attempt (tower's contract).
        let fresh = self.inner.clone();
        let mut service = std::mem::replace(&mut self.inner, fresh);
        let policy = self.policy.clone();
        let stats = self.stats.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let mut request = request;
            let mut attempt = 1u32;
            loop {
                if attempt > 1 {
                    ServiceExt::<Request<Body>>::ready(&mut service)
                        .await
                        .map_err(Into::into)?;
                }
                // A request whose body cannot be copied (a stream) is sent once.
                let spare = clone_request(&request);
                let method = request.method().clone();
                let path = request
                    .uri()
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                let started = Instant::now();
                let call = service.call(request);
                let result: Result<Response<B>, BoxError> = match timeout {
                    Some(limit) => match tokio::time::timeout(limit, call).await {
                        Ok(r) => r.map_err(Into::into),
                        Err(_) => Err(Box::new(RequestTimedOut(limit))),
                    },
                    None => call.await.map_err(Into::into),
                };
                let outcome = classify(&result);
                let delay = if spare.is_some() {
                    policy.delay(&method, &outcome, attempt)
                } else {
                    None
                };
                let (status, error) = match &result {
                    Ok(response) => (Some(response.status().as_u16()), None),
                    Err(e) => (None, Some(e.to_string())),
                };
                stats.record(
                    RequestRecord {
                        method: method.to_string(),
                        path,
                        status,
                        error,
                        elapsed: started.elapsed(),
                        attempt,
                    },
                    delay,
                );
                match (delay, spare) {
                    (Some(wait), Some(next)) => {
                        tokio::time::sleep(wait).await;
                        request = next;
                        attempt += 1;
                    }
                    _ => return result,
                }
            }
        })
    }
}

fn clone_request(request: &Request<Body>) -> Option<Request<Body>> {
    let body = request.body().try_clone()?;
    let mut copy = Request::new(body);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    Some(copy)
}

fn classify<B>(result: &Result<Response<B>, BoxError>) -> Outcome {
    match result {
        Ok(response) => Outcome::Status {
            code: response.status().as_u16(),
            retry_after: response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        },
        Err(error) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
            let mut connect = false;
            while let Some(e) = source {
                if e.is::<RequestTimedOut>() {
                    return Outcome::TimedOut;
                }
                if let Some(h) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
                    connect |= h.is_connect();
                }
                if let Some(io) = e.downcast_ref::<std::io::Error>() {
                    connect |= matches!(
                        io.kind(),
                        std::io::ErrorKind::ConnectionRefused
                            | std::io::ErrorKind::AddrNotAvailable
                    );
                }
                source = e.source();
            }
            if connect {
                Outcome::ConnectFailed
            } else {
                Outcome::TransportFailed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Outcome {
        Outcome::Status {
            code,
            retry_after: None,
        }
    }

    #[test]
    fn reads_are_retried_on_server_errors_writes_are_not() {
        let p = RetryPolicy::default();
        for code in [429, 500, 502, 503, 504] {
            assert!(
                p.delay(&Method::GET, &status(code), 1).is_some(),
                "GET {code}"
            );
        }
        for code in [400, 401, 403, 404, 409, 410, 422] {
            assert!(
                p.delay(&Method::GET, &status(code), 1).is_none(),
                "GET {code}"
            );
        }
        for method in [Method::POST, Method::PATCH, Method::PUT, Method::DELETE] {
            assert!(
                p.delay(&method, &status(429), 1).is_some(),
                "{method} 429 was not executed"
            );
            assert!(
                p.delay(&method, &status(500), 1).is_none(),
                "{method} 500 may have been applied"
            );
            assert!(
                p.delay(&method, &status(503), 1).is_none(),
                "{method} 503 may have been applied"
            );
            assert!(
                p.delay(&method, &Outcome::TransportFailed, 1).is_none(),
                "{method} broken mid-request"
            );
            assert!(
                p.delay(&method, &Outcome::ConnectFailed, 1).is_some(),
                "{method} never sent"
            );
        }
        assert!(
            p.delay(&Method::GET, &Outcome::TransportFailed, 1)
                .is_some()
        );
        assert!(
            p.delay(&Method::GET, &Outcome::TimedOut, 1).is_none(),
            "the user's timeout is a bound"
        );
    }

    #[test]
    fn attempts_are_bounded_and_backoff_grows() {
        let p = RetryPolicy::default();
        assert!(
            p.delay(&Method::GET, &status(503), p.max_attempts - 1)
                .is_some()
        );
        assert!(
            p.delay(&Method::GET, &status(503), p.max_attempts)
                .is_none()
        );
        let first = p.delay(&Method::GET, &status(503), 1).unwrap();
        let third = p.delay(&Method::GET, &status(503), 3).unwrap();
        assert!(
            first >= p.base_delay && first <= p.base_delay.mul_f64(1.25),
            "{first:?}"
        );
        assert!(third >= p.base_delay * 4, "{third:?}");
        let late = p.delay(&Method::GET, &status(503), 4).unwrap();
        assert!(late <= p.max_delay.mul_f64(1.25));
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let p = RetryPolicy::default();
        let wait = Outcome::Status {
            code: 429,
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(
            p.delay(&Method::POST, &wait, 1),
            Some(Duration::from_secs(3))
        );
        let too_long = Outcome::Status {
            code: 429,
            retry_after: Some(Duration::from_secs(3600)),
        };
        assert_eq!(p.delay(&Method::GET, &too_long, 1), None);
    }
}
