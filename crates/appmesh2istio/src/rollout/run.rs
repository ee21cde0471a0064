//! The run: read, select, plan (with waves or canaries), confirm, then the strategy, each
//! workload restarted through [`crate::change::engine::execute`] (undo entry first,
//! preconditions, retries), waited for with watches and verified on its new pods. Ctrl-C stops
//! new restarts, removes the canary copies this run created and prints where each workload is.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use serde_json::{Map, Value, json};

use super::progress::{Reporter, State, rfc3339_now};
use super::read::{NamespaceLabels, mesh_graph, read};
use super::select::{Selection, select};
use super::steps::{Canary, Restart, Step, VOCABULARY, canary_manifest};
use super::wait::{check_pods, humanize, rolled_out};
use super::{RolloutCommand, Strategy, waves};
use crate::change::engine::{self, CommandSpec, RunOptions};
use crate::change::object::get_value;
use crate::change::plan::{Plan, PlanItem};
use crate::change::results::{ItemResult, Status};
use crate::change::{self, Change, DryRun, Journal, ObjectKey, UndoRecord, revert};
use crate::cli::write_document;
use crate::cluster::Cluster;
use crate::exit;

fn blocked(count: usize) -> String {
    format!(
        "{count} canary name(s) are taken by Deployments appmesh2istio did not create; nothing was changed"
    )
}

const SPEC: CommandSpec = CommandSpec {
    name: "rollout",
    plan_kind: "RolloutPlan",
    plan_title: "rollout plan",
    question: "Restart workloads: apply",
    verified: "verified on Istio",
    undo_command: Some("kubectl appmesh2istio rollout --undo"),
    nothing_to_do: Some("nothing to roll out: no selected workload needs a restart"),
    blocked_message: blocked,
    blocked_exit: exit::FAILURE,
};

fn no_conflicts(_: usize) -> String {
    "undo cannot go on".into()
}

const UNDO: CommandSpec = CommandSpec {
    name: "rollout --undo",
    plan_kind: "RolloutUndoPlan",
    plan_title: "undo plan",
    question: "Undo",
    verified: "restored",
    undo_command: None,
    nothing_to_do: Some("nothing to undo"),
    blocked_message: no_conflicts,
    blocked_exit: exit::FAILURE,
};

/// Printed before an undo is confirmed.
pub const APPMESH_EOS_WARNING: &str = "warning: undo restarts these workloads; where their namespaces still select App Mesh's \
injector, the new pods get App Mesh's Envoy, which needs App Mesh's control plane. AWS no longer serves it after App Mesh's \
end of support (2026-09-30): such pods may never become ready.";

/// Run `rollout` (or `rollout --undo`); returns the exit code.
pub fn run(command: &RolloutCommand) -> i32 {
    crate::cli::block_on(Some(2), async {
        let cluster = match command
            .kube
            .connect(crate::cluster::CommandName::Rollout)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::FAILURE;
            }
        };
        let code = match &command.undo {
            Some(file) => run_undo(command, &cluster, file.as_deref()).await,
            None => run_rollout(command, &cluster).await,
        };
        if command.kube.verbosity > 0 {
            eprintln!(
                "{} API requests ({} retries)",
                cluster.stats.requests(),
                cluster.stats.retries()
            );
        }
        code
    })
}

fn options(command: &RolloutCommand) -> RunOptions {
    RunOptions {
        max_in_flight: command.max_concurrent,
        stop_on_failure: !command.continue_on_failure,
        color: command.color.enabled_for_stderr(),
        output: command.output,
        verbosity: command.kube.verbosity,
        ..RunOptions::new(&command.change)
    }
}

/// What each plan row is for the strategy.
enum Unit {
    /// Plan index of a restart.
    Restart(usize),
    /// Plan indices of a canary copy and of the workload's restart.
    Canary(usize, usize),
}

