//! The conversion report as a table (standard error) or JSON (`--report FILE`).

use std::collections::BTreeMap;

use comfy_table::{
    Cell, Color, ColumnConstraint, ContentArrangement, Table, Width, presets::UTF8_FULL_CONDENSED,
};

use crate::findings::{Fidelity, catalog};
use crate::report::ConversionReport;

use super::RenderError;
use super::lines::{ShowFilter, plural};

fn fidelity_cell(f: Fidelity, color: bool) -> Cell {
    let cell = Cell::new(f.to_string());
    if !color {
        return cell;
    }
    cell.fg(match f {
        Fidelity::Exact => Color::Green,
        Fidelity::Approximated => Color::Yellow,
        Fidelity::NotConverted => Color::Red,
    })
}

/// The width to wrap the report to: `$COLUMNS` when set, else the terminal's (measured by
/// the table itself, on standard error), else 120 columns so that logs stay readable.
pub fn report_width() -> Option<u16> {
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
    {
        return Some(columns);
    }
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        None
    } else {
        Some(120)
    }
}

/// The width to wrap the line report to: `$COLUMNS`, else the width of the terminal on
/// standard error, else 120 columns (logs).
pub fn report_columns() -> usize {
    match report_width() {
        Some(columns) => usize::from(columns),
        None => console::Term::stderr()
            .size_checked()
            .map_or(120, |(_, columns)| usize::from(columns)),
    }
}

/// The human report as a table (`--report-format table`): one row per source object, then one hint per code that appeared.
pub fn report_table(
    report: &ConversionReport,
    color: bool,
    width: Option<u16>,
    show: ShowFilter,
) -> String {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .use_stderr();
    if let Some(w) = width {
        table.set_width(w);
    }
    if !color {
        table.force_no_tty();
    }
    table.set_header(vec!["SOURCE", "BECAME", "FIDELITY", "DETAILS"]);
    // Object names are short and the details long: give the details the room.
    let names = ColumnConstraint::UpperBoundary(Width::Percentage(22));
    table.set_constraints(vec![names, names, ColumnConstraint::ContentWidth]);
    for s in report.sources.iter().filter(|s| show.shows(s.fidelity)) {
        let became = if s.produced.is_empty() {
            "-".to_owned()
        } else {
            s.produced
                .iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        };
        let details = s
            .findings
            .iter()
            .map(|f| {
                let at = match &f.origin {
                    Some(
                        origin @ crate::origin::Origin::File {
                            column: Some(_), ..
                        },
                    ) => {
                        format!(" ({origin})")
                    }
                    _ => String::new(),
                };
                match &f.field {
                    Some(field) => format!("{} {field}{at}: {}", f.code, f.message),
                    None => format!("{} {}", f.code, f.message),
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        // Where the object is written, so that every finding can be looked up in the input.
        let source = match &s.origin {
            Some(origin @ crate::origin::Origin::File { .. }) => format!("{}\n{origin}", s.subject),
            _ => s.subject.to_string(),
        };
        table.add_row(vec![
            Cell::new(source),
            Cell::new(became),
            fidelity_cell(s.fidelity, color),
            Cell::new(details),
        ]);
    }
    let mut out = table.to_string();
    out.push('\n');
    let sum = &report.summary;
    out.push_str(&format!(
        "{}: {} exact, {} approximated, {} not converted; {} generated.\n",
        plural(sum.sources, "source object"),
        sum.exact,
        sum.approximated,
        sum.not_converted,
        plural(sum.generated, "Istio object")
    ));
    let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
    for s in report.sources.iter().filter(|s| show.shows(s.fidelity)) {
        for f in &s.findings {
            *codes.entry(f.code.as_str()).or_default() += 1;
        }
    }
    if !codes.is_empty() {
        out.push_str("\nWhat the codes mean and what to do:\n");
        for (code, count) in codes {
            if let Some(entry) = catalog().get(code) {
                out.push_str(&format!(
                    "  {code} {} ({count}x, {}): {}\n",
                    entry.title, entry.severity, entry.hint
                ));
            }
        }
    }
    out
}

/// The same report as JSON, for scripts.
pub fn report_json(report: &ConversionReport) -> Result<String, RenderError> {
    let mut text = serde_json::to_string_pretty(report).map_err(|e| RenderError::Serialise {
        what: "report".into(),
        message: e.to_string(),
    })?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Finding;
    use crate::origin::ObjectRef;
    use crate::report::ReportBuilder;

    #[test]
    fn table_lists_sources_outputs_fidelity_and_hints() {
        let vn = ObjectRef::new("VirtualNode", Some("shop"), "cart");
        let mut b = ReportBuilder::default();
        b.source(&vn, Some(&crate::origin::Origin::file("mesh.yaml", 12)));
        b.produced(
            &vn,
            &ObjectRef::new("DestinationRule", Some("shop"), "cart"),
        );
        b.finding(
            Finding::new("AMI1001", vn.clone(), "unknown field hostName")
                .at_field("spec.serviceDiscovery.dns.hostName"),
        );
        b.set_generated(1);
        let text = report_table(&b.finish(true), false, Some(200), ShowFilter::ALL);
        assert!(text.contains("VirtualNode shop/cart"), "{text}");
        assert!(text.contains("mesh.yaml:12"), "the origin is shown: {text}");
        assert!(text.contains("DestinationRule shop/cart"), "{text}");
        assert!(text.contains("approximated"), "{text}");
        assert!(
            text.contains("AMI1001 spec.serviceDiscovery.dns.hostName: unknown field hostName"),
            "{text}"
        );
        assert!(
            text.contains("AMI1001 Unknown field (1x, warning)"),
            "{text}"
        );
        assert!(text.contains(
            "1 source object: 0 exact, 1 approximated, 0 not converted; 1 Istio object generated."
        ));
        assert!(
            !text.contains('\u{1b}'),
            "no colour codes when colour is off"
        );
    }

    #[test]
    fn json_report_is_versioned() {
        let v: serde_json::Value =
            serde_json::from_str(&report_json(&ReportBuilder::default().finish(false)).unwrap())
                .unwrap();
        assert_eq!(v["apiVersion"], "appmesh2istio.io/v1alpha1");
        assert_eq!(v["kind"], "ConversionReport");
        assert_eq!(v["preserveDefaults"], false);
    }
}
