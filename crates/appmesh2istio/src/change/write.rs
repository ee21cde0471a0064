//! The writes a change may send, each carrying a precondition so that a concurrent change is
//! never overwritten, and how their failures are classified for the one retry policy.
//!
//! Every write is made against the object as the step last saw it (the live object when
//! planning, then each write's answer):
//!
//! | write | precondition | the server says the object changed |
//! |---|---|---|
//! | [`Operation::Create`] (POST) | the object does not exist | 409 AlreadyExists |
//! | [`Operation::Apply`] (server-side apply) | `metadata.uid` + `metadata.resourceVersion` in the body, when the object exists | 409 Conflict |
//! | [`Operation::JsonPatch`], [`Operation::Ownership`] | a leading `test` of `/metadata/resourceVersion` | 422 (failed test) |
//! | [`Operation::MergePatch`] | `metadata.resourceVersion` in the patch | 409 Conflict |
//! | [`Operation::Delete`] | `preconditions.uid` (and `resourceVersion` when asked) | 409 Conflict, 404 |
//!
//! A write whose precondition failed is [`WriteError::Stale`]: the engine re-reads the object,
//! asks the change to decide again, and sends the new decision (bounded). A write whose outcome
//! is unknown (5xx after the transport's own retries, connection broken) is
//! [`WriteError::Unknown`]: the engine waits as the [`RetryPolicy`] says and does the same, which
//! is safe because every write above is either idempotent or refused the second time by its own
//! precondition. Anything else the server refused is [`WriteError::Refused`]: certainly not
//! applied.

use std::time::Duration;

use http::Method;
use kube::api::{
    DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions, ValidationDirective,
};
use serde_json::{Value, json};

use super::object::{ObjectKey, resource_version, uid};
use super::ownership::OwnershipEdit;
use crate::cluster::transport::{Outcome, RequestTimedOut, RetryPolicy};
use crate::cluster::{Cluster, describe_kube_error};

/// How much of a server's message a result line quotes: a rejected object can come back whole
/// in the message, and one line of 80 KB helps nobody.
pub const MESSAGE_LIMIT: usize = 300;

/// One write of a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// POST `manifest`: creates the object, refused (409) when it exists.
    Create { manifest: Value },
    /// Server-side apply of `manifest` (the whole object) by the run's field manager; `force`
    /// takes over fields other managers own. Idempotent.
    Apply { manifest: Value, force: bool },
    /// An RFC 6902 JSON patch; its own `test` operations are preconditions too.
    JsonPatch { operations: Vec<Value> },
    /// An RFC 7386 merge patch.
    MergePatch { patch: Value },
    /// Rewrite `metadata.managedFields` only (see [`super::ownership`]); skipped when it changes
    /// nothing, and on a server dry run (there is no stored object to rewrite).
    Ownership(OwnershipEdit),
    /// DELETE; `resource_version` adds the resourceVersion to the uid precondition.
    Delete { resource_version: bool },
}

impl Operation {
    /// The RBAC verbs this write needs (`exists`: whether the object exists when planned).
    pub fn verbs(&self, exists: bool) -> &'static [&'static str] {
        match self {
            Operation::Create { .. } => &["create"],
            Operation::Apply { .. } if !exists => &["create", "patch"],
            Operation::Apply { .. }
            | Operation::JsonPatch { .. }
            | Operation::MergePatch { .. }
            | Operation::Ownership(_) => &["patch"],
            Operation::Delete { .. } => &["delete"],
        }
    }
}

/// What a write gave back.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// The object as stored (or, on a server dry run, as it would be).
    Stored(Value),
    /// Deleted (or being deleted).
    Deleted,
    /// Nothing needed sending.
    Skipped,
}

/// Why a write did not happen (or may not have).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The server refused it: certainly not applied.
    Refused { message: String },
    /// A precondition failed (the object changed, appeared or went away since it was read):
    /// re-read and decide again. `maybe_invalid`: a 422 that may also be a plain validation
    /// error; the engine tells them apart by re-reading (an unchanged resourceVersion means the
    /// object did not change, so the request itself was refused).
    Stale {
        message: String,
        maybe_invalid: bool,
    },
    /// Unknown outcome: the write may have been applied. `retry`: whether the policy allows
    /// trying again (never after the user's own `--request-timeout`).
    Unknown {
        message: String,
        retry: bool,
        retry_after: Option<Duration>,
    },
}

