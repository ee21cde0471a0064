//! The default human report: one line per finding, grouped under its source object, in the
//! style of `istioctl analyze` (`Warning [AMI2208] VirtualNode shop/cart spec.listeners[0]:
//! ...`), so that `grep AMI2208` finds every occurrence with its object. Prose is wrapped to
//! the terminal width at spaces only: a name, host or field path is never broken, even when it
//! is longer than the line.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use owo_colors::OwoColorize;

use crate::findings::{Fidelity, Finding, Severity, catalog};
use crate::report::{ConversionReport, SourceEntry};

/// Which source objects the report shows (`--show`); the summary always counts them all.
/// The default shows every source object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShowFilter {
    pub exact: bool,
    pub approximated: bool,
    pub not_converted: bool,
}

impl Default for ShowFilter {
    fn default() -> Self {
        ShowFilter::ALL
    }
}

impl ShowFilter {
    /// Shows nothing: the start for choosing some.
    pub const NONE: ShowFilter = ShowFilter {
        exact: false,
        approximated: false,
        not_converted: false,
    };

    /// Every source object.
    pub const ALL: ShowFilter = ShowFilter {
        exact: true,
        approximated: true,
        not_converted: true,
    };

    pub fn shows(&self, fidelity: Fidelity) -> bool {
        match fidelity {
            Fidelity::Exact => self.exact,
            Fidelity::Approximated => self.approximated,
            Fidelity::NotConverted => self.not_converted,
        }
    }
}

/// How the human report is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportStyle {
    pub color: bool,
    /// Columns to wrap to.
    pub width: usize,
    pub show: ShowFilter,
}

/// Lines shorter than this are not worth wrapping to (a 20-column terminal still gets
/// readable words, one or two per line).
const MIN_WIDTH: usize = 40;

/// `1 source object`, `2 source objects`.
pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Stands for the space inside an object reference while wrapping (so `VirtualNode shop/cart`
/// is never split over two lines); a no-break space, which the wrapper does not break at.
const JOINER: char = '\u{a0}';

/// `Kind namespace/name` (a capitalised word, then a word with a `/`) kept as one word.
fn join_object_refs(text: &str) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let mut joined = String::with_capacity(text.len());
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            let previous = words[i - 1];
            let is_kind = previous
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_uppercase())
                && previous.chars().all(|c| c.is_ascii_alphanumeric());
            joined.push(if is_kind && word.contains('/') {
                JOINER
            } else {
                ' '
            });
        }
        joined.push_str(word);
    }
    joined
}

/// Wrap `text` to `width` columns at spaces: the first line starts after `first` columns
/// already used, the others are indented by `indent` spaces. Words longer than a line stay
/// whole, and so do object references.
fn wrap(out: &mut String, text: &str, first: usize, indent: usize, width: usize) {
    let mut wrapped = String::new();
    wrap_words(&mut wrapped, &join_object_refs(text), first, indent, width);
    out.push_str(&wrapped.replace(JOINER, " "));
}

fn wrap_words(out: &mut String, text: &str, first: usize, indent: usize, width: usize) {
    let width = width.max(MIN_WIDTH);
    let options = textwrap::Options::new(width)
        .initial_indent("")
        .subsequent_indent("")
        .break_words(false)
        .word_splitter(textwrap::WordSplitter::NoHyphenation)
        .word_separator(textwrap::WordSeparator::AsciiSpace);
    // The first line has `width - first` columns, the others `width - indent`: wrap the first
    // line on its own, then the rest.
    let first_width = width.saturating_sub(first).max(MIN_WIDTH / 2);
    let first_lines = textwrap::wrap(text, options.clone().width(first_width));
    let Some(head) = first_lines.first() else {
        out.push('\n');
        return;
    };
    out.push_str(head);
    out.push('\n');
    let rest = text[head.len()..].trim_start();
    if rest.is_empty() {
        return;
    }
    let pad = " ".repeat(indent);
    for line in textwrap::wrap(
        rest,
        options.width(width.saturating_sub(indent).max(MIN_WIDTH / 2)),
    ) {
        out.push_str(&pad);
        out.push_str(&line);
        out.push('\n');
    }
}

fn severity_word(severity: Severity, color: bool) -> String {
    let word = match severity {
        Severity::Info => "Info",
        Severity::Warning => "Warning",
        Severity::Error => "Error",
    };
    match (color, severity) {
        (false, _) => word.to_owned(),
        (true, Severity::Info) => word.blue().to_string(),
        (true, Severity::Warning) => word.yellow().to_string(),
        (true, Severity::Error) => word.red().bold().to_string(),
    }
}

