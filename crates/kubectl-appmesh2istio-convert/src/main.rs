//! `kubectl appmesh2istio convert`: App Mesh manifests in, Istio configuration out.
//!
//! Data goes to standard output only (so `convert -f x | kubectl apply -f -` works); the
//! report and every message go to standard error. Nothing is written to standard output
//! unless the whole conversion succeeded and validated.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use appmesh2istio::cli::{ColorChoice, FileArgs, OutputFormat};
use appmesh2istio::convert::{ConvertError, ConvertOptions, convert};
use appmesh2istio::exit;
use appmesh2istio::findings::Fidelity;
use appmesh2istio::load::{InputSource, LoadOptions, load_sources};
use appmesh2istio::render;
use appmesh2istio::resolve::resolve;
use clap::Parser;

const EXAMPLES: &str = "\
Examples:
  # Convert a directory of App Mesh manifests and review the result
  kubectl appmesh2istio convert -f manifests/ -R

  # Convert and apply in one go (the report still goes to stderr)
  kubectl appmesh2istio convert -f mesh.yaml | kubectl apply -f -

  # Also generate an IstioOperator for `istioctl install -f`, one file per object
  kubectl appmesh2istio convert -f mesh.yaml --install --output-dir istio/

  # Fail a CI job when anything could not be carried over exactly
  kubectl appmesh2istio convert -f mesh.yaml --strict --report report.json > /dev/null

Exit codes:
  0  converted (see the report for approximations)
  1  could not read or parse the input, or could not write the output
  2  usage error
  3  --strict and something was approximated or not converted
  4  internal error: the generated configuration failed Istio validation (nothing written)";

/// Convert AWS App Mesh (appmesh.k8s.aws/v1beta2) objects into equivalent Istio configuration.
///
/// Reads Mesh, VirtualNode, VirtualService, VirtualRouter, VirtualGateway, GatewayRoute and
/// BackendGroup objects (plus the Namespaces, Services and workloads found next to them, to
/// resolve references) and writes Istio VirtualService, DestinationRule, Gateway,
/// ServiceEntry, Sidecar, PeerAuthentication, AuthorizationPolicy and Telemetry objects. A
/// report of what was carried over exactly, approximated or not converted goes to stderr.
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

    /// Output format of the generated objects on stdout.
    #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
    output: OutputFormat,

    /// Write one file per object plus a kustomization.yaml into DIR instead of stdout.
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    output_dir: Option<PathBuf>,

    /// Also generate an install.istio.io/v1alpha1 IstioOperator (meshConfig from the Mesh)
    /// for `istioctl install -f`.
    #[arg(long)]
    install: bool,

    /// Do not write out App Mesh's invisible defaults (15 s request timeout, default
    /// retries); Istio's own defaults then apply.
    #[arg(long)]
    no_preserve_defaults: bool,

    /// Write the conversion report as JSON to FILE (in addition to the table on stderr).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,

    /// Exit with code 3 when anything was approximated or not converted.
    #[arg(long)]
    strict: bool,

    /// Do not print the report table on stderr.
    #[arg(short = 'q', long)]
    quiet: bool,

    /// Colour in the report on stderr.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,

    /// The cluster's DNS domain, used to write fully qualified host names.
    #[arg(long, default_value = "cluster.local", value_name = "DOMAIN")]
    cluster_domain: String,

    /// Labels of the Istio ingress gateway pods that replace each VirtualGateway's Envoy.
    #[arg(long, default_value = "istio=ingressgateway", value_name = "KEY=VALUE[,KEY=VALUE]")]
    ingress_gateway_selector: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::FAILURE as u8)
        }
    }
}

fn read_sources(files: &FileArgs) -> anyhow::Result<Vec<InputSource>> {
    if files.filenames.is_empty() {
        anyhow::bail!(
            "no input: give App Mesh manifests with -f FILE|DIR|- (see --help)"
        );
    }
    let mut sources = Vec::with_capacity(files.filenames.len());
    for path in &files.filenames {
        if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            io::stdin().read_to_end(&mut bytes).context("cannot read standard input")?;
            sources.push(InputSource::stdin(bytes));
        } else {
            sources.push(InputSource::path(path.clone(), files.recursive));
        }
    }
    Ok(sources)
}

fn parse_selector(text: &str) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .with_context(|| format!("--ingress-gateway-selector: {pair:?} is not KEY=VALUE"))?;
            Ok((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

fn run(cli: &Cli) -> anyhow::Result<i32> {
    let sources = read_sources(&cli.files)?;
    let inventory = match load_sources(&sources, &LoadOptions::default()) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::FAILURE);
        }
    };
    let resolved = resolve(&inventory);
    let opts = ConvertOptions {
        preserve_defaults: !cli.no_preserve_defaults,
        install: cli.install,
        cluster_domain: cli.cluster_domain.clone(),
        ingress_gateway_selector: parse_selector(&cli.ingress_gateway_selector)?,
        ..ConvertOptions::default()
    };
    let conversion = match convert(&inventory, &resolved, &opts) {
        Ok(c) => c,
        Err(ConvertError::InvalidOutput(violations)) => {
            eprintln!("error: the generated Istio configuration is invalid; this is a bug in appmesh2istio and nothing was written:");
            for v in violations {
                eprintln!("  {v}");
            }
            return Ok(exit::INTERNAL);
        }
    };

    // Render everything before writing anything, so a failure never leaves half an output.
    match &cli.output_dir {
        Some(dir) => {
            let written = render::write_output_dir(dir, &conversion.objects)?;
            eprintln!("wrote {} files to {}", written.len(), dir.display());
        }
        None => {
            let text = match cli.output {
                OutputFormat::Yaml => render::to_yaml_stream(&conversion.objects)?,
                OutputFormat::Json => render::to_json_list(&conversion.objects)?,
            };
            let mut stdout = io::stdout().lock();
            match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
                Ok(()) => {}
                // A closed pipe (`| head`) is the reader's choice, not our failure.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                Err(e) => return Err(e).context("cannot write to standard output"),
            }
        }
    }

    if let Some(path) = &cli.report {
        std::fs::write(path, render::report_json(&conversion.report)?)
            .with_context(|| format!("cannot write report {}", path.display()))?;
    }
    if !cli.quiet {
        let width = None;
        eprint!("{}", render::report_table(&conversion.report, cli.color.enabled_for_stderr(), width));
    }
    if cli.strict && conversion.report.worst_fidelity() != Fidelity::Exact {
        eprintln!("--strict: not everything was converted exactly (exit code 3)");
        return Ok(exit::NOT_EXACT);
    }
    Ok(exit::SUCCESS)
}
