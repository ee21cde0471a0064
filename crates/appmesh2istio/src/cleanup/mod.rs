//! `kubectl appmesh2istio cleanup`: take App Mesh out of a migrated cluster, safely, also now
//! that AWS no longer serves App Mesh.
//!
//! 1. [`scan`]: one pass of paginated lists (namespaces in scope, every App Mesh object, pods,
//!    workloads, managed Istio objects, App Mesh webhook configurations; the controller's
//!    objects and CRDs when asked).
//! 2. [`gates`]: no App Mesh sidecar still running, every App Mesh object has its Istio
//!    counterpart, every namespace App Mesh used is labelled for Istio; `--force` skips them,
//!    loudly.
//! 3. [`selection`]: what is removed in which order (orphaned webhooks first, App Mesh objects
//!    referrers first, Meshes only when nothing anywhere is left in them, labels, controller,
//!    CRDs last), and what is kept and why.
//! 4. The plan ([`steps`], through [`crate::change`]): shown, confirmed (`--yes`), rights
//!    checked; then the [`backup`] is written (complete and fsynced before the first write: it
//!    is what `--restore` and `kubectl apply -f` re-create from); then phase by phase: deletes
//!    with uid and resourceVersion preconditions, a [`wait`] (watch) for them to be gone, and,
//!    with `--remove-finalizers`, the release of exactly App Mesh's finalizers of what is still
//!    terminating, with the [`aws`] resources that may remain listed (never claimed deleted).

pub mod aws;
pub mod backup;
pub mod gates;
mod restore;
pub mod scan;
pub mod selection;
pub mod steps;
pub mod wait;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};

use self::scan::{ScanOptions, Scope};
use self::selection::{Choice, PHASE_CRDS, is_appmesh_phase};
use self::steps::{APPMESH_FINALIZER_PREFIX, RELEASE, Step, StepKind, TERMINATING, finalizers};
use self::wait::{Gone, wait_gone};
use crate::change::engine::{self, CommandSpec, RunOptions};
use crate::change::results::{ItemResult, Status};
use crate::change::{self, Action, ChangeArgs, ChangeError, DryRun, Plan, PlanItem};
use crate::cli::{ColorChoice, OutputFormat, write_document};
use crate::cluster::{Cluster, KubeArgs, NamespaceScope};
use crate::exit;
use crate::findings::Finding;

/// `--help`'s examples and exit codes.
pub const EXAMPLES: &str = "\
Examples:
  # See what would be removed from one migrated namespace (nothing is changed)
  kubectl appmesh2istio cleanup -n shop --dry-run

  # Remove the App Mesh objects of every namespace labelled team=shop, and their labels
  kubectl appmesh2istio cleanup -l team=shop --labels

  # The last step: everything, the controller and the CRDs included; release finalizers
  # that nothing will release any more and write the AWS CLI commands for what may remain
  kubectl appmesh2istio cleanup -A --labels --controller --crds --remove-finalizers --aws-script aws-cleanup.sh

  # Put back what a clean-up removed (not the AWS-side resources)
  kubectl appmesh2istio cleanup --restore appmesh2istio-cleanup-backup-20261001T120000Z.yaml

Exit codes:
  0  cleaned up (or nothing to do), verified
  1  could not read the cluster; refused (no --yes without a terminal, declined, missing
     rights); a write failed; objects are still terminating after --timeout
  2  usage error
  5  a gate failed: nothing was changed (the report says which command fixes it; --force
     skips the gates)";

/// What `cleanup` was asked to do (the binary's flags).
#[derive(Debug, Clone)]
pub struct CleanupCommand {
    pub kube: KubeArgs,
    /// `-l`: a namespace label selector.
    pub selector: Option<String>,
    pub output: Option<OutputFormat>,
    pub change: ChangeArgs,
    pub color: ColorChoice,
    pub force: bool,
    pub labels: bool,
    pub restart: bool,
    pub controller: bool,
    pub controller_namespace: String,
    pub crds: bool,
    pub timeout: Duration,
    pub remove_finalizers: bool,
    pub aws_script: Option<PathBuf>,
    pub restore: Option<PathBuf>,
    /// Writes in flight at once (within one phase).
    pub max_in_flight: usize,
}

