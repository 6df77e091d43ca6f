//! Checks of a running service, as pure functions over what was captured: a TCP connection's
//! outcome, an HTTP answer, the engine's process list, and the service's log lines.
//!
//! The process list comes from the engine's view of the container (`/containers/{id}/top`),
//! which under QEMU user emulation shows the interpreter first and, with the binfmt `P` flag,
//! the program's path before its preserved argv[0]. [`guest_command`] turns such a line back
//! into the guest's own command line, so one `command_matches` works on every platform.

use regex::Regex;

use crate::outcome::Mismatch;
use crate::spec::{HttpExpect, HttpRequest, LogsSpec, ProcessSpec, SocketTable};

/// How an emulated platform's process lines start, from its binfmt entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    /// The interpreter's path as the kernel runs it.
    pub path: String,
    /// The entry has the `P` flag: the program's path precedes its preserved argv[0].
    pub preserves_argv0: bool,
}

/// The guest's command line from a `ps` line of the engine. Known interpreters are stripped:
/// the platform's own binfmt entry, and any `qemu-*` one (a remote engine's entries are not
/// visible here; Debian names them `qemu-<arch>` or `<arch>-binfmt-P`).
pub fn guest_command(line: &str, interpreter: Option<&Interpreter>) -> String {
    guest(line, None, interpreter).command
}

/// A process line of the engine as the guest sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guest {
    /// The command line, the interpreter stripped.
    pub command: String,
    /// The program's path: the engine's `exe` natively; under QEMU the path the kernel handed
    /// the interpreter (the word after it: binfmt_misc passes the program's file name there).
    pub executable: Option<String>,
    /// An interpreter runs it: the line starts with one, or the executable is one.
    pub emulated: bool,
}

fn is_interpreter(word: &str, interpreter: Option<&Interpreter>) -> (bool, bool) {
    let base = word.rsplit('/').next().unwrap_or(word);
    match interpreter {
        Some(i) if i.path == word => (true, i.preserves_argv0),
        _ => (
            base.starts_with("qemu-") || base.contains("-binfmt"),
            base.ends_with("-P") || base.contains("binfmt-P"),
        ),
    }
}

/// Read a `ps` line (`line`, with the engine's `exe` when it has one) as the guest sees it.
pub fn guest(line: &str, exe: Option<&str>, interpreter: Option<&Interpreter>) -> Guest {
    let mut words: Vec<&str> = line.split_whitespace().collect();
    let Some(first) = words.first().copied() else {
        return Guest {
            command: String::new(),
            executable: exe.map(str::to_owned),
            emulated: false,
        };
    };
    let (by_line, preserves) = is_interpreter(first, interpreter);
    let by_exe = exe.is_some_and(|e| is_interpreter(e, interpreter).0);
    let mut executable = exe.map(str::to_owned);
    if by_line && words.len() > 1 {
        words.remove(0);
        executable = Some(words[0].to_owned());
        if preserves && words.len() > 1 {
            words.remove(0);
        }
    }
    Guest {
        command: words.join(" "),
        executable,
        emulated: by_line || by_exe,
    }
}

/// The lines of an emulated platform's process list that no interpreter runs: programs of the
/// engine's own architecture inside a container that should hold only the platform's (a static
/// amd64 binary in an arm64 image runs natively on an amd64 host, and passes every test).
/// Zombies (`[name] <defunct>`) have no executable left and are not judged, and neither is the
/// engine's own `runc init` (`runc:[2:INIT]`), a host program that sets up each `docker exec`
/// inside the container for a moment (readiness `exec`, a service's `[[test]]`s).
pub fn native_in_emulated(list: &[(String, Guest)]) -> Vec<String> {
    list.iter()
        .filter(|(line, g)| {
            let line = line.trim_start();
            !g.emulated
                && !line.starts_with('[')
                && !line.starts_with("runc init")
                && !line.starts_with("runc:[")
        })
        .map(|(line, g)| match &g.executable {
            Some(exe) if !line.contains(exe.as_str()) => format!("{line} ({exe})"),
            _ => line.clone(),
        })
        .collect()
}

