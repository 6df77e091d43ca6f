//! Events the runner emits while it works, in the order things happen. Live reporters consume
//! them; the final [`crate::outcome::RunReport`] carries everything they describe, so a reporter
//! that only writes files at the end can ignore them. Like [`crate::outcome`], this is plain data
//! over [`crate::platform`] and [`crate::mode`].

use std::time::Duration;

use serde::Serialize;

use crate::mode::ExecMode;
use crate::outcome::{PlatformReport, TestReport};
use crate::platform::Platform;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The plan is fixed: these platforms, this many tests in all.
    RunStarted {
        run_id: String,
        image: String,
        platforms: Vec<Platform>,
        tests: usize,
    },
    /// A platform's image is being resolved and pulled.
    PlatformStarted {
        platform: Platform,
        /// `None` when no container runs: a spec that only reads the image.
        mode: Option<ExecMode>,
        /// The engine that runs it (its name in the run); `None` without one.
        engine: Option<String>,
        /// Tests planned for this platform.
        tests: usize,
    },
    /// The platform's image checked out; the engine is making it present (a pull, or nothing
    /// when it already has the digest).
    PullStarted {
        platform: Platform,
    },
    PullFinished {
        platform: Platform,
        pulled: bool,
        #[serde(with = "crate::outcome::secs")]
        duration: Duration,
    },
    TestStarted {
        platform: Platform,
        test: String,
    },
    TestFinished {
        platform: Platform,
        test: TestReport,
    },
    /// Everything about one platform is known.
    PlatformFinished {
        report: PlatformReport,
    },
    /// The first interrupt arrived: running containers are being stopped.
    Cancelling,
    /// Something the user should know that did not stop the run: an engine that did not answer,
    /// a sweep that failed. Reporters print it as they print everything, secrets masked.
    Warning {
        message: String,
    },
    /// Progress worth a line while nothing else moves (the engines being probed, the answers
    /// taken from the probe cache); left out by quiet reporters, unlike a warning.
    Note {
        message: String,
    },
}

/// What consumes the events of a run as they happen (the live view, plain progress lines). The
/// pipeline feeds it from its own task, in order, and calls [`EventSink::finish`] once the run's
/// last event is in, before it goes on to the audit.
pub trait EventSink: Send + 'static {
    fn handle(&mut self, event: &Event);
    /// The run is over: nothing more will come.
    fn finish(&mut self) {}
}