impl Default for CleanupCommand {
    fn default() -> Self {
        CleanupCommand {
            kube: KubeArgs::default(),
            selector: None,
            output: None,
            change: ChangeArgs::default(),
            color: ColorChoice::Never,
            force: false,
            labels: false,
            restart: false,
            controller: false,
            controller_namespace: DEFAULT_CONTROLLER_NAMESPACE.to_owned(),
            crds: false,
            timeout: Duration::from_secs(60),
            remove_finalizers: false,
            aws_script: None,
            restore: None,
            max_in_flight: 16,
        }
    }
}

/// Where the App Mesh controller's Helm chart installs it.
pub const DEFAULT_CONTROLLER_NAMESPACE: &str = "appmesh-system";

/// Flags that contradict each other (a usage error, exit 2): the message.
pub fn usage_error(command: &CleanupCommand) -> Option<String> {
    if command.restart && !command.labels {
        return Some(
            "--restart needs --labels (it removes App Mesh's pod-template annotations)".into(),
        );
    }
    if command.aws_script.is_some() && !command.remove_finalizers {
        return Some(
            "--aws-script needs --remove-finalizers (only then may AWS resources remain)".into(),
        );
    }
    if command.restore.is_some()
        && (command.labels
            || command.controller
            || command.crds
            || command.force
            || command.remove_finalizers
            || command.selector.is_some())
    {
        return Some(
            "--restore re-creates what a backup holds and takes no selection flags".into(),
        );
    }
    None
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Message(String),
    #[error(transparent)]
    Change(#[from] ChangeError),
}

/// Run `cleanup`; returns the exit code.
pub fn run(command: &CleanupCommand) -> i32 {
    crate::cli::block_on(Some(2), async {
        match dispatch(command).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                exit::FAILURE
            }
        }
    })
}

async fn dispatch(command: &CleanupCommand) -> Result<i32, Failure> {
    let cluster = match command
        .kube
        .connect(crate::cluster::CommandName::Cleanup)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::FAILURE);
        }
    };
    let code = match &command.restore {
        Some(file) => restore::restore(command, &cluster, file).await?,
        None => clean_up(command, &cluster).await?,
    };
    if command.kube.verbosity > 0 {
        eprintln!(
            "{} API requests ({} retries)",
            cluster.stats.requests(),
            cluster.stats.retries()
        );
    }
    Ok(code)
}

fn blocked(count: usize) -> String {
    format!("{count} object(s) cannot be read; nothing was changed")
}

const CLEANUP: CommandSpec = CommandSpec {
    name: "cleanup",
    plan_kind: "CleanupPlan",
    plan_title: "clean-up plan",
    question: "Make",
    verified: "deleted or changed",
    // The backup (written whole before the first write) is the undo record: see `backup`.
    undo_command: None,
    nothing_to_do: Some("nothing to clean up"),
    blocked_message: blocked,
    blocked_exit: exit::FAILURE,
};

const RESTORE: CommandSpec = CommandSpec {
    name: "cleanup --restore",
    plan_kind: "RestorePlan",
    plan_title: "restore plan",
    question: "Restore",
    verified: "re-created or restored",
    undo_command: None,
    nothing_to_do: Some("nothing to restore: everything in the backup exists"),
    blocked_message: blocked,
    blocked_exit: exit::FAILURE,
};

fn run_options(command: &CleanupCommand) -> RunOptions {
    RunOptions {
        max_in_flight: command.max_in_flight.max(1),
        stop_on_failure: true,
        color: command.color.enabled_for_stderr(),
        output: command.output,
        verbosity: command.kube.verbosity,
        undo_file: None,
        ..RunOptions::new(&command.change)
    }
}

fn findings_json(findings: &[Finding]) -> Value {
    serde_json::to_value(findings).unwrap_or(Value::Null)
}

fn scope_of(command: &CleanupCommand, cluster: &Cluster) -> Scope {
    let namespaces = if command.selector.is_some()
        && command.kube.namespace.is_none()
        && !command.kube.all_namespaces
    {
        NamespaceScope::All
    } else {
        command.kube.scope(false, &cluster.default_namespace)
    };
    Scope {
        namespaces,
        selector: command.selector.clone(),
    }
}

