//! The live view on a terminal: one line per platform that changes in place while the run goes
//! (resolving, pulling, running n/m, then done, failed, error or skipped, with the elapsed
//! time), drawn with indicatif on stderr. Failures are also printed above the lines as they
//! happen, so they stay in the scrollback. Like every reporter it only consumes
//! [`Event`]s; the runner never formats.
//!
//! It is used only where it helps: stderr is a terminal, and neither `-q` nor tracing (`-v`,
//! `RUST_LOG`) writes there too (see [`wanted`]). Everywhere else, CI logs included, the
//! terminal reporter's one plain line per event is used instead.

use std::collections::HashMap;
use std::time::Duration;

use console::Style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::terminal::{self, TerminalOptions, started_text};
use super::words::secs;
use crate::event::{Event, EventSink};
use crate::outcome::{PlatformReport, TestStatus};
use crate::platform::Platform;

/// Whether the live view should draw: only on a terminal that can move its cursor, and only when
/// nothing else (quiet mode's filtering, tracing) shares stderr.
pub fn wanted(
    stderr_is_tty: bool,
    quiet: bool,
    verbose: u8,
    rust_log: bool,
    term: Option<&str>,
) -> bool {
    stderr_is_tty && !quiet && verbose == 0 && !rust_log && term.is_none_or(|t| t != "dumb")
}

/// Wide enough for `native (32-bit compat)` and `qemu-aarch64 7.2.22`.
const MODE_WIDTH: usize = 22;

pub struct LiveView {
    multi: MultiProgress,
    lines: HashMap<Platform, Line>,
    /// Platform names padded to one width, so the states line up.
    width: usize,
    opts: TerminalOptions,
    /// Spinners tick on their own; tests turn that off to draw deterministically.
    ticking: bool,
}

struct Line {
    bar: ProgressBar,
    mode: String,
    tests: usize,
    done: usize,
}

impl LiveView {
    /// The view on stderr, with spinners that move while containers run.
    pub fn stderr(opts: TerminalOptions) -> LiveView {
        // A blinking cursor jumping between the redrawn lines is noise; it comes back at the
        // end (and on a forced exit, see `show_cursor`).
        let term = console::Term::stderr();
        if term.is_term() {
            let _ = term.hide_cursor();
        }
        LiveView::new(ProgressDrawTarget::stderr(), opts, true)
    }

    /// The view on any draw target (indicatif's in-memory terminal in tests).
    pub fn new(target: ProgressDrawTarget, opts: TerminalOptions, ticking: bool) -> LiveView {
        LiveView {
            multi: MultiProgress::with_draw_target(target),
            lines: HashMap::new(),
            width: 0,
            opts,
            ticking,
        }
    }

