//! The report for people (categories, marks, hints) and for scripts (JSON, YAML).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use owo_colors::OwoColorize;

use super::{CheckResult, CheckStatus, PrecheckReport, docs::docs_url};
use crate::findings::{Finding, Severity, catalog};
use crate::render::RenderError;

/// How the human report is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    pub color: bool,
    /// Findings shown per check; 0 = all.
    pub max_findings: usize,
    /// Columns the migration table may take (it turns into blocks when wider).
    pub width: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            color: false,
            max_findings: 20,
            width: 80,
        }
    }
}

/// The report's width: `$COLUMNS` when set, else the terminal's on standard output (where the
/// report goes), else 80.
pub fn report_columns() -> usize {
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0)
    {
        return columns;
    }
    console::Term::stdout()
        .size_checked()
        .map_or(80, |(_, columns)| usize::from(columns))
}

fn glyph(status: CheckStatus, color: bool) -> String {
    let (mark, painted) = match status {
        CheckStatus::Pass => ("√", "√".green().bold().to_string()),
        CheckStatus::Info => ("i", "i".blue().bold().to_string()),
        CheckStatus::Warning => ("‼", "‼".yellow().bold().to_string()),
        CheckStatus::Error => ("×", "×".red().bold().to_string()),
        CheckStatus::Skipped => ("-", "-".dimmed().to_string()),
    };
    if color { painted } else { mark.to_owned() }
}

fn severity_glyph(severity: Severity, color: bool) -> String {
    glyph(
        match severity {
            Severity::Info => CheckStatus::Info,
            Severity::Warning => CheckStatus::Warning,
            Severity::Error => CheckStatus::Error,
        },
        color,
    )
}

fn finding_line(f: &Finding) -> String {
    let mut line = format!("{} {}", f.code, f.subject);
    if let Some(field) = &f.field {
        write!(line, " {field}").ok();
    }
    write!(line, ": {}", f.message).ok();
    if let Some(crate::origin::Origin::File { .. }) = &f.origin
        && let Some(origin) = &f.origin
    {
        write!(line, " ({origin})").ok();
    }
    line
}

fn render_check(out: &mut String, check: &CheckResult, options: &RenderOptions) {
    let color = options.color;
    let code = format!("[{}]", check.code);
    let code = if color {
        code.dimmed().to_string()
    } else {
        code
    };
    write!(
        out,
        "{} {} {}",
        glyph(check.status, color),
        check.description,
        code
    )
    .ok();
    if let Some(reason) = &check.skipped_reason {
        write!(out, " (skipped: {reason})").ok();
    }
    out.push('\n');
    for d in &check.details {
        writeln!(out, "    {d}").ok();
    }
    let shown = if options.max_findings == 0 {
        check.findings.len()
    } else {
        options.max_findings.min(check.findings.len())
    };
    for f in &check.findings[..shown] {
        writeln!(
            out,
            "    {} {}",
            severity_glyph(f.severity, color),
            finding_line(f)
        )
        .ok();
        // A finding-specific hint replaces the catalog's: show it with the finding.
        let catalog_hint = catalog()
            .get(&f.code)
            .map(|e| e.hint.as_str())
            .unwrap_or("");
        if !f.hint.is_empty() && f.hint != catalog_hint {
            writeln!(out, "        hint: {}", f.hint).ok();
        }
    }
    if shown < check.findings.len() {
        writeln!(
            out,
            "    … and {} more (-o json lists them all, --max-findings 0 shows them all)",
            check.findings.len() - shown
        )
        .ok();
    }
    // Then what to do, once per code that needs action (info findings are facts, not failures).
    let mut codes = BTreeSet::new();
    for f in &check.findings {
        if f.severity > Severity::Info && codes.insert(f.code.as_str()) {
            if let Some(entry) = catalog().get(&f.code) {
                writeln!(
                    out,
                    "    {} {}: {}",
                    if color {
                        "hint".cyan().to_string()
                    } else {
                        "hint".to_owned()
                    },
                    f.code,
                    entry.hint
                )
                .ok();
            }
            writeln!(out, "    see {} for more", docs_url(&f.code)).ok();
        }
    }
}