/// What a run reports besides the plan's rows.
#[derive(Default)]
struct Outcome {
    /// Objects still there after the wait (as last seen).
    stuck: Vec<Value>,
    /// Rows of finalizers removed after the wait.
    released: Vec<(Step, ItemResult)>,
    /// AWS resources recorded by objects whose App Mesh finalizers were removed.
    aws: Vec<aws::AwsResource>,
    stopped: bool,
}

async fn clean_up(command: &CleanupCommand, cluster: &Cluster) -> Result<i32, Failure> {
    let scope = scope_of(command, cluster);
    let options = ScanOptions {
        controller_namespace: command
            .controller
            .then(|| command.controller_namespace.clone()),
        crds: command.crds,
    };
    let scan = match scan::scan(cluster, &scope, &options).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::FAILURE);
        }
    };
    if let (NamespaceScope::One(ns), None) = (&scope.namespaces, &scope.selector)
        && scan.namespaces.is_empty()
    {
        eprintln!("error: namespace {ns} does not exist");
        return Ok(exit::FAILURE);
    }
    eprintln!(
        "read from the cluster ({scope}): {} namespace(s), {} App Mesh object(s) in scope ({} in the cluster), {} pod(s)",
        scan.namespaces.len(),
        scan.appmesh_in_scope().count(),
        scan.appmesh.len(),
        scan.pods.len()
    );
    let mut header = Map::new();
    header.insert("scope".into(), json!(scope.to_string()));
    header.insert("dryRun".into(), json!(command.change.dry_run()));
    let mut verdict = gates::evaluate(&scan);
    let failed = verdict.failed();
    if failed && command.force {
        verdict.findings.push(Finding::new(
            gates::GATES_SKIPPED,
            crate::origin::ObjectRef {
                kind: "Cluster".into(),
                namespace: None,
                name: cluster.server.clone(),
            },
            "--force: the gates below FAILED and are SKIPPED",
        ));
    }
    if !verdict.findings.is_empty() {
        eprint!("{}", verdict.describe());
    }
    header.insert("gates".into(), findings_json(&verdict.findings));
    header.insert("gatesSkipped".into(), json!(failed && command.force));
    let choice = Choice {
        labels: command.labels,
        restart: command.restart,
        controller: command.controller,
        crds: command.crds,
    };
    let selection = selection::select(&scan, choice, &command.controller_namespace);
    if !selection.notes.is_empty() {
        eprint!(
            "{}",
            gates::Verdict {
                findings: selection.notes.clone()
            }
            .describe()
        );
    }
    header.insert("notes".into(), findings_json(&selection.notes));
    let mut plan = Plan::decide(
        selection
            .steps
            .iter()
            .cloned()
            .map(|(step, live)| (step, Ok(Some(live))))
            .collect(),
        steps::VOCABULARY,
    );
    if command.remove_finalizers {
        // Already terminating with App Mesh's finalizers: release them as part of this plan.
        for item in &mut plan.items {
            if item.decision.action == TERMINATING
                && item.live.as_ref().is_some_and(has_appmesh_finalizer)
            {
                item.change.kind = StepKind::ReleaseFinalizers;
                item.decision = change::Change::decide(&item.change, item.live.as_ref());
            }
        }
    }
    // Gates protect what would be deleted: with nothing left to do, a second run is a no-op.
    if failed && !command.force && plan.writes() > 0 {
        eprintln!(
            "error: {} gate check(s) failed (above, each with the command that fixes it): nothing was changed; \
             --force skips the gates",
            verdict
                .findings
                .iter()
                .filter(|f| f.severity == crate::findings::Severity::Error)
                .count()
        );
        if let Some(format) = command.output {
            let mut document = header;
            document.insert("apiVersion".into(), json!(change::DOCUMENT_API_VERSION));
            document.insert("kind".into(), json!(CLEANUP.plan_kind));
            document.insert("items".into(), json!([]));
            write_document(format, &Value::Object(document))
                .map_err(|e| Failure::Message(format!("cannot write to standard output: {e}")))?;
        }
        return Ok(exit::CHECKS_FAILED);
    }
    run_plan(command, cluster, plan, &selection.partials, header).await
}

