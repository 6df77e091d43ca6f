//! A platform's `[service]` as the plan decides it: which probes and processes apply to the
//! platform, and every timeout already multiplied for the mode it runs in, with the
//! interpreter that the engine's process list shows under emulation.

use std::time::Duration;

use crate::check::service::Interpreter;
use crate::mode::ExecMode;
use crate::platform::Platform;
use crate::spec::{LogsSpec, ProbeSpec, ProcessSpec, Ready, ServiceSpec};

/// The service of one platform, with every timeout already multiplied for its mode.
#[derive(Debug, Clone)]
pub struct PlannedService {
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub stop_timeout: Duration,
    pub ready: Ready,
    pub probes: Vec<ProbeSpec>,
    pub processes: Vec<ProcessSpec>,
    pub logs: Option<LogsSpec>,
    /// How the engine's process lines of this platform start under emulation.
    pub interpreter: Option<Interpreter>,
    /// The pids and memory limits of `[settings]`: a service is confined like a test.
    pub limits: crate::limits::Limits,
}

impl PlannedService {
    /// Results this service adds to the platform: readiness, probes, processes, logs.
    pub fn check_count(&self) -> usize {
        1 + self.probes.len() + self.processes.len() + usize::from(self.logs.is_some())
    }
}

/// The service as it runs on `platform` in `mode`: probe timeouts multiplied by `factor`, the
/// readiness deadline by `ready_factor` (emulation slows a start-up less than many short runs),
/// confined by the `[settings]` `limits` like a test.
pub fn plan_service(
    spec: &ServiceSpec,
    platform: &Platform,
    mode: &ExecMode,
    factor: f64,
    ready_factor: f64,
    limits: crate::limits::Limits,
) -> PlannedService {
    let mut ready = spec.ready.clone();
    ready.timeout = ready.timeout.mul_f64(ready_factor);
    PlannedService {
        limits,
        command: spec.command.clone(),
        entrypoint: spec.entrypoint.clone(),
        env: spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        user: spec.user.clone(),
        stop_timeout: spec.stop_timeout,
        ready,
        probes: spec
            .probes
            .iter()
            .filter(|p| crate::spec::service_applies(&p.platforms, platform))
            .map(|p| ProbeSpec {
                timeout: p.timeout.mul_f64(factor),
                ..p.clone()
            })
            .collect(),
        processes: spec
            .processes
            .iter()
            .filter(|p| crate::spec::service_applies(&p.platforms, platform))
            .cloned()
            .collect(),
        logs: spec.logs.clone(),
        interpreter: match mode {
            ExecMode::Emulated { emulator } => Some(Interpreter {
                path: emulator.interpreter.display().to_string(),
                preserves_argv0: emulator.flags.contains('P'),
            }),
            _ => None,
        },
    }
}
