//! TLS of a VirtualGateway listener as a Gateway server's `tls` (certificates become Secrets
//! in the ingress gateway's namespace).

use crate::appmesh::common::{ListenerTlsMode, TlsValidationTrust};
use crate::appmesh::virtual_gateway::VirtualGatewayListenerTls;
use crate::istio::{ServerTlsMode, ServerTlsSettings};
use crate::origin::ObjectRef;
use crate::resolve::{NsName, VirtualGatewayEntry};

use super::{CODE_PERMISSIVE_TLS, CODE_TLS_SECRET};
use crate::convert::{Context, names};

/// The Secret a TLS listener's certificate must be stored in, in the ingress gateway's
/// namespace (shared by every VirtualGateway, hence the namespace in the name).
pub(super) fn secret_name(vg: &NsName, port: u32) -> String {
    names::dns1123_label(&format!("{}-{}-{port}-tls", vg.namespace, vg.name), 63)
}

pub(super) fn server_tls(
    ctx: &mut Context<'_>,
    vg: &VirtualGatewayEntry<'_>,
    subject: &ObjectRef,
    field: &str,
    port: u32,
    tls: &VirtualGatewayListenerTls,
) -> ServerTlsSettings {
    let secret = secret_name(&vg.common.key, port);
    let certificate = match (
        &tls.certificate.acm,
        &tls.certificate.file,
        &tls.certificate.sds,
    ) {
        (Some(acm), _, _) => format!(
            "the ACM certificate {} (ACM does not export the private keys of certificates it issues: issue one for the same names, e.g. with cert-manager)",
            acm.certificate_arn
        ),
        (None, Some(file), _) => format!(
            "the files {} and {} of the gateway's Envoy (copy their contents)",
            file.certificate_chain, file.private_key
        ),
        (None, None, Some(sds)) => {
            format!("the SDS secret {:?} (served by SPIRE)", sds.secret_name)
        }
        (None, None, None) => "no certificate source".to_owned(),
    };
    let mut settings = ServerTlsSettings {
        mode: Some(ServerTlsMode::Simple),
        credential_name: Some(secret.clone()),
        ..ServerTlsSettings::default()
    };
    let mut keys = "tls.crt and tls.key".to_owned();
    if let Some(validation) = &tls.validation {
        // Client certificates are required and verified against the CA in the same Secret
        // (`ca.crt`), as App Mesh verified them against the listener's trust.
        settings.mode = Some(ServerTlsMode::Mutual);
        keys = format!(
            "tls.crt, tls.key and ca.crt (the client CA: {})",
            describe_trust(&validation.trust)
        );
        if let Some(sans) = &validation.subject_alternative_names {
            settings.subject_alt_names = sans.match_.exact.clone();
        }
    }
    ctx.note(
        CODE_TLS_SECRET,
        subject,
        &format!("{field}.tls.certificate"),
        format!(
            "port {port} terminates TLS with {certificate}; create the Secret {secret:?} in namespace {} with {keys}",
            ctx.opts.ingress_gateway_namespace
        ),
    );
    if tls.mode == ListenerTlsMode::Permissive {
        ctx.note(
            CODE_PERMISSIVE_TLS,
            subject,
            &format!("{field}.tls.mode"),
            format!(
                "port {port} accepted both TLS and plain text; the Gateway server accepts TLS only"
            ),
        );
    }
    settings
}

pub(super) fn describe_trust(trust: &TlsValidationTrust) -> String {
    match (&trust.acm, &trust.file, &trust.sds) {
        (Some(acm), _, _) => format!(
            "ACM Private CA {}",
            acm.certificate_authority_arns.join(", ")
        ),
        (None, Some(file), _) => format!("file {}", file.certificate_chain),
        (None, None, Some(sds)) => format!("SDS secret {:?}", sds.secret_name),
        (None, None, None) => "no trust source given".to_owned(),
    }
}
