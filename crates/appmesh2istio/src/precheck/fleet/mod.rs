//! Fleet precheck: many kubeconfig contexts checked at once (`--context A --context B`,
//! `--all-contexts`), one summary table, one report per context.
//!
//! Each context is read and checked exactly as a single precheck would ([`connect_and_read`],
//! then [`super::run`]); this module only adds what a fleet needs on top: bounded concurrency
//! with a deadline per context ([`check_contexts`]), a row per context (the counts a fleet
//! owner compares), the `PrecheckReportList` document, and one exit code for the whole run
//! ([`worst_exit_code`]).

mod human;
mod read;

use serde::Serialize;

use super::{API_VERSION, PrecheckReport, Snapshot, has_appmesh_sidecar};
use crate::findings::Severity;
use crate::render::RenderError;

pub use human::render_human;
pub use read::{
    ContextReadOptions, FleetOptions, check_contexts, connect_and_read, kubeconfig_contexts,
};

/// The kind of the fleet document (`-o json|yaml` with several contexts).
pub const LIST_KIND: &str = "PrecheckReportList";

/// What one context's row concludes, from its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Nothing at or above `--fail-on` (exit code 0).
    Ready,
    /// Something at or above `--fail-on` (exit code 5).
    Blocked,
    /// precheck could not run on this context: unreachable, no such context, timed out
    /// (exit code 1), or an internal error (exit code 4).
    NotRun,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::Blocked => "blocked",
            Verdict::NotRun => "not-run",
        }
    }
}

/// One context's report: the single-context `PrecheckReport`, with the context's name and its
/// row of the summary table in front.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextReport {
    /// The kubeconfig context, as given (or as listed in the kubeconfig for --all-contexts).
    pub context: String,
    pub verdict: Verdict,
    /// The exit code precheck gives for this context alone.
    pub exit_code: i32,
    /// The one-line reason precheck could not run (with the server address), when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// App Mesh objects read in scope; absent when no App Mesh kind could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appmesh_objects: Option<usize>,
    /// Pods in scope carrying App Mesh's Envoy (or its init container); absent when pods
    /// could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meshed_pods: Option<usize>,
    /// Findings at or above `--fail-on` (what makes the exit code 5).
    pub blockers: usize,
    /// Findings of severity warning.
    pub warnings: usize,
    #[serde(flatten)]
    pub report: PrecheckReport,
}

impl ContextReport {
    /// The row of `context`, whose `snapshot` gave `report`.
    pub fn new(context: String, snapshot: &Snapshot, report: PrecheckReport) -> ContextReport {
        let exit_code = report.exit_code();
        let verdict = if !report.completed {
            Verdict::NotRun
        } else if report.success {
            Verdict::Ready
        } else {
            Verdict::Blocked
        };
        let error = (!report.completed).then(|| not_run_reason(&report));
        let appmesh_objects = snapshot
            .appmesh
            .values()
            .any(|d| d.ok().is_some())
            .then(|| snapshot.appmesh_objects().count());
        let meshed_pods = snapshot.pods.ok().map(|pods| {
            pods.iter()
                .filter(|p| p.at("/spec").is_some_and(has_appmesh_sidecar))
                .count()
        });
        let blockers = report
            .findings()
            .filter(|f| f.severity >= report.fail_on)
            .count();
        let warnings = report
            .findings()
            .filter(|f| f.severity == Severity::Warning)
            .count();
        ContextReport {
            context,
            verdict,
            exit_code,
            error,
            appmesh_objects,
            meshed_pods,
            blockers,
            warnings,
            report,
        }
    }

    /// A context whose check did not finish for a reason of ours (a panic): exit code 4.
    pub fn internal_error(mut self, message: &str) -> ContextReport {
        self.exit_code = crate::exit::INTERNAL;
        self.verdict = Verdict::NotRun;
        self.error = Some(format!(
            "internal error (a bug in appmesh2istio, please report it): {message}"
        ));
        self
    }
}

