use std::path::Path;

use super::*;
use crate::spec::ProbeKind;

fn conv_with(text: &str, wait: Option<&str>, opts: &Options) -> Result<String, Vec<SpecError>> {
    let main = translate::Source {
        path: Path::new("goss.yaml"),
        text,
    };
    let w = wait.map(|t| translate::Source {
        path: Path::new("goss_wait.yaml"),
        text: t,
    });
    let t = translate::translate(&main, w.as_ref(), opts);
    if !t.errors.is_empty() {
        return Err(t.errors);
    }
    spec::parse(Path::new("goss.yaml"), &t.toml).map_err(|e| vec![e])?;
    Ok(t.toml)
}

fn conv(text: &str) -> Result<String, Vec<SpecError>> {
    conv_with(text, None, &Options::default())
}

fn spec_of(text: &str, wait: Option<&str>) -> Spec {
    let toml = conv_with(text, wait, &Options::default()).expect("valid");
    spec::parse(Path::new("goss.yaml"), &toml).expect("loads")
}

fn errors(text: &str) -> Vec<String> {
    conv(text)
        .expect_err("invalid")
        .iter()
        .map(ToString::to_string)
        .collect()
}

const WEB: &str = r#"file:
  /www/index.html:
    exists: true
    mode: "0644"
    owner: root
    filetype: file
    contents:
      - welcome
      - "!error"
      - /<h1>.*</h1>/
  /bin/su:
    exists: true
    mode: "6775"
  /nope:
    exists: false
  /bin/sh:
    exists: true
    filetype: symlink
    linked-to: busybox
process:
  httpd:
    running: true
port:
  tcp:8080:
    listening: true
    ip: [0.0.0.0]
  tcp:9000:
    listening: false
http:
  http://localhost:8080/:
    status: 200
    timeout: 2000
    body: [welcome]
    headers: ["Content-Type: text/html"]
command:
  uname -m:
    exit-status: 0
    stdout: ["/x86_64|aarch64/"]
    stderr: ""
    timeout: 3000
  sleepy:
    exec: "sleep 1"
    exit-status: 0
    title: a title wins
user:
  www-data:
    exists: true
    uid: 33
    home: /var/www
    groups: [www-data]
group:
  www-data:
    exists: true
    gid: 33
package:
  nginx:
    installed: true
    versions: ["1.22.1-9"]
dns:
  example.com:
    resolvable: true
    skip: true
"#;