fn has_appmesh_finalizer(live: &Value) -> bool {
    finalizers(live)
        .iter()
        .any(|f| f.starts_with(APPMESH_FINALIZER_PREFIX))
}

async fn run_plan(
    command: &CleanupCommand,
    cluster: &Cluster,
    plan: Plan<Step>,
    partials: &[Value],
    mut header: Map<String, Value>,
) -> Result<i32, Failure> {
    let options = run_options(command);
    engine::show(cluster, &CLEANUP, &plan, &options);
    if header.get("gatesSkipped") == Some(&json!(true)) {
        eprintln!("WARNING: the gates FAILED and were SKIPPED (--force)");
    }
    let writes = plan.writes();
    let terminating = plan.count(&TERMINATING);
    if options.dry_run == DryRun::Client || writes == 0 {
        for item in &plan.items {
            eprintln!(
                "{} {}{}",
                item.change.key.kubectl_name(),
                item.decision.action.done,
                options.dry_run.suffix()
            );
        }
        if writes == 0 {
            eprintln!("nothing to clean up");
        }
        let code = if terminating > 0 && options.dry_run == DryRun::None {
            eprintln!(
                "error: {terminating} object(s) are still terminating; rerun with --remove-finalizers to release App Mesh's finalizers"
            );
            exit::FAILURE
        } else {
            exit::SUCCESS
        };
        output(command, &plan, &header, None)?;
        return Ok(code);
    }
    if !engine::preflight(cluster, &plan).await {
        output(command, &plan, &header, None)?;
        return Ok(exit::FAILURE);
    }
    if !engine::confirm_plan(cluster, &CLEANUP, writes, &options) {
        output(command, &plan, &header, None)?;
        return Ok(exit::FAILURE);
    }
    if options.dry_run == DryRun::None {
        let mut documents: Vec<Value> = plan
            .items
            .iter()
            .filter(|i| i.decision.action == Action::DELETE)
            .filter_map(|i| match &i.change.kind {
                StepKind::Delete { manifest, .. } => Some(manifest.clone()),
                _ => None,
            })
            .collect();
        documents.extend(partials.iter().cloned());
        documents.sort_by_key(|d| {
            backup::restore_phase(d.get("kind").and_then(Value::as_str).unwrap_or(""))
        });
        let path = backup::write(
            command.change.undo_file.as_deref(),
            &documents,
            &engine::cluster_name(cluster),
        )
        .map_err(Failure::Message)?;
        eprintln!("backup: {} ({} object(s))", path.display(), documents.len());
        header.insert("backup".into(), json!(path.display().to_string()));
    }
    let (results, outcome) = execute(command, cluster, &plan, &options).await;
    // Deletions were verified by the wait (gone, or reported as still terminating); the other
    // writes are read back.
    let others: Vec<usize> = (0..plan.items.len())
        .filter(|&i| !matches!(plan.items[i].change.kind, StepKind::Delete { .. }))
        .collect();
    let sub = sub_plan(&plan, &others);
    let sub_results: Vec<ItemResult> = others.iter().map(|&i| results[i].clone()).collect();
    let mut problems = engine::verify(cluster, &sub, &sub_results, &options).await?;
    let released_plan = Plan {
        items: outcome
            .released
            .iter()
            .map(|(s, r)| PlanItem {
                change: s.clone(),
                live: None,
                decision: r.decision.clone(),
            })
            .collect(),
        forbidden: Vec::new(),
        vocabulary: steps::VOCABULARY,
    };
    let released_results: Vec<ItemResult> =
        outcome.released.iter().map(|(_, r)| r.clone()).collect();
    problems.extend(engine::verify(cluster, &released_plan, &released_results, &options).await?);
    let mut code = engine::finish(&CLEANUP, &plan, &results, &problems, &options);
    let released: Vec<String> = plan
        .items
        .iter()
        .zip(&results)
        .map(|(i, r)| (&i.change, r))
        .chain(outcome.released.iter().map(|(s, r)| (s, r)))
        .filter(|(_, r)| r.status == Status::Done && r.wrote && r.decision.action == RELEASE)
        .map(|(s, _)| s.key.to_string())
        .collect();
    header.insert("finalizersRemoved".into(), json!(released));
    if !outcome.aws.is_empty() {
        report_aws(command, cluster, &outcome.aws, &mut header)?;
    }
    if !outcome.stuck.is_empty() {
        eprintln!(
            "warning AMI4210 {} object(s) still terminating after --timeout {}s:",
            outcome.stuck.len(),
            command.timeout.as_secs()
        );
        for object in &outcome.stuck {
            eprintln!(
                "  {}: finalizers {}",
                gates::object_ref(object),
                finalizers(object).join(", ")
            );
        }
        if !command.remove_finalizers {
            eprintln!(
                "  only the App Mesh controller removes App Mesh's finalizers (after deleting the AWS resources): \
                 rerun with --remove-finalizers to release them (and --aws-script FILE for what may remain in AWS)"
            );
        } else {
            eprintln!(
                "  (finalizers other than App Mesh's are never removed: their owners must release them)"
            );
        }
        header.insert(
            "stillTerminating".into(),
            json!(outcome
                .stuck
                .iter()
                .map(|o| json!({"object": gates::object_ref(o).to_string(), "finalizers": finalizers(o)}))
                .collect::<Vec<_>>()),
        );
        if code == exit::SUCCESS {
            code = exit::FAILURE;
        }
    }
    if outcome.stopped && code == exit::SUCCESS {
        code = exit::FAILURE;
    }
    output(command, &plan, &header, Some(&results))?;
    if header.contains_key("backup") {
        eprintln!(
            "to restore: kubectl appmesh2istio cleanup --restore {}",
            header.get("backup").and_then(Value::as_str).unwrap_or("")
        );
    }
    Ok(code)
}

