//! PeerAuthentication (§6, PA-1..PA-3) and AuthorizationPolicy (§7, AP-1..AP-6) rules.
//! `targetRef(s)`, `serviceAccounts`, `remoteIpBlocks` and `trustDomains` are not modelled.

use super::Checker;
use super::primitives::{ip_or_cidr, port};
use super::selector::selector_labels;
use crate::istio::{
    AuthorizationAction, AuthorizationPolicy, Condition, Operation, PeerAuthentication,
    PeerAuthenticationSpec, Rule, Source,
};

pub(super) fn check_peer_authentication(c: &mut Checker, pa: &PeerAuthentication) {
    let spec = &pa.spec;
    if let Some(sel) = &spec.selector {
        selector_labels(c, "PA-3", "spec.selector.matchLabels", &sel.match_labels);
    }
    port_level_mtls(c, spec);
}

/// PA-1, PA-2: port-level mTLS only on workload-selected policies; keys 1..65535.
fn port_level_mtls(c: &mut Checker, spec: &PeerAuthenticationSpec) {
    if spec.port_level_mtls.is_empty() {
        return;
    }
    let selected = spec
        .selector
        .as_ref()
        .is_some_and(|s| !s.match_labels.is_empty());
    if !selected {
        c.error("PA-1", "spec.portLevelMtls", "portLevelMtls requires a selector with matchLabels (mesh/namespace policies cannot have port-level mTLS)");
    }
    for p in spec.port_level_mtls.keys() {
        c.check("PA-2", format!("spec.portLevelMtls[{p}]"), port(*p));
    }
}

pub(super) fn check_authorization_policy(c: &mut Checker, ap: &AuthorizationPolicy) {
    let spec = &ap.spec;
    let action = spec.action.unwrap_or(AuthorizationAction::Allow);
    if let Some(sel) = &spec.selector {
        selector_labels(c, "AP-1", "spec.selector.matchLabels", &sel.match_labels);
    }
    custom_action(
        c,
        action,
        spec.provider.as_ref().map(|p| p.name.as_str()),
        &spec.rules,
    );
    if action == AuthorizationAction::Deny && spec.rules.is_empty() {
        c.error(
            "AP-3",
            "spec.rules",
            "a DENY policy needs rules (write rules: [{}] to deny everything)",
        );
    }
    if spec.rules.len() > 512 {
        c.error("AP-4", "spec.rules", "at most 512 rules are allowed");
    }
    for (i, r) in spec.rules.iter().enumerate() {
        let f = format!("spec.rules[{i}]");
        rule(c, &f, r);
        for (j, w) in r.when.iter().enumerate() {
            condition(c, &format!("{f}.when[{j}]"), w);
        }
        if action == AuthorizationAction::Deny {
            deny_with_http_only_fields(c, &f, r);
        }
    }
}

/// AP-2: `provider` only with CUSTOM; CUSTOM needs rules and a provider name, and cannot
/// use identity-based source fields or conditions.
fn custom_action(
    c: &mut Checker,
    action: AuthorizationAction,
    provider: Option<&str>,
    rules: &[Rule],
) {
    if action != AuthorizationAction::Custom {
        if provider.is_some() {
            c.error(
                "AP-2",
                "spec.provider",
                "provider is only allowed with action CUSTOM",
            );
        }
        return;
    }
    if provider.is_none_or(str::is_empty) {
        c.error(
            "AP-2",
            "spec.provider.name",
            "action CUSTOM requires a provider name",
        );
    }
    if rules.is_empty() {
        c.error("AP-2", "spec.rules", "action CUSTOM requires rules");
    }
    for (i, r) in rules.iter().enumerate() {
        for (j, from) in r.from.iter().enumerate() {
            let s = &from.source;
            if !(s.principals.is_empty()
                && s.not_principals.is_empty()
                && s.request_principals.is_empty()
                && s.not_request_principals.is_empty()
                && s.namespaces.is_empty()
                && s.not_namespaces.is_empty())
            {
                c.error(
                    "AP-2",
                    format!("spec.rules[{i}].from[{j}].source"),
                    "CUSTOM action cannot use principals, requestPrincipals or namespaces",
                );
            }
        }
        for (j, w) in r.when.iter().enumerate() {
            let identity = [
                "source.namespace",
                "source.serviceAccount",
                "source.trustDomain",
                "source.principal",
            ];
            if identity.contains(&w.key.as_str()) || w.key.starts_with("request.auth.") {
                c.error(
                    "AP-2",
                    format!("spec.rules[{i}].when[{j}].key"),
                    format!("CUSTOM action cannot use condition {:?}", w.key),
                );
            }
        }
    }
}

