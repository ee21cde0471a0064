//! `kubectl appmesh2istio precheck`: scans a cluster (or manifests with `-f`, offline) and says
//! what blocks an App Mesh to Istio migration, what needs attention, and what is fine.
//!
//! The report goes to standard output (it is the command's data: humans read it, CI parses
//! `-o json`); errors and `-v` request logs go to standard error.

use std::collections::BTreeSet;
use std::io::{self, IsTerminal, Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use appmesh2istio::cli::{ColorChoice, FileArgs};
use appmesh2istio::cluster::KubeArgs;
use appmesh2istio::exit;
use appmesh2istio::findings::{Severity, catalog};
use appmesh2istio::load::{InputSource, LoadOptions};
use appmesh2istio::precheck::{self, Category, Options, ReadOptions, RenderOptions, Snapshot};
use clap::{CommandFactory, Parser, ValueEnum};

/// mimalloc, not the system allocator: conversion makes many small allocations, which
/// glibc's malloc scatters over the heap, and large inputs then run out of cache (measured in
/// docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXAMPLES: &str = "\
Examples:
  # Check the current cluster, all namespaces
  kubectl appmesh2istio precheck

  # One namespace, in another context, failing on warnings too (for CI)
  kubectl appmesh2istio precheck --context prod -n shop --fail-on warning

  # Offline, on manifests kept in git
  kubectl appmesh2istio precheck -f manifests/ -R

  # Machine-readable, only some categories, ignoring a code
  kubectl appmesh2istio precheck -o json --only coexistence,workloads --skip AMI3405

Exit codes:
  0  nothing at or above --fail-on (default: error) was found
  1  precheck could not run (cluster unreachable, kubeconfig or input unreadable)
  2  usage error
  5  a check found something at or above --fail-on (see the report)

Every code is explained in docs/codes.md (`AMI3xxx` are precheck's own codes; conversion
readiness reports convert's codes).";

/// Check whether a cluster (or a set of manifests) is ready to migrate from AWS App Mesh to Istio.
///
/// Reads the cluster once (paginated lists, one SelfSubjectAccessReview per right needed) and
/// runs checks in seven categories: cluster-access, appmesh, istio, coexistence, workloads,
/// conversion-readiness and cleanup. Each failure is followed by what to do about it. When App
/// Mesh and Istio coexist, a "Migration progress" table shows where each namespace stands and
/// the next command to run for it.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl appmesh2istio precheck",
    bin_name = "kubectl appmesh2istio precheck",
    version,
    after_help = EXAMPLES,
)]
struct Cli {
    #[command(flatten)]
    kube: KubeArgs,

    #[command(flatten)]
    files: FileArgs,

    /// Output format: a report for people, or the PrecheckReport document for scripts.
    #[arg(short = 'o', long = "output", value_enum, default_value = "human")]
    output: Format,

    /// Run only these categories (repeatable or comma-separated).
    #[arg(long, value_enum, value_name = "CATEGORY", value_delimiter = ',')]
    only: Vec<Category>,

    /// Ignore findings with this code (repeatable or comma-separated); a check whose codes are
    /// all skipped is not run.
    #[arg(long, value_name = "CODE", value_delimiter = ',', value_parser = parse_code)]
    skip: Vec<String>,

    /// Exit with code 5 when a finding at or above this severity is found.
    #[arg(long, value_enum, default_value = "error", value_name = "SEVERITY")]
    fail_on: FailOn,

    /// Colour in the human report (on stdout, where the report goes: `auto` colours it when
    /// stdout is a terminal and NO_COLOR is unset).
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,

    /// Findings shown per check in the human report (0: all). JSON and YAML always list all.
    #[arg(long, default_value_t = 20, value_name = "N")]
    max_findings: usize,

    /// Namespace where the App Mesh controller is looked for first.
    #[arg(long, default_value = "appmesh-system", value_name = "NAMESPACE")]
    appmesh_namespace: String,

    /// Istio's root namespace, where istiod is looked for when -n limits the scope.
    #[arg(long, default_value = "istio-system", value_name = "NAMESPACE")]
    istio_namespace: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    Yaml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Error,
    Warning,
    Info,
}

impl From<FailOn> for Severity {
    fn from(f: FailOn) -> Severity {
        match f {
            FailOn::Error => Severity::Error,
            FailOn::Warning => Severity::Warning,
            FailOn::Info => Severity::Info,
        }
    }
}