/// One socket of a network namespace's tables (see [`crate::spec::SocketTable`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// The table it is in: a dual-stack socket (`[::]:8080`) is in `tcp6` only, as goss sees it.
    pub table: SocketTable,
    /// The address in its canonical text (`0.0.0.0`, `::`, `::ffff:127.0.0.1`), as the spec
    /// writes `ips` (both go through Rust's address type, so `0:0::0` is `::` on both sides).
    pub ip: String,
    pub port: u16,
}

/// goss's `port`: the socket is in the table (`open`) or not, bound to at least `ips`
/// (canonical addresses, like [`Socket::ip`]).
pub fn socket(
    table: SocketTable,
    port: u16,
    open: bool,
    ips: &[String],
    found: &[Socket],
) -> Vec<Mismatch> {
    let what = format!("{}:{port}", table.name());
    let bound: Vec<&str> = found
        .iter()
        .filter(|s| s.table == table && s.port == port)
        .map(|s| s.ip.as_str())
        .collect();
    let listing = || {
        let same_port: Vec<String> = found
            .iter()
            .filter(|s| s.port == port)
            .map(|s| format!("{}:{}", s.table.name(), s.ip))
            .collect();
        if same_port.is_empty() {
            format!("no socket on port {port}")
        } else {
            format!("port {port} is bound as {}", same_port.join(", "))
        }
    };
    let mut out = Vec::new();
    match (open, bound.is_empty()) {
        (true, true) => out.push(Mismatch {
            check: format!("listening {what}"),
            expected: "listening".into(),
            actual: listing(),
            note: None,
        }),
        (false, false) => out.push(Mismatch {
            check: format!("listening {what}"),
            expected: "not listening".into(),
            actual: listing(),
            note: None,
        }),
        _ => {}
    }
    if open && !bound.is_empty() {
        let missing: Vec<&str> = ips
            .iter()
            .map(String::as_str)
            .filter(|ip| !bound.contains(ip))
            .collect();
        if !missing.is_empty() {
            out.push(Mismatch {
                check: format!("ip {what}"),
                expected: format!("bound to {}", missing.join(", ")),
                actual: format!(
                    "bound to {}",
                    bound
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                note: None,
            });
        }
    }
    out
}

/// A TCP probe: `connected` is whether the connection succeeded, `errno` why not.
pub fn tcp(port: u16, expect_open: bool, connected: bool, errno: Option<i64>) -> Vec<Mismatch> {
    if connected == expect_open {
        return Vec::new();
    }
    let state = |open: bool| if open { "open" } else { "closed" };
    let actual = match (connected, errno) {
        (true, _) => "open: a connection was accepted".to_owned(),
        (false, Some(111)) => "closed: connection refused".to_owned(),
        (false, Some(e)) => format!("closed: connect() failed with errno {e}"),
        (false, None) => "closed".to_owned(),
    };
    vec![Mismatch {
        check: format!("tcp {port}"),
        expected: state(expect_open).to_owned(),
        actual,
        note: None,
    }]
}

/// What an HTTP probe received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    /// Names in lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Bytes of body beyond the output limit, not kept.
    pub body_dropped: u64,
}

impl HttpAnswer {
    /// The status line and headers, then the body: what a report shows as the probe's output.
    pub fn transcript(&self) -> String {
        let mut out = format!("HTTP {}\n", self.status);
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\n"));
        }
        out.push('\n');
        out.push_str(&self.body);
        out
    }
}

pub fn http(request: &HttpRequest, expect: &HttpExpect, answer: &HttpAnswer) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if !request.status.contains(i64::from(answer.status)) {
        out.push(Mismatch {
            check: "status".into(),
            expected: request.status.to_string(),
            actual: answer.status.to_string(),
            note: None,
        });
    }
    for needle in &expect.body_contains {
        if !answer.body.contains(needle.as_str()) {
            out.push(Mismatch {
                check: "body contains".into(),
                expected: needle.clone(),
                actual: excerpt(&answer.body),
                note: None,
            });
        }
    }
    for re in &expect.body_matches {
        if !re.is_match(&answer.body) {
            out.push(Mismatch {
                check: "body matches".into(),
                expected: re.as_str().to_owned(),
                actual: excerpt(&answer.body),
                note: None,
            });
        }
    }
    for needle in &expect.body_excludes {
        if answer.body.contains(needle.as_str()) {
            out.push(Mismatch {
                check: "body excludes".into(),
                expected: format!("no {needle:?}"),
                actual: excerpt(&answer.body),
                note: None,
            });
        }
    }
    for (name, re) in &expect.header_matches {
        let values: Vec<&str> = answer
            .headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        if !values.iter().any(|v| re.is_match(v)) {
            out.push(Mismatch {
                check: format!("header {name}"),
                expected: re.as_str().to_owned(),
                actual: if values.is_empty() {
                    "absent".into()
                } else {
                    values.join(", ")
                },
                note: None,
            });
        }
    }
    out
}

