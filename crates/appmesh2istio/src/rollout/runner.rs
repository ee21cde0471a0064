//! The strategy of a confirmed rollout: restarts in waves or canaries, each waited for and
//! verified, with the `--check` commands between them and Ctrl-C handled between steps.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use serde_json::{Map, Value, json};

use super::progress::{Reporter, State};
use super::read::NamespaceLabels;
use super::run::Unit;
use super::steps::{Step, VOCABULARY};
use super::wait::{check_pods, humanize, rolled_out};
use super::{RolloutCommand, Strategy, waves};
use crate::change::engine::{self, RunOptions};
use crate::change::object::get_value;
use crate::change::plan::{Plan, PlanItem};
use crate::change::results::{ItemResult, Status};
use crate::change::{self, Change, Journal, ObjectKey};
use crate::cluster::Cluster;

pub(super) struct Runner<'a> {
    pub(super) cluster: &'a Cluster,
    pub(super) command: &'a RolloutCommand,
    pub(super) options: &'a RunOptions,
    pub(super) journal: &'a Journal,
    pub(super) namespaces: &'a NamespaceLabels,
    pub(super) reporter: &'a Reporter,
    pub(super) plan: &'a Plan<Step>,
    pub(super) stop: AtomicBool,
    /// Canary copies this run created and has not removed yet.
    pub(super) canaries: Mutex<BTreeSet<ObjectKey>>,
    /// Per plan row: the write's result (restart rows also get their state from the reporter).
    pub(super) results: Mutex<Vec<Option<ItemResult>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Runner<'_> {
    pub(super) async fn strategy(
        &self,
        units: &[Vec<Unit>],
        waves: &[waves::Wave],
        cleanup: &[usize],
    ) {
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

    pub(super) async fn remove_all_canaries(&self) {
        let keys: Vec<ObjectKey> = lock(&self.canaries).iter().cloned().collect();
        for key in keys {
            self.remove_canary(&key).await;
        }
    }

    /// `-o` fields per plan row.
    pub(super) fn document_fields(&self) -> Vec<Map<String, Value>> {
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
