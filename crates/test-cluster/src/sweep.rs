//! "A fault at every request": run a mutating command once cleanly through a fault proxy to
//! record its sequence of API requests, then rerun it from the same start state once per
//! chosen position k with one fault injected at the k-th request the proxy sees, and check
//! that each run either ends exactly as the clean run did, or fails (non-zero exit) and its
//! recovery (the command's own undo record, applied directly without the proxy) gives back
//! the start state exactly.
//!
//! A [`Scenario`] says how to build a fresh start state (fresh namespaces, so every run starts
//! from the same state without cleaning up after the previous one), what to snapshot, how to
//! run the command and how to recover from a failed run. [`sweep`] does the rest and returns a
//! [`SweepReport`] (the figures, and every run that ended otherwise, with a diff).
//!
//! States are compared as whole objects minus what the server or a controller sets
//! ([`normalise`]), with the run's unique names (namespaces, meshes) replaced by placeholders.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use http::Method;
use serde_json::Value;

use crate::cluster::TestCluster;
use crate::fault_proxy::{Fault, FaultProxy, FaultRule, RecordedRequest};

/// The minimum sample: every position of a shorter sequence, at least this many
/// spread over a longer one.
pub const AT_LEAST: usize = 30;

/// How a command run ended.
#[derive(Debug, Clone)]
pub struct CommandRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CommandRun {
    pub fn from_output(output: &std::process::Output) -> CommandRun {
        CommandRun {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// What a failed run must be recoverable to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// A command that records an undo file (`convert --apply`, `label`, `rollout`, `cleanup`
    /// with its backup): applying the record gives back the start state exactly.
    UndoRestoresStart,
    /// An undo run (`convert --undo`, `label --undo`): there is no undo of an undo; running
    /// the same undo again (directly) finishes it, reaching the clean run's final state.
    RerunReachesClean,
}

/// One command under the sweep.
pub trait Scenario {
    /// What a run needs to know about its start state (its names, its working directory).
    type Start;

    /// The command's name in the report (`label --undo`).
    fn name(&self) -> &str;

    /// Build a fresh start state.
    fn prepare(&self, cluster: &TestCluster) -> Result<Self::Start>;

    /// The unique names of this start state, each with the placeholder it is compared as
    /// (`(namespace-17, NS)`).
    fn names(&self, start: &Self::Start) -> Vec<(String, String)>;

    /// Every object the command may change, as stored (admin, directly); [`snapshot`] helps.
    fn snapshot(&self, cluster: &TestCluster, start: &Self::Start) -> Result<Vec<Value>>;

    /// Run the command against `kubeconfig` (the proxy's).
    fn run(&self, start: &Self::Start, kubeconfig: &Path) -> Result<CommandRun>;

    /// After a failed run: apply its recovery (the undo record it left, or the undo again)
    /// directly against the cluster. `None`: there is nothing to apply (no undo record left).
    fn recover(&self, cluster: &TestCluster, start: &Self::Start) -> Result<Option<CommandRun>>;

    fn recovery(&self) -> Recovery {
        Recovery::UndoRestoresStart
    }
}

/// A command that writes an undo file, and its `--undo` run from that file: one start state,
/// two scenarios, [`Change`] (recovered by the undo file it left) and [`UndoOf`] (started
/// from the change's result; a failed undo is finished by running it again).
pub trait Undoable {
    type Start;

    /// The change's name in the report (`label`, `convert --apply`).
    fn name(&self) -> &str;

    /// The undo's name in the report (`label --undo`).
    fn undo_name(&self) -> &str;

    /// As [`Scenario::prepare`]: the state before the change.
    fn prepare(&self, cluster: &TestCluster) -> Result<Self::Start>;

    /// As [`Scenario::names`].
    fn names(&self, start: &Self::Start) -> Vec<(String, String)>;

    /// As [`Scenario::snapshot`]: every object the change or its undo may touch.
    fn snapshot(&self, cluster: &TestCluster, start: &Self::Start) -> Result<Vec<Value>>;

    /// Where the change writes its undo file.
    fn undo_file(&self, start: &Self::Start) -> std::path::PathBuf;

    /// Run the change against `kubeconfig`, writing [`Undoable::undo_file`].
    fn change(&self, start: &Self::Start, kubeconfig: &Path) -> CommandRun;

    /// Run the undo of [`Undoable::undo_file`] against `kubeconfig`.
    fn undo(&self, start: &Self::Start, kubeconfig: &Path) -> CommandRun;
}

/// The change of an [`Undoable`] under the sweep.
pub struct Change<U>(pub U);

impl<U: Undoable> Scenario for Change<U> {
    type Start = U::Start;

    fn name(&self) -> &str {
        self.0.name()
    }

    fn prepare(&self, cluster: &TestCluster) -> Result<U::Start> {
        self.0.prepare(cluster)
    }

    fn names(&self, start: &U::Start) -> Vec<(String, String)> {
        self.0.names(start)
    }

    fn snapshot(&self, cluster: &TestCluster, start: &U::Start) -> Result<Vec<Value>> {
        self.0.snapshot(cluster, start)
    }

    fn run(&self, start: &U::Start, kubeconfig: &Path) -> Result<CommandRun> {
        Ok(self.0.change(start, kubeconfig))
    }

    /// The undo file the failed change left, if it wrote one (it is written before the first
    /// change, so a run stopped earlier changed nothing).
    fn recover(&self, cluster: &TestCluster, start: &U::Start) -> Result<Option<CommandRun>> {
        Ok(self
            .0
            .undo_file(start)
            .exists()
            .then(|| self.0.undo(start, cluster.kubeconfig_path())))
    }
}

/// The undo of an [`Undoable`] under the sweep, from the state its change left.
pub struct UndoOf<U>(pub U);

impl<U: Undoable> Scenario for UndoOf<U> {
    type Start = U::Start;

    fn name(&self) -> &str {
        self.0.undo_name()
    }

    /// The state the change left (run directly, without the proxy), with its undo file.
    fn prepare(&self, cluster: &TestCluster) -> Result<U::Start> {
        let start = self.0.prepare(cluster)?;
        let run = self.0.change(&start, cluster.kubeconfig_path());
        anyhow::ensure!(run.code == 0, "{}: {}", self.0.name(), run.stderr);
        Ok(start)
    }

    fn names(&self, start: &U::Start) -> Vec<(String, String)> {
        self.0.names(start)
    }

    fn snapshot(&self, cluster: &TestCluster, start: &U::Start) -> Result<Vec<Value>> {
        self.0.snapshot(cluster, start)
    }

    fn run(&self, start: &U::Start, kubeconfig: &Path) -> Result<CommandRun> {
        Ok(self.0.undo(start, kubeconfig))
    }

    fn recover(&self, cluster: &TestCluster, start: &U::Start) -> Result<Option<CommandRun>> {
        Ok(Some(self.0.undo(start, cluster.kubeconfig_path())))
    }

    fn recovery(&self) -> Recovery {
        Recovery::RerunReachesClean
    }
}

/// `kubectl get <resources> [-n ns] -o json` as the admin: the items. `resources` is what
/// kubectl takes, words separated by spaces (`deployments.apps,services`,
/// `namespace/shop meshes.appmesh.k8s.aws/shop`). Missing objects are left out.
pub fn snapshot(
    cluster: &TestCluster,
    namespace: Option<&str>,
    resources: &str,
) -> Result<Vec<Value>> {
    let mut command = cluster.kubectl();
    command.arg("get").args(resources.split_whitespace());
    command.args(["-o", "json", "--ignore-not-found"]);
    if let Some(ns) = namespace {
        command.args(["-n", ns]);
    }
    let output = command.output().context("running kubectl get")?;
    anyhow::ensure!(
        output.status.success(),
        "kubectl get {resources}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    if output.stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_slice(&output.stdout).context("kubectl's JSON")?;
    Ok(match value.get("items").and_then(Value::as_array) {
        Some(items) => items.clone(),
        None => vec![value],
    })
}

/// What is compared of `object`: everything but what the server or a controller sets, so that
/// two runs from equal start states compare equal exactly when they left the same objects.
///
/// Removed from `metadata`: `uid`, `resourceVersion`, `creationTimestamp`, `generation`,
/// `selfLink`, `managedFields` (assigned by the apiserver on every create or write, different
/// for every run and every retry; `managedFields` also records timestamps), the uid in
/// `ownerReferences` (the owner's uid), `deletionTimestamp` (kept as `"<set>"`: that an
/// object is being deleted is state, when is not), and the annotation
/// `deployment.kubernetes.io/revision` (the Deployment controller counts template changes);
/// from `spec.meshRef` and `spec.virtualGatewayRef` of App Mesh objects, the referred
/// object's uid.
/// Removed: `status` (none of the commands writes a status; controllers and the kubelet
/// stand-in do). The value of the pod-template annotation `kubectl.kubernetes.io/restartedAt`
/// becomes `"<time>"` (rollout writes the time of the run, which is the only thing that may
/// differ between two equal runs). Then every unique name of the run becomes its placeholder.
pub fn normalise(object: &Value, names: &[(String, String)]) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    if let Some(metadata) = object.get_mut("metadata") {
        normalise_metadata(metadata);
    }
    // App Mesh's webhook writes the uid of the Mesh (VirtualGateway) an object belongs to
    // into `spec.meshRef` (`spec.virtualGatewayRef`): a server-assigned uid of another object.
    for reference in ["/spec/meshRef", "/spec/virtualGatewayRef"] {
        if let Some(reference) = object.pointer_mut(reference).and_then(Value::as_object_mut) {
            reference.remove("uid");
        }
    }
    if let Some(template) = object.pointer_mut("/spec/template/metadata") {
        normalise_metadata(template);
        if let Some(annotations) = template
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
            && let Some(value) = annotations.get_mut("kubectl.kubernetes.io/restartedAt")
        {
            *value = Value::String("<time>".into());
        }
    }
    let mut text = object.to_string();
    let mut names: Vec<&(String, String)> = names.iter().collect();
    // Longest first: `shop-1` must not replace the start of `shop-12`.
    names.sort_by_key(|(actual, _)| std::cmp::Reverse(actual.len()));
    for (actual, placeholder) in names {
        text = text.replace(actual.as_str(), placeholder);
    }
    serde_json::from_str(&text).unwrap_or(object)
}

fn normalise_metadata(metadata: &mut Value) {
    let Some(map) = metadata.as_object_mut() else {
        return;
    };
    for field in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "selfLink",
        "managedFields",
    ] {
        map.remove(field);
    }
    if map.contains_key("deletionTimestamp") {
        map.insert("deletionTimestamp".into(), Value::String("<set>".into()));
    }
    if let Some(owners) = map.get_mut("ownerReferences").and_then(Value::as_array_mut) {
        for owner in owners {
            if let Some(owner) = owner.as_object_mut() {
                owner.remove("uid");
            }
        }
    }
    if let Some(annotations) = map.get_mut("annotations").and_then(Value::as_object_mut) {
        annotations.remove("deployment.kubernetes.io/revision");
        if annotations.is_empty() {
            map.remove("annotations");
        }
    }
}

/// A state: `Kind namespace/name` → the normalised object.
pub type State = BTreeMap<String, Value>;

fn state_of(objects: Vec<Value>, names: &[(String, String)]) -> State {
    objects
        .iter()
        .map(|object| normalise(object, names))
        .map(|object| {
            let key = format!(
                "{} {}/{}",
                object["kind"].as_str().unwrap_or("?"),
                object["metadata"]["namespace"].as_str().unwrap_or(""),
                object["metadata"]["name"].as_str().unwrap_or("?")
            );
            (key, object)
        })
        .collect()
}

/// A readable difference between two states (`-` expected, `+` found), per object.
pub fn diff(expected: &State, found: &State) -> String {
    let mut out = String::new();
    let keys: std::collections::BTreeSet<&String> = expected.keys().chain(found.keys()).collect();
    for key in keys {
        match (expected.get(key), found.get(key)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(_), None) => out.push_str(&format!("- {key} (missing)\n")),
            (None, Some(_)) => out.push_str(&format!("+ {key} (not expected)\n")),
            (Some(a), Some(b)) => {
                out.push_str(&format!("~ {key}:\n"));
                let a = serde_json::to_string_pretty(a).unwrap_or_default();
                let b = serde_json::to_string_pretty(b).unwrap_or_default();
                out.push_str(&format!(
                    "{}\n",
                    pretty_assertions::StrComparison::new(&a, &b)
                ));
            }
            (None, None) => {}
        }
    }
    out
}

