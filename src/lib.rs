//! spmt: an open, cross-platform SharePoint Migration Tool engine.
//!
//! Pipeline, in module order: `scan` → `package` → `crypto` → `azure` (upload) → `spo` (import
//! jobs) → `engine` (orchestration, outcomes) → `store` (SQLite state). `emulator` is the local
//! SharePoint-compatible target; it shares only `wire` and `crypto` with the client.
//! `session` runs SPMT-shaped sessions (settings, tasks, events) over the engine, and `ffi` is
//! the C ABI over `session` (header: `include/spmt.h`).

pub mod auth;
pub mod azure;
pub mod crypto;
pub mod emulator;
pub mod engine;
pub mod ffi;
pub mod http;
pub mod limits;
pub mod logging;
pub mod package;
pub mod people;
pub mod progress;
pub mod report;
pub mod runner;
pub mod scan;
pub mod secrets;
pub mod session;
pub mod source;
pub mod spo;
pub mod status;
pub mod store;
pub mod task;
pub mod wire;