fn report_aws(
    command: &CleanupCommand,
    cluster: &Cluster,
    resources: &[aws::AwsResource],
    header: &mut Map<String, Value>,
) -> Result<(), Failure> {
    eprintln!(
        "warning AMI4211 App Mesh's finalizers were removed: the controller did not delete these AWS resources, \
         and appmesh2istio cannot see AWS (they may or may not exist):"
    );
    for line in aws::table(resources).lines() {
        eprintln!("  {line}");
    }
    header.insert("awsResources".into(), json!(resources));
    if let Some(path) = &command.aws_script {
        let script = aws::script(resources, &engine::cluster_name(cluster));
        write_new(path, &script).map_err(Failure::Message)?;
        eprintln!("AWS CLI commands to review: {}", path.display());
    }
    Ok(())
}

fn write_new(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn output(
    command: &CleanupCommand,
    plan: &Plan<Step>,
    header: &Map<String, Value>,
    results: Option<&[ItemResult]>,
) -> Result<(), Failure> {
    let Some(format) = command.output else {
        return Ok(());
    };
    let fields: Option<Vec<Map<String, Value>>> =
        results.map(|r| r.iter().map(ItemResult::document_fields).collect());
    let document = plan.document(CLEANUP.plan_kind, header, fields.as_deref());
    write_document(format, &document)
        .map_err(|e| Failure::Message(format!("cannot write to standard output: {e}")))
}

fn sub_plan(plan: &Plan<Step>, indices: &[usize]) -> Plan<Step> {
    Plan {
        items: indices.iter().map(|&i| plan.items[i].clone()).collect(),
        forbidden: Vec::new(),
        vocabulary: plan.vocabulary,
    }
}

/// Phase by phase: send the writes, wait for what was deleted to be gone, release App Mesh's
/// finalizers of what is still there (with `--remove-finalizers`), and stop at the first failure.
async fn execute(
    command: &CleanupCommand,
    cluster: &Cluster,
    plan: &Plan<Step>,
    options: &RunOptions,
) -> (Vec<ItemResult>, Outcome) {
    let mut phases: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, item) in plan.items.iter().enumerate() {
        phases.entry(item.change.phase).or_default().push(i);
    }
    let mut results: Vec<Option<ItemResult>> = vec![None; plan.items.len()];
    let mut outcome = Outcome::default();
    let waiting = options.dry_run == DryRun::None;
    for (phase, indices) in phases {
        let sub = sub_plan(plan, &indices);
        if outcome.stopped || (phase == PHASE_CRDS && !outcome.stuck.is_empty()) {
            if phase == PHASE_CRDS && !outcome.stuck.is_empty() && sub.writes() > 0 {
                eprintln!(
                    "not deleting the CRDs: {} App Mesh object(s) are still terminating",
                    outcome.stuck.len()
                );
            }
            for (&i, item) in indices.iter().zip(&sub.items) {
                results[i] = Some(ItemResult {
                    decision: item.decision.clone(),
                    status: if item.decision.writes() {
                        Status::NotStarted
                    } else {
                        Status::Done
                    },
                    retries: 0,
                    answer: None,
                    wrote: false,
                });
            }
            continue;
        }
        let done = engine::execute(cluster, &sub, None, options).await;
        if done
            .iter()
            .any(|r| matches!(r.status, Status::Failed { .. }))
        {
            outcome.stopped = true;
        }
        if waiting {
            let mut gone: Vec<Gone> = Vec::new();
            for (item, result) in sub.items.iter().zip(&done) {
                let action = result.decision.action;
                let waits = (result.status == Status::Done
                    && result.wrote
                    && (action == Action::DELETE || action == RELEASE))
                    || action == TERMINATING;
                if waits {
                    if action == RELEASE {
                        collect_aws(&mut outcome, item.live.as_ref());
                    }
                    gone.push(Gone {
                        key: item.change.key.clone(),
                        uid: item
                            .live
                            .as_ref()
                            .and_then(change::object::uid)
                            .map(str::to_owned),
                    });
                }
            }
            if !gone.is_empty() {
                let mut left = wait_gone(cluster, &gone, command.timeout).await;
                if !left.is_empty() && command.remove_finalizers && is_appmesh_phase(phase) {
                    left = release(cluster, options, left, &mut outcome, command.timeout).await;
                }
                outcome.stuck.extend(left);
            }
        }
        for (&i, result) in indices.iter().zip(done) {
            results[i] = Some(result);
        }
    }
    let results = results
        .into_iter()
        .zip(&plan.items)
        .map(|(r, item)| {
            r.unwrap_or_else(|| ItemResult {
                decision: item.decision.clone(),
                status: Status::NotStarted,
                retries: 0,
                answer: None,
                wrote: false,
            })
        })
        .collect();
    (results, outcome)
}

