//! goss matchers (its `docs/gossfile.md`, "Matchers", and `resource/gomega.go`) read from the
//! YAML nodes as written, and turned into what archsmoke's own spec can check.
//!
//! Three shapes matter. A value read line by line (file contents, command stdout and stderr,
//! HTTP body) takes a list of patterns (`HavePatterns`: `foo` some line contains it, `!foo` no
//! line does, `/re/` some line matches, `!/re/` none does, `\\!foo` a literal `!`), or a
//! gomega matcher applied to the whole text (a plain string is `equal`; `contain-substring`,
//! `match-regexp`, `have-prefix`, `have-suffix`, `not`, `and`). A scalar attribute (owner,
//! filetype) is compared for equality, a number (an exit status, a size, an id) with
//! `numeric`'s ranges. An array attribute (groups, versions) takes a list meaning "contains
//! these elements". Anything archsmoke cannot express is a [`Problem`] at the matcher's
//! position, never a silently weaker check.

use marked_yaml::Node;
use marked_yaml::Span;
use regex::RegexBuilder;

/// A 1-based line and column in the YAML, when the loader knows it.
pub type Pos = Option<(usize, usize)>;

pub fn pos(span: &Span) -> Pos {
    span.start().map(|m| (m.line(), m.column()))
}

/// A matcher archsmoke cannot express, where it was written.
#[derive(Debug)]
pub struct Problem {
    pub span: Pos,
    pub message: String,
    pub hint: String,
}

/// A problem at `node`: what is wrong and what to write instead.
pub(super) fn problem(node: &Node, message: impl Into<String>, hint: impl Into<String>) -> Problem {
    Problem {
        span: pos(node.span()),
        message: message.into(),
        hint: hint.into(),
    }
}

/// Expectations on a text, in the terms of archsmoke's `stdout_*`, `body_*` and `[[file]]` keys.
/// Regexes are written for archsmoke's multi-line regexes: a per-line goss pattern as it is
/// (`^` and `$` then mean a line's ends), a whole-text gomega one with `(?-m)`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stream {
    pub exact: Option<String>,
    pub contains: Vec<String>,
    pub excludes: Vec<String>,
    pub matches: Vec<String>,
    pub not_matches: Vec<String>,
}

impl Stream {
    pub fn is_empty(&self) -> bool {
        *self == Stream::default()
    }
}

/// A goss (Go RE2) pattern in Rust's regex syntax with RE2's meaning: `\d`, `\w`, `\s` and `\b`
/// ASCII-only, a `[` inside a class a literal (see [`crate::re2`]); refused with its position
/// when Rust's regex cannot compile it.
fn go_regex(node: &Node, pattern: &str) -> Result<String, Problem> {
    let re = crate::re2::ascii_classes(pattern);
    check_regex(node, pattern, &re)?;
    Ok(re)
}

/// A Go RE2 pattern compiled with Rust's regex (the same syntax but for a few forms).
fn check_regex(node: &Node, pattern: &str, re: &str) -> Result<(), Problem> {
    RegexBuilder::new(re)
        .size_limit(1 << 20)
        .build()
        .map(|_| ())
        .map_err(|e| {
            problem(
                node,
                format!("bad regex `{pattern}`: {e}"),
                "goss's patterns are Go RE2; archsmoke compiles them with Rust's regex, which \
                 lacks a few RE2 forms (\\Q...\\E, \\C); rewrite the pattern",
            )
        })
}

/// The scalar text of a node, or a problem naming what was expected.
pub fn scalar<'a>(node: &'a Node, what: &str) -> Result<&'a str, Problem> {
    node.as_scalar().map(|s| s.as_str()).ok_or_else(|| {
        problem(
            node,
            format!("`{what}` takes a plain value here"),
            "archsmoke compares this attribute for equality; goss's advanced matchers on it \
             are not supported",
        )
    })
}

/// A boolean attribute (`exists`, `running`, `listening`, `installed`, ...).
pub fn boolean(node: &Node, what: &str) -> Result<bool, Problem> {
    match scalar(node, what)? {
        "true" | "True" | "TRUE" | "yes" => Ok(true),
        "false" | "False" | "FALSE" | "no" => Ok(false),
        other => Err(problem(
            node,
            format!("`{what}: {other}` is not true or false"),
            format!("write `{what}: true` or `{what}: false`"),
        )),
    }
}