fn no_empty_strings(c: &mut Checker, field: &str, name: &str, values: &[String]) {
    if values.iter().any(String::is_empty) {
        c.error(
            "AP-4",
            format!("{field}.{name}"),
            format!("{name} must not contain empty strings"),
        );
    }
}

/// AP-4: `from`/`to` entries are not empty; field values well-formed.
fn rule(c: &mut Checker, field: &str, r: &Rule) {
    if r.from.len() > 512 || r.to.len() > 512 {
        c.error("AP-4", field, "at most 512 from/to entries are allowed");
    }
    for (j, from) in r.from.iter().enumerate() {
        source(c, &format!("{field}.from[{j}].source"), &from.source);
    }
    for (j, to) in r.to.iter().enumerate() {
        operation(c, &format!("{field}.to[{j}].operation"), &to.operation);
    }
}

fn source(c: &mut Checker, field: &str, s: &Source) {
    if s.is_empty() {
        c.error("AP-4", field, "source must not be empty");
        return;
    }
    for (name, list) in [
        ("principals", &s.principals),
        ("notPrincipals", &s.not_principals),
        ("requestPrincipals", &s.request_principals),
        ("notRequestPrincipals", &s.not_request_principals),
        ("namespaces", &s.namespaces),
        ("notNamespaces", &s.not_namespaces),
    ] {
        no_empty_strings(c, field, name, list);
    }
    for (name, list) in [
        ("ipBlocks", &s.ip_blocks),
        ("notIpBlocks", &s.not_ip_blocks),
    ] {
        for (k, b) in list.iter().enumerate() {
            c.check("AP-4", format!("{field}.{name}[{k}]"), ip_or_cidr(b));
        }
    }
}

fn operation(c: &mut Checker, field: &str, o: &Operation) {
    if o.is_empty() {
        c.error("AP-4", field, "operation must not be empty");
        return;
    }
    for (name, list) in [
        ("hosts", &o.hosts),
        ("notHosts", &o.not_hosts),
        ("methods", &o.methods),
        ("notMethods", &o.not_methods),
    ] {
        no_empty_strings(c, field, name, list);
    }
    for (name, list) in [("ports", &o.ports), ("notPorts", &o.not_ports)] {
        for (k, p) in list.iter().enumerate() {
            let valid = !p.is_empty()
                && p.len() <= 5
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|n| n <= 65535);
            if !valid {
                c.error(
                    "AP-4",
                    format!("{field}.{name}[{k}]"),
                    format!("port {p:?} must be a decimal number in 0..65535"),
                );
            }
        }
    }
    for (name, list) in [("paths", &o.paths), ("notPaths", &o.not_paths)] {
        no_empty_strings(c, field, name, list);
        for (k, p) in list.iter().enumerate() {
            c.check("AP-4", format!("{field}.{name}[{k}]"), path_template(p));
        }
    }
}