/// The fault kinds a sweep cycles through. Reads get the first five; writes also get
/// [`Fault::DropAfterForwarding`] (a write that happened but whose reply is lost), which for a
/// read is only a dropped connection.
pub const READ_FAULTS: [Fault; 5] = [
    Fault::Status(500),
    Fault::Status(503),
    Fault::TooManyRequests {
        retry_after_seconds: 1,
    },
    Fault::DropConnection,
    Fault::Status(409),
];

pub fn write_faults() -> [Fault; 6] {
    [
        Fault::Status(500),
        Fault::Status(503),
        Fault::TooManyRequests {
            retry_after_seconds: 1,
        },
        Fault::DropConnection,
        Fault::Status(409),
        Fault::DropAfterForwarding,
    ]
}

/// A request that may change something: not a read, and not one of the reviews a client
/// POSTs to ask about its rights.
fn is_write(request: &RecordedRequest) -> bool {
    request.method != Method::GET
        && request.method != Method::HEAD
        && !request.uri.contains("/selfsubjectaccessreviews")
        && !request.uri.contains("/selfsubjectrulesreviews")
}

/// The positions to fault: every one when there are at most `at_least`, otherwise
/// `at_least` spread evenly over the sequence plus the first write, every write (they are
/// where half-written states come from) and the last request, in order.
pub fn positions(requests: &[RecordedRequest], at_least: usize) -> Vec<usize> {
    let total = requests.len();
    if total <= at_least {
        return (0..total).collect();
    }
    let mut chosen: std::collections::BTreeSet<usize> = (0..at_least)
        .map(|i| i * (total - 1) / (at_least - 1))
        .collect();
    chosen.extend(
        requests
            .iter()
            .enumerate()
            .filter(|(_, r)| is_write(r))
            .map(|(i, _)| i),
    );
    chosen.insert(total - 1);
    chosen.into_iter().collect()
}

