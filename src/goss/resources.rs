//! Each goss resource type as archsmoke tables (see `translate` for where each is read from;
//! the wait file is `wait`'s). Attribute semantics follow goss's `resource/*.go` and
//! `docs/gossfile.md`: a file's attributes are read with `Lstat` (a symlink is not followed)
//! and its contents with `open` (it is); a process is its executable's name (comm); a command
//! runs through `sh -c` with a 10 s default timeout; a port is `proto:number`.

use std::fmt::Write as _;

use marked_yaml::Node;

use super::matcher::{self, Problem, boolean, integer, pos, problem, scalar, strings};
use super::numeric;
use super::translate::{Resource, Translator, list, s, stream_keys};
use crate::range::IntRange;
use crate::spec::number::{self as domain, Domain};
use crate::spec::quote::{grouped_table, key};

fn check_unknown(r: &Resource<'_>, known: &[&str], kind: &str) -> Result<(), Problem> {
    match r.unknown(known) {
        None => Ok(()),
        Some((key, span)) => Err(Problem {
            span,
            message: format!("{kind} `{}`: attribute `{key}` is not supported", r.id),
            hint: match crate::spec::did_you_mean(key, known.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!(
                    "archsmoke reads these {kind} attributes: {}",
                    known.join(", ")
                ),
            },
        }),
    }
}

/// A goss duration in milliseconds (an integer, as goss writes timeouts).
fn millis(node: &Node, what: &str, default: &str) -> Result<String, Problem> {
    let ms = integer(node, what)?;
    // goss replaces an unset (zero) timeout with its default.
    if ms == 0 {
        return Ok(default.to_owned());
    }
    if ms < 0 {
        return Err(problem(
            node,
            format!("`{what}: {ms}` is not a timeout"),
            "write milliseconds, such as 5000",
        ));
    }
    Ok(format!("{ms}ms"))
}

/// A kernel parameter's value, as goss's ToNumeric reads it: any number.
const ANY_NUMBER: Domain = Domain {
    min: i64::MIN,
    max: i64::MAX,
    says: "a kernel parameter is a number",
};

/// A number matcher on an attribute archsmoke checks as text, as a regex over the decimal
/// numbers it passes (the number itself when it is one).
fn decimal(node: &Node, what: &str, d: Domain) -> Result<String, Problem> {
    let range = numeric::range(node, what, d)?;
    if let Some(n) = range.exact() {
        return Ok(n.to_string());
    }
    let (lo, hi) = range
        .within((d.min, d.max))
        .expect("numeric::range keeps only ranges inside the domain");
    // An end neither the matcher nor the domain closes stays open: goss compares any number
    // with it, however long.
    let open_below = range.lower.is_none() && d.min == i64::MIN;
    let open_above = range.upper.is_none() && d.max == i64::MAX;
    Ok(numeric::decimal_regex(
        (!open_below).then_some(lo),
        (!open_above).then_some(hi),
    ))
}

/// Ids and paths as literals inside archsmoke's regexes.
fn lit(text: &str) -> String {
    regex::escape(text)
}

/// An URL goss requests, reduced to what a probe from the service's namespace can ask.
pub(super) struct Url {
    pub https: bool,
    pub port: u16,
    pub path: String,
}

/// An http resource's URL (its key when `url` is absent) and expected status, as a resource
/// and a `goss_wait.yaml` entry both read them.
pub(super) fn url_and_status(r: &Resource<'_>) -> Result<(Url, IntRange), Problem> {
    let node = r.get("url");
    let text = match node {
        Some(n) => scalar(n, "url")?,
        None => r.id,
    };
    let url = local_url(node, text, r)?;
    let status = numeric::range(r.required("status")?, "status", domain::STATUSES)?;
    Ok((url, status))
}

