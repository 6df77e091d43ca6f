//! Checks that compare what a container did with what the spec expects. Pure functions: the
//! runner hands them captured results, they hand back the expectations that did not hold.

pub mod across;
pub mod output;
pub mod service;
