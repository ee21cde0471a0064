//! Command-line pieces shared by every subcommand, spelled the way kubectl spells them.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// `-f/--filename` and `-R/--recursive`, as in `kubectl apply`.
#[derive(Debug, Clone, Default, Args)]
pub struct FileArgs {
    /// Files or directories to read App Mesh manifests from; `-` reads standard input.
    /// Multi-document YAML, JSON and `kind: List` are accepted.
    #[arg(short = 'f', long = "filename", value_name = "FILE|DIR|-")]
    pub filenames: Vec<PathBuf>,

    /// Descend into sub-directories of the directories given with -f.
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

/// The data formats written to standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Multi-document YAML, ready for `kubectl apply -f -`.
    Yaml,
    /// One `v1 List` holding every object.
    Json,
}

/// `--color`: whether the human report on standard error uses colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorChoice {
    /// Colour when standard error is a terminal and NO_COLOR is unset.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour text written to standard error.
    pub fn enabled_for_stderr(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stderr().is_terminal()
            }
        }
    }

    /// Whether to colour text written to standard output (precheck's report goes there):
    /// `auto` also needs TERM other than `dumb`.
    pub fn enabled_for_stdout(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var("TERM").map_or(true, |t| t != "dumb")
                    && std::io::stdout().is_terminal()
            }
        }
    }
}

/// Write data to stdout; a closed pipe (`| head`) is the reader's choice, not our failure.
pub fn write_stdout(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// A document (a plan, a report) on stdout, as `-o json|yaml` asks.
pub fn write_document(format: OutputFormat, document: &serde_json::Value) -> std::io::Result<()> {
    let text = match format {
        OutputFormat::Json => {
            let mut text = serde_json::to_string_pretty(document).map_err(std::io::Error::other)?;
            text.push('\n');
            text
        }
        OutputFormat::Yaml => serde_saphyr::to_string(document).map_err(std::io::Error::other)?,
    };
    write_stdout(&text)
}

/// Run a command's work on a tokio runtime (kube's client needs one) and return its exit
/// code; exit 1, saying why, when the runtime cannot start. `worker_threads`: `None` for one
/// per core (precheck's fleet mode decodes several clusters' lists at once), else that many
/// (a single cluster's requests are I/O-bound; two threads keep a reply being decoded while
/// the next one arrives).
pub fn block_on<F>(worker_threads: Option<usize>, work: F) -> i32
where
    F: std::future::Future<Output = i32>,
{
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = worker_threads {
        builder.worker_threads(threads);
    }
    match builder.enable_all().build() {
        Ok(runtime) => runtime.block_on(work),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            crate::exit::FAILURE
        }
    }
}