/// The fault for each position: cycling through [`write_faults`] over the writes and
/// [`READ_FAULTS`] over the reads of the clean run.
pub fn faults_for(requests: &[RecordedRequest], positions: &[usize]) -> Vec<(usize, Fault)> {
    let (mut reads, mut writes) = (0, 0);
    let write_kinds = write_faults();
    positions
        .iter()
        .map(|&k| {
            let fault = if requests.get(k).is_some_and(is_write) {
                writes += 1;
                write_kinds[(writes - 1) % write_kinds.len()].clone()
            } else {
                reads += 1;
                READ_FAULTS[(reads - 1) % READ_FAULTS.len()].clone()
            };
            (k, fault)
        })
        .collect()
}

/// What a sweep found.
#[derive(Debug, Default)]
pub struct SweepReport {
    pub command: String,
    /// Requests of the clean run.
    pub requests: usize,
    /// Writes among them.
    pub writes: usize,
    /// Positions chosen.
    pub positions: usize,
    /// Runs whose fault fired.
    pub injected: usize,
    /// Runs that exited 0 and ended exactly as the clean run.
    pub finished_as_clean: usize,
    /// Runs that exited non-zero and whose recovery gave back the state it must.
    pub recovered: usize,
    /// Positions not reached (the faulted run made fewer requests than the clean one).
    pub not_reached: usize,
    /// Every run that ended otherwise: position, fault, exit code, stderr, diff.
    pub failures: Vec<String>,
    pub elapsed: Duration,
}

