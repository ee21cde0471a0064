//! `kubectl appmesh2istio convert`: App Mesh objects in, Istio configuration out, optionally
//! applied to the cluster. The flags are parsed here; the work is
//! [`appmesh2istio::commands::convert`].

use std::path::PathBuf;
use std::process::ExitCode;

use appmesh2istio::change::ChangeArgs;
use appmesh2istio::cli::{ColorChoice, FileArgs, OutputFormat};
use appmesh2istio::cluster::KubeArgs;
use appmesh2istio::commands::convert::{self, ConvertCommand, ReportFormat, ShowFidelity};
use appmesh2istio::commands::install_output::InstallFormat;
use clap::{CommandFactory, Parser};

/// mimalloc, not the system allocator: conversion makes many small allocations, which
/// glibc's malloc scatters over the heap, and large inputs then run out of cache (measured in
/// docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Convert AWS App Mesh (appmesh.k8s.aws/v1beta2) objects into equivalent Istio configuration.
///
/// Reads Mesh, VirtualNode, VirtualService, VirtualRouter, VirtualGateway, GatewayRoute and
/// BackendGroup objects (plus the Namespaces, Services and workloads found next to them, to
/// resolve references) from files (-f) or, without -f, from the cluster, and writes Istio
/// VirtualService, DestinationRule, Gateway, ServiceEntry, Sidecar, PeerAuthentication,
/// AuthorizationPolicy and Telemetry objects. A report of what was carried over exactly,
/// approximated or not converted goes to stderr. With --apply, the objects are applied to the
/// cluster (server-side apply) after a plan and a confirmation, and an undo file is written.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl appmesh2istio convert",
    bin_name = "kubectl appmesh2istio convert",
    version,
    after_help = convert::EXAMPLES,
)]
struct Cli {
    #[command(flatten)]
    files: FileArgs,

    /// Read the App Mesh objects from the cluster (the default when no -f is given): all
    /// namespaces, or the one given with -n.
    #[arg(long, conflicts_with = "filenames")]
    from_cluster: bool,

    #[command(flatten)]
    kube: KubeArgs,

    /// Output format on stdout: the generated objects (default yaml); with --apply or --undo,
    /// the plan and its results (nothing is printed on stdout unless -o is given).
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<OutputFormat>,

    /// The routing API of the output: istio (VirtualService, Gateway) or gateway-api (HTTPRoute
    /// and TCPRoute with the Service as parent, per-version Services, ReferenceGrants; Istio's
    /// policies and ingress objects stay). What Gateway API cannot say is reported (AMI25xx).
    #[arg(long, value_enum, default_value = "istio")]
    target: appmesh2istio::convert::Target,

    /// The Gateway API CRDs installed (with --target gateway-api): standard, or experimental,
    /// which adds TCPRoute and per-route retries.
    #[arg(long, value_enum, default_value = "standard", value_name = "CHANNEL")]
    gateway_api_channel: appmesh2istio::convert::GatewayApiChannel,

    /// Write one file per object plus a kustomization.yaml into DIR instead of stdout.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["output", "apply"])]
    output_dir: Option<PathBuf>,