impl WriteError {
    pub fn message(&self) -> &str {
        match self {
            WriteError::Refused { message }
            | WriteError::Stale { message, .. }
            | WriteError::Unknown { message, .. } => message,
        }
    }
}

/// Where and how writes are sent.
#[derive(Debug, Clone)]
pub struct WriteContext<'a> {
    pub cluster: &'a Cluster,
    pub field_manager: &'a str,
    /// `dryRun=All` on every write.
    pub server_dry_run: bool,
    /// Send `fieldValidation=Strict` with server-side applies (Kubernetes 1.25 and later).
    pub field_validation: bool,
}

/// At most [`MESSAGE_LIMIT`] characters of `text`, saying how much was left out.
pub fn bounded(text: &str) -> String {
    let count = text.chars().count();
    if count <= MESSAGE_LIMIT {
        return text.to_owned();
    }
    let head: String = text.chars().take(MESSAGE_LIMIT).collect();
    format!("{head}… ({} more characters)", count - MESSAGE_LIMIT)
}

/// A kube error as a short message.
pub fn describe(error: &kube::Error) -> String {
    bounded(&describe_kube_error(error))
}

/// Send `operation` for `key`, against `current` (the object as the step last saw it).
pub async fn send(
    context: &WriteContext<'_>,
    key: &ObjectKey,
    operation: &Operation,
    current: Option<&Value>,
) -> Result<Sent, WriteError> {
    let api = key
        .api(&context.cluster.client)
        .map_err(|e| WriteError::Refused {
            message: e.to_string(),
        })?;
    let manager = Some(context.field_manager.to_owned());
    let dry_run = context.server_dry_run;
    let patch_params = PatchParams {
        dry_run,
        force: false,
        field_manager: manager.clone(),
        field_validation: None,
    };
    let stored = |object: DynamicObject| {
        serde_json::to_value(&object)
            .map(Sent::Stored)
            .map_err(|e| WriteError::Unknown {
                message: format!("cannot read the server's answer: {e}"),
                retry: true,
                retry_after: None,
            })
    };
    match operation {
        Operation::Create { manifest } => {
            let object: DynamicObject =
                serde_json::from_value(manifest.clone()).map_err(|e| WriteError::Refused {
                    message: format!("not an object: {e}"),
                })?;
            let params = PostParams {
                dry_run,
                field_manager: manager,
            };
            let created = if context.field_validation {
                create_strict(&api, &context.cluster.client, &params, &object).await
            } else {
                api.create(&params, &object).await
            };
            match created {
                Ok(created) => stored(created),
                Err(e) => Err(classify(&e, Kind::Create)),
            }
        }
        Operation::Apply { manifest, force } => {
            let mut manifest = manifest.clone();
            if let Some(current) = current {
                preconditions_in_body(&mut manifest, current, true);
            }
            let params = PatchParams {
                force: *force,
                field_validation: context
                    .field_validation
                    .then_some(ValidationDirective::Strict),
                ..patch_params
            };
            match api
                .patch(&key.name, &params, &Patch::Apply(&manifest))
                .await
            {
                Ok(object) => stored(object),
                Err(e) => Err(classify(&e, Kind::Apply)),
            }
        }
        Operation::JsonPatch { operations } => {
            let Some(current) = current else {
                return Err(WriteError::Stale {
                    message: "not found".into(),
                    maybe_invalid: false,
                });
            };
            let body = with_version_test(current, operations.clone());
            json_patch(&api, &key.name, &patch_params, body).await
        }
        Operation::MergePatch { patch } => {
            let mut patch = patch.clone();
            if let Some(current) = current {
                preconditions_in_body(&mut patch, current, false);
            }
            match api
                .patch(&key.name, &patch_params, &Patch::Merge(&patch))
                .await
            {
                Ok(object) => stored(object),
                Err(e) => Err(classify(&e, Kind::Patch)),
            }
        }
        Operation::Ownership(edit) => {
            let Some(current) = current else {
                return Ok(Sent::Skipped);
            };
            if dry_run {
                return Ok(Sent::Skipped);
            }
            let Some(entries) = edit.apply(current, context.field_manager) else {
                return Ok(Sent::Skipped);
            };
            let body = with_version_test(
                current,
                vec![json!({"op": "add", "path": "/metadata/managedFields", "value": entries})],
            );
            json_patch(&api, &key.name, &patch_params, body).await
        }
        Operation::Delete {
            resource_version: with_version,
        } => {
            let preconditions = current.map(|c| Preconditions {
                uid: uid(c).map(str::to_owned),
                resource_version: if *with_version {
                    resource_version(c).map(str::to_owned)
                } else {
                    None
                },
            });
            let params = DeleteParams {
                dry_run,
                preconditions,
                ..DeleteParams::default()
            };
            match api.delete(&key.name, &params).await {
                Ok(_) => Ok(Sent::Deleted),
                Err(e) => Err(classify(&e, Kind::Delete)),
            }
        }
    }
}

