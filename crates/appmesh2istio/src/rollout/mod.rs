//! `kubectl appmesh2istio rollout`: restart the workloads of a namespace set so that their
//! pods come back with Istio's sidecar (or in ambient mode), verified on the real Pod objects;
//! in place, in phased waves, or canary first. Every write goes through [`crate::change`]
//! (plan, confirmation, undo file before the write, preconditions, retries).
//!
//! | module | what |
//! |---|---|
//! | [`select`] | which workloads still need a restart, which are skipped and why |
//! | [`annotations`] | App Mesh pod annotations → Istio's, in the restart patch |
//! | [`steps`] | the [`Change`](crate::change::Change)s: restart, canary copy, skip rows |
//! | [`coupling`] | App Mesh's dependency graph and TLS-coupled groups |
//! | [`waves`] | phased waves, backends first, coupled groups together |
//! | [`wait`] | `kubectl rollout status` semantics with watches; checking the new pods |
//! | [`run`] | the strategies, `--check`, Ctrl-C, `--undo` |
//! | [`progress`] | progress lines or bars, the result table |

pub mod annotations;
pub mod coupling;
pub mod progress;
mod read;
pub mod run;
mod runner;
pub mod select;
pub mod steps;
mod undo;
pub mod wait;
pub mod waves;

use std::path::PathBuf;
use std::time::Duration;

use crate::change::ChangeArgs;
use crate::cli::{ColorChoice, OutputFormat};
use crate::cluster::KubeArgs;

/// `--help`'s examples and exit codes.
pub const EXAMPLES: &str = "\
Examples:
  # Restart every workload of namespace shop that still runs App Mesh's Envoy (plan, confirm)
  kubectl appmesh2istio rollout -n shop

  # Two namespaces, 5 workloads at a time, no prompt (CI)
  kubectl appmesh2istio rollout -n shop -n payments --max-concurrent 5 --yes

  # Namespace by namespace, backends first, 2 minutes between waves, a smoke test after each
  kubectl appmesh2istio rollout -A --strategy phased --phase-wait 2m --check './smoke.sh'

  # A canary copy on Istio first (10% of the replicas), held 5 minutes under a check
  kubectl appmesh2istio rollout -n shop --strategy canary --canary-percent 10 --canary-wait 5m \\
      --check 'curl -fsS http://web.$APPMESH2ISTIO_NAMESPACE/healthz'

  # What would happen, as JSON
  kubectl appmesh2istio rollout -A --dry-run=client -o json

  # Put the pod templates back and restart those workloads (onto App Mesh)
  kubectl appmesh2istio rollout --undo appmesh2istio-undo-20261205T080000Z.yaml

Exit codes:
  0  every selected workload rolled out and its new pods are verified on Istio (or nothing
     needed a restart)
  1  refused (no --yes without a terminal, declined, missing rights), could not read the
     cluster, a restart, rollout, verification, canary or --check failed, or Ctrl-C; the
     result table says which workload is where, and running it again continues
  2  usage error";

/// `--strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Strategy {
    /// Every selected workload, at most --max-concurrent at a time.
    #[default]
    InPlace,
    /// Waves (namespaces, or --batch-size workloads), each verified before the next.
    Phased,
    /// A temporary copy on Istio first, then the workload (Deployments; others in place).
    Canary,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::InPlace => "in-place",
            Strategy::Phased => "phased",
            Strategy::Canary => "canary",
        }
    }
}

/// What `rollout` was asked to do (the binary's flags).
#[derive(Debug, Clone)]
pub struct RolloutCommand {
    pub kube: KubeArgs,
    /// `-n`, repeatable (KubeArgs' own `-n` is the first).
    pub namespaces: Vec<String>,
    /// `-l`: namespaces by label.
    pub selector: Option<String>,
    pub all: bool,
    pub strategy: Strategy,
    pub max_concurrent: usize,
    pub continue_on_failure: bool,
    pub batch_size: Option<usize>,
    pub phase_wait: Option<Duration>,
    pub canary_replicas: Option<i64>,
    pub canary_percent: Option<u32>,
    pub canary_wait: Duration,
    pub check: Option<String>,
    pub timeout: Duration,
    pub output: Option<OutputFormat>,
    pub color: ColorChoice,
    pub change: ChangeArgs,
    /// `--undo [FILE]`: `Some(None)` picks the newest rollout undo file here.
    pub undo: Option<Option<PathBuf>>,
}

impl Default for RolloutCommand {
    fn default() -> Self {
        RolloutCommand {
            kube: KubeArgs::default(),
            namespaces: Vec::new(),
            selector: None,
            all: false,
            strategy: Strategy::InPlace,
            max_concurrent: 5,
            continue_on_failure: false,
            batch_size: None,
            phase_wait: None,
            canary_replicas: None,
            canary_percent: None,
            canary_wait: Duration::from_secs(60),
            check: None,
            timeout: Duration::from_secs(300),
            output: None,
            color: ColorChoice::Auto,
            change: ChangeArgs::default(),
            undo: None,
        }
    }
}

/// Flags that make no sense together or alone (a usage error, exit 2): the message.
pub fn usage_error(command: &RolloutCommand) -> Option<String> {
    let phased_only = command.batch_size.is_some() || command.phase_wait.is_some();
    let canary_only = command.canary_replicas.is_some() || command.canary_percent.is_some();
    if phased_only && command.strategy != Strategy::Phased {
        return Some("--batch-size and --phase-wait need --strategy phased".into());
    }
    if canary_only && command.strategy != Strategy::Canary {
        return Some("--canary-replicas and --canary-percent need --strategy canary".into());
    }
    if command.canary_replicas.is_some() && command.canary_percent.is_some() {
        return Some("give --canary-replicas or --canary-percent, not both".into());
    }
    if command.canary_percent.is_some_and(|p| p == 0 || p > 100) {
        return Some("--canary-percent must be between 1 and 100".into());
    }
    if command.canary_replicas.is_some_and(|r| r < 1) {
        return Some("--canary-replicas must be at least 1".into());
    }
    if command.max_concurrent == 0 {
        return Some("--max-concurrent must be at least 1".into());
    }
    if command.batch_size == Some(0) {
        return Some("--batch-size must be at least 1".into());
    }
    if command.undo.is_some() && (command.all || command.strategy != Strategy::InPlace) {
        return Some(
            "--undo takes no --all or --strategy: it restores what the undo file recorded".into(),
        );
    }
    None
}

/// Run `rollout`; returns the exit code.
pub fn run(command: &RolloutCommand) -> i32 {
    run::run(command)
}
