//! The exit-code contract, in one place.
//!
//! Scripts gate releases on these numbers, so they never change meaning. When a run finds both a
//! failed test and an infrastructure failure, it exits [`TEST_FAILED`]: a defect was proven, and
//! retrying the infrastructure would not make it go away.

/// Every requested platform ran and every test passed.
pub const SUCCESS: i32 = 0;
/// At least one test (or a platform of the image itself) failed.
pub const TEST_FAILED: i32 = 1;
/// The command line or the spec is wrong; nothing was run.
pub const USAGE: i32 = 2;
/// The engine, a registry or an emulator failed, so something could not be checked.
pub const INFRASTRUCTURE: i32 = 3;
