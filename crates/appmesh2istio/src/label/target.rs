//! What `label` moves a namespace to (Istio's sidecar injector, a revision of it, or ambient
//! mode), the label edits that means, and whether that injector is really installed.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::change::{ChangeError, ObjectKey, object::get_value};
use crate::cluster::kinds::MUTATING_WEBHOOKS;
use crate::cluster::{Cluster, NamespaceScope, list::list_values};
use crate::precheck::labels::{
    APPMESH_INJECT, ISTIO_DATAPLANE_MODE, ISTIO_INJECTION, ISTIO_REV, selector_matches, string_map,
};

/// Where a namespace's new pods go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `istio-injection=enabled`: the default revision's injector.
    Injection,
    /// `istio.io/rev=REV` (a revision or a revision tag), without `istio-injection`, which
    /// Istio lets win over the revision label.
    Revision(String),
    /// `istio.io/dataplane-mode=ambient`: no sidecar; ztunnel and the CNI node agent capture
    /// the pods' traffic.
    Ambient,
}

/// ztunnel and the CNI node agent: the DaemonSets ambient mode needs (names as Istio's charts
/// install them).
pub const ZTUNNEL: &str = "ztunnel";
pub const ISTIO_CNI: &str = "istio-cni-node";

impl Target {
    /// The label this target sets.
    pub fn label(&self) -> (&'static str, String) {
        match self {
            Target::Injection => (ISTIO_INJECTION, "enabled".to_owned()),
            Target::Revision(rev) => (ISTIO_REV, rev.clone()),
            Target::Ambient => (ISTIO_DATAPLANE_MODE, "ambient".to_owned()),
        }
    }

    /// The labels this target removes: App Mesh's injector label always; for a revision also
    /// `istio-injection` (Istio ignores `istio.io/rev` while it is set).
    pub fn removes(&self) -> &'static [&'static str] {
        match self {
            Target::Revision(_) => &[APPMESH_INJECT, ISTIO_INJECTION],
            Target::Injection | Target::Ambient => &[APPMESH_INJECT],
        }
    }

    /// `istio-injection=enabled`, for messages.
    pub fn describe(&self) -> String {
        let (key, value) = self.label();
        format!("{key}={value}")
    }
}

/// Whether the injector (or ambient's node components) the target needs is installed: `Ok(())`,
/// or what is missing and how to install it.
pub async fn check_installed(
    cluster: &Cluster,
    target: &Target,
    istio_namespace: &str,
) -> Result<Result<(), String>, ChangeError> {
    match target {
        Target::Injection | Target::Revision(_) => {
            let configs = list_values(&cluster.client, &MUTATING_WEBHOOKS, &NamespaceScope::All)
                .await
                .map_err(|e| ChangeError::NotReady(e.to_string()))?;
            let (key, value) = target.label();
            Ok(
                if injector_selects(&configs, &BTreeMap::from([(key.to_owned(), value)])) {
                    Ok(())
                } else {
                    Err(missing_injector(target))
                },
            )
        }
        Target::Ambient => {
            let mut missing = Vec::new();
            for name in [ZTUNNEL, ISTIO_CNI] {
                let key = ObjectKey::new("apps/v1", "DaemonSet", Some(istio_namespace), name);
                if get_value(cluster, &key).await?.is_none() {
                    missing.push(format!("DaemonSet {istio_namespace}/{name}"));
                }
            }
            Ok(if missing.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "AMI4021: ambient mode needs ztunnel and the Istio CNI node agent, and {} not found: \
                     pods of a namespace labelled {} would run with no proxy at all. Install ambient mode \
                     (`istioctl install --set profile=ambient`), pass --istio-namespace if it runs elsewhere, \
                     or rerun with --force",
                    if missing.len() == 1 {
                        format!("{} was", missing[0])
                    } else {
                        format!("{} were", missing.join(" and "))
                    },
                    target.describe()
                ))
            })
        }
    }
}

fn missing_injector(target: &Target) -> String {
    let install = match target {
        Target::Revision(rev) => format!(
            "install that revision (`istioctl install --set revision={rev}`) or point a revision tag at one \
             (`istioctl tag set {rev} --revision <revision>`)"
        ),
        _ => {
            "install Istio (`kubectl appmesh2istio convert --install` writes an IstioOperator for \
              `istioctl install -f`, or `istioctl install`)"
                .to_owned()
        }
    };
    format!(
        "AMI4020: no Istio sidecar injector selects namespaces labelled {}: no MutatingWebhookConfiguration \
         has a *sidecar-injector.istio.io webhook whose namespaceSelector matches it, so every new pod would \
         start with no sidecar at all. {}, or rerun with --force",
        target.describe(),
        capitalise(&install)
    )
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Whether some Istio sidecar-injector webhook (of any revision or tag) selects a namespace
/// with `labels`: the apiserver's own test, on the webhooks' namespaceSelectors.
pub fn injector_selects(configs: &[Value], labels: &BTreeMap<String, String>) -> bool {
    configs
        .iter()
        .filter_map(|c| c.get("webhooks").and_then(Value::as_array))
        .flatten()
        .filter(|w| {
            w.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.ends_with("sidecar-injector.istio.io"))
        })
        .any(|w| selector_matches(w.get("namespaceSelector"), labels))
}

/// The labels of `object` as a map.
pub fn labels_of(object: &Value) -> BTreeMap<String, String> {
    string_map(object, "/metadata/labels")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(name: &str, selector: Value) -> Value {
        json!({"webhooks": [{"name": name, "namespaceSelector": selector}]})
    }

    #[test]
    fn an_injector_is_found_by_what_its_selectors_select() {
        let default = config(
            "namespace.sidecar-injector.istio.io",
            json!({"matchExpressions": [{"key": "istio-injection", "operator": "In", "values": ["enabled"]}]}),
        );
        let canary = config(
            "rev.namespace.sidecar-injector.istio.io",
            json!({"matchExpressions": [
                {"key": "istio.io/rev", "operator": "In", "values": ["canary"]},
                {"key": "istio-injection", "operator": "DoesNotExist"}]}),
        );
        let other = config(
            "mpod.appmesh.k8s.aws",
            json!({"matchExpressions": [{"key": "istio-injection", "operator": "Exists"}]}),
        );
        let labels = |t: &Target| {
            let (k, v) = t.label();
            BTreeMap::from([(k.to_owned(), v)])
        };
        let all = [default.clone(), canary.clone()];
        assert!(injector_selects(&all, &labels(&Target::Injection)));
        assert!(injector_selects(
            &all,
            &labels(&Target::Revision("canary".into()))
        ));
        assert!(!injector_selects(
            &all,
            &labels(&Target::Revision("stable".into()))
        ));
        assert!(!injector_selects(
            &[canary, other],
            &labels(&Target::Injection)
        ));
        assert!(
            missing_injector(&Target::Revision("stable".into())).contains("--set revision=stable")
        );
        assert_eq!(
            Target::Revision("x".into()).removes(),
            &[APPMESH_INJECT, ISTIO_INJECTION]
        );
    }
}
