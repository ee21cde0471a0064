//! Exit codes. Scripts rely on them, so they are part of the interface and documented in the
//! README; never change the meaning of a code.

/// Everything asked for was done.
pub const SUCCESS: i32 = 0;
/// The command could not do its job: unreadable or invalid input, cluster unreachable, …
pub const FAILURE: i32 = 1;
/// Command-line usage error (clap's own code).
pub const USAGE: i32 = 2;
/// convert: partial. Something was not converted (the rest was printed or applied), or with
/// `--strict` something was not carried over exactly (then nothing was printed or applied).
pub const PARTIAL: i32 = 3;
/// Our own output failed Istio validation: a bug in appmesh2istio; nothing was written.
pub const INTERNAL: i32 = 4;
/// precheck: a check found something at or above `--fail-on` (default: error). The report says
/// what. (When precheck cannot run at all, e.g. the cluster is unreachable, it exits with
/// [`FAILURE`].) cleanup: a gate failed (the report says which command fixes it); nothing was
/// changed.
pub const CHECKS_FAILED: i32 = 5;
/// convert --apply: objects to be written already exist and are not managed by appmesh2istio
/// (no `app.kubernetes.io/managed-by: appmesh2istio` label); nothing was changed. Rerun with
/// `--force-conflicts` to take them over.
pub const CONFLICTS: i32 = 6;
