//! `kubectl appmesh2istio precheck`: what blocks the migration, what needs attention, and what
//! is fine, with evidence.
//!
//! A [`Snapshot`] is read once (paginated lists from a cluster, or files with `-f`); every check
//! is a plain function of it, grouped in [`Category`]s, each with stable codes from the catalog
//! (`catalog/codes.yaml`, AMI3000-3999). The conversion-readiness check runs the convert engine
//! on the same objects and reports its findings under convert's own codes, so precheck's verdict
//! and convert's report never disagree.

pub(crate) mod checks;
pub mod docs;
pub mod fleet;
pub mod labels;
pub mod migration;
mod render;
pub mod snapshot;

use std::collections::BTreeSet;

use clap::ValueEnum;
use serde::Serialize;

use crate::findings::{Finding, Severity};

pub use checks::{CHECKS, Check, has_appmesh_sidecar};
// The namespace rules other commands share (cleanup's gates): one definition, here.
pub use labels::{
    APPMESH_INJECT, appmesh_injection, istio_injection, selector_matches, string_map,
};
pub use migration::{NamespaceProgress, Stage};
pub use render::{
    RenderOptions, render_human, render_json, render_not_run, render_yaml, report_columns,
};
pub use snapshot::{Data, Mode, ReadOptions, Snapshot, read_cluster};

/// The report's schema version, for scripts that parse `-o json` / `-o yaml`.
pub const API_VERSION: &str = "appmesh2istio.io/v1alpha1";
pub const KIND: &str = "PrecheckReport";

/// The Istio release the generated configuration targets.
pub const TARGET_ISTIO: (u32, u32) = (1, 30);

/// Check categories, in report order. The names are part of the interface (`--only`, JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// API server reachable, Kubernetes version, permissions.
    ClusterAccess,
    /// App Mesh controller, webhooks, CRDs and objects.
    Appmesh,
    /// Istio installation, revisions, injector, CRDs.
    Istio,
    /// Both meshes selecting the same namespaces or pods.
    Coexistence,
    /// Pods and workloads that need care when moving to Istio sidecars.
    Workloads,
    /// What convert would approximate or not convert.
    ConversionReadiness,
    /// What must happen before App Mesh can be removed.
    Cleanup,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::ClusterAccess,
        Category::Appmesh,
        Category::Istio,
        Category::Coexistence,
        Category::Workloads,
        Category::ConversionReadiness,
        Category::Cleanup,
    ];

    /// The kebab-case name used on the command line, in JSON and in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::ClusterAccess => "cluster-access",
            Category::Appmesh => "appmesh",
            Category::Istio => "istio",
            Category::Coexistence => "coexistence",
            Category::Workloads => "workloads",
            Category::ConversionReadiness => "conversion-readiness",
            Category::Cleanup => "cleanup",
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Nothing found.
    Pass,
    /// Only informational findings.
    Info,
    Warning,
    Error,
    /// Not run: no data (offline, not readable), or excluded by `--skip`.
    Skipped,
}

impl CheckStatus {
    fn of(findings: &[Finding]) -> CheckStatus {
        match findings.iter().map(|f| f.severity).max() {
            None => CheckStatus::Pass,
            Some(Severity::Info) => CheckStatus::Info,
            Some(Severity::Warning) => CheckStatus::Warning,
            Some(Severity::Error) => CheckStatus::Error,
        }
    }
}

/// One check as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// The check's own code (its first catalog code).
    pub code: &'static str,
    pub category: Category,
    /// What a passing check asserts, e.g. "the API server is reachable".
    pub description: &'static str,
    pub status: CheckStatus,
    /// Why the check was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_reason: Option<String>,
    /// Facts the check established (versions, counts), for the reader.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// What it found, worst first.
    pub findings: Vec<Finding>,
}

/// What a check function returns when it ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckOutput {
    pub findings: Vec<Finding>,
    pub details: Vec<String>,
}

/// Why a check could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped(pub String);

impl From<&str> for Skipped {
    fn from(reason: &str) -> Self {
        Skipped(reason.to_owned())
    }
}

/// Which checks to run and what fails the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Empty = all categories.
    pub only: BTreeSet<Category>,
    /// Codes whose findings are dropped; a check all of whose codes are skipped is not run.
    pub skip: BTreeSet<String>,
    pub fail_on: Severity,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            only: BTreeSet::new(),
            skip: BTreeSet::new(),
            fail_on: Severity::Error,
        }
    }
}

/// Counts over all checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub checks: usize,
    pub passed: usize,
    pub info: usize,
    pub warnings: usize,
    pub errors: usize,
    pub skipped: usize,
    /// Findings by severity.
    pub findings: FindingCounts,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingCounts {
    pub error: usize,
    pub warning: usize,
    pub info: usize,
}

/// Where the data came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceInfo {
    /// `cluster` or `files`.
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// `null` for all namespaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// API requests made to read the snapshot (cluster mode).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestSummary {
    pub requests: u64,
    pub retries: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryReport {
    pub name: Category,
    pub checks: Vec<CheckResult>,
}

