//! DestinationRule rules: istio-validation.md §2 (DR-1..DR-9; DR-7 load balancer and DR-10
//! tunnel are not modelled).

use std::collections::BTreeSet;

use super::Checker;
use super::primitives::{export_to, is_dns1123_label, is_ip, label_map, wildcard_domain};
use super::selector::selector_labels;
use super::traffic_policy::traffic_policy;
use crate::istio::{DestinationRule, DestinationRuleSpec, Subset};

pub(super) fn check(c: &mut Checker, dr: &DestinationRule) {
    let spec = &dr.spec;
    let has_selector = spec.workload_selector.is_some();
    host(c, &spec.host);
    if let Some(tp) = &spec.traffic_policy {
        traffic_policy(c, "spec.trafficPolicy", tp, has_selector);
    }
    subsets(c, &spec.subsets, has_selector);
    export_and_selector(c, spec, dr.metadata.namespace.as_deref());
}

/// DR-1: host required, a (wildcard) domain name, not an IP.
fn host(c: &mut Checker, host: &str) {
    if is_ip(host) {
        c.error(
            "DR-1",
            "spec.host",
            format!("host {host:?} must be a hostname, not an IP address"),
        );
    } else {
        c.check("DR-1", "spec.host", wildcard_domain(host));
    }
}

/// DR-3: subset names unique DNS-1123 labels; labels a valid label map.
fn subsets(c: &mut Checker, subsets: &[Subset], has_selector: bool) {
    let mut seen = BTreeSet::new();
    for (i, s) in subsets.iter().enumerate() {
        let f = format!("spec.subsets[{i}]");
        if !is_dns1123_label(&s.name) {
            c.error(
                "DR-3",
                format!("{f}.name"),
                format!(
                    "subset name {:?} must be a DNS-1123 label (at most 63 characters, no dots)",
                    s.name
                ),
            );
        }
        if !seen.insert(s.name.as_str()) {
            c.error(
                "DR-3",
                format!("{f}.name"),
                format!("duplicate subset name {:?}", s.name),
            );
        }
        c.check("DR-3", format!("{f}.labels"), label_map(&s.labels));
        if let Some(tp) = &s.traffic_policy {
            traffic_policy(c, &format!("{f}.trafficPolicy"), tp, has_selector);
        }
    }
}

/// DR-4: exportTo; with a workloadSelector only the own namespace; selector labels.
fn export_and_selector(c: &mut Checker, spec: &DestinationRuleSpec, namespace: Option<&str>) {
    c.check(
        "DR-4",
        "spec.exportTo",
        export_to(&spec.export_to, namespace, false),
    );
    let Some(sel) = &spec.workload_selector else {
        return;
    };
    let own = |e: &String| e == "." || Some(e.as_str()) == namespace;
    // An empty exportTo is fine: Istio keeps selector-bound DestinationRules local.
    if !spec.export_to.iter().all(own) {
        c.error("DR-4", "spec.exportTo", "a DestinationRule with workloadSelector may only be exported to its own namespace (exportTo: [\".\"])");
    }
    selector_labels(
        c,
        "DR-4",
        "spec.workloadSelector.matchLabels",
        &sel.match_labels,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::{
        ClientTlsMode, ClientTlsSettings, Metadata, TrafficPolicy, WorkloadSelector,
    };
    use crate::validate::testing::{errors, labels, one, run, warnings};

    fn subset(name: &str) -> Subset {
        Subset {
            name: name.into(),
            labels: labels(&[("version", name)]),
            traffic_policy: None,
        }
    }

    #[test]
    fn dr1_host() {
        assert!(errors(|c| host(c, "cart.shop.svc.cluster.local")).is_empty());
        assert_eq!(errors(|c| host(c, "10.0.0.1")), one("DR-1", "spec.host"));
        assert_eq!(errors(|c| host(c, "")), one("DR-1", "spec.host"));
    }

    #[test]
    fn dr3_subsets() {
        assert!(errors(|c| subsets(c, &[subset("v1"), subset("v2")], false)).is_empty());
        assert_eq!(
            errors(|c| subsets(c, &[subset("v1"), subset("v1")], false)),
            one("DR-3", "spec.subsets[1].name")
        );
        assert_eq!(
            errors(|c| subsets(c, &[subset("cart.v1")], false)),
            vec![("DR-3", "spec.subsets[0].name".to_owned()),]
        );
        let long = "a".repeat(64);
        assert_eq!(
            errors(|c| subsets(
                c,
                &[Subset {
                    name: long,
                    ..subset("v1")
                }],
                false
            )),
            one("DR-3", "spec.subsets[0].name")
        );
        let bad_labels = Subset {
            labels: labels(&[("version", "v 1")]),
            ..subset("v1")
        };
        assert_eq!(
            errors(|c| subsets(c, &[bad_labels], false)),
            one("DR-3", "spec.subsets[0].labels")
        );
        let empty_tp = Subset {
            traffic_policy: Some(TrafficPolicy::default()),
            ..subset("v1")
        };
        assert_eq!(
            errors(|c| subsets(c, &[empty_tp], false)),
            one("DR-2", "spec.subsets[0].trafficPolicy")
        );
    }

    #[test]
    fn dr4_export_and_selector() {
        let mut spec = DestinationRuleSpec {
            host: "a.b".into(),
            export_to: vec![".".into()],
            workload_selector: Some(WorkloadSelector::new(labels(&[("app", "cart")]))),
            ..Default::default()
        };
        assert!(run(|c| export_and_selector(c, &spec, Some("shop"))).is_empty());
        spec.export_to = vec!["*".into()];
        assert_eq!(
            errors(|c| export_and_selector(c, &spec, Some("shop"))),
            one("DR-4", "spec.exportTo")
        );
        spec.export_to = vec![".".into()];
        spec.workload_selector = Some(WorkloadSelector::new(labels(&[("app", "*")])));
        assert_eq!(
            errors(|c| export_and_selector(c, &spec, Some("shop"))),
            one("DR-4", "spec.workloadSelector.matchLabels[app]")
        );
        spec.workload_selector = Some(WorkloadSelector::default());
        assert_eq!(
            warnings(|c| export_and_selector(c, &spec, Some("shop"))),
            one("DR-4", "spec.workloadSelector.matchLabels")
        );
    }

    #[test]
    fn whole_destination_rule() {
        let dr = DestinationRule::new(
            Metadata::new("cart", "shop"),
            DestinationRuleSpec {
                host: "cart.shop.svc.cluster.local".into(),
                traffic_policy: Some(TrafficPolicy {
                    tls: Some(ClientTlsSettings {
                        mode: ClientTlsMode::IstioMutual,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                subsets: vec![subset("v1")],
                ..Default::default()
            },
        );
        assert!(run(|c| check(c, &dr)).is_empty());
    }
}