/// A POST with `fieldValidation=Strict` (kube's `PostParams` cannot say it): on servers that
/// have it (1.25+), an unknown field is refused instead of silently dropped.
async fn create_strict(
    api: &kube::Api<DynamicObject>,
    client: &kube::Client,
    params: &PostParams,
    object: &DynamicObject,
) -> Result<DynamicObject, kube::Error> {
    let body = serde_json::to_vec(object).map_err(kube::Error::SerdeError)?;
    let mut request = kube::core::Request::new(api.resource_url())
        .create(params, body)
        .map_err(kube::Error::BuildRequest)?;
    let uri = format!("{}&fieldValidation=Strict", request.uri());
    *request.uri_mut() = uri.parse().map_err(|e: http::uri::InvalidUri| {
        kube::Error::BuildRequest(kube::core::request::Error::BuildRequest(e.into()))
    })?;
    client.request::<DynamicObject>(request).await
}

async fn json_patch(
    api: &kube::Api<DynamicObject>,
    name: &str,
    params: &PatchParams,
    operations: Vec<Value>,
) -> Result<Sent, WriteError> {
    let patch: json_patch::Patch =
        serde_json::from_value(Value::Array(operations)).map_err(|e| WriteError::Refused {
            message: format!("not a JSON patch: {e}"),
        })?;
    match api.patch(name, params, &Patch::<()>::Json(patch)).await {
        Ok(object) => serde_json::to_value(&object)
            .map(Sent::Stored)
            .map_err(|e| WriteError::Unknown {
                message: format!("cannot read the server's answer: {e}"),
                retry: true,
                retry_after: None,
            }),
        Err(e) => Err(classify(&e, Kind::JsonPatch)),
    }
}

/// `metadata.resourceVersion` (and, for server-side apply, `metadata.uid`: an apply is
/// otherwise a create when the object went away) of `current`, in `body`.
fn preconditions_in_body(body: &mut Value, current: &Value, with_uid: bool) {
    if !body.is_object() {
        return;
    }
    if body.get("metadata").is_none_or(|m| !m.is_object()) {
        body["metadata"] = json!({});
    }
    if let Some(rv) = resource_version(current) {
        body["metadata"]["resourceVersion"] = json!(rv);
    }
    if with_uid && let Some(id) = uid(current) {
        body["metadata"]["uid"] = json!(id);
    }
}

/// A leading `test` of the resourceVersion `current` had.
fn with_version_test(current: &Value, operations: Vec<Value>) -> Vec<Value> {
    let mut out = Vec::with_capacity(operations.len() + 1);
    if let Some(rv) = resource_version(current) {
        out.push(json!({"op": "test", "path": "/metadata/resourceVersion", "value": rv}));
    }
    out.extend(operations);
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    Apply,
    JsonPatch,
    Patch,
    Delete,
}

/// How the policy sees a failed write, and what it means for the step.
fn classify(error: &kube::Error, kind: Kind) -> WriteError {
    let message = describe(error);
    match error {
        kube::Error::Api(status) => match status.code {
            // The object appeared (create), changed (precondition), or another manager owns
            // fields we set (server-side apply without force: not a precondition, refused).
            409 if kind == Kind::Apply && is_field_conflict(status) => WriteError::Refused {
                message: format!(
                    "{message}; another field manager owns some of these fields: use --force-conflicts to take them over"
                ),
            },
            409 => WriteError::Stale {
                message,
                maybe_invalid: false,
            },
            404 if kind != Kind::Create => WriteError::Stale {
                message,
                maybe_invalid: false,
            },
            422 if kind == Kind::JsonPatch => WriteError::Stale {
                message,
                maybe_invalid: true,
            },
            500 | 502 | 503 | 504 => WriteError::Unknown {
                message,
                retry: true,
                retry_after: status
                    .details
                    .as_ref()
                    .map(|d| Duration::from_secs(u64::from(d.retry_after_seconds)))
                    .filter(|d| !d.is_zero()),
            },
            _ => WriteError::Refused { message },
        },
        kube::Error::BuildRequest(_) | kube::Error::SerdeError(_) => {
            WriteError::Refused { message }
        }
        other => WriteError::Unknown {
            message,
            retry: !timed_out(other),
            retry_after: None,
        },
    }
}