async fn run_rollout(command: &RolloutCommand, cluster: &Cluster) -> i32 {
    let data = match read(cluster, command).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    let Selection {
        targets,
        skipped,
        done,
    } = select(
        &data.namespaces,
        data.workloads.clone(),
        &data.pods,
        command.all,
    );
    let leftovers: Vec<&Value> = data
        .workloads
        .iter()
        .filter(|w| super::steps::is_canary(w))
        .collect();

    // Waves (phased), or one wave.
    let waves = if command.strategy == Strategy::Phased {
        let graph = match mesh_graph(cluster).await {
            Ok(g) => g,
            Err(e) => {
                eprintln!(
                    "warning: cannot read App Mesh's objects ({e}): waves are not ordered by the mesh's dependencies"
                );
                Default::default()
            }
        };
        waves::build(&targets, command.batch_size, &graph)
    } else {
        vec![waves::Wave {
            targets: (0..targets.len()).collect(),
            name: "all".into(),
            coupled: Vec::new(),
        }]
    };
    let restarted_at = rfc3339_now();
    let mut pairs: Vec<(Step, Result<Option<Value>, ()>)> = Vec::new();
    let mut units: Vec<Vec<Unit>> = Vec::new();
    let mut canaried: BTreeSet<ObjectKey> = BTreeSet::new();
    for (n, wave) in waves.iter().enumerate() {
        let mut wave_units = Vec::new();
        for &t in &wave.targets {
            let target = &targets[t];
            let mut context = match command.strategy {
                Strategy::Phased => format!("wave {} of {} ({})", n + 1, waves.len(), wave.name),
                Strategy::InPlace => format!("in-place: {}", target.why),
                Strategy::Canary => format!("after its canary: {}", target.why),
            };
            let canary = (command.strategy == Strategy::Canary)
                .then(|| {
                    if target.key.kind != "Deployment" {
                        context = format!(
                            "in-place ({}: canary copies are for Deployments): {}",
                            target.key.kind, target.why
                        );
                        return None;
                    }
                    let replicas = target
                        .live
                        .pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1)
                        .max(1);
                    let copies = match (command.canary_replicas, command.canary_percent) {
                        (Some(r), _) => r,
                        (None, Some(p)) => ((replicas * i64::from(p) + 99) / 100).max(1),
                        (None, None) => 1,
                    };
                    let (key, manifest) =
                        canary_manifest(&target.live, copies, &target.translation)?;
                    let live = leftovers
                        .iter()
                        .find(|w| ObjectKey::of(w).as_ref() == Some(&key))
                        .map(|w| (*w).clone())
                        .or_else(|| {
                            data.workloads
                                .iter()
                                .find(|w| ObjectKey::of(w).as_ref() == Some(&key))
                                .cloned()
                        });
                    let share = copies * 100 / (copies + replicas);
                    Some((
                        Canary {
                            key,
                            manifest,
                            context: format!(
                                "{copies} pod(s) beside its {replicas} (about {share}% of its Service's traffic), held {}{}",
                                humanize(command.canary_wait),
                                command.check.as_ref().map(|_| " under --check").unwrap_or("")
                            ),
                        },
                        live,
                    ))
                })
                .flatten();
            let restart = Step::Restart(Restart {
                key: target.key.clone(),
                restarted_at: restarted_at.clone(),
                translation: target.translation.clone(),
                context,
            });
            match canary {
                Some((canary, live)) => {
                    canaried.insert(canary.key.clone());
                    pairs.push((Step::CreateCanary(canary), Ok(live)));
                    pairs.push((restart, Ok(Some(target.live.clone()))));
                    wave_units.push(Unit::Canary(pairs.len() - 2, pairs.len() - 1));
                }
                None => {
                    pairs.push((restart, Ok(Some(target.live.clone()))));
                    wave_units.push(Unit::Restart(pairs.len() - 1));
                }
            }
        }
        units.push(wave_units);
    }
    let mut cleanup = Vec::new();
    for leftover in &leftovers {
        if let Some(key) = ObjectKey::of(leftover)
            && !canaried.contains(&key)
        {
            pairs.push((Step::RemoveCanary(key), Ok(Some((*leftover).clone()))));
            cleanup.push(pairs.len() - 1);
        }
    }
    for s in skipped {
        pairs.push((
            Step::Skip {
                key: s.key,
                code: s.code,
                reason: s.reason,
            },
            Ok(s.live),
        ));
    }
    let plan = Plan::decide(pairs, VOCABULARY);
    let options = options(command);

    let mut header = Map::new();
    header.insert("strategy".into(), json!(command.strategy.as_str()));
    header.insert("maxConcurrent".into(), json!(command.max_concurrent));
    header.insert("dryRun".into(), json!(options.dry_run));
    header.insert("alreadyOnIstio".into(), json!(done));
    if command.strategy == Strategy::Phased {
        header.insert(
            "waves".into(),
            json!(waves.iter().map(|w| json!({"name": w.name,
                "workloads": w.targets.iter().map(|t| targets[*t].key.to_string()).collect::<Vec<_>>(),
                "tlsCoupled": w.coupled})).collect::<Vec<_>>()),
        );
    }

    engine::show(cluster, &SPEC, &plan, &options);
    eprintln!(
        "strategy {}: {} workload(s) to restart, at most {} at a time; {done} already on Istio",
        command.strategy.as_str(),
        targets.len(),
        command.max_concurrent
    );
    if command.strategy == Strategy::Phased {
        for (n, wave) in waves.iter().enumerate() {
            let names: Vec<String> = wave
                .targets
                .iter()
                .map(|t| targets[*t].key.kubectl_name())
                .collect();
            eprintln!(
                "wave {} of {} ({}): {}",
                n + 1,
                waves.len(),
                wave.name,
                names.join(", ")
            );
            for note in &wave.coupled {
                eprintln!("  warning: {note}");
            }
        }
    }
    let output = |doc: &Value| {
        if let Some(format) = command.output
            && let Err(e) = write_document(format, doc)
        {
            eprintln!("error: cannot write to standard output: {e}");
        }
    };
    let blocked_rows = plan.blocked().count();
    if blocked_rows > 0 {
        eprintln!("error: {}", blocked(blocked_rows));
        output(&plan.document(SPEC.plan_kind, &header, None));
        return exit::FAILURE;
    }
    if options.dry_run == DryRun::Client || plan.writes() == 0 {
        for item in plan.items.iter().filter(|i| i.decision.writes()) {
            eprintln!(
                "{} {}{}",
                item.change.key().kubectl_name(),
                item.decision.action.done,
                options.dry_run.suffix()
            );
        }
        if plan.writes() == 0
            && let Some(text) = SPEC.nothing_to_do
        {
            eprintln!("{text}");
        }
        output(&plan.document(SPEC.plan_kind, &header, None));
        return exit::SUCCESS;
    }
    if !engine::preflight(cluster, &plan).await
        || !engine::confirm_plan(cluster, &SPEC, plan.writes(), &options)
    {
        output(&plan.document(SPEC.plan_kind, &header, None));
        return exit::FAILURE;
    }
    if options.dry_run == DryRun::Server {
        // Nothing is stored, so nothing rolls out: every write is sent once for the server to
        // validate and admit.
        let results = engine::execute(cluster, &plan, None, &options).await;
        let code = engine::finish(&SPEC, &plan, &results, &[], &options);
        let fields: Vec<Map<String, Value>> =
            results.iter().map(ItemResult::document_fields).collect();
        output(&plan.document(SPEC.plan_kind, &header, Some(&fields)));
        return code;
    }
    let journal = match Journal::create(
        options.undo_file.as_deref(),
        UndoRecord::new(
            cluster,
            SPEC.name,
            SPEC.undo_command.unwrap_or_default(),
            &options.field_manager,
        ),
    ) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    eprintln!("undo file: {}", journal.path().display());

    let order: Vec<ObjectKey> = targets.iter().map(|t| t.key.clone()).collect();
    let reporter = Reporter::new(order);
    let runner = Runner {
        cluster,
        command,
        options: &options,
        journal: &journal,
        namespaces: &data.namespaces,
        reporter: &reporter,
        plan: &plan,
        stop: AtomicBool::new(false),
        canaries: Mutex::new(BTreeSet::new()),
        results: Mutex::new(vec![None; plan.items.len()]),
    };
    let mut interrupted = false;
    tokio::select! {
        () = runner.strategy(&units, &waves, &cleanup) => {}
        _ = tokio::signal::ctrl_c() => { interrupted = true; }
    }
    if interrupted {
        reporter.note(
            "interrupted: no new restarts are started; removing the canary copies this run created",
        );
        runner.remove_all_canaries().await;
        reporter.stop_pending("interrupted (Ctrl-C); run rollout again to continue");
    }
    reporter.finish();
    eprint!("{}", reporter.table());
    let states = reporter.states();
    let verified = states.iter().filter(|(_, s)| s.ok()).count();
    eprintln!(
        "{verified} of {} workload(s) verified on Istio{}",
        states.len(),
        if interrupted { " (interrupted)" } else { "" }
    );
    let results = runner.document_fields();
    drop(runner);
    let undo_file = match journal.finish().await {
        Ok(kept) => kept,
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    };
    if let Some(path) = &undo_file {
        eprintln!(
            "to revert: kubectl appmesh2istio rollout --undo {}",
            path.display()
        );
        header.insert("undoFile".into(), json!(path.display().to_string()));
    }
    output(&plan.document(SPEC.plan_kind, &header, Some(&results)));
    if interrupted || states.iter().any(|(_, s)| !s.ok()) {
        exit::FAILURE
    } else {
        exit::SUCCESS
    }
}

