//! The gates before anything is deleted: for the namespaces in scope, no running pod still
//! carries App Mesh's `envoy`/`proxyinit`; every App Mesh object has its Istio counterpart in the
//! cluster (an appmesh2istio-managed object whose `appmesh2istio.io/source` names it), or is one
//! that converts into nothing; and every namespace App Mesh used is labelled for Istio. Each
//! failure names its objects and the command that fixes it.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::scan::Scan;
use crate::convert::{ConvertOptions, SOURCE_ANNOTATION, convert};
use crate::findings::{Finding, Severity};
use crate::load::{LoadOptions, from_values};
use crate::origin::{ObjectRef, Origin};
use crate::precheck::{appmesh_injection, has_appmesh_sidecar, istio_injection, string_map};
use crate::resolve::resolve;

pub const ENVOY_POD: &str = "AMI4201";
pub const NO_COUNTERPART: &str = "AMI4202";
pub const NOT_LABELLED: &str = "AMI4203";
pub const PRODUCES_NOTHING: &str = "AMI4204";
pub const GATES_SKIPPED: &str = "AMI4205";

/// `Kind namespace/name` (or `Kind name`) of an object, as findings and the source annotation
/// name it.
pub fn object_ref(object: &Value) -> ObjectRef {
    let text = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("");
    ObjectRef {
        kind: Cow::Owned(text("/kind").to_owned()),
        namespace: object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_owned),
        name: text("/metadata/name").to_owned(),
    }
}

/// The gates' verdict: failures block the clean-up (unless `--force`), notes are shown.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub findings: Vec<Finding>,
}

impl Verdict {
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The findings grouped by code, each group with its fix, for stderr.
    pub fn describe(&self) -> String {
        let mut groups: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
        for f in &self.findings {
            groups.entry(f.code.as_str()).or_default().push(f);
        }
        let mut out = String::new();
        for (code, findings) in groups {
            let title = crate::findings::catalog()
                .get(code)
                .map(|e| e.title.as_str())
                .unwrap_or("");
            out.push_str(&format!(
                "{} {code} {title} ({}):\n",
                findings[0].severity,
                findings.len()
            ));
            for f in findings.iter().take(20) {
                out.push_str(&format!("  {}: {}\n", f.subject, f.message));
            }
            if findings.len() > 20 {
                out.push_str(&format!("  ... and {} more\n", findings.len() - 20));
            }
            out.push_str(&format!("  fix: {}\n", findings[0].hint));
        }
        out
    }
}

/// Whether a pod counts as running (not finished, not being deleted).
fn running(pod: &Value) -> bool {
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    !matches!(phase, Some("Succeeded" | "Failed"))
        && pod
            .pointer("/metadata/deletionTimestamp")
            .is_none_or(Value::is_null)
}

/// Evaluate the gates on what was read.
pub fn evaluate(scan: &Scan) -> Verdict {
    let mut findings = Vec::new();
    // 1. No running pod with App Mesh's sidecar.
    let mut envoy_namespaces = BTreeSet::new();
    for pod in &scan.pods {
        if running(pod) && pod.get("spec").is_some_and(has_appmesh_sidecar) {
            let subject = object_ref(pod);
            let ns = subject.namespace.clone().unwrap_or_default();
            findings.push(Finding::new(
                ENVOY_POD,
                subject,
                format!(
                    "runs App Mesh's envoy/proxyinit; restart it onto Istio: kubectl appmesh2istio rollout -n {ns}"
                ),
            ));
            envoy_namespaces.insert(ns);
        }
    }
    // 2. Every App Mesh object has its Istio counterpart (or converts into nothing).
    findings.extend(counterparts(scan));
    // 3. Namespaces App Mesh used are labelled for Istio.
    let used: BTreeSet<&str> = scan
        .appmesh_in_scope()
        .filter_map(|o| o.pointer("/metadata/namespace").and_then(Value::as_str))
        .collect();
    for (name, namespace) in &scan.namespaces {
        let labels = string_map(namespace, "/metadata/labels");
        let meshed = appmesh_injection(&labels).is_some() || used.contains(name.as_str());
        if meshed && istio_injection(&labels).is_none() {
            findings.push(Finding::new(
                NOT_LABELLED,
                object_ref(namespace),
                format!(
                    "App Mesh used this namespace and it is not labelled for Istio injection; run: kubectl appmesh2istio label -n {name}"
                ),
            ));
        }
    }
    Verdict { findings }
}