/// The whole report: what `-o json` / `-o yaml` print (schema in docs/precheck.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrecheckReport {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// False when a finding at or above `failOn` was found, or precheck could not run.
    pub success: bool,
    pub fail_on: Severity,
    /// False when precheck could not do its job (cluster unreachable): exit code 1.
    pub completed: bool,
    pub source: SourceInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<RequestSummary>,
    pub summary: Summary,
    pub categories: Vec<CategoryReport>,
    /// The migration dashboard, one entry per namespace App Mesh or Istio touches, when both
    /// meshes are in the cluster (added within v1alpha1: absent when not shown).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub migration: Vec<NamespaceProgress>,
}

impl PrecheckReport {
    pub fn checks(&self) -> impl Iterator<Item = &CheckResult> {
        self.categories.iter().flat_map(|c| c.checks.iter())
    }

    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.checks().flat_map(|c| c.findings.iter())
    }

    /// The exit code scripts see: 1 when precheck could not run, 5 when a finding reached
    /// `--fail-on`, else 0.
    pub fn exit_code(&self) -> i32 {
        if !self.completed {
            crate::exit::FAILURE
        } else if self.success {
            crate::exit::SUCCESS
        } else {
            crate::exit::CHECKS_FAILED
        }
    }
}

/// Run the selected checks over `snapshot`.
pub fn run(snapshot: &Snapshot, options: &Options) -> PrecheckReport {
    let mut categories: Vec<CategoryReport> = Vec::new();
    for category in Category::ALL {
        if !options.only.is_empty() && !options.only.contains(&category) {
            continue;
        }
        let mut results = Vec::new();
        for check in CHECKS.iter().filter(|c| c.category == category) {
            results.push(run_one(check, snapshot, options));
        }
        categories.push(CategoryReport {
            name: category,
            checks: results,
        });
    }
    let mut summary = Summary::default();
    for check in categories.iter().flat_map(|c| c.checks.iter()) {
        summary.checks += 1;
        match check.status {
            CheckStatus::Pass => summary.passed += 1,
            CheckStatus::Info => summary.info += 1,
            CheckStatus::Warning => summary.warnings += 1,
            CheckStatus::Error => summary.errors += 1,
            CheckStatus::Skipped => summary.skipped += 1,
        }
        for f in &check.findings {
            match f.severity {
                Severity::Error => summary.findings.error += 1,
                Severity::Warning => summary.findings.warning += 1,
                Severity::Info => summary.findings.info += 1,
            }
        }
    }
    let completed = snapshot.unreachable.is_none();
    let failed = categories
        .iter()
        .flat_map(|c| c.checks.iter())
        .flat_map(|c| c.findings.iter())
        .any(|f| f.severity >= options.fail_on);
    let api = match &snapshot.mode {
        Mode::Cluster { .. } => Some(RequestSummary {
            requests: snapshot.requests,
            retries: snapshot.retries,
        }),
        Mode::Files { .. } => None,
    };
    PrecheckReport {
        api_version: API_VERSION,
        kind: KIND,
        success: completed && !failed,
        fail_on: options.fail_on,
        completed,
        source: snapshot.source_info(),
        api,
        summary,
        categories,
        migration: migration::progress(snapshot).unwrap_or_default(),
    }
}

/// `1 finding`, `2 findings`.
fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

fn run_one(check: &Check, snapshot: &Snapshot, options: &Options) -> CheckResult {
    let mut result = CheckResult {
        code: check.codes[0],
        category: check.category,
        description: check.description,
        status: CheckStatus::Skipped,
        skipped_reason: None,
        details: Vec::new(),
        findings: Vec::new(),
    };
    if check.codes.iter().all(|c| options.skip.contains(*c)) {
        result.skipped_reason = Some("excluded with --skip".to_owned());
        return result;
    }
    if let Some(reason) = &snapshot.unreachable
        && check.codes[0] != checks::API_REACHABLE
    {
        result.skipped_reason = Some(format!("the API server could not be reached ({reason})"));
        return result;
    }
    match (check.run)(snapshot) {
        Err(Skipped(reason)) => result.skipped_reason = Some(reason),
        Ok(output) => {
            let total = output.findings.len();
            let mut findings: Vec<Finding> = output
                .findings
                .into_iter()
                .filter(|f| !options.skip.contains(&f.code))
                .collect();
            let mut details = output.details;
            if findings.len() < total {
                // Say so: a check that passes only because its findings were skipped must not
                // read as a clean pass.
                details.push(format!(
                    "{} not shown (--skip)",
                    plural(total - findings.len(), "finding")
                ));
            }
            findings.sort_by(|a, b| {
                b.severity
                    .cmp(&a.severity)
                    .then_with(|| a.code.cmp(&b.code))
                    .then_with(|| a.subject.cmp(&b.subject))
                    .then_with(|| a.field.cmp(&b.field))
                    .then_with(|| a.message.cmp(&b.message))
            });
            findings.dedup();
            result.status = CheckStatus::of(&findings);
            if findings.is_empty() && total > 0 {
                // Everything it found was excluded: it did not pass, it was not looked at.
                result.status = CheckStatus::Skipped;
                result.skipped_reason = Some(format!(
                    "what it found ({}) is excluded with --skip",
                    plural(total, "finding")
                ));
            }
            result.findings = findings;
            result.details = details;
        }
    }
    result
}
