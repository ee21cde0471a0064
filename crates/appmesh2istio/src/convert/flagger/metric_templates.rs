//! MetricTemplates whose queries read App Mesh's Envoy metrics: Istio's sidecars export the
//! same traffic as Istio's standard metrics instead, so such a query finds no series after the
//! switch and every analysis using it fails. Flagger's built-in checks
//! (`request-success-rate`, `request-duration`) need no change: Flagger picks the provider's
//! queries itself.

use serde_json::Value;

use super::{CODE_METRIC_TEMPLATE, object_ref};
use crate::convert::Context;

/// App Mesh's Envoy metric prefix, and the Istio metric to use for what each name measures.
const REPLACEMENTS: &[(&str, &str)] = &[
    // Most specific first: the time histogram before the counters it shares a prefix with.
    (
        "envoy_cluster_upstream_rq_time",
        "istio_request_duration_milliseconds_bucket (labels destination_workload, destination_workload_namespace)",
    ),
    (
        "envoy_cluster_upstream_rq",
        "istio_requests_total (labels response_code, destination_workload, destination_workload_namespace)",
    ),
];

/// The App Mesh Envoy metric names a query uses, each with its Istio replacement.
pub(crate) fn app_mesh_metrics(query: &str) -> Vec<(String, &'static str)> {
    let mut found: Vec<(String, &'static str)> = Vec::new();
    let mut rest = query;
    while let Some(at) = rest.find("envoy_cluster_upstream_rq") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        if let Some((_, istio)) = REPLACEMENTS.iter().find(|(p, _)| name.starts_with(p))
            && !found.iter().any(|(n, _)| n == name)
        {
            found.push((name.to_owned(), istio));
        }
        rest = &tail[end..];
    }
    found
}

pub(super) fn report(ctx: &mut Context<'_>, template: &Value) {
    let subject = object_ref(template);
    let query = template
        .pointer("/spec/query")
        .and_then(Value::as_str)
        .unwrap_or("");
    let found = app_mesh_metrics(query);
    if found.is_empty() {
        return;
    }
    let uses: Vec<String> = found
        .iter()
        .map(|(name, istio)| format!("{name} -> {istio}"))
        .collect();
    ctx.note(
        CODE_METRIC_TEMPLATE,
        &subject,
        "spec.query",
        format!(
            "the query reads App Mesh's Envoy metrics, which Istio's sidecars do not export; rewrite it with \
             Istio's standard metrics before the switch: {}",
            uses.join("; ")
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_envoy_metric_once_with_its_istio_replacement() {
        let query = "sum(rate(envoy_cluster_upstream_rq{envoy_response_code!~\"5.*\"}[1m])) / \
                     sum(rate(envoy_cluster_upstream_rq[1m])) + \
                     histogram_quantile(0.99, rate(envoy_cluster_upstream_rq_time_bucket[1m]))";
        let found = app_mesh_metrics(query);
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "envoy_cluster_upstream_rq",
                "envoy_cluster_upstream_rq_time_bucket"
            ]
        );
        assert!(found[0].1.starts_with("istio_requests_total"));
        assert!(
            found[1]
                .1
                .starts_with("istio_request_duration_milliseconds_bucket")
        );
        assert!(app_mesh_metrics("sum(rate(istio_requests_total[1m]))").is_empty());
    }
}