fn collect_aws(outcome: &mut Outcome, live: Option<&Value>) {
    if let Some(live) = live {
        outcome.aws.extend(aws::resources_of(live));
    }
}

/// Remove App Mesh's finalizers of `left` (through the engine: a JSON patch testing the current
/// list), then wait again; returns what is still there.
async fn release(
    cluster: &Cluster,
    options: &RunOptions,
    left: Vec<Value>,
    outcome: &mut Outcome,
    timeout: Duration,
) -> Vec<Value> {
    let (holding, others): (Vec<Value>, Vec<Value>) =
        left.into_iter().partition(has_appmesh_finalizer);
    let pairs: Vec<(Step, Result<Option<Value>, ()>)> = holding
        .iter()
        .filter_map(|o| {
            let key = change::ObjectKey::of(o)?;
            Some((
                Step::new(key, 0, StepKind::ReleaseFinalizers),
                Ok(Some(o.clone())),
            ))
        })
        .collect();
    let plan = Plan::decide(pairs, steps::VOCABULARY);
    eprintln!(
        "removing App Mesh's finalizers of {} object(s) still terminating after {}s",
        plan.writes(),
        timeout.as_secs()
    );
    let done = engine::execute(cluster, &plan, None, options).await;
    let mut gone = Vec::new();
    for (item, result) in plan.items.iter().zip(done) {
        if result.status == Status::Done && result.wrote {
            collect_aws(outcome, item.live.as_ref());
            gone.push(Gone {
                key: item.change.key.clone(),
                uid: item
                    .live
                    .as_ref()
                    .and_then(change::object::uid)
                    .map(str::to_owned),
            });
        } else if matches!(result.status, Status::Failed { .. }) {
            outcome.stopped = true;
        }
        outcome.released.push((item.change.clone(), result));
    }
    let mut still = others;
    if !gone.is_empty() {
        still.extend(wait_gone(cluster, &gone, timeout).await);
    }
    still
}
