//! No process is left behind: the cluster's processes are stopped by PID when
//! a private cluster is dropped, and by the watchdog when the test process
//! ends without dropping the shared one (normal exit, panic, SIGKILL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_cluster::{ClusterOptions, TestCluster, cluster_required, unavailable_reason};

const CHILD_MODE: &str = "TEST_CLUSTER_CHILD_MODE";

fn available(test: &str) -> bool {
    match unavailable_reason() {
        None => true,
        Some(reason) if cluster_required() => panic!("{test}: test cluster unavailable ({reason})"),
        Some(reason) => {
            eprintln!("skipped {test}: test cluster unavailable ({reason})");
            false
        }
    }
}

/// True while `pid` is a live (non-zombie) process whose command line names
/// `dir`, i.e. still one of the cluster's processes.
fn alive_in(pid: u32, dir: &Path) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
        return false;
    };
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().next());
    if state == Some("Z") {
        return false;
    }
    let cmdline = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&cmdline).contains(&*dir.to_string_lossy())
}

fn process_exists(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            != Some("Z")
    })
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn private_cluster_stops_its_processes_when_dropped() {
    if !available("private_cluster_stops_its_processes_when_dropped") {
        return;
    }
    let cluster = TestCluster::start(ClusterOptions {
        controller_manager: true,
        ..ClusterOptions::minimal()
    })
    .unwrap();
    let pids = cluster.pids();
    let names: Vec<&str> = pids.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["etcd", "kube-apiserver", "kube-controller-manager"]);
    let dir = cluster.dir().to_path_buf();
    for (name, pid) in &pids {
        assert!(alive_in(*pid, &dir), "{name} ({pid}) should be running");
    }
    let watchdog = cluster.watchdog_pid();
    drop(cluster);
    // Drop waits for every process: nothing may remain right after it.
    for (name, pid) in &pids {
        assert!(!alive_in(*pid, &dir), "{name} ({pid}) survived drop");
    }
    wait_until("the watchdog to exit", Duration::from_secs(10), || {
        !process_exists(watchdog)
    });
    wait_until(
        "the cluster dir to be removed",
        Duration::from_secs(10),
        || !dir.exists(),
    );
}

/// Run only as a child of `no_process_left_behind_*`: starts the shared
/// cluster, reports its PIDs, then ends the way the parent asked.
#[test]
#[ignore = "a helper process for no_process_left_behind_when_the_test_process_ends"]
fn child_holding_the_shared_cluster() {
    let Ok(mode) = std::env::var(CHILD_MODE) else {
        return;
    };
    let cluster = TestCluster::shared().unwrap();
    let pids: Vec<String> = cluster
        .pids()
        .iter()
        .map(|(_, pid)| pid.to_string())
        .collect();
    println!(
        "CLUSTER {} {} {}",
        cluster.watchdog_pid(),
        cluster.dir().display(),
        pids.join(",")
    );
    match mode.as_str() {
        // `exit` runs no destructors, like the end of a test binary.
        "exit" => std::process::exit(0),
        "panic" => panic!("the child panics while holding the shared cluster"),
        _ => loop {
            std::thread::sleep(Duration::from_secs(1));
        },
    }
}

#[test]
fn no_process_left_behind_when_the_test_process_ends() {
    if !available("no_process_left_behind_when_the_test_process_ends") {
        return;
    }
    let me = std::env::current_exe().unwrap();
    for mode in ["exit", "panic", "sigkill"] {
        let mut child = Command::new(&me)
            .args([
                "--ignored",
                "--exact",
                "child_holding_the_shared_cluster",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_MODE, mode)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut report = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            // libtest prints "test <name> ... " before the child's output.
            if let Some((_, rest)) = line.split_once("CLUSTER ") {
                report = Some(rest.to_owned());
                break;
            }
        }
        let report = report.unwrap_or_else(|| panic!("{mode}: the child reported no cluster"));
        let mut fields = report.split(' ');
        let watchdog: u32 = fields.next().unwrap().parse().unwrap();
        let dir = PathBuf::from(fields.next().unwrap());
        let pids: Vec<u32> = fields
            .next()
            .unwrap()
            .split(',')
            .map(|pid| pid.parse().unwrap())
            .collect();
        assert_eq!(pids.len(), 3, "{mode}: etcd, apiserver, controller-manager");
        for pid in &pids {
            assert!(
                alive_in(*pid, &dir),
                "{mode}: {pid} should be running while the child lives"
            );
        }
        if mode == "sigkill" {
            child.kill().unwrap();
        }
        let status = child.wait().unwrap();
        match mode {
            "exit" => assert!(status.success()),
            _ => assert!(!status.success(), "{mode}: {status}"),
        }
        for pid in &pids {
            wait_until(
                &format!("{mode}: process {pid} to be stopped"),
                Duration::from_secs(20),
                || !alive_in(*pid, &dir),
            );
        }
        wait_until(
            &format!("{mode}: the watchdog to exit"),
            Duration::from_secs(20),
            || !process_exists(watchdog),
        );
        wait_until(
            &format!("{mode}: {} to be removed", dir.display()),
            Duration::from_secs(20),
            || !dir.exists(),
        );
    }
}
