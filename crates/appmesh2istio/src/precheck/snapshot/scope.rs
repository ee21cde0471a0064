//! With `-n`, which cluster-scoped Meshes concern the namespace.

use std::collections::BTreeSet;

use super::{ConversionOutcome, Data, Snapshot};

/// The Meshes that concern namespace `ns`: they select it, or one of its objects names them in
/// `meshRef`.
fn relevant_meshes(snap: &Snapshot, ns: &str) -> BTreeSet<String> {
    let labels = snap.namespace_labels().get(ns).cloned().unwrap_or_default();
    let mut names: BTreeSet<String> = snap
        .appmesh_objects()
        .filter(|o| o.namespace() == Some(ns))
        .filter_map(|o| o.str_at("/spec/meshRef/name").map(str::to_owned))
        .collect();
    for m in snap.appmesh_of("Mesh") {
        if crate::precheck::labels::selector_matches(m.at("/spec/namespaceSelector"), &labels) {
            names.insert(m.name().to_owned());
        }
    }
    names
}

/// With `-n`, Meshes (cluster-scoped) are reported only when they concern that namespace, and
/// so is the conversion: other teams' meshes are not the user's question. (The conversion
/// itself saw every Mesh, as convert does, so membership resolves the same.)
pub(super) fn keep_relevant_meshes(snap: &mut Snapshot, ns: &str) {
    let relevant = relevant_meshes(snap, ns);
    if let Some(Data::Available(meshes)) = snap.appmesh.get_mut("Mesh") {
        meshes.retain(|m| relevant.contains(m.name()));
    }
    if let Data::Available(ConversionOutcome::Converted(report)) = &mut snap.conversion {
        report.sources.retain(|s| {
            s.subject.namespace.as_deref() == Some(ns)
                || (s.subject.kind == "Mesh" && relevant.contains(&s.subject.name))
        });
        let mut summary = crate::report::Summary {
            sources: report.sources.len(),
            ..Default::default()
        };
        let mut produced = BTreeSet::new();
        for s in &report.sources {
            match s.fidelity {
                crate::findings::Fidelity::Exact => summary.exact += 1,
                crate::findings::Fidelity::Approximated => summary.approximated += 1,
                crate::findings::Fidelity::NotConverted => summary.not_converted += 1,
            }
            produced.extend(s.produced.iter().cloned());
        }
        summary.generated = produced.len();
        report.summary = summary;
    }
}
