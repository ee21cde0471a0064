//! The dashboard for people: one table row per namespace when it fits the width, else one
//! block per namespace (identifiers are never broken), then the commands to run next.

use std::fmt::Write as _;

use owo_colors::OwoColorize;

use super::{NamespaceProgress, Stage};

const HEADERS: [&str; 7] = [
    "NAMESPACE",
    "MESHED BY",
    "INJECTION",
    "PODS AM/IS/-",
    "ISTIO CFG",
    "APP MESH",
    "NEXT",
];

/// `label, mesh shop` / `none`.
fn meshed_by(row: &NamespaceProgress) -> String {
    let mut parts = Vec::new();
    if row.meshed_by.injector_label {
        parts.push("label".to_owned());
    }
    parts.extend(row.meshed_by.meshes.iter().map(|m| format!("mesh {m}")));
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

/// The injection labels, short enough for the table: Istio's (`istio`, `rev=1-30`, `ambient`)
/// and `appmesh` while App Mesh's injector is enabled (`istio+appmesh`: both inject). The
/// blocks and JSON have them in full.
fn injection(row: &NamespaceProgress) -> String {
    let mut short: Vec<String> = Vec::new();
    for label in &row.injection_labels {
        let (key, value) = label.split_once('=').unwrap_or((label, ""));
        match (key, value) {
            (super::ISTIO_INJECTION, "enabled") => short.push("istio".into()),
            (super::ISTIO_REV, rev)
                if !row
                    .injection_labels
                    .iter()
                    .any(|l| l.starts_with("istio-injection=")) =>
            {
                short.push(format!("rev={rev}"))
            }
            (super::ISTIO_DATAPLANE_MODE, "ambient") => short.push("ambient".into()),
            (super::APPMESH_INJECT, "enabled") => short.push("appmesh".into()),
            _ => {}
        }
    }
    if short.is_empty() {
        "-".to_owned()
    } else {
        short.join("+")
    }
}

fn pods(row: &NamespaceProgress) -> String {
    format!("{}/{}/{}", row.pods.appmesh, row.pods.istio, row.pods.none)
}

fn config(row: &NamespaceProgress) -> String {
    let c = &row.istio_config;
    if c.edited > 0 {
        format!("{} ({} ed.)", c.applied, c.edited)
    } else {
        c.applied.to_string()
    }
}

fn cells(row: &NamespaceProgress) -> [String; 7] {
    [
        row.namespace.clone(),
        meshed_by(row),
        injection(row),
        pods(row),
        config(row),
        row.appmesh_objects.to_string(),
        row.stage.as_str().to_owned(),
    ]
}

fn paint_stage(stage: Stage, text: &str, color: bool) -> String {
    match (color, stage) {
        (false, _) => text.to_owned(),
        (true, Stage::Done) => text.green().to_string(),
        (true, _) => text.yellow().to_string(),
    }
}

/// Prose wrapped to `width` at spaces only (a label or a name is never split); continuation
/// lines keep the first line's indent plus two.
fn prose(out: &mut String, text: &str, width: usize) {
    let indent = text.len() - text.trim_start().len();
    let options = textwrap::Options::new(width.max(20))
        .break_words(false)
        .word_splitter(textwrap::WordSplitter::NoHyphenation)
        .word_separator(textwrap::WordSeparator::AsciiSpace)
        .initial_indent(&text[..indent])
        .subsequent_indent(&"      "[..(indent + 2).min(6)]);
    for line in textwrap::wrap(text.trim_start(), options) {
        writeln!(out, "{line}").ok();
    }
}

/// The "Migration progress" section (heading, rows, legend, next commands), `width` columns
/// wide at most when a table fits, else as blocks.
pub fn render_section(out: &mut String, rows: &[NamespaceProgress], color: bool, width: usize) {
    let title = "Migration progress";
    writeln!(out, "\n{title}\n{}", "-".repeat(title.len())).ok();
    let table: Vec<[String; 7]> = rows.iter().map(cells).collect();
    let mut widths = HEADERS.map(str::len);
    for r in &table {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let total = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
    if total <= width {
        let line = |cells: &[String; 7]| {
            let mut l = String::new();
            for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
                if i + 1 == cells.len() {
                    l.push_str(c);
                } else {
                    write!(l, "{c:<w$}  ").ok();
                }
            }
            l
        };
        let header = line(&HEADERS.map(str::to_owned));
        let header = if color {
            header.bold().to_string()
        } else {
            header
        };
        writeln!(out, "{header}").ok();
        for (row, cells) in rows.iter().zip(&table) {
            let mut text = line(cells);
            // Colour only the stage, at the end of the line (padding stays plain).
            let stage = row.stage.as_str();
            text.truncate(text.len() - stage.len());
            writeln!(out, "{text}{}", paint_stage(row.stage, stage, color)).ok();
        }
        prose(
            out,
            "PODS: running pods on App Mesh (envoy/proxyinit) / on Istio (istio-proxy or \
             ambient) / with no sidecar. ISTIO CFG: Istio objects convert applied (ed.: edited \
             since by another field manager). APP MESH: App Mesh objects left. -o json has \
             the labels in full.",
            width,
        );
    } else {
        for (row, cells) in rows.iter().zip(&table) {
            writeln!(
                out,
                "{}: {}",
                row.namespace,
                paint_stage(row.stage, row.stage.as_str(), color)
            )
            .ok();
            prose(
                out,
                &format!(
                    "    meshed by: {}; injection labels: {}",
                    cells[1],
                    if row.injection_labels.is_empty() {
                        "none".to_owned()
                    } else {
                        row.injection_labels.join(", ")
                    }
                ),
                width,
            );
            prose(
                out,
                &format!(
                    "    pods: {} on App Mesh, {} on Istio, {} with no sidecar",
                    row.pods.appmesh, row.pods.istio, row.pods.none
                ),
                width,
            );
            let edited = if row.istio_config.edited > 0 {
                format!(" ({} edited since)", row.istio_config.edited)
            } else {
                String::new()
            };
            prose(
                out,
                &format!(
                    "    Istio objects applied by convert: {}{edited}; App Mesh objects left: {}",
                    row.istio_config.applied, row.appmesh_objects
                ),
                width,
            );
        }
    }
    let next: Vec<&str> = rows.iter().filter_map(|r| r.next.as_deref()).collect();
    if next.is_empty() {
        writeln!(
            out,
            "Every namespace is done: nothing of App Mesh is left in them."
        )
        .ok();
    } else {
        writeln!(out, "Next:").ok();
        for command in next {
            writeln!(out, "  {command}").ok();
        }
    }
}