#[test]
fn a_web_goss_file_becomes_a_service_spec_with_every_resource() {
    let spec = spec_of(WEB, None);
    let service = spec.service.as_ref().expect("[service]");
    // The image runs as it ships: nothing overridden.
    assert!(service.command.is_none() && service.entrypoint.is_none());
    assert!(service.ready.is_empty());
    assert_eq!(service.ready.timeout, Duration::from_secs(30));

    let file = |name: &str| {
        spec.files
            .iter()
            .find(|f| f.report_name() == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    // One result per attribute, as goss reports them, each read with lstat.
    let names: Vec<String> = spec
        .files
        .iter()
        .map(|f| f.report_name())
        .filter(|n| n.starts_with("File: /www/index.html"))
        .collect();
    assert_eq!(
        names,
        ["exists", "mode", "owner", "filetype", "contents"]
            .map(|a| format!("File: /www/index.html: {a}"))
    );
    assert!(file("File: /www/index.html: exists").exists);
    let mode = file("File: /www/index.html: mode");
    assert_eq!(
        (mode.mode, mode.uid, mode.follow),
        (Some(0o644), None, false)
    );
    assert_eq!(
        file("File: /www/index.html: owner").uid,
        Some(crate::range::IntRange::exactly(0))
    );
    let contents = file("File: /www/index.html: contents");
    assert!(contents.follow);
    assert_eq!(contents.contains, ["welcome"]);
    assert_eq!(contents.excludes, ["error"]);
    assert!(contents.matches[0].is_match("<p>\n<h1>hi</h1>\n"));
    assert_eq!(file("File: /bin/su: mode").mode, Some(0o6775));
    assert!(!file("File: /nope: exists").exists);
    assert_eq!(
        file("File: /bin/sh: linkedto").target.as_deref(),
        Some("busybox")
    );

    let line =
        "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n";
    for attr in ["exists", "uid", "home"] {
        let passwd = file(&format!("User: www-data: {attr}"));
        assert_eq!(passwd.path, "/etc/passwd");
        assert!(passwd.matches.iter().all(|r| r.is_match(line)), "{attr}");
    }
    let passwd = file("User: www-data: home");
    let wrong_home = line.replace("/var/www", "/srv");
    assert!(!passwd.matches.iter().all(|r| r.is_match(&wrong_home)));
    let group = file("Group: www-data: gid");
    assert!(group.matches.iter().all(|r| r.is_match("www-data:x:33:\n")));
    assert!(!group.matches.iter().all(|r| r.is_match("www-data:x:34:\n")));
    assert!(file("Group: www-data: exists").matches[0].is_match("www-data:x:34:\n"));

    // goss's two results of a package are one [[package]], read from whichever database the
    // image has (no --package in GOSS_OPTS).
    let nginx = &spec.packages[0];
    assert_eq!(nginx.report_name(), "Package: nginx");
    assert_eq!(
        (nginx.name.as_str(), nginx.installed, nginx.manager),
        ("nginx", true, None)
    );
    assert_eq!(
        nginx.versions.as_deref(),
        Some(&["1.22.1-9".to_owned()][..])
    );

    let process = &service.processes[0];
    assert_eq!(process.name, "Process: httpd: running");
    let command = process.command_matches.as_ref().expect("command_matches");
    for cmdline in [
        "httpd -f -p 8080",
        "/usr/sbin/httpd",
        "httpd: master process",
    ] {
        assert!(command.is_match(cmdline), "{cmdline}");
    }
    assert!(!command.is_match("/bin/start --httpd"));
    assert_eq!(process.count, None);

    let probe = |name: &str| {
        service
            .probes
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert!(matches!(
        &probe("Port: tcp:8080: listening").kind,
        ProbeKind::Socket {
            table: crate::spec::SocketTable::Tcp,
            port: 8080,
            open: true,
            ..
        }
    ));
    assert!(matches!(
        &probe("Port: tcp:8080: ip").kind,
        ProbeKind::Socket { ips, .. } if ips.len() == 1
    ));
    assert!(matches!(
        probe("Port: tcp:9000: listening").kind,
        ProbeKind::Socket {
            port: 9000,
            open: false,
            ..
        }
    ));
    let http = probe("HTTP: http://localhost:8080/");
    assert_eq!(http.timeout, Duration::from_secs(2));
    match &http.kind {
        ProbeKind::Http { request, expect } => {
            assert_eq!(
                (request.port, request.path.as_str(), request.status),
                (8080, "/", crate::range::IntRange::exactly(200))
            );
            assert_eq!(expect.body_contains, ["welcome"]);
            assert_eq!(expect.header_matches[0].0, "content-type");
        }
        other => panic!("{other:?}"),
    }

    let test = |name: &str| {
        spec.tests
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| {
                panic!(
                    "no {name} in {:?}",
                    spec.tests.iter().map(|t| &t.name).collect::<Vec<_>>()
                )
            })
    };
    let uname = test("Command: uname -m");
    assert_eq!(
        uname.command.as_deref(),
        Some(&["sh".to_owned(), "-c".into(), "uname -m".into()][..])
    );
    assert_eq!(uname.timeout, Some(Duration::from_secs(3)));
    assert!(test("a title wins").command.is_some());
    assert_eq!(file(translate::SHELL_CHECK).path, "/bin/sh");
    assert!(test("User: www-data: groups").command.is_some());
    assert!(spec.tests.iter().all(|t| !t.name.starts_with("DNS")));
}

#[test]
fn the_wait_file_is_readiness_with_dgoss_timeouts() {
    let wait = "port:\n  tcp:8080:\n    listening: true\nhttp:\n  http://127.0.0.1:8080/health:\n    status: 204\n\
                command:\n  test -e /run/ready:\n    exit-status: 0\nfile:\n  /run/pid:\n    exists: true\n";
    let opts = Options {
        wait_retry: Duration::from_secs(45),
        ..Options::default()
    };
    let toml = conv_with(
        "port:\n  tcp:8080:\n    listening: true\n",
        Some(wait),
        &opts,
    )
    .expect("valid");
    let spec = spec::parse(Path::new("goss.yaml"), &toml).expect("loads");
    let ready = &spec.service.as_ref().expect("service").ready;
    assert_eq!(ready.tcp, Some(8080));
    let http = ready.http.as_ref().expect("http");
    assert_eq!(
        (http.path.as_str(), http.status),
        ("/health", crate::range::IntRange::exactly(204))
    );
    assert_eq!(
        ready.exec.as_deref(),
        Some(
            &[
                "sh".to_owned(),
                "-c".into(),
                "( test -e /run/ready ) && test -e '/run/pid'".into()
            ][..]
        )
    );
    assert_eq!(ready.timeout, Duration::from_secs(45));
}

#[test]
fn what_cannot_be_checked_is_an_error_at_the_resource() {
    let e = errors(
        "file:\n  /etc/x:\n    exists: true\n    sha256: abc\n\
         port:\n  sctp:53:\n    listening: true\n\
         http:\n  https://example.com/:\n    status: 200\n\
         service:\n  sshd:\n    running: true\n\
         command:\n  ls:\n    exit-status: {not: 2}\n\
         interface:\n  eth0:\n    exists: true\n    skip: true\n\
         flie:\n  /x:\n    exists: true\n",
    );
    assert_eq!(e.len(), 6, "{e:#?}");
    let want = [
        "goss.yaml:4:13: file `/etc/x`: `sha256` is not supported",
        "goss.yaml:6:3: port `sctp:53`: `sctp` is not a socket table",
        "goss.yaml:9:3: `https://example.com/`: archsmoke probes the service itself",
        "goss.yaml:12:3: service `sshd` is not supported",
        "goss.yaml:16:18: `exit-status` with this matcher passes for < 2, or > 2",
        "goss.yaml:21:1: unknown resource type `flie`",
    ];
    for w in want {
        assert!(e.iter().any(|x| x.starts_with(w)), "{w} in {e:#?}");
    }
    assert!(
        e.iter().any(|x| x.contains("did you mean `file`?")),
        "{e:#?}"
    );
}

#[test]
fn a_control_character_in_a_result_name_is_positioned_not_a_bug() {
    // Found by the `goss` fuzz target
    // (fuzz/findings/goss-translated-comment-control-character.yaml): the key became a test name
    // the spec refuses, reported as a translation bug.
    let e = errors(include_str!(
        "../../fuzz/findings/goss-translated-comment-control-character.yaml"
    ));
    assert!(
        e[0].starts_with("goss.yaml:2:3: file `/var/log/named/defauDEBIAN_\\u{6}IS_SANDBOX"),
        "{e:#?}"
    );
    assert!(e[0].contains("'\\u{6}'"), "{e:#?}");
    assert!(!e.iter().any(|x| x.contains("bug")), "{e:#?}");
    let e = errors("command:\n  ls:\n    title: \"a\\tb\"\n    exit-status: 0\n");
    assert!(
        e[0].starts_with("goss.yaml:3:12: command `ls` names a result"),
        "{e:#?}"
    );
}

#[test]
fn keys_reach_comments_escaped_and_paths_are_checked_where_they_are() {
    // Found by the `goss` fuzz target (fuzz/findings/goss-skipped-key-control-character.yaml):
    // a skipped resource's key went raw into a TOML comment, which a control character makes
    // invalid ("a bug in archsmoke's goss support").
    let text = include_str!("../../fuzz/findings/goss-skipped-key-control-character.yaml");
    let t = translate::translate(
        &translate::Source {
            path: Path::new("goss.yaml"),
            text,
        },
        None,
        &Options::default(),
    );
    assert!(t.errors.is_empty(), "{:?}", t.errors);
    assert!(
        t.toml
            .contains("# dns `\\u{1}os`: skip: true (not checked)\n"),
        "{}",
        t.toml
    );
    if let Err(e) = spec::parse(Path::new("goss.yaml"), &t.toml) {
        assert!(!e.message.contains("comment"), "{e}\n{}", t.toml);
    }
    // A line break in a skipped key would end the comment and start live TOML.
    let spec = spec_of(
        "dns:\n  \"x\\n[[test]]\\nname = 'injected'\\ncommand = ['true']\\n#\":\n    skip: true\n\
         command:\n  ls:\n    exit-status: 0\n",
        None,
    );
    assert!(
        spec.tests.iter().all(|t| t.name != "injected"),
        "{:?}",
        spec.tests
    );
    // A file path (the `[[file]]` path) with a control character, behind a printable title.
    let e = errors("file:\n  \"/etc/a\\eb\":\n    title: ok\n    exists: true\n");
    assert!(
        e[0].starts_with(
            "goss.yaml:2:3: file `/etc/a\\u{1b}b`: the path contains the character '\\u{1b}' \
             (a control character)"
        ),
        "{e:#?}"
    );
    assert!(!e.iter().any(|x| x.contains("bug")), "{e:#?}");
}

#[test]
fn an_http_status_outside_100_to_599_is_positioned_not_a_bug() {
    // Found by the `goss` fuzz target (fuzz/findings/goss-http-status-out-of-range.yaml):
    // `status: 2` became a `[[probe]]` status the spec refuses, reported as a translation bug.
    let e = errors(include_str!(
        "../../fuzz/findings/goss-http-status-out-of-range.yaml"
    ));
    assert!(
        e[0].starts_with(
            "goss.yaml:4:12: `status` can never match: no value it can have passes this matcher"
        ) && e[0].contains("statuses are 100 to 599"),
        "{e:#?}"
    );
    assert!(!e.iter().any(|x| x.contains("bug")), "{e:#?}");
}

#[test]
fn running_false_is_no_process_and_a_missing_exists_is_named() {
    let spec = spec_of("process:\n  cron:\n    running: false\n", None);
    assert!(spec.files.is_empty(), "no shell check without a command");
    assert_eq!(
        spec.service.expect("service").processes[0].count,
        Some(crate::range::IntRange::exactly(0))
    );
    let e = errors("file:\n  /etc/x:\n    mode: \"0644\"\n");
    assert!(
        e[0].starts_with("goss.yaml:2:3: `/etc/x` has no `exists`"),
        "{e:?}"
    );
}

#[test]
fn a_goss_file_is_told_from_a_cst_config_and_a_spec() {
    let p = Path::new("x.yaml");
    assert!(is_goss(
        p,
        "# comment\nfile:\n  /x:\n    exists: true\nport: {}\n"
    ));
    assert!(is_goss(p, "---\ncommand:\n  ls:\n    exit-status: 0\n"));
    assert!(!is_goss(
        p,
        "schemaVersion: 2.0.0\nfileExistenceTests: []\n"
    ));
    assert!(!is_goss(p, "image = \"x\"\n[[file]]\npath = \"/x\"\n"));
    assert!(!is_goss(p, ""));
}

#[test]
fn dgoss_wait_opts_and_goss_opts() {
    let knobs = Knobs {
        wait_opts: Some("-r 1m -s 2s > /dev/null".into()),
        opts: Some("--color --package apk".into()),
        ..Knobs::default()
    };
    let o = knobs.options().expect("options");
    assert_eq!(o.wait_retry, Duration::from_secs(60));
    assert_eq!(o.wait_sleep, Duration::from_secs(2));
    assert_eq!(o.package.as_deref(), Some("apk"));
    let bad = Knobs {
        wait_opts: Some("-r soon".into()),
        ..Knobs::default()
    };
    assert!(bad.options().expect_err("bad").contains("soon"));
    let toml = conv_with(
        "package:\n  musl:\n    installed: true\n    versions: [1.2.4-r2]\n",
        None,
        &o,
    )
    .expect("apk");
    let spec = spec::parse(Path::new("goss.yaml"), &toml).expect("loads");
    let p = &spec.packages[0];
    assert_eq!(p.manager, Some(crate::pkgdb::Manager::Apk));
    assert_eq!(p.versions.as_deref(), Some(&["1.2.4-r2".to_owned()][..]));
}

#[test]
fn files_vars_and_templates_are_found_where_dgoss_finds_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("goss.yaml"),
        "port:\n  tcp:{{ .Vars.port }}:\n    listening: true\nfile:\n  {{ getEnv \"ROOT\" \"/www\" }}:\n    exists: true\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("goss_wait.yaml"),
        "port:\n  tcp:{{ .Vars.port }}:\n    listening: true\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("vars.yaml"), "port: 8081\n").expect("write");
    let knobs = Knobs {
        vars: Some("vars.yaml".into()),
        ..Knobs::default()
    };
    let files = goss_files_with(dir.path(), &knobs)
        .expect("ok")
        .expect("goss");
    assert_eq!(
        files.wait.as_deref(),
        Some(dir.path().join("goss_wait.yaml").as_path())
    );
    let spec = load(&files, &knobs).expect("loads");
    let service = spec.service.expect("service");
    assert_eq!(service.ready.tcp, Some(8081));
    assert!(matches!(
        service.probes[0].kind,
        ProbeKind::Socket { port: 8081, .. }
    ));
    assert_eq!(spec.files[0].path, "/www");
    // The wait file alone is not its own readiness.
    let files = goss_files_with(&dir.path().join("goss_wait.yaml"), &knobs)
        .expect("ok")
        .expect("goss");
    assert!(files.wait.is_none());
    // A template goss would render differently is refused where it is.
    std::fs::write(
        dir.path().join("goss.yaml"),
        "file:\n  {{ range .Vars.x }}:\n    exists: true\n",
    )
    .expect("write");
    let files = goss_files_with(dir.path(), &knobs)
        .expect("ok")
        .expect("goss");
    let e = load(&files, &knobs).expect_err("range");
    assert!(e[0].to_string().contains("goss.yaml:2:3:"), "{}", e[0]);
}

#[test]
fn rpm_packages_become_package_checks_of_the_rpm_database() {
    let opts = Options {
        package: Some("rpm".into()),
        ..Options::default()
    };
    let goss = "package:\n  kernel:\n    installed: true\n    versions: [5.14.0-1.el9, 5.14.0-2.el9]\n    \
                meta: {owner: os}\n  telnet:\n    title: no telnet\n    installed: false\n";
    let toml = conv_with(goss, None, &opts).expect("rpm");
    assert!(
        toml.contains(
            "[[package]]\ntitle = \"Package: kernel\"\nname = \"kernel\"\n\
             versions = [\"5.14.0-1.el9\", \"5.14.0-2.el9\"]\nmanager = \"rpm\"\n"
        ),
        "{toml}"
    );
    let spec = spec::parse(Path::new("goss.yaml"), &toml).expect("loads");
    let [kernel, telnet] = &spec.packages[..] else {
        panic!("two packages: {toml}")
    };
    assert_eq!(kernel.versions.as_ref().map(Vec::len), Some(2));
    assert_eq!(telnet.report_name(), "no telnet");
    assert!(!telnet.installed);
    // goss's meta follows the result, named by its title.
    assert_eq!(spec.meta["Package: kernel"]["owner"], "os");

    let e = conv_with(
        "package:\n  bash:\n    installed: false\n    versions: [\"1\"]\n",
        None,
        &opts,
    )
    .expect_err("always fails in goss");
    assert!(
        e[0].to_string()
            .starts_with("goss.yaml:4:15: package `bash`: `versions` with `installed: false`"),
        "{}",
        e[0]
    );
    let empty = conv_with(
        "package:\n  bash:\n    installed: true\n    versions: []\n",
        None,
        &opts,
    )
    .expect("an empty list");
    assert!(
        empty.contains("# package `bash`: `versions: []` asserts nothing (as in goss)\n"),
        "{empty}"
    );
    assert!(!empty.contains("versions = "), "{empty}");
    let pacman = Options {
        package: Some("pacman".into()),
        ..Options::default()
    };
    let e =
        conv_with("package:\n  bash:\n    installed: true\n", None, &pacman).expect_err("pacman");
    assert!(
        e[0].to_string()
            .contains("package `bash`: the pacman database is not supported"),
        "{}",
        e[0]
    );
}

#[test]
fn ports_are_socket_table_checks_with_their_addresses() {
    let toml = conv(
        "port:\n  udp:53:\n    listening: true\n    ip: [127.0.0.11]\n  tcp6:8080:\n    \
         listening: false\n",
    )
    .expect("valid");
    for needle in [
        "socket = \"udp:53\"\nopen = true\n",
        "name = \"Port: udp:53: ip\"\nsocket = \"udp:53\"\nips = [\"127.0.0.11\"]",
        "socket = \"tcp6:8080\"\nopen = false",
    ] {
        assert!(toml.contains(needle), "{needle} in\n{toml}");
    }
    let e = errors("port:\n  udp:53:\n    listening: true\n    ip: [dns]\n");
    assert!(e[0].contains("`dns` is not an IP address"), "{e:?}");
}

#[test]
fn meta_goes_with_every_result_of_its_resource_into_the_report() {
    let spec = spec_of(
        "file:\n  /etc/passwd:\n    exists: true\n    mode: \"0644\"\n    meta:\n      owner: web\n      \
         severity: 3\n      tags: [a, b]\nport:\n  tcp:80:\n    listening: true\n    meta: {critical: true}\n",
        None,
    );
    let web = serde_json::json!({"owner": "web", "severity": 3, "tags": ["a", "b"]});
    assert_eq!(spec.meta["File: /etc/passwd: exists"], web);
    assert_eq!(spec.meta["File: /etc/passwd: mode"], web);
    assert_eq!(
        spec.meta["probe Port: tcp:80: listening"],
        serde_json::json!({"critical": true})
    );
    assert_eq!(spec.meta.len(), 3);
    let e = errors("file:\n  /x:\n    exists: true\n    meta: [a]\n");
    assert!(
        e[0].starts_with("goss.yaml:4:11: `meta` is a mapping"),
        "{e:?}"
    );
}

#[test]
fn keys_holding_a_quote_and_a_backslash_are_written_as_keys_and_bad_headers_are_positioned() {
    // The `cst` fuzz target's finding (fuzz/findings/cst-key-backslash-quote.yaml) in goss's
    // keys: a header name and a meta key holding `\'` were written as TOML multi-line literal
    // strings, which no key may be, and reported as a bug in archsmoke's goss support.
    let spec = spec_of(
        "http:\n  http://localhost:8080/:\n    status: 200\n    headers: [\"A\\\\'b: c\"]\n    \
         meta:\n      \"k\\\\'x\": 1\n",
        None,
    );
    assert_eq!(
        spec.meta["probe HTTP: http://localhost:8080/"],
        serde_json::json!({"k\\'x": 1})
    );
    let e = errors(
        "http:\n  http://localhost:8080/:\n    status: 200\n    request-headers: [\"X\\\\'y: v\"]\n",
    );
    assert!(
        e[0].starts_with("goss.yaml:4:22: request header `X\\'y: v` cannot be sent"),
        "{e:?}"
    );
    assert!(!e.iter().any(|e| e.contains("bug")), "{e:?}");
}

#[test]
fn a_header_named_twice_is_one_header_with_both_values_or_patterns() {
    // The class of the `cst` fuzz target's finding (fuzz/findings/cst-metadata-key-twice.yaml)
    // in goss: a header named twice became a duplicate TOML key, reported as a bug in
    // archsmoke's goss support.
    let spec = spec_of(
        "http:\n  http://localhost:8080/:\n    status: 200\n    headers: [\"A: x\", \"A: y\"]\n    \
         request-headers: [\"B: 1\", \"b: 2\", \"C: 3\"]\n",
        None,
    );
    let probe = spec.service.expect("service").probes.remove(0);
    let ProbeKind::Http { request, expect } = &probe.kind else {
        panic!("an HTTP probe");
    };
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(headers, [("B", "1, 2"), ("C", "3")]);
    let patterns: Vec<&str> = expect
        .header_matches
        .iter()
        .map(|(_, re)| re.as_str())
        .collect();
    assert_eq!(patterns.len(), 2, "{patterns:?}");
}

#[test]
fn titles_that_differ_only_in_spaces_are_numbered_apart() {
    // The `cst` fuzz target's finding (fuzz/findings/cst-names-equal-once-trimmed.json) in
    // goss: titles "same" and "same " were apart for the numbering but one name to the spec
    // loader (which trims names), reported as a bug in archsmoke's goss support.
    let spec = spec_of(
        "command:\n  a:\n    exit-status: 0\n    title: same\n  b:\n    exit-status: 0\n    \
         title: \"same \"\n",
        None,
    );
    let names: Vec<&str> = spec.tests.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["same", "same (2)"]);
}

