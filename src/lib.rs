//! archsmoke: smoke-test a container image on every CPU architecture it claims to support.
pub mod emulation;
