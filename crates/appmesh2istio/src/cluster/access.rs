//! "Can I?": one SelfSubjectAccessReview per verb and resource, so a user learns which right is
//! missing before a step fails half-way. (SelfSubjectRulesReview would be fewer requests but
//! is documented as incomplete with webhook authorizers; the reviews are authoritative.)

use futures::{StreamExt, stream};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

use super::describe_kube_error;

/// One right to ask about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AccessRequest {
    pub verb: String,
    /// API group, empty for the core group.
    pub group: String,
    /// Plural resource name.
    pub resource: String,
    /// `None` asks about all namespaces (or a cluster-scoped resource).
    pub namespace: Option<String>,
}

impl AccessRequest {
    pub fn new(verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> Self {
        AccessRequest {
            verb: verb.to_owned(),
            group: group.to_owned(),
            resource: resource.to_owned(),
            namespace: namespace.map(str::to_owned),
        }
    }

    /// `deployments.apps`, `namespaces`: the resource as RBAC rules and kubectl name it.
    pub fn resource_name(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

impl std::fmt::Display for AccessRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource_name())?;
        match &self.namespace {
            Some(ns) => write!(f, " in namespace {ns}"),
            None => write!(f, " (all namespaces)"),
        }
    }
}

/// The answer to one [`AccessRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessAnswer {
    pub request: AccessRequest,
    pub allowed: bool,
    /// The authorizer's reason or evaluation error, when it gave one.
    pub reason: Option<String>,
    /// The review itself failed (e.g. the API server refused it).
    pub error: Option<String>,
}

/// Ask every question, a few at a time, in the order given.
pub async fn review_all(client: &kube::Client, requests: Vec<AccessRequest>) -> Vec<AccessAnswer> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    stream::iter(requests)
        .map(|request| {
            let api = api.clone();
            async move { review(&api, request).await }
        })
        .buffered(8)
        .collect()
        .await
}

async fn review(api: &Api<SelfSubjectAccessReview>, request: AccessRequest) -> AccessAnswer {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(request.verb.clone()),
                group: Some(request.group.clone()),
                resource: Some(request.resource.clone()),
                namespace: request.namespace.clone(),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    match api.create(&PostParams::default(), &review).await {
        Ok(answer) => {
            let status = answer.status.unwrap_or_default();
            let reason = status
                .reason
                .filter(|r| !r.is_empty())
                .or(status.evaluation_error.filter(|e| !e.is_empty()));
            AccessAnswer {
                request,
                allowed: status.allowed,
                reason,
                error: None,
            }
        }
        Err(e) => AccessAnswer {
            request,
            allowed: false,
            reason: None,
            error: Some(describe_kube_error(&e)),
        },
    }
}
