//! `kubectl appmesh2istio cleanup`: remove App Mesh from a migrated cluster. The flags are
//! parsed here; the work is [`appmesh2istio::cleanup`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use appmesh2istio::change::ChangeArgs;
use appmesh2istio::cleanup::{self, CleanupCommand, DEFAULT_CONTROLLER_NAMESPACE};
use appmesh2istio::cli::{ColorChoice, OutputFormat};
use appmesh2istio::cluster::{KubeArgs, parse_request_timeout};
use clap::{CommandFactory, Parser};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Remove AWS App Mesh from a cluster migrated to Istio: its objects (referrers first), its
/// namespace labels and pod-template annotations (--labels), the controller and its webhooks
/// (--controller), and the CRDs (--crds).
///
/// Gates first (no App Mesh sidecar still running, every App Mesh object has its Istio
/// counterpart, the namespaces are labelled for Istio); then the plan, a confirmation, a backup
/// of everything removed (re-created by --restore), deletes with preconditions and a watch until
/// the objects are gone. App Mesh webhook configurations whose service is gone are always
/// removed first. App Mesh objects whose finalizers nothing will release are listed; with
/// --remove-finalizers only App Mesh's finalizers are removed, and the AWS resources the
/// objects recorded are listed (never claimed deleted).
#[derive(Debug, Parser)]
#[command(
    name = "kubectl appmesh2istio cleanup",
    bin_name = "kubectl appmesh2istio cleanup",
    version,
    after_help = cleanup::EXAMPLES,
)]
struct Cli {
    #[command(flatten)]
    kube: KubeArgs,

    /// Namespace label selector (as kubectl get ns -l): clean up the namespaces it selects.
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    selector: Option<String>,

    /// Print the plan and its results on stdout as yaml or json.
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<OutputFormat>,

    /// Also remove App Mesh's namespace labels (sidecarInjectorWebhook, and the labels only
    /// the deleted Meshes' and VirtualGateways' namespaceSelectors used).
    #[arg(long)]
    labels: bool,

    /// With --labels: also remove App Mesh's pod-template annotations, which restarts the
    /// workloads' pods.
    #[arg(long)]
    restart: bool,

    /// Also remove the App Mesh controller (Deployment, Service, ServiceAccount, RBAC, its
    /// webhook configurations).
    #[arg(long)]
    controller: bool,

    /// Namespace of the App Mesh controller.
    #[arg(long, value_name = "NAMESPACE", default_value = DEFAULT_CONTROLLER_NAMESPACE)]
    controller_namespace: String,

    /// Also remove the seven App Mesh CRDs (only when no App Mesh object is left).
    #[arg(long)]
    crds: bool,

    /// Skip the gates (said loudly in the plan).
    #[arg(long)]
    force: bool,

    /// How long to wait for each kind's deleted objects to be gone, e.g. 30s, 5m.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
    timeout: Duration,

    /// Remove App Mesh's finalizers (only those) of objects still terminating after --timeout,
    /// and list the AWS resources they recorded.
    #[arg(long)]
    remove_finalizers: bool,

    /// With --remove-finalizers: write the AWS CLI commands that delete what may remain in AWS
    /// to FILE, for review.
    #[arg(long, value_name = "FILE")]
    aws_script: Option<PathBuf>,

    /// Re-create what a backup written by cleanup holds (not the AWS-side resources).
    #[arg(long, value_name = "FILE")]
    restore: Option<PathBuf>,

    /// Colour in the plan on stderr.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,

    /// The backup is written to --undo-file (default ./appmesh2istio-cleanup-backup-<time>.yaml).
    #[command(flatten, next_help_heading = "Changes")]
    change: ChangeArgs,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    parse_request_timeout(text).map(|d| d.0.unwrap_or(Duration::ZERO))
}

fn main() -> ExitCode {
    if let Some(code) = appmesh2istio::completion::answer_if_asked(&Cli::command()) {
        return code;
    }
    let cli = Cli::parse();
    let command = CleanupCommand {
        kube: cli.kube,
        selector: cli.selector,
        output: cli.output,
        change: cli.change,
        color: cli.color,
        force: cli.force,
        labels: cli.labels,
        restart: cli.restart,
        controller: cli.controller,
        controller_namespace: cli.controller_namespace,
        crds: cli.crds,
        timeout: cli.timeout,
        remove_finalizers: cli.remove_finalizers,
        aws_script: cli.aws_script,
        restore: cli.restore,
        ..CleanupCommand::default()
    };
    if let Some(message) = cleanup::usage_error(&command) {
        Cli::command()
            .error(clap::error::ErrorKind::ArgumentConflict, message)
            .exit();
    }
    ExitCode::from(u8::try_from(cleanup::run(&command)).unwrap_or(1))
}