/// `%XX` for each byte of a space or control character, which a request line cannot hold.
fn escape_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c.is_whitespace() || c.is_control() {
            let mut bytes = [0; 4];
            for b in c.encode_utf8(&mut bytes).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub(super) fn local_url(
    node: Option<&Node>,
    text: &str,
    at: &Resource<'_>,
) -> Result<Url, Problem> {
    let fail = |message: String, hint: &str| Problem {
        span: node.map_or(at.at, |n| pos(n.span())),
        message,
        hint: hint.into(),
    };
    let (https, rest) = if let Some(r) = text.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = text.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(fail(
            format!("`{text}` is not an http:// or https:// URL"),
            "",
        ));
    };
    // What Go's client sends: no fragment, and the path escaped (`url.URL.EscapedPath`, here
    // only what the request line cannot hold raw: spaces and control characters).
    let rest = rest.split('#').next().unwrap_or(rest);
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('?') => {
            (&rest[..i], format!("/{}", escape_path(&rest[i..])))
        }
        Some(i) => (&rest[..i], escape_path(&rest[i..])),
        None => (rest, "/".to_owned()),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && p.bytes().all(|b| b.is_ascii_digit()) => {
            let port = p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| fail(format!("`{text}`: port {p} is out of range"), ""))?;
            (h, port)
        }
        _ => (authority, if https { 443 } else { 80 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if !matches!(host, "localhost" | "127.0.0.1" | "0.0.0.0" | "::1" | "::") {
        return Err(fail(
            format!("`{text}`: archsmoke probes the service itself, not `{host}`"),
            "write the URL as the container sees itself (http://localhost:PORT/...); other \
             hosts depend on the network of the machine that runs the test",
        ));
    }
    Ok(Url { https, port, path })
}

impl Translator<'_> {
    pub(super) fn file(&mut self, r: &Resource<'_>) -> Result<(), Problem> {
        const KNOWN: [&str; 16] = [
            "exists",
            "path",
            "mode",
            "owner",
            "group",
            "uid",
            "gid",
            "filetype",
            "linked-to",
            "linkedto",
            "contents",
            "contains",
            "size",
            "md5",
            "sha256",
            "sha512",
        ];
        check_unknown(r, &KNOWN, "file")?;
        for hash in ["md5", "sha256", "sha512"] {
            if let Some(n) = r.get(hash) {
                return Err(problem(
                    n,
                    format!("file `{}`: `{hash}` is not supported", r.id),
                    "archsmoke does not hash files yet; check `size` and `contents` instead",
                ));
            }
        }
        let path = match r.get("path") {
            Some(n) => scalar(n, "path")?,
            None => r.id,
        };
        if let Some(c) = path.chars().find(|&c| crate::diagnostic::unprintable(c)) {
            // The path is the `[[file]]` path, which reports print: the user's to fix here.
            return Err(Problem {
                span: r.get("path").map_or(r.at, |n| pos(n.span())),
                message: format!(
                    "file `{}`: the path contains the character {c:?} ({})",
                    path.escape_debug(),
                    crate::diagnostic::unprintable_kind(c)
                ),
                hint: "names and paths are one line of printable text".into(),
            });
        }
        if !path.starts_with('/') {
            return Err(Problem {
                span: r.get("path").map_or(r.at, |n| pos(n.span())),
                message: format!("file `{path}` is not an absolute path"),
                hint: "archsmoke reads files from the image's layers: write the path from the \
                       image's root"
                    .into(),
            });
        }
        let exists = boolean(r.required("exists")?, "exists")?;
        // goss reports each attribute as a result of its own (resource/file.go Validate), in
        // this order; each is a `[[file]]` read with lstat (a symlink is not followed), but
        // `contents`, read with open.
        let mut checks: Vec<(&str, String)> = vec![("exists", format!("exists = {exists}\n"))];
        let mut by_name = Vec::new();
        if exists {
            if let Some(n) = r.get("mode") {
                let text = scalar(n, "mode")?;
                let mode = u32::from_str_radix(text.trim(), 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| {
                        problem(
                            n,
                            format!("bad mode `{text}`"),
                            "write the mode in octal as a string, such as \"0755\" or \"6775\"",
                        )
                    })?;
                checks.push(("mode", format!("mode = {}\n", s(&format!("{mode:04o}")))));
            }
            let id = |key: &str| {
                r.get(key)
                    .map(|n| numeric::range(n, key, domain::IDS))
                    .transpose()
            };
            for (name_key, id_key, format) in [("owner", "uid", "%U"), ("group", "gid", "%G")] {
                if let Some(n) = r.get(name_key) {
                    match scalar(n, name_key)? {
                        // root is uid and gid 0 in every image.
                        "root" => checks.push((name_key, format!("{id_key} = 0\n"))),
                        name => by_name.push((name_key, name.to_owned(), format)),
                    }
                }
                if let Some(v) = id(id_key)? {
                    checks.push((id_key, format!("{id_key} = {}\n", numeric::toml(v))));
                }
            }
            if let Some(n) = r.get("linked-to").or_else(|| r.get("linkedto")) {
                let target = scalar(n, "linked-to")?;
                checks.push(("linkedto", format!("target = {}\n", s(target))));
            }
            if let Some(n) = r.get("filetype") {
                match scalar(n, "filetype")? {
                    kind @ ("file" | "directory" | "symlink") => {
                        checks.push(("filetype", format!("type = {}\n", s(kind))));
                    }
                    other => {
                        return Err(problem(
                            n,
                            format!("filetype `{other}` is not supported"),
                            "archsmoke reads image layers, which hold files, directories and symlinks",
                        ));
                    }
                }
            }
        }
        let mut contents = Vec::new();
        for key in ["contains", "contents"] {
            let Some(n) = r.get(key) else { continue };
            let st = matcher::stream(n, key)?;
            if st.is_empty() {
                let _ = writeln!(
                    self.out.files,
                    "# file `{}`: `{key}: []` asserts nothing (as in goss)\n",
                    crate::diagnostic::printable(r.id)
                );
            } else if exists {
                contents.push((key, st));
            }
        }
        let size = r
            .get("size")
            .filter(|_| exists)
            .map(|n| numeric::range(n, "size", domain::SIZES))
            .transpose()?;
        let file = |attr: &str, keys: &str, follow: bool| {
            format!(
                "[[file]]\nname = {}\npath = {}\n{}{keys}\n",
                s(&format!("{}: {attr}", r.name)),
                s(path),
                if follow { "" } else { "follow = false\n" }
            )
        };
        for (attr, keys) in &checks {
            self.out.files.push_str(&file(attr, keys, false));
        }
        for (key, name, format) in by_name {
            let mut t = String::new();
            let _ = writeln!(t, "[[test]]\nname = {}", s(&format!("{}: {key}", r.name)));
            let _ = writeln!(
                t,
                "# goss resolves the {key} name through the image's own files; archsmoke asks the image's `stat`."
            );
            let _ = writeln!(
                t,
                "command = {}",
                list(&["stat".into(), "-c".into(), format.into(), path.into()])
            );
            let _ = writeln!(t, "stdout = {}\n", s(&format!("{name}\n")));
            self.out.tests.push_str(&t);
        }
        for (key, st) in contents {
            // goss reads contents with open: a symlink is followed.
            let keys = stream_keys("", &st, Some("content"));
            self.out.files.push_str(&file(key, &keys, true));
        }
        if let Some(size) = size {
            self.out.files.push_str(&file(
                "size",
                &format!("size = {}\n", numeric::toml(size)),
                false,
            ));
        }
        Ok(())
    }

    pub(super) fn process(&mut self, r: &Resource<'_>) -> Result<(), Problem> {
        check_unknown(r, &["running", "comm"], "process")?;
        let comm = match r.get("comm") {
            Some(n) => scalar(n, "comm")?,
            None => r.id,
        };
        let running = boolean(r.required("running")?, "running")?;
        let mut t = String::new();
        let _ = writeln!(
            t,
            "[[process]]\nname = {}",
            s(&format!("{}: running", r.name))
        );
        t.push_str(
            "# goss matches the executable's name (comm): the command line's first word here.\n",
        );
        let _ = writeln!(
            t,
            "command_matches = {}",
            s(&format!("^(?:\\S*/)?{}(?:[\\s:]|$)", lit(comm)))
        );
        if !running {
            t.push_str("count = 0\n");
        }
        t.push('\n');
        self.out.processes.push_str(&t);
        Ok(())
    }

    pub(super) fn port(&mut self, r: &Resource<'_>) -> Result<(), Problem> {
        check_unknown(r, &["listening", "ip", "port"], "port")?;
        let spec_node = r.get("port");
        let spec = match spec_node {
            Some(n) => scalar(n, "port")?,
            None => r.id,
        };
        let (proto, number) = spec.split_once(':').unwrap_or(("tcp", spec));
        let span = spec_node.map_or(r.at, |n| pos(n.span()));
        let port = number
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| Problem {
                span,
                message: format!("`{spec}` is not a port"),
                hint: "goss writes ports as tcp:8080, tcp6:8080, udp:53".into(),
            })?;
        if !matches!(proto, "tcp" | "tcp6" | "udp" | "udp6") {
            return Err(Problem {
                span,
                message: format!("port `{spec}`: `{proto}` is not a socket table"),
                hint: "goss writes ports as tcp:8080, tcp6:8080, udp:53, udp6:53".into(),
            });
        }
        let listening = boolean(r.required("listening")?, "listening")?;
        let ips = match r.get("ip") {
            Some(n) => {
                let ips = strings(n, "ip")?;
                if let Some(bad) = ips
                    .iter()
                    .find(|ip| ip.parse::<std::net::IpAddr>().is_err())
                {
                    return Err(problem(
                        n,
                        format!("port `{spec}`: `{bad}` is not an IP address"),
                        "write the addresses goss lists, such as 0.0.0.0 or ::",
                    ));
                }
                ips
            }
            None => Vec::new(),
        };
        let socket = s(&format!("{proto}:{port}"));
        let mut t = String::new();
        let _ = writeln!(
            t,
            "[[probe]]\nname = {}",
            s(&format!("{}: listening", r.name))
        );
        t.push_str("# goss reads the namespace's socket tables (its netstat); so does archsmoke, from the\n# engine's machine: a dual-stack listener ([::]:8080) is tcp6, not tcp, in both.\n");
        let _ = writeln!(t, "socket = {socket}\nopen = {listening}\n");
        if r.get("ip").is_some() {
            let _ = writeln!(
                t,
                "[[probe]]\nname = {}\nsocket = {socket}\nips = {}\n",
                s(&format!("{}: ip", r.name)),
                list(&ips)
            );
        }
        self.out.probes.push_str(&t);
        Ok(())
    }

    pub(super) fn addr(&mut self, r: &Resource<'_>) -> Result<(), Problem> {
        check_unknown(r, &["reachable", "address", "timeout"], "addr")?;
        let node = r.get("address");
        let address = match node {
            Some(n) => scalar(n, "address")?,
            None => r.id,
        };
        let span = node.map_or(r.at, |n| pos(n.span()));
        let rest = address.strip_prefix("tcp://").ok_or_else(|| Problem {
            span,
            message: format!("addr `{address}`: only tcp:// is supported"),
            hint: "archsmoke's probes connect over TCP".into(),
        })?;
        let url = local_url(node, &format!("http://{rest}"), r)?;
        let reachable = boolean(r.required("reachable")?, "reachable")?;
        let mut t = String::new();
        let _ = writeln!(
            t,
            "[[probe]]\nname = {}\ntcp = {}\nopen = {reachable}",
            s(&format!("{}: reachable", r.name)),
            url.port
        );
        if let Some(n) = r.get("timeout") {
            let _ = writeln!(t, "timeout = {}", s(&millis(n, "timeout", "500ms")?));
        }
        t.push('\n');
        self.out.probes.push_str(&t);
        Ok(())
    }

    pub(super) fn http(&mut self, r: &Resource<'_>) -> Result<(), Problem> {
        const KNOWN: [&str; 12] = [
            "status",
            "url",
            "allow-insecure",
            "no-follow-redirects",
            "timeout",
            "request-headers",
            "headers",
            "request-body",
            "body",
            "method",
            "username",
            "password",
        ];
        check_unknown(r, &KNOWN, "http")?;
        for key in ["username", "password"] {
            if let Some(n) = r.get(key) {
                return Err(problem(
                    n,
                    format!("http `{}`: `{key}` is not supported", r.id),
                    "send the Authorization header with `request-headers`",
                ));
            }
        }
        let (url, status) = url_and_status(r)?;
        let mut http = vec![
            format!("port = {}", url.port),
            format!("path = {}", s(&url.path)),
            format!("status = {}", numeric::toml(status)),
        ];
        if url.https {
            http.push("scheme = \"https\"".into());
            let insecure = r
                .get("allow-insecure")
                .map(|n| boolean(n, "allow-insecure"))
                .transpose()?;
            if insecure == Some(true) {
                http.push("insecure = true".into());
            }
        }
        if let Some(n) = r.get("method") {
            http.push(format!("method = {}", s(scalar(n, "method")?)));
        }
        if let Some(n) = r.get("request-body") {
            http.push(format!("body = {}", s(scalar(n, "request-body")?)));
        }
        if let Some(n) = r.get("request-headers") {
            let mut pairs: Vec<(String, String)> = Vec::new();
            let mut seen: std::collections::HashMap<String, usize> = Default::default();
            for h in strings(n, "request-headers")? {
                let (k, v) = h.split_once(':').ok_or_else(|| {
                    problem(
                        n,
                        format!("request header `{h}` has no `:`"),
                        "write headers as \"Name: value\"",
                    )
                })?;
                let (k, v) = (k.trim(), v.trim());
                if !crate::spec::valid_http_header(k, v) {
                    return Err(problem(
                        n,
                        format!(
                            "request header `{}` cannot be sent",
                            crate::diagnostic::printable(&h)
                        ),
                        "header names are tokens (letters, digits and !#$%&'*+-.^_`|~); values \
                         hold no line breaks",
                    ));
                }
                // A header given twice is sent once with both values comma-joined, which HTTP
                // defines as equal to the two lines goss's client sends (names compare
                // case-insensitively; RFC 9110, 5.3).
                match seen.get(&k.to_ascii_lowercase()) {
                    Some(&i) => {
                        let value: &mut String = &mut pairs[i].1;
                        value.push_str(", ");
                        value.push_str(v);
                    }
                    None => {
                        seen.insert(k.to_ascii_lowercase(), pairs.len());
                        pairs.push((k.to_owned(), v.to_owned()));
                    }
                }
            }
            let pairs: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), s(v)))
                .collect();
            http.push(format!("headers = {{ {} }}", pairs.join(", ")));
        }
        let no_follow = r
            .get("no-follow-redirects")
            .map(|n| boolean(n, "no-follow-redirects"))
            .transpose()?;
        // goss's client follows redirects unless told not to (resource/http.go).
        if no_follow != Some(true) {
            http.push("follow_redirects = true".into());
        }
        let mut t = String::new();
        let _ = writeln!(t, "[[probe]]\nname = {}", s(&r.name));
        let _ = writeln!(t, "http = {{ {} }}", http.join(", "));
        if let Some(n) = r.get("timeout") {
            let _ = writeln!(t, "timeout = {}", s(&millis(n, "timeout", "5000ms")?));
        } else {
            t.push_str("timeout = \"5s\"\n");
        }
        if let Some(n) = r.get("body") {
            let st = matcher::stream(n, "body")?;
            if st.exact.is_some() || !st.not_matches.is_empty() {
                return Err(problem(
                    n,
                    "an exact body or a `!/regex/` on `body` is not supported",
                    "use patterns: \"text\", \"!text\", \"/regex/\"",
                ));
            }
            t.push_str(&stream_keys("body_", &st, None));
        }
        if let Some(n) = r.get("headers") {
            let mut pairs = Vec::new();
            for h in strings(n, "headers")? {
                let bad = || {
                    problem(
                        n,
                        format!("header pattern `{h}` is not supported"),
                        "write expected headers as \"Name: value\" (some header line contains it)",
                    )
                };
                if h.starts_with('!') || h.starts_with('/') {
                    return Err(bad());
                }
                let (k, v) = h.split_once(':').ok_or_else(bad)?;
                pairs.push((k.trim().to_owned(), lit(v.trim())));
            }
            if !pairs.is_empty() {
                // Every entry must hold, so a header named twice takes both patterns.
                let _ = writeln!(t, "header_matches = {}", grouped_table(&pairs));
            }
        }
        t.push('\n');
        self.out.probes.push_str(&t);
        Ok(())
    }

    pub(super) fn command(&mut self, r: &Resource<'_>) -> Result<(), Problem> {
        check_unknown(
            r,
            &["exit-status", "exec", "stdout", "stderr", "timeout"],
            "command",
        )?;
        let (exec, exit) = command_and_exit(r)?;
        self.out.needs_shell = true;
        let mut t = String::new();
        let _ = writeln!(t, "[[test]]\nname = {}", s(&r.name));
        t.push_str(
            "# goss runs commands with `sh -c`: an image without a shell fails this test.\n",
        );
        let _ = writeln!(
            t,
            "command = {}",
            list(&["sh".into(), "-c".into(), exec.into()])
        );
        let _ = writeln!(t, "exit_code = {}", numeric::toml(exit));
        for key in ["stdout", "stderr"] {
            if let Some(n) = r.get(key) {
                let st = matcher::stream(n, key)?;
                t.push_str(&stream_keys(&format!("{key}_"), &st, Some(key)));
            }
        }
        let timeout = match r.get("timeout") {
            Some(n) => millis(n, "timeout", "10000ms")?,
            None => "10000ms".into(),
        };
        let _ = writeln!(t, "timeout = {}\n", s(&timeout));
        self.out.tests.push_str(&t);
        Ok(())
    }

    pub(super) fn kernel_param(&mut self, r: &Resource<'_>) -> Result<(), Problem> {
        check_unknown(r, &["value", "name"], "kernel-param")?;
        let name = match r.get("name") {
            Some(n) => scalar(n, "name")?,
            None => r.id,
        };
        let node = r.required("value")?;
        // goss converts the parameter's text with ToNumeric (TrimSpace, ParseFloat) for a
        // numeric matcher, and compares it as text otherwise.
        let pattern = match node {
            Node::Mapping(_) => format!(
                "(?-m)\\A[\\t\\n\\f\\r ]*{}[\\t\\n\\f\\r ]*\\z",
                decimal(node, "value", ANY_NUMBER)?
            ),
            _ => format!("(?-m)\\A{}\\n?\\z", lit(scalar(node, "value")?)),
        };
        let mut t = String::new();
        let _ = writeln!(t, "[[test]]\nname = {}", s(&format!("{}: value", r.name)));
        t.push_str("# goss reads the parameter with sysctl; archsmoke with the image's `cat`, in the service container.\n");
        let _ = writeln!(
            t,
            "command = {}",
            list(&[
                "cat".into(),
                format!("/proc/sys/{}", name.replace('.', "/"))
            ])
        );
        let _ = writeln!(t, "stdout_matches = {}\n", s(&pattern));
        self.out.tests.push_str(&t);
        Ok(())
    }

    pub(super) fn user(&mut self, r: &Resource<'_>) -> Result<(), Problem> {
        check_unknown(
            r,
            &[
                "exists", "username", "uid", "gid", "groups", "home", "shell",
            ],
            "user",
        )?;
        let name = match r.get("username") {
            Some(n) => scalar(n, "username")?,
            None => r.id,
        };
        let exists = boolean(r.required("exists")?, "exists")?;
        let n = lit(name);
        // One result per attribute, as goss reports them (resource/user.go Validate), each a
        // pattern over /etc/passwd.
        let key = if exists { "matches" } else { "not_matches" };
        let mut checks = vec![("exists", format!("^{n}:"))];
        if exists {
            for (key, field) in [("uid", 2), ("gid", 3)] {
                if let Some(v) = r.get(key) {
                    let v = decimal(v, key, domain::IDS)?;
                    checks.push((key, format!("^{n}:(?:[^:\\n]*:){{{}}}{v}:", field - 1)));
                }
            }
            for (key, field) in [("home", 5), ("shell", 6)] {
                if let Some(v) = r.get(key) {
                    let v = lit(scalar(v, key)?);
                    let end = if field == 6 { "$" } else { ":" };
                    checks.push((key, format!("^{n}:(?:[^:\\n]*:){{{}}}{v}{end}", field - 1)));
                }
            }
        }
        for (attr, pattern) in checks {
            let _ = writeln!(
                self.out.files,
                "[[file]]\nname = {}\npath = \"/etc/passwd\"\n{key} = {}\n",
                s(&format!("{}: {attr}", r.name)),
                list(&[pattern])
            );
        }
        if let (true, Some(g)) = (exists, r.get("groups")) {
            let groups = strings(g, "groups")?;
            let mut t = String::new();
            let _ = writeln!(t, "[[test]]\nname = {}", s(&format!("{}: groups", r.name)));
            t.push_str("# a user's groups join /etc/passwd and /etc/group: archsmoke asks the image's `id`.\n");
            let _ = writeln!(
                t,
                "command = {}",
                list(&["id".into(), "-Gn".into(), name.into()])
            );
            let res: Vec<String> = groups
                .iter()
                .map(|g| format!("(?:^| ){}(?: |$)", lit(g)))
                .collect();
            let _ = writeln!(t, "stdout_matches = {}\n", list(&res));
            self.out.tests.push_str(&t);
        }
        Ok(())
    }

    pub(super) fn group(&mut self, r: &Resource<'_>) -> Result<(), Problem> {
        check_unknown(r, &["exists", "groupname", "gid"], "group")?;
        let name = match r.get("groupname") {
            Some(n) => scalar(n, "groupname")?,
            None => r.id,
        };
        let exists = boolean(r.required("exists")?, "exists")?;
        let n = lit(name);
        let key = if exists { "matches" } else { "not_matches" };
        let mut checks = vec![("exists", format!("^{n}:"))];
        if let (true, Some(v)) = (exists, r.get("gid")) {
            checks.push((
                "gid",
                format!("^{n}:[^:\\n]*:{}:", decimal(v, "gid", domain::IDS)?),
            ));
        }
        for (attr, pattern) in checks {
            let _ = writeln!(
                self.out.files,
                "[[file]]\nname = {}\npath = \"/etc/group\"\n{key} = {}\n",
                s(&format!("{}: {attr}", r.name)),
                list(&[pattern])
            );
        }
        Ok(())
    }

    pub(super) fn package(&mut self, r: &Resource<'_>) -> Result<(), Problem> {
        check_unknown(r, &["installed", "name", "versions"], "package")?;
        let name = match r.get("name") {
            Some(n) => scalar(n, "name")?,
            None => r.id,
        };
        let installed = boolean(r.required("installed")?, "installed")?;
        // goss's `--package` names the manager; without it goss picks the system's own, as
        // archsmoke's `auto` picks the database the image has.
        let manager = match self.opts.package.as_deref() {
            None => None,
            Some(m) => Some(crate::pkgdb::Manager::from_name(m).ok_or_else(|| {
                Problem {
                    span: r.at,
                    message: format!("package `{name}`: the {m} database is not supported"),
                    hint: "archsmoke reads dpkg, apk and rpm databases from the image's layers; \
                       pass GOSS_OPTS=\"--package rpm\" (or dpkg, apk), or no --package to \
                       read whichever the image has"
                        .into(),
                }
            })?),
        };
        let versions = match r.get("versions") {
            None => None,
            // goss judges `versions` after `installed`: when the package is present it skips
            // the versions of a check that wanted it absent, and when it is absent it fails
            // them ("Package version not found"): either way the check fails.
            Some(v) if !installed => {
                return Err(problem(
                    v,
                    format!(
                        "package `{name}`: `versions` with `installed: false` always fails in goss"
                    ),
                    "remove `versions`",
                ));
            }
            Some(v) => {
                let list = strings(v, "versions")?;
                if list.is_empty() {
                    // goss's ContainElements() of nothing holds for any version list.
                    let _ = writeln!(
                        self.out.files,
                        "# package `{}`: `versions: []` asserts nothing (as in goss)\n",
                        crate::diagnostic::printable(r.id)
                    );
                    None
                } else {
                    Some(list)
                }
            }
        };
        let mut t = String::new();
        // One result for goss's two (`installed`, `version`): each is a check of its own in it.
        let _ = writeln!(t, "[[package]]\ntitle = {}\nname = {}", s(&r.name), s(name));
        if !installed {
            t.push_str("installed = false\n");
        }
        if let Some(v) = versions {
            let _ = writeln!(t, "versions = {}", list(&v));
        }
        if let Some(m) = manager {
            let _ = writeln!(t, "manager = {}", s(m.as_str()));
        }
        t.push('\n');
        self.out.files.push_str(&t);
        Ok(())
    }
}

/// A `command` resource's command line (`exec`, else its key) and its `exit-status` as a range
/// of codes: the same for a check and for `goss_wait.yaml`.
pub(super) fn command_and_exit<'a>(
    r: &'a Resource<'_>,
) -> Result<(&'a str, crate::range::IntRange), Problem> {
    let exec = match r.get("exec") {
        Some(n) => scalar(n, "exec")?,
        None => r.id,
    };
    let exit = numeric::range(
        r.required("exit-status")?,
        "exit-status",
        domain::EXIT_CODES,
    )?;
    Ok((exec, exit))
}
