//! The shape every change to a cluster has: show the plan → check rights → confirm → record for
//! undo and write (bounded concurrency, preconditions, re-plan, one retry policy) → verify →
//! results. [`run`] does all of it; commands that need to interleave their own steps (waves,
//! waits) use the pieces: [`show`], [`preflight`], [`confirm_plan`], [`execute`], [`verify`],
//! [`finish`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{StreamExt, stream};
use serde_json::{Map, Value, json};

use super::args::{DryRun, confirm};
use super::journal::{EntryId, Journal};
use super::object::{get_value, resource_version};
use super::plan::{Decision, Plan};
use super::record::UndoRecord;
use super::results::{Applied, ItemResult, Status, VerifyProblem, print_result};
use super::write::{Sent, WriteContext, WriteError, bounded, retry_delay, send};
use super::{Change, ChangeError, rights};

pub use super::results::finish;
use crate::cli::{OutputFormat, write_document};
use crate::cluster::{Cluster, RetryPolicy};
use crate::exit;

/// How often one object is re-read and decided again after its write found it changed.
pub const MAX_REPLANS: u32 = 5;

/// What a command calls things, and what its plan's blocking rows mean.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// The command as the undo file's header names it (`convert --apply`, `label`).
    pub name: &'static str,
    /// `kind` of the `-o` document (`ApplyPlan`, `UndoPlan`, `LabelPlan`).
    pub plan_kind: &'static str,
    /// `plan` or `undo plan`: the summary line starts `<title> for <cluster>: ...`.
    pub plan_title: &'static str,
    /// The confirmation question's verb: `Apply` → `Apply 3 change(s) to <cluster>?`.
    pub question: &'static str,
    /// After verification: `verified: 3 object(s) <verified>`.
    pub verified: &'static str,
    /// How to revert what this command writes (`kubectl appmesh2istio convert --undo`); `None`
    /// for commands that record no undo file (an undo run itself).
    pub undo_command: Option<&'static str>,
    /// Printed when the plan writes nothing (`nothing to undo`).
    pub nothing_to_do: Option<&'static str>,
    /// What blocking rows (other than unreadable objects) mean: the message for their count,
    /// and the exit code.
    pub blocked_message: fn(usize) -> String,
    pub blocked_exit: i32,
}

/// How to run a plan.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub dry_run: DryRun,
    pub yes: bool,
    pub undo_file: Option<PathBuf>,
    pub field_manager: String,
    /// Send `fieldValidation=Strict` with server-side applies (Kubernetes 1.25 and later).
    pub field_validation: bool,
    /// Writes in flight at once (within one phase).
    pub max_in_flight: usize,
    /// The first failure stops new writes (in-flight ones finish).
    pub stop_on_failure: bool,
    pub color: bool,
    pub output: Option<OutputFormat>,
    pub verbosity: u8,
    pub policy: RetryPolicy,
}

impl RunOptions {
    /// The options `args` (`--dry-run --yes --undo-file --field-manager`) give; the rest default
    /// (one write at a time, stop at the first failure, no colour, no `-o`).
    pub fn new(args: &super::ChangeArgs) -> RunOptions {
        RunOptions {
            dry_run: args.dry_run(),
            yes: args.yes,
            undo_file: args.undo_file.clone(),
            field_manager: args.field_manager.clone(),
            ..RunOptions::default()
        }
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            dry_run: DryRun::None,
            yes: false,
            undo_file: None,
            field_manager: super::DEFAULT_FIELD_MANAGER.to_owned(),
            field_validation: false,
            max_in_flight: 1,
            stop_on_failure: true,
            color: false,
            output: None,
            verbosity: 0,
            policy: RetryPolicy::default(),
        }
    }
}

/// What [`run`] did.
#[derive(Debug, Clone)]
pub struct Report {
    pub exit_code: i32,
    /// One per plan item (empty when nothing was attempted).
    pub results: Vec<ItemResult>,
    pub problems: Vec<VerifyProblem>,
    /// The undo file, when changes were recorded.
    pub undo_file: Option<PathBuf>,
    /// The `-o` document (printed when `-o` was given).
    pub document: Value,
}

/// `https://… (context prod)`.
pub fn cluster_name(cluster: &Cluster) -> String {
    match &cluster.context {
        Some(c) => format!("{} (context {c})", cluster.server),
        None => cluster.server.clone(),
    }
}

/// Print the plan table and its summary line on stderr.
pub fn show<C: Change>(
    cluster: &Cluster,
    spec: &CommandSpec,
    plan: &Plan<C>,
    options: &RunOptions,
) {
    eprint!("{}", plan.table(options.color));
    eprintln!(
        "{} for {}: {}",
        spec.plan_title,
        cluster_name(cluster),
        plan.summary()
    );
}

