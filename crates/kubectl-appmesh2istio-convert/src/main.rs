//! `kubectl appmesh2istio convert`: App Mesh manifests (or a cluster's App Mesh objects) in,
//! Istio configuration out, optionally applied to the cluster.
//!
//! Data goes to standard output only (so `convert -f x | kubectl apply -f -` works); the
//! report and every message go to standard error. Nothing is written to standard output
//! unless the whole conversion succeeded and validated. With `--apply`, standard output stays
//! empty unless `-o` is given, which then prints the apply plan and its results.

mod apply;

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use appmesh2istio::cli::{ColorChoice, FileArgs, OutputFormat};
use appmesh2istio::cluster::apply::{DEFAULT_FIELD_MANAGER, DryRun};
use appmesh2istio::cluster::inventory::read_inventory;
use appmesh2istio::cluster::{Cluster, KubeArgs};
use appmesh2istio::convert::{ConvertError, ConvertOptions, convert};
use appmesh2istio::exit;
use appmesh2istio::findings::Fidelity;
use appmesh2istio::load::{InputSource, Inventory, LoadOptions, load_sources};
use appmesh2istio::render;
use appmesh2istio::resolve::resolve;
use clap::{CommandFactory, Parser};

/// mimalloc, not the system allocator: conversion makes many small allocations, which
/// glibc's malloc scatters over the heap, and large inputs then run out of cache (measured in
/// docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXAMPLES: &str = "\
Examples:
  # Convert a directory of App Mesh manifests and review the result
  kubectl appmesh2istio convert -f manifests/ -R

  # Convert the App Mesh objects of the current cluster (all namespaces)
  kubectl appmesh2istio convert > istio.yaml

  # Convert and apply in one go: plan, confirm, server-side apply, verify, undo file
  kubectl appmesh2istio convert --apply

  # See what --apply would do, as JSON, without changing anything
  kubectl appmesh2istio convert --apply --dry-run=client -o json

  # Revert an apply
  kubectl appmesh2istio convert --undo appmesh2istio-undo-20250101T120000Z.yaml

  # Or pipe to kubectl (the report still goes to stderr)
  kubectl appmesh2istio convert -f mesh.yaml | kubectl apply -f -

  # Also generate an IstioOperator for `istioctl install -f`, one file per object
  kubectl appmesh2istio convert -f mesh.yaml --install --output-dir istio/

  # Fail a CI job when anything could not be carried over exactly
  kubectl appmesh2istio convert -f mesh.yaml --strict --report report.json > /dev/null

Exit codes:
  0  converted (see the report for approximations); with --apply/--undo: applied and verified
  1  could not read or parse the input, reach the cluster or write the output; with
     --apply/--undo: refused (no --yes without a terminal, declined, missing rights), a
     write failed (stops there: what was applied is reported and in the undo file) or
     verification found a difference
  2  usage error
  3  --strict and something was approximated or not converted (nothing applied)
  4  internal error: the generated configuration failed Istio validation (nothing written)
  6  --apply: objects exist that appmesh2istio does not manage; nothing was changed
     (--force-conflicts takes them over)";

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
    after_help = EXAMPLES,
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

    /// Write one file per object plus a kustomization.yaml into DIR instead of stdout.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["output", "apply"])]
    output_dir: Option<PathBuf>,

    /// Also generate an install.istio.io/v1alpha1 IstioOperator (meshConfig from the Mesh)
    /// for `istioctl install -f` (never applied by --apply).
    #[arg(long)]
    install: bool,

    /// Do not write out App Mesh's invisible defaults (15 s request timeout, default
    /// retries); Istio's own defaults then apply.
    #[arg(long)]
    no_preserve_defaults: bool,

    /// Write the conversion report as JSON to FILE (in addition to the table on stderr).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,

    /// Exit with code 3 when anything was approximated or not converted (and do not apply).
    #[arg(long)]
    strict: bool,

    /// Do not print the conversion report table on stderr.
    #[arg(short = 'q', long)]
    quiet: bool,

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

    /// Apply the generated objects to the cluster: plan, confirm, server-side apply, verify,
    /// and write an undo file.
    #[arg(long, help_heading = "Apply")]
    apply: bool,

    /// With --apply/--undo: `client` plans only; `server` sends every write as a server dry
    /// run (validated and admitted, nothing stored). A bare --dry-run means client.
    #[arg(long, value_enum, value_name = "none|client|server", num_args = 0..=1, default_missing_value = "client", help_heading = "Apply")]
    dry_run: Option<DryRun>,

    /// Name of the manager used to track field ownership (server-side apply).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_FIELD_MANAGER, help_heading = "Apply")]
    field_manager: String,

    /// Take over existing objects not managed by appmesh2istio, and fields other managers own.
    #[arg(long, help_heading = "Apply")]
    force_conflicts: bool,

    /// Do not ask for confirmation (required when stdin or stderr is not a terminal).
    #[arg(long, help_heading = "Apply")]
    yes: bool,

    /// Where --apply records what it created and changed
    /// [default: ./appmesh2istio-undo-<UTC timestamp>.yaml].
    #[arg(long, value_name = "FILE", help_heading = "Apply")]
    undo_file: Option<PathBuf>,

    /// Revert what an --apply recorded in FILE: delete what it created, restore what it
    /// changed (plan and confirmation as for --apply).
    #[arg(long, value_name = "FILE", help_heading = "Apply",
        conflicts_with_all = ["filenames", "from_cluster", "apply", "install", "output_dir", "report", "strict", "undo_file"])]
    undo: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    check_usage(&cli);
    // The whole pipeline runs on the loader's large-stack thread, so parsing and conversion
    // share one thread (and one allocator arena): see `load::with_large_stack`.
    match appmesh2istio::load::with_large_stack(|| run(&cli)) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::FAILURE as u8)
        }
    }
}