/// The human report, linkerd-check style: one block per category, one line per check.
pub fn render_human(report: &PrecheckReport, options: &RenderOptions) -> String {
    let mut out = String::new();
    let src = &report.source;
    let scope = match &src.namespace {
        Some(ns) => format!("namespace {ns}"),
        None => "all namespaces".to_owned(),
    };
    match src.mode {
        "cluster" => {
            let mut what = String::from("cluster");
            if let Some(c) = &src.context {
                write!(what, " {c}").ok();
            }
            let mut facts = Vec::new();
            if let Some(s) = &src.server {
                facts.push(s.clone());
            }
            if let Some(v) = &src.kubernetes_version {
                facts.push(format!("Kubernetes {v}"));
            }
            writeln!(
                out,
                "appmesh2istio precheck of {what} ({}), {scope}",
                facts.join(", ")
            )
            .ok();
        }
        _ => {
            writeln!(
                out,
                "appmesh2istio precheck of {} (offline), {scope}",
                src.files.join(", ")
            )
            .ok();
        }
    }
    for category in &report.categories {
        let name = category.name.as_str();
        writeln!(out, "\n{name}\n{}", "-".repeat(name.len())).ok();
        for check in &category.checks {
            render_check(&mut out, check, options);
        }
    }
    if !report.migration.is_empty() {
        super::migration::render_section(&mut out, &report.migration, options.color, options.width);
    }
    let s = &report.summary;
    writeln!(
        out,
        "\nStatus: {} passed, {} info, {} with warnings, {} failed, {} skipped ({} checks; findings: {} errors, {} warnings, {} info).",
        s.passed, s.info, s.warnings, s.errors, s.skipped, s.checks, s.findings.error, s.findings.warning, s.findings.info
    )
    .ok();
    let verdict = if !report.completed {
        "precheck could not run: see the first check (exit code 1).".to_owned()
    } else if report.success {
        format!(
            "Nothing at or above --fail-on {} was found (exit code 0).",
            report.fail_on
        )
    } else {
        let n = report
            .findings()
            .filter(|f| f.severity >= report.fail_on)
            .count();
        format!(
            "{n} findings at or above --fail-on {}: address them before migrating (exit code 5).",
            report.fail_on
        )
    };
    let verdict = match (options.color, report.completed && report.success) {
        (true, true) => verdict.green().to_string(),
        (true, false) => verdict.red().to_string(),
        (false, _) => verdict,
    };
    writeln!(out, "{verdict}").ok();
    out
}

/// When precheck could not run at all (the API server unreachable, no usable kubeconfig),
/// people get what kubectl gives them: one error, with the server, and what to check, instead
/// of a report of checks that were all skipped for the same reason. `None` when it ran.
pub fn render_not_run(report: &PrecheckReport) -> Option<String> {
    if report.completed {
        return None;
    }
    let mut out = String::new();
    let mut hinted = BTreeSet::new();
    for f in report.findings().filter(|f| f.severity == Severity::Error) {
        writeln!(out, "error: {}", f.message).ok();
        if hinted.insert(f.code.as_str())
            && let Some(entry) = catalog().get(&f.code)
        {
            writeln!(out, "hint: {}", entry.hint).ok();
        }
    }
    if out.is_empty() {
        out.push_str("error: precheck could not run\n");
    }
    Some(out)
}

/// `-o json`: the report as pretty JSON (schema in docs/precheck.md).
pub fn render_json(report: &PrecheckReport) -> Result<String, RenderError> {
    let mut text = serde_json::to_string_pretty(report).map_err(|e| RenderError::Serialise {
        what: "precheck report".into(),
        message: e.to_string(),
    })?;
    text.push('\n');
    Ok(text)
}

/// `-o yaml`: the same document as YAML.
pub fn render_yaml(report: &PrecheckReport) -> Result<String, RenderError> {
    // Through JSON values so the YAML has exactly the JSON's shape and field names.
    let value = serde_json::to_value(report).map_err(|e| RenderError::Serialise {
        what: "precheck report".into(),
        message: e.to_string(),
    })?;
    serde_saphyr::to_string(&value).map_err(|e| RenderError::Serialise {
        what: "precheck report".into(),
        message: e.to_string(),
    })
}
