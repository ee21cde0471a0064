//! Cluster access shared by every subcommand that talks to a cluster (`precheck`,
//! `convert --apply`, `label`, `rollout`).
//!
//! - [`KubeArgs`]: the kubectl-style connection flags, flattened into each binary, and the one
//!   place a `kube::Client` is built.
//! - [`transport`]: ONE retry policy for every API call and a request counter (for `-v` and the
//!   benchmarks). kube's own default retry layer is switched off so that no request is retried
//!   twice by two policies and every HTTP request is counted exactly once.
//! - [`list`]: paginated lists (`limit` + `continue`), so the number of requests grows with kinds
//!   and pages, never with objects.
//! - [`kinds`]: the App Mesh and Istio kinds, known statically (no discovery needed to list them).
//! - [`access`]: SelfSubjectAccessReviews, one per verb and resource.
//! - [`inventory`]: a cluster's App Mesh objects (and what resolution needs) as an `Inventory`.
//!
//! Writing to a cluster (plan, confirm, undo file, writes with preconditions, verify) is
//! [`crate::change`]'s job.

pub mod access;
mod args;
pub mod inventory;
pub mod kinds;
pub mod list;
pub mod transport;

use std::path::PathBuf;

pub use args::{KubeArgs, NamespaceScope, OptionalDuration, build_client, parse_request_timeout};
pub use transport::{RequestRecord, RequestStats, RetryPolicy};

/// The command a client is built for: it names itself in every request's `User-Agent`
/// (`appmesh2istio/<version> (<command>)`), so an API server's audit log can tell this suite's
/// requests from anyone else's made with the same credentials, and which step made them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CommandName {
    Precheck,
    Convert,
    Label,
    Rollout,
    Cleanup,
}

impl CommandName {
    pub const ALL: [CommandName; 5] = [
        CommandName::Precheck,
        CommandName::Convert,
        CommandName::Label,
        CommandName::Rollout,
        CommandName::Cleanup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CommandName::Precheck => "precheck",
            CommandName::Convert => "convert",
            CommandName::Label => "label",
            CommandName::Rollout => "rollout",
            CommandName::Cleanup => "cleanup",
        }
    }

    /// `appmesh2istio/0.1.0 (label)`: product/version, then the command as a comment
    /// (RFC 9110's `User-Agent` grammar), so log filters can match the prefix alone. Static
    /// text, so it is always a valid header value.
    pub fn user_agent(self) -> &'static str {
        macro_rules! agent {
            ($command:literal) => {
                concat!(
                    "appmesh2istio/",
                    env!("CARGO_PKG_VERSION"),
                    " (",
                    $command,
                    ")"
                )
            };
        }
        match self {
            CommandName::Precheck => agent!("precheck"),
            CommandName::Convert => agent!("convert"),
            CommandName::Label => agent!("label"),
            CommandName::Rollout => agent!("rollout"),
            CommandName::Cleanup => agent!("cleanup"),
        }
    }
}

impl std::fmt::Display for CommandName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connected cluster: the client plus what messages need to name it.
#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    /// Every HTTP request made through `client` (retries included).
    pub stats: RequestStats,
    /// The kubeconfig context in use, when one is known (not for in-cluster config).
    pub context: Option<String>,
    /// The API server URL.
    pub server: String,
    /// The namespace of the context (or `default`), used when neither `-n` nor `-A` is given.
    pub default_namespace: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("context", &self.context)
            .field("server", &self.server)
            .field("default_namespace", &self.default_namespace)
            .finish_non_exhaustive()
    }
}

/// Why a cluster could not be reached or used.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot read kubeconfig {}: {source}", path.display())]
    KubeconfigFile {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    #[error("cannot use kubeconfig: {0}")]
    Kubeconfig(#[source] kube::config::KubeconfigError),
    #[error("no cluster configured (no kubeconfig found and not running in a pod): {0}")]
    Infer(#[source] kube::config::InferConfigError),
    #[error("cannot build a client for {server}: {source}")]
    Client { server: String, source: kube::Error },
    #[error("{what}: {}", describe_kube_error(source))]
    Api { what: String, source: kube::Error },
}

impl ClusterError {
    /// The HTTP status of a failed API call, when the server answered.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            ClusterError::Api {
                source: kube::Error::Api(status),
                ..
            } => Some(status.code),
            _ => None,
        }
    }

    /// True when the server answered 403.
    pub fn is_forbidden(&self) -> bool {
        self.status_code() == Some(403)
    }

    /// True when the server could not be reached at all (as opposed to answering with an
    /// error): the "could not run" case for scripts.
    pub fn is_unreachable(&self) -> bool {
        match self {
            ClusterError::Api { source, .. } => !matches!(source, kube::Error::Api(_)),
            ClusterError::Client { .. } => true,
            _ => false,
        }
    }
}

/// A one-line description of a kube error that names the cause a user can act on (the
/// default `Display` of nested transport errors hides it behind "ServiceError: client error").
pub fn describe_kube_error(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", status.reason)
            };
            format!(
                "the API server answered {}{reason}: {}",
                status.code, status.message
            )
        }
        other => {
            // Walk the source chain: the innermost message is the useful one (connection
            // refused, certificate error, timed out).
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                let next = s.to_string();
                if !next.is_empty() && !text.contains(&next) {
                    text = format!("{text}: {next}");
                }
                source = s.source();
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CommandName;

    #[test]
    fn user_agent_names_the_suite_its_version_and_the_command() {
        let version = env!("CARGO_PKG_VERSION");
        let agents: Vec<&str> = CommandName::ALL.iter().map(|c| c.user_agent()).collect();
        assert_eq!(
            agents,
            [
                format!("appmesh2istio/{version} (precheck)"),
                format!("appmesh2istio/{version} (convert)"),
                format!("appmesh2istio/{version} (label)"),
                format!("appmesh2istio/{version} (rollout)"),
                format!("appmesh2istio/{version} (cleanup)"),
            ]
        );
        for command in CommandName::ALL {
            assert!(http::HeaderValue::from_str(command.user_agent()).is_ok());
            assert_eq!(command.to_string(), command.as_str());
        }
    }
}