impl SweepReport {
    /// `label: 23 requests, 23 faults injected, 20 finished as clean run, 3 stopped and undone
    /// exactly (41 s)`.
    pub fn summary(&self, recovery: Recovery) -> String {
        let recovered = match recovery {
            Recovery::UndoRestoresStart => "stopped and undone exactly",
            Recovery::RerunReachesClean => "stopped and finished by a rerun",
        };
        format!(
            "{}: {} requests ({} writes), {} positions, {} faults injected, {} finished as clean run, {} {recovered}{}, {} failed ({:.0} s)",
            self.command,
            self.requests,
            self.writes,
            self.positions,
            self.injected,
            self.finished_as_clean,
            self.recovered,
            if self.not_reached > 0 {
                format!(", {} positions not reached", self.not_reached)
            } else {
                String::new()
            },
            self.failures.len(),
            self.elapsed.as_secs_f64()
        )
    }
}

fn cut(text: &str, limit: usize) -> String {
    let count = text.chars().count();
    if count <= limit {
        return text.to_owned();
    }
    let tail: String = text.chars().skip(count - limit).collect();
    format!("…{tail}")
}

/// The sweep: a clean run (its requests recorded), then one run per chosen position with one
/// fault there. Every run goes through `proxy` (its rules are replaced). Errors of the test
/// harness itself (a start state that cannot be built) are returned; outcomes of the command
/// are in the report.
pub fn sweep<S: Scenario>(
    cluster: &TestCluster,
    proxy: &FaultProxy,
    scenario: &S,
    at_least: usize,
) -> Result<SweepReport> {
    let started = Instant::now();
    let mut report = SweepReport {
        command: scenario.name().to_owned(),
        ..SweepReport::default()
    };

    // The clean run.
    let start = scenario.prepare(cluster)?;
    let names = scenario.names(&start);
    let clean_start = state_of(scenario.snapshot(cluster, &start)?, &names);
    proxy.clear_rules();
    proxy.clear_journal();
    let run = scenario.run(&start, proxy.kubeconfig_path())?;
    anyhow::ensure!(
        run.code == 0,
        "{}: the clean run exited {}:\n{}",
        scenario.name(),
        run.code,
        run.stderr
    );
    let mut requests = proxy.requests();
    requests.sort_by_key(|r| r.arrival);
    let clean_final = state_of(scenario.snapshot(cluster, &start)?, &names);
    anyhow::ensure!(
        clean_final != clean_start,
        "{}: the clean run changed nothing",
        scenario.name()
    );
    report.requests = requests.len();
    report.writes = requests.iter().filter(|r| is_write(r)).count();
    eprintln!(
        "{}: clean run made {} requests ({} writes)",
        scenario.name(),
        report.requests,
        report.writes
    );
    let recovery_target = match scenario.recovery() {
        Recovery::UndoRestoresStart => &clean_start,
        Recovery::RerunReachesClean => &clean_final,
    };

    let chosen = positions(&requests, at_least);
    report.positions = chosen.len();
    for (k, fault) in faults_for(&requests, &chosen) {
        let start = scenario.prepare(cluster)?;
        let names = scenario.names(&start);
        let before = state_of(scenario.snapshot(cluster, &start)?, &names);
        anyhow::ensure!(
            before == clean_start,
            "{}: the start state for position {k} differs from the clean run's:\n{}",
            scenario.name(),
            diff(&clean_start, &before)
        );
        proxy.clear_rules();
        proxy.clear_journal();
        proxy.add_rule(FaultRule::new(fault.clone()).skip(k).times(1));
        let run = scenario.run(&start, proxy.kubeconfig_path())?;
        proxy.clear_rules();
        let fired = proxy.requests().iter().any(|r| r.fault.is_some());
        if fired {
            report.injected += 1;
        } else {
            report.not_reached += 1;
        }
        let after = state_of(scenario.snapshot(cluster, &start)?, &names);
        let what = format!(
            "position {k} ({}), fault {fault:?}{}",
            requests
                .get(k)
                .map(|r| format!("{} {}", r.method, r.uri))
                .unwrap_or_default(),
            if fired { "" } else { " (not reached)" }
        );
        if run.code == 0 {
            if after == clean_final {
                report.finished_as_clean += 1;
            } else {
                report.failures.push(format!(
                    "{what}: exit 0 but not the clean run's final state:\n{}\nstderr:\n{}",
                    diff(&clean_final, &after),
                    cut(&run.stderr, 3000)
                ));
            }
            continue;
        }
        let recovered = scenario.recover(cluster, &start)?;
        let restored = state_of(scenario.snapshot(cluster, &start)?, &names);
        match recovered {
            Some(undo) if undo.code == 0 && restored == *recovery_target => {
                eprintln!("{}: {what}: exit {}, recovered", scenario.name(), run.code);
                report.recovered += 1;
            }
            Some(undo) => report.failures.push(format!(
                "{what}: exit {}; its recovery exited {} and left:\n{}\nstderr:\n{}\nrecovery stderr:\n{}",
                run.code,
                undo.code,
                diff(recovery_target, &restored),
                cut(&run.stderr, 3000),
                cut(&undo.stderr, 2000)
            )),
            None if restored == *recovery_target => {
                eprintln!(
                    "{}: {what}: exit {}, nothing changed, no undo record",
                    scenario.name(),
                    run.code
                );
                report.recovered += 1;
            }
            None => report.failures.push(format!(
                "{what}: exit {} and no undo record, but the state changed:\n{}\nstderr:\n{}",
                run.code,
                diff(recovery_target, &restored),
                cut(&run.stderr, 3000)
            )),
        }
    }
    report.elapsed = started.elapsed();
    eprintln!("{}", report.summary(scenario.recovery()));
    Ok(report)
}

