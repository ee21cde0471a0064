//! Istio's own rules, run on every object we generate before anything is printed.
//!
//! The rules come from `shared/reference/istio-validation.md` (Istio 1.30.3's validating
//! webhook, CRD schema/CEL rules and `istioctl analyze`); each [`Violation`] cites the rule
//! id used there (`VS-H6`, `DR-3`, ...) or the analyzer code (`IST0109`, ...). Errors are
//! configurations Istio or the API server would reject (or that break routing); warnings
//! are what Istio accepts but reports. Either way a violation in our output is a bug of the
//! converter, reported through [`into_findings`] as AMI9001/AMI9002.
//!
//! Only the fields our model ([`crate::istio`]) has are checked; rules about fields we never
//! write (redirect, fault, mirror, CORS, delegate, TLS routes, ...) are not implemented.

use std::fmt;

use serde::Serialize;

use crate::findings::Finding;
use crate::istio::IstioObject;
use crate::origin::ObjectRef;

pub(crate) mod canary;
pub mod crd_limits;
mod cross;
mod destination_rule;
mod gateway;
pub mod gateway_api;
mod install;
mod metadata;
pub mod primitives;
pub mod re2;
mod rollout;
mod security;
mod selector;
mod service_entry;
mod sidecar;
mod telemetry;
mod traffic_policy;
mod virtual_service;

/// Finding code for an error violation: generated configuration failed validation.
pub const CODE_INVALID: &str = "AMI9001";
/// Finding code for a warning violation: generated configuration triggers an Istio warning.
pub const CODE_WARNING: &str = "AMI9002";

/// Error: Istio/the API server rejects it (or it breaks routing). Warning: accepted but
/// reported by Istio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ViolationSeverity {
    Warning,
    Error,
}

/// One broken rule in one generated object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    /// Rule id from istio-validation.md (`VS-H6`) or an analyzer code (`IST0109`).
    pub rule: &'static str,
    pub object: ObjectRef,
    /// Path of the offending field, e.g. `spec.http[0].retries`.
    pub field: String,
    pub message: String,
    pub severity: ViolationSeverity,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            ViolationSeverity::Error => "error",
            ViolationSeverity::Warning => "warning",
        };
        write!(
            f,
            "{level} [{}] {} {}: {}",
            self.rule, self.object, self.field, self.message
        )
    }
}

/// Collects the violations of one object.
pub(crate) struct Checker {
    object: ObjectRef,
    out: Vec<Violation>,
}

impl Checker {
    pub(crate) fn new(object: ObjectRef) -> Checker {
        Checker {
            object,
            out: Vec::new(),
        }
    }

    fn push(
        &mut self,
        severity: ViolationSeverity,
        rule: &'static str,
        field: String,
        message: String,
    ) {
        self.out.push(Violation {
            rule,
            object: self.object.clone(),
            field,
            message,
            severity,
        });
    }

    pub(crate) fn error(
        &mut self,
        rule: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(ViolationSeverity::Error, rule, field.into(), message.into());
    }

    pub(crate) fn warn(
        &mut self,
        rule: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(
            ViolationSeverity::Warning,
            rule,
            field.into(),
            message.into(),
        );
    }

    /// Reports `result`'s message as an error of `rule` at `field`.
    pub(crate) fn check(
        &mut self,
        rule: &'static str,
        field: impl Into<String>,
        result: Result<(), String>,
    ) {
        if let Err(message) = result {
            self.error(rule, field, message);
        }
    }

    pub(crate) fn finish(self) -> Vec<Violation> {
        self.out
    }
}

/// Istio's per-object rules (webhook, CRD schema/CEL, per-object analyzers).
pub fn validate_object(obj: &IstioObject) -> Vec<Violation> {
    let mut c = Checker::new(obj.object_ref());
    metadata::check(&mut c, obj);
    match obj {
        IstioObject::VirtualService(o) => virtual_service::check(&mut c, o),
        IstioObject::DestinationRule(o) => destination_rule::check(&mut c, o),
        IstioObject::Gateway(o) => gateway::check(&mut c, o),
        IstioObject::ServiceEntry(o) => service_entry::check(&mut c, o),
        IstioObject::Sidecar(o) => sidecar::check(&mut c, o),
        IstioObject::PeerAuthentication(o) => security::check_peer_authentication(&mut c, o),
        IstioObject::AuthorizationPolicy(o) => security::check_authorization_policy(&mut c, o),
        IstioObject::Telemetry(o) => telemetry::check(&mut c, o),
        IstioObject::IstioOperator(o) => install::check(&mut c, o),
        IstioObject::Service(_)
        | IstioObject::KubernetesGateway(_)
        | IstioObject::HttpRoute(_)
        | IstioObject::GrpcRoute(_)
        | IstioObject::TcpRoute(_)
        | IstioObject::ReferenceGrant(_) => gateway_api::check(&mut c, obj),
        IstioObject::Canary(o) => canary::check(&mut c, o),
        IstioObject::Rollout(o) => rollout::check(&mut c, o),
    }
    let mut out = c.finish();
    // The CRD schema bounds, on the object as it is printed.
    out.extend(crd_limits::violations(obj));
    out
}

