//! goss files, as dgoss runs them: `goss.yaml` checked once the image runs as it ships, with
//! `goss_wait.yaml` beside it as readiness, translated to archsmoke's own TOML spec
//! (`translate`, `resources`) which then loads as any spec does. The same text is what
//! `archsmoke convert` prints, so a run of a goss file and a run of its conversion are the
//! same run, on every platform of the image, with nothing copied into it.
//!
//! dgoss's knobs are read from the environment as dgoss reads them: `GOSS_FILES_PATH` (where
//! `goss_wait.yaml` and the vars file are; default the goss file's directory), `GOSS_FILE`
//! (the goss file when a directory is given), `GOSS_WAIT_OPTS` (`-r` retry timeout, `-s` sleep),
//! `GOSS_VARS` (a vars file, relative to `GOSS_FILES_PATH`), `GOSS_VARS_INLINE` (goss's own),
//! `GOSS_OPTS` (`--package`), `GOSS_SLEEP` (accepted; archsmoke watches the service instead).
//!
//! A goss file is recognised by its top-level keys (goss resource types, no `schemaVersion`),
//! or a directory holding `GOSS_FILE`.

mod matcher;
mod numeric;
mod resources;
mod template;
mod translate;
mod wait;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::spec::{self, Spec, SpecError};
pub use translate::Options;

/// The goss file dgoss reads from `GOSS_FILES_PATH` when `GOSS_FILE` is unset.
const DEFAULT_FILE: &str = "goss.yaml";
/// The wait file dgoss looks for beside it.
const WAIT_FILE: &str = "goss_wait.yaml";

/// Whether `path` (with `text`) is a goss file: its top-level keys are goss resource types.
pub fn is_goss(path: &Path, text: &str) -> bool {
    if path.is_dir() {
        return true;
    }
    let mut keys = text
        .lines()
        .filter(|l| !l.starts_with([' ', '\t', '#', '-']) && !l.trim().is_empty())
        .filter(|l| *l != "---")
        .map(|l| {
            l.split(':')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\''])
        });
    let first = keys.next();
    first.is_some_and(translate::is_resource) && keys.all(translate::is_resource)
}

/// Load a spec file: a goss file here, anything else as `cst::load_any` does.
pub fn load_any(path: &Path, force_cst: bool) -> Result<Spec, Vec<SpecError>> {
    if !force_cst && let Some(files) = goss_files(path)? {
        return load(&files, &Knobs::from_env());
    }
    crate::cst::load_any(path, force_cst)
}

/// The TOML spec equivalent to a goss or cst config.
pub fn convert(path: &Path) -> Result<String, Vec<SpecError>> {
    match goss_files(path)? {
        Some(files) => {
            let toml = translate_files(&files, &Knobs::from_env())?;
            spec::parse(&files.main, &toml).map_err(|e| vec![internal(&files.main, &e)])?;
            Ok(toml)
        }
        None => crate::cst::convert(path),
    }
}

/// The files of one dgoss run.
#[derive(Debug)]
struct Files {
    main: PathBuf,
    /// `goss_wait.yaml` where dgoss would find it, if it is there.
    wait: Option<PathBuf>,
    /// The vars file (`GOSS_VARS`), if one is named.
    vars: Option<PathBuf>,
}

/// dgoss's environment.
#[derive(Debug, Default)]
struct Knobs {
    files_path: Option<PathBuf>,
    file: Option<String>,
    wait_opts: Option<String>,
    vars: Option<String>,
    vars_inline: Option<String>,
    opts: Option<String>,
    env: std::collections::BTreeMap<String, String>,
}

impl Knobs {
    fn from_env() -> Knobs {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Knobs {
            files_path: get("GOSS_FILES_PATH").map(PathBuf::from),
            file: get("GOSS_FILE"),
            wait_opts: get("GOSS_WAIT_OPTS"),
            vars: get("GOSS_VARS"),
            vars_inline: get("GOSS_VARS_INLINE"),
            opts: get("GOSS_OPTS"),
            env: std::env::vars().collect(),
        }
    }

    /// `GOSS_WAIT_OPTS` and `GOSS_OPTS` as translation options.
    fn options(&self) -> Result<Options, String> {
        let mut o = Options::default();
        if let Some(w) = &self.wait_opts {
            let words: Vec<&str> = w.split_whitespace().collect();
            let mut i = 0;
            while i < words.len() {
                let (flag, inline) = match words[i].split_once('=') {
                    Some((f, v)) => (f, Some(v)),
                    None => (words[i], None),
                };
                let value = || inline.or_else(|| words.get(i + 1).copied());
                let slot = match flag {
                    "-r" | "--retry-timeout" => Some(&mut o.wait_retry),
                    "-s" | "--sleep" => Some(&mut o.wait_sleep),
                    _ => None,
                };
                if let Some(slot) = slot {
                    let v =
                        value().ok_or_else(|| format!("GOSS_WAIT_OPTS: {flag} needs a value"))?;
                    *slot = go_duration(v).ok_or_else(|| {
                        format!("GOSS_WAIT_OPTS: `{v}` is not a duration such as 30s")
                    })?;
                    i += usize::from(inline.is_none());
                }
                i += 1;
            }
        }
        if let Some(opts) = &self.opts {
            let words: Vec<&str> = opts.split_whitespace().collect();
            for (i, w) in words.iter().enumerate() {
                if let Some(v) = w.strip_prefix("--package=") {
                    o.package = Some(v.to_owned());
                } else if *w == "--package"
                    && let Some(v) = words.get(i + 1)
                {
                    o.package = Some((*v).to_owned());
                }
            }
        }
        Ok(o)
    }
}