/// An integer setting (a `timeout` in milliseconds); goss also accepts a numeric string. The
/// attributes goss checks as numbers (`exit-status`, `size`, ...) are `numeric`'s.
pub fn integer(node: &Node, what: &str) -> Result<i64, Problem> {
    let text = match node {
        Node::Mapping(m) => {
            let ops: Vec<&str> = m.keys().map(|k| k.as_str()).collect();
            return Err(problem(
                node,
                format!(
                    "`{what}` with the matcher `{}` is not supported",
                    ops.join("`, `")
                ),
                format!("`{what}` is a setting: write one number"),
            ));
        }
        _ => scalar(node, what)?,
    };
    text.trim().parse().map_err(|_| {
        problem(
            node,
            format!("`{what}: {text}` is not a number"),
            "write a whole number",
        )
    })
}

/// A list of plain values (`groups`, `versions`, `ip`); a single value is a one-element list
/// and a YAML integer stands for its text (both seen in real goss files).
pub fn strings(node: &Node, what: &str) -> Result<Vec<String>, Problem> {
    match node {
        Node::Scalar(s) => Ok(vec![s.as_str().to_owned()]),
        Node::Sequence(items) => items
            .iter()
            .map(|i| scalar(i, what).map(str::to_owned))
            .collect(),
        Node::Mapping(m) => {
            let ops: Vec<&str> = m.keys().map(|k| k.as_str()).collect();
            Err(problem(
                node,
                format!(
                    "`{what}` with the matcher `{}` is not supported",
                    ops.join("`, `")
                ),
                format!(
                    "write `{what}` as a list of values that must all be present (goss's default)"
                ),
            ))
        }
    }
}

/// One `HavePatterns` pattern, per line, into `out`.
fn pattern(node: &Node, text: &str, out: &mut Stream) -> Result<(), Problem> {
    let (inverse, body) = match text.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('\\').unwrap_or(text)),
    };
    if body.len() >= 2 && body.starts_with('/') && body.ends_with('/') {
        let re = go_regex(node, &body[1..body.len() - 1])?;
        if inverse {
            out.not_matches.push(re);
        } else {
            out.matches.push(re);
        }
    } else if inverse {
        // goss: an inverse pattern that is empty never matches, so "!" passes everywhere.
        if !body.is_empty() {
            out.excludes.push(body.to_owned());
        }
    } else if !body.is_empty() {
        out.contains.push(body.to_owned());
    }
    Ok(())
}

/// Expectations on a text read line by line (contents, stdout, stderr, body).
pub fn stream(node: &Node, what: &str) -> Result<Stream, Problem> {
    let mut out = Stream::default();
    stream_into(node, what, false, &mut out)?;
    Ok(out)
}

fn stream_into(node: &Node, what: &str, negated: bool, out: &mut Stream) -> Result<(), Problem> {
    match node {
        Node::Scalar(s) if !negated => {
            out.exact = Some(s.as_str().to_owned());
            Ok(())
        }
        Node::Scalar(s) => Err(problem(
            node,
            format!("`not: {}` on `{what}` is not supported", s.as_str()),
            "say what must not appear instead: `not: {contain-substring: ...}`",
        )),
        Node::Sequence(items) if !negated => {
            for item in items.iter() {
                let text = scalar(item, what)?;
                pattern(item, text, out)?;
            }
            Ok(())
        }
        Node::Sequence(_) => Err(problem(
            node,
            format!("`not` over a list of patterns on `{what}` is not supported"),
            "negate each pattern with `!` instead",
        )),
        Node::Mapping(m) => {
            if m.len() != 1 {
                return Err(problem(
                    node,
                    format!("a matcher on `{what}` has {} keys", m.len()),
                    "a gomega matcher is a mapping with one key, such as `contain-substring: x`",
                ));
            }
            let (key, value) = m.iter().next().expect("one entry");
            let text = || scalar(value, key.as_str());
            match key.as_str() {
                "have-patterns" if !negated => stream_into(value, what, false, out),
                "and" if !negated => match value {
                    Node::Sequence(items) => {
                        for item in items.iter() {
                            stream_into(item, what, false, out)?;
                        }
                        Ok(())
                    }
                    _ => Err(problem(value, "`and` takes a list of matchers", "")),
                },
                "not" => stream_into(value, what, !negated, out),
                // not (a or b) is: not a, and not b.
                "or" if negated => match value {
                    Node::Sequence(items) => {
                        for item in items.iter() {
                            stream_into(item, what, true, out)?;
                        }
                        Ok(())
                    }
                    _ => Err(problem(value, "`or` takes a list of matchers", "")),
                },
                // One regex: the alternation of what each branch asks of the whole text.
                "or" => {
                    let mut alternatives = Vec::new();
                    or_branches(value, what, &mut alternatives)?;
                    out.matches.push(format!("(?:{})", alternatives.join("|")));
                    Ok(())
                }
                "equal" if !negated => {
                    out.exact = Some(text()?.to_owned());
                    Ok(())
                }
                "contain-substring" => {
                    let t = text()?.to_owned();
                    if negated {
                        out.excludes.push(t);
                    } else {
                        out.contains.push(t);
                    }
                    Ok(())
                }
                op @ ("match-regexp" | "have-prefix" | "have-suffix") => {
                    let t = text()?;
                    let re = match op {
                        "match-regexp" => format!("(?-m){}", go_regex(value, t)?),
                        "have-prefix" => format!("(?-m)\\A{}", regex::escape(t)),
                        _ => format!("(?-m){}\\z", regex::escape(t)),
                    };
                    if negated {
                        out.not_matches.push(re);
                    } else {
                        out.matches.push(re);
                    }
                    Ok(())
                }
                other => Err(problem(
                    node,
                    format!(
                        "the matcher `{}{other}` on `{what}` is not supported",
                        if negated { "not: " } else { "" }
                    ),
                    "archsmoke supports a list of patterns, a string (equal), have-patterns, \
                     contain-substring, match-regexp, have-prefix, have-suffix, not, and, or",
                )),
            }
        }
    }
}