fn is_field_conflict(status: &kube::core::Status) -> bool {
    status
        .details
        .as_ref()
        .is_some_and(|d| d.causes.iter().any(|c| c.reason == "FieldManagerConflict"))
        || status.message.starts_with("Apply failed with")
}

fn timed_out(error: &kube::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<RequestTimedOut>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// The wait before trying a write again after an unknown outcome, or `None` when the policy
/// gives up (`attempts` made so far). Writes here are safe to try again (see the module
/// documentation), so they get the policy's rules for idempotent requests.
pub fn retry_delay(policy: &RetryPolicy, error: &WriteError, attempts: u32) -> Option<Duration> {
    match error {
        WriteError::Unknown {
            retry: true,
            retry_after,
            ..
        } => policy.delay(
            &Method::GET,
            &Outcome::Status {
                code: 503,
                retry_after: *retry_after,
            },
            attempts,
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(
            kube::core::Status::failure(message, "x").with_code(code),
        ))
    }

    #[test]
    fn failures_are_classified_by_what_they_mean_for_the_step() {
        assert!(matches!(
            classify(&status(409, "exists"), Kind::Create),
            WriteError::Stale { .. }
        ));
        assert!(matches!(
            classify(&status(404, "gone"), Kind::Create),
            WriteError::Refused { .. }
        ));
        assert!(matches!(
            classify(&status(404, "gone"), Kind::Delete),
            WriteError::Stale { .. }
        ));
        assert!(matches!(
            classify(&status(422, "test failed"), Kind::JsonPatch),
            WriteError::Stale {
                maybe_invalid: true,
                ..
            }
        ));
        assert!(matches!(
            classify(&status(422, "invalid"), Kind::Apply),
            WriteError::Refused { .. }
        ));
        let conflict = classify(&status(409, "Apply failed with 1 conflict"), Kind::Apply);
        assert!(
            matches!(&conflict, WriteError::Refused { message } if message.contains("--force-conflicts")),
            "{conflict:?}"
        );
        assert!(matches!(
            classify(&status(409, "the object has been modified"), Kind::Apply),
            WriteError::Stale { .. }
        ));
        let unknown = classify(&status(503, "unavailable"), Kind::Create);
        assert!(matches!(unknown, WriteError::Unknown { retry: true, .. }));
        let policy = RetryPolicy::default();
        assert!(retry_delay(&policy, &unknown, 1).is_some());
        assert!(retry_delay(&policy, &unknown, policy.max_attempts).is_none());
        assert!(retry_delay(&policy, &classify(&status(403, "no"), Kind::Patch), 1).is_none());
    }

    #[test]
    fn messages_are_bounded() {
        let long = "x".repeat(80_000);
        let short = bounded(&long);
        assert!(
            short.chars().count() < MESSAGE_LIMIT + 40,
            "{}",
            short.len()
        );
        assert!(short.ends_with("(79700 more characters)"), "{short}");
        assert_eq!(bounded("short"), "short");
    }

    #[test]
    fn preconditions_go_into_the_body() {
        let current = json!({"metadata": {"uid": "u", "resourceVersion": "7"}});
        let mut apply = json!({"apiVersion": "v1", "metadata": {"name": "x"}});
        preconditions_in_body(&mut apply, &current, true);
        assert_eq!(
            apply["metadata"],
            json!({"name": "x", "uid": "u", "resourceVersion": "7"})
        );
        let mut merge = json!({"metadata": {"labels": {"a": "b"}}});
        preconditions_in_body(&mut merge, &current, false);
        assert_eq!(
            merge["metadata"],
            json!({"labels": {"a": "b"}, "resourceVersion": "7"})
        );
        let ops = with_version_test(&current, vec![json!({"op": "remove", "path": "/x"})]);
        assert_eq!(
            ops[0],
            json!({"op": "test", "path": "/metadata/resourceVersion", "value": "7"})
        );
        assert_eq!(ops.len(), 2);
    }
}
