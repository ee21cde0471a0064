//! Listener TLS and client-policy TLS of a VirtualNode.
//!
//! App Mesh TLS is configured per listener (server side: mode, certificate, optional client
//! validation) and per backend (client side: trust, optional client certificate). Istio
//! replaces both ends with its own workload certificates and automatic mutual TLS; what
//! remains to say is the listener *mode* (a `PeerAuthentication`) and, where App Mesh checked
//! the callers' subject alternative names, which identities may call (an
//! `AuthorizationPolicy` on SPIFFE principals).

use std::collections::BTreeMap;

use crate::appmesh::common::{
    ClientPolicyTls, ListenerTls, ListenerTlsMode, ListenerTlsValidationTrust, TlsValidationTrust,
};
use crate::istio::{
    AuthorizationAction, AuthorizationPolicySpec, Mtls, MtlsMode, Operation,
    PeerAuthenticationSpec, Rule, RuleFrom, RuleTo, Source,
};
use crate::resolve::BackendSource;

use super::super::Context;
use super::NodeCtx;
use super::selector::Scope;

pub(super) const CODE_CERTIFICATE: &str = "AMI2208";
pub(super) const CODE_SAN_NOT_CONVERTED: &str = "AMI2209";
pub(super) const CODE_SAN_TRUST_DOMAIN: &str = "AMI2210";
pub(super) const CODE_CLIENT_TLS: &str = "AMI2211";

/// Istio's default trust domain, the one the generated principals are valid in as is.
const ISTIO_TRUST_DOMAIN: &str = "cluster.local";

pub(super) fn mtls_mode(mode: ListenerTlsMode) -> MtlsMode {
    match mode {
        ListenerTlsMode::Strict => MtlsMode::Strict,
        ListenerTlsMode::Permissive => MtlsMode::Permissive,
        ListenerTlsMode::Disabled => MtlsMode::Disable,
    }
}

/// The PeerAuthentication body (without selector) for the node's listener TLS modes: one mode
/// when every listener has the same, otherwise one per listener (container) port. Listeners
/// without `tls` keep the namespace/mesh default.
pub(super) fn peer_authentication(
    ctx: &mut Context<'_>,
    n: &NodeCtx<'_>,
    scope: &Scope,
) -> Option<PeerAuthenticationSpec> {
    // Listeners without a valid port cannot be addressed by port (reported with the node).
    let listeners: Vec<_> = n
        .node
        .spec
        .listeners
        .iter()
        .filter_map(|l| Some((super::listeners::istio_port(l.port_mapping.port)?, l)))
        .collect();
    let modes: Vec<(u32, ListenerTlsMode)> = listeners
        .iter()
        .filter_map(|(port, l)| l.tls.as_ref().map(|t| (*port, t.mode)))
        .collect();
    let (_, first) = *modes.first()?;
    if modes.len() == listeners.len() && modes.iter().all(|(_, m)| *m == first) {
        return Some(PeerAuthenticationSpec {
            mtls: Some(Mtls::new(mtls_mode(first))),
            ..PeerAuthenticationSpec::default()
        });
    }
    if scope.labels().is_none() {
        // Istio rejects portLevelMtls without a selector (PA-1).
        ctx.note(
            super::CODE_SELECTOR_UNEXPRESSIBLE,
            &n.subject,
            "spec.listeners",
            "listeners use different TLS modes, which needs a per-port PeerAuthentication, and Istio allows \
             those only with a label selector; the listener TLS modes are not converted",
        );
        return None;
    }
    let port_level_mtls: BTreeMap<u32, Mtls> = modes
        .into_iter()
        .map(|(port, mode)| (port, Mtls::new(mtls_mode(mode))))
        .collect();
    Some(PeerAuthenticationSpec {
        port_level_mtls,
        ..PeerAuthenticationSpec::default()
    })
}

fn describe_listener_trust(trust: &ListenerTlsValidationTrust) -> String {
    match (&trust.file, &trust.sds) {
        (Some(file), _) => format!("the CA file {}", file.certificate_chain),
        (None, Some(sds)) => format!("the SDS secret {}", sds.secret_name),
        (None, None) => "the configured trust".to_owned(),
    }
}

fn describe_certificate(tls: &ListenerTls) -> String {
    let c = &tls.certificate;
    match (&c.acm, &c.file, &c.sds) {
        (Some(acm), _, _) => format!("ACM certificate {}", acm.certificate_arn),
        (None, Some(file), _) => format!("certificate file {}", file.certificate_chain),
        (None, None, Some(sds)) => format!("SDS secret {}", sds.secret_name),
        (None, None, None) => "certificate".to_owned(),
    }
}