/// Every object's own rules, then the rules between objects of the set (one mesh
/// VirtualService per host, referenced subsets and gateways exist, selector conflicts, ...).
pub fn validate_all(objs: &[IstioObject]) -> Vec<Violation> {
    let mut out: Vec<Violation> = objs.iter().flat_map(validate_object).collect();
    out.extend(cross::check(objs));
    out.extend(gateway_api::check_set(objs));
    out.extend(rollout::cross(objs));
    out
}

/// Findings for violations: errors become AMI9001 (error), warnings AMI9002 (warning).
pub fn into_findings(violations: Vec<Violation>) -> Vec<Finding> {
    violations
        .into_iter()
        .map(|v| {
            let code = match v.severity {
                ViolationSeverity::Error => CODE_INVALID,
                ViolationSeverity::Warning => CODE_WARNING,
            };
            Finding::new(code, v.object, format!("{} ({})", v.message, v.rule)).at_field(v.field)
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the per-rule unit tests.
    use super::*;

    /// Runs one rule function and returns `(rule, field, severity)` of what it reported.
    pub(crate) fn run(
        f: impl FnOnce(&mut Checker),
    ) -> Vec<(&'static str, String, ViolationSeverity)> {
        let mut c = Checker::new(ObjectRef::new("Test", Some("ns"), "t"));
        f(&mut c);
        c.finish()
            .into_iter()
            .map(|v| (v.rule, v.field, v.severity))
            .collect()
    }

    /// `[(rule, field)]` of the errors only.
    pub(crate) fn errors(f: impl FnOnce(&mut Checker)) -> Vec<(&'static str, String)> {
        run(f)
            .into_iter()
            .filter(|(_, _, s)| *s == ViolationSeverity::Error)
            .map(|(r, f, _)| (r, f))
            .collect()
    }

    /// `[(rule, field)]` of the warnings only.
    pub(crate) fn warnings(f: impl FnOnce(&mut Checker)) -> Vec<(&'static str, String)> {
        run(f)
            .into_iter()
            .filter(|(_, _, s)| *s == ViolationSeverity::Warning)
            .map(|(r, f, _)| (r, f))
            .collect()
    }

    pub(crate) fn one(rule: &'static str, field: &str) -> Vec<(&'static str, String)> {
        vec![(rule, field.to_owned())]
    }

    pub(crate) fn labels(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Severity;
    use crate::istio::{
        Destination, HttpMatchRequest, HttpRetry, HttpRewrite, HttpRoute, HttpRouteDestination,
        Metadata, RegexRewrite, StringMatch, VirtualService, VirtualServiceSpec,
    };
    use std::collections::BTreeMap;

    fn broken_vs() -> IstioObject {
        VirtualService::new(
            Metadata::new("cart", "shop"),
            VirtualServiceSpec {
                hosts: vec!["cart.shop.svc.cluster.local".into()],
                http: vec![HttpRoute {
                    route: vec![HttpRouteDestination::to(Destination::host(
                        "cart.shop.svc.cluster.local",
                    ))],
                    retries: Some(HttpRetry::disabled().with_retry_on(["5xx"])),
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .into()
    }

    #[test]
    fn validate_object_reports_rule_object_and_field() {
        let v = validate_object(&broken_vs());
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].rule, "VS-H6");
        assert_eq!(v[0].field, "spec.http[0].retries");
        assert_eq!(v[0].object.to_string(), "VirtualService shop/cart");
        assert_eq!(v[0].severity, ViolationSeverity::Error);
        assert!(
            v[0].to_string()
                .starts_with("error [VS-H6] VirtualService shop/cart spec.http[0].retries:")
        );
    }

    #[test]
    fn into_findings_maps_errors_and_warnings_to_catalog_codes() {
        let object = ObjectRef::new("VirtualService", Some("shop"), "cart");
        let violations = vec![
            Violation {
                rule: "VS-H6",
                object: object.clone(),
                field: "spec.http[0]".into(),
                message: "m1".into(),
                severity: ViolationSeverity::Error,
            },
            Violation {
                rule: "VS-9",
                object,
                field: "spec.http[1]".into(),
                message: "m2".into(),
                severity: ViolationSeverity::Warning,
            },
        ];
        let findings = into_findings(violations);
        assert_eq!(findings[0].code, "AMI9001");
        assert_eq!(findings[0].severity, Severity::Error);
        assert_eq!(findings[0].field.as_deref(), Some("spec.http[0]"));
        assert_eq!(findings[0].message, "m1 (VS-H6)");
        assert_eq!(findings[1].code, "AMI9002");
        assert_eq!(findings[1].severity, Severity::Warning);
        assert!(
            !findings[1].hint.is_empty(),
            "AMI9002 must be in the catalog"
        );
    }

    /// Every regex-typed field of a VirtualService we write, with one regex RE2 refuses.
    fn vs_with_regex(regex: &str) -> IstioObject {
        let m = || StringMatch::regex(regex);
        VirtualService::new(
            Metadata::new("cart", "shop"),
            VirtualServiceSpec {
                hosts: vec!["cart.shop.svc.cluster.local".into()],
                http: vec![HttpRoute {
                    matches: vec![HttpMatchRequest {
                        uri: Some(m()),
                        authority: Some(m()),
                        method: Some(m()),
                        scheme: Some(m()),
                        headers: BTreeMap::from([("x-a".into(), m())]),
                        query_params: BTreeMap::from([("q".into(), m())]),
                        without_headers: BTreeMap::from([("x-b".into(), m())]),
                        ..Default::default()
                    }],
                    rewrite: Some(HttpRewrite {
                        uri_regex_rewrite: Some(RegexRewrite {
                            pattern: regex.into(),
                            rewrite: "/".into(),
                        }),
                        ..Default::default()
                    }),
                    route: vec![HttpRouteDestination::to(Destination::host(
                        "cart.shop.svc.cluster.local",
                    ))],
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .into()
    }

    #[test]
    fn every_regex_field_is_checked_with_re2_rules() {
        let mut fields = vec![
            "spec.http[0].match[0].authority",
            "spec.http[0].match[0].headers[x-a]",
            "spec.http[0].match[0].method",
            "spec.http[0].match[0].queryParams[q]",
            "spec.http[0].match[0].scheme",
            "spec.http[0].match[0].uri",
            "spec.http[0].match[0].withoutHeaders[x-b]",
            "spec.http[0].rewrite.uriRegexRewrite.match",
        ];
        fields.sort();
        // Issue 16: RE2 refuses all of these; Rust's regex crate accepts some.
        for bad in [
            "a**", "a++", "a*+", "a?*", "a{2}*", "a{2}{3}", "a{1001}", "(?x) a b", r"\u0041",
            r"(?u)\w", r"\C",
        ] {
            let v = validate_object(&vs_with_regex(bad));
            let mut got: Vec<&str> = v
                .iter()
                .filter(|v| v.severity == ViolationSeverity::Error)
                .map(|v| v.field.as_str())
                .collect();
            got.sort();
            assert_eq!(got, fields, "{bad}: {v:?}");
        }
        let quoted = validate_object(&vs_with_regex(r"\Q.\E"));
        assert!(
            quoted
                .iter()
                .all(|v| v.severity != ViolationSeverity::Error),
            "{quoted:?}"
        );
    }

    #[test]
    fn control_characters_in_request_text_are_errors() {
        let bad = "a\0b";
        let vs: IstioObject = VirtualService::new(
            Metadata::new("cart", "shop"),
            VirtualServiceSpec {
                hosts: vec!["cart.shop.svc.cluster.local".into()],
                http: vec![HttpRoute {
                    matches: vec![HttpMatchRequest {
                        uri: Some(StringMatch::prefix("/x\ny")),
                        authority: Some(StringMatch::exact(bad)),
                        headers: BTreeMap::from([
                            ("x-a".into(), StringMatch::exact(bad)),
                            ("x-tab".into(), StringMatch::prefix("a\tb")),
                        ]),
                        query_params: BTreeMap::from([("q".into(), StringMatch::exact("\u{7f}"))]),
                        without_headers: BTreeMap::from([(
                            "x-b".into(),
                            StringMatch::prefix("\r"),
                        )]),
                        ..Default::default()
                    }],
                    rewrite: Some(HttpRewrite {
                        uri: Some("/\u{1}".into()),
                        authority: Some(bad.into()),
                        ..Default::default()
                    }),
                    route: vec![HttpRouteDestination::to(Destination::host(
                        "cart.shop.svc.cluster.local",
                    ))],
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .into();
        let mut got: Vec<String> = validate_object(&vs)
            .into_iter()
            .filter(|v| v.rule == primitives::RULE_CONTROL_CHARACTER)
            .map(|v| v.field)
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                "spec.http[0].match[0].authority",
                "spec.http[0].match[0].headers[x-a]",
                "spec.http[0].match[0].queryParams[q]",
                "spec.http[0].match[0].uri",
                "spec.http[0].match[0].withoutHeaders[x-b]",
                "spec.http[0].rewrite.authority",
                "spec.http[0].rewrite.uri",
            ]
        );
    }
}
