//! `kubectl appmesh2istio label`: move namespaces from App Mesh's sidecar injector to Istio's.
//! The flags are parsed here; the work is [`appmesh2istio::label`].

use std::path::PathBuf;
use std::process::ExitCode;

use appmesh2istio::change::ChangeArgs;
use appmesh2istio::cli::{ColorChoice, OutputFormat};
use appmesh2istio::cluster::KubeArgs;
use appmesh2istio::label::{self, Dataplane, LabelCommand};
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};

/// Move namespaces from App Mesh's sidecar injector to Istio's, exactly reversibly.
///
/// In one patch per namespace (never both injectors, never neither): removes
/// appmesh.k8s.aws/sidecarInjectorWebhook and adds istio-injection=enabled (or istio.io/rev=REV
/// with --revision, or istio.io/dataplane-mode=ambient with --dataplane ambient). Refuses when
/// that injector is not installed (unless --force). Shows the plan (and what running pods and
/// annotated workloads will do), asks for confirmation, records the previous values on the
/// namespace and in an undo file, writes with the namespace's resourceVersion as precondition,
/// verifies, and prints the `rollout` command that moves the running pods.
///
/// Needs: get, list and patch on namespaces; list on pods, deployments, statefulsets and
/// daemonsets; list on mutatingwebhookconfigurations (get on daemonsets in the Istio namespace
/// for ambient); list on App Mesh Meshes and VirtualGateways when present.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl appmesh2istio label",
    bin_name = "kubectl appmesh2istio label",
    version,
    after_help = label::EXAMPLES,
)]
struct Cli {
    #[command(flatten)]
    kube: KubeArgs,

    /// Label the namespaces whose labels match this selector (e.g. team=shop,tier!=db).
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    selector: Option<String>,

    /// Label every namespace App Mesh selects today (its injector label, or a Mesh's
    /// namespaceSelector); with -l, only those that also match it.
    #[arg(long, conflicts_with = "namespace")]
    all_meshed: bool,

    /// Put the namespaces on this Istio revision or revision tag (istio.io/rev=REV;
    /// istio-injection is removed, since Istio ignores the revision label while it is set).
    #[arg(long, value_name = "REV")]
    revision: Option<String>,

    /// sidecar (injection) or ambient (istio.io/dataplane-mode=ambient, no injection label).
    #[arg(long, value_enum, default_value = "sidecar")]
    dataplane: Dataplane,

    /// Also remove the labels Meshes' and VirtualGateways' namespaceSelectors match on (warns
    /// when App Mesh objects remain in the namespace).
    #[arg(long)]
    remove_mesh_labels: bool,

    /// Label even when the chosen injector (or ambient's ztunnel and CNI agent) is not installed:
    /// new pods then start with no sidecar at all.
    #[arg(long)]
    force: bool,

    /// Where Istio runs (ztunnel and istio-cni-node, for ambient).
    #[arg(long, value_name = "NAMESPACE", default_value = "istio-system")]
    istio_namespace: String,

    /// Namespaces written at once.
    #[arg(long, value_name = "N", default_value = "16")]
    concurrency: usize,

    /// Print the plan and its results on stdout.
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<OutputFormat>,

    /// Colour in the plan on stderr.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,

    #[command(flatten, next_help_heading = "Change")]
    change: ChangeArgs,

    /// Restore the labels exactly as they were: from FILE (an undo file of label), or without
    /// FILE from the namespaces' appmesh2istio.io/labels-before annotations (-n/-l narrow it).
    #[arg(long, value_name = "FILE", num_args = 0..=1, help_heading = "Change",
        conflicts_with_all = ["all_meshed", "revision", "dataplane", "remove_mesh_labels", "force", "undo_file"])]
    undo: Option<Option<PathBuf>>,
}

fn main() -> ExitCode {
    // -n as kubectl label takes names: repeatable and comma lists (KubeArgs has one namespace).
    let command = Cli::command().mut_arg("namespace", |a| {
        a.action(ArgAction::Append)
            .value_delimiter(',')
            .help("Namespaces to label (repeatable, or a comma list)")
    });
    if let Some(code) = appmesh2istio::completion::answer_if_asked(&command) {
        return code;
    }
    let mut matches = command.get_matches();
    let namespaces: Vec<String> = matches
        .get_many::<String>("namespace")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let cli = Cli::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| e.exit());
    let command = LabelCommand {
        kube: KubeArgs {
            namespace: None,
            ..cli.kube
        },
        namespaces,
        selector: cli.selector,
        all_meshed: cli.all_meshed,
        revision: cli.revision,
        dataplane: cli.dataplane,
        remove_mesh_labels: cli.remove_mesh_labels,
        force: cli.force,
        istio_namespace: cli.istio_namespace,
        concurrency: cli.concurrency,
        output: cli.output,
        color: cli.color,
        change: cli.change,
        undo: cli.undo,
    };
    if let Some(message) = label::usage_error(&command) {
        Cli::command()
            .error(clap::error::ErrorKind::MissingRequiredArgument, message)
            .exit();
    }
    ExitCode::from(u8::try_from(label::run(&command)).unwrap_or(1))
}