    pub fn handle(&mut self, event: &Event) {
        match event {
            Event::RunStarted { platforms, .. } => {
                if let Some(header) = terminal::event_line(event, self.opts) {
                    self.print(&header);
                }
                self.width = platforms
                    .iter()
                    .map(|p| p.to_string().chars().count())
                    .max()
                    .unwrap_or(0);
                for p in platforms {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_style(running_style());
                    bar.set_prefix(format!("{:<w$}", p.to_string(), w = self.width));
                    bar.set_message("waiting");
                    if self.ticking {
                        bar.enable_steady_tick(Duration::from_millis(120));
                    }
                    self.lines.insert(
                        p.clone(),
                        Line {
                            bar,
                            mode: String::new(),
                            tests: 0,
                            done: 0,
                        },
                    );
                }
            }
            Event::PlatformStarted {
                platform,
                mode,
                engine,
                tests,
            } => {
                if let Some(line) = self.lines.get_mut(platform) {
                    // Padded so that the states of all lines start in one column.
                    line.mode = format!(
                        "{:<MODE_WIDTH$}",
                        started_text(mode.as_ref(), engine.as_deref())
                    );
                    line.tests = *tests;
                    line.bar.set_message(format!("{}  resolving", line.mode));
                }
            }
            Event::PullStarted { platform } => {
                if let Some(line) = self.lines.get(platform) {
                    line.bar.set_message(format!("{}  pulling", line.mode));
                }
            }
            Event::PullFinished { platform, .. } => {
                if let Some(line) = self.lines.get(platform) {
                    line.bar
                        .set_message(format!("{}  running 0/{}", line.mode, line.tests));
                }
            }
            Event::TestStarted { .. } => {}
            Event::TestFinished { platform, test } => {
                if test.status != TestStatus::Passed
                    && let Some(text) = terminal::event_line(event, self.opts)
                {
                    self.print(&text);
                }
                if let Some(line) = self.lines.get_mut(platform) {
                    line.done += 1;
                    line.bar.set_message(format!(
                        "{}  running {}/{}",
                        line.mode, line.done, line.tests
                    ));
                }
            }
            Event::PlatformFinished { report } => {
                if report.problem.is_some()
                    && !report.skipped()
                    && let Some(text) = terminal::event_line(event, self.opts)
                {
                    self.print(&text);
                }
                if let Some(line) = self.lines.get(&report.platform) {
                    line.bar.set_style(finished_style());
                    line.bar
                        .finish_with_message(self.verdict(report, &line.mode));
                }
            }
            Event::Cancelling | Event::Warning { .. } | Event::Note { .. } => {
                if let Some(text) = terminal::event_line(event, self.opts) {
                    self.print(&text);
                }
            }
        }
    }

    /// The platform's final line: what happened, in the verdict's colour, and how long it took.
    fn verdict(&self, r: &PlatformReport, mode: &str) -> String {
        let style = |s: Style| s.force_styling(self.opts.color);
        let (text, st) = if r.skipped() {
            ("skipped".to_owned(), style(Style::new().yellow()))
        } else if r.problem.is_some() {
            (
                format!("error  {}/{} passed", r.passed(), r.counted()),
                style(Style::new().red().bold()),
            )
        } else if r.untested() {
            (
                "NOT TESTED: no test ran".to_owned(),
                style(Style::new().red().bold()),
            )
        } else if r.ok() {
            (
                format!("done   {}/{} passed", r.passed(), r.counted()),
                style(Style::new().green()),
            )
        } else {
            (
                format!("FAILED {}/{} passed", r.passed(), r.counted()),
                style(Style::new().red().bold()),
            )
        };
        format!("{mode}  {}  {}", st.apply_to(text), secs(r.duration))
    }

    /// A line above the live ones; it scrolls away with the output, the live lines stay below.
    fn print(&self, text: &str) {
        // Event lines carry names and engine messages, not output; masked all the same, so the
        // terminal never depends on what an engine error happens to quote.
        let text = crate::redact::text(text);
        if self.multi.is_hidden() {
            eprintln!("{text}");
        } else {
            // Only fails when the terminal is gone, and then there is no one to tell.
            let _ = self.multi.println(text);
        }
    }

    /// Stops drawing; finished lines stay on screen above the final matrix.
    pub fn finish(self) {
        self.abandon_unfinished();
    }

    fn abandon_unfinished(&self) {
        for line in self.lines.values() {
            if !line.bar.is_finished() {
                line.bar.abandon();
            }
        }
        show_cursor();
    }
}

impl EventSink for LiveView {
    fn handle(&mut self, event: &Event) {
        LiveView::handle(self, event);
    }

    fn finish(&mut self) {
        self.abandon_unfinished();
    }
}

/// Gives the terminal its cursor back; a no-op when stderr is not a terminal.
pub fn show_cursor() {
    let term = console::Term::stderr();
    // console writes the escape whatever stderr is; a log file must not get it.
    if term.is_term() {
        let _ = term.show_cursor();
    }
}

fn running_style() -> ProgressStyle {
    ProgressStyle::with_template("  {prefix} {spinner} {wide_msg} {elapsed:>4}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ")
}

fn finished_style() -> ProgressStyle {
    ProgressStyle::with_template("  {prefix}   {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

#[cfg(test)]
mod tests;
