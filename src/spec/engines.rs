//! `[[engine]]` tables: the engines a run may route platforms to besides the default one, each
//! by URL (`host`, with TLS files for `tcp://`) or by Docker context (`context`), optionally with
//! the platforms it must serve (pins) and its own `jobs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{SpecError, Validator};
use crate::platform::Platform;

/// An `[[engine]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEngine {
    pub name: Spanned<String>,
    pub host: Option<Spanned<String>>,
    pub context: Option<Spanned<String>>,
    /// A directory holding `ca.pem`, `cert.pem` and `key.pem` (Docker's DOCKER_CERT_PATH).
    pub cert_path: Option<Spanned<String>>,
    pub ca: Option<Spanned<String>>,
    pub cert: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    pub platforms: Option<Vec<Spanned<String>>>,
    pub jobs: Option<Spanned<i64>>,
}

/// Where an engine is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineTarget {
    /// `unix://`, `tcp://` or `ssh://`, with TLS files for `tcp://` (`None`: plain, or
    /// `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH` for engines named on the command line).
    Host {
        url: String,
        tls: Option<[PathBuf; 3]>,
    },
    /// A Docker CLI context, from the context store.
    Context(String),
}

/// One engine a run may use besides the default engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSpec {
    pub name: String,
    pub target: EngineTarget,
    /// Platforms this engine must run (pins win over routing by architecture).
    pub platforms: Vec<Platform>,
    /// Containers at once on this engine; `None`: the run's `jobs`.
    pub jobs: Option<usize>,
    /// Named by the spec (not by the command line): a spec is often untrusted input (a pull
    /// request), so such an engine gets no registry credentials unless `--trust-spec-engines`.
    pub from_spec: bool,
}

