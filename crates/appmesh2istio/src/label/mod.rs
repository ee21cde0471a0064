//! `kubectl appmesh2istio label`: take namespaces off App Mesh's sidecar injector and put them
//! on Istio's (sidecar injection, a revision, or ambient mode), exactly reversibly.
//!
//! The steps, each through [`crate::change`] like every write to a cluster:
//! 1. **Which namespaces** ([`select`]): `-n` (repeatable, comma lists), `-l`, or
//!    `--all-meshed` (App Mesh's injector label or a Mesh's `namespaceSelector` selects it,
//!    with the resolver's selector semantics, or `label` moved it before).
//! 2. **Is the target there** ([`target::check_installed`]): an Istio injector webhook whose
//!    namespaceSelector selects the label we set, or ztunnel and the CNI node agent for
//!    ambient; refused unless `--force`.
//! 3. **What pods will do** ([`survey`]): running pods with App Mesh's Envoy, and templates
//!    with App Mesh's pod annotation, as plan warnings.
//! 4. **One merge patch per namespace** ([`change::LabelNamespace`]): labels removed and added
//!    together (never both injectors, never neither), the previous values in the namespace's
//!    [`change::PREVIOUS_ANNOTATION`] and in the undo file, the resourceVersion as precondition
//!    (a 409 re-reads and re-plans that namespace). Writes run concurrently.
//! 5. **Undo** ([`undo`]): from the undo file, or from the annotations.
//! 6. **Next step**: the `rollout` command for the namespaces changed.

pub mod change;
pub mod select;
pub mod survey;
pub mod target;
pub mod undo;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, json};

use self::change::{LabelContext, LabelNamespace, NOT_FOUND, VOCABULARY};
use self::target::Target;
use crate::change::{self as engine, ChangeArgs, CommandSpec, Plan, RunOptions, Status};
use crate::cli::{ColorChoice, OutputFormat};
use crate::cluster::{Cluster, KubeArgs};
use crate::exit;

/// `--help`'s examples and exit codes.
pub const EXAMPLES: &str = "\
Examples:
  # Move two namespaces from App Mesh's injector to Istio's (istio-injection=enabled)
  kubectl appmesh2istio label -n shop-frontend,shop-catalog

  # Every namespace App Mesh selects today, onto Istio revision 1-30 (istio.io/rev=1-30)
  kubectl appmesh2istio label --all-meshed --revision 1-30

  # Namespaces with the label team=payments, into ambient mode
  kubectl appmesh2istio label -l team=payments --dataplane ambient

  # From a script: the plan and results as JSON, no prompt
  kubectl appmesh2istio label --all-meshed --yes -o json

  # Put the labels back exactly as they were (from the undo file, or from the namespaces' annotations)
  kubectl appmesh2istio label --undo appmesh2istio-undo-20250101T120000Z.yaml
  kubectl appmesh2istio label --undo -n shop-frontend

Exit codes:
  0  labelled and verified (or nothing to change); with --undo: restored
  1  refused or failed: cluster unreachable, the Istio injector (or ambient's ztunnel and CNI
     agent) is not installed (--force to label anyway), a named namespace does not exist, no
     --yes without a terminal, declined, missing rights, a write failed (what was written is
     reported and in the undo file) or verification found a difference
  2  usage error (no -n, -l or --all-meshed; conflicting flags)";

/// `--dataplane`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Dataplane {
    /// Sidecar injection (istio-injection=enabled, or istio.io/rev with --revision).
    #[default]
    Sidecar,
    /// Ambient mode (istio.io/dataplane-mode=ambient): no sidecar.
    Ambient,
}

/// What `label` was asked to do (the binary's flags).
#[derive(Debug, Clone, Default)]
pub struct LabelCommand {
    pub kube: KubeArgs,
    /// `-n`, repeatable and comma-separated (the binary splits them).
    pub namespaces: Vec<String>,
    pub selector: Option<String>,
    pub all_meshed: bool,
    pub revision: Option<String>,
    pub dataplane: Dataplane,
    pub remove_mesh_labels: bool,
    pub force: bool,
    pub istio_namespace: String,
    pub concurrency: usize,
    pub output: Option<OutputFormat>,
    pub color: ColorChoice,
    pub change: ChangeArgs,
    /// `--undo [FILE]`: `Some(None)` restores from the namespaces' annotations.
    pub undo: Option<Option<PathBuf>>,
}

impl LabelCommand {
    fn target(&self) -> Target {
        match (&self.revision, self.dataplane) {
            (_, Dataplane::Ambient) => Target::Ambient,
            (Some(rev), Dataplane::Sidecar) => Target::Revision(rev.clone()),
            (None, Dataplane::Sidecar) => Target::Injection,
        }
    }
}

