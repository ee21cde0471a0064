//! The flags every command that changes a cluster takes, spelled as kubectl spells them, and
//! the confirmation they control.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::{ChangeError, DEFAULT_FIELD_MANAGER};

/// `--dry-run`, as kubectl spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DryRun {
    /// Change the cluster.
    #[default]
    None,
    /// Plan only: read the cluster, write nothing.
    Client,
    /// Send every write with `dryRun=All`: the server validates and admits it, nothing is stored.
    Server,
}

impl DryRun {
    /// kubectl's suffix for printed results: ` (dry run)`, ` (server dry run)`.
    pub fn suffix(self) -> &'static str {
        match self {
            DryRun::None => "",
            DryRun::Client => " (dry run)",
            DryRun::Server => " (server dry run)",
        }
    }
}

/// `--dry-run --yes --undo-file --field-manager`: flatten into a command's clap struct (give it
/// a `next_help_heading`).
#[derive(Debug, Clone, Args)]
pub struct ChangeArgs {
    /// `client` plans only; `server` sends every write as a server dry run (validated and
    /// admitted, nothing stored). A bare --dry-run means client.
    #[arg(long, value_enum, value_name = "none|client|server", num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: Option<DryRun>,

    /// Do not ask for confirmation (required when stdin or stderr is not a terminal).
    #[arg(long)]
    pub yes: bool,

    /// Where to record what is changed, for undo
    /// [default: ./appmesh2istio-undo-YYYYMMDDTHHMMSSZ.yaml, UTC].
    #[arg(long, value_name = "FILE")]
    pub undo_file: Option<PathBuf>,

    /// Name of the manager used to track field ownership.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_FIELD_MANAGER)]
    pub field_manager: String,
}

impl Default for ChangeArgs {
    fn default() -> Self {
        ChangeArgs {
            dry_run: None,
            yes: false,
            undo_file: None,
            field_manager: DEFAULT_FIELD_MANAGER.to_owned(),
        }
    }
}

impl ChangeArgs {
    pub fn dry_run(&self) -> DryRun {
        self.dry_run.unwrap_or_default()
    }

    /// The first of these flags given on the command line (for "needs --apply" usage errors).
    pub fn first_given(&self) -> Option<&'static str> {
        [
            (self.dry_run.is_some(), "--dry-run"),
            (self.yes, "--yes"),
            (self.undo_file.is_some(), "--undo-file"),
            (
                self.field_manager != DEFAULT_FIELD_MANAGER,
                "--field-manager",
            ),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }
}

/// `--yes`, or a yes at the prompt when stdin and stderr are terminals; otherwise refuse (an
/// error saying to rerun with `--yes`). `Ok(false)`: the user declined.
pub fn confirm(yes: bool, question: &str) -> Result<bool, ChangeError> {
    if yes {
        return Ok(true);
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(ChangeError::NotConfirmed(
            "refusing to change the cluster without confirmation: standard input or standard error is not a terminal; \
             rerun with --yes to apply the plan above (nothing was changed)"
                .into(),
        ));
    }
    dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact_on(&dialoguer::console::Term::stderr())
        .map_err(|e| ChangeError::NotConfirmed(format!("cannot read the confirmation: {e}")))
}
