//! Fixtures shared by the integration tests: each `tests/*.rs` that needs them declares
//! `mod common;` and uses what it needs.
//!
//! - [`azurite`]: a fresh Azurite per test, for the tests held to real Azure storage.
//! - [`emulator`]: the emulator (the local target) started in-process on loopback, and what
//!   its records say was imported.
//! - [`cli`]: the `spmt` binary and the commands the tests run with it.
//! - [`certs`]: self-signed certificates for app-only sign-in.
//! - [`tree`]: generated source trees, deterministic contents, modification times, walkers.
//! - [`migrate`]: the engine run in-process against a started emulator.

// Each test crate compiles this module and uses a subset of it.
#![allow(dead_code)]

pub mod azurite;
pub mod certs;
pub mod cli;
pub mod emulator;
pub mod migrate;
pub mod tree;