/// The rights the plan needs that are missing, printed as an error; `true` when the run may go on.
pub async fn preflight<C: Change>(cluster: &Cluster, plan: &Plan<C>) -> bool {
    let denied = rights::missing(cluster, plan).await;
    if denied.is_empty() {
        return true;
    }
    eprintln!(
        "error: the current user lacks rights the plan needs; nothing was changed:\n{}",
        rights::describe(&denied)
    );
    false
}

/// Ask (or take `--yes`); prints why when the answer is no. `true` to go on.
pub fn confirm_plan(
    cluster: &Cluster,
    spec: &CommandSpec,
    writes: usize,
    options: &RunOptions,
) -> bool {
    if options.dry_run != DryRun::None {
        return true;
    }
    let question = format!(
        "{} {writes} change(s) to {}?",
        spec.question,
        cluster_name(cluster)
    );
    match confirm(options.yes, &question) {
        Ok(true) => true,
        Ok(false) => {
            eprintln!("aborted: nothing was changed");
            false
        }
        Err(e) => {
            eprintln!("error: {e}");
            false
        }
    }
}

/// The whole shape: show, refuse blocked plans, preflight, confirm, journal, execute, verify,
/// report. `header`: the command's own fields of the `-o` document.
pub async fn run<C: Change>(
    cluster: &Cluster,
    spec: &CommandSpec,
    plan: &Plan<C>,
    options: &RunOptions,
    mut header: Map<String, Value>,
) -> Result<Report, ChangeError> {
    header.insert("dryRun".into(), json!(options.dry_run));
    show(cluster, spec, plan, options);
    let report = |exit_code: i32,
                  results: Vec<ItemResult>,
                  problems,
                  undo_file: Option<PathBuf>,
                  header: &Map<String, Value>| {
        let fields: Vec<Map<String, Value>> =
            results.iter().map(ItemResult::document_fields).collect();
        let mut header = header.clone();
        if let Some(path) = &undo_file {
            header.insert("undoFile".into(), json!(path.display().to_string()));
        }
        let document = plan.document(
            spec.plan_kind,
            &header,
            (!fields.is_empty()).then_some(fields.as_slice()),
        );
        Report {
            exit_code,
            results,
            problems,
            undo_file,
            document,
        }
    };
    let done = |report: Report| -> Result<Report, ChangeError> {
        if let Some(format) = options.output {
            write_document(format, &report.document)
                .map_err(|e| ChangeError::Output(e.to_string()))?;
        }
        Ok(report)
    };

    if !plan.forbidden.is_empty() {
        preflight(cluster, plan).await;
        return done(report(exit::FAILURE, Vec::new(), Vec::new(), None, &header));
    }
    let blocked = plan.blocked().count();
    if blocked > 0 {
        eprintln!("error: {}", (spec.blocked_message)(blocked));
        return done(report(
            spec.blocked_exit,
            Vec::new(),
            Vec::new(),
            None,
            &header,
        ));
    }
    let writes = plan.writes();
    if options.dry_run == DryRun::Client || writes == 0 {
        for item in &plan.items {
            eprintln!(
                "{} {}{}",
                item.change.key().kubectl_name(),
                item.decision.action.done,
                options.dry_run.suffix()
            );
        }
        if writes == 0
            && let Some(text) = spec.nothing_to_do
        {
            eprintln!("{text}");
        }
        return done(report(exit::SUCCESS, Vec::new(), Vec::new(), None, &header));
    }
    if !preflight(cluster, plan).await {
        return done(report(exit::FAILURE, Vec::new(), Vec::new(), None, &header));
    }
    if !confirm_plan(cluster, spec, writes, options) {
        return done(report(exit::FAILURE, Vec::new(), Vec::new(), None, &header));
    }
    // The undo record is written before each write (not on a server dry run: nothing is stored).
    let journal = match (spec.undo_command, options.dry_run) {
        (Some(undo_command), DryRun::None) => {
            let journal = Journal::create(
                options.undo_file.as_deref(),
                UndoRecord::new(cluster, spec.name, undo_command, &options.field_manager),
            )?;
            eprintln!("undo file: {}", journal.path().display());
            Some(journal)
        }
        _ => None,
    };
    let results = execute(cluster, plan, journal.as_ref(), options).await;
    let problems = verify(cluster, plan, &results, options).await?;
    let undo_file = match journal {
        Some(journal) => {
            let path = journal.path().to_owned();
            let kept = journal.finish().await?;
            if kept.is_none() {
                eprintln!(
                    "nothing was applied; removed the empty undo file {}",
                    path.display()
                );
            }
            kept
        }
        None => None,
    };
    let exit_code = finish(spec, plan, &results, &problems, options);
    if let (Some(path), Some(undo_command)) = (&undo_file, spec.undo_command) {
        eprintln!("to revert: {undo_command} {}", path.display());
    }
    done(report(exit_code, results, problems, undo_file, &header))
}