/// `names` as the pairs [`Scenario::names`] returns.
pub fn placeholders(names: &[(&str, &str)]) -> Vec<(String, String)> {
    names
        .iter()
        .map(|(a, p)| ((*a).to_owned(), (*p).to_owned()))
        .collect()
}

/// The sweep of `scenario` on the shared cluster as a test: skipped when there is no cluster
/// (see [`crate::cluster_or_skip`]); panics with every failed run, or when more than a tenth
/// of the positions were never reached.
pub fn check<S: Scenario>(scenario: &S) {
    let Some(cluster) = crate::cluster_or_skip(scenario.name()) else {
        return;
    };
    let report = cluster
        .start_fault_proxy()
        .and_then(|proxy| sweep(cluster, &proxy, scenario, AT_LEAST));
    let report = match report {
        Ok(report) => report,
        Err(error) => panic!("{}: {error:#}", scenario.name()),
    };
    assert!(
        report.failures.is_empty(),
        "{}\n\n{}",
        report.summary(scenario.recovery()),
        report.failures.join("\n\n")
    );
    assert!(
        report.not_reached * 10 <= report.positions,
        "most positions must be reached: {}",
        report.summary(scenario.recovery())
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn request(method: Method, uri: &str) -> RecordedRequest {
        RecordedRequest {
            arrival: 0,
            method,
            uri: uri.into(),
            status: Some(200),
            fault: None,
        }
    }

    #[test]
    fn a_long_sequence_is_sampled_with_every_write_the_first_and_the_last() {
        let mut requests: Vec<RecordedRequest> = (0..100)
            .map(|_| request(Method::GET, "/api/v1/pods"))
            .collect();
        requests[41] = request(Method::PATCH, "/api/v1/namespaces/a");
        requests[42] = request(
            Method::POST,
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        );
        let chosen = positions(&requests, 30);
        assert!(chosen.len() >= 30, "{chosen:?}");
        assert_eq!(chosen.first(), Some(&0));
        assert_eq!(chosen.last(), Some(&99));
        assert!(chosen.contains(&41), "every write: {chosen:?}");
        assert!(chosen.windows(2).all(|w| w[0] < w[1]));
        let short = &requests[..20];
        assert_eq!(positions(short, 30), (0..20).collect::<Vec<_>>());
        let faults = faults_for(&requests, &[41, 42, 43]);
        assert_eq!(faults[0], (41, Fault::Status(500)), "first write");
        assert_eq!(
            faults[1],
            (42, Fault::Status(500)),
            "an access review is a read"
        );
        assert_eq!(faults[2], (43, Fault::Status(503)));
        let writes: Vec<usize> = (0..100).collect();
        let all_writes: Vec<RecordedRequest> =
            (0..7).map(|_| request(Method::DELETE, "/x")).collect();
        let kinds: Vec<Fault> = faults_for(&all_writes, &writes[..7])
            .into_iter()
            .map(|(_, f)| f)
            .collect();
        assert_eq!(kinds[5], Fault::DropAfterForwarding);
        assert_eq!(kinds[6], Fault::Status(500), "cycles");
    }

    #[test]
    fn normalise_drops_what_the_server_sets_and_names_the_run() {
        let object = json!({
            "kind": "Deployment",
            "metadata": {"name": "cart", "namespace": "shop-12", "uid": "u", "resourceVersion": "9",
                "generation": 3, "creationTimestamp": "t", "managedFields": [{}],
                "annotations": {"deployment.kubernetes.io/revision": "2", "team": "shop-1"},
                "ownerReferences": [{"kind": "X", "name": "o", "uid": "v"}]},
            "spec": {"meshRef": {"name": "shop-12-mesh", "uid": "m"},
                "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-12-05T08:00:00Z"}}}},
            "status": {"replicas": 1},
        });
        let names = placeholders(&[("shop-1", "A"), ("shop-12", "NS")]);
        assert_eq!(
            normalise(&object, &names),
            json!({
                "kind": "Deployment",
                "metadata": {"name": "cart", "namespace": "NS", "annotations": {"team": "A"},
                    "ownerReferences": [{"kind": "X", "name": "o"}]},
                "spec": {"meshRef": {"name": "NS-mesh"},
                    "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "<time>"}}}},
            })
        );
    }
}
