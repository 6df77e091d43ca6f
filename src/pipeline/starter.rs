//! `archsmoke init`: a commented starter spec from an image, read through the same [`open`] as a
//! run (engine ∥ index), then each platform's config.
//!
//! Every expectation written must hold on the image it came from, so only what can be known
//! without running the image is written as a check: the platforms, the kernel's machine name per
//! architecture (from [`crate::arch`]), the config's metadata that all platforms share, the
//! entrypoint binary when its path is absolute, and the ELF audit. What can only be known by
//! running it (what `--version` prints) is written commented out, with the reason.

use std::fmt::Write as _;

use futures_util::future::join_all;

use super::open::{Unresolved, open};
use crate::diagnostic::{Diagnostic, printable};
use crate::image::{EntryKind, SourceSpec};
use crate::platform::Platform;

/// The starter spec for `text`, as TOML with comments.
pub async fn starter_spec(text: &str, host: Option<&str>) -> Result<String, Diagnostic> {
    let source = SourceSpec::parse(text)
        .map_err(|e| Diagnostic::usage(e.to_string()).with_hint(e.hint()))?;
    let opened = open(text, &source, host).await;
    let (image, resolved) = opened.image.map_err(Unresolved::into_diagnostic)?;
    let entries: Vec<_> = resolved
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Image && e.platform.is_some())
        .collect();
    let configs = join_all(entries.iter().map(|e| image.platform_contents(e))).await;
    let platforms: Vec<Platform> = entries.iter().filter_map(|e| e.platform.clone()).collect();
    let configs: Vec<_> = configs
        .into_iter()
        .filter_map(Result::ok)
        .map(|c| c.config.config().clone().unwrap_or_default())
        .collect();
    // A value goes into [metadata] only when every platform's config agrees on it.
    let shared = |get: &dyn Fn(&oci_spec::image::Config) -> Option<Vec<String>>| {
        let first = configs.first().map(get)?;
        configs
            .iter()
            .all(|c| get(c) == first)
            .then_some(first)
            .flatten()
    };
    let entrypoint = shared(&|c| c.entrypoint().clone());
    let cmd = shared(&|c| c.cmd().clone());
    let workdir = shared(&|c| c.working_dir().clone().map(|w| vec![w]));
    let user = shared(&|c| c.user().clone().map(|u| vec![u]));
    let complete = configs.len() == platforms.len();

    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Starter spec written by `archsmoke init` from {} ({}).\n\
         # Run it with `archsmoke run FILE`; every key is described in the README (\"The spec\").\n\
         # Each check below holds on the image it was written from; edit them to say what must\n\
         # stay true.\n",
        printable(&resolved.reference),
        printable(&resolved.digest)
    );
    let _ = writeln!(s, "image = {}", quote(text));
    let list: Vec<String> = platforms.iter().map(|p| quote(&p.to_string())).collect();
    let _ = writeln!(s, "platforms = [{}]\n", list.join(", "));

    let _ = writeln!(
        s,
        "# The kernel's machine name on each platform: proves that every platform's image starts\n\
         # and runs its own architecture (natively or under QEMU). Needs `uname` in the image.\n\
         [[test]]\nname = \"machine\"\ncommand = [\"uname\", \"-m\"]"
    );
    if entrypoint.as_ref().is_some_and(|e| !e.is_empty()) {
        let _ = writeln!(
            s,
            "# The image has an ENTRYPOINT; if `uname` does not run through it, override it here."
        );
    }
    for p in &platforms {
        match machine_pattern(p) {
            Some(re) => {
                let _ = writeln!(
                    s,
                    "[test.per_platform.{}]\nstdout_matches = {}",
                    quote(&p.to_string()),
                    quote(&re)
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "# {}: architecture not in archsmoke's table; add its expected `uname -m`:\n\
                     # [test.per_platform.{}]\n# stdout_matches = \"^...$\"",
                    printable(&p.to_string()),
                    quote(&p.to_string())
                );
            }
        }
    }
    let program = entrypoint
        .as_ref()
        .filter(|e| !e.is_empty())
        .or(cmd.as_ref().filter(|c| !c.is_empty()))
        .and_then(|v| v.first().cloned());
    let _ = writeln!(
        s,
        "\n# Does the program answer `--version`? archsmoke init does not run the image, so it\n\
         # cannot know what the answer is, and a check it cannot know would be worse than none.\n\
         # Uncomment once you have seen the output on one platform:\n\
         # [[test]]\n# name = \"version\"\n# command = [{}, \"--version\"]\n# stdout_contains = \"...\"\n",
        quote(program.as_deref().unwrap_or("PROGRAM"))
    );

    if complete && !configs.is_empty() {
        let _ = writeln!(
            s,
            "# The image config, as every platform's config has it today.\n[metadata]"
        );
        if let Some(e) = &entrypoint {
            let _ = writeln!(s, "entrypoint = {}", toml_list(e));
        }
        if let Some(c) = &cmd {
            let _ = writeln!(s, "cmd = {}", toml_list(c));
        }
        if let Some(w) = workdir.as_ref().and_then(|w| w.first()) {
            let _ = writeln!(s, "workdir = {}", quote(w));
        }
        if let Some(u) = user.as_ref().and_then(|u| u.first()) {
            let _ = writeln!(s, "user = {}", quote(u));
        }
        let _ = writeln!(s);
    } else {
        let _ = writeln!(
            s,
            "# [metadata]: the platforms' configs could not all be read here (an engine image has\n\
             # no layers to read), so none is checked.\n"
        );
    }
    match entrypoint.as_ref().and_then(|e| e.first()) {
        Some(path) if path.starts_with('/') => {
            let _ = writeln!(
                s,
                "# The entrypoint's binary exists on every platform.\n[[file]]\npath = {}\n",
                quote(path)
            );
        }
        Some(path) => {
            let _ = writeln!(
                s,
                "# The entrypoint {} is found through PATH; write its absolute path to check it:\n\
                 # [[file]]\n# path = \"/usr/bin/{}\"\n",
                quote(path),
                printable(path)
            );
        }
        None => {
            let _ = writeln!(
                s,
                "# The image has no ENTRYPOINT; check the files it must ship, e.g.:\n\
                 # [[file]]\n# path = \"/bin/sh\"\n"
            );
        }
    }
    let _ = writeln!(
        s,
        "# Every executable in every layer must be built for its platform's architecture.\n\
         [audit]\nelf = \"error\""
    );
    Ok(s)
}

/// `uname -m` on a platform, as a regular expression over the output's line. 32-bit x86 and ARM
/// report their 64-bit host's name when they run natively in compat mode on it.
fn machine_pattern(p: &Platform) -> Option<String> {
    match p.architecture() {
        "386" => Some("^(i[3-6]86|x86_64)$".into()),
        "arm" => Some("^armv[5-8]t?e?j?l$".into()),
        arch => {
            let def = crate::arch::lookup(arch)?;
            Some(format!("^{}$", def.name))
        }
    }
}

/// A TOML basic string (also a quoted key) of `s`, which comes from the image: every character
/// TOML forbids raw (control characters, DEL) and every one that would not read as itself
/// (bidirectional overrides, invisible characters) is a `\uXXXX` escape, so no value can end
/// its string or its line.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if crate::diagnostic::unprintable(c) => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|i| quote(i)).collect();
    format!("[{}]", items.join(", "))
}
