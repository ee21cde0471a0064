//! `backends` / `backendGroups` and the Mesh egress filter → the node's Sidecar egress.
//!
//! App Mesh programs a node's Envoy only for the VirtualServices it lists as backends
//! (BackendGroups are expanded into backends by resolve). Under the Mesh's `DROP_ALL` egress
//! filter (the AWS default when `egressFilter` is absent) everything else is dropped, except
//! AWS API calls to `*.amazonaws.com` (App Mesh API `EgressFilter`); under `ALLOW_ALL` other
//! destinations are passed through untouched. The Istio equivalent is a Sidecar whose egress
//! imports exactly the backend hosts, with `outboundTrafficPolicy` `REGISTRY_ONLY` (drop what
//! the registry does not know) or `ALLOW_ANY` (pass it through).
//!
//! Hosts are imported as `*/<host>`: the Kubernetes Service making a host resolvable and the
//! Istio VirtualService routing it can live in different namespaces (an App Mesh
//! VirtualService's awsName may name a Service elsewhere), and the sidecar needs both. The
//! services a VirtualService routes to are imported by Istio along with it.

use std::collections::BTreeSet;

use crate::appmesh::AppMeshKind;
use crate::appmesh::mesh::EgressFilterType;
use crate::istio::OutboundTrafficMode;
use crate::resolve::{BackendSource, NsName, Target, default_aws_name};

use super::super::Context;
use super::NodeCtx;

pub(super) const CODE_BACKEND_ASSUMED: &str = "AMI2218";
pub(super) const CODE_BACKEND_ARN: &str = "AMI2219";
pub(super) const CODE_EGRESS_UNKNOWN: &str = "AMI2220";

/// What the node may call.
#[derive(Debug, Default)]
pub(super) struct Egress {
    /// Fully qualified backend hosts.
    pub(super) hosts: BTreeSet<String>,
    /// BackendGroups that contributed hosts.
    pub(super) groups: BTreeSet<NsName>,
    /// `None` when the node's Mesh (and so its egress filter) is unknown.
    pub(super) mode: Option<OutboundTrafficMode>,
}

/// The App Mesh VirtualService name inside a VirtualService ARN
/// (`arn:aws:appmesh:<region>:<account>:mesh/<mesh>/virtualService/<name>`).
pub(crate) fn virtual_service_name_of_arn(arn: &str) -> Option<&str> {
    let resource = arn.strip_prefix("arn:")?.splitn(5, ':').nth(4)?;
    let (_, name) = resource
        .strip_prefix("mesh/")?
        .split_once("/virtualService/")?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

fn backend_field(source: &BackendSource) -> String {
    match source {
        BackendSource::Listed { index } => format!("spec.backends[{index}]"),
        BackendSource::BackendGroup(_) | BackendSource::Wildcard { .. } => {
            "spec.backendGroups".to_owned()
        }
    }
}

/// The hosts the node's backends are called by, and the outbound mode of its Mesh.
pub(super) fn egress(ctx: &mut Context<'_>, n: &NodeCtx<'_>) -> Egress {
    let resolved = ctx.resolved;
    let mut out = Egress::default();
    for backend in &n.entry.backends {
        let field = backend_field(&backend.source);
        if let BackendSource::BackendGroup(group) = &backend.source {
            out.groups.insert(group.clone());
        }
        let host = match &backend.virtual_service {
            Target::Object(key) => match resolved.virtual_services.get(key) {
                Some(vs) => ctx.qualify(&vs.aws_name, &key.namespace),
                None => {
                    let assumed = ctx.qualify(
                        &default_aws_name(AppMeshKind::VirtualService, &key.namespace, &key.name),
                        &key.namespace,
                    );
                    ctx.note(
                        CODE_BACKEND_ASSUMED,
                        &n.subject,
                        &field,
                        format!(
                            "VirtualService {key} is not in the input; its host is assumed to be the default \
                             awsName, {assumed}"
                        ),
                    );
                    assumed
                }
            },
            Target::Arn(arn) => {
                match virtual_service_name_of_arn(arn) {
                    Some(name) => {
                        let host = ctx.qualify(name, n.namespace);
                        ctx.note(
                        CODE_BACKEND_ARN,
                        &n.subject,
                        &field,
                        format!(
                            "the backend's host {host} is taken from its ARN; the service behind it is not in the \
                             input and Istio reaches it only if its registry has {host}"
                        ),
                    );
                        host
                    }
                    None => {
                        ctx.note(
                        CODE_BACKEND_ARN,
                        &n.subject,
                        &field,
                        format!("{arn:?} is not a VirtualService ARN; the backend is not carried over"),
                    );
                        continue;
                    }
                }
            }
        };
        out.hosts.insert(host);
    }
    let mesh = resolved
        .mesh_of(&n.subject)
        .and_then(|m| resolved.meshes.get(m));
    out.mode = mesh.map(
        |m| match m.object.spec.egress_filter.as_ref().map(|f| f.type_) {
            Some(EgressFilterType::AllowAll) => OutboundTrafficMode::AllowAny,
            Some(EgressFilterType::DropAll) | None => OutboundTrafficMode::RegistryOnly,
        },
    );
    if out.mode.is_none() {
        ctx.note(
            CODE_EGRESS_UNKNOWN,
            &n.subject,
            "spec.backends",
            "the node's Mesh is not known, so neither is its egress filter: the Sidecar sets no \
             outboundTrafficPolicy and the mesh-wide meshConfig.outboundTrafficPolicy applies",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_service_arns_name_the_host() {
        assert_eq!(
            virtual_service_name_of_arn(
                "arn:aws:appmesh:us-west-2:123456789012:mesh/yelb/virtualService/yelb-db.yelb.svc.cluster.local"
            ),
            Some("yelb-db.yelb.svc.cluster.local")
        );
        assert_eq!(
            virtual_service_name_of_arn(
                "arn:aws:appmesh:us-west-2:123456789012:mesh/yelb/virtualNode/db_yelb"
            ),
            None
        );
        assert_eq!(virtual_service_name_of_arn("yelb-db"), None);
        assert_eq!(
            virtual_service_name_of_arn("arn:aws:appmesh:r:a:mesh/m/virtualService/"),
            None
        );
    }
}