fn fidelity_word(fidelity: Fidelity, color: bool) -> String {
    let word = fidelity.to_string();
    match (color, fidelity) {
        (false, _) => word,
        (true, Fidelity::Exact) => word.green().to_string(),
        (true, Fidelity::Approximated) => word.yellow().to_string(),
        (true, Fidelity::NotConverted) => word.red().bold().to_string(),
    }
}

/// `VirtualNode shop/cart (mesh.yaml:12): approximated -> DestinationRule shop/cart, ...`
fn source_header(out: &mut String, source: &SourceEntry, style: &ReportStyle) {
    let mut plain = source.subject.to_string();
    if let Some(origin @ crate::origin::Origin::File { .. }) = &source.origin {
        write!(plain, " ({origin})").ok();
    }
    write!(plain, ": {}", source.fidelity).ok();
    let became = if source.produced.is_empty() {
        " -> nothing generated".to_owned()
    } else {
        let names: Vec<String> = source.produced.iter().map(ToString::to_string).collect();
        format!(" -> {}", names.join(", "))
    };
    plain.push_str(&became);
    // Colour only the fidelity word; wrapping is measured on the plain text.
    let mut wrapped = String::new();
    wrap(&mut wrapped, &plain, 0, 4, style.width);
    if style.color {
        let word = source.fidelity.to_string();
        wrapped = wrapped.replacen(
            &format!(": {word}"),
            &format!(": {}", fidelity_word(source.fidelity, true)),
            1,
        );
    }
    out.push_str(&wrapped);
}

/// `  Warning [AMI2208] VirtualNode shop/cart spec.listeners[0].tls: message`
fn finding_line(out: &mut String, finding: &Finding, style: &ReportStyle) {
    let mut plain = format!("[{}] {}", finding.code, finding.subject);
    if let Some(field) = &finding.field {
        write!(plain, " {field}").ok();
    }
    // Where the field is written (file:line:column), when the source is a file.
    if let Some(
        origin @ crate::origin::Origin::File {
            column: Some(_), ..
        },
    ) = &finding.origin
    {
        write!(plain, " ({origin})").ok();
    }
    write!(plain, ": {}", finding.message).ok();
    let word = match finding.severity {
        Severity::Info => "Info",
        Severity::Warning => "Warning",
        Severity::Error => "Error",
    };
    out.push_str("  ");
    out.push_str(&severity_word(finding.severity, style.color));
    out.push(' ');
    wrap(out, &plain, 2 + word.len() + 1, 6, style.width);
}