/// A usage error (exit 2), or `None`.
pub fn usage_error(command: &LabelCommand) -> Option<String> {
    if command.kube.all_namespaces {
        return Some("-A is not a label scope: use --all-meshed (every namespace App Mesh selects), -n or -l".into());
    }
    if command.revision.is_some() && command.dataplane == Dataplane::Ambient {
        return Some(
            "--revision selects a sidecar injector and cannot be combined with --dataplane ambient"
                .into(),
        );
    }
    if let Some(rev) = &command.revision
        && !valid_label_value(rev)
    {
        return Some(format!(
            "--revision {rev:?} is not a valid label value (up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
        ));
    }
    if command.undo.is_some() {
        return None;
    }
    if command.namespaces.is_empty() && command.selector.is_none() && !command.all_meshed {
        return Some("which namespaces? give -n NAMESPACE (repeatable, or a comma list), -l SELECTOR or --all-meshed".into());
    }
    if !command.namespaces.is_empty() && command.selector.is_some() {
        return Some("-n and -l cannot be combined: name the namespaces, or select them".into());
    }
    None
}

fn valid_label_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && value
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

fn blocked(count: usize) -> String {
    format!("{count} namespace(s) not found; nothing was changed")
}

const LABEL: CommandSpec = CommandSpec {
    name: "label",
    plan_kind: "LabelPlan",
    plan_title: "plan",
    question: "Label",
    verified: "read back as labelled",
    undo_command: Some("kubectl appmesh2istio label --undo"),
    nothing_to_do: Some("nothing to change"),
    blocked_message: blocked,
    blocked_exit: exit::FAILURE,
};

/// Run `label` (or `label --undo`); returns the exit code.
pub fn run(command: &LabelCommand) -> i32 {
    crate::cli::block_on(Some(2), async {
        let cluster = match command
            .kube
            .connect(crate::cluster::CommandName::Label)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::FAILURE;
            }
        };
        let result = match &command.undo {
            Some(file) => undo::run(command, &cluster, file.as_deref()).await,
            None => run_label(command, &cluster).await,
        };
        let code = result.unwrap_or_else(|e| {
            eprintln!("error: {e}");
            exit::FAILURE
        });
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

/// The options every run of a plan here uses.
fn run_options(command: &LabelCommand) -> RunOptions {
    RunOptions {
        max_in_flight: command.concurrency.max(1),
        stop_on_failure: true,
        color: command.color.enabled_for_stderr(),
        output: command.output,
        verbosity: command.kube.verbosity,
        ..RunOptions::new(&command.change)
    }
}

async fn run_label(command: &LabelCommand, cluster: &Cluster) -> Result<i32, engine::ChangeError> {
    let target = command.target();
    if let Err(missing) =
        target::check_installed(cluster, &target, &command.istio_namespace).await?
    {
        if !command.force {
            eprintln!("error: {missing}; nothing was changed");
            return Ok(exit::FAILURE);
        }
        eprintln!("warning: --force: {missing}");
    }
    let mut context = LabelContext {
        target: Some(target.clone()),
        remove_mesh_labels: command.remove_mesh_labels,
        ..LabelContext::default()
    };
    select::read_mesh_selectors(cluster, &mut context).await;
    let selection = select::namespaces(cluster, command, &context).await?;
    if selection.names.is_empty() {
        eprintln!(
            "no namespaces to label: {}",
            if command.all_meshed {
                "App Mesh selects none (no injector label, no Mesh namespaceSelector matches)"
            } else {
                "none matches the selector"
            }
        );
        return Ok(exit::SUCCESS);
    }
    let (survey, warnings) = survey::read(cluster, &selection.names).await;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    context.survey = survey;
    if command.remove_mesh_labels {
        context.appmesh_objects = select::appmesh_objects(cluster).await;
    }
    let context = Arc::new(context);
    let changes: Vec<LabelNamespace> = selection
        .names
        .iter()
        .map(|n| LabelNamespace::new(n, context.clone()))
        .collect();
    let plan = match selection.live {
        Some(live) => Plan::decide(
            changes
                .into_iter()
                .map(|c| {
                    let value = live.get(&engine::Change::key(&c).name).cloned();
                    (c, Ok(value))
                })
                .collect(),
            VOCABULARY,
        ),
        None => Plan::read(cluster, changes, VOCABULARY, 16).await?,
    };
    let mut header = Map::new();
    let (key, value) = target.label();
    header.insert("target".into(), json!({key: value}));
    header.insert("removeMeshLabels".into(), json!(command.remove_mesh_labels));
    let options = run_options(command);
    let report = engine::run(cluster, &LABEL, &plan, &options, header).await?;
    // Running pods keep App Mesh's sidecar until they are recreated: say how.
    let changed: Vec<&str> = plan
        .items
        .iter()
        .zip(
            report
                .results
                .iter()
                .map(Some)
                .chain(std::iter::repeat(None)),
        )
        .filter(|(item, result)| {
            item.decision.action.id == engine::Action::LABEL.id
                && result.is_none_or(|r| r.status == Status::Done)
        })
        .map(|(item, _)| engine::Change::key(&item.change).name.as_str())
        .collect();
    let blocked = plan
        .items
        .iter()
        .any(|i| i.decision.action.id == NOT_FOUND.id);
    if !changed.is_empty() && !blocked && report.exit_code == exit::SUCCESS {
        let flags: Vec<String> = changed.iter().map(|n| format!("-n {n}")).collect();
        let done = if options.dry_run == engine::DryRun::None {
            "labelled"
        } else {
            "once labelled"
        };
        eprintln!(
            "next: running pods keep App Mesh's sidecar until they are recreated; {done}, move them with:\n  kubectl appmesh2istio rollout {}",
            flags.join(" ")
        );
    }
    Ok(report.exit_code)
}