/// Findings for the listener certificates and client validation that Istio's workload
/// certificates replace.
pub(super) fn certificate_findings(ctx: &mut Context<'_>, n: &NodeCtx<'_>) {
    for (i, l) in n.node.spec.listeners.iter().enumerate() {
        let Some(tls) = &l.tls else { continue };
        if tls.mode == ListenerTlsMode::Disabled {
            continue;
        }
        let mut message = format!(
            "the listener's {} is replaced by the Istio workload certificate of the pod's service account",
            describe_certificate(tls)
        );
        match &tls.validation {
            Some(v) => message.push_str(&format!(
                "; callers are verified against Istio's root CA instead of {}",
                describe_listener_trust(&v.trust)
            )),
            None if tls.mode == ListenerTlsMode::Strict => message.push_str(
                "; Istio STRICT also requires callers to present a certificate (mutual TLS), which App Mesh \
                 required only with validation, so callers without an Istio sidecar can no longer connect",
            ),
            None => {}
        }
        ctx.note(
            CODE_CERTIFICATE,
            &n.subject,
            &format!("spec.listeners[{i}].tls.certificate"),
            message,
        );
    }
}

/// `spiffe://<td>/ns/<ns>/sa/<sa>` → Istio principal `<td>/ns/<ns>/sa/<sa>` and its trust domain.
pub(super) fn principal_of_san(san: &str) -> Option<(String, &str)> {
    let (trust_domain, path) = san.strip_prefix("spiffe://")?.split_once('/')?;
    match path.split('/').collect::<Vec<_>>().as_slice() {
        ["ns", ns, "sa", sa] if !trust_domain.is_empty() && !ns.is_empty() && !sa.is_empty() => {
            Some((format!("{trust_domain}/ns/{ns}/sa/{sa}"), trust_domain))
        }
        _ => None,
    }
}

/// An AuthorizationPolicy body (without selector) reproducing the listeners' SAN checks:
/// DENY an authenticated caller whose identity is not listed, on that listener's port.
/// Plaintext callers are left to the PeerAuthentication mode, as App Mesh left them to the
/// listener mode (PERMISSIVE accepts them without a certificate to check).
pub(super) fn san_policy(
    ctx: &mut Context<'_>,
    n: &NodeCtx<'_>,
) -> Option<AuthorizationPolicySpec> {
    let mut rules = Vec::new();
    for (i, l) in n.node.spec.listeners.iter().enumerate() {
        let Some(tls) = l
            .tls
            .as_ref()
            .filter(|t| t.mode != ListenerTlsMode::Disabled)
        else {
            continue;
        };
        let Some(port) = super::listeners::istio_port(l.port_mapping.port) else {
            continue;
        };
        let Some(sans) = tls
            .validation
            .as_ref()
            .and_then(|v| v.subject_alternative_names.as_ref())
        else {
            continue;
        };
        let field = format!("spec.listeners[{i}].tls.validation.subjectAlternativeNames");
        let parsed: Vec<Option<(String, &str)>> = sans
            .match_
            .exact
            .iter()
            .map(|s| principal_of_san(s))
            .collect();
        let unparsable: Vec<&str> = sans
            .match_
            .exact
            .iter()
            .zip(&parsed)
            .filter(|(_, p)| p.is_none())
            .map(|(s, _)| s.as_str())
            .collect();
        if !unparsable.is_empty() || parsed.is_empty() {
            ctx.note(
                CODE_SAN_NOT_CONVERTED,
                &n.subject,
                &field,
                format!(
                    "only callers presenting {} were accepted on port {}; {} not a SPIFFE ID of the form \
                     spiffe://<trust domain>/ns/<namespace>/sa/<service account>, so the check is not converted",
                    sans.match_.exact.join(", "),
                    l.port_mapping.port,
                    if unparsable.len() == 1 { format!("{} is", unparsable.join(", ")) } else { format!("{} are", unparsable.join(", ")) }
                ),
            );
            continue;
        }
        let mut principals: Vec<String> = Vec::new();
        let mut foreign: Vec<&str> = Vec::new();
        for (principal, trust_domain) in parsed.into_iter().flatten() {
            if trust_domain != ISTIO_TRUST_DOMAIN && !foreign.contains(&trust_domain) {
                foreign.push(trust_domain);
            }
            if !principals.contains(&principal) {
                principals.push(principal);
            }
        }
        if !foreign.is_empty() {
            ctx.note(
                CODE_SAN_TRUST_DOMAIN,
                &n.subject,
                &field,
                format!(
                    "the allowed callers are in trust domain {}, Istio's default is {ISTIO_TRUST_DOMAIN}; the \
                     AuthorizationPolicy matches them only if Istio uses that trust domain",
                    foreign.join(", ")
                ),
            );
        }
        rules.push(Rule {
            from: vec![RuleFrom {
                source: Source {
                    principals: vec!["*".to_owned()],
                    not_principals: principals,
                    ..Source::default()
                },
            }],
            to: vec![RuleTo {
                operation: Operation {
                    ports: vec![port.to_string()],
                    ..Operation::default()
                },
            }],
            when: Vec::new(),
        });
    }
    (!rules.is_empty()).then_some(AuthorizationPolicySpec {
        selector: None,
        rules,
        action: Some(AuthorizationAction::Deny),
        provider: None,
    })
}

