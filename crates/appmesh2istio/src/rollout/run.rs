//! The run: read, select, plan (with waves or canaries), confirm, then the strategy
//! ([`super::runner`]), each workload restarted through [`crate::change::engine::execute`]
//! (undo entry first, preconditions, retries), waited for with watches and verified on its new
//! pods. Ctrl-C stops new restarts, removes the canary copies this run created and prints where
//! each workload is. `rollout --undo` is [`super::undo`].

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use serde_json::{Map, Value, json};

use super::progress::{Reporter, rfc3339_now};
use super::read::{mesh_graph, read};
use super::runner::Runner;
use super::select::{Selection, select};
use super::steps::{Canary, Restart, Step, VOCABULARY, canary_manifest};
use super::undo::run_undo;
use super::wait::humanize;
use super::{RolloutCommand, Strategy, waves};
use crate::change::engine::{self, CommandSpec, RunOptions};
use crate::change::plan::Plan;
use crate::change::results::ItemResult;
use crate::change::{Change, DryRun, Journal, ObjectKey, UndoRecord};
use crate::cli::write_document;
use crate::cluster::Cluster;
use crate::exit;

fn blocked(count: usize) -> String {
    format!(
        "{count} canary name(s) are taken by Deployments appmesh2istio did not create; nothing was changed"
    )
}

pub(super) const SPEC: CommandSpec = CommandSpec {
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

pub(super) const UNDO: CommandSpec = CommandSpec {
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

pub(super) fn options(command: &RolloutCommand) -> RunOptions {
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
pub(super) enum Unit {
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