/// The reachability check's message ("cannot reach the API server at <server>: <why>"), which
/// is also what the single-context precheck prints as its one error line.
fn not_run_reason(report: &PrecheckReport) -> String {
    report
        .findings()
        .find(|f| f.severity == Severity::Error)
        .map(|f| f.message.clone())
        .unwrap_or_else(|| "precheck could not run".to_owned())
}

/// The order exit codes are combined in, worst last: 0 (ready) < 5 (blocked) < 1 (could not
/// run) < 4 (internal error). A context that could not be checked outranks one that was
/// checked and found blocked: the fleet's result is then not known, which a script treating
/// 5 as "blocked, see the report" must not miss.
fn exit_rank(code: i32) -> u8 {
    match code {
        crate::exit::SUCCESS => 0,
        crate::exit::CHECKS_FAILED => 1,
        crate::exit::FAILURE => 2,
        _ => 3,
    }
}

/// The exit code of a fleet run: the worst of its contexts' (0 when there are none).
pub fn worst_exit_code(codes: impl IntoIterator<Item = i32>) -> i32 {
    codes
        .into_iter()
        .max_by_key(|c| exit_rank(*c))
        .unwrap_or(crate::exit::SUCCESS)
}

/// How many contexts reached each verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetSummary {
    pub contexts: usize,
    pub ready: usize,
    pub blocked: usize,
    pub not_run: usize,
}

/// `-o json|yaml` with several contexts: a `v1 List`-like document of per-context reports
/// (schema in docs/precheck.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrecheckReportList {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// True when every context is ready.
    pub success: bool,
    pub fail_on: Severity,
    /// The process's exit code: the worst of the items' (see [`worst_exit_code`]).
    pub exit_code: i32,
    pub summary: FleetSummary,
    /// One per context, in the order given (kubeconfig order for --all-contexts).
    pub items: Vec<ContextReport>,
}

impl PrecheckReportList {
    pub fn new(fail_on: Severity, items: Vec<ContextReport>) -> PrecheckReportList {
        let mut summary = FleetSummary {
            contexts: items.len(),
            ..FleetSummary::default()
        };
        for item in &items {
            match item.verdict {
                Verdict::Ready => summary.ready += 1,
                Verdict::Blocked => summary.blocked += 1,
                Verdict::NotRun => summary.not_run += 1,
            }
        }
        PrecheckReportList {
            api_version: API_VERSION,
            kind: LIST_KIND,
            success: items.iter().all(|i| i.verdict == Verdict::Ready),
            fail_on,
            exit_code: worst_exit_code(items.iter().map(|i| i.exit_code)),
            summary,
            items,
        }
    }
}

fn serialise_error(e: impl std::fmt::Display) -> RenderError {
    RenderError::Serialise {
        what: "precheck report list".into(),
        message: e.to_string(),
    }
}

/// `-o json` with several contexts.
pub fn render_json(list: &PrecheckReportList) -> Result<String, RenderError> {
    let mut text = serde_json::to_string_pretty(list).map_err(serialise_error)?;
    text.push('\n');
    Ok(text)
}

/// `-o yaml` with several contexts: the JSON document, as YAML.
pub fn render_yaml(list: &PrecheckReportList) -> Result<String, RenderError> {
    let value = serde_json::to_value(list).map_err(serialise_error)?;
    serde_saphyr::to_string(&value).map_err(serialise_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_exit_code_ranks_could_not_run_above_blocked() {
        assert_eq!(worst_exit_code([]), 0);
        assert_eq!(worst_exit_code([0, 0]), 0);
        assert_eq!(worst_exit_code([0, 5, 0]), 5);
        assert_eq!(worst_exit_code([5, 1, 0]), 1);
        assert_eq!(worst_exit_code([1, 5]), 1);
        assert_eq!(worst_exit_code([1, 4, 5]), 4);
    }
}