/// `--skip` takes catalog codes only, so a typo does not silently skip nothing.
fn parse_code(text: &str) -> Result<String, String> {
    let code = text.trim().to_ascii_uppercase();
    if catalog().contains_key(&code) {
        Ok(code)
    } else {
        Err(format!(
            "unknown code {text:?} (the codes are listed in docs/codes.md)"
        ))
    }
}

/// Colour on standard output: `auto` means a terminal, NO_COLOR unset and TERM not dumb.
fn stdout_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
                && io::stdout().is_terminal()
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(code) = appmesh2istio::completion::answer_if_asked(&Cli::command()) {
        return code;
    }
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::FAILURE as u8)
        }
    }
}

async fn run(cli: &Cli) -> anyhow::Result<i32> {
    let options = Options {
        only: cli.only.iter().copied().collect::<BTreeSet<_>>(),
        skip: cli.skip.iter().cloned().collect(),
        fail_on: cli.fail_on.into(),
    };
    let selected = |c: Category| options.only.is_empty() || options.only.contains(&c);
    let snapshot = if cli.files.filenames.is_empty() {
        read_cluster(
            cli,
            selected(Category::ClusterAccess),
            selected(Category::ConversionReadiness),
        )
        .await
    } else {
        match read_files(cli, selected(Category::ConversionReadiness))? {
            Some(s) => s,
            None => return Ok(exit::FAILURE),
        }
    };
    let report = precheck::run(&snapshot, &options);
    if cli.output == Format::Human
        && let Some(error) = precheck::render_not_run(&report)
    {
        eprint!("{error}");
        return Ok(report.exit_code());
    }
    let text = match cli.output {
        Format::Human => precheck::render_human(
            &report,
            &RenderOptions {
                color: stdout_color(cli.color),
                max_findings: cli.max_findings,
                width: precheck::report_columns(),
            },
        ),
        Format::Json => precheck::render_json(&report)?,
        Format::Yaml => precheck::render_yaml(&report)?,
    };
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => {}
        // A closed pipe (`| head`) is the reader's choice, not our failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(e).context("cannot write to standard output"),
    }
    if cli.kube.verbosity > 0 && !snapshot.is_offline() {
        eprintln!(
            "{} API requests ({} retries) in {:.2} s",
            snapshot.requests,
            snapshot.retries,
            snapshot.elapsed.as_secs_f64()
        );
    }
    Ok(report.exit_code())
}

async fn read_cluster(cli: &Cli, permissions: bool, convert: bool) -> Snapshot {
    let cluster = match cli
        .kube
        .connect(appmesh2istio::cluster::CommandName::Precheck)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            // No usable kubeconfig: still a report (CI parses it), with exit code 1.
            let scope = cli.kube.scope(true, "default");
            return Snapshot::not_connected(
                cli.kube.context.clone(),
                "-".to_owned(),
                scope,
                e.to_string(),
            );
        }
    };
    let read = ReadOptions {
        scope: cli.kube.scope(true, &cluster.default_namespace),
        appmesh_namespace: cli.appmesh_namespace.clone(),
        istio_namespace: cli.istio_namespace.clone(),
        permissions,
        convert,
    };
    precheck::read_cluster(&cluster, &read).await
}

/// Offline: `None` (after printing why) when a source cannot be read, as convert fails.
fn read_files(cli: &Cli, convert: bool) -> anyhow::Result<Option<Snapshot>> {
    let mut sources = Vec::with_capacity(cli.files.filenames.len());
    for path in &cli.files.filenames {
        if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            io::stdin()
                .read_to_end(&mut bytes)
                .context("cannot read standard input")?;
            sources.push(InputSource::stdin(bytes));
        } else {
            sources.push(InputSource::path(path.clone(), cli.files.recursive));
        }
    }
    let namespace = if cli.kube.all_namespaces {
        None
    } else {
        cli.kube.namespace.clone()
    };
    let load = LoadOptions {
        default_namespace: namespace.clone().unwrap_or_else(|| "default".into()),
        ..LoadOptions::default()
    };
    let scope = match namespace {
        Some(ns) => appmesh2istio::cluster::NamespaceScope::One(ns),
        None => appmesh2istio::cluster::NamespaceScope::All,
    };
    match precheck::snapshot::read_files(&sources, &load, scope, convert) {
        Ok(s) => Ok(Some(s)),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(None)
        }
    }
}
