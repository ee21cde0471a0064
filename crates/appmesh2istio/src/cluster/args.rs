//! The kubectl connection flags, spelled as kubectl spells them (cli-runtime's
//! `genericclioptions`), so users can paste their usual flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::transport::{RequestStats, RetryPolicy, TransportLayer};
use super::{Cluster, ClusterError, CommandName};

/// `--kubeconfig --context --cluster --user --as --as-group --as-uid -n -A --request-timeout -v`.
#[derive(Debug, Clone, Default, Args)]
pub struct KubeArgs {
    /// Path to the kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then
    /// the in-cluster service account).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// The name of the kubeconfig context to use.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// The name of the kubeconfig cluster to use.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,

    /// The name of the kubeconfig user to use.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// Username to impersonate for the operation (the user must be allowed to impersonate it).
    #[arg(long = "as", value_name = "USER")]
    pub impersonate: Option<String>,

    /// Group to impersonate for the operation; repeat for several groups (needs --as).
    #[arg(long = "as-group", value_name = "GROUP", requires = "impersonate")]
    pub impersonate_groups: Vec<String>,

    /// UID to impersonate for the operation (needs --as).
    #[arg(long = "as-uid", value_name = "UID", requires = "impersonate")]
    pub impersonate_uid: Option<String>,

    /// If present, the namespace scope for this request.
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    /// Read from all namespaces (overrides -n).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,

    /// How long to wait for one API request before giving up ("0" = no limit), e.g. 30s, 2m.
    /// A bare number is seconds, as in kubectl.
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = parse_request_timeout)]
    pub request_timeout: OptionalDuration,

    /// Log verbosity: -v (or --v=1 and above) prints every API request with its status and
    /// duration on stderr, then the request count.
    #[arg(short = 'v', long = "v", value_name = "LEVEL", num_args = 0..=1, default_missing_value = "1", default_value = "0")]
    pub verbosity: u8,
}

/// A duration where zero means "no limit" (clap needs a concrete type for `value_parser`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OptionalDuration(pub Option<Duration>);

/// Parse kubectl's `--request-timeout`: `0`, a bare number of seconds, or a number with a unit
/// (`ms`, `s`, `m`, `h`), also combined (`1m30s`).
pub fn parse_request_timeout(text: &str) -> Result<OptionalDuration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(OptionalDuration(
            (secs > 0).then(|| Duration::from_secs(secs)),
        ));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "invalid duration {text:?}: expected a number such as 30s, 2m or 1m30s"
            ));
        }
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|e| format!("invalid duration {text:?}: {e}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value * 60),
            "h" => Duration::from_secs(value * 3600),
            _ => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {unit:?} (use ms, s, m or h)"
                ));
            }
        };
    }
    Ok(OptionalDuration((!total.is_zero()).then_some(total)))
}

/// Which namespaces a command reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceScope {
    All,
    One(String),
}

impl NamespaceScope {
    /// The namespace for API paths: `None` for all namespaces.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            NamespaceScope::All => None,
            NamespaceScope::One(ns) => Some(ns),
        }
    }
}

impl std::fmt::Display for NamespaceScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NamespaceScope::All => f.write_str("all namespaces"),
            NamespaceScope::One(ns) => write!(f, "namespace {ns}"),
        }
    }
}

impl KubeArgs {
    /// The namespace scope: `-A` wins over `-n` (as in kubectl reads); without either,
    /// `all_by_default` chooses between all namespaces (precheck) and the context's namespace.
    pub fn scope(&self, all_by_default: bool, context_namespace: &str) -> NamespaceScope {
        if self.all_namespaces {
            NamespaceScope::All
        } else if let Some(ns) = &self.namespace {
            NamespaceScope::One(ns.clone())
        } else if all_by_default {
            NamespaceScope::All
        } else {
            NamespaceScope::One(context_namespace.to_owned())
        }
    }

    fn options(&self) -> KubeConfigOptions {
        KubeConfigOptions {
            context: self.context.clone(),
            cluster: self.cluster.clone(),
            user: self.user.clone(),
        }
    }

