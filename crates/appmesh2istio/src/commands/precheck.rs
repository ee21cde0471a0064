//! `kubectl appmesh2istio precheck`: scans a cluster (or manifests with `-f`, offline), or
//! several clusters at once (fleet mode), and says what blocks an App Mesh to Istio
//! migration, what needs attention, and what is fine.
//!
//! The report goes to standard output (it is the command's data: humans read it, CI parses
//! `-o json`); errors and `-v` request logs go to standard error.

use std::collections::BTreeSet;
use std::io::Read;
use std::time::Duration;

use clap::ValueEnum;

use crate::cli::{ColorChoice, FileArgs, write_stdout};
use crate::cluster::{KubeArgs, NamespaceScope};
use crate::exit;
use crate::findings::{Severity, catalog};
use crate::load::{InputSource, LoadOptions};
use crate::precheck::fleet::{self, ContextReadOptions, FleetOptions, PrecheckReportList};
use crate::precheck::{self, Category, Options, RenderOptions, Snapshot};

/// `--help`'s examples and exit codes.
pub const EXAMPLES: &str = "\
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

/// `-o`: a report for people, or the PrecheckReport document for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Yaml,
}

/// `--fail-on`: the least severity that makes the exit code 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
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

/// Which contexts fleet mode checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetContexts {
    /// These, in this order (`--context` repeated).
    Given(Vec<String>),
    /// Every context of the kubeconfig, in its order (`--all-contexts`).
    All,
}

/// Fleet mode: several contexts of one kubeconfig, checked concurrently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    pub contexts: FleetContexts,
    /// Contexts read at the same time (at least 1).
    pub parallel: u16,
    /// The most one context may take; `None`: no limit.
    pub context_timeout: Option<Duration>,
}

/// What `kubectl appmesh2istio precheck` was asked to do, as parsed from its flags.
#[derive(Debug, Clone)]
pub struct PrecheckCommand {
    pub kube: KubeArgs,
    pub files: FileArgs,
    pub output: Format,
    /// `--only`: run only these categories (empty: all).
    pub only: Vec<Category>,
    /// `--skip`: catalog codes to ignore (see [`parse_skip_code`]).
    pub skip: Vec<String>,
    pub fail_on: FailOn,
    /// Colour in the human report, which goes to standard output.
    pub color: ColorChoice,
    /// Findings shown per check in the human report (0: all).
    pub max_findings: usize,
    pub appmesh_namespace: String,
    pub istio_namespace: String,
    /// `Some` in fleet mode (several `--context`, or `--all-contexts`).
    pub fleet: Option<Fleet>,
}

/// `--skip` takes catalog codes only, so a typo does not silently skip nothing.
pub fn parse_skip_code(text: &str) -> Result<String, String> {
    let code = text.trim().to_ascii_uppercase();
    if catalog().contains_key(&code) {
        Ok(code)
    } else {
        Err(format!(
            "unknown code {text:?} (the codes are listed in docs/codes.md)"
        ))
    }
}

/// A usage error clap cannot express, as the message to show; `None` when the flags fit.
pub fn usage_error(command: &PrecheckCommand) -> Option<&'static str> {
    (command.fleet.is_some() && !command.files.filenames.is_empty())
        .then_some("-f reads manifests, not clusters: it cannot be used with several --context")
}

/// Run precheck; the exit code (see [`EXAMPLES`]).
pub fn run(command: &PrecheckCommand) -> i32 {
    // One worker per core: fleet mode reads (and decodes) several contexts at once.
    crate::cli::block_on(None, async {
        let result = match &command.fleet {
            Some(fleet) => run_fleet(command, fleet).await,
            None => run_one(command).await,
        };
        match result {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                exit::FAILURE
            }
        }
    })
}

/// Why a run stopped before printing a report.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("cannot read standard input: {0}")]
    Stdin(std::io::Error),
    #[error("cannot write to standard output: {0}")]
    Stdout(std::io::Error),
    #[error("cannot render the report: {0}")]
    Render(String),
}

/// One cluster (or, with `-f`, one set of manifests).
async fn run_one(command: &PrecheckCommand) -> Result<i32, Failure> {
    let options = check_options(command);
    let read = read_options(command, &options);
    let snapshot = if command.files.filenames.is_empty() {
        fleet::connect_and_read(&command.kube, &read).await
    } else {
        match read_files(command, read.convert)? {
            Some(s) => s,
            None => return Ok(exit::FAILURE),
        }
    };
    let report = precheck::run(&snapshot, &options);
    if command.output == Format::Human
        && let Some(error) = precheck::render_not_run(&report)
    {
        eprint!("{error}");
        return Ok(report.exit_code());
    }
    let text = match command.output {
        Format::Human => precheck::render_human(&report, &render_options(command)),
        Format::Json => {
            precheck::render_json(&report).map_err(|e| Failure::Render(e.to_string()))?
        }
        Format::Yaml => {
            precheck::render_yaml(&report).map_err(|e| Failure::Render(e.to_string()))?
        }
    };
    write_stdout(&text).map_err(Failure::Stdout)?;
    if command.kube.verbosity > 0 && !snapshot.is_offline() {
        eprintln!(
            "{} API requests ({} retries) in {:.2} s",
            snapshot.requests,
            snapshot.retries,
            snapshot.elapsed.as_secs_f64()
        );
    }
    Ok(report.exit_code())
}

