//! container-structure-test (cst) configs: read strictly with positions (`raw`), translated to
//! archsmoke's own TOML spec (`translate`), which then loads as any spec does. The same text is
//! what `archsmoke convert` prints, so a run of a cst config and a run of its conversion are the
//! same run, and everything archsmoke adds (the platform matrix, timeouts, emulation, reports,
//! the audit) applies to both.
//!
//! A cst config is recognised by its `schemaVersion` key; `.yaml`, `.yml` and `.json` files are
//! always read as cst configs.

mod raw;
mod translate;
mod yaml;

use std::path::Path;

use marked_yaml::{FromYamlError, LoadError};

use crate::spec::{self, Spec, SpecError, did_you_mean};
use raw::RawConfig;

/// The schema versions cst knows.
const SCHEMAS: [&str; 2] = ["1.0.0", "2.0.0"];

/// Whether `path` (with `text`) is a cst config rather than a TOML spec.
pub fn is_cst(path: &Path, text: &str) -> bool {
    let by_name = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
    by_name
        || text.lines().any(|l| {
            let l = l.trim_start_matches(['{', ' ', '"']);
            l.starts_with("schemaVersion")
        })
}

/// Load a spec file, TOML or cst config, reporting every problem found.
pub fn load_any(path: &Path, force_cst: bool) -> Result<Spec, Vec<SpecError>> {
    let text = read(path).map_err(|e| vec![e])?;
    if force_cst || is_cst(path, &text) {
        load(path, &text)
    } else {
        spec::parse_all(path, &text)
    }
}

fn read(path: &Path) -> Result<String, SpecError> {
    spec::read(path)
}

/// The TOML spec equivalent to a cst config, with comments for what could not be expressed.
pub fn convert(path: &Path) -> Result<String, Vec<SpecError>> {
    let text = read(path).map_err(|e| vec![e])?;
    let t = translate(path, &text)?;
    // What the conversion says must load as archsmoke's own spec.
    spec::parse(path, &t.toml).map_err(|e| vec![internal(path, &e)])?;
    Ok(t.toml)
}

/// A cst config as a validated [`Spec`], or every problem found.
pub fn load(path: &Path, text: &str) -> Result<Spec, Vec<SpecError>> {
    let t = translate(path, text)?;
    let mut spec = spec::parse(path, &t.toml).map_err(|e| vec![internal(path, &e)])?;
    spec.locate_privileged(t.privileged_at);
    // Lines of the translation, not of the user's YAML: pointing there would mislead.
    spec.lines.clear();
    Ok(spec)
}

fn internal(path: &Path, e: &SpecError) -> SpecError {
    translation_bug(path, e, "cst")
}

/// A translation (of a cst config or a goss file, `from`) that the spec loader refuses: every
/// user mistake should have been refused with its position before this, so it is ours.
pub(crate) fn translation_bug(path: &Path, e: &SpecError, from: &str) -> SpecError {
    SpecError::file(
        path,
        format!(
            "the translated spec does not load ({}): a bug in archsmoke's {from} support",
            e.message
        ),
    )
    .with_hint("`archsmoke convert` shows the translation; please report it")
}

fn translate(path: &Path, text: &str) -> Result<translate::Translation, Vec<SpecError>> {
    let raw = parse(path, text).map_err(|e| vec![e])?;
    let version = raw.schema_version.as_str();
    if !SCHEMAS.contains(&version) {
        let tr = translate::Translator::new(path, text);
        return Err(vec![
            tr.at(
                &raw.schema_version,
                format!("unsupported schemaVersion `{version}`"),
            )
            .with_hint("cst knows schemaVersion 1.0.0 and 2.0.0"),
        ]);
    }
    let t = translate::Translator::new(path, text).translate(&raw);
    if t.errors.is_empty() {
        Ok(t)
    } else {
        Err(t.errors)
    }
}

