//! A change to the cluster: the one path every command that writes to a cluster takes
//! (`convert --apply` and `--undo` today; `label`, `rollout` and `cleanup` build on it).
//!
//! # The shape
//!
//! 1. **Plan** ([`plan`]): each object is read and its [`Change`] *decides* what to do with it:
//!    a [`Decision`] with an [`Action`] (create, update, label, delete, unchanged, conflict, …),
//!    details and warnings for the plan's row, the writes to send, and the undo entry to record.
//!    A read the server refuses (403) does not stop planning: its right is listed with the
//!    others. The plan is a table on stderr (colour per action, `--color`/`NO_COLOR`), a
//!    one-line summary, and with `-o json|yaml` a document (`apiVersion:
//!    appmesh2istio.io/v1alpha1`, `kind` per command) that later also carries the results.
//! 2. **Rights** ([`rights`]): one SelfSubjectAccessReview per verb, resource and namespace
//!    the writes need; every missing right is listed (with the refused reads) before any write.
//! 3. **Confirm** ([`args::confirm`]): `--yes`, or a dialoguer prompt on a terminal; without a
//!    terminal the command refuses ("rerun with --yes") and nothing is changed.
//!    `--dry-run=client` stops after the plan, `--dry-run=server` sends every write with
//!    `dryRun=All` and records nothing.
//! 4. **Record, then write** ([`journal`], [`write`](mod@write), [`engine`]): each object's
//!    undo entry is on disk (fsynced) before its first write; writes carry preconditions
//!    (resourceVersion, uid, JSON-patch `test`, create-only POST), so a concurrent change is
//!    never overwritten: a failed precondition re-reads the object, lets its change decide
//!    again and sends that (bounded). Unknown outcomes (5xx, broken connections) are retried
//!    under the one [`RetryPolicy`](crate::cluster::RetryPolicy) the same way, which is safe
//!    because every write either is idempotent or is refused the second time by its own
//!    precondition. Entries are removed only when the server certainly refused the write. Up
//!    to [`RunOptions::max_in_flight`] writes run at once within a phase; phases (e.g.
//!    Gateways before the VirtualServices that use them) run one after the other.
//! 5. **Verify** ([`engine::verify`]): every object written is read back and its change
//!    compares it with what it meant (for a takeover, the whole spec).
//! 6. **Results** ([`results`]): kubectl's result lines on stderr (`namespace/shop labeled`,
//!    `virtualservice.networking.istio.io/cart created (server dry run)`), short per-object
//!    messages (a server's message is cut at [`write::MESSAGE_LIMIT`] characters), what was and
//!    was not applied after a failure, the results merged into the `-o` document, and the exit
//!    code.
//!
//! # Adding a kind of change
//!
//! A command plugs in by implementing [`Change`] (a trait, not an enum, so that `label`,
//! `rollout` and `cleanup` add theirs without editing this module): it names its object, a
//! phase, how to decide from the live object, and how to verify it afterwards. What it may send
//! is the closed set of [`Operation`]s, each of which the engine knows how to send with its
//! precondition and how to retry; what it records is one of the [`UndoEntry`] kinds of the one
//! undo file format, which [`revert`] knows how to undo. Adding an operation or an undo kind is
//! the (rare) edit of this module; adding a command is not.
//!
//! # Using it from a command
//!
//! 1. One change per object (`impl Change`). Read them with [`Plan::read`] (a GET each), or
//!    list the objects yourself and call [`Plan::decide`]; a LIST the server refuses adds
//!    [`rights::request_for`]`("list", ..)` to [`Plan::forbidden`].
//! 2. [`engine::run`]`(cluster, &SPEC, &plan, &RunOptions::new(&args), header)` does the rest
//!    and returns a [`Report`] (exit code, per-object results, undo file, `-o` document). A
//!    [`CommandSpec`] names the command and its undo command; [`RunOptions::max_in_flight`]
//!    bounds concurrent writes (convert: 1, in dependency order).
//! 3. `--undo FILE`: [`Plan::read`] of [`revert::changes`]`(&UndoRecord::read(file)?)`, then
//!    [`engine::run`] with a spec whose `undo_command` is `None` (an undo writes no undo file).
//!
//! Built-in changes: [`manifests::ApplyManifest`] (convert `--apply`: create, or take the object
//! over so that it is exactly the generated one) and [`revert::Revert`] (undo of every entry
//! kind).