/// Send every planned write: phase by phase (a phase's writes all finish before the next phase
/// starts), at most `max_in_flight` at a time, each recorded in `journal` before it is sent.
/// Result lines are printed as writes complete.
pub async fn execute<C: Change>(
    cluster: &Cluster,
    plan: &Plan<C>,
    journal: Option<&Journal>,
    options: &RunOptions,
) -> Vec<ItemResult> {
    let context = WriteContext {
        cluster,
        field_manager: &options.field_manager,
        server_dry_run: options.dry_run == DryRun::Server,
        field_validation: options.field_validation,
    };
    let mut phases: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (index, item) in plan.items.iter().enumerate() {
        phases.entry(item.change.phase()).or_default().push(index);
    }
    let stop = AtomicBool::new(false);
    let mut results: Vec<Option<ItemResult>> = vec![None; plan.items.len()];
    for indices in phases.into_values() {
        let done: Vec<(usize, ItemResult)> = stream::iter(indices)
            .map(|index| {
                let item = &plan.items[index];
                let context = &context;
                let stop = &stop;
                async move {
                    if !item.decision.writes() {
                        let result = ItemResult::skipped(&item.decision, Status::Done);
                        print_result(item.change.key(), &result, options);
                        return (index, result);
                    }
                    if stop.load(Ordering::SeqCst) {
                        return (
                            index,
                            ItemResult::skipped(&item.decision, Status::NotStarted),
                        );
                    }
                    let result = write_item(
                        context,
                        &item.change,
                        item.live.clone(),
                        item.decision.clone(),
                        journal,
                        &options.policy,
                    )
                    .await;
                    print_result(item.change.key(), &result, options);
                    if matches!(result.status, Status::Failed { .. }) && options.stop_on_failure {
                        stop.store(true, Ordering::SeqCst);
                    }
                    (index, result)
                }
            })
            .buffer_unordered(options.max_in_flight.max(1))
            .collect()
            .await;
        for (index, result) in done {
            results[index] = Some(result);
        }
    }
    results
        .into_iter()
        .zip(&plan.items)
        .map(|(r, item)| {
            r.unwrap_or_else(|| ItemResult::skipped(&item.decision, Status::NotStarted))
        })
        .collect()
}