/// Parse the YAML strictly: unknown keys, duplicate keys and wrong types are errors with their
/// position, as in cst's `yaml.UnmarshalStrict`.
fn parse(path: &Path, text: &str) -> Result<RawConfig, SpecError> {
    // Quoted scalars stay strings (`"yes"`, `"~"`, `"1"`), as yaml.v2 reads them.
    // Anchors, aliases and merge keys resolved, as yaml.v2 resolves them.
    let options = crate::yaml::Options {
        duplicate_keys_error: true,
        prevent_coercion: true,
        merge_in_document_order: true,
    };
    let mut node = crate::yaml::parse(text, options)
        .map_err(|e| yaml_error(path, text, &FromYamlError::ParseYaml(e)))?;
    yaml::as_yaml11(&mut node);
    let json = path.extension().is_some_and(|e| e == "json");
    loop {
        match marked_yaml::from_node(&node) {
            Ok(raw) => return Ok(raw),
            // cst reads JSON with encoding/json, which skips keys it does not know.
            Err(e) if json => {
                let marked_yaml::Error::UnknownFieldError(field, expected, _) = &*e else {
                    return Err(yaml_error(path, text, &FromYamlError::FromNode(e)));
                };
                let Some(at) = yaml::remove_unknown(&mut node, field, expected) else {
                    return Err(yaml_error(path, text, &FromYamlError::FromNode(e)));
                };
                let warning = SpecError::at_line(
                    path,
                    text,
                    at.line(),
                    at.column(),
                    format!("unknown key `{field}` ignored, as cst ignores it in a JSON config"),
                );
                tracing::warn!("{warning}");
            }
            Err(e) => return Err(yaml_error(path, text, &FromYamlError::FromNode(e))),
        }
    }
}

/// Where `key:` first appears as a mapping key (the loader gives unknown keys no position).
fn find_key(text: &str, key: &str) -> Option<(usize, usize)> {
    if key.is_empty() {
        // `:` alone: every position "contains" the empty key, so look for the bare colon (the
        // search below would never move past it).
        return text.lines().enumerate().find_map(|(n, line)| {
            let body = line.trim_start_matches([' ', '-']);
            body.starts_with(':')
                .then(|| (n + 1, line[..line.len() - body.len()].chars().count() + 1))
        });
    }
    for (n, line) in text.lines().enumerate() {
        let mut from = 0;
        while let Some(i) = line[from..].find(key) {
            let start = from + i;
            let before = line[..start].chars().next_back();
            let after = line[start + key.len()..].trim_start();
            let quoted = matches!(before, Some('"' | '\''));
            let bounded = before.is_none_or(|c| matches!(c, ' ' | '-' | '{' | ',' | '"' | '\''));
            // A quoted key counts only with its closing quote (the same one) right after it.
            let rest = match before {
                Some(q @ ('"' | '\'')) if quoted => after.strip_prefix(q).unwrap_or(""),
                _ => after,
            };
            if bounded && rest.trim_start().starts_with(':') {
                let column = line[..start].chars().count() + 1 - usize::from(quoted);
                return Some((n + 1, column));
            }
            from = start + key.len();
        }
    }
    None
}

fn yaml_error(path: &Path, text: &str, e: &FromYamlError) -> SpecError {
    let at = |m: &marked_yaml::Marker, message: String| {
        SpecError::at_line(path, text, m.line(), m.column(), message)
    };
    match e {
        FromYamlError::ParseYaml(load) => match load {
            LoadError::TopLevelMustBeMapping(m) => {
                at(m, "a cst config is a mapping at its top level".into())
                    .with_hint("start with `schemaVersion: 2.0.0`")
            }
            LoadError::UnexpectedTag(m) => {
                at(m, "YAML tags (`!name`) are not supported".into()).with_hint("remove the tag")
            }
            LoadError::MappingKeyMustBeScalar(m) => {
                at(m, "a mapping key must be a plain value".into())
            }
            LoadError::DuplicateKey(d) => {
                let key = d.key.as_str().to_owned();
                match d.key.span().start() {
                    Some(m) => at(m, format!("duplicate key `{key}`")),
                    None => SpecError::file(path, format!("duplicate key `{key}`")),
                }
                .with_hint("cst's strict YAML reading refuses it too; keep one")
            }
            LoadError::ScanError(m, s) => at(m, format!("malformed YAML: {}", s.info())),
            other => SpecError::file(path, format!("malformed YAML: {other}")),
        },
        FromYamlError::FromNode(e) => {
            let inner: &marked_yaml::Error = e;
            let message = inner.to_string();
            let mut err = match inner.start_mark() {
                Some(m) => at(&m, message.clone()),
                None => SpecError::file(path, message.clone()),
            };
            if let marked_yaml::Error::UnknownFieldError(field, expected, _) = inner {
                if err.line == 0
                    && let Some((line, column)) = find_key(text, field)
                {
                    err = SpecError::at_line(path, text, line, column, String::new());
                }
                err.message = format!("unknown key `{field}`");
                err = err.with_hint(match did_you_mean(field, expected.iter().copied()) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("expected one of: {}", expected.join(", ")),
                });
            } else if message.contains("missing field `schemaVersion`") {
                err = SpecError::file(path, "no `schemaVersion`")
                    .with_hint("cst configs start with `schemaVersion: 2.0.0`");
            }
            err
        }
    }
}

#[cfg(test)]
mod tests;