pub mod args;
pub mod engine;
pub mod journal;
pub mod manifests;
pub mod object;
pub mod ownership;
pub mod plan;
pub mod record;
pub mod results;
pub mod revert;
pub mod rights;
pub mod write;

use serde_json::Value;

pub use args::{ChangeArgs, DryRun};
pub use engine::{CommandSpec, Report, RunOptions, run};
pub use journal::Journal;
pub use object::ObjectKey;
pub use plan::{Action, Decision, Plan, PlanItem, Tone};
pub use record::{UndoEntry, UndoRecord};
pub use results::{Applied, ItemResult, Status, VerifyProblem};
pub use write::Operation;

use crate::cluster::{Cluster, describe_kube_error};

/// `--field-manager`'s default, named after the command as kubectl names its own managers.
pub const DEFAULT_FIELD_MANAGER: &str = "kubectl-appmesh2istio";
/// `apiVersion` of plan and undo documents.
pub const DOCUMENT_API_VERSION: &str = "appmesh2istio.io/v1alpha1";

/// One kind of change to one object. See the module documentation.
pub trait Change: Send + Sync {
    /// The object this change is about.
    fn key(&self) -> &ObjectKey;

    /// Write order: every write of a lower phase finishes before any of a higher phase starts.
    fn phase(&self) -> u32 {
        0
    }

    /// What to do, given the object as it is now (`None`: it does not exist). Called while
    /// planning, and again whenever a write found the object changed since.
    fn decide(&self, live: Option<&Value>) -> Decision;

    /// The verbs this change may need whatever it finds (`create`, `patch`): asked about for
    /// objects the server refused to show while planning, so that the list of missing rights is
    /// complete.
    fn possible_verbs(&self) -> &'static [&'static str] {
        &[]
    }

    /// After writing: what differs between the object read back (`None`: absent) and what the
    /// decision meant. On a server dry run `live` is the server's answer.
    fn verify(&self, decision: &Decision, live: Option<&Value>, dry_run: DryRun) -> Vec<String> {
        let _ = (decision, live, dry_run);
        Vec::new()
    }
}

/// Why a change could not be planned or carried out.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("cannot reach the cluster at {server}{}: {message}", context.as_deref().map(|c| format!(" (context {c})")).unwrap_or_default())]
    Unreachable {
        server: String,
        context: Option<String>,
        message: String,
    },
    #[error("{what}: {message}")]
    Api {
        what: String,
        /// The HTTP status the server answered.
        code: u16,
        message: String,
    },
    #[error("{0} is not a kind appmesh2istio changes")]
    UnknownKind(String),
    #[error("cannot serialise {what}: {message}")]
    Serialise { what: String, message: String },
    /// Something the command needs is missing in the cluster; nothing was changed.
    #[error("{0}")]
    NotReady(String),
    /// No confirmation (no terminal and no `--yes`, or the prompt failed).
    #[error("{0}")]
    NotConfirmed(String),
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    #[error("cannot write to standard output: {0}")]
    Output(String),
}

impl ChangeError {
    /// From a failed API call: unreachable (naming the server and context) or the server's answer.
    pub fn from_kube(cluster: &Cluster, what: String, source: kube::Error) -> ChangeError {
        match &source {
            kube::Error::Api(status) => ChangeError::Api {
                what,
                code: status.code,
                message: write::bounded(&describe_kube_error(&source)),
            },
            other => ChangeError::Unreachable {
                server: cluster.server.clone(),
                context: cluster.context.clone(),
                message: describe_kube_error(other),
            },
        }
    }

    pub fn is_forbidden(&self) -> bool {
        matches!(self, ChangeError::Api { code: 403, .. })
    }

    /// True when the server could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ChangeError::Unreachable { .. })
    }
}
