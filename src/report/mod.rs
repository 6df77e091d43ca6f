//! Reporters: they read [`crate::event::Event`]s and [`crate::outcome::RunReport`]s and write
//! text; none of them touches the engine or a registry.

pub mod doctor;
pub mod inspect;
pub mod terminal;
