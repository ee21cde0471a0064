//! `kubectl appmesh2istio precheck`: what blocks an App Mesh to Istio migration, in one
//! cluster, in manifests (`-f`) or across a fleet of contexts. The flags are parsed here; the
//! work is [`appmesh2istio::commands::precheck`].

use std::process::ExitCode;

use appmesh2istio::cli::{ColorChoice, FileArgs};
use appmesh2istio::cluster::{KubeArgs, OptionalDuration, parse_request_timeout};
use appmesh2istio::commands::precheck::{
    self, FailOn, Fleet, FleetContexts, Format, PrecheckCommand,
};
use appmesh2istio::precheck::Category;
use clap::error::ErrorKind;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser};

/// mimalloc, not the system allocator: conversion makes many small allocations, which
/// glibc's malloc scatters over the heap, and large inputs then run out of cache (measured in
/// docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    after_help = precheck::EXAMPLES,
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
    #[arg(long, value_name = "CODE", value_delimiter = ',', value_parser = precheck::parse_skip_code)]
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

fn main() -> ExitCode {
    if let Some(code) = appmesh2istio::completion::answer_if_asked(&command()) {
        return code;
    }
    let mut clap_command = command();
    let matches = clap_command.get_matches_mut();
    let cli =
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut clap_command).exit());
    let several_contexts = matches
        .get_many::<String>("context")
        .is_some_and(|v| v.len() > 1);
    let fleet = if cli.fleet.all_contexts {
        Some(FleetContexts::All)
    } else if several_contexts {
        Some(FleetContexts::Given(given_contexts(&matches)))
    } else {
        None
    };
    let command = PrecheckCommand {
        kube: cli.kube,
        files: cli.files,
        output: cli.output,
        only: cli.only,
        skip: cli.skip,
        fail_on: cli.fail_on,
        color: cli.color,
        max_findings: cli.max_findings,
        appmesh_namespace: cli.appmesh_namespace,
        istio_namespace: cli.istio_namespace,
        fleet: fleet.map(|contexts| Fleet {
            contexts,
            parallel: cli.fleet.parallel,
            context_timeout: cli.fleet.context_timeout.0,
        }),
    };
    if let Some(message) = precheck::usage_error(&command) {
        clap_command
            .error(ErrorKind::ArgumentConflict, message)
            .exit();
    }
    ExitCode::from(u8::try_from(precheck::run(&command)).unwrap_or(1))
}
