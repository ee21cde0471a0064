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
    /// Whether a write of it took effect (or may have: an unknown outcome).
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
        .filter(|(_, r)| r.wrote && r.status == Status::Done)
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
            eprintln!("  applied: {}", listed(&written));
        }
        if !maybe.is_empty() {
            eprintln!("  may or may not have been applied: {}", listed(&maybe));
        }
        if !not_written.is_empty() {
            eprintln!("  not applied: {}", listed(&not_written));
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

/// The results as a table (RESULT, KIND, NAMESPACE, NAME, MESSAGE), for commands that end
/// with one (rollout); convert prints only the result lines.
pub fn table<C: Change>(plan: &Plan<C>, results: &[ItemResult], color: bool) -> String {
    use comfy_table::{Cell, Color, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !color {
        table.force_no_tty();
    }
    table.set_header(vec!["RESULT", "KIND", "NAMESPACE", "NAME", "MESSAGE"]);
    for (item, result) in plan.items.iter().zip(results) {
        let key = item.change.key();
        let (word, message, tone) = match &result.status {
            Status::Done => (result.decision.action.done, String::new(), None),
            Status::Failed { applied, message } => {
                let word = if *applied == Applied::No {
                    "failed"
                } else {
                    "unknown"
                };
                (word, message.clone(), Some(Color::Red))
            }
            Status::NotStarted => ("not applied", String::new(), Some(Color::Yellow)),
        };
        let mut cell = Cell::new(word);
        if color && let Some(c) = tone {
            cell = cell.fg(c);
        }
        table.add_row(vec![
            cell,
            Cell::new(&key.kind),
            Cell::new(key.namespace.as_deref().unwrap_or("")),
            Cell::new(&key.name),
            Cell::new(message),
        ]);
    }
    format!("{table}\n")
}

/// How many objects a summary line names before it only counts the rest.
const LISTED: usize = 20;

/// `a, b, c` or `a, b, … and 480 more` (a run over 500 namespaces must not print one line of
/// 500 names; the `-o` document has them all).
fn listed(names: &[String]) -> String {
    if names.len() <= LISTED {
        return names.join(", ");
    }
    format!(
        "{}, … and {} more",
        names[..LISTED].join(", "),
        names.len() - LISTED
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(ObjectKey);

    impl Change for Named {
        fn key(&self) -> &ObjectKey {
            &self.0
        }
        fn decide(&self, _: Option<&Value>) -> Decision {
            Decision::none(crate::change::Action::LABEL, "")
        }
    }

    #[test]
    fn the_result_table_says_what_happened_to_each_object() {
        let plan = Plan::decide(
            vec![
                (
                    Named(ObjectKey::new("v1", "Namespace", None, "a")),
                    Ok(None),
                ),
                (
                    Named(ObjectKey::new("v1", "Namespace", None, "b")),
                    Ok(None),
                ),
                (
                    Named(ObjectKey::new("v1", "Namespace", None, "c")),
                    Ok(None),
                ),
            ],
            &[],
        );
        let decision = plan.items[0].decision.clone();
        let results = vec![
            ItemResult::skipped(&decision, Status::Done),
            ItemResult::skipped(
                &decision,
                Status::Failed {
                    applied: Applied::No,
                    message: "the API server answered 403".into(),
                },
            ),
            ItemResult::skipped(&decision, Status::NotStarted),
        ];
        let text = table(&plan, &results, false);
        let rows: Vec<&str> = text.lines().filter(|l| l.contains("Namespace")).collect();
        assert!(
            rows[0].contains("labeled") && rows[0].contains(" a "),
            "{text}"
        );
        assert!(
            rows[1].contains("failed") && rows[1].contains("answered 403"),
            "{text}"
        );
        assert!(rows[2].contains("not applied"), "{text}");
    }

    #[test]
    fn long_lists_are_cut() {
        let names: Vec<String> = (0..25).map(|i| format!("n{i}")).collect();
        assert_eq!(listed(&names[..2]), "n0, n1");
        let long = listed(&names);
        assert!(
            long.starts_with("n0, n1,") && long.ends_with("n19, … and 5 more"),
            "{long}"
        );
    }
}
