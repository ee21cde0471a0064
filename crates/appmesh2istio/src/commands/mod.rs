//! The subcommands' work, behind their thin binaries: each binary parses its flags (clap) into
//! one of these commands' option structs and calls its `run`, which returns the exit code.

pub mod convert;
pub mod install_output;
pub mod precheck;