/// The branches of an `or` on a text, each as one regex over the whole text (archsmoke's
/// stream regexes are multi-line, so each branch says which it needs): a string is equality,
/// `contain-substring`, `match-regexp`, `have-prefix`, `have-suffix`, a one-pattern list (per
/// line), and a nested `or`. A branch that needs two regexes at once (`and`, a longer list) or
/// an absence (`not`, `!x`) cannot be one alternative: refused with its position.
fn or_branches(node: &Node, what: &str, out: &mut Vec<String>) -> Result<(), Problem> {
    let Node::Sequence(items) = node else {
        return Err(problem(node, "`or` takes a list of matchers", ""));
    };
    let refuse = |n: &Node, form: &str| {
        Err(problem(
            n,
            format!("{form} inside `or` on `{what}` is not supported"),
            "archsmoke checks an `or` as one regex: each branch may be a string,              contain-substring, match-regexp, have-prefix, have-suffix, a one-pattern list or              another `or`",
        ))
    };
    for item in items.iter() {
        match item {
            Node::Scalar(s) => out.push(format!("(?-m:\\A{}\\z)", regex::escape(s.as_str()))),
            Node::Sequence(list) if list.len() == 1 => {
                let mut one = Stream::default();
                stream_into(item, what, false, &mut one)?;
                if let Some(c) = one.contains.first() {
                    out.push(regex::escape(c));
                } else if let Some(m) = one.matches.first() {
                    out.push(format!("(?m:{m})"));
                } else {
                    return refuse(item, "an inverse pattern (`!x`)");
                }
            }
            Node::Sequence(_) => return refuse(item, "a list of several patterns"),
            Node::Mapping(m) if m.len() == 1 => {
                let (key, value) = m.iter().next().expect("one entry");
                let text = || scalar(value, key.as_str());
                match key.as_str() {
                    "equal" => out.push(format!("(?-m:\\A{}\\z)", regex::escape(text()?))),
                    "contain-substring" => out.push(regex::escape(text()?)),
                    "match-regexp" => out.push(format!("(?-m:{})", go_regex(value, text()?)?)),
                    "have-prefix" => out.push(format!("(?-m:\\A{})", regex::escape(text()?))),
                    "have-suffix" => out.push(format!("(?-m:{}\\z)", regex::escape(text()?))),
                    "or" => or_branches(value, what, out)?,
                    other => return refuse(item, &format!("`{other}`")),
                }
            }
            Node::Mapping(_) => {
                return Err(problem(
                    item,
                    "a matcher inside `or` has several keys",
                    "a gomega matcher is a mapping with one key",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(yaml: &str) -> Node {
        let doc = marked_yaml::parse_yaml(0, format!("v: {yaml}\n")).expect("yaml");
        doc.as_mapping()
            .expect("mapping")
            .get_node("v")
            .expect("v")
            .clone()
    }

    #[test]
    fn patterns_are_per_line_with_inverse_regex_and_escape() {
        let s = stream(
            &node(r#"["foo", "!bar", "/^ba[rz]$/", "!/x+y/", "\\!bang", "", "!"]"#),
            "stdout",
        )
        .expect("stream");
        assert_eq!(s.contains, ["foo", "!bang"]);
        assert_eq!(s.excludes, ["bar"]);
        assert_eq!(s.matches, ["^ba[rz]$"]);
        assert_eq!(s.not_matches, ["x+y"]);
        assert_eq!(s.exact, None);
    }

    #[test]
    fn a_string_is_equality_of_the_whole_text_and_an_empty_list_asserts_nothing() {
        assert_eq!(
            stream(&node("\"\""), "stderr").expect("s").exact,
            Some(String::new())
        );
        assert!(stream(&node("[]"), "stderr").expect("s").is_empty());
    }

    #[test]
    fn gomega_forms_apply_to_the_whole_text() {
        let s = stream(
            &node(
                "{and: [{contain-substring: ok}, {not: {contain-substring: err}}, \
                 {have-prefix: 'a.'}, {not: {match-regexp: 'x$'}}, [\"line\"]]}",
            ),
            "stdout",
        )
        .expect("stream");
        assert_eq!(s.contains, ["ok", "line"]);
        assert_eq!(s.excludes, ["err"]);
        assert_eq!(s.matches, ["(?-m)\\Aa\\."]);
        assert_eq!(s.not_matches, ["(?-m)x$"]);
    }

    #[test]
    fn what_archsmoke_cannot_express_is_a_problem_at_its_position() {
        let n = node("{or: [a, {and: [b]}]}");
        let e = stream(&n, "stdout").expect_err("and in or");
        assert!(e.message.contains("`and` inside `or`"), "{}", e.message);
        assert_eq!(e.span.expect("position"), (1, 13));
        let e = integer(&node("{lt: 2}"), "exit-status").expect_err("lt");
        assert!(e.message.contains("`lt`"), "{}", e.message);
        assert!(stream(&node("['/(unclosed/']"), "body").is_err());
        assert!(stream(&node("{not: [a]}"), "body").is_err());
    }

    #[test]
    fn or_is_one_alternation_and_not_or_is_each_absent() {
        let s = stream(
            &node(
                "{or: [exact, {contain-substring: 'a.b'}, {match-regexp: '^x\\d$'}, ['/^l\\w/'], \
                 {or: [{have-prefix: p}, {have-suffix: s}]}]}",
            ),
            "stdout",
        )
        .expect("or");
        assert_eq!(
            s.matches,
            [r"(?:(?-m:\Aexact\z)|a\.b|(?-m:^x[0-9]$)|(?m:^l[0-9A-Za-z_])|(?-m:\Ap)|(?-m:s\z))"]
        );
        let re = regex::RegexBuilder::new(&s.matches[0])
            .multi_line(true)
            .build()
            .expect("compiles");
        for (text, want) in [
            ("exact", true),
            ("exact\n", false),
            ("x a.b y", true),
            ("x7", true),
            ("x\u{663}", false),
            ("one\nlZ", true),
            ("p...", true),
            ("...s", true),
            ("none", false),
        ] {
            assert_eq!(re.is_match(text), want, "{text:?}");
        }
        let n = stream(
            &node("{not: {or: [{contain-substring: a}, {match-regexp: '^b'}]}}"),
            "stdout",
        )
        .expect("not or");
        assert_eq!(n.excludes, ["a"]);
        assert_eq!(n.not_matches, ["(?-m)^b"]);
        // `not: a` (a string) is refused on its own, so it is in `not: {or: ...}` too.
        assert!(stream(&node("{not: {or: [{contain-substring: a}, ['!x']]}}"), "s").is_err());
        assert!(stream(&node("{or: [['!x']]}"), "stdout").is_err());
        assert!(stream(&node("{or: [[a, b]]}"), "stdout").is_err());
    }

    #[test]
    fn goss_regexes_have_re2s_ascii_classes() {
        let s = stream(&node(r"['/\d+/', '!/\s/']"), "stdout").expect("stream");
        assert_eq!(s.matches, ["[0-9]+"]);
        assert_eq!(s.not_matches, [r"[\t\n\f\r ]"]);
        let s = stream(&node(r#"{match-regexp: '\bw\b'}"#), "stdout").expect("stream");
        assert_eq!(s.matches, [r"(?-m)(?-u:\b)w(?-u:\b)"]);
    }

    #[test]
    fn scalars_integers_and_lists() {
        assert!(boolean(&node("true"), "exists").expect("bool"));
        assert!(!boolean(&node("false"), "exists").expect("bool"));
        assert!(boolean(&node("maybe"), "exists").is_err());
        assert_eq!(integer(&node("\"0\""), "exit-status").expect("int"), 0);
        assert_eq!(integer(&node("101"), "uid").expect("int"), 101);
        assert_eq!(
            strings(&node("[www-data, 33]"), "groups").expect("list"),
            ["www-data", "33"]
        );
        assert_eq!(strings(&node("1.2"), "versions").expect("one"), ["1.2"]);
    }
}