/// Fleet mode: every context checked as a single precheck would, the summary table (or the
/// PrecheckReportList), the worst exit code.
async fn run_fleet(command: &PrecheckCommand, fleet: &Fleet) -> Result<i32, Failure> {
    let contexts = match &fleet.contexts {
        FleetContexts::Given(contexts) => contexts.clone(),
        FleetContexts::All => match fleet::kubeconfig_contexts(&command.kube) {
            Ok(c) if c.is_empty() => {
                eprintln!("error: --all-contexts: the kubeconfig has no contexts");
                return Ok(exit::FAILURE);
            }
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: --all-contexts: {e}");
                return Ok(exit::FAILURE);
            }
        },
    };
    let checks = check_options(command);
    let options = FleetOptions {
        parallel: usize::from(fleet.parallel.max(1)),
        context_timeout: fleet.context_timeout,
        read: read_options(command, &checks),
        checks: checks.clone(),
    };
    let items = fleet::check_contexts(&command.kube, &contexts, &options).await;
    let list = PrecheckReportList::new(checks.fail_on, items);
    let text = match command.output {
        Format::Human => fleet::render_human(&list, &render_options(command)),
        Format::Json => fleet::render_json(&list).map_err(|e| Failure::Render(e.to_string()))?,
        Format::Yaml => fleet::render_yaml(&list).map_err(|e| Failure::Render(e.to_string()))?,
    };
    write_stdout(&text).map_err(Failure::Stdout)?;
    if command.kube.verbosity > 0 {
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

fn check_options(command: &PrecheckCommand) -> Options {
    Options {
        only: command.only.iter().copied().collect::<BTreeSet<_>>(),
        skip: command.skip.iter().cloned().collect(),
        fail_on: command.fail_on.into(),
    }
}

fn read_options(command: &PrecheckCommand, options: &Options) -> ContextReadOptions {
    let selected = |c: Category| options.only.is_empty() || options.only.contains(&c);
    ContextReadOptions {
        appmesh_namespace: command.appmesh_namespace.clone(),
        istio_namespace: command.istio_namespace.clone(),
        permissions: selected(Category::ClusterAccess),
        convert: selected(Category::ConversionReadiness),
    }
}

fn render_options(command: &PrecheckCommand) -> RenderOptions {
    RenderOptions {
        color: command.color.enabled_for_stdout(),
        max_findings: command.max_findings,
        width: precheck::report_columns(),
    }
}

/// Offline: `None` (after printing why) when a source cannot be read, as convert fails.
fn read_files(command: &PrecheckCommand, convert: bool) -> Result<Option<Snapshot>, Failure> {
    let mut sources = Vec::with_capacity(command.files.filenames.len());
    for path in &command.files.filenames {
        if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(Failure::Stdin)?;
            sources.push(InputSource::stdin(bytes));
        } else {
            sources.push(InputSource::path(path.clone(), command.files.recursive));
        }
    }
    let namespace = if command.kube.all_namespaces {
        None
    } else {
        command.kube.namespace.clone()
    };
    let load = LoadOptions {
        default_namespace: namespace.clone().unwrap_or_else(|| "default".into()),
        ..LoadOptions::default()
    };
    let scope = match namespace {
        Some(ns) => NamespaceScope::One(ns),
        None => NamespaceScope::All,
    };
    match precheck::snapshot::read_files(&sources, &load, scope, convert) {
        Ok(s) => Ok(Some(s)),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_codes_must_be_in_the_catalog() {
        assert_eq!(parse_skip_code(" ami3405 ").as_deref(), Ok("AMI3405"));
        let err = parse_skip_code("AMI9999x").unwrap_err();
        assert!(err.contains("unknown code \"AMI9999x\""), "{err}");
    }

    #[test]
    fn fail_on_maps_to_the_severity_it_names() {
        assert_eq!(Severity::from(FailOn::Error), Severity::Error);
        assert_eq!(Severity::from(FailOn::Warning), Severity::Warning);
        assert_eq!(Severity::from(FailOn::Info), Severity::Info);
    }
}
