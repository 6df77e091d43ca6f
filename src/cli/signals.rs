//! The command line's signal watcher: the first SIGINT/SIGTERM cancels the run gracefully
//! through its [`Canceller`], the second exits at once (the sweep is skipped; `archsmoke gc`
//! finds what is left by its label). It lives here because only the command line owns the
//! process: the pipeline is a library and never installs handlers or exits.

use crate::pipeline::Canceller;

/// Watch for signals until the run ends (the pipeline drops this future then).
pub async fn watch(canceller: Canceller) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    canceller.cancel();
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    crate::report::live::show_cursor();
    eprintln!("interrupted twice: exiting without cleanup; `archsmoke gc` removes what is left");
    std::process::exit(crate::exit::INFRASTRUCTURE);
}
