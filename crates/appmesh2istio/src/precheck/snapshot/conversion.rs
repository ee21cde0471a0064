//! Conversion readiness: the convert engine on the snapshot's objects.

use super::{ConversionOutcome, Data, Mode, Snapshot};
use crate::load::{Inventory, LoadOptions};
use crate::origin::Origin;

/// Run the convert engine exactly as `convert` (with its default options) would on the same
/// objects: resolve, translate, validate.
pub fn conversion_of(inventory: &Inventory) -> Data<ConversionOutcome> {
    let resolved = crate::resolve::resolve(inventory);
    Data::Available(
        match crate::convert::convert(
            inventory,
            &resolved,
            &crate::convert::ConvertOptions::default(),
        ) {
            Ok(conversion) => ConversionOutcome::Converted(conversion.report),
            // convert refuses to print such output (exit code 4) and names the same violations.
            Err(crate::convert::ConvertError::InvalidOutput(violations)) => {
                ConversionOutcome::InvalidOutput(crate::validate::into_findings(violations))
            }
        },
    )
}

/// Convert exactly what `convert` reads from a cluster (`cluster::inventory`): the App Mesh
/// objects of the scope with every Mesh, and the Namespaces, Services, Deployments,
/// StatefulSets and DaemonSets, through the same loader (`load::from_values`).
pub(super) fn convert_cluster_objects(snap: &Snapshot) -> Data<ConversionOutcome> {
    conversion_of(&cluster_inventory(snap))
}

/// The inventory convert would read from this snapshot's objects (App Mesh objects with every
/// Mesh, Namespaces, Services and workloads): for conversion readiness and the mesh graph.
pub fn cluster_inventory(snap: &Snapshot) -> Inventory {
    // Cloned one at a time as the loader takes them (it decodes each into its own types and
    // drops the clone): never a second copy of every object at once.
    let values = snap
        .appmesh_objects()
        .chain(
            [
                &snap.namespaces,
                &snap.services,
                &snap.deployments,
                &snap.statefulsets,
                &snap.daemonsets,
            ]
            .into_iter()
            .filter_map(Data::ok)
            .flatten(),
        )
        .map(|o| o.value.clone());
    let origin = match &snap.mode {
        Mode::Cluster { context, .. } => Origin::Cluster {
            context: context.clone(),
        },
        Mode::Files { .. } => Origin::Generated,
    };
    let options = LoadOptions {
        default_namespace: snap.scope.namespace().unwrap_or("default").to_owned(),
        ..LoadOptions::default()
    };
    crate::load::from_values(values, &origin, &options)
}
