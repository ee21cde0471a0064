//! A Flagger Canary moved to `provider: istio`: what Flagger's CRD (`charts/flagger/crds/
//! crd.yaml`: `targetRef` and `analysis` required, `service.port` required and a number,
//! `retries.attempts` an int32) and Flagger's Istio router need. Flagger copies
//! `service.retries` into its VirtualService's `HTTPRetry` and `service.timeout` into the
//! route's timeout, so those get Istio's own rules (VS-H6, durations), and no App Mesh-only
//! field may be left for Flagger to ignore silently.
//!
//! Rule ids: `FL-1` (CRD structure), `FL-2` (App Mesh leftovers), `VS-H6` (retries), `FL-3`
//! (durations).

use serde_json::Value;

use super::Checker;
use super::primitives::duration;
use crate::istio::{Canary, Duration, HttpRetry, clamp_i32};

/// The provider convert writes.
const PROVIDER: &str = "istio";

/// Fields of `spec.service` only Flagger's App Mesh router reads.
pub(crate) const APP_MESH_SERVICE_FIELDS: &[&str] = &["meshName", "backends"];

pub(super) fn check(c: &mut Checker, canary: &Canary) {
    let spec = &canary.spec;
    if spec.provider != PROVIDER {
        c.error(
            "FL-1",
            "spec.provider",
            format!("{:?} is not {PROVIDER:?}", spec.provider),
        );
    }
    for (field, is_reference) in [("targetRef", true), ("analysis", false)] {
        match spec.other.get(field) {
            None => c.error("FL-1", format!("spec.{field}"), "required by Flagger's CRD"),
            Some(Value::Object(map)) if is_reference => {
                for key in ["apiVersion", "kind", "name"] {
                    if map
                        .get(key)
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        c.error(
                            "FL-1",
                            format!("spec.{field}.{key}"),
                            "required (a non-empty string)",
                        );
                    }
                }
            }
            Some(Value::Object(_)) => {}
            Some(_) => c.error("FL-1", format!("spec.{field}"), "must be an object"),
        }
    }
    let Some(service) = &spec.service else {
        c.error(
            "FL-1",
            "spec.service",
            "Flagger's Istio router needs spec.service.port",
        );
        return;
    };
    match service.other.get("port") {
        Some(Value::Number(n)) if n.as_u64().is_some_and(|p| (1..=65535).contains(&p)) => {}
        Some(other) => c.error(
            "FL-1",
            "spec.service.port",
            format!("{other} is not a port number (1-65535)"),
        ),
        None => c.error("FL-1", "spec.service.port", "required by Flagger's CRD"),
    }
    for field in APP_MESH_SERVICE_FIELDS {
        if service.other.contains_key(*field) {
            c.error(
                "FL-2",
                format!("spec.service.{field}"),
                "only Flagger's App Mesh router reads it; it must not be carried over",
            );
        }
    }
    if let Some(timeout) = &service.timeout {
        go_duration(c, "spec.service.timeout", timeout);
    }
    if let Some(retries) = &service.retries {
        let field = "spec.service.retries";
        let attempts = retries.attempts.unwrap_or(0);
        if i64::from(clamp_i32(attempts)) != attempts {
            c.error("FL-1", format!("{field}.attempts"), "must fit an int32");
        }
        let per_try_timeout = retries
            .per_try_timeout
            .as_deref()
            .and_then(|t| go_duration(c, &format!("{field}.perTryTimeout"), t));
        // What Flagger writes into its VirtualService.
        let http = HttpRetry {
            attempts: clamp_i32(attempts),
            per_try_timeout,
            retry_on: retries.retry_on.clone(),
            retry_remote_localities: None,
        };
        super::virtual_service::retries(c, field, &http);
    }
}

/// A duration Istio takes from Flagger: Go syntax, at least 1 ms.
fn go_duration(c: &mut Checker, field: &str, text: &str) -> Option<Duration> {
    match Duration::parse(text) {
        // Reported once: an out-of-range duration is not passed on to the retry rules.
        Ok(d) => match duration(d, false) {
            Ok(()) => Some(d),
            Err(message) => {
                c.error("FL-3", field, message);
                None
            }
        },
        Err(e) => {
            c.error("FL-3", field, e.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::{CanaryRetries, CanaryService, CanarySpec, Metadata};
    use crate::validate::validate_object;
    use serde_json::json;

    fn canary(service: CanaryService) -> Canary {
        Canary::new(
            Metadata::new("podinfo", "test"),
            CanarySpec {
                provider: PROVIDER.into(),
                service: Some(service),
                other: [
                    (
                        "targetRef".to_owned(),
                        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"}),
                    ),
                    ("analysis".to_owned(), json!({"interval": "1m"})),
                ]
                .into(),
            },
        )
    }

    fn service(port: Value) -> CanaryService {
        CanaryService {
            other: [("port".to_owned(), port)].into(),
            ..CanaryService::default()
        }
    }

    fn rules(c: &Canary) -> Vec<(String, String)> {
        validate_object(&c.clone().into())
            .into_iter()
            .map(|v| (v.rule.to_owned(), v.field))
            .collect()
    }

    #[test]
    fn a_converted_canary_passes() {
        let mut s = service(json!(9898));
        s.timeout = Some("15s".into());
        s.retries = Some(CanaryRetries {
            attempts: Some(3),
            per_try_timeout: Some("5s".into()),
            retry_on: Some("gateway-error,reset,409,refused-stream".into()),
        });
        assert_eq!(rules(&canary(s)), Vec::<(String, String)>::new());
    }

    #[test]
    fn app_mesh_leftovers_and_vocabulary_are_refused() {
        let mut s = service(json!(80));
        s.other.insert("meshName".into(), json!("global"));
        s.retries = Some(CanaryRetries {
            attempts: Some(2),
            per_try_timeout: Some("0s".into()),
            retry_on: Some("server-error".into()),
        });
        s.timeout = Some("soon".into());
        let mut c = canary(s);
        c.spec.provider = "appmesh".into();
        c.spec.other.remove("analysis");
        let mut got = rules(&c);
        got.sort();
        assert_eq!(
            got,
            [
                ("FL-1", "spec.analysis"),
                ("FL-1", "spec.provider"),
                ("FL-2", "spec.service.meshName"),
                ("FL-3", "spec.service.retries.perTryTimeout"),
                ("FL-3", "spec.service.timeout"),
                ("VS-H6", "spec.service.retries.retryOn"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }

    #[test]
    fn port_and_target_are_required() {
        let mut c = canary(service(json!("http")));
        c.spec
            .other
            .insert("targetRef".into(), json!({"kind": "Deployment"}));
        let mut got = rules(&c);
        got.sort();
        assert_eq!(
            got,
            [
                ("FL-1", "spec.service.port"),
                ("FL-1", "spec.targetRef.apiVersion"),
                ("FL-1", "spec.targetRef.name"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }
}
