//! The domain of appmesh2istio, shared by every `kubectl appmesh2istio` subcommand.
//!
//! The pipeline is `load` (files or cluster into an [`load::Inventory`]) → `resolve` (App Mesh
//! webhook and controller semantics) → `convert` (one module per App Mesh kind, producing Istio
//! objects and [`findings::Finding`]s) → `validate` (Istio's own rules, run on every output) →
//! `render` (YAML/JSON/directory on stdout, report on stderr).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod appmesh;
pub mod change;
pub mod cleanup;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod completion;
pub mod convert;
pub mod exit;
pub mod findings;
pub mod gateway_api;
pub mod istio;
pub mod k8s;
pub mod label;
pub mod load;
pub mod origin;
pub mod precheck;
pub mod render;
pub mod report;
pub mod resolve;
pub mod rollout;
pub mod validate;