#[test]
fn an_url_is_requested_as_the_go_client_of_goss_requests_it() {
    // Found by the `goss` fuzz target (fuzz/findings/goss-url-path-space.yaml): a space in an
    // URL's path became a `[[probe]]` path the spec refuses, reported as a bug in archsmoke's
    // goss support. Go's client escapes the path and never sends the fragment.
    let text = include_str!("../../fuzz/findings/goss-url-path-space.yaml");
    let path_of = |text: &str| {
        let probe = spec_of(text, None)
            .service
            .expect("service")
            .probes
            .remove(0);
        let ProbeKind::Http { request, .. } = &probe.kind else {
            panic!("an HTTP probe");
        };
        request.path.clone()
    };
    assert_eq!(path_of(text), "/%20h");
    for (url, path) in [
        ("http://localhost:8080/mis# Thsing.html", "/mis"),
        ("http://localhost:8080/a b?q=1 2", "/a%20b?q=1%202"),
        ("http://localhost:8080?x=1", "/?x=1"),
        ("http://localhost:8080#top", "/"),
        ("http://localhost:8080/t\u{3000}x", "/t%E3%80%80x"),
    ] {
        let text = format!(
            "http:\n  {}:\n    status: 200\n",
            serde_json::to_string(url).expect("json")
        );
        assert_eq!(path_of(&text), path, "{url}");
    }
}
