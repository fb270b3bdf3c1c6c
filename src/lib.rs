//! spmt: an open, cross-platform SharePoint Migration Tool engine.
//!
//! Pipeline, in module order: `scan` → `package` → `crypto` → `azure` (upload) → `spo` (import
//! jobs) → `engine` (orchestration, outcomes) → `store` (SQLite state). `emulator` is the local
//! SharePoint-compatible target; it shares only `wire` and `crypto` with the client.

pub mod azure;
pub mod crypto;
pub mod emulator;
pub mod engine;
pub mod http;
pub mod logging;
pub mod package;
pub mod report;
pub mod scan;
pub mod secrets;
pub mod spo;
pub mod status;
pub mod store;
pub mod wire;