/// A process of the service, as checked: its user, the guest's command line and its program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub user: String,
    pub command: String,
    pub executable: Option<String>,
}

impl Process {
    /// One line of a failure's list: user, command, and the program when the command does not
    /// name it.
    fn shown(&self) -> String {
        match &self.executable {
            Some(exe) if !self.command.contains(exe.as_str()) => {
                format!("{} {} ({exe})", self.user, self.command)
            }
            _ => format!("{} {}", self.user, self.command),
        }
    }
}

/// Whether `p` is one of the processes `spec` is about: its command line, its program and its
/// user (a filter: `user = "www-data"` counts the workers, not the master) all as asked.
fn selects(spec: &ProcessSpec, p: &Process) -> bool {
    spec.command_matches
        .as_ref()
        .is_none_or(|re| re.is_match(&p.command))
        && spec.executable.as_ref().is_none_or(|want| {
            p.executable.as_deref().is_some_and(|exe| {
                if want.contains('/') {
                    exe == want
                } else {
                    exe.rsplit('/').next() == Some(want.as_str())
                }
            })
        })
        && spec.user.as_ref().is_none_or(|u| &p.user == u)
}

/// What `spec` asks for, in words: `command matching REGEX, executable /usr/sbin/nginx, user
/// www-data`.
fn wanted(spec: &ProcessSpec) -> String {
    let mut parts = Vec::new();
    if let Some(re) = &spec.command_matches {
        parts.push(format!("command matching {}", re.as_str()));
    }
    if let Some(exe) = &spec.executable {
        parts.push(format!("executable {exe}"));
    }
    if let Some(user) = &spec.user {
        parts.push(format!("user {user}"));
    }
    parts.join(", ")
}

