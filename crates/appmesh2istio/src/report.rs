//! convert's report: for each source object, what it became and how faithfully.

use std::collections::BTreeSet;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use serde::Serialize;

use crate::findings::{Fidelity, Finding, Severity};
use crate::origin::{ObjectRef, Origin};

/// What happened to one App Mesh object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceEntry {
    pub subject: ObjectRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// The Istio objects this source contributed to (an object may have several sources).
    pub produced: Vec<ObjectRef>,
    pub fidelity: Fidelity,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub sources: usize,
    pub generated: usize,
    pub exact: usize,
    pub approximated: usize,
    pub not_converted: usize,
}

/// The machine-readable report (`--report FILE`). Its shape is versioned by `apiVersion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversionReport {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub preserve_defaults: bool,
    pub summary: Summary,
    pub sources: Vec<SourceEntry>,
}

impl ConversionReport {
    /// The least faithful outcome over all sources (`Exact` when there were none).
    pub fn worst_fidelity(&self) -> Fidelity {
        self.sources
            .iter()
            .map(|s| s.fidelity)
            .max()
            .unwrap_or(Fidelity::Exact)
    }

    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.sources.iter().flat_map(|s| s.findings.iter())
    }
}

/// Collects report entries while conversion runs; order of insertion does not matter, the
/// finished report is sorted so that the same input always gives the same report.
///
/// Every finding and every generated object looks its source's entry up, and a conversion
/// module reports about one source at a time, so the entry last used is checked before the
/// hash index. Every insertion is O(1) amortised, however many findings land on one source
/// (a file of 100,000 nameless documents puts them all on one entry).
#[derive(Debug, Default)]
pub struct ReportBuilder {
    entries: Vec<(ObjectRef, PendingEntry)>,
    index: HashMap<ObjectRef, usize>,
    last: Option<usize>,
    generated: usize,
    hasher: DefaultHashBuilder,
}

#[derive(Debug, Default)]
struct PendingEntry {
    origin: Option<Origin>,
    produced: BTreeSet<ObjectRef>,
    /// In the order reported: the finished report sorts them stably, so ties keep that order.
    findings: Vec<Finding>,
    /// Positions in `findings` by hash, so that a finding reported twice (several passes may
    /// see the same problem) is kept once without scanning the list.
    seen: HashTable<usize>,
}

impl PendingEntry {
    /// Add `finding` unless an equal one is there already.
    fn add_finding(&mut self, finding: Finding, hasher: &DefaultHashBuilder) {
        let hash = hasher.hash_one(&finding);
        let findings = &self.findings;
        if self.seen.find(hash, |&i| findings[i] == finding).is_some() {
            return;
        }
        self.findings.push(finding);
        let findings = &self.findings;
        self.seen
            .insert_unique(hash, findings.len() - 1, |&i| hasher.hash_one(&findings[i]));
    }
}

impl ReportBuilder {
    /// The entry of `subject`, created if new.
    fn entry(&mut self, subject: &ObjectRef) -> &mut PendingEntry {
        let position = match self.last {
            Some(last) if self.entries.get(last).is_some_and(|(s, _)| s == subject) => last,
            _ => {
                let next = self.entries.len();
                let position = *self.index.entry_ref(subject).or_insert(next);
                if position == next {
                    self.entries
                        .push((subject.clone(), PendingEntry::default()));
                }
                position
            }
        };
        self.last = Some(position);
        // Positions come from the index, which only holds positions of pushed entries.
        &mut self.entries[position].1
    }

    /// Register a source object, even if it produces nothing and has no findings.
    pub fn source(&mut self, subject: &ObjectRef, origin: Option<&Origin>) {
        let entry = self.entry(subject);
        if entry.origin.is_none() {
            entry.origin = origin.cloned();
        }
    }

    pub fn produced(&mut self, subject: &ObjectRef, output: &ObjectRef) {
        self.entry(subject).produced.insert(output.clone());
    }

    pub fn finding(&mut self, finding: Finding) {
        let hasher = self.hasher.clone();
        let entry = self.entry(&finding.subject);
        if entry.origin.is_none() {
            entry.origin = finding.origin.clone();
        }
        entry.add_finding(finding, &hasher);
    }

    pub fn findings(&mut self, findings: impl IntoIterator<Item = Finding>) {
        for f in findings {
            self.finding(f);
        }
    }

    /// Give every source that produced nothing and has no finding the finding `make` builds,
    /// so that no object is ever dropped silently.
    pub fn flag_silent_sources(&mut self, make: impl Fn(&ObjectRef) -> Finding) {
        for (subject, entry) in &mut self.entries {
            if entry.produced.is_empty() && entry.findings.is_empty() {
                entry.add_finding(make(subject), &self.hasher);
            }
        }
    }

    pub fn set_generated(&mut self, count: usize) {
        self.generated = count;
    }

    pub fn finish(self, preserve_defaults: bool) -> ConversionReport {
        let mut summary = Summary {
            generated: self.generated,
            ..Summary::default()
        };
        let mut entries = self.entries;
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let sources: Vec<SourceEntry> = entries
            .into_iter()
            .map(
                |(
                    subject,
                    PendingEntry {
                        origin,
                        produced,
                        mut findings,
                        ..
                    },
                )| {
                    findings.sort_by(|a, b| {
                        b.severity
                            .cmp(&a.severity)
                            .then_with(|| a.code.cmp(&b.code))
                            .then_with(|| a.field.cmp(&b.field))
                    });
                    let worst = findings
                        .iter()
                        .map(|f| f.severity)
                        .max()
                        .unwrap_or(Severity::Info);
                    let fidelity = Fidelity::of(worst);
                    match fidelity {
                        Fidelity::Exact => summary.exact += 1,
                        Fidelity::Approximated => summary.approximated += 1,
                        Fidelity::NotConverted => summary.not_converted += 1,
                    }
                    SourceEntry {
                        subject,
                        origin,
                        produced: produced.into_iter().collect(),
                        fidelity,
                        findings,
                    }
                },
            )
            .collect();
        summary.sources = sources.len();
        ConversionReport {
            api_version: "appmesh2istio.io/v1alpha1",
            kind: "ConversionReport",
            preserve_defaults,
            summary,
            sources,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fidelity_is_the_worst_finding_and_sources_are_sorted() {
        let vn = ObjectRef::new("VirtualNode", Some("ns"), "b");
        let vs = ObjectRef::new("VirtualService", Some("ns"), "a");
        let mut b = ReportBuilder::default();
        b.source(&vn, None);
        b.source(&vs, None);
        b.produced(&vs, &ObjectRef::new("VirtualService", Some("ns"), "a"));
        b.finding(Finding::new("AMI2001", vs.clone(), "timeout"));
        b.finding(Finding::new("AMI1001", vn.clone(), "unknown"));
        b.finding(Finding::new("AMI1001", vn.clone(), "unknown"));
        let r = b.finish(true);
        assert_eq!(r.sources[0].subject, vn);
        assert_eq!(r.sources[0].fidelity, Fidelity::Approximated);
        assert_eq!(r.sources[0].findings.len(), 1, "duplicates are merged");
        assert_eq!(r.sources[1].fidelity, Fidelity::Exact);
        assert_eq!(r.summary.approximated, 1);
        assert_eq!(r.summary.exact, 1);
        assert_eq!(r.worst_fidelity(), Fidelity::Approximated);
    }
}
