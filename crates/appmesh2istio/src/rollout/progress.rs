//! Progress on stderr: on a terminal an overall bar and one line per workload in flight
//! (indicatif); otherwise plain timestamped lines, one per event, for logs and CI. And the final
//! result table.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::change::ObjectKey;

/// Where a workload stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Pending,
    Running(String),
    Verified {
        pods: usize,
    },
    Failed(String),
    /// Not started: an earlier failure, a failed wave or Ctrl-C stopped the run.
    NotStarted(String),
    /// The canary failed: the copy was removed, the workload left as it was.
    CanaryFailed(String),
}

impl State {
    pub fn id(&self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Running(_) => "interrupted",
            State::Verified { .. } => "verified",
            State::Failed(_) => "failed",
            State::NotStarted(_) => "notStarted",
            State::CanaryFailed(_) => "canaryFailed",
        }
    }

    pub fn ok(&self) -> bool {
        matches!(self, State::Verified { .. })
    }
}

/// Progress reporting and the state of every workload.
pub struct Reporter {
    bars: Option<(MultiProgress, ProgressBar)>,
    lines: Mutex<BTreeMap<ObjectKey, ProgressBar>>,
    states: Mutex<BTreeMap<ObjectKey, State>>,
    order: Vec<ObjectKey>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `08:03:15Z`: UTC time of day for plain progress lines.
pub fn timestamp() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    let s = now.as_second().rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

/// RFC 3339 to the second, as `kubectl rollout restart` writes `restartedAt`.
pub fn rfc3339_now() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    k8s_openapi::jiff::Timestamp::from_second(now.as_second())
        .map_or_else(|_| now.to_string(), |t| t.to_string())
}

impl Reporter {
    /// `fancy`: bars (stderr is a terminal and `-o` is not given).
    pub fn new(order: Vec<ObjectKey>) -> Reporter {
        let fancy = std::io::stderr().is_terminal();
        let bars = fancy.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(order.len() as u64));
            overall.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} workloads {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            (multi, overall)
        });
        let states = order.iter().map(|k| (k.clone(), State::Pending)).collect();
        Reporter {
            bars,
            lines: Mutex::new(BTreeMap::new()),
            states: Mutex::new(states),
            order,
        }
    }

    /// A workload's state changed.
    pub fn set(&self, key: &ObjectKey, state: State) {
        let text = match &state {
            State::Pending => return,
            State::Running(s) => s.clone(),
            State::Verified { pods } => format!("verified: {pods} pod(s) on Istio"),
            State::Failed(m) => format!("FAILED: {m}"),
            State::NotStarted(m) => format!("not started: {m}"),
            State::CanaryFailed(m) => format!("canary FAILED, workload left as it was: {m}"),
        };
        let finished = !matches!(state, State::Running(_));
        lock(&self.states).insert(key.clone(), state);
        let name = format!(
            "{} ({})",
            key.kubectl_name(),
            key.namespace.as_deref().unwrap_or("")
        );
        match &self.bars {
            None => eprintln!("{} {name}: {text}", timestamp()),
            Some((multi, overall)) => {
                let mut lines = lock(&self.lines);
                if finished {
                    if let Some(line) = lines.remove(key) {
                        line.finish_and_clear();
                        multi.remove(&line);
                    }
                    overall.inc(1);
                    multi.println(format!("{name}: {text}")).ok();
                } else {
                    let line = lines.entry(key.clone()).or_insert_with(|| {
                        let line = multi.add(ProgressBar::new_spinner());
                        line.enable_steady_tick(Duration::from_millis(120));
                        line
                    });
                    line.set_message(format!("{name}: {text}"));
                }
            }
        }
    }

    /// A line that belongs to no workload (`wave 2 of 3: namespace shop`).
    pub fn note(&self, text: &str) {
        match &self.bars {
            None => eprintln!("{} {text}", timestamp()),
            Some((multi, _)) => {
                multi.println(text).ok();
            }
        }
    }

    pub fn state(&self, key: &ObjectKey) -> State {
        lock(&self.states)
            .get(key)
            .cloned()
            .unwrap_or(State::Pending)
    }

    /// Every workload not finished becomes `NotStarted(why)` (when never started) or stays
    /// `Running` (interrupted mid-way).
    pub fn stop_pending(&self, why: &str) {
        for state in lock(&self.states).values_mut() {
            if *state == State::Pending {
                *state = State::NotStarted(why.to_owned());
            }
        }
    }

    pub fn finish(&self) {
        if let Some((multi, overall)) = &self.bars {
            for (_, line) in std::mem::take(&mut *lock(&self.lines)) {
                line.finish_and_clear();
                multi.remove(&line);
            }
            overall.finish_and_clear();
        }
    }

    /// The results, in plan order.
    pub fn states(&self) -> Vec<(ObjectKey, State)> {
        let states = lock(&self.states);
        self.order
            .iter()
            .map(|k| (k.clone(), states.get(k).cloned().unwrap_or(State::Pending)))
            .collect()
    }

    /// The final table.
    pub fn table(&self) -> String {
        let mut table = Table::new();
        table
            .load_style(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .force_no_tty()
            .set_header(["KIND", "NAMESPACE", "NAME", "RESULT", "DETAILS"]);
        if let Some(width) = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<u16>().ok())
        {
            table.set_width(width);
        }
        for (key, state) in self.states() {
            let details = match &state {
                State::Verified { pods } => {
                    format!("{pods} pod(s) on Istio, none with App Mesh's Envoy")
                }
                State::Running(s) => format!("interrupted while: {s}"),
                State::Failed(m) | State::NotStarted(m) | State::CanaryFailed(m) => m.clone(),
                State::Pending => String::new(),
            };
            table.add_row([
                key.kind.clone(),
                key.namespace.clone().unwrap_or_default(),
                key.name.clone(),
                state.id().to_owned(),
                details,
            ]);
        }
        format!("{table}\n")
    }
}
