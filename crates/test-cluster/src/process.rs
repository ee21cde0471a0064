//! Child processes of a cluster, stopped by their own PIDs: directly when the
//! cluster is dropped, and by a watchdog when the test process dies without
//! dropping it (a `static` shared cluster is never dropped; a panic, `exit` or
//! SIGKILL skips destructors too).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A free TCP port on loopback. Another process may take it before we bind it
/// again; cluster start retries on that.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("binding a probe socket on loopback")?;
    Ok(listener.local_addr()?.port())
}

pub struct ManagedProcess {
    pub name: String,
    pub child: Child,
    pub log_path: PathBuf,
}

impl ManagedProcess {
    pub fn spawn(name: &str, mut command: Command, log_dir: &Path) -> Result<Self> {
        let log_path = log_dir.join(format!("{name}.log"));
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let log_err = log.try_clone()?;
        command.stdin(Stdio::null()).stdout(log).stderr(log_err);
        let child = command
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log_path,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(description)` when the process has already exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("{} exited with {status}", self.name)),
            Ok(None) => None,
            Err(error) => Some(format!("{}: {error}", self.name)),
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// SIGTERM, a grace period, then SIGKILL; always reaps the child.
    pub fn stop(&mut self, grace: Duration) {
        if self.exited().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `sh` child that waits for its stdin to reach end-of-file, which happens
/// only when the test process is gone (every fd of ours is close-on-exec, so
/// no other child holds the pipe), then kills the PIDs listed in a file, but
/// only those whose command line still names the cluster directory (a PID
/// reused by an unrelated process is left alone), and removes that directory.
pub struct Watchdog {
    child: Child,
    stdin: Option<ChildStdin>,
    pid_file: PathBuf,
}

const WATCHDOG_SCRIPT: &str = r#"
trap '' INT HUP TERM
pid_file=$1
cluster_dir=$2
read _ignored || true
ours() {
    for p in $(cat "$pid_file" 2>/dev/null); do
        if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF -- "$cluster_dir"; then
            echo "$p"
        fi
    done
}
pids=$(ours)
if [ -n "$pids" ]; then
    kill -TERM $pids 2>/dev/null
    i=0
    while [ $i -lt 50 ] && [ -n "$(ours)" ]; do sleep 0.1; i=$((i + 1)); done
    pids=$(ours)
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
fi
rm -rf -- "$cluster_dir"
"#;

impl Watchdog {
    pub fn start(cluster_dir: &Path) -> Result<Self> {
        let pid_file = cluster_dir.join("pids");
        File::create(&pid_file).with_context(|| format!("creating {}", pid_file.display()))?;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("test-cluster-watchdog")
            .arg(&pid_file)
            .arg(cluster_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: Ctrl-C in a terminal must not kill the
            // watchdog before the processes it guards.
            .process_group(0);
        let mut child = command.spawn().context("starting the watchdog")?;
        let stdin = child.stdin.take();
        if stdin.is_none() {
            bail!("the watchdog has no stdin pipe");
        }
        Ok(Self {
            child,
            stdin,
            pid_file,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn guard(&self, pid: u32) -> Result<()> {
        let mut file = OpenOptions::new()
            .append(true)
            .open(&self.pid_file)
            .with_context(|| format!("opening {}", self.pid_file.display()))?;
        writeln!(file, "{pid}")?;
        Ok(())
    }

    /// For an orderly stop: the processes are already gone, so the watchdog
    /// has nothing to kill and only removes the directory.
    pub fn release(&mut self) {
        let _ = fs::write(&self.pid_file, "");
        self.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_)) | Err(_)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
