//! Telemetry rules: istio-validation.md §8 (TM-1, TM-2, TM-3 in part). We cannot parse CEL,
//! so an access-log filter is only checked to be non-empty; tracing and metrics are not
//! modelled.

use super::Checker;
use super::selector::selector_labels;
use crate::istio::{AccessLogging, Telemetry};

pub(super) fn check(c: &mut Checker, t: &Telemetry) {
    if let Some(sel) = &t.spec.selector {
        selector_labels(c, "TM-1", "spec.selector.matchLabels", &sel.match_labels);
    }
    for (i, a) in t.spec.access_logging.iter().enumerate() {
        access_logging(c, &format!("spec.accessLogging[{i}]"), a);
    }
    for (i, tracing) in t.spec.tracing.iter().enumerate() {
        let field = format!("spec.tracing[{i}]");
        for (j, p) in tracing.providers.iter().enumerate() {
            if p.name.is_empty() {
                c.error(
                    "TM-2",
                    format!("{field}.providers[{j}].name"),
                    "provider name must not be empty",
                );
            }
        }
        // TM-4: the CRD bounds randomSamplingPercentage to [0, 100].
        if let Some(percent) = &tracing.random_sampling_percentage
            && !percent.as_f64().is_some_and(|p| (0.0..=100.0).contains(&p))
        {
            c.error(
                "TM-4",
                format!("{field}.randomSamplingPercentage"),
                format!("{percent} is not a percentage between 0 and 100"),
            );
        }
    }
}

/// TM-2: provider names are non-empty; TM-3: a filter has an expression.
fn access_logging(c: &mut Checker, field: &str, a: &AccessLogging) {
    for (j, p) in a.providers.iter().enumerate() {
        if p.name.is_empty() {
            c.error(
                "TM-2",
                format!("{field}.providers[{j}].name"),
                "provider name must not be empty",
            );
        }
    }
    if let Some(f) = &a.filter
        && f.expression.trim().is_empty()
    {
        c.error(
            "TM-3",
            format!("{field}.filter.expression"),
            "access log filter needs a CEL expression",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::{AccessLogFilter, Metadata, ProviderRef, TelemetrySpec, WorkloadSelector};
    use crate::validate::testing::{errors, labels, one, run};

    #[test]
    fn tm1_selector() {
        let mut t = Telemetry::new(
            Metadata::new("logs", "shop"),
            TelemetrySpec {
                selector: Some(WorkloadSelector::new(labels(&[("app", "cart")]))),
                access_logging: vec![AccessLogging::to_providers(["envoy"])],
                ..TelemetrySpec::default()
            },
        );
        assert!(run(|c| check(c, &t)).is_empty());
        t.spec.selector = Some(WorkloadSelector::new(labels(&[("", "x")])));
        assert_eq!(
            errors(|c| check(c, &t)),
            one("TM-1", "spec.selector.matchLabels[]")
        );
    }

    #[test]
    fn tm2_provider_names() {
        assert!(
            errors(|c| access_logging(c, "a", &AccessLogging::to_providers(["envoy"]))).is_empty()
        );
        let empty = AccessLogging {
            providers: vec![ProviderRef::default()],
            ..Default::default()
        };
        assert_eq!(
            errors(|c| access_logging(c, "a", &empty)),
            one("TM-2", "a.providers[0].name")
        );
    }

    #[test]
    fn tm3_filter_expression() {
        let ok = AccessLogging {
            filter: Some(AccessLogFilter {
                expression: "response.code >= 400".into(),
            }),
            ..AccessLogging::to_providers(["envoy"])
        };
        assert!(errors(|c| access_logging(c, "a", &ok)).is_empty());
        let blank = AccessLogging {
            filter: Some(AccessLogFilter {
                expression: " ".into(),
            }),
            ..ok
        };
        assert_eq!(
            errors(|c| access_logging(c, "a", &blank)),
            one("TM-3", "a.filter.expression")
        );
    }
}