    /// Resolve the kubeconfig the way kubectl does and build a client that goes through the one
    /// retry policy, counts its requests and names `command` in every request's `User-Agent`.
    /// No request is sent yet.
    pub async fn connect(&self, command: CommandName) -> Result<Cluster, ClusterError> {
        let options = self.options();
        let (mut config, context) = if let Some(path) = &self.kubeconfig {
            let kubeconfig =
                Kubeconfig::read_from(path).map_err(|source| ClusterError::KubeconfigFile {
                    path: path.clone(),
                    source,
                })?;
            let context = self
                .context
                .clone()
                .or_else(|| kubeconfig.current_context.clone());
            let config = Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(ClusterError::Kubeconfig)?;
            (config, context)
        } else if self.context.is_some() || self.cluster.is_some() || self.user.is_some() {
            let config = Config::from_kubeconfig(&options)
                .await
                .map_err(ClusterError::Kubeconfig)?;
            let context = self.context.clone().or_else(current_context);
            (config, context)
        } else {
            let config = Config::infer().await.map_err(ClusterError::Infer)?;
            (config, current_context())
        };
        // Impersonation, as kubectl's global flags: every request (the access reviews too)
        // is then made as that user, so the rights checked are the user's.
        if let Some(user) = &self.impersonate {
            config.auth_info.impersonate = Some(user.clone());
            config.auth_info.impersonate_groups =
                (!self.impersonate_groups.is_empty()).then(|| self.impersonate_groups.clone());
            config
                .auth_info
                .impersonate_uid
                .clone_from(&self.impersonate_uid);
        }
        // The one place the User-Agent is set: kube sends none of its own, and every request
        // of every command is built from this config (access reviews and discovery included).
        config
            .headers
            .retain(|(name, _)| name != http::header::USER_AGENT);
        config.headers.push((
            http::header::USER_AGENT,
            http::HeaderValue::from_static(command.user_agent()),
        ));
        // Ours is the only retry policy: kube's would retry POSTs too, and would hide retries
        // from the request count.
        config.default_retry = false;
        let timeout = self.request_timeout.0;
        if let Some(t) = timeout {
            config.read_timeout = Some(t);
            config.connect_timeout = Some(config.connect_timeout.map_or(t, |c| c.min(t)));
        }
        let server = config.cluster_url.to_string();
        let default_namespace = config.default_namespace.clone();
        let stats = RequestStats::new(self.verbosity);
        let client = build_client(config, RetryPolicy::default(), stats.clone(), timeout).map_err(
            |source| ClusterError::Client {
                server: server.clone(),
                source,
            },
        )?;
        Ok(Cluster {
            client,
            stats,
            context,
            server,
            default_namespace,
        })
    }
}

/// The current context of the default kubeconfig ($KUBECONFIG or ~/.kube/config), for messages.
fn current_context() -> Option<String> {
    Kubeconfig::read().ok().and_then(|k| k.current_context)
}

/// Build a client from `config` with the retrying, counting transport on top of kube's stack.
/// Must be called inside a tokio runtime (the request buffer spawns its worker there).
pub fn build_client(
    mut config: Config,
    policy: RetryPolicy,
    stats: RequestStats,
    timeout: Option<Duration>,
) -> Result<Client, kube::Error> {
    config.default_retry = false;
    let builder = kube::client::ClientBuilder::try_from(config)?;
    Ok(builder
        // kube's boxed stack is not Clone; the buffer makes it so, which retries need.
        .with_layer(&tower::buffer::BufferLayer::new(1024))
        .with_layer(&TransportLayer::new(policy, stats, timeout))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        kube: KubeArgs,
    }

    #[test]
    fn request_timeout_accepts_kubectl_spellings() {
        assert_eq!(parse_request_timeout("0").unwrap().0, None);
        assert_eq!(
            parse_request_timeout("5").unwrap().0,
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_request_timeout("30s").unwrap().0,
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_request_timeout("2m").unwrap().0,
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_request_timeout("1m30s").unwrap().0,
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_request_timeout("250ms").unwrap().0,
            Some(Duration::from_millis(250))
        );
        assert!(parse_request_timeout("5x").is_err());
        assert!(parse_request_timeout("s").is_err());
    }

    #[test]
    fn flags_parse_like_kubectl() {
        let cli = Cli::try_parse_from([
            "x",
            "--kubeconfig",
            "/k",
            "--context",
            "c",
            "--cluster",
            "cl",
            "--user",
            "u",
            "-n",
            "ns",
            "--request-timeout",
            "10s",
            "-v",
        ])
        .unwrap();
        assert_eq!(
            cli.kube.kubeconfig.as_deref(),
            Some(std::path::Path::new("/k"))
        );
        assert_eq!(cli.kube.context.as_deref(), Some("c"));
        assert_eq!(cli.kube.cluster.as_deref(), Some("cl"));
        assert_eq!(cli.kube.user.as_deref(), Some("u"));
        assert_eq!(cli.kube.request_timeout.0, Some(Duration::from_secs(10)));
        assert_eq!(cli.kube.verbosity, 1);
        assert_eq!(
            cli.kube.scope(true, "default"),
            NamespaceScope::One("ns".into())
        );
        let cli = Cli::try_parse_from([
            "x",
            "--as",
            "system:serviceaccount:a:b",
            "--as-group",
            "g1",
            "--as-group",
            "g2",
            "--as-uid",
            "u",
        ])
        .unwrap();
        assert_eq!(
            cli.kube.impersonate.as_deref(),
            Some("system:serviceaccount:a:b")
        );
        assert_eq!(cli.kube.impersonate_groups, vec!["g1", "g2"]);
        assert_eq!(cli.kube.impersonate_uid.as_deref(), Some("u"));
        let groups_alone = Cli::try_parse_from(["x", "--as-group", "g1"]).unwrap_err();
        assert_eq!(
            groups_alone.kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        let cli = Cli::try_parse_from(["x", "-n", "ns", "-A", "--v=6"]).unwrap();
        assert_eq!(cli.kube.scope(false, "default"), NamespaceScope::All);
        assert_eq!(cli.kube.verbosity, 6);
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.kube.scope(true, "ctx-ns"), NamespaceScope::All);
        assert_eq!(
            cli.kube.scope(false, "ctx-ns"),
            NamespaceScope::One("ctx-ns".into())
        );
        assert_eq!(cli.kube.verbosity, 0);
    }
}
