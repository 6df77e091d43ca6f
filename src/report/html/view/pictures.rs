//! The page's pictures, computed from the platform reports: the bar chart of time per platform
//! (SVG geometry, split by phase, native and emulated told apart) and the test × platform heat
//! map of durations. Part of the page's view; nothing here produces markup.

use std::time::Duration;

use super::{clean_line, is_audit};
use crate::mode::ExecMode;
use crate::outcome::{PlatformReport, TestReport, TestStatus};
use crate::report::words::{self, secs};

/// Horizontal stacked bars, one per platform, in SVG user units.
pub struct Chart {
    pub width: u32,
    pub height: u32,
    pub x0: u32,
    pub x1: u32,
    pub axis_y: u32,
    pub tick_label_y: u32,
    pub ticks: Vec<Tick>,
    pub bars: Vec<Bar>,
    pub description: String,
}

pub struct Tick {
    pub x: String,
    pub label: String,
}

pub struct Bar {
    pub platform: String,
    /// `native`, `emulated` or `none` (not run): a CSS class and `data-mode`.
    pub kind: &'static str,
    pub kind_label: String,
    pub name_y: u32,
    pub kind_y: u32,
    pub bar_y: u32,
    pub bar_height: u32,
    pub segments: Vec<Segment>,
    pub total: String,
    pub total_x: String,
    pub total_y: u32,
}

pub struct Segment {
    /// `pull`, `containers` or `audit`: a CSS class.
    pub phase: &'static str,
    pub x: String,
    pub width: String,
    pub title: String,
}

/// Platform × test durations: one row per test, one column per platform.
pub struct Heat {
    pub platforms: Vec<HeatColumn>,
    pub rows: Vec<HeatRow>,
}

pub struct HeatColumn {
    pub platform: String,
    pub kind: &'static str,
}

pub struct HeatRow {
    pub test: String,
    pub cells: Vec<HeatCell>,
}

pub struct HeatCell {
    /// `heat-0` … `heat-5` plus a status class; empty when the test is not on the platform.
    pub class: String,
    pub text: String,
    pub mark: &'static str,
    pub title: String,
}

/// `native`, `emulated` or `other` (unavailable, not run, image checks only): how a platform's
/// bar and column are told apart.
pub(super) fn kind(p: &PlatformReport) -> &'static str {
    if p.skipped() {
        return "other";
    }
    words::mode_kind(p.mode.as_ref()).unwrap_or("other")
}

fn kind_label(p: &PlatformReport) -> String {
    match &p.mode {
        _ if p.skipped() => "not tested".to_owned(),
        Some(ExecMode::Native { compat: false }) => "native".to_owned(),
        Some(ExecMode::Native { compat: true }) => "native (32-bit compat)".to_owned(),
        Some(ExecMode::Emulated { emulator }) => {
            clean_line(&format!("emulated · {}", emulator.entry))
        }
        Some(ExecMode::Unavailable { .. }) => "unavailable".to_owned(),
        None if p.tests.iter().any(is_audit) => "image checks only".to_owned(),
        None => "did not run".to_owned(),
    }
}

/// Where a platform's wall time went: pulling (or loading) its image, its containers (create,
/// run, remove, and waiting for a job slot), and then the time it still waited for its image
/// checks, which run beside the containers from the start.
pub(in crate::report::html) fn phases_of(p: &PlatformReport) -> [(&'static str, Duration); 3] {
    // Image checks report the time since they began; the longest is when they ended.
    let checks = p
        .tests
        .iter()
        .filter(|t| is_audit(t))
        .map(|t| t.duration)
        .max()
        .unwrap_or(Duration::ZERO)
        .min(p.duration);
    let containers_done = p
        .containers_done
        .unwrap_or_else(|| p.duration - checks)
        .min(p.duration);
    let pull = p
        .pull
        .as_ref()
        .map_or(Duration::ZERO, |x| x.duration)
        .min(containers_done);
    [
        ("pull", pull),
        ("containers", containers_done - pull),
        ("audit", p.duration - containers_done),
    ]
}

const CHART_WIDTH: u32 = 860;
const LABEL_WIDTH: u32 = 230;
const BAR_AREA: u32 = 540;
const ROW_HEIGHT: u32 = 44;
const TOP: u32 = 8;

pub(super) fn chart(platforms: &[PlatformReport]) -> Option<Chart> {
    if platforms.is_empty() {
        return None;
    }
    let longest = platforms
        .iter()
        .map(|p| p.duration.as_secs_f64())
        .fold(0.0, f64::max);
    let (step, max) = axis(longest);
    let x0 = LABEL_WIDTH;
    let x1 = LABEL_WIDTH + BAR_AREA;
    let scale = |s: f64| f64::from(BAR_AREA) * s / max;
    let bars: Vec<Bar> = platforms
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let top = TOP + ROW_HEIGHT * i as u32;
            let kind = kind(p);
            let mut x = f64::from(x0);
            let segments: Vec<Segment> = if p.skipped() {
                Vec::new()
            } else {
                phases_of(p)
                    .into_iter()
                    .filter(|(_, d)| !d.is_zero())
                    .map(|(phase, d)| {
                        let w = scale(d.as_secs_f64()).max(1.0);
                        let seg = Segment {
                            phase,
                            x: fmt1(x),
                            width: fmt1(w),
                            title: format!("{} {}: {}", p.platform, phase_name(phase), secs(d)),
                        };
                        x += w;
                        seg
                    })
                    .collect()
            };
            Bar {
                platform: p.platform.to_string(),
                kind,
                kind_label: kind_label(p),
                name_y: top + 16,
                kind_y: top + 32,
                bar_y: top + 8,
                bar_height: 22,
                total: if p.skipped() || p.duration.is_zero() {
                    "—".to_owned()
                } else {
                    match p.slowdown {
                        Some(s) => format!("{} ({s:.1}×)", secs(p.duration)),
                        None => secs(p.duration),
                    }
                },
                total_x: fmt1(x + 6.0),
                total_y: top + 24,
                segments,
            }
        })
        .collect();
    let axis_y = TOP + ROW_HEIGHT * platforms.len() as u32 + 4;
    let ticks = (0..)
        .map(|i| f64::from(i) * step)
        .take_while(|t| *t <= max + step / 1000.0)
        .map(|t| Tick {
            x: fmt1(f64::from(x0) + scale(t)),
            label: tick_label(t, step),
        })
        .collect();
    Some(Chart {
        width: CHART_WIDTH,
        height: axis_y + 24,
        x0,
        x1,
        axis_y,
        tick_label_y: axis_y + 16,
        ticks,
        description: format!(
            "Time per platform, split into pull, containers and audit; {} bars",
            bars.len()
        ),
        bars,
    })
}