/// The human report: every shown source object with its findings, the summary, then what each
/// code that appeared means and what to do.
pub fn report_lines(report: &ConversionReport, style: &ReportStyle) -> String {
    let mut out = String::new();
    let mut shown = 0;
    for source in report
        .sources
        .iter()
        .filter(|s| style.show.shows(s.fidelity))
    {
        shown += 1;
        source_header(&mut out, source, style);
        for finding in &source.findings {
            finding_line(&mut out, finding, style);
        }
    }
    if shown > 0 {
        out.push('\n');
    }
    let sum = &report.summary;
    let mut summary = format!(
        "{}: {} exact, {} approximated, {} not converted; {} generated.",
        plural(sum.sources, "source object"),
        sum.exact,
        sum.approximated,
        sum.not_converted,
        plural(sum.generated, "Istio object")
    );
    if shown < report.sources.len() {
        write!(
            summary,
            " ({} shown, --show selects which.)",
            plural(shown, "source object")
        )
        .ok();
    }
    wrap(&mut out, &summary, 0, 0, style.width);

    let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
    for source in report
        .sources
        .iter()
        .filter(|s| style.show.shows(s.fidelity))
    {
        for f in &source.findings {
            *codes.entry(f.code.as_str()).or_default() += 1;
        }
    }
    if !codes.is_empty() {
        out.push_str("\nWhat the codes mean and what to do:\n");
        for (code, count) in codes {
            if let Some(entry) = catalog().get(code) {
                let text = format!(
                    "{code} {} ({}x, {}): {}",
                    entry.title, count, entry.severity, entry.hint
                );
                out.push_str("  ");
                wrap(&mut out, &text, 2, 4, style.width);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::{ObjectRef, Origin};
    use crate::report::ReportBuilder;

    fn sample() -> ConversionReport {
        let vn = ObjectRef::new("VirtualNode", Some("shop-payments"), "payments-v1");
        let ok = ObjectRef::new("VirtualService", Some("shop"), "cart");
        let mut b = ReportBuilder::default();
        b.source(&vn, Some(&Origin::file("examples/shop/app.yaml", 691)));
        b.produced(
            &vn,
            &ObjectRef::new("Sidecar", Some("shop-payments"), "payments-v1"),
        );
        b.finding(
            Finding::new(
                "AMI2209",
                vn.clone(),
                "only callers presenting ledger.shop-payments.svc.cluster.local, \
                 frontend-v1.shop-frontend.svc.cluster.local were accepted on port 8443",
            )
            .at_field("spec.listeners[0].tls.validation.subjectAlternativeNames"),
        );
        b.source(&ok, Some(&Origin::file("examples/shop/app.yaml", 12)));
        b.produced(&ok, &ObjectRef::new("VirtualService", Some("shop"), "cart"));
        b.set_generated(2);
        b.finish(true)
    }

    fn style(width: usize) -> ReportStyle {
        ReportStyle {
            color: false,
            width,
            show: ShowFilter::ALL,
        }
    }

    #[test]
    fn one_line_per_finding_under_its_source_object() {
        let text = report_lines(&sample(), &style(400));
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines.contains(
                &"VirtualNode shop-payments/payments-v1 (examples/shop/app.yaml:691): not converted -> Sidecar shop-payments/payments-v1"
            ),
            "{text}"
        );
        let finding = lines
            .iter()
            .position(|l| l.starts_with("  Error [AMI2209] VirtualNode shop-payments/payments-v1 spec.listeners[0].tls.validation.subjectAlternativeNames: only callers"))
            .unwrap_or_else(|| panic!("{text}"));
        // The finding follows its source's header, and the exact object has no findings.
        assert!(lines[finding - 1].starts_with("VirtualNode shop-payments/payments-v1"));
        assert!(
            lines.contains(&"VirtualService shop/cart (examples/shop/app.yaml:12): exact -> VirtualService shop/cart"),
            "{text}"
        );
        assert!(text.contains(
            "2 source objects: 1 exact, 0 approximated, 1 not converted; 2 Istio objects generated."
        ));
        assert!(text.contains("  AMI2209 Caller identity check not converted (1x, error): "));
        assert!(!text.contains('\u{1b}'), "no colour when colour is off");
    }

    #[test]
    fn wrapping_never_breaks_an_identifier_and_respects_the_width() {
        let text = report_lines(&sample(), &style(80));
        let words = |t: &str| -> Vec<String> { t.split_whitespace().map(str::to_owned).collect() };
        // Wrapping only moved words between lines: every word of the wide report is here whole.
        assert_eq!(words(&text), words(&report_lines(&sample(), &style(400))));
        for line in text.lines() {
            let long_word = line.split_whitespace().any(|w| w.chars().count() > 60);
            assert!(
                line.chars().count() <= 80 || long_word,
                "wider than 80 columns: {line:?}"
            );
        }
        // Continuation lines are indented under their finding.
        let finding = text
            .lines()
            .position(|l| l.starts_with("  Error [AMI2209]"))
            .unwrap();
        assert!(
            text.lines().nth(finding + 1).unwrap().starts_with("      "),
            "{text}"
        );
    }

    #[test]
    fn object_references_stay_on_one_line() {
        let mut out = String::new();
        let text =
            "the gateway applies the routes of VirtualRouter shop-catalog/catalog-router itself";
        wrap(&mut out, text, 0, 2, 40);
        assert!(
            out.contains("VirtualRouter shop-catalog/catalog-router"),
            "{out}"
        );
        assert!(!out.contains('\u{a0}'), "{out:?}");
        assert_eq!(
            out.split_whitespace().collect::<Vec<_>>(),
            text.split_whitespace().collect::<Vec<_>>()
        );
    }

    #[test]
    fn singular_counts_and_show_filters() {
        let report = sample();
        let only_errors = ReportStyle {
            show: ShowFilter {
                not_converted: true,
                ..ShowFilter::NONE
            },
            ..style(200)
        };
        let text = report_lines(&report, &only_errors);
        assert!(
            text.contains("VirtualNode shop-payments/payments-v1"),
            "{text}"
        );
        assert!(!text.contains("VirtualService shop/cart ("), "{text}");
        assert!(
            text.contains("(1 source object shown, --show selects which.)"),
            "{text}"
        );
        let exact_only = ReportStyle {
            show: ShowFilter {
                exact: true,
                ..ShowFilter::NONE
            },
            ..style(200)
        };
        let text = report_lines(&report, &exact_only);
        assert!(
            !text.contains("What the codes mean"),
            "no findings shown: {text}"
        );
    }

    #[test]
    fn colour_marks_severity_and_fidelity() {
        let text = report_lines(
            &sample(),
            &ReportStyle {
                color: true,
                ..style(400)
            },
        );
        assert!(text.contains(&"Error".red().bold().to_string()), "{text}");
        assert!(
            text.contains(&"not converted".red().bold().to_string()),
            "{text}"
        );
        assert!(text.contains(&"exact".green().to_string()), "{text}");
    }
}