struct Runner<'a> {
    cluster: &'a Cluster,
    command: &'a RolloutCommand,
    options: &'a RunOptions,
    journal: &'a Journal,
    namespaces: &'a NamespaceLabels,
    reporter: &'a Reporter,
    plan: &'a Plan<Step>,
    stop: AtomicBool,
    /// Canary copies this run created and has not removed yet.
    canaries: Mutex<BTreeSet<ObjectKey>>,
    /// Per plan row: the write's result (restart rows also get their state from the reporter).
    results: Mutex<Vec<Option<ItemResult>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Runner<'_> {
    async fn strategy(&self, units: &[Vec<Unit>], waves: &[waves::Wave], cleanup: &[usize]) {
        for &index in cleanup {
            let item = &self.plan.items[index];
            let result = self.apply(item.change.clone(), item.live.clone()).await;
            lock(&self.results)[index] = Some(result);
        }
        let count = units.len();
        for (n, wave_units) in units.iter().enumerate() {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            if count > 1 {
                if n > 0 && !self.between_waves(n, count, &waves[n].name).await {
                    self.stop.store(true, Ordering::SeqCst);
                    break;
                }
                self.reporter
                    .note(&format!("wave {} of {count}: {}", n + 1, waves[n].name));
            }
            let states: Vec<State> = stream::iter(wave_units)
                .map(|unit| self.unit(unit))
                .buffer_unordered(self.command.max_concurrent.max(1))
                .collect()
                .await;
            let failed = states.iter().filter(|s| !s.ok()).count();
            if failed > 0 {
                if count > 1 {
                    self.reporter.note(&format!(
                        "wave {} of {count} ({}): {failed} workload(s) failed; later waves are not started",
                        n + 1,
                        waves[n].name
                    ));
                    self.stop.store(true, Ordering::SeqCst);
                }
                break;
            }
            // --check after each wave (canaries ran it during their hold).
            if self.command.strategy != Strategy::Canary
                && let Some(check) = &self.command.check
            {
                let keys: Vec<&ObjectKey> = wave_units
                    .iter()
                    .map(|u| match u {
                        Unit::Restart(i) | Unit::Canary(_, i) => self.plan.items[*i].change.key(),
                    })
                    .collect();
                let env = wave_env(n + 1, &keys);
                self.reporter
                    .note(&format!("--check after wave {}: {check}", n + 1));
                if let Err(e) = run_check(check, &env).await {
                    self.reporter.note(&format!(
                        "--check failed after wave {} ({}): {e}; no further restarts",
                        n + 1,
                        waves[n].name
                    ));
                    self.stop.store(true, Ordering::SeqCst);
                    break;
                }
            }
        }
        self.reporter
            .stop_pending(if self.stop.load(Ordering::SeqCst) {
                "an earlier failure stopped the run (--continue-on-failure goes on)"
            } else {
                "not started"
            });
    }

    /// Between waves: `--phase-wait`, or a confirmation (`--yes` goes straight on).
    async fn between_waves(&self, n: usize, count: usize, name: &str) -> bool {
        if let Some(wait) = self.command.phase_wait {
            self.reporter.note(&format!(
                "waiting {} before wave {} of {count} ({name})",
                humanize(wait),
                n + 1
            ));
            tokio::time::sleep(wait).await;
            return true;
        }
        if self.options.yes {
            return true;
        }
        let question = format!(
            "Wave {n} of {count} is verified. Start wave {} ({name})?",
            n + 1
        );
        match tokio::task::block_in_place(|| change::args::confirm(false, &question)) {
            Ok(true) => true,
            Ok(false) => {
                self.reporter.note("stopped before the next wave");
                false
            }
            Err(e) => {
                self.reporter.note(&format!("error: {e}"));
                false
            }
        }
    }

    async fn unit(&self, unit: &Unit) -> State {
        match unit {
            Unit::Restart(i) => self.roll(*i).await,
            Unit::Canary(copy, restart) => self.canary(*copy, *restart).await,
        }
    }

    /// One write through the change engine: recorded in the undo file first, preconditions,
    /// re-plan, retries.
    async fn apply(&self, change: Step, live: Option<Value>) -> ItemResult {
        let decision = change::Change::decide(&change, live.as_ref());
        let plan = Plan {
            items: vec![PlanItem {
                change,
                live,
                decision: decision.clone(),
            }],
            forbidden: Vec::new(),
            vocabulary: VOCABULARY,
        };
        engine::execute(self.cluster, &plan, Some(self.journal), self.options)
            .await
            .pop()
            .unwrap_or(ItemResult {
                decision,
                status: Status::NotStarted,
                retries: 0,
                answer: None,
                wrote: false,
            })
    }

    fn fail(&self, key: &ObjectKey, state: State) -> State {
        if !self.command.continue_on_failure {
            self.stop.store(true, Ordering::SeqCst);
        }
        self.reporter.set(key, state.clone());
        state
    }

    /// Restart, wait, verify one workload (plan row `index`).
    async fn roll(&self, index: usize) -> State {
        let item = &self.plan.items[index];
        let key = item.change.key();
        if self.stop.load(Ordering::SeqCst) {
            return self.reporter.state(key);
        }
        self.reporter.set(key, State::Running("restarting".into()));
        let result = self.apply(item.change.clone(), item.live.clone()).await;
        let answer = result.answer.clone();
        let status = result.status.clone();
        lock(&self.results)[index] = Some(result);
        let answer = match (status, answer) {
            (Status::Failed { message, .. }, _) => {
                return self.fail(key, State::Failed(format!("cannot restart: {message}")));
            }
            (_, Some(answer)) => answer,
            (_, None) => {
                return self.fail(key, State::Failed("deleted since it was listed".into()));
            }
        };
        self.wait_and_verify(key, answer).await
    }

    async fn wait_and_verify(&self, key: &ObjectKey, from: Value) -> State {
        let progress = |text: &str| {
            self.reporter
                .set(key, State::Running(format!("rolling out: {text}")));
        };
        let rolled =
            match rolled_out(self.cluster, key, from, self.command.timeout, &progress).await {
                Ok(o) => o,
                Err(e) => return self.fail(key, State::Failed(format!("rollout: {e}"))),
            };
        self.reporter
            .set(key, State::Running("checking its new pods".into()));
        match self.verify(key, &rolled).await {
            Ok(pods) => {
                let state = State::Verified { pods };
                self.reporter.set(key, state.clone());
                state
            }
            Err(e) => self.fail(key, State::Failed(e)),
        }
    }

    /// The new pods of `workload`: on Istio, no App Mesh sidecar, Ready.
    async fn verify(&self, key: &ObjectKey, workload: &Value) -> Result<usize, String> {
        let empty = Default::default();
        let labels = key
            .namespace
            .as_ref()
            .and_then(|ns| self.namespaces.get(ns))
            .unwrap_or(&empty);
        let check = check_pods(self.cluster, workload, labels).await?;
        if !check.problems.is_empty() {
            return Err(check.problems.join("; "));
        }
        let wanted = workload.pointer("/spec/replicas").and_then(Value::as_i64);
        if check.pods == 0 && wanted != Some(0) {
            return Err("rolled out, but none of its pods was found".into());
        }
        Ok(check.pods)
    }

    /// Canary copy first (plan row `copy`), held under checks; then the workload (row
    /// `restart`); the copy is removed either way. A failed canary leaves the workload as it was.
    async fn canary(&self, copy: usize, restart: usize) -> State {
        let item = &self.plan.items[copy];
        let workload = self.plan.items[restart].change.key();
        let copy_key = item.change.key().clone();
        if self.stop.load(Ordering::SeqCst) {
            return self.reporter.state(workload);
        }
        self.reporter.set(
            workload,
            State::Running(format!("starting canary {}", copy_key.name)),
        );
        let result = self.apply(item.change.clone(), item.live.clone()).await;
        let answer = result.answer.clone().or_else(|| item.live.clone());
        let status = result.status.clone();
        lock(&self.results)[copy] = Some(result);
        if let Status::Failed { message, .. } = status {
            return self.fail(
                workload,
                State::CanaryFailed(format!("cannot create {}: {message}", copy_key.name)),
            );
        }
        lock(&self.canaries).insert(copy_key.clone());
        let verdict = match answer {
            Some(answer) => self.hold_canary(workload, &copy_key, answer).await,
            None => Err("the copy was not returned by the server".into()),
        };
        let state = match verdict {
            Ok(()) => self.roll(restart).await,
            Err(e) => {
                self.remove_canary(&copy_key).await;
                return self.fail(
                    workload,
                    State::CanaryFailed(format!("{e}; copy {} removed", copy_key.name)),
                );
            }
        };
        self.remove_canary(&copy_key).await;
        state
    }

    /// Roll the copy out, then hold it for `--canary-wait`: pods Ready, on Istio, no restarts,
    /// and `--check` passing, checked every few seconds.
    async fn hold_canary(
        &self,
        workload: &ObjectKey,
        copy: &ObjectKey,
        from: Value,
    ) -> Result<(), String> {
        let progress = |text: &str| {
            self.reporter.set(
                workload,
                State::Running(format!("canary rolling out: {text}")),
            );
        };
        let rolled = rolled_out(self.cluster, copy, from, self.command.timeout, &progress)
            .await
            .map_err(|e| format!("canary rollout: {e}"))?;
        let deadline = Instant::now() + self.command.canary_wait;
        let env = vec![
            (
                "APPMESH2ISTIO_NAMESPACE".to_owned(),
                workload.namespace.clone().unwrap_or_default(),
            ),
            ("APPMESH2ISTIO_WORKLOAD".to_owned(), workload.name.clone()),
            ("APPMESH2ISTIO_KIND".to_owned(), workload.kind.clone()),
            ("APPMESH2ISTIO_CANARY".to_owned(), copy.name.clone()),
        ];
        loop {
            let pods = self
                .verify(copy, &rolled)
                .await
                .map_err(|e| format!("canary: {e}"))?;
            if let Some(check) = &self.command.check {
                run_check(check, &env)
                    .await
                    .map_err(|e| format!("--check failed on the canary: {e}"))?;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            self.reporter.set(
                workload,
                State::Running(format!(
                    "canary: {pods} pod(s) on Istio, holding {} more",
                    humanize(left)
                )),
            );
            if left.is_zero() {
                return Ok(());
            }
            tokio::time::sleep(left.min(Duration::from_secs(5))).await;
        }
    }

    async fn remove_canary(&self, key: &ObjectKey) {
        let live = get_value(self.cluster, key).await.ok().flatten();
        let copy = live.clone();
        let result = self.apply(Step::RemoveCanary(key.clone()), live).await;
        if let Status::Failed { message, .. } = &result.status {
            self.reporter.note(&format!(
                "warning: cannot remove canary copy {key}: {message}; delete it with kubectl delete deployment -n {} {}",
                key.namespace.as_deref().unwrap_or(""),
                key.name
            ));
        } else {
            lock(&self.canaries).remove(key);
            // Only our copies' pods are waited for (a same-named object that is not one was
            // skipped, not deleted).
            let Some(copy) = copy.filter(super::steps::is_canary) else {
                return;
            };
            match super::wait::canary_pods_gone(self.cluster, &copy, self.command.timeout).await {
                Ok(0) => {}
                Ok(left) => self.reporter.note(&format!(
                    "warning: canary copy {key} is deleted but {left} of its pod(s) are still terminating after {}; they take traffic until they are gone",
                    humanize(self.command.timeout)
                )),
                Err(message) => self.reporter.note(&format!(
                    "warning: cannot tell whether the pods of canary copy {key} are gone: {message}"
                )),
            }
        }
    }

    async fn remove_all_canaries(&self) {
        let keys: Vec<ObjectKey> = lock(&self.canaries).iter().cloned().collect();
        for key in keys {
            self.remove_canary(&key).await;
        }
    }

    /// `-o` fields per plan row.
    fn document_fields(&self) -> Vec<Map<String, Value>> {
        let results = lock(&self.results);
        self.plan
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let mut fields = match (&item.change, results.get(i).cloned().flatten()) {
                    (Step::Restart(_), _) => Map::new(),
                    (_, Some(r)) => r.document_fields(),
                    (_, None) => Map::new(),
                };
                if let Step::Restart(r) = &item.change {
                    let state = self.reporter.state(&r.key);
                    fields.insert("result".into(), json!(state.id()));
                    match state {
                        State::Verified { pods } => {
                            fields.insert("pods".into(), json!(pods));
                        }
                        State::Failed(m)
                        | State::NotStarted(m)
                        | State::CanaryFailed(m)
                        | State::Running(m) => {
                            fields.insert("message".into(), json!(m));
                        }
                        State::Pending => {}
                    }
                }
                fields
            })
            .collect()
    }
}

