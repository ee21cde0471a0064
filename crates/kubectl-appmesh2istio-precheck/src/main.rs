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
use appmesh2istio::cluster::{KubeArgs, OptionalDuration, parse_request_timeout};
use appmesh2istio::exit;
use appmesh2istio::findings::{Severity, catalog};
use appmesh2istio::load::{InputSource, LoadOptions};
use appmesh2istio::precheck::fleet::{self, ContextReadOptions, FleetOptions, PrecheckReportList};
use appmesh2istio::precheck::{self, Category, Options, RenderOptions, Snapshot};
use clap::error::ErrorKind;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser, ValueEnum};

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

  # A fleet: several contexts (or every context of the kubeconfig), one summary table
  kubectl appmesh2istio precheck --context prod-eu --context prod-us
  kubectl appmesh2istio precheck --all-contexts --parallel 8 -o json

Exit codes:
  0  nothing at or above --fail-on (default: error) was found
  1  precheck could not run (cluster unreachable, kubeconfig or input unreadable)
  2  usage error
  5  a check found something at or above --fail-on (see the report)
With several contexts, the worst of theirs, in the order 0 < 5 < 1 < 4.

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

    #[command(flatten)]
    fleet: FleetArgs,
}

/// Fleet mode: several contexts of one kubeconfig, checked concurrently.
#[derive(Debug, clap::Args)]
struct FleetArgs {
    /// Check every context of the kubeconfig, in the kubeconfig's order (fleet mode).
    #[arg(long, conflicts_with_all = ["context", "filenames"])]
    all_contexts: bool,

    /// In fleet mode, how many contexts are read at the same time.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    parallel: u16,

    /// In fleet mode, the most one context may take (connecting, reading, checking) before
    /// its row says it did not finish ("0" = no limit); --request-timeout still bounds each
    /// request.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_request_timeout)]
    context_timeout: OptionalDuration,
}

/// The help of `--context` in precheck, the one command that takes it repeated.
const CONTEXT_HELP: &str = "The name of the kubeconfig context to use; repeat it to check \
several clusters at once (fleet mode: a summary table, then each context's report).";

/// precheck's command line: the derived one, with `--context` repeatable (the other commands
/// share `KubeArgs` and keep it single).
fn command() -> clap::Command {
    Cli::command().mut_arg("context", |arg| {
        arg.action(ArgAction::Append).help(CONTEXT_HELP)
    })
}

/// The contexts given with `--context`, in order, each once.
fn given_contexts(matches: &ArgMatches) -> Vec<String> {
    let mut contexts: Vec<String> = Vec::new();
    for name in matches.get_many::<String>("context").into_iter().flatten() {
        if !contexts.contains(name) {
            contexts.push(name.clone());
        }
    }
    contexts
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
    if let Some(code) = appmesh2istio::completion::answer_if_asked(&command()) {
        return code;
    }
    let mut command = command();
    let matches = command.get_matches_mut();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut command).exit());
    let contexts = given_contexts(&matches);
    let fleet = cli.fleet.all_contexts
        || matches
            .get_many::<String>("context")
            .is_some_and(|v| v.len() > 1);
    if fleet && !cli.files.filenames.is_empty() {
        command
            .error(
                ErrorKind::ArgumentConflict,
                "-f reads manifests, not clusters: it cannot be used with several --context",
            )
            .exit();
    }
    let result = if fleet {
        run_fleet(&cli, contexts).await
    } else {
        run(&cli).await
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::FAILURE as u8)
        }
    }
}

async fn run(cli: &Cli) -> anyhow::Result<i32> {
    let options = check_options(cli);
    let read = read_options(cli, &options);
    let snapshot = if cli.files.filenames.is_empty() {
        fleet::connect_and_read(&cli.kube, &read).await
    } else {
        match read_files(cli, read.convert)? {
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
    print_stdout(&text)?;
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

fn check_options(cli: &Cli) -> Options {
    Options {
        only: cli.only.iter().copied().collect::<BTreeSet<_>>(),
        skip: cli.skip.iter().cloned().collect(),
        fail_on: cli.fail_on.into(),
    }
}

fn read_options(cli: &Cli, options: &Options) -> ContextReadOptions {
    let selected = |c: Category| options.only.is_empty() || options.only.contains(&c);
    ContextReadOptions {
        appmesh_namespace: cli.appmesh_namespace.clone(),
        istio_namespace: cli.istio_namespace.clone(),
        permissions: selected(Category::ClusterAccess),
        convert: selected(Category::ConversionReadiness),
    }
}

/// Write `text` to standard output; a closed pipe (`| head`) is the reader's choice, not our
/// failure.
fn print_stdout(text: &str) -> anyhow::Result<()> {
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

/// Fleet mode: every context checked as a single precheck would, the summary table (or the
/// PrecheckReportList), the worst exit code.
async fn run_fleet(cli: &Cli, given: Vec<String>) -> anyhow::Result<i32> {
    let contexts = if cli.fleet.all_contexts {
        match fleet::kubeconfig_contexts(&cli.kube) {
            Ok(c) if c.is_empty() => {
                eprintln!("error: --all-contexts: the kubeconfig has no contexts");
                return Ok(exit::FAILURE);
            }
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: --all-contexts: {e}");
                return Ok(exit::FAILURE);
            }
        }
    } else {
        given
    };
    let checks = check_options(cli);
    let options = FleetOptions {
        parallel: usize::from(cli.fleet.parallel),
        context_timeout: cli.fleet.context_timeout.0,
        read: read_options(cli, &checks),
        checks: checks.clone(),
    };
    let items = fleet::check_contexts(&cli.kube, &contexts, &options).await;
    let list = PrecheckReportList::new(checks.fail_on, items);
    let text = match cli.output {
        Format::Human => fleet::render_human(
            &list,
            &RenderOptions {
                color: stdout_color(cli.color),
                max_findings: cli.max_findings,
                width: precheck::report_columns(),
            },
        ),
        Format::Json => fleet::render_json(&list)?,
        Format::Yaml => fleet::render_yaml(&list)?,
    };
    print_stdout(&text)?;
    if cli.kube.verbosity > 0 {
        for item in &list.items {
            if let Some(api) = &item.report.api {
                eprintln!(
                    "context {}: {} API requests ({} retries)",
                    item.context, api.requests, api.retries
                );
            }
        }
    }
    Ok(list.exit_code)
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
