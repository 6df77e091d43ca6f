//! The service figures every reporter shows: each platform's time to ready (against the native
//! platform's), or why it never became ready. One wording, shared by the terminal summary, the
//! GitHub job summary and the JUnit properties.

use crate::outcome::{PlatformReport, RunReport};

/// `ready: linux/amd64 0.42s · linux/arm64 3.10s (7.4×) · linux/s390x not ready`, or `None`
/// when the run had no service.
pub fn ready_line(report: &RunReport) -> Option<String> {
    let services: Vec<(&PlatformReport, &crate::outcome::ServiceReport)> = report
        .platforms
        .iter()
        .filter_map(|p| p.service.as_deref().map(|s| (p, s)))
        .collect();
    if services.is_empty() {
        return None;
    }
    let native = report.engine.as_ref().and_then(|e| {
        services
            .iter()
            .find(|(p, _)| p.platform == e.platform)
            .and_then(|(_, s)| s.ready_secs)
    });
    let parts: Vec<String> = services
        .iter()
        .map(|(p, s)| match s.ready_secs {
            Some(secs) => {
                let ratio = match native {
                    Some(n) if n > 0.0 && p.mode.as_ref().is_some_and(|m| m.is_emulated()) => {
                        format!(" ({:.1}×)", secs / n)
                    }
                    _ => String::new(),
                };
                format!("{} {secs:.2}s{ratio}", p.platform)
            }
            None if s.not_ready.is_some() => format!("{} not ready", p.platform),
            None => format!("{} not started", p.platform),
        })
        .collect();
    Some(format!("ready: {}", parts.join(" · ")))
}

/// JUnit properties of a platform's service (`service.ready_secs`, ...).
pub fn facts(p: &PlatformReport) -> Vec<(String, String)> {
    let Some(s) = &p.service else {
        return Vec::new();
    };
    let mut f = vec![
        ("service.ready".to_owned(), s.ready.to_string()),
        (
            "service.ready_timeout_secs".to_owned(),
            format!("{:.3}", s.ready_timeout_secs),
        ),
        ("service.killed".to_owned(), s.killed.to_string()),
        ("service.log_lines".to_owned(), s.log_lines.to_string()),
    ];
    if let Some(r) = s.ready_secs {
        f.push(("service.ready_secs".to_owned(), format!("{r:.3}")));
    }
    if let Some(why) = &s.not_ready {
        f.push(("service.not_ready".to_owned(), why.clone()));
    }
    if let Some(code) = s.exit_code {
        f.push(("service.exit_code".to_owned(), code.to_string()));
    }
    f
}
