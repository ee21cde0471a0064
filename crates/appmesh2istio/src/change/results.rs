//! What happened to each object of a run: its result, kubectl's result line, and the end of
//! the run (what was and was not applied, verification, the exit code).

use serde_json::{Map, Value, json};

use super::args::DryRun;
use super::engine::{CommandSpec, RunOptions};
use super::plan::{Decision, Plan};
use super::{Change, ObjectKey};
use crate::exit;

/// Whether a failed write may have changed the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Certainly not: the server refused the first write.
    No,
    /// Perhaps: the outcome of a write is unknown.
    Maybe,
    /// Some writes of the step happened, a later one failed.
    Partly,
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Written (or nothing needed writing): the result line says the decision's `done` word.
    Done,
    Failed {
        applied: Applied,
        message: String,
    },
    /// Not attempted: an earlier failure stopped the run.
    NotStarted,
}

/// One object's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemResult {
    /// The decision carried out (after re-planning, the last one; its action is the one that
    /// took effect, so a write that succeeded before a re-plan keeps the plan's action).
    pub decision: Decision,
    pub status: Status,
    /// Writes sent again (after an unknown outcome) or re-planned (after a failed precondition).
    pub retries: u32,
    /// The last object the server returned (what was stored, or would be on a server dry run).
    pub answer: Option<Value>,
    /// Whether anything was sent for it.
    pub wrote: bool,
}

impl ItemResult {
    pub(crate) fn skipped(decision: &Decision, status: Status) -> ItemResult {
        ItemResult {
            decision: decision.clone(),
            status,
            retries: 0,
            answer: None,
            wrote: false,
        }
    }

    /// For the `-o` document: `result` and, on failure, `message`.
    pub fn document_fields(&self) -> Map<String, Value> {
        let mut out = Map::new();
        match &self.status {
            Status::Done => {
                out.insert("result".into(), json!(self.decision.action.done));
            }
            Status::Failed { applied, message } => {
                let result = if *applied == Applied::No {
                    "failed"
                } else {
                    "unknown"
                };
                out.insert("result".into(), json!(result));
                out.insert("message".into(), json!(message));
            }
            Status::NotStarted => {
                out.insert("result".into(), json!("notApplied"));
            }
        }
        out
    }
}

/// A difference found by verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyProblem {
    pub key: ObjectKey,
    pub message: String,
}

impl std::fmt::Display for VerifyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

pub(crate) fn print_result(key: &ObjectKey, result: &ItemResult, options: &RunOptions) {
    let retried = if result.retries > 0 && options.verbosity > 0 {
        format!(" (after {} retries)", result.retries)
    } else {
        String::new()
    };
    match &result.status {
        Status::Done => eprintln!(
            "{} {}{}{retried}",
            key.kubectl_name(),
            result.decision.action.done,
            options.dry_run.suffix()
        ),
        Status::Failed { message, .. } => {
            let attempts = if result.retries > 0 {
                format!(" (after {} attempts)", result.retries + 1)
            } else {
                String::new()
            };
            eprintln!(
                "error: cannot {} {key}: {message}{attempts}",
                result.decision.action.verb
            );
        }
        Status::NotStarted => {}
    }
}

/// Print the end of a run (failures, what was and was not written, verification) and return
/// the exit code.
pub fn finish<C: Change>(
    spec: &CommandSpec,
    plan: &Plan<C>,
    results: &[ItemResult],
    problems: &[VerifyProblem],
    options: &RunOptions,
) -> i32 {
    for problem in problems {
        eprintln!("verify: {problem}");
    }
    let planned_writes = plan.writes();
    let written: Vec<String> = plan
        .items
        .iter()
        .zip(results)
        .filter(|(i, r)| i.decision.writes() && r.status == Status::Done)
        .map(|(i, _)| i.change.key().to_string())
        .collect();
    let maybe: Vec<String> = plan
        .items
        .iter()
        .zip(results)
        .filter(
            |(_, r)| matches!(r.status, Status::Failed { applied, .. } if applied != Applied::No),
        )
        .map(|(i, _)| i.change.key().to_string())
        .collect();
    let not_written: Vec<String> = plan
        .items
        .iter()
        .zip(results)
        .filter(|(i, r)| {
            i.decision.writes()
                && matches!(
                    r.status,
                    Status::NotStarted
                        | Status::Failed {
                            applied: Applied::No,
                            ..
                        }
                )
        })
        .map(|(i, _)| i.change.key().to_string())
        .collect();
    let failed = results
        .iter()
        .any(|r| matches!(r.status, Status::Failed { .. }));
    if failed {
        let how = if options.stop_on_failure {
            "stopped at the first error"
        } else {
            "some writes failed"
        };
        eprintln!(
            "{how}: {} of {planned_writes} writes applied",
            written.len()
        );
        if !written.is_empty() {
            eprintln!("  applied: {}", written.join(", "));
        }
        if !maybe.is_empty() {
            eprintln!("  may or may not have been applied: {}", maybe.join(", "));
        }
        if !not_written.is_empty() {
            eprintln!("  not applied: {}", not_written.join(", "));
        }
        return exit::FAILURE;
    }
    if !problems.is_empty() {
        return exit::FAILURE;
    }
    let changed = results.iter().filter(|r| r.wrote).count();
    match options.dry_run {
        DryRun::Server => eprintln!("server dry run: {changed} write(s) admitted, nothing stored"),
        _ => eprintln!("verified: {changed} object(s) {}", spec.verified),
    }
    exit::SUCCESS
}