/// A tick step of 1, 2 or 5 × 10ⁿ seconds giving about five ticks, and the axis end.
fn axis(longest: f64) -> (f64, f64) {
    if longest <= 0.0 || !longest.is_finite() {
        return (0.2, 1.0);
    }
    let rough = longest / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude);
    let max = (longest / step).ceil() * step;
    (step, max.max(step))
}

fn tick_label(t: f64, step: f64) -> String {
    if step >= 1.0 {
        format!("{t:.0}s")
    } else if step >= 0.1 {
        format!("{t:.1}s")
    } else {
        format!("{t:.2}s")
    }
}

fn phase_name(phase: &str) -> &'static str {
    match phase {
        "pull" => "pull/load",
        "containers" => "containers",
        _ => "audit",
    }
}

pub(super) fn heat(platforms: &[PlatformReport]) -> Option<Heat> {
    let mut names: Vec<&str> = Vec::new();
    for p in platforms {
        for t in p.tests.iter().filter(|t| !is_audit(t)) {
            if !names.contains(&t.name.as_str()) {
                names.push(&t.name);
            }
        }
    }
    if names.is_empty() {
        return None;
    }
    let longest = platforms
        .iter()
        .flat_map(|p| p.tests.iter().filter(|t| !is_audit(t)))
        .map(|t| t.duration.as_secs_f64())
        .fold(0.0, f64::max);
    let rows = names
        .iter()
        .map(|name| HeatRow {
            test: clean_line(name),
            cells: platforms
                .iter()
                .map(|p| match p.tests.iter().find(|t| t.name == *name) {
                    Some(t) => heat_cell(p, t, longest),
                    None => HeatCell {
                        class: "absent".into(),
                        text: String::new(),
                        mark: "",
                        title: format!("not on {}", p.platform),
                    },
                })
                .collect(),
        })
        .collect();
    Some(Heat {
        platforms: platforms
            .iter()
            .map(|p| HeatColumn {
                platform: p.platform.to_string(),
                kind: kind(p),
            })
            .collect(),
        rows,
    })
}

fn heat_cell(p: &PlatformReport, t: &TestReport, longest: f64) -> HeatCell {
    let (status, mark) = match t.status {
        TestStatus::Passed => ("passed", ""),
        TestStatus::Failed => ("failed", "✗"),
        TestStatus::TimedOut => ("timedout", "⊘"),
        TestStatus::Error => ("error", "!"),
        TestStatus::NotRun => ("notrun", "–"),
        TestStatus::Skipped => ("skipped", "–"),
    };
    let ran = !matches!(t.status, TestStatus::NotRun | TestStatus::Skipped);
    // Log scale: a 10 ms test and a 10 s one both stay readable.
    let level = if ran && longest > 0.0 {
        let ratio = (t.duration.as_secs_f64() / longest).max(1e-3);
        ((ratio.log10() + 3.0) / 3.0 * 5.0).round().clamp(0.0, 5.0) as u8
    } else {
        0
    };
    let mut title = format!(
        "{} on {}: {}",
        clean_line(&t.name),
        p.platform,
        status_text(t.status)
    );
    if ran {
        title.push_str(&format!(", {}", secs(t.duration)));
    }
    if let Some(s) = t.slowdown {
        title.push_str(&format!(", {s:.1}× native"));
    }
    HeatCell {
        class: if ran {
            format!("heat-{level} {status}")
        } else {
            status.to_owned()
        },
        text: if ran { secs(t.duration) } else { String::new() },
        mark,
        title,
    }
}

fn status_text(s: TestStatus) -> &'static str {
    match s {
        TestStatus::NotRun => "not run (interrupted)",
        s => words::status(s),
    }
}

fn fmt1(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_ends_on_a_round_tick_past_the_longest_bar() {
        assert_eq!(axis(3.284), (1.0, 4.0));
        assert_eq!(axis(14.0), (5.0, 15.0));
        assert_eq!(axis(0.42), (0.1, 0.5));
        assert_eq!(axis(79.5), (20.0, 80.0));
        assert_eq!(axis(0.0), (0.2, 1.0), "nothing ran: still an axis");
        assert_eq!(tick_label(15.0, 5.0), "15s");
        assert_eq!(tick_label(0.3, 0.1), "0.3s");
        assert_eq!(tick_label(0.05, 0.05), "0.05s");
    }
}
