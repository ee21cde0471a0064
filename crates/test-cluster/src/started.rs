//! A plugin run in the background, for tests that act on the cluster while it runs (a
//! concurrent writer between its plan and its write): its stderr is read line by line, so the
//! test can wait for the moment it needs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// How long [`Started::wait_for`] waits for its line.
const WAIT: Duration = Duration::from_secs(60);

/// A started command whose stderr is read line by line; stdout is discarded.
pub struct Started {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Started {
    /// Start `command` (stdin closed, stdout discarded, stderr read here).
    ///
    /// # Panics
    /// When the command cannot be started: a test set-up failure.
    pub fn spawn(mut command: Command) -> Started {
        #[allow(clippy::expect_used)]
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the command under test");
        let (sender, lines) = std::sync::mpsc::channel();
        if let Some(stderr) = child.stderr.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Started {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Block until a stderr line contains `text`.
    ///
    /// # Panics
    /// After 60 s, or at the end of the output, with what was seen.
    pub fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(e) => panic!("no line with {text:?} ({e}):\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Wait for the exit; the exit code (-1 when killed by a signal) and the whole stderr.
    ///
    /// # Panics
    /// When the process cannot be waited for.
    pub fn finish(mut self) -> (i32, String) {
        #[allow(clippy::expect_used)]
        let status = self
            .child
            .wait()
            .expect("waiting for the command under test");
        self.seen.extend(self.lines.iter());
        (status.code().unwrap_or(-1), self.seen.join("\n") + "\n")
    }
}