fn describe_trust(trust: &TlsValidationTrust) -> String {
    match (&trust.acm, &trust.file, &trust.sds) {
        (Some(acm), _, _) => format!(
            "ACM Private CA trust {}",
            acm.certificate_authority_arns.join(", ")
        ),
        (None, Some(file), _) => format!("the CA file {}", file.certificate_chain),
        (None, None, Some(sds)) => format!("the SDS trust {}", sds.secret_name),
        (None, None, None) => "the configured trust".to_owned(),
    }
}

fn describe_client_tls(tls: &ClientPolicyTls) -> String {
    let mut parts = vec![format!(
        "servers validated against {}",
        describe_trust(&tls.validation.trust)
    )];
    if let Some(sans) = &tls.validation.subject_alternative_names {
        parts.push(format!(
            "server names checked against {} (Istio checks the server's service-account identity instead)",
            sans.match_.exact.join(", ")
        ));
    }
    if let Some(cert) = &tls.certificate {
        match (&cert.file, &cert.sds) {
            (Some(file), _) => parts.push(format!(
                "client certificate file {}",
                file.certificate_chain
            )),
            (None, Some(sds)) => parts.push(format!(
                "client certificate from SDS secret {}",
                sds.secret_name
            )),
            (None, None) => {}
        }
    }
    if !tls.ports.is_empty() {
        let ports: Vec<String> = tls.ports.iter().map(ToString::to_string).collect();
        parts.push(format!(
            "only on ports {} (Istio's mutual TLS covers every port)",
            ports.join(", ")
        ));
    }
    if tls.enforce == Some(false) {
        parts.push(
            "not enforced (Istio uses mutual TLS whenever the server has a sidecar)".to_owned(),
        );
    }
    parts.join("; ")
}

/// Findings for client policies: calls to mesh backends use Istio's automatic mutual TLS.
pub(super) fn client_policy_findings(ctx: &mut Context<'_>, n: &NodeCtx<'_>) {
    let defaults = n
        .node
        .spec
        .backend_defaults
        .as_ref()
        .and_then(|d| d.client_policy.as_ref())
        .and_then(|p| p.tls.as_ref());
    if let Some(tls) = defaults {
        ctx.note(
            CODE_CLIENT_TLS,
            &n.subject,
            "spec.backendDefaults.clientPolicy.tls",
            format!(
                "TLS to every backend becomes Istio's automatic mutual TLS, replacing: {}",
                describe_client_tls(tls)
            ),
        );
    }
    for backend in &n.entry.backends {
        let (BackendSource::Listed { index }, Some(tls)) = (
            &backend.source,
            backend.client_policy.and_then(|p| p.tls.as_ref()),
        ) else {
            continue;
        };
        ctx.note(
            CODE_CLIENT_TLS,
            &n.subject,
            &format!("spec.backends[{index}].virtualService.clientPolicy.tls"),
            format!(
                "TLS to this backend becomes Istio's automatic mutual TLS, replacing: {}",
                describe_client_tls(tls)
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spiffe_service_account_ids_become_principals() {
        assert_eq!(
            principal_of_san("spiffe://cluster.local/ns/shop/sa/frontend"),
            Some((
                "cluster.local/ns/shop/sa/frontend".to_owned(),
                "cluster.local"
            ))
        );
        assert_eq!(
            principal_of_san("spiffe://example.org/ns/shop/sa/frontend").map(|p| p.1.to_owned()),
            Some("example.org".to_owned())
        );
        assert_eq!(
            principal_of_san("spiffe://howto-k8s-mtls-sds-based.aws/front"),
            None
        );
        assert_eq!(principal_of_san("front.shop.svc.cluster.local"), None);
        assert_eq!(principal_of_san("spiffe://td/ns//sa/x"), None);
    }
}