/// Gate 2: the App Mesh objects in scope whose conversion produces objects, none of which is in
/// the cluster (looked up by the source annotation of appmesh2istio-managed Istio objects).
fn counterparts(scan: &Scan) -> Vec<Finding> {
    let mut named: BTreeSet<String> = BTreeSet::new();
    for object in &scan.istio {
        if let Some(sources) = string_map(object, "/metadata/annotations").get(SOURCE_ANNOTATION) {
            named.extend(sources.split(", ").map(str::to_owned));
        }
    }
    // What convert makes of the objects in scope (with every Mesh, which resolution needs).
    let mut values: Vec<Value> = scan.namespaces.values().cloned().collect();
    values.extend(scan.appmesh_in_scope().cloned());
    values.extend(
        scan.appmesh
            .iter()
            .filter(|o| o.get("kind").and_then(Value::as_str) == Some("Mesh"))
            .cloned(),
    );
    values.extend(scan.services.iter().cloned());
    values.extend(scan.workloads.iter().cloned());
    let inventory = from_values(
        values,
        &Origin::Cluster { context: None },
        &LoadOptions::default(),
    );
    let resolved = resolve(&inventory);
    let Ok(conversion) = convert(&inventory, &resolved, &ConvertOptions::default()) else {
        // Our own output failed validation (a bug convert reports itself): nothing can be
        // said about counterparts, so every object is reported as without one.
        return scan
            .appmesh_in_scope()
            .map(|o| {
                Finding::new(
                    NO_COUNTERPART,
                    object_ref(o),
                    "convert failed on these objects (run kubectl appmesh2istio convert for details)",
                )
            })
            .collect();
    };
    let in_scope_ns: &BTreeMap<String, Value> = &scan.namespaces;
    let mut findings = Vec::new();
    for entry in &conversion.report.sources {
        let subject = &entry.subject;
        if subject.kind == "Mesh" {
            // Meshes are reported through the objects of their namespaces.
            continue;
        }
        if !subject
            .namespace
            .as_deref()
            .is_some_and(|ns| in_scope_ns.contains_key(ns))
        {
            continue;
        }
        let produced: Vec<&ObjectRef> = entry
            .produced
            .iter()
            .filter(|p| p.kind != "IstioOperator")
            .collect();
        if produced.is_empty() {
            findings.push(Finding::new(
                PRODUCES_NOTHING,
                subject.clone(),
                "converts into no Istio object (see `kubectl appmesh2istio convert`'s report); nothing to wait for",
            ));
            continue;
        }
        if named.contains(&subject.to_string()) {
            continue;
        }
        // Listed one namespace only: counterparts written elsewhere cannot be seen.
        if !scan.all
            && produced.iter().all(|p| {
                p.namespace
                    .as_deref()
                    .is_some_and(|ns| !in_scope_ns.contains_key(ns))
            })
        {
            continue;
        }
        let ns = subject.namespace.clone().unwrap_or_default();
        findings.push(Finding::new(
            NO_COUNTERPART,
            subject.clone(),
            format!(
                "no appmesh2istio-managed Istio object names it in {SOURCE_ANNOTATION} (expected: {}); run: kubectl appmesh2istio convert --apply -n {ns}",
                produced.iter().take(3).map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scan_with(pods: Vec<Value>, ns_labels: Value) -> Scan {
        let mut scan = Scan::default();
        scan.namespaces.insert(
            "a".into(),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "labels": ns_labels}}),
        );
        scan.pods = pods;
        scan
    }

    #[test]
    fn a_running_envoy_pod_and_a_namespace_without_istio_labels_fail() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "a"},
            "spec": {"containers": [{"name": "app", "image": "x"}, {"name": "envoy", "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1"}]},
            "status": {"phase": "Running"}});
        let scan = scan_with(
            vec![pod.clone()],
            json!({"appmesh.k8s.aws/sidecarInjectorWebhook": "enabled"}),
        );
        let verdict = evaluate(&scan);
        assert!(verdict.failed());
        let codes: Vec<&str> = verdict.findings.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, vec![ENVOY_POD, NOT_LABELLED], "{verdict:?}");
        assert!(
            verdict.describe().contains("rollout -n a"),
            "{}",
            verdict.describe()
        );
        assert!(verdict.describe().contains("label -n a"));

        let mut done = pod;
        done["status"]["phase"] = json!("Succeeded");
        let scan = scan_with(vec![done], json!({"istio-injection": "enabled"}));
        assert!(!evaluate(&scan).failed());
    }
}