/// Flags that only mean something with --apply or --undo are usage errors without them (exit 2).
fn check_usage(cli: &Cli) {
    if cli.apply || cli.undo.is_some() {
        return;
    }
    let given = [
        (cli.dry_run.is_some(), "--dry-run"),
        (cli.force_conflicts, "--force-conflicts"),
        (cli.yes, "--yes"),
        (cli.undo_file.is_some(), "--undo-file"),
        (
            cli.field_manager != DEFAULT_FIELD_MANAGER,
            "--field-manager",
        ),
    ];
    if let Some((_, flag)) = given.iter().find(|(set, _)| *set) {
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                format!("{flag} needs --apply (or --undo)"),
            )
            .exit();
    }
}

/// A runtime for cluster access (kube's client needs one).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn run(cli: &Cli) -> anyhow::Result<i32> {
    if let Some(file) = &cli.undo {
        return runtime()?.block_on(apply::run_undo(cli, file));
    }
    let from_cluster = cli.from_cluster || cli.files.filenames.is_empty();
    if from_cluster || cli.apply {
        runtime()?.block_on(run_converting(cli, from_cluster))
    } else {
        let Some(inventory) = read_files(cli)? else {
            return Ok(exit::FAILURE);
        };
        convert_and_output(cli, &inventory, None)
    }
}

async fn run_converting(cli: &Cli, from_cluster: bool) -> anyhow::Result<i32> {
    let mut cluster = None;
    let inventory = if from_cluster {
        let connected = match cli.kube.connect().await {
            Ok(c) => c,
            Err(e) if !cli.from_cluster => {
                eprintln!(
                    "error: no input: give App Mesh manifests with -f FILE|DIR|-, or read them from a cluster \
                     (--kubeconfig, --context, --from-cluster; see --help): {e}"
                );
                return Ok(exit::FAILURE);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::FAILURE);
            }
        };
        let scope = cli.kube.scope(true, &connected.default_namespace);
        let read = match read_inventory(&connected, &scope).await {
            Ok(read) => read,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::FAILURE);
            }
        };
        if !cli.quiet {
            let counts: Vec<String> = read
                .counts
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect();
            let context = connected
                .context
                .as_deref()
                .map(|c| format!("context {c}, "))
                .unwrap_or_default();
            eprintln!(
                "read from the cluster ({context}{scope}): {}",
                counts.join(", ")
            );
            if !read.kinds_not_served.is_empty() {
                eprintln!(
                    "note: the cluster does not serve {} (skipped)",
                    read.kinds_not_served.join(", ")
                );
            }
        }
        cluster = Some(connected);
        read.inventory
    } else {
        let Some(inventory) = read_files(cli)? else {
            return Ok(exit::FAILURE);
        };
        inventory
    };
    if !cli.apply {
        let code = convert_and_output(cli, &inventory, None)?;
        print_request_stats(cli, cluster.as_ref());
        return Ok(code);
    }
    let cluster = match cluster {
        Some(c) => c,
        None => match cli.kube.connect().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::FAILURE);
            }
        },
    };
    let mut converted = None;
    let code = convert_and_output(cli, &inventory, Some(&mut converted))?;
    let code = match converted {
        Some(objects) if code == exit::SUCCESS => apply::run_apply(cli, &cluster, &objects).await?,
        _ => code,
    };
    print_request_stats(cli, Some(&cluster));
    Ok(code)
}