/// Carry out one object's decision: record it, send its writes in order against the object as
/// last seen, and after a failed precondition or an unknown outcome re-read the object and
/// decide again (bounded).
async fn write_item<C: Change>(
    context: &WriteContext<'_>,
    change: &C,
    live: Option<Value>,
    decision: Decision,
    journal: Option<&Journal>,
    policy: &RetryPolicy,
) -> ItemResult {
    let key = change.key();
    let planned = decision.action;
    let mut decision = decision;
    let mut current = live;
    let mut entry: Option<EntryId> = None;
    // Some write of ours certainly happened / may have happened.
    let mut done_any = false;
    let mut maybe = false;
    let mut retries = 0u32;
    let mut answer: Option<Value> = None;
    let failed = |decision: Decision,
                  applied: Applied,
                  message: String,
                  retries: u32,
                  answer: Option<Value>,
                  wrote: bool| ItemResult {
        decision,
        status: Status::Failed { applied, message },
        retries,
        answer,
        wrote,
    };
    loop {
        if (decision.action.blocks() || !decision.writes())
            && !done_any
            && !maybe
            && let (Some(journal), Some(id)) = (journal, entry.take())
        {
            // Re-planned into nothing to write, and nothing of ours happened: nothing to undo
            // (e.g. a concurrent run created the object first).
            journal.forget(id);
        }
        if decision.action.blocks() {
            let applied = if done_any {
                Applied::Partly
            } else if maybe {
                Applied::Maybe
            } else {
                Applied::No
            };
            let message = bounded(&format!(
                "it changed while it was written: {}",
                decision.details
            ));
            return failed(
                decision,
                applied,
                message,
                retries,
                answer,
                done_any || maybe,
            );
        }
        if !decision.writes() {
            // Nothing (left) to do: either it was so, or our earlier write took effect.
            if done_any || maybe {
                decision.action = planned;
            }
            return ItemResult {
                decision,
                status: Status::Done,
                retries,
                answer,
                wrote: done_any || maybe,
            };
        }
        if let Some(journal) = journal
            && !done_any
            && !maybe
        {
            let recorded = match (entry, decision.undo.clone()) {
                (None, Some(e)) => journal.record(e).await.map(|id| entry = Some(id)),
                (Some(id), Some(e)) => journal.replace(id, e).await,
                (Some(id), None) => {
                    journal.forget(id);
                    entry = None;
                    Ok(())
                }
                (None, None) => Ok(()),
            };
            if let Err(e) = recorded {
                return failed(decision, Applied::No, e.to_string(), retries, answer, false);
            }
        }
        let mut failure = None;
        for operation in &decision.writes {
            match send(context, key, operation, current.as_ref()).await {
                Ok(Sent::Stored(object)) => {
                    current = Some(object.clone());
                    answer = Some(object);
                    done_any = true;
                }
                Ok(Sent::Deleted) => done_any = true,
                Ok(Sent::Skipped) => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let Some(error) = failure else {
            if let (Some(journal), Some(id), Some(stored)) = (journal, entry, answer.as_ref()) {
                journal.confirm(id, stored);
            }
            return ItemResult {
                decision,
                status: Status::Done,
                retries,
                answer,
                wrote: done_any || maybe,
            };
        };
        let applied = if done_any {
            Applied::Partly
        } else if maybe {
            Applied::Maybe
        } else {
            Applied::No
        };
        match &error {
            WriteError::Refused { message } => {
                if applied == Applied::No
                    && let (Some(journal), Some(id)) = (journal, entry)
                {
                    journal.forget(id);
                }
                return failed(decision, applied, message.clone(), retries, answer, true);
            }
            WriteError::Unknown { message, .. } => {
                maybe = true;
                match retry_delay(policy, &error, retries + 1) {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => {
                        let applied = if done_any {
                            Applied::Partly
                        } else {
                            Applied::Maybe
                        };
                        return failed(decision, applied, message.clone(), retries, answer, true);
                    }
                }
            }
            WriteError::Stale { .. } => {}
        }
        retries += 1;
        if retries > MAX_REPLANS {
            return failed(
                decision,
                applied,
                format!(
                    "it kept changing while it was written ({retries} attempts): {}",
                    error.message()
                ),
                retries - 1,
                answer,
                true,
            );
        }
        let seen = current
            .as_ref()
            .and_then(resource_version)
            .map(str::to_owned);
        let live = match get_value(context.cluster, key).await {
            Ok(live) => live,
            Err(e) => {
                return failed(
                    decision,
                    applied,
                    bounded(&e.to_string()),
                    retries,
                    answer,
                    true,
                );
            }
        };
        if let WriteError::Stale {
            maybe_invalid: true,
            message,
        } = &error
            && live.as_ref().and_then(resource_version) == seen.as_deref()
        {
            // The object did not change: the server refused the request itself.
            if applied == Applied::No
                && let (Some(journal), Some(id)) = (journal, entry)
            {
                journal.forget(id);
            }
            return failed(
                decision,
                applied,
                message.clone(),
                retries - 1,
                answer,
                true,
            );
        }
        decision = change.decide(live.as_ref());
        current = live;
    }
}

/// An object written, its result, and the object read back.
type ReadBack<'a, C> = Result<(&'a C, &'a ItemResult, Option<Value>), ChangeError>;

/// Re-read every object written (on a server dry run: the server's answers) and let its change
/// compare it with what was meant.
pub async fn verify<C: Change>(
    cluster: &Cluster,
    plan: &Plan<C>,
    results: &[ItemResult],
    options: &RunOptions,
) -> Result<Vec<VerifyProblem>, ChangeError> {
    let written: Vec<(&C, &ItemResult)> = plan
        .items
        .iter()
        .zip(results)
        .filter(|(_, r)| r.status == Status::Done && r.wrote)
        .map(|(item, r)| (&item.change, r))
        .collect();
    let reads: Vec<ReadBack<'_, C>> = stream::iter(written)
        .map(|(change, result)| async move {
            let live = if options.dry_run == DryRun::Server {
                result.answer.clone()
            } else {
                get_value(cluster, change.key()).await?
            };
            Ok((change, result, live))
        })
        .buffered(options.max_in_flight.max(8))
        .collect()
        .await;
    let mut problems = Vec::new();
    for read in reads {
        let (change, result, live) = read?;
        for message in change.verify(&result.decision, live.as_ref(), options.dry_run) {
            problems.push(VerifyProblem {
                key: change.key().clone(),
                message: bounded(&message),
            });
        }
    }
    Ok(problems)
}
