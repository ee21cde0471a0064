//! `kubectl appmesh2istio rollout`: restart workloads so that their pods come back with Istio's
//! sidecar, verified. The flags are parsed here; the work is [`appmesh2istio::rollout`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use appmesh2istio::change::ChangeArgs;
use appmesh2istio::cli::{ColorChoice, OutputFormat};
use appmesh2istio::cluster::{KubeArgs, OptionalDuration, parse_request_timeout};
use appmesh2istio::rollout::{self, EXAMPLES, RolloutCommand, Strategy};
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Restart workloads so that their pods come back on Istio, and prove it.
///
/// Picks the Deployments, StatefulSets and DaemonSets of the namespaces given (-n, repeatable;
/// -l; -A; default: the context's namespace) whose pods still carry App Mesh's Envoy or, in a
/// namespace labelled for Istio, lack istio-proxy (--all: every one). Paused Deployments, pods
/// that opt out of injection, bare pods and Jobs, and namespaces not yet labelled for Istio are
/// reported and skipped. Each restart is kubectl's (restartedAt on the pod template) with the
/// App Mesh pod annotations translated to Istio's in the same patch; each workload is then
/// waited for as `kubectl rollout status` does and its new pods are checked on the Pod objects.
/// A plan is shown first; an undo file records what changed.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl appmesh2istio rollout",
    bin_name = "kubectl appmesh2istio rollout",
    version,
    after_help = EXAMPLES,
)]
struct Cli {
    #[command(flatten)]
    kube: KubeArgs,

    /// Namespaces by label selector (e.g. mesh=shop), instead of -n.
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    selector: Option<String>,

    /// Restart every selected workload, also those already on Istio.
    #[arg(long)]
    all: bool,

    /// in-place (all, --max-concurrent at a time), phased (waves, each verified before the
    /// next) or canary (a temporary copy on Istio first; Deployments only).
    #[arg(long, value_enum, default_value = "in-place")]
    strategy: Strategy,

    /// Workloads restarting at the same time.
    #[arg(long, value_name = "N", default_value = "5")]
    max_concurrent: usize,

    /// Go on after a workload failed (default: the first failure stops new restarts).
    #[arg(long)]
    continue_on_failure: bool,

    /// phased: waves of N workloads instead of one wave per namespace.
    #[arg(long, value_name = "N", help_heading = "Phased")]
    batch_size: Option<usize>,

    /// phased: wait this long between waves instead of asking (e.g. 2m).
    #[arg(long, value_name = "DURATION", value_parser = parse_request_timeout, help_heading = "Phased")]
    phase_wait: Option<OptionalDuration>,

    /// canary: pods of the temporary copy (default 1).
    #[arg(long, value_name = "N", help_heading = "Canary")]
    canary_replicas: Option<i64>,

    /// canary: the copy's pods as a percentage of the workload's replicas (rounded up).
    #[arg(long, value_name = "P", help_heading = "Canary")]
    canary_percent: Option<u32>,

    /// canary: how long the copy must stay healthy before the workload is restarted.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_request_timeout, help_heading = "Canary")]
    canary_wait: OptionalDuration,

    /// A command run with `sh -c` after every wave (and repeatedly during a canary's hold);
    /// non-zero stops the rollout. It gets APPMESH2ISTIO_NAMESPACE, APPMESH2ISTIO_WORKLOAD,
    /// APPMESH2ISTIO_KIND (one workload), APPMESH2ISTIO_WORKLOADS, APPMESH2ISTIO_NAMESPACES and
    /// APPMESH2ISTIO_WAVE.
    #[arg(long, value_name = "CMD")]
    check: Option<String>,

    /// How long to wait for one workload to roll out.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_request_timeout)]
    timeout: OptionalDuration,

    /// Print the plan and each workload's result on stdout.
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<OutputFormat>,

    /// Colour in the plan on stderr.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,

    #[command(flatten)]
    change: ChangeArgs,

    /// Restore the pod-template keys a rollout changed (FILE, default: the newest rollout undo
    /// file here) and restart those workloads.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "")]
    undo: Option<PathBuf>,
}

fn main() -> ExitCode {
    // `-n` may be repeated here (KubeArgs' field holds one): take every value first.
    let command = Cli::command().mut_arg("namespace", |a| a.action(ArgAction::Append));
    if let Some(code) = appmesh2istio::completion::answer_if_asked(&command) {
        return code;
    }
    let mut matches = command.get_matches();
    let namespaces: Vec<String> = matches
        .remove_many::<String>("namespace")
        .map(Iterator::collect)
        .unwrap_or_default();
    let cli = match Cli::from_arg_matches_mut(&mut matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let duration = |d: OptionalDuration, default: u64| d.0.unwrap_or(Duration::from_secs(default));
    let mut kube = cli.kube;
    kube.namespace = namespaces.first().cloned();
    let command = RolloutCommand {
        kube,
        namespaces,
        selector: cli.selector,
        all: cli.all,
        strategy: cli.strategy,
        max_concurrent: cli.max_concurrent,
        continue_on_failure: cli.continue_on_failure,
        batch_size: cli.batch_size,
        phase_wait: cli.phase_wait.and_then(|d| d.0),
        canary_replicas: cli.canary_replicas,
        canary_percent: cli.canary_percent,
        canary_wait: duration(cli.canary_wait, 0),
        check: cli.check,
        timeout: duration(cli.timeout, 300),
        output: cli.output,
        color: cli.color,
        change: cli.change,
        undo: cli.undo.map(|p| (!p.as_os_str().is_empty()).then_some(p)),
    };
    if let Some(message) = rollout::usage_error(&command) {
        Cli::command()
            .error(clap::error::ErrorKind::ArgumentConflict, message)
            .exit();
    }
    ExitCode::from(u8::try_from(rollout::run(&command)).unwrap_or(1))
}
