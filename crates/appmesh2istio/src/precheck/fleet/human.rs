//! The fleet report for people: one summary table (a row per context), the overall verdict,
//! then each context's own report under a heading.

use std::fmt::Write as _;

use comfy_table::{
    Cell, CellAlignment, Color, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED,
};
use owo_colors::OwoColorize;

use super::{ContextReport, PrecheckReportList, Verdict};
use crate::precheck::RenderOptions;

/// The whole human report of a fleet run.
pub fn render_human(list: &PrecheckReportList, options: &RenderOptions) -> String {
    let mut out = String::new();
    let scope = match list
        .items
        .first()
        .and_then(|i| i.report.source.namespace.as_deref())
    {
        Some(ns) => format!("namespace {ns}"),
        None => "all namespaces".to_owned(),
    };
    writeln!(
        out,
        "appmesh2istio precheck of {} contexts, {scope}",
        list.items.len()
    )
    .ok();
    out.push_str(&summary_table(list, options));
    writeln!(
        out,
        "BLOCKERS: findings at or above --fail-on {}; WARNINGS: warning findings.",
        list.fail_on
    )
    .ok();
    let s = &list.summary;
    let verdict = format!(
        "{} ready, {} blocked, {} not run (exit code {}: the worst of all, in the order \
         ready 0 < blocked 5 < not run 1 < internal error 4).",
        s.ready, s.blocked, s.not_run, list.exit_code
    );
    let verdict = match (options.color, list.success) {
        (true, true) => verdict.green().to_string(),
        (true, false) => verdict.red().to_string(),
        (false, _) => verdict,
    };
    writeln!(out, "{verdict}").ok();
    for (index, item) in list.items.iter().enumerate() {
        let title = format!(
            "Context {} ({} of {})",
            item.context,
            index + 1,
            list.items.len()
        );
        writeln!(out, "\n{title}\n{}\n", "=".repeat(title.chars().count())).ok();
        match crate::precheck::render_not_run(&item.report) {
            // What the single-context precheck prints on stderr when it cannot run.
            Some(error) if item.verdict == Verdict::NotRun => out.push_str(&error),
            _ => out.push_str(&crate::precheck::render_human(&item.report, options)),
        }
    }
    out
}

fn count(value: Option<usize>) -> String {
    value.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

/// The table: context, server version, App Mesh objects, meshed pods, blockers, warnings,
/// verdict (with the error of a context that could not be checked).
fn summary_table(list: &PrecheckReportList, options: &RenderOptions) -> String {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(u16::try_from(options.width).unwrap_or(u16::MAX));
    if options.color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table.set_header([
        "CONTEXT",
        "VERSION",
        "APP MESH OBJECTS",
        "MESHED PODS",
        "BLOCKERS",
        "WARNINGS",
        "VERDICT",
    ]);
    for item in &list.items {
        table.add_row(row(item, options.color));
    }
    // Counts read best right-aligned.
    for index in 2..=5 {
        if let Some(column) = table.column_mut(index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    format!("{table}\n")
}

fn row(item: &ContextReport, color: bool) -> Vec<Cell> {
    let version = item
        .report
        .source
        .kubernetes_version
        .clone()
        .unwrap_or_else(|| "-".to_owned());
    let (verdict, paint) = match (&item.verdict, &item.error) {
        (Verdict::NotRun, Some(error)) => (format!("not run: {error}"), Color::Red),
        (Verdict::NotRun, None) => ("not run".to_owned(), Color::Red),
        (Verdict::Blocked, _) => ("blocked".to_owned(), Color::Red),
        (Verdict::Ready, _) => ("ready".to_owned(), Color::Green),
    };
    let not_run = item.verdict == Verdict::NotRun;
    let number = |n: usize| {
        if not_run {
            "-".to_owned()
        } else {
            n.to_string()
        }
    };
    let verdict = Cell::new(verdict);
    vec![
        Cell::new(&item.context),
        Cell::new(version),
        Cell::new(count(item.appmesh_objects)),
        Cell::new(count(item.meshed_pods)),
        Cell::new(number(item.blockers)),
        Cell::new(number(item.warnings)),
        if color { verdict.fg(paint) } else { verdict },
    ]
}