/// Go's `time.ParseDuration` for the forms dgoss users write (`30s`, `1m30s`, `500ms`).
fn go_duration(text: &str) -> Option<Duration> {
    humantime::parse_duration(text).ok()
}

/// Where the goss file, its wait file and vars file are, if `path` names a goss file.
fn goss_files(path: &Path) -> Result<Option<Files>, Vec<SpecError>> {
    goss_files_with(path, &Knobs::from_env())
}

fn goss_files_with(path: &Path, knobs: &Knobs) -> Result<Option<Files>, Vec<SpecError>> {
    let main = if path.is_dir() {
        path.join(knobs.file.as_deref().unwrap_or(DEFAULT_FILE))
    } else {
        match crate::userfile::read_text(path, crate::spec::MAX_SPEC_SIZE) {
            Ok(text) if is_goss(path, &text) => path.to_owned(),
            // Not ours (or unreadable): the cst and TOML readers say why.
            _ => return Ok(None),
        }
    };
    let dir = knobs.files_path.clone().unwrap_or_else(|| {
        main.parent()
            .map(Path::to_owned)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."))
    });
    let wait = dir.join(WAIT_FILE);
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    let wait = (wait.is_file() && !same(&wait, &main)).then_some(wait);
    let vars = knobs.vars.as_ref().map(|v| dir.join(v));
    Ok(Some(Files { main, wait, vars }))
}

fn load(files: &Files, knobs: &Knobs) -> Result<Spec, Vec<SpecError>> {
    let toml = translate_files(files, knobs)?;
    let mut spec = spec::parse(&files.main, &toml).map_err(|e| vec![internal(&files.main, &e)])?;
    // Lines of the translation, not of the user's YAML: pointing there would mislead.
    spec.lines.clear();
    Ok(spec)
}

fn internal(path: &Path, e: &SpecError) -> SpecError {
    crate::cst::translation_bug(path, e, "goss")
}

/// The template context: the vars file (then `GOSS_VARS_INLINE` over it) and the environment.
fn context(files: &Files, knobs: &Knobs) -> Result<template::Context, Vec<SpecError>> {
    let mut ctx = template::Context {
        vars: None,
        env: knobs.env.clone(),
    };
    let parse = |path: &Path, text: &str| {
        crate::yaml::parse(text, crate::yaml::Options::default()).map_err(|e| {
            vec![
                SpecError::file(path, format!("the vars file is not YAML or JSON: {e}"))
                    .with_hint("goss vars files are YAML (or JSON) mappings"),
            ]
        })
    };
    if let Some(v) = &files.vars {
        let text = crate::userfile::read_text(v, crate::spec::MAX_SPEC_SIZE).map_err(|e| {
            vec![
                SpecError::file(v, format!("cannot read the vars file: {e}"))
                    .with_hint("GOSS_VARS names a file in GOSS_FILES_PATH, as dgoss reads it"),
            ]
        })?;
        ctx.vars = Some(parse(v, &text)?);
    }
    if let Some(inline) = &knobs.vars_inline {
        let path = Path::new("GOSS_VARS_INLINE");
        let node = parse(path, inline)?;
        ctx.vars = Some(match (ctx.vars.take(), node) {
            (Some(marked_yaml::Node::Mapping(mut base)), marked_yaml::Node::Mapping(over)) => {
                for (k, v) in over.iter() {
                    base.insert(k.clone(), v.clone());
                }
                marked_yaml::Node::Mapping(base)
            }
            (_, node) => node,
        });
    }
    Ok(ctx)
}

fn read_rendered(path: &Path, ctx: &template::Context) -> Result<String, Vec<SpecError>> {
    let text = spec::read(path).map_err(|e| vec![e])?;
    if !text.contains("{{") {
        return Ok(text);
    }
    template::render(&text, ctx).map_err(|e| {
        vec![
            crate::spec::SpecError::at_line(path, &text, e.line, e.column, e.message).with_hint(
                "archsmoke renders .Vars, .Env and getEnv; render other templates with \
                 `goss render` and give archsmoke the result",
            ),
        ]
    })
}

fn translate_files(files: &Files, knobs: &Knobs) -> Result<String, Vec<SpecError>> {
    let opts = knobs.options().map_err(|m| {
        vec![
            SpecError::file(&files.main, m)
                .with_hint("dgoss's default is GOSS_WAIT_OPTS=\"-r 30s -s 1s\""),
        ]
    })?;
    let ctx = context(files, knobs)?;
    let main_text = read_rendered(&files.main, &ctx)?;
    let wait_text = files
        .wait
        .as_ref()
        .map(|w| read_rendered(w, &ctx).map(|t| (w, t)))
        .transpose()?;
    let main = translate::Source {
        path: &files.main,
        text: &main_text,
    };
    let wait = wait_text
        .as_ref()
        .map(|(p, t)| translate::Source { path: p, text: t });
    let t = translate::translate(&main, wait.as_ref(), &opts);
    if t.errors.is_empty() {
        Ok(t.toml)
    } else {
        Err(t.errors)
    }
}

#[cfg(test)]
mod tests;