impl EngineSpec {
    /// `--engine NAME=URL` or `--engine NAME=context:CONTEXT`.
    pub fn parse_flag(text: &str) -> Result<EngineSpec, String> {
        let (name, target) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}`: write NAME=URL or NAME=context:CONTEXT"))?;
        check_name(name)?;
        let target = match target.strip_prefix("context:") {
            Some(context) if !context.is_empty() => EngineTarget::Context(context.to_owned()),
            Some(_) => return Err(format!("`{text}`: the context name is empty")),
            None => {
                check_url(target)?;
                EngineTarget::Host {
                    url: target.to_owned(),
                    tls: None,
                }
            }
        };
        Ok(EngineSpec {
            name: name.to_owned(),
            target,
            platforms: Vec::new(),
            jobs: None,
            from_spec: false,
        })
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "engine name `{name}`: use letters, digits, `-`, `_` and `.`"
        ));
    }
    Ok(())
}

fn check_url(url: &str) -> Result<(), String> {
    const SCHEMES: [&str; 5] = ["unix://", "tcp://", "ssh://", "http://", "https://"];
    if SCHEMES
        .iter()
        .any(|s| url.starts_with(s) && url.len() > s.len())
    {
        Ok(())
    } else {
        Err(format!(
            "`{url}` is not an engine URL: use unix:///path, tcp://host:port or \
             ssh://[user@]host[:port]"
        ))
    }
}

impl Validator<'_> {
    pub(super) fn engines(&self, raw: &[Spanned<RawEngine>]) -> Result<Vec<EngineSpec>, SpecError> {
        let mut names = BTreeSet::new();
        let mut pinned: Vec<(Platform, String)> = Vec::new();
        let mut out = Vec::with_capacity(raw.len());
        for table in raw {
            let e = table.get_ref();
            let name = e.name.get_ref().clone();
            check_name(&name).map_err(|m| self.err(&e.name, m))?;
            if name == crate::outcome::DEFAULT_ENGINE || !names.insert(name.clone()) {
                return Err(self
                    .err(&e.name, format!("engine name `{name}` is taken"))
                    .with_hint(
                        "each [[engine]] needs its own name; \"default\" is the default engine's",
                    ));
            }
            let target = match (&e.host, &e.context) {
                (Some(host), None) => {
                    check_url(host.get_ref()).map_err(|m| self.err(host, m))?;
                    EngineTarget::Host {
                        url: host.get_ref().clone(),
                        tls: self.tls_files(e)?,
                    }
                }
                (None, Some(context)) => {
                    if let Some(k) = e.cert_path.as_ref().or(e.ca.as_ref()) {
                        return Err(self
                            .err(k, "a context brings its own TLS files")
                            .with_hint("remove the TLS keys, or use `host` instead of `context`"));
                    }
                    EngineTarget::Context(context.get_ref().clone())
                }
                _ => {
                    return Err(self
                        .err(
                            &e.name,
                            format!("engine `{name}` needs `host` or `context` (one of them)"),
                        )
                        .with_hint("host = \"ssh://user@arm64-box\", or context = \"arm64\""));
                }
            };
            let platforms = match &e.platforms {
                Some(list) => self.platform_list(list, "platforms")?,
                None => Vec::new(),
            };
            for (p, raw_p) in platforms.iter().zip(e.platforms.iter().flatten()) {
                if let Some((_, other)) = pinned.iter().find(|(q, _)| q == p) {
                    return Err(
                        self.err(raw_p, format!("{p} is already pinned to engine `{other}`"))
                    );
                }
                pinned.push((p.clone(), name.clone()));
            }
            let jobs = match &e.jobs {
                Some(j) if (1..=256).contains(j.get_ref()) => Some(*j.get_ref() as usize),
                Some(j) => return Err(self.err(j, "`jobs` must be between 1 and 256")),
                None => None,
            };
            out.push(EngineSpec {
                name,
                target,
                platforms,
                jobs,
                from_spec: true,
            });
        }
        Ok(out)
    }

    /// `cert_path`, or all three of `ca`, `cert`, `key`; relative paths are the spec's.
    fn tls_files(&self, e: &RawEngine) -> Result<Option<[PathBuf; 3]>, SpecError> {
        let base = self.path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &str| base.join(p);
        match (&e.cert_path, &e.ca, &e.cert, &e.key) {
            (None, None, None, None) => Ok(None),
            (Some(dir), None, None, None) => {
                let d = resolve(dir.get_ref());
                Ok(Some([
                    d.join("ca.pem"),
                    d.join("cert.pem"),
                    d.join("key.pem"),
                ]))
            }
            (None, Some(ca), Some(cert), Some(key)) => Ok(Some([
                resolve(ca.get_ref()),
                resolve(cert.get_ref()),
                resolve(key.get_ref()),
            ])),
            _ => Err(self
                .err(
                    &e.name,
                    "give `cert_path`, or all three of `ca`, `cert` and `key`",
                )
                .with_hint("cert_path = \"certs/\" holds ca.pem, cert.pem and key.pem")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<EngineSpec>, SpecError> {
        let text =
            format!("image = \"busybox\"\n{text}\n[[test]]\nname = \"t\"\ncommand = [\"true\"]\n");
        super::super::parse(Path::new("/specs/smoke.toml"), &text).map(|s| s.engines)
    }

    #[test]
    fn engines_by_host_and_context_with_pins_and_jobs() {
        let engines = parse(
            "[[engine]]\nname = \"arm\"\nhost = \"tcp://arm:2376\"\ncert_path = \"certs\"\n\
             platforms = [\"linux/arm64\"]\njobs = 2\n\
             [[engine]]\nname = \"ctx\"\ncontext = \"remote\"\n",
        )
        .expect("valid");
        assert_eq!(engines.len(), 2);
        assert_eq!(engines[0].jobs, Some(2));
        assert_eq!(
            engines[0].platforms,
            vec![Platform::parse("linux/arm64").expect("valid")]
        );
        let EngineTarget::Host { tls: Some(tls), .. } = &engines[0].target else {
            panic!("{:?}", engines[0].target)
        };
        assert_eq!(tls[0], PathBuf::from("/specs/certs/ca.pem"));
        assert_eq!(engines[1].target, EngineTarget::Context("remote".into()));
    }

    #[test]
    fn bad_engines_point_at_their_line() {
        let err = parse("[[engine]]\nname = \"x\"\n").expect_err("must fail");
        assert!(
            err.to_string().contains("needs `host` or `context`"),
            "{err}"
        );
        let err = parse("[[engine]]\nname = \"x\"\nhost = \"ftp://x\"\n").expect_err("must fail");
        assert!(err.to_string().contains("not an engine URL"), "{err}");
        let err = parse(
            "[[engine]]\nname = \"a\"\nhost = \"unix:///a\"\nplatforms = [\"linux/amd64\"]\n\
             [[engine]]\nname = \"b\"\nhost = \"unix:///b\"\nplatforms = [\"linux/amd64\"]\n",
        )
        .expect_err("must fail");
        assert!(
            err.to_string().contains("already pinned to engine `a`"),
            "{err}"
        );
        let err =
            parse("[[engine]]\nname = \"default\"\nhost = \"unix:///a\"\n").expect_err("must fail");
        assert!(err.to_string().contains("is taken"), "{err}");
        let err = parse("[[engine]]\nname = \"a\"\nhost = \"tcp://a:1\"\nca = \"ca.pem\"\n")
            .expect_err("must fail");
        assert!(err.to_string().contains("all three"), "{err}");
    }

    #[test]
    fn engine_flags() {
        let e = EngineSpec::parse_flag("arm=ssh://me@arm64-box").expect("valid");
        assert_eq!(e.name, "arm");
        let e = EngineSpec::parse_flag("c=context:remote").expect("valid");
        assert_eq!(e.target, EngineTarget::Context("remote".into()));
        assert!(EngineSpec::parse_flag("noequals").is_err());
        assert!(EngineSpec::parse_flag("a=ftp://x").is_err());
        assert!(EngineSpec::parse_flag("bad name=unix:///x").is_err());
    }
}
