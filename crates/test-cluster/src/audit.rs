//! The apiserver's audit log, when a cluster is started with [`ClusterOptions::audit`]:
//! every request logged at `Metadata` level (who, what, which object, the User-Agent; never a
//! body), one JSON event per line. Tests read it to prove which requests a command made, and
//! that none of them touched what it must not (Secrets).
//!
//! [`ClusterOptions::audit`]: crate::ClusterOptions::audit

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::cluster::TestCluster;

/// Log every request at Metadata level, once, when the response is complete (or, for a
/// watch, when it started: a watch the command leaves open still shows).
pub(crate) const POLICY: &str = "\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
";

pub(crate) const POLICY_FILE: &str = "audit-policy.yaml";
pub(crate) const LOG_FILE: &str = "audit.log";

/// One audited request (the fields tests use).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    #[serde(rename = "auditID")]
    pub audit_id: String,
    pub stage: String,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, ... (RBAC's verbs).
    pub verb: String,
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    #[serde(default)]
    pub user_agent: String,
    pub user: AuditUser,
    #[serde(default)]
    pub object_ref: Option<ObjectRef>,
    #[serde(default)]
    pub response_status: Option<ResponseStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AuditUser {
    #[serde(default)]
    pub username: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    #[serde(default)]
    pub resource: String,
    /// Empty for the core group.
    #[serde(default)]
    pub api_group: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub subresource: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResponseStatus {
    #[serde(default)]
    pub code: Option<u16>,
}

impl AuditEvent {
    /// `resource` or `resource/subresource`, as RBAC rules name it.
    pub fn resource(&self) -> Option<String> {
        let object = self.object_ref.as_ref()?;
        Some(match &object.subresource {
            Some(sub) if !sub.is_empty() => format!("{}/{sub}", object.resource),
            _ => object.resource.clone(),
        })
    }

    pub fn api_group(&self) -> &str {
        self.object_ref
            .as_ref()
            .map_or("", |object| object.api_group.as_str())
    }

    pub fn code(&self) -> Option<u16> {
        self.response_status.as_ref().and_then(|status| status.code)
    }
}

/// Parses an audit log: one event per request (a watch logs `ResponseStarted` then
/// `ResponseComplete` under one audit ID; the first is kept).
pub fn parse_audit_log(text: &str) -> Result<Vec<AuditEvent>> {
    let mut seen = std::collections::HashSet::new();
    let mut events = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let event: AuditEvent = serde_json::from_str(line)
            .with_context(|| format!("audit log line {}: {line}", number + 1))?;
        if seen.insert(event.audit_id.clone()) {
            events.push(event);
        }
    }
    Ok(events)
}

impl TestCluster {
    /// The audit log file, when the cluster was started with auditing.
    pub fn audit_log_path(&self) -> Option<std::path::PathBuf> {
        self.options().audit.then(|| self.dir().join(LOG_FILE))
    }

    /// Every request audited so far. The log backend writes each event before the response
    /// is sent (its default `blocking` mode), so a command that has exited is fully logged.
    pub fn audit_events(&self) -> Result<Vec<AuditEvent>> {
        let path = self
            .audit_log_path()
            .context("this cluster runs without an audit log; start it with audit: true")?;
        read_log(&path)
    }
}

fn read_log(path: &Path) -> Result<Vec<AuditEvent>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the audit log {}", path.display()))?;
    parse_audit_log(&text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_event_per_request_with_its_resource_and_agent() {
        let log = r#"{"kind":"Event","level":"Metadata","auditID":"a","stage":"ResponseStarted","requestURI":"/api/v1/pods?watch=1","verb":"watch","user":{"username":"x"},"userAgent":"appmesh2istio/0.1.0 (rollout)","objectRef":{"resource":"pods","apiVersion":"v1"}}
{"kind":"Event","level":"Metadata","auditID":"a","stage":"ResponseComplete","requestURI":"/api/v1/pods?watch=1","verb":"watch","user":{"username":"x"},"userAgent":"appmesh2istio/0.1.0 (rollout)","objectRef":{"resource":"pods","apiVersion":"v1"},"responseStatus":{"code":200}}
{"kind":"Event","level":"Metadata","auditID":"b","stage":"ResponseComplete","requestURI":"/apis/apps/v1/namespaces/n/deployments/d/scale","verb":"get","user":{"username":"y"},"objectRef":{"resource":"deployments","namespace":"n","name":"d","apiGroup":"apps","subresource":"scale"},"responseStatus":{"code":403}}
{"kind":"Event","level":"Metadata","auditID":"c","stage":"ResponseComplete","requestURI":"/version","verb":"get","user":{"username":"y"},"userAgent":"kubectl"}
"#;
        let events = parse_audit_log(log).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].stage, "ResponseStarted");
        assert_eq!(events[0].user_agent, "appmesh2istio/0.1.0 (rollout)");
        assert_eq!(events[0].resource().as_deref(), Some("pods"));
        assert_eq!(events[0].api_group(), "");
        assert_eq!(events[1].resource().as_deref(), Some("deployments/scale"));
        assert_eq!(events[1].api_group(), "apps");
        assert_eq!(events[1].code(), Some(403));
        assert_eq!(events[2].resource(), None);
        assert_eq!(events[2].request_uri, "/version");
        assert!(parse_audit_log("not json\n").is_err());
    }
}