fn wave_env(wave: usize, keys: &[&ObjectKey]) -> Vec<(String, String)> {
    let namespaces: BTreeSet<&str> = keys.iter().filter_map(|k| k.namespace.as_deref()).collect();
    let mut env = vec![
        ("APPMESH2ISTIO_WAVE".to_owned(), wave.to_string()),
        (
            "APPMESH2ISTIO_WORKLOADS".to_owned(),
            keys.iter()
                .map(|k| {
                    format!(
                        "{}/{}/{}",
                        k.namespace.as_deref().unwrap_or(""),
                        k.kind,
                        k.name
                    )
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        (
            "APPMESH2ISTIO_NAMESPACES".to_owned(),
            namespaces.iter().copied().collect::<Vec<_>>().join(" "),
        ),
    ];
    if let [only] = keys {
        env.push((
            "APPMESH2ISTIO_NAMESPACE".into(),
            only.namespace.clone().unwrap_or_default(),
        ));
        env.push(("APPMESH2ISTIO_WORKLOAD".into(), only.name.clone()));
        env.push(("APPMESH2ISTIO_KIND".into(), only.kind.clone()));
    } else if let [only] = namespaces.iter().collect::<Vec<_>>()[..] {
        env.push(("APPMESH2ISTIO_NAMESPACE".into(), (*only).to_owned()));
    }
    env
}

/// `sh -c CMD` with `env`; its output goes to stderr. Non-zero exit fails.
pub async fn run_check(command: &str, env: &[(String, String)]) -> Result<(), String> {
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run sh -c {command:?}: {e}"))?;
    for stream in [&output.stdout, &output.stderr] {
        let text = String::from_utf8_lossy(stream);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            eprintln!("  check: {line}");
        }
    }
    if output.status.success() {
        Ok(())
    } else {
        Err(match output.status.code() {
            Some(code) => format!("{command:?} exited with {code}"),
            None => format!("{command:?} was killed by a signal"),
        })
    }
}

/// The newest undo file `rollout` wrote in the current directory.
fn newest_undo_file() -> Result<PathBuf, String> {
    let mut best: Option<(String, PathBuf)> = None;
    let entries =
        std::fs::read_dir(".").map_err(|e| format!("cannot read the current directory: {e}"))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("appmesh2istio-undo-") && name.ends_with(".yaml")) {
            continue;
        }
        if let Ok(record) = UndoRecord::read(&path)
            && record.command == SPEC.name
            && best.as_ref().is_none_or(|(at, _)| record.created_at > *at)
        {
            best = Some((record.created_at, path));
        }
    }
    best.map(|(_, p)| p).ok_or_else(|| {
        "no undo file of rollout (appmesh2istio-undo-*.yaml) in the current directory: give one with --undo FILE".into()
    })
}

