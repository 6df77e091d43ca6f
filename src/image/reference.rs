//! Image references (`registry:5000/repo/name:tag@sha256:…`) parsed by Docker's grammar,
//! into `oci-spec`'s [`Reference`].
//!
//! Why not `Reference::from_str`: it matches one anchored regex whose tag part is the Unicode
//! class `[\w][\w.-]{0,127}`. Compiling that repetition costs about 250 million instructions
//! (≈50 ms of every process start in a release build, ≈200 ms unoptimized; regex issue #1095),
//! more than the whole index walk against a local registry, and the Unicode `\w` accepts tags
//! that Docker (whose Go `\w` is ASCII) rejects. The grammar below is distribution/reference's,
//! checked piece by piece; a unit test and the `reference` fuzz target compare every answer
//! with `oci-spec`'s parser, which stays the authority for what a reference means.
//!
//! Deliberate differences from `oci-spec` (both are Docker's behaviour):
//! - tags are ASCII only;
//! - a first component that only the docker.io default can explain must be lowercase
//!   (`Foo/bar` is an error, not `docker.io/Foo/bar`).

use oci_client::{ParseError, Reference};

const NAME_TOTAL_LENGTH_MAX: usize = 255;
const TAG_LENGTH_MAX: usize = 128;
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_LEGACY: &str = "index.docker.io";

/// Parse `text` as Docker does; `latest` when neither a tag nor a digest is given.
pub fn parse(text: &str) -> Result<Reference, ParseError> {
    if text.is_empty() {
        return Err(ParseError::NameEmpty);
    }
    // Neither a name nor a tag may contain `@`, and a digest never does: the first one splits.
    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (text, None),
    };
    // A tag follows the last `:` that has no `/` after it; any other `:` is a registry port.
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if !valid_name(name) {
        return Err(if valid_name(&name.to_ascii_lowercase()) {
            ParseError::NameContainsUppercase
        } else {
            ParseError::ReferenceInvalidFormat
        });
    }
    if tag.is_some_and(|t| !valid_tag(t)) {
        return Err(ParseError::TagInvalidFormat);
    }
    if digest.is_some_and(|d| !valid_digest_syntax(d)) {
        return Err(ParseError::DigestInvalidFormat);
    }
    let (registry, repository) = split_domain(name);
    if repository.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(ParseError::NameContainsUppercase);
    }
    if repository.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ParseError::NameTooLong);
    }
    if let Some(d) = digest {
        check_digest_algorithm(d)?;
    }
    Ok(match (tag, digest) {
        (Some(t), Some(d)) => {
            Reference::with_tag_and_digest(registry, repository, t.into(), d.into())
        }
        (None, Some(d)) => Reference::with_digest(registry, repository, d.into()),
        (Some(t), None) => Reference::with_tag(registry, repository, t.into()),
        (None, None) => Reference::with_tag(registry, repository, "latest".into()),
    })
}

/// `(domain "/")? path ("/" path)*`: the first component may be a registry host, or a path
/// component like the others.
fn valid_name(name: &str) -> bool {
    let mut parts = name.split('/');
    let first = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let rest_ok = rest.iter().all(|c| valid_path_component(c));
    rest_ok && (valid_path_component(first) || (!rest.is_empty() && valid_domain(first)))
}

/// `[a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let lower_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !lower_alnum(first) || !lower_alnum(last) {
        return false;
    }
    bytes
        .split(|&b| lower_alnum(b))
        .filter(|sep| !sep.is_empty())
        .all(|sep| matches!(sep, b"." | b"_" | b"__") || sep.iter().all(|&b| b == b'-'))
}

/// `label ("." label)* (":" [0-9]+)?` where a label is alphanumerics with inner hyphens.
fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (d, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    host.split('.').all(label_ok)
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `[\w][\w.-]{0,127}` with Go's (ASCII) `\w`.
fn valid_tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = t.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= TAG_LENGTH_MAX
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

/// `algorithm ":" hex{32,}`, the algorithm being `[A-Za-z][A-Za-z0-9]*` parts joined by one of
/// `-_+.`.
fn valid_digest_syntax(d: &str) -> bool {
    let Some((algorithm, hex)) = d.split_once(':') else {
        return false;
    };
    let part_ok = |p: &str| {
        p.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
            && p.bytes().all(|b| b.is_ascii_alphanumeric())
    };
    algorithm.split(['-', '_', '+', '.']).all(part_ok)
        && hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_digest_algorithm(d: &str) -> Result<(), ParseError> {
    let (algorithm, hex) = d.split_once(':').ok_or(ParseError::DigestInvalidFormat)?;
    let expected = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(ParseError::DigestUnsupported),
    };
    if hex.len() == expected {
        Ok(())
    } else {
        Err(ParseError::DigestInvalidLength)
    }
}

/// distribution/reference's `splitDockerDomain`: the first component is a registry only when it
/// looks like a host (a `.`, a port, or `localhost`); Docker Hub's official images get `library/`.
fn split_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((left, right)) if left.contains(['.', ':']) || left == "localhost" => {
            (left.to_owned(), right.to_owned())
        }
        _ => (DOCKER_HUB.to_owned(), name.to_owned()),
    };
    if domain == DOCKER_HUB_LEGACY {
        domain = DOCKER_HUB.to_owned();
    }
    if domain == DOCKER_HUB && !remainder.contains('/') {
        remainder = format!("library/{remainder}");
    }
    (domain, remainder)
}

/// Compare [`parse`] with `oci-spec`'s parser on `text`: `Err` describes a disagreement that is
/// not one of the deliberate differences listed in the module documentation. For the unit tests
/// and the `reference` fuzz target.
#[doc(hidden)]
pub fn compare_with_oci_spec(text: &str) -> Result<(), String> {
    let ours = parse(text);
    let theirs = text.parse::<Reference>();
    let same = |a: &Reference, b: &Reference| {
        a.registry() == b.registry()
            && a.repository() == b.repository()
            && a.tag() == b.tag()
            && a.digest() == b.digest()
    };
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) if same(a, b) => Ok(()),
        (Err(_), Err(_)) => Ok(()),
        // Docker's ASCII `\w` against the regex's Unicode one.
        (Err(ParseError::TagInvalidFormat), Ok(b)) if b.tag().is_some_and(|t| !t.is_ascii()) => {
            Ok(())
        }
        // `Foo/bar`: Docker refuses an uppercase repository; the regex took `Foo` for a host.
        (Err(ParseError::NameContainsUppercase), Ok(b))
            if b.repository().chars().any(|c| c.is_ascii_uppercase()) =>
        {
            Ok(())
        }
        _ => Err(format!("{text:?}: ours {ours:?}, oci-spec {theirs:?}")),
    }
}

#[cfg(test)]
#[path = "reference_tests.rs"]
mod tests;
