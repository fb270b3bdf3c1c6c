//! SPMT's item-level codes for the stages after the scan (spmt-features §4.2); the scan's own
//! codes are `crate::scan::codes`.

pub const CANNOT_OPEN: &str = "0x01410001";
pub const UPLOAD_FAILED: &str = "0x01510001";
pub const SUBMIT_FAILED: &str = "0x01610002";
pub const FATAL: &str = "0x01710006";
pub const NOT_ALL_MIGRATED: &str = "0x01710009";
