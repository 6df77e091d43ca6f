//! `archsmoke gc`: remove what killed runs left behind.

use super::{GlobalArgs, engine_error};
use crate::diagnostic::Diagnostic;
use crate::engine::Engine;
use crate::exit;

pub async fn gc(global: &GlobalArgs) -> Result<i32, Diagnostic> {
    let engine = Engine::connect(global.host.as_deref())
        .await
        .map_err(|e| engine_error(&e))?;
    let removed = engine
        .remove_run(None)
        .await
        .map_err(|e| engine_error(&e))?;
    println!("removed {removed} container(s) left by earlier runs");
    let images = engine
        .remove_repository_tags(crate::run::LOAD_REPOSITORY)
        .await
        .map_err(|e| engine_error(&e))?;
    println!("removed {images} image(s) loaded from OCI layouts by earlier runs");
    Ok(exit::SUCCESS)
}