pub fn processes(spec: &ProcessSpec, list: &[Process]) -> Vec<Mismatch> {
    let count = list.iter().filter(|p| selects(spec, p)).count();
    // One process a line: a command line may hold any character, `;` included (`daemon off;`).
    let shown = || {
        if list.is_empty() {
            "no processes".to_owned()
        } else {
            list.iter()
                .map(Process::shown)
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    match spec.count {
        Some(n) if !n.contains_u64(count as u64) => vec![Mismatch {
            check: "process count".into(),
            expected: format!("{n} process(es) with {}", wanted(spec)),
            actual: format!("{count} among:\n{}", shown()),
            note: None,
        }],
        None if count == 0 => vec![Mismatch {
            check: "process".into(),
            expected: format!("a process with {}", wanted(spec)),
            actual: shown(),
            note: None,
        }],
        _ => Vec::new(),
    }
}

/// `[logs]` and log readiness over every line of the run, line by line as they arrive: lines
/// the bounded capture later drops were still seen.
#[derive(Debug)]
pub struct LogMatcher {
    contains: Vec<(String, bool)>,
    matches: Vec<(Regex, bool)>,
    excludes: Vec<(String, Option<String>)>,
    pub lines: u64,
}

impl LogMatcher {
    pub fn new(spec: &LogsSpec) -> LogMatcher {
        LogMatcher {
            contains: spec.contains.iter().map(|c| (c.clone(), false)).collect(),
            matches: spec.matches.iter().map(|r| (r.clone(), false)).collect(),
            excludes: spec.excludes.iter().map(|e| (e.clone(), None)).collect(),
            lines: 0,
        }
    }

    pub fn push(&mut self, line: &str) {
        self.lines += 1;
        for (needle, seen) in &mut self.contains {
            *seen = *seen || line.contains(needle.as_str());
        }
        for (re, seen) in &mut self.matches {
            *seen = *seen || re.is_match(line);
        }
        for (needle, first) in &mut self.excludes {
            if first.is_none() && line.contains(needle.as_str()) {
                *first = Some(excerpt(line));
            }
        }
    }

    /// Whether every `contains` and `matches` pattern has been seen (log readiness).
    pub fn all_seen(&self) -> bool {
        self.contains.iter().all(|(_, s)| *s) && self.matches.iter().all(|(_, s)| *s)
    }

    pub fn mismatches(&self) -> Vec<Mismatch> {
        let lines = format!("not in any of its {} lines", self.lines);
        let mut out = Vec::new();
        for (needle, seen) in &self.contains {
            if !seen {
                out.push(Mismatch {
                    check: "logs contain".into(),
                    expected: needle.clone(),
                    actual: lines.clone(),
                    note: None,
                });
            }
        }
        for (re, seen) in &self.matches {
            if !seen {
                out.push(Mismatch {
                    check: "logs match".into(),
                    expected: re.as_str().to_owned(),
                    actual: lines.clone(),
                    note: None,
                });
            }
        }
        for (needle, first) in &self.excludes {
            if let Some(line) = first {
                out.push(Mismatch {
                    check: "logs exclude".into(),
                    expected: format!("no {needle:?}"),
                    actual: line.clone(),
                    note: None,
                });
            }
        }
        out
    }
}

/// At most 300 characters of a text, for mismatch lines.
fn excerpt(text: &str) -> String {
    const MAX: usize = 300;
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{cut}… ({} bytes)", text.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::range::{Bound, IntRange};

    fn re(s: &str) -> Regex {
        Regex::new(s).expect("regex")
    }

    #[test]
    fn the_guest_command_line_loses_qemu_and_the_doubled_argv0() {
        // Measured on this machine: an emulated arm64 busybox httpd through Debian's entry.
        let line = "/usr/libexec/qemu-binfmt/aarch64-binfmt-P /bin/busybox /bin/busybox httpd -f -p 8080 -h /www";
        let debian = Interpreter {
            path: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P".into(),
            preserves_argv0: true,
        };
        assert_eq!(
            guest_command(line, Some(&debian)),
            "/bin/busybox httpd -f -p 8080 -h /www"
        );
        // Without the entry (a remote engine) the name tells.
        assert_eq!(
            guest_command(line, None),
            "/bin/busybox httpd -f -p 8080 -h /www"
        );
        // tonistiigi/binfmt: no P flag, argv[0] is lost and the path stands in for it.
        let cf = Interpreter {
            path: "/usr/bin/qemu-aarch64".into(),
            preserves_argv0: false,
        };
        assert_eq!(
            guest_command("/usr/bin/qemu-aarch64 /bin/httpd -f -p 80", Some(&cf)),
            "/bin/httpd -f -p 80"
        );
        // Native lines are left alone.
        assert_eq!(guest_command("httpd -f -p 8080", None), "httpd -f -p 8080");
        assert_eq!(guest_command("", None), "");
    }

    #[test]
    fn tcp_states() {
        assert!(tcp(80, true, true, None).is_empty());
        assert!(tcp(80, false, false, Some(111)).is_empty());
        let m = tcp(8080, true, false, Some(111));
        assert_eq!(m[0].actual, "closed: connection refused");
        let m = tcp(9000, false, true, None);
        assert_eq!(
            (m[0].expected.as_str(), m[0].check.as_str()),
            ("closed", "tcp 9000")
        );
    }

    fn request(status: IntRange) -> HttpRequest {
        HttpRequest {
            port: 8080,
            method: "GET".into(),
            path: "/".into(),
            host: "127.0.0.1:8080".into(),
            headers: Vec::new(),
            body: None,
            status,
            tls: None,
            follow_redirects: false,
        }
    }

    #[test]
    fn http_checks_status_body_and_headers() {
        let answer = HttpAnswer {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            body: "<h1>welcome</h1>".into(),
            body_dropped: 0,
        };
        let expect = HttpExpect {
            body_contains: vec!["welcome".into()],
            body_matches: vec![re("<h1>\\w+</h1>")],
            body_excludes: vec!["error".into()],
            header_matches: vec![("content-type".into(), re("^text/html"))],
        };
        assert!(http(&request(IntRange::exactly(200)), &expect, &answer).is_empty());
        // A range: the answer's 200 is `>= 200 and < 300`, not `> 200`.
        let ok = IntRange {
            lower: Some(Bound::Inclusive(200)),
            upper: Some(Bound::Exclusive(300)),
        };
        assert!(http(&request(ok), &expect, &answer).is_empty());
        let above = IntRange {
            lower: Some(Bound::Exclusive(200)),
            upper: None,
        };
        let m = http(&request(above), &expect, &answer);
        assert_eq!(
            (
                m[0].check.as_str(),
                m[0].expected.as_str(),
                m[0].actual.as_str()
            ),
            ("status", "> 200", "200")
        );
        let wrong = HttpExpect {
            body_contains: vec!["goodbye".into()],
            body_matches: vec![],
            body_excludes: vec!["welcome".into()],
            header_matches: vec![("x-missing".into(), re("."))],
        };
        let checks: Vec<String> = http(&request(IntRange::exactly(404)), &wrong, &answer)
            .into_iter()
            .map(|m| m.check)
            .collect();
        assert_eq!(
            checks,
            [
                "status",
                "body contains",
                "body excludes",
                "header x-missing"
            ]
        );
    }

    fn spec(pattern: &str, user: Option<&str>, count: Option<i64>) -> ProcessSpec {
        ProcessSpec {
            name: "p".into(),
            command_matches: Some(re(pattern)),
            executable: None,
            user: user.map(str::to_owned),
            count: count.map(IntRange::exactly),
            platforms: None,
        }
    }

    fn process(user: &str, command: &str, exe: &str) -> Process {
        Process {
            user: user.into(),
            command: command.into(),
            executable: Some(exe.into()),
        }
    }

    #[test]
    fn processes_by_command_user_and_count() {
        let list = [
            process("root", "httpd -f -p 8080", "/bin/busybox"),
            process("root", "sleep 5", "/bin/busybox"),
        ];
        assert!(processes(&spec("httpd", Some("root"), Some(1)), &list).is_empty());
        assert!(processes(&spec("httpd", None, None), &list).is_empty());
        assert_eq!(
            processes(&spec("nginx", None, None), &list)[0].check,
            "process"
        );
        assert_eq!(
            processes(&spec(".", None, Some(1)), &list)[0].check,
            "process count"
        );
        let at_least = |n| ProcessSpec {
            count: Some(IntRange {
                lower: Some(Bound::Inclusive(n)),
                upper: None,
            }),
            ..spec(".", None, None)
        };
        assert!(processes(&at_least(2), &list).is_empty());
        let m = processes(&at_least(3), &list);
        assert!(
            m[0].expected.starts_with(">= 3 process(es)"),
            "{}",
            m[0].expected
        );
        assert_eq!(
            processes(&spec("httpd", Some("nobody"), None), &list)[0].check,
            "process"
        );
        assert!(processes(&spec("nginx", None, Some(0)), &list).is_empty());
    }

    /// Issue 24: `user` was checked on every match, so a master (root) and its workers
    /// (www-data) could not both be described; it is a filter now, and the list of processes in
    /// a failure is one a line (`;` is in nginx's own command line).
    #[test]
    fn user_filters_and_the_list_is_one_process_a_line() {
        let list = [
            process(
                "root",
                "nginx: master process nginx -g daemon off;",
                "/usr/sbin/nginx",
            ),
            process("www-data", "nginx: worker process", "/usr/sbin/nginx"),
            process("www-data", "nginx: worker process", "/usr/sbin/nginx"),
        ];
        assert!(processes(&spec("nginx", Some("www-data"), Some(2)), &list).is_empty());
        assert!(processes(&spec("master", Some("root"), Some(1)), &list).is_empty());
        let m = processes(&spec("nginx", Some("nobody"), None), &list);
        assert_eq!(
            m[0].expected,
            "a process with command matching nginx, user nobody"
        );
        assert_eq!(
            m[0].actual,
            "root nginx: master process nginx -g daemon off; (/usr/sbin/nginx)\n\
             www-data nginx: worker process (/usr/sbin/nginx)\n\
             www-data nginx: worker process (/usr/sbin/nginx)"
        );
    }

    #[test]
    fn executable_matches_a_path_or_a_file_name_whatever_the_process_calls_itself() {
        let list = [process("root", "nginx: master process", "/usr/sbin/nginx")];
        let by = |exe: &str| ProcessSpec {
            command_matches: None,
            executable: Some(exe.into()),
            ..spec(".", None, None)
        };
        assert!(processes(&by("/usr/sbin/nginx"), &list).is_empty());
        assert!(processes(&by("nginx"), &list).is_empty());
        assert_eq!(processes(&by("/usr/bin/nginx"), &list)[0].check, "process");
        // Under QEMU the line is the original one and the program is the word after the
        // interpreter: the same executable.
        let emulated = guest(
            "/usr/libexec/qemu-binfmt/aarch64-binfmt-P /usr/sbin/nginx nginx -g daemon off;",
            Some("/usr/libexec/qemu-binfmt/aarch64-binfmt-P"),
            None,
        );
        assert_eq!(emulated.executable.as_deref(), Some("/usr/sbin/nginx"));
        assert_eq!(emulated.command, "nginx -g daemon off;");
        assert!(emulated.emulated);
    }

    #[test]
    fn a_process_no_interpreter_runs_is_native_in_an_emulated_container() {
        let qemu = Interpreter {
            path: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P".into(),
            preserves_argv0: true,
        };
        let lines = [
            (
                "/usr/libexec/qemu-binfmt/aarch64-binfmt-P /bin/sh sh -c sleep 9",
                Some("/usr/libexec/qemu-binfmt/aarch64-binfmt-P"),
            ),
            (
                "/usr/local/bin/busybox httpd -f -p 8080",
                Some("/usr/local/bin/busybox"),
            ),
            ("[sh] <defunct>", None),
            // A `docker exec` being set up: the engine's runc, not the image's.
            ("runc init", Some("/")),
            ("runc:[2:INIT]", None),
        ];
        let list: Vec<(String, Guest)> = lines
            .iter()
            .map(|(l, e)| ((*l).to_owned(), guest(l, *e, Some(&qemu))))
            .collect();
        assert_eq!(
            native_in_emulated(&list),
            ["/usr/local/bin/busybox httpd -f -p 8080"]
        );
    }

    #[test]
    fn logs_are_matched_line_by_line_over_the_whole_run() {
        let spec = LogsSpec {
            contains: vec!["started".into()],
            matches: vec![re("^listening on \\d+$")],
            excludes: vec!["panic".into()],
        };
        let mut m = LogMatcher::new(&spec);
        m.push("booting");
        assert!(!m.all_seen());
        m.push("started");
        m.push("listening on 8080");
        assert!(m.all_seen());
        assert!(m.mismatches().is_empty());
        m.push("thread main: panic at the disco");
        let mm = m.mismatches();
        assert_eq!(mm.len(), 1);
        assert_eq!(mm[0].actual, "thread main: panic at the disco");
        assert_eq!(m.lines, 4);
    }

    #[test]
    fn a_socket_is_found_in_its_own_table_with_its_addresses() {
        let ip = |s: &str| s.to_owned();
        let found = [
            Socket {
                table: SocketTable::Tcp6,
                ip: ip("::"),
                port: 8080,
            },
            Socket {
                table: SocketTable::Udp,
                ip: ip("127.0.0.11"),
                port: 53,
            },
        ];
        // A dual-stack listener is `tcp6:8080`, not `tcp:8080`, as goss sees it.
        let m = socket(SocketTable::Tcp, 8080, true, &[], &found);
        assert_eq!(m[0].actual, "port 8080 is bound as tcp6:::");
        assert!(socket(SocketTable::Tcp6, 8080, true, &[ip("::")], &found).is_empty());
        assert!(socket(SocketTable::Udp, 53, true, &[], &found).is_empty());
        let m = socket(SocketTable::Udp, 53, true, &[ip("0.0.0.0")], &found);
        assert_eq!(m[0].check, "ip udp:53");
        assert_eq!(m[0].actual, "bound to 127.0.0.11");
        assert!(socket(SocketTable::Udp6, 53, false, &[], &found).is_empty());
        assert_eq!(
            socket(SocketTable::Udp, 53, false, &[], &found)[0].expected,
            "not listening"
        );
    }
}
