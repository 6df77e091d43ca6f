//! `goss_wait.yaml` as `[service.ready]`: what dgoss retries before it validates (its
//! `GOSS_WAIT_OPTS`), as archsmoke's readiness conditions, which are retried together until
//! one deadline. A listening port is `tcp`, an HTTP answer `http`, commands and files one
//! `exec` through `sh -c` (as goss would run them); a process, which readiness cannot wait for,
//! is checked once the rest holds.

use std::fmt::Write as _;

use super::matcher::{Problem, boolean, pos, scalar};
use super::numeric;
use super::resources::{command_and_exit, url_and_status};
use super::translate::{Resource, Translator, list, s};
use crate::spec::number as domain;

impl Translator<'_> {
    /// `goss_wait.yaml` as the keys of `[service.ready]`: every condition must hold, retried
    /// until the deadline, as dgoss retries the whole wait file.
    pub(super) fn wait(&mut self) -> String {
        let mut out = String::new();
        let Some(root) = self.root() else { return out };
        let _ = writeln!(
            out,
            "# From {}: retried until it passes (dgoss: every {} for {}).",
            self.src.path.display(),
            humantime::format_duration(self.opts.wait_sleep),
            humantime::format_duration(self.opts.wait_retry)
        );
        let Some(top) = root.as_mapping() else {
            self.error(
                pos(root.span()),
                "a goss file is a mapping of resource types",
                "",
            );
            return out;
        };
        let mut tcp = None;
        let mut http = None;
        let mut execs: Vec<String> = Vec::new();
        for (kind, ids) in top.iter() {
            let Some(ids) = ids.as_mapping() else {
                continue;
            };
            for (id, attrs) in ids.iter() {
                let Some(map) = attrs.as_mapping() else {
                    continue;
                };
                let r = Resource {
                    id: id.as_str(),
                    name: String::new(),
                    map,
                    at: pos(id.span()),
                };
                let result = match kind.as_str() {
                    "port" => self.wait_port(&r).map(|p| {
                        if tcp.is_none() {
                            tcp = p;
                            Ok(())
                        } else {
                            Err(())
                        }
                    }),
                    "http" => self.wait_http(&r).map(|h| {
                        if http.is_none() {
                            http = Some(h);
                            Ok(())
                        } else {
                            Err(())
                        }
                    }),
                    "command" => self.wait_command(&r).map(|c| {
                        execs.push(c);
                        Ok(())
                    }),
                    "file" => self.wait_file(&r).map(|c| {
                        execs.push(c);
                        Ok(())
                    }),
                    "process" => {
                        // Readiness cannot wait for a process; it is checked once the rest
                        // of the wait file holds, so a process that never starts still fails.
                        let r = Resource {
                            name: format!("goss_wait: Process: {}", r.id),
                            ..r
                        };
                        self.process(&r).map(Ok)
                    }
                    other => Err(Problem {
                        span: pos(kind.span()),
                        message: format!("`{other}` in a wait file is not supported"),
                        hint: "archsmoke waits for ports, HTTP answers, commands and files; \
                               check the rest in goss.yaml, once the service is ready"
                            .into(),
                    }),
                };
                match result {
                    Ok(Ok(())) => {}
                    Ok(Err(())) => self.error(r.at, format!("a second `{}` in the wait file", kind.as_str()), "archsmoke's readiness waits for one port and one HTTP answer; keep the one that comes up last"),
                    Err(p) => self.problem(p),
                }
            }
        }
        if let Some(p) = tcp {
            let _ = writeln!(out, "tcp = {p}");
        }
        if let Some(h) = http {
            let _ = writeln!(out, "http = {{ {h} }}");
        }
        if !execs.is_empty() {
            let _ = writeln!(
                out,
                "exec = {}",
                list(&["sh".into(), "-c".into(), execs.join(" && ")])
            );
        }
        out
    }

    fn wait_port(&mut self, r: &Resource<'_>) -> Result<Option<u16>, Problem> {
        let spec = match r.get("port") {
            Some(n) => scalar(n, "port")?,
            None => r.id,
        };
        let (proto, number) = spec.split_once(':').unwrap_or(("tcp", spec));
        let port = number
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0 && matches!(proto, "tcp" | "tcp6"));
        let listening = boolean(r.required("listening")?, "listening")?;
        match port {
            Some(p) if listening => Ok(Some(p)),
            _ => Err(Problem {
                span: r.at,
                message: format!("wait on port `{spec}`: archsmoke waits for a listening TCP port"),
                hint: "write `tcp:PORT` with `listening: true`".into(),
            }),
        }
    }

    fn wait_http(&mut self, r: &Resource<'_>) -> Result<String, Problem> {
        let (url, status) = url_and_status(r)?;
        let mut h = format!(
            "port = {}, path = {}, status = {}",
            url.port,
            s(&url.path),
            numeric::toml(status)
        );
        if url.https {
            h.push_str(", scheme = \"https\"");
            if r.get("allow-insecure")
                .map(|n| boolean(n, "allow-insecure"))
                .transpose()?
                == Some(true)
            {
                h.push_str(", insecure = true");
            }
        }
        Ok(h)
    }

    fn wait_command(&mut self, r: &Resource<'_>) -> Result<String, Problem> {
        let (exec, exit) = command_and_exit(r)?;
        let zero = exit.within((domain::EXIT_CODES.min, domain::EXIT_CODES.max)) == Some((0, 0));
        if !zero || r.get("stdout").is_some() || r.get("stderr").is_some() {
            return Err(Problem {
                span: r.at,
                message: format!(
                    "wait on command `{}`: archsmoke waits for a command that exits 0",
                    r.id
                ),
                hint: "make the command exit 0 once the service is ready".into(),
            });
        }
        Ok(format!("( {exec} )"))
    }

    fn wait_file(&mut self, r: &Resource<'_>) -> Result<String, Problem> {
        let path = match r.get("path") {
            Some(n) => scalar(n, "path")?,
            None => r.id,
        };
        let exists = boolean(r.required("exists")?, "exists")?;
        let quoted = format!("'{}'", path.replace('\'', "'\\''"));
        Ok(if exists {
            format!("test -e {quoted}")
        } else {
            format!("! test -e {quoted}")
        })
    }
}
