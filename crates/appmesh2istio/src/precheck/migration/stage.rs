//! Where a namespace stands in the migration, and the one command that moves it on: a pure
//! function of a few counts and labels, so every stage is unit-tested without a cluster.
//!
//! The order is the runbook's (README, docs/migration.md): Istio configuration first (so the
//! first pod on Istio already finds its routes), then the namespace's injection labels, then
//! the restarts, then App Mesh's objects and labels out.

use serde::Serialize;

/// The next step of one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// App Mesh objects whose Istio configuration is not in the cluster yet.
    Convert,
    /// Not labelled for Istio (sidecar or ambient), or App Mesh's injector still enabled.
    Label,
    /// Running pods still carry App Mesh's envoy/proxyinit.
    Rollout,
    /// App Mesh objects or App Mesh's injector label are left.
    Cleanup,
    /// Nothing of App Mesh is left in the namespace.
    Done,
}

impl Stage {
    /// The name shown in the table and in JSON (`convert`, …, `done`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Convert => "convert",
            Stage::Label => "label",
            Stage::Rollout => "rollout",
            Stage::Cleanup => "cleanup",
            Stage::Done => "done",
        }
    }

    /// The command that moves namespace `ns` on; `None` when it is done.
    pub fn command(self, ns: &str) -> Option<String> {
        match self {
            Stage::Convert => Some(format!("kubectl appmesh2istio convert -n {ns} --apply")),
            Stage::Label => Some(format!("kubectl appmesh2istio label -n {ns}")),
            Stage::Rollout => Some(format!("kubectl appmesh2istio rollout -n {ns}")),
            Stage::Cleanup => Some(format!("kubectl appmesh2istio cleanup -n {ns} --labels")),
            Stage::Done => None,
        }
    }
}

/// What the stage depends on, per namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageFacts {
    /// App Mesh objects in the namespace (Meshes are cluster-scoped: not counted).
    pub appmesh_objects: usize,
    /// Of those, the ones that convert into Istio objects none of which is in the cluster
    /// (no object of ours names them in `appmesh2istio.io/source`).
    pub unconverted: usize,
    /// Labelled for Istio: `istio-injection=enabled`, `istio.io/rev`, or ambient.
    pub istio_labelled: bool,
    /// `appmesh.k8s.aws/sidecarInjectorWebhook=enabled`: App Mesh still injects new pods.
    pub appmesh_injection_enabled: bool,
    /// The App Mesh injector label is present, whatever its value (`cleanup --labels` removes
    /// it).
    pub appmesh_label: bool,
    /// Running pods with App Mesh's envoy or proxyinit.
    pub appmesh_pods: usize,
}

/// The namespace's stage, first unmet step first.
pub fn stage(facts: &StageFacts) -> Stage {
    if facts.unconverted > 0 {
        Stage::Convert
    } else if !facts.istio_labelled || facts.appmesh_injection_enabled {
        // `label` adds Istio's label and turns App Mesh's injector off for the namespace.
        Stage::Label
    } else if facts.appmesh_pods > 0 {
        Stage::Rollout
    } else if facts.appmesh_objects > 0 || facts.appmesh_label {
        // A Mesh's namespaceSelector label is not a reason: cleanup removes it only with the
        // Mesh, once no namespace uses it, so it would keep the namespace here for ever.
        Stage::Cleanup
    } else {
        Stage::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A namespace App Mesh runs today: injector on, objects, pods with envoy.
    fn on_appmesh() -> StageFacts {
        StageFacts {
            appmesh_objects: 4,
            unconverted: 4,
            istio_labelled: false,
            appmesh_injection_enabled: true,
            appmesh_label: true,
            appmesh_pods: 3,
        }
    }

    #[test]
    fn not_started_needs_convert() {
        let facts = on_appmesh();
        assert_eq!(stage(&facts), Stage::Convert);
        assert_eq!(
            stage(&facts).command("shop").as_deref(),
            Some("kubectl appmesh2istio convert -n shop --apply")
        );
    }

    #[test]
    fn partly_converted_still_needs_convert() {
        let facts = StageFacts {
            unconverted: 1,
            istio_labelled: true,
            appmesh_injection_enabled: false,
            appmesh_pods: 0,
            ..on_appmesh()
        };
        assert_eq!(stage(&facts), Stage::Convert);
    }

    #[test]
    fn converted_but_not_labelled_needs_label() {
        let facts = StageFacts {
            unconverted: 0,
            ..on_appmesh()
        };
        assert_eq!(stage(&facts), Stage::Label);
        assert_eq!(
            stage(&facts).command("shop").as_deref(),
            Some("kubectl appmesh2istio label -n shop")
        );
    }

    #[test]
    fn istio_label_with_appmesh_injection_still_on_needs_label() {
        let facts = StageFacts {
            unconverted: 0,
            istio_labelled: true,
            appmesh_injection_enabled: true,
            ..on_appmesh()
        };
        assert_eq!(stage(&facts), Stage::Label);
    }

    #[test]
    fn labelled_with_pods_on_appmesh_needs_rollout() {
        let facts = StageFacts {
            unconverted: 0,
            istio_labelled: true,
            appmesh_injection_enabled: false,
            ..on_appmesh()
        };
        assert_eq!(stage(&facts), Stage::Rollout);
        assert_eq!(
            stage(&facts).command("shop").as_deref(),
            Some("kubectl appmesh2istio rollout -n shop")
        );
    }

    #[test]
    fn pods_moved_with_objects_left_needs_cleanup() {
        let facts = StageFacts {
            unconverted: 0,
            istio_labelled: true,
            appmesh_injection_enabled: false,
            appmesh_pods: 0,
            ..on_appmesh()
        };
        assert_eq!(stage(&facts), Stage::Cleanup);
        assert_eq!(
            stage(&facts).command("shop").as_deref(),
            Some("kubectl appmesh2istio cleanup -n shop --labels")
        );
        // The injector label alone (set to disabled by `label`) is also cleanup's to remove.
        let label_only = StageFacts {
            appmesh_objects: 0,
            appmesh_label: true,
            ..facts
        };
        assert_eq!(stage(&label_only), Stage::Cleanup);
    }

    #[test]
    fn nothing_of_appmesh_left_is_done() {
        let facts = StageFacts {
            istio_labelled: true,
            ..StageFacts::default()
        };
        assert_eq!(stage(&facts), Stage::Done);
        assert_eq!(stage(&facts).command("shop"), None);
        assert_eq!(stage(&facts).as_str(), "done");
    }

    #[test]
    fn objects_that_convert_into_nothing_do_not_hold_convert() {
        // App Mesh objects left but none unconverted: convert has nothing to add.
        let facts = StageFacts {
            appmesh_objects: 2,
            unconverted: 0,
            istio_labelled: true,
            ..StageFacts::default()
        };
        assert_eq!(stage(&facts), Stage::Cleanup);
    }
}
