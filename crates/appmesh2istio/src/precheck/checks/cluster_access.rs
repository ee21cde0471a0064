//! cluster-access: can we talk to the cluster, is its version one Istio 1.30 supports, and may
//! the user do what the migration needs.

use super::super::snapshot::{Mode, Snapshot};
use super::super::{CheckOutput, Skipped};
use crate::findings::Finding;
use crate::origin::ObjectRef;

/// Kubernetes minors Istio 1.30 supports (istio.io "Supported Releases": 1.32 to 1.36).
/// Update together with `TARGET_ISTIO`.
pub const SUPPORTED_KUBERNETES: (u32, u32) = (32, 36);

fn cluster_ref(snap: &Snapshot) -> ObjectRef {
    match &snap.mode {
        Mode::Cluster {
            context: Some(c), ..
        } => ObjectRef::new("Cluster", None, c),
        Mode::Cluster { server, .. } => ObjectRef::new("Cluster", None, server),
        Mode::Files { .. } => ObjectRef::new("Cluster", None, "-"),
    }
}

pub fn reachable(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let Mode::Cluster { server, context } = &snap.mode else {
        return Err("offline (-f): no cluster".into());
    };
    let mut out = CheckOutput::default();
    match &snap.unreachable {
        Some(reason) => out.findings.push(Finding::new(
            "AMI3001",
            cluster_ref(snap),
            format!("cannot reach the API server at {server}: {reason}"),
        )),
        None => {
            let ctx = context
                .as_deref()
                .map(|c| format!(" (context {c})"))
                .unwrap_or_default();
            out.details.push(format!("{server}{ctx}"));
        }
    }
    Ok(out)
}

pub fn version(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    let v = snap.version.get()?;
    let (min, max) = SUPPORTED_KUBERNETES;
    let mut out = CheckOutput::default();
    out.details.push(format!("Kubernetes {}", v.git_version));
    let supported = format!("1.{min} to 1.{max}");
    if v.major < 1 || (v.major == 1 && v.minor < min) {
        out.findings.push(Finding::new(
            "AMI3002",
            cluster_ref(snap),
            format!(
                "Kubernetes {} is older than Istio 1.30 supports ({supported})",
                v.git_version
            ),
        ));
    } else if v.major > 1 || v.minor > max {
        out.findings.push(Finding::new(
            "AMI3003",
            cluster_ref(snap),
            format!(
                "Kubernetes {} is newer than Istio 1.30 was released for ({supported})",
                v.git_version
            ),
        ));
    }
    Ok(out)
}

fn permissions(snap: &Snapshot, read: bool, code: &str) -> Result<CheckOutput, Skipped> {
    let all = snap.permissions.get()?;
    let mine: Vec<_> = all.iter().filter(|p| p.read == read).collect();
    let mut out = CheckOutput::default();
    let granted = mine.iter().filter(|p| p.answer.allowed).count();
    out.details
        .push(format!("{granted} of {} rights granted", mine.len()));
    for p in mine.iter().filter(|p| !p.answer.allowed) {
        let request = &p.answer.request;
        let scope = match &request.namespace {
            Some(ns) => format!("in namespace {ns}"),
            None => "in all namespaces".to_owned(),
        };
        let mut message = format!(
            "cannot {} {} {scope} (needed by {})",
            request.verb,
            request.resource_name(),
            p.needed_by
        );
        if let Some(error) = &p.answer.error {
            message = format!(
                "could not check whether it may {} {} {scope}: {error}",
                request.verb,
                request.resource_name()
            );
        } else if let Some(reason) = &p.answer.reason {
            message.push_str(&format!("; authorizer: {reason}"));
        }
        out.findings.push(Finding::new(
            code,
            ObjectRef::new(
                "Permission",
                request.namespace.as_deref(),
                format!("{} {}", request.verb, request.resource_name()),
            ),
            message,
        ));
    }
    Ok(out)
}

pub fn read_permissions(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    permissions(snap, true, "AMI3004")
}

pub fn write_permissions(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    permissions(snap, false, "AMI3005")
}

pub fn read_errors(snap: &Snapshot) -> Result<CheckOutput, Skipped> {
    if snap.is_offline() {
        return Err("offline (-f): nothing read from a cluster".into());
    }
    let mut out = CheckOutput::default();
    for e in &snap.read_errors {
        let consequence = if e.forbidden {
            " (permission denied: see AMI3004)"
        } else {
            ""
        };
        out.findings.push(Finding::new(
            "AMI3006",
            ObjectRef::new("Resource", None, &e.resource),
            format!(
                "{}{consequence}; the checks that need it are skipped",
                e.message
            ),
        ));
    }
    Ok(out)
}