/// `rollout --undo [FILE]`: put back the pod-template keys a rollout changed (which restarts
/// those workloads), delete canary copies left behind, and wait for the workloads to roll out.
async fn run_undo(command: &RolloutCommand, cluster: &Cluster, file: Option<&Path>) -> i32 {
    let path = match file {
        Some(p) => p.to_owned(),
        None => match newest_undo_file() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::FAILURE;
            }
        },
    };
    let record = match UndoRecord::read(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    if record.server != cluster.server {
        eprintln!(
            "warning: {} was written for the cluster at {}; this is {}",
            path.display(),
            record.server,
            engine::cluster_name(cluster)
        );
    }
    let plan = match Plan::read(cluster, revert::changes(&record), revert::VOCABULARY, 8).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    if plan.items.iter().any(|i| {
        i.decision.writes()
            && matches!(
                i.change.key().kind.as_str(),
                "Deployment" | "StatefulSet" | "DaemonSet"
            )
    }) {
        eprintln!("{APPMESH_EOS_WARNING}");
    }
    let mut options = options(command);
    options.field_manager = record.field_manager.clone();
    options.undo_file = None;
    let mut header = Map::new();
    header.insert("undoFile".into(), json!(path.display().to_string()));
    let report = match change::run(cluster, &UNDO, &plan, &options, header).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    if report.exit_code != exit::SUCCESS || options.dry_run != DryRun::None {
        return report.exit_code;
    }
    // The restored templates restart the workloads: wait for them as kubectl would.
    let restored: Vec<(ObjectKey, Value)> = plan
        .items
        .iter()
        .zip(&report.results)
        .filter(|(i, r)| {
            r.wrote
                && i.decision.action.id == change::Action::RESTORE.id
                && matches!(
                    i.change.key().kind.as_str(),
                    "Deployment" | "StatefulSet" | "DaemonSet"
                )
        })
        .filter_map(|(i, r)| Some((i.change.key().clone(), r.answer.clone()?)))
        .collect();
    let failures: Vec<String> = stream::iter(restored)
        .map(|(key, answer)| async move {
            let quiet = |_: &str| {};
            match rolled_out(cluster, &key, answer, command.timeout, &quiet).await {
                Ok(_) => {
                    eprintln!("{} rolled out", key.kubectl_name());
                    None
                }
                Err(e) => Some(format!("{key}: {e}")),
            }
        })
        .buffer_unordered(command.max_concurrent.max(1))
        .filter_map(|f| async move { f })
        .collect()
        .await;
    for f in &failures {
        eprintln!("error: rollout after undo: {f}");
    }
    if failures.is_empty() {
        exit::SUCCESS
    } else {
        exit::FAILURE
    }
}