    /// Also write Istio's installation settings (meshConfig from the Meshes, ingress gateway
    /// ports, access-log providers) into --install-dir, never on stdout and never applied by
    /// --apply: istio-operator (the default of a bare --install) writes an IstioOperator for
    /// `istioctl install -f`; helm writes values files for Istio's Helm charts (base, istiod,
    /// gateway) and prints the `helm install` commands on stderr, in order.
    #[arg(
        long,
        value_enum,
        num_args = 0..=1,
        default_missing_value = "istio-operator",
        value_name = "FORMAT"
    )]
    install: Option<InstallFormat>,

    /// Where --install writes its files (created if missing): default istio-install, or
    /// DIR/istio-install with --output-dir DIR. Files of an earlier run are replaced; a
    /// directory holding other files is refused.
    #[arg(long, value_name = "DIR", requires = "install")]
    install_dir: Option<PathBuf>,

    /// Do not write out App Mesh's invisible defaults (15 s request timeout; 2 retries on 503,
    /// connect-failure, refused-stream, reset and unavailable; 300 s idle timeout of listeners
    /// and TCP connections); Istio's own defaults then apply (no request timeout, 2 retries on
    /// connection failures only, 1 h idle timeout).
    #[arg(long)]
    no_preserve_defaults: bool,

    /// Write the conversion report as JSON to FILE (in addition to the table on stderr).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,

    /// All or nothing: when anything was approximated or not converted, print nothing on
    /// stdout, apply nothing, and exit with code 3.
    #[arg(long)]
    strict: bool,

    /// Convert what can be read when some files cannot (a Helm template in a directory of
    /// manifests): each skipped file is listed in the report (AMI1050) and the exit code is 3.
    #[arg(long, requires = "filenames")]
    skip_unreadable: bool,

    /// Do not print the conversion report on stderr.
    #[arg(short = 'q', long)]
    quiet: bool,

    /// How the report on stderr is drawn: one line per finding under its source object
    /// (wrapped to the terminal, easy to grep), or one table row per source object.
    #[arg(long, value_enum, default_value = "lines", value_name = "FORMAT")]
    report_format: ReportFormat,

    /// Show only the source objects converted this way in the report on stderr (repeatable
    /// or comma-separated; the summary still counts all, --report FILE lists all).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "FIDELITY")]
    show: Vec<ShowFidelity>,

    /// Colour in the report on stderr.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,

    /// The cluster's DNS domain, used to write fully qualified host names.
    #[arg(long, default_value = "cluster.local", value_name = "DOMAIN")]
    cluster_domain: String,

    /// Labels of the Istio ingress gateway pods that replace each VirtualGateway's Envoy.
    #[arg(
        long,
        default_value = "istio=ingressgateway",
        value_name = "KEY=VALUE[,KEY=VALUE]"
    )]
    ingress_gateway_selector: String,

    /// Flagger's -mesh-provider, when the input does not include the Flagger Deployment:
    /// Canaries without spec.provider are converted when it is appmesh.
    #[arg(long, value_name = "PROVIDER")]
    flagger_mesh_provider: Option<String>,

    /// The App Mesh controller's tracing backend, when the input does not include the
    /// controller Deployment (with --install: an extensionProvider and a mesh-wide Telemetry).
    #[arg(long, value_enum, value_name = "BACKEND")]
    tracing: Option<appmesh2istio::convert::tracing::TracingBackend>,

    /// Apply the generated objects to the cluster: plan, confirm, undo file, create or
    /// server-side apply (leaving exactly the generated spec), verify.
    #[arg(long, help_heading = "Apply")]
    apply: bool,

    #[command(flatten, next_help_heading = "Apply")]
    change: ChangeArgs,

    /// Take over existing objects not managed by appmesh2istio (they are left with exactly the
    /// generated spec).
    #[arg(long, help_heading = "Apply")]
    force_conflicts: bool,

    /// Revert what an --apply recorded in FILE: delete what it created, restore what it
    /// changed (plan and confirmation as for --apply).
    #[arg(long, value_name = "FILE", help_heading = "Apply",
        conflicts_with_all = ["filenames", "from_cluster", "apply", "install", "install_dir", "output_dir", "report", "strict", "undo_file"])]
    undo: Option<PathBuf>,
}

fn main() -> ExitCode {
    if let Some(code) = appmesh2istio::completion::answer_if_asked(&Cli::command()) {
        return code;
    }
    let cli = Cli::parse();
    let command = ConvertCommand {
        files: cli.files,
        from_cluster: cli.from_cluster,
        kube: cli.kube,
        output: cli.output,
        output_dir: cli.output_dir,
        install: cli.install,
        install_dir: cli.install_dir,
        no_preserve_defaults: cli.no_preserve_defaults,
        report: cli.report,
        strict: cli.strict,
        skip_unreadable: cli.skip_unreadable,
        quiet: cli.quiet,
        report_format: cli.report_format,
        show: convert::show_filter(&cli.show),
        color: cli.color,
        cluster_domain: cli.cluster_domain,
        ingress_gateway_selector: cli.ingress_gateway_selector,
        flagger_mesh_provider: cli.flagger_mesh_provider,
        tracing: cli.tracing,
        apply: cli.apply,
        change: cli.change,
        force_conflicts: cli.force_conflicts,
        undo: cli.undo,
        target: cli.target,
        gateway_api_channel: cli.gateway_api_channel,
    };
    if let Some(message) = convert::usage_error(&command) {
        Cli::command()
            .error(clap::error::ErrorKind::InvalidValue, message)
            .exit();
    }
    ExitCode::from(u8::try_from(convert::run(&command)).unwrap_or(1))
}