fn print_request_stats(cli: &Cli, cluster: Option<&Cluster>) {
    if let Some(cluster) = cluster
        && cli.kube.verbosity > 0
    {
        eprintln!(
            "{} API requests ({} retries)",
            cluster.stats.requests(),
            cluster.stats.retries()
        );
    }
}

fn read_sources(files: &FileArgs) -> anyhow::Result<Vec<InputSource>> {
    let mut sources = Vec::with_capacity(files.filenames.len());
    for path in &files.filenames {
        if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            io::stdin()
                .read_to_end(&mut bytes)
                .context("cannot read standard input")?;
            sources.push(InputSource::stdin(bytes));
        } else {
            sources.push(InputSource::path(path.clone(), files.recursive));
        }
    }
    Ok(sources)
}

/// The inventory of the -f sources (`-n` is the namespace of objects without one, as in
/// `kubectl apply -f`), or `None` after printing why it could not be loaded.
fn read_files(cli: &Cli) -> anyhow::Result<Option<Inventory>> {
    let sources = read_sources(&cli.files)?;
    let options = LoadOptions {
        default_namespace: cli
            .kube
            .namespace
            .clone()
            .unwrap_or_else(|| LoadOptions::default().default_namespace),
        ..LoadOptions::default()
    };
    match load_sources(&sources, &options) {
        Ok(inv) => Ok(Some(inv)),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(None)
        }
    }
}

fn parse_selector(text: &str) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').with_context(|| {
                format!("--ingress-gateway-selector: {pair:?} is not KEY=VALUE")
            })?;
            Ok((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// Convert, then either write the objects (stdout or --output-dir) or, with `apply_to`, hand
/// them over for --apply (nothing on stdout). The report goes to stderr either way.
fn convert_and_output(
    cli: &Cli,
    inventory: &Inventory,
    apply_to: Option<&mut Option<Vec<appmesh2istio::istio::IstioObject>>>,
) -> anyhow::Result<i32> {
    let resolved = resolve(inventory);
    let opts = ConvertOptions {
        preserve_defaults: !cli.no_preserve_defaults,
        install: cli.install,
        cluster_domain: cli.cluster_domain.clone(),
        ingress_gateway_selector: parse_selector(&cli.ingress_gateway_selector)?,
        ..ConvertOptions::default()
    };
    let conversion = match convert(inventory, &resolved, &opts) {
        Ok(c) => c,
        Err(ConvertError::InvalidOutput(violations)) => {
            eprintln!(
                "error: the generated Istio configuration is invalid; this is a bug in appmesh2istio and nothing was written:"
            );
            for v in violations {
                eprintln!("  {v}");
            }
            return Ok(exit::INTERNAL);
        }
    };

    // Render everything before writing anything, so a failure never leaves half an output.
    let applying = apply_to.is_some();
    if !applying {
        match &cli.output_dir {
            Some(dir) => {
                let written = render::write_output_dir(dir, &conversion.objects)?;
                eprintln!("wrote {} files to {}", written.len(), dir.display());
            }
            None => {
                let text = match cli.output.unwrap_or(OutputFormat::Yaml) {
                    OutputFormat::Yaml => render::to_yaml_stream(&conversion.objects)?,
                    OutputFormat::Json => render::to_json_list(&conversion.objects)?,
                };
                write_stdout(&text)?;
            }
        }
    }

    if let Some(path) = &cli.report {
        std::fs::write(path, render::report_json(&conversion.report)?)
            .with_context(|| format!("cannot write report {}", path.display()))?;
    }
    if !cli.quiet {
        eprint!(
            "{}",
            render::report_table(
                &conversion.report,
                cli.color.enabled_for_stderr(),
                render::report_width()
            )
        );
    }
    if cli.strict && conversion.report.worst_fidelity() != Fidelity::Exact {
        let applied = if applying {
            "; nothing was applied"
        } else {
            ""
        };
        eprintln!("--strict: not everything was converted exactly (exit code 3){applied}");
        return Ok(exit::NOT_EXACT);
    }
    if let Some(slot) = apply_to {
        *slot = Some(conversion.objects);
    }
    Ok(exit::SUCCESS)
}

/// Write data to stdout; a closed pipe (`| head`) is the reader's choice, not our failure.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e).context("cannot write to standard output"),
    }
}
