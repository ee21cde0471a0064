//! Reading one context, and many at once: bounded concurrency, a deadline per context, results
//! in the order the contexts were given.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::config::Kubeconfig;

use super::ContextReport;
use crate::cluster::{ClusterError, CommandName, KubeArgs};
use crate::precheck::{Options, ReadOptions, Snapshot};

/// What to read from each cluster (the flags precheck passes on to [`super::super::read_cluster`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextReadOptions {
    pub appmesh_namespace: String,
    pub istio_namespace: String,
    /// Ask SelfSubjectAccessReviews (the cluster-access category is selected).
    pub permissions: bool,
    /// Run the convert engine (the conversion-readiness category is selected).
    pub convert: bool,
}

/// Connect with `kube` (its `--context` included) and read the cluster. Never fails: a
/// kubeconfig that cannot be used or a server that cannot be reached gives a snapshot whose
/// report says so (exit code 1), as CI parses it.
pub async fn connect_and_read(kube: &KubeArgs, options: &ContextReadOptions) -> Snapshot {
    let cluster = match kube.connect(CommandName::Precheck).await {
        Ok(c) => c,
        Err(e) => {
            let scope = kube.scope(true, "default");
            return Snapshot::not_connected(
                kube.context.clone(),
                "-".to_owned(),
                scope,
                e.to_string(),
            );
        }
    };
    let read = ReadOptions {
        scope: kube.scope(true, &cluster.default_namespace),
        appmesh_namespace: options.appmesh_namespace.clone(),
        istio_namespace: options.istio_namespace.clone(),
        permissions: options.permissions,
        convert: options.convert,
    };
    crate::precheck::read_cluster(&cluster, &read).await
}

/// How a fleet is checked.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Contexts read at the same time (at least 1).
    pub parallel: usize,
    /// The most one context may take, connecting and reading; `None`: no limit.
    pub context_timeout: Option<Duration>,
    pub read: ContextReadOptions,
    pub checks: Options,
}

/// The contexts of the kubeconfig precheck would use (`--kubeconfig`, else `$KUBECONFIG`'s
/// files merged, else `~/.kube/config`), in the file's order.
pub fn kubeconfig_contexts(kube: &KubeArgs) -> Result<Vec<String>, ClusterError> {
    let kubeconfig = match &kube.kubeconfig {
        Some(path) => {
            Kubeconfig::read_from(path).map_err(|source| ClusterError::KubeconfigFile {
                path: path.clone(),
                source,
            })?
        }
        None => Kubeconfig::read().map_err(ClusterError::Kubeconfig)?,
    };
    Ok(kubeconfig.contexts.into_iter().map(|c| c.name).collect())
}

/// Check every context of `contexts` with `kube`'s other flags, at most `options.parallel` at a
/// time, each within `options.context_timeout`. The reports come back in the order of
/// `contexts`, whatever order they finish in, so the output is the same for any `--parallel`.
pub async fn check_contexts(
    kube: &KubeArgs,
    contexts: &[String],
    options: &FleetOptions,
) -> Vec<ContextReport> {
    let permits = Arc::new(tokio::sync::Semaphore::new(options.parallel.max(1)));
    let options = Arc::new(options.clone());
    let mut tasks = Vec::with_capacity(contexts.len());
    for context in contexts {
        let kube = KubeArgs {
            context: Some(context.clone()),
            ..kube.clone()
        };
        let permits = Arc::clone(&permits);
        let options = Arc::clone(&options);
        // A task per context: the checks and the conversion are CPU work, which then runs on
        // the runtime's other threads while this one waits for the network.
        tasks.push(tokio::spawn(async move {
            // The semaphore is never closed, so acquiring only fails if it were: then run
            // unbounded rather than not at all.
            let _permit = permits.acquire_owned().await.ok();
            check_one(&kube, &options).await
        }));
    }
    let mut reports = Vec::with_capacity(tasks.len());
    for (task, context) in tasks.into_iter().zip(contexts) {
        let report = match task.await {
            Ok(report) => report,
            Err(e) => {
                let kube = KubeArgs {
                    context: Some(context.clone()),
                    ..kube.clone()
                };
                let snapshot = Snapshot::not_connected(
                    Some(context.clone()),
                    "-".to_owned(),
                    kube.scope(true, "default"),
                    "the check of this context stopped unexpectedly".to_owned(),
                );
                let report = crate::precheck::run(&snapshot, &options.checks);
                ContextReport::new(context.clone(), &snapshot, report)
                    .internal_error(&e.to_string())
            }
        };
        reports.push(report);
    }
    reports
}

/// One context of a fleet: connect, read within the deadline, run the checks.
async fn check_one(kube: &KubeArgs, options: &FleetOptions) -> ContextReport {
    let context = kube.context.clone().unwrap_or_default();
    let snapshot = match options.context_timeout {
        None => connect_and_read(kube, &options.read).await,
        Some(limit) => {
            let started = Instant::now();
            match tokio::time::timeout(limit, connect_and_read(kube, &options.read)).await {
                Ok(snapshot) => snapshot,
                Err(_) => timed_out(kube, limit, started.elapsed()),
            }
        }
    };
    let report = crate::precheck::run(&snapshot, &options.checks);
    ContextReport::new(context, &snapshot, report)
}

/// The snapshot of a context that did not finish within `--context-timeout`, naming the
/// server when the kubeconfig gives it (resolving it makes no request).
fn timed_out(kube: &KubeArgs, limit: Duration, elapsed: Duration) -> Snapshot {
    let server = server_of(kube).unwrap_or_else(|| "-".to_owned());
    Snapshot::not_connected(
        kube.context.clone(),
        server,
        kube.scope(true, "default"),
        format!(
            "no answer within --context-timeout {} (stopped after {:.1} s)",
            humanize(limit),
            elapsed.as_secs_f64()
        ),
    )
}

/// The server URL of `kube`'s context, from the kubeconfig alone.
fn server_of(kube: &KubeArgs) -> Option<String> {
    let kubeconfig = match &kube.kubeconfig {
        Some(path) => Kubeconfig::read_from(path).ok()?,
        None => Kubeconfig::read().ok()?,
    };
    let context_name = kube.context.as_ref()?;
    let context = kubeconfig
        .contexts
        .iter()
        .find(|c| &c.name == context_name)?
        .context
        .as_ref()?;
    let cluster_name = kube.cluster.as_ref().unwrap_or(&context.cluster);
    kubeconfig
        .clusters
        .iter()
        .find(|c| &c.name == cluster_name)?
        .cluster
        .as_ref()?
        .server
        .clone()
}

/// `90s`, `2m`, `1m30s`, `500ms`: as the flag is written.
fn humanize(d: Duration) -> String {
    let millis = d.as_millis();
    if !millis.is_multiple_of(1000) {
        return format!("{millis}ms");
    }
    let secs = d.as_secs();
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_as_the_flag_takes_them() {
        assert_eq!(humanize(Duration::from_secs(90)), "1m30s");
        assert_eq!(humanize(Duration::from_secs(120)), "2m");
        assert_eq!(humanize(Duration::from_secs(5)), "5s");
        assert_eq!(humanize(Duration::from_millis(1500)), "1500ms");
    }
}