/// Path templates: `{*}` matches one segment, `{**}` the rest (last segment only); no
/// other use of braces.
fn path_template(path: &str) -> Result<(), String> {
    if !path.contains(['{', '}']) {
        return Ok(());
    }
    let segments: Vec<&str> = path.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        let has_brace = seg.contains(['{', '}']);
        match *seg {
            "{*}" => {}
            "{**}" if i + 1 == segments.len() => {}
            "{**}" => {
                return Err(format!(
                    "path {path:?}: {{**}} is only allowed as the last segment"
                ));
            }
            _ if has_brace => {
                return Err(format!(
                    "path {path:?}: segment {seg:?} must be exactly {{*}} or {{**}}"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether `key` is an attribute Istio's authorization understands.
fn known_condition_key(key: &str) -> bool {
    const PLAIN: &[&str] = &[
        "source.ip",
        "remote.ip",
        "source.namespace",
        "source.serviceAccount",
        "source.principal",
        "source.trustDomain",
        "request.auth.principal",
        "request.auth.audiences",
        "request.auth.presenter",
        "destination.ip",
        "destination.port",
        "connection.sni",
    ];
    let bracketed = |prefix: &str| {
        key.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('['))
            .and_then(|rest| rest.strip_suffix(']'))
            .is_some_and(|inner| !inner.is_empty())
    };
    PLAIN.contains(&key)
        || bracketed("request.headers")
        || bracketed("request.auth.claims")
        || (key.starts_with("experimental.envoy.filters.")
            && key.ends_with(']')
            && key.contains('['))
}

/// AP-5: `when` keys are known attributes with values.
fn condition(c: &mut Checker, field: &str, w: &Condition) {
    if w.key.is_empty() {
        c.error(
            "AP-5",
            format!("{field}.key"),
            "condition key must not be empty",
        );
    } else if !known_condition_key(&w.key) {
        c.error(
            "AP-5",
            format!("{field}.key"),
            format!("unknown attribute {:?}", w.key),
        );
    }
    if w.values.is_empty() && w.not_values.is_empty() {
        c.error("AP-5", field, "condition needs values or notValues");
    }
    no_empty_strings(c, field, "values", &w.values);
    no_empty_strings(c, field, "notValues", &w.not_values);
}

/// AP-6: in a DENY policy, HTTP-only attributes cannot be evaluated on TCP traffic, so the
/// rule denies all TCP traffic to the selected workloads.
fn deny_with_http_only_fields(c: &mut Checker, field: &str, r: &Rule) {
    let http_source = r.from.iter().any(|f| {
        !f.source.request_principals.is_empty() || !f.source.not_request_principals.is_empty()
    });
    let http_op = r.to.iter().any(|t| {
        let o = &t.operation;
        !(o.hosts.is_empty()
            && o.not_hosts.is_empty()
            && o.methods.is_empty()
            && o.not_methods.is_empty()
            && o.paths.is_empty()
            && o.not_paths.is_empty())
    });
    let http_when = r.when.iter().any(|w| w.key.starts_with("request."));
    if http_source || http_op || http_when {
        c.warn(
            "AP-6",
            field,
            "DENY rule uses HTTP-only attributes; on TCP ports it denies all traffic",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::{
        AuthorizationPolicySpec, ExtensionProviderRef, Metadata, Mtls, MtlsMode, RuleFrom, RuleTo,
        WorkloadSelector,
    };
    use crate::validate::testing::{errors, labels, one, run, warnings};
    use std::collections::BTreeMap;

    fn ap(action: Option<AuthorizationAction>, rules: Vec<Rule>) -> AuthorizationPolicy {
        AuthorizationPolicy::new(
            Metadata::new("p", "shop"),
            AuthorizationPolicySpec {
                selector: Some(WorkloadSelector::new(labels(&[("app", "cart")]))),
                rules,
                action,
                provider: None,
            },
        )
    }

    fn from_principal(p: &str) -> Rule {
        Rule {
            from: vec![RuleFrom {
                source: Source {
                    principals: vec![p.into()],
                    ..Default::default()
                },
            }],
            ..Default::default()
        }
    }

    #[test]
    fn pa1_pa2_port_level_mtls() {
        let sel = Some(WorkloadSelector::new(labels(&[("app", "cart")])));
        let ok = PeerAuthenticationSpec {
            selector: sel.clone(),
            mtls: None,
            port_level_mtls: BTreeMap::from([(8080, Mtls::new(MtlsMode::Disable))]),
        };
        assert!(errors(|c| port_level_mtls(c, &ok)).is_empty());
        let no_sel = PeerAuthenticationSpec {
            selector: None,
            ..ok.clone()
        };
        assert_eq!(
            errors(|c| port_level_mtls(c, &no_sel)),
            one("PA-1", "spec.portLevelMtls")
        );
        let bad_port = PeerAuthenticationSpec {
            port_level_mtls: BTreeMap::from([(0, Mtls::new(MtlsMode::Strict))]),
            ..ok
        };
        assert_eq!(
            errors(|c| port_level_mtls(c, &bad_port)),
            one("PA-2", "spec.portLevelMtls[0]")
        );
    }

    #[test]
    fn pa3_selector() {
        let pa = PeerAuthentication::new(
            Metadata::new("p", "shop"),
            PeerAuthenticationSpec {
                selector: Some(WorkloadSelector::default()),
                mtls: Some(Mtls::new(MtlsMode::Strict)),
                ..Default::default()
            },
        );
        assert_eq!(
            warnings(|c| check_peer_authentication(c, &pa)),
            one("PA-3", "spec.selector.matchLabels")
        );
    }

    #[test]
    fn ap1_selector() {
        let mut p = ap(None, vec![]);
        assert!(run(|c| check_authorization_policy(c, &p)).is_empty());
        p.spec.selector = Some(WorkloadSelector::new(labels(&[("app*", "x")])));
        assert_eq!(
            errors(|c| check_authorization_policy(c, &p)),
            one("AP-1", "spec.selector.matchLabels[app*]")
        );
    }

    #[test]
    fn ap2_custom_action() {
        let mut p = ap(
            Some(AuthorizationAction::Custom),
            vec![Rule {
                to: vec![RuleTo {
                    operation: Operation {
                        paths: vec!["/admin".into()],
                        ..Default::default()
                    },
                }],
                ..Default::default()
            }],
        );
        p.spec.provider = Some(ExtensionProviderRef {
            name: "ext-authz".into(),
        });
        assert!(errors(|c| check_authorization_policy(c, &p)).is_empty());
        p.spec.rules = vec![from_principal("cluster.local/ns/a/sa/b")];
        assert_eq!(
            errors(|c| check_authorization_policy(c, &p)),
            one("AP-2", "spec.rules[0].from[0].source")
        );
        let mut allow = ap(None, vec![Rule::default()]);
        allow.spec.provider = Some(ExtensionProviderRef { name: "x".into() });
        assert_eq!(
            errors(|c| check_authorization_policy(c, &allow)),
            one("AP-2", "spec.provider")
        );
    }

    #[test]
    fn ap3_deny_needs_rules() {
        assert!(
            errors(|c| check_authorization_policy(
                c,
                &ap(Some(AuthorizationAction::Deny), vec![Rule::default()])
            ))
            .is_empty()
        );
        assert_eq!(
            errors(|c| check_authorization_policy(c, &ap(Some(AuthorizationAction::Deny), vec![]))),
            one("AP-3", "spec.rules")
        );
    }

    #[test]
    fn ap4_from_and_to_entries() {
        assert!(
            errors(|c| rule(c, "r", &from_principal("cluster.local/ns/shop/sa/web"))).is_empty()
        );
        let empty_source = Rule {
            from: vec![RuleFrom::default()],
            ..Default::default()
        };
        assert_eq!(
            errors(|c| rule(c, "r", &empty_source)),
            one("AP-4", "r.from[0].source")
        );
        let empty_op = Rule {
            to: vec![RuleTo::default()],
            ..Default::default()
        };
        assert_eq!(
            errors(|c| rule(c, "r", &empty_op)),
            one("AP-4", "r.to[0].operation")
        );
        let bad = Rule {
            from: vec![RuleFrom {
                source: Source {
                    ip_blocks: vec!["10.0.0.0/99".into()],
                    ..Default::default()
                },
            }],
            to: vec![RuleTo {
                operation: Operation {
                    ports: vec!["http".into()],
                    paths: vec!["/a/{**}/b".into()],
                    ..Default::default()
                },
            }],
            ..Default::default()
        };
        assert_eq!(
            errors(|c| rule(c, "r", &bad)),
            vec![
                ("AP-4", "r.from[0].source.ipBlocks[0]".to_owned()),
                ("AP-4", "r.to[0].operation.ports[0]".to_owned()),
                ("AP-4", "r.to[0].operation.paths[0]".to_owned()),
            ]
        );
        assert!(path_template("/api/{*}/items/{**}").is_ok());
        assert!(path_template("/api/{id}").is_err());
    }

    #[test]
    fn ap5_conditions() {
        let ok = Condition {
            key: "request.headers[x-user]".into(),
            values: vec!["a".into()],
            not_values: vec![],
        };
        assert!(errors(|c| condition(c, "w", &ok)).is_empty());
        let unknown = Condition {
            key: "destination.namespace".into(),
            ..ok.clone()
        };
        assert_eq!(
            errors(|c| condition(c, "w", &unknown)),
            one("AP-5", "w.key")
        );
        let no_values = Condition {
            values: vec![],
            ..ok
        };
        assert_eq!(errors(|c| condition(c, "w", &no_values)), one("AP-5", "w"));
    }

    #[test]
    fn ap6_deny_with_http_fields_warns() {
        assert!(
            warnings(|c| deny_with_http_only_fields(
                c,
                "r",
                &from_principal("cluster.local/ns/a/sa/b")
            ))
            .is_empty()
        );
        let http = Rule {
            to: vec![RuleTo {
                operation: Operation {
                    methods: vec!["POST".into()],
                    ..Default::default()
                },
            }],
            ..Default::default()
        };
        assert_eq!(
            warnings(|c| deny_with_http_only_fields(c, "r", &http)),
            one("AP-6", "r")
        );
    }
}
