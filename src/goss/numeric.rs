//! goss's numeric matchers (`resource/gomega.go`: `gt`, `ge`, `lt`, `le` are gomega's
//! `BeNumerically`, a plain number is `BeNumerically("eq")`, with `and`, `or`, `not` and
//! `equal` around them) as the one range archsmoke's spec writes (`{ gt = 100 }`).
//!
//! A matcher is evaluated as a set of integer intervals (the attribute is a whole number:
//! an exit status, a size, an id, a status), with `and` their intersection, `or` their union
//! and `not` the complement; the bounds keep the form they were written in, so `{gt: 100}`
//! stays "> 100" in the reports. What is left inside the attribute's domain must be one
//! interval: `not: 200` on a status is two, and is refused with its position.
//!
//! Attributes archsmoke checks as text (a uid in `/etc/passwd`, a kernel parameter) take the
//! interval as a regex over decimal numbers ([`decimal_regex`]).

use marked_yaml::Node;

use super::matcher::{Problem, problem};
use crate::range::{Bound, IntRange, highest as high, lowest as low};
use crate::spec::number::Domain;

/// The matcher at `node` on the whole-number attribute `what`, as one range of `domain`.
pub fn range(node: &Node, what: &str, domain: Domain) -> Result<IntRange, Problem> {
    let set = set_of(node, what)?;
    let inside: Vec<IntRange> = set
        .into_iter()
        .filter(|r| r.within((domain.min, domain.max)).is_some())
        .collect();
    match inside.as_slice() {
        [] => Err(problem(
            node,
            format!("`{what}` can never match: no value it can have passes this matcher"),
            format!("{}; goss fails this check everywhere", domain.says),
        )),
        [one] if one.lower.is_none() && one.upper.is_none() => Ok(IntRange {
            lower: Some(Bound::Inclusive(domain.min)),
            upper: None,
        }),
        [one] => Ok(*one),
        several => {
            let parts: Vec<String> = several.iter().map(ToString::to_string).collect();
            Err(problem(
                node,
                format!(
                    "`{what}` with this matcher passes for {}: archsmoke's spec checks one range",
                    parts.join(", or ")
                ),
                "write one range (`and: [{ge: A}, {lt: B}]`), or one check per range",
            ))
        }
    }
}

/// `r` as a spec writes it: `0`, `{ gt = 100 }`, `{ ge = 200, lt = 400 }`.
pub fn toml(r: IntRange) -> String {
    if let Some(n) = r.exact() {
        return n.to_string();
    }
    let parts: Vec<String> = r
        .keyed()
        .iter()
        .map(|(k, n)| format!("{k} = {n}"))
        .collect();
    format!("{{ {} }}", parts.join(", "))
}

fn flip(b: Bound) -> Bound {
    match b {
        Bound::Inclusive(n) => Bound::Exclusive(n),
        Bound::Exclusive(n) => Bound::Inclusive(n),
    }
}

fn is_empty(r: &IntRange) -> bool {
    low(r.lower) > high(r.upper)
}

/// Sorted, disjoint and not touching: `[0, 1]` and `[2, 5]` are one interval of integers.
fn normalize(mut set: Vec<IntRange>) -> Vec<IntRange> {
    set.retain(|r| !is_empty(r));
    set.sort_by_key(|r| low(r.lower));
    let mut out: Vec<IntRange> = Vec::new();
    for r in set {
        match out.last_mut() {
            Some(last) if low(r.lower) <= high(last.upper).saturating_add(1) => {
                if high(r.upper) > high(last.upper) {
                    last.upper = r.upper;
                }
            }
            _ => out.push(r),
        }
    }
    out
}

fn intersect(a: &[IntRange], b: &[IntRange]) -> Vec<IntRange> {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            out.push(IntRange {
                lower: if low(x.lower) >= low(y.lower) {
                    x.lower
                } else {
                    y.lower
                },
                upper: if high(x.upper) <= high(y.upper) {
                    x.upper
                } else {
                    y.upper
                },
            });
        }
    }
    normalize(out)
}

fn complement(set: &[IntRange]) -> Vec<IntRange> {
    let mut out = Vec::new();
    let mut from: Option<Option<Bound>> = Some(None);
    for r in normalize(set.to_vec()) {
        if let (Some(lower), Some(start)) = (r.lower, from) {
            out.push(IntRange {
                lower: start,
                upper: Some(flip(lower)),
            });
        }
        from = r.upper.map(|u| Some(flip(u)));
    }
    if let Some(start) = from {
        out.push(IntRange {
            lower: start,
            upper: None,
        });
    }
    normalize(out)
}

/// A number as goss's YAML holds it: a whole number, or the integers a decimal bound stands
/// for (gomega compares as floats, so `gt: 1.5` passes 2).
enum Value {
    Whole(i64),
    Decimal(f64),
}

fn value(node: &Node, key: &str, quoted_ok: bool) -> Result<Value, Problem> {
    let Some(s) = node.as_scalar() else {
        return Err(problem(
            node,
            format!("`{key}` takes a number here"),
            "write a number, such as `gt: 100`",
        ));
    };
    let text = s.as_str().trim();
    if !quoted_ok && !s.may_coerce() {
        return Err(problem(
            node,
            format!("`{key}: \"{text}\"` is a string"),
            format!(
                "gomega's BeNumerically needs a number (goss fails the check on a string): \
                 write `{key}: {text}` without quotes"
            ),
        ));
    }
    if let Ok(n) = text.parse::<i64>() {
        return Ok(Value::Whole(n));
    }
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x.abs() < 9.0e18 => Ok(if x.fract() == 0.0 {
            Value::Whole(x as i64)
        } else {
            Value::Decimal(x)
        }),
        _ => Err(problem(
            node,
            format!("`{key}: {text}` is not a number"),
            "write a number, such as 100",
        )),
    }
}

/// The integers `key` (gt, ge, lt, le, eq) passes against `v`.
fn compare(key: &str, v: Value) -> Vec<IntRange> {
    let r = |lower: Option<Bound>, upper: Option<Bound>| vec![IntRange { lower, upper }];
    match (key, v) {
        ("gt", Value::Whole(n)) => r(Some(Bound::Exclusive(n)), None),
        ("ge", Value::Whole(n)) => r(Some(Bound::Inclusive(n)), None),
        ("lt", Value::Whole(n)) => r(None, Some(Bound::Exclusive(n))),
        ("le", Value::Whole(n)) => r(None, Some(Bound::Inclusive(n))),
        (_, Value::Whole(n)) => vec![IntRange::exactly(n)],
        ("gt", Value::Decimal(x)) => r(Some(Bound::Inclusive(x.floor() as i64 + 1)), None),
        ("ge", Value::Decimal(x)) => r(Some(Bound::Inclusive(x.ceil() as i64)), None),
        ("lt", Value::Decimal(x)) => r(None, Some(Bound::Inclusive(x.ceil() as i64 - 1))),
        ("le", Value::Decimal(x)) => r(None, Some(Bound::Inclusive(x.floor() as i64))),
        // No whole number equals 1.5.
        (_, Value::Decimal(_)) => Vec::new(),
    }
}

fn set_of(node: &Node, what: &str) -> Result<Vec<IntRange>, Problem> {
    match node {
        // A plain value is compared as a number (goss: ToNumeric, then BeNumerically "eq");
        // a numeric string too (its ToString equality, and `deprecateAtoI`).
        Node::Scalar(_) => Ok(compare("eq", value(node, what, true)?)),
        Node::Sequence(_) => Err(problem(
            node,
            format!("a list on `{what}` is not supported"),
            "goss reads a list as `contain-elements`, which a number never passes; write a \
             number or a matcher such as `gt: 1`",
        )),
        Node::Mapping(m) => {
            if m.len() != 1 {
                return Err(problem(
                    node,
                    format!("a matcher on `{what}` has {} keys", m.len()),
                    "a gomega matcher is a mapping with one key; combine bounds with \
                     `and: [{ge: 200}, {lt: 400}]`",
                ));
            }
            let (key, inner) = m.iter().next().expect("one entry");
            let list = |inner: &Node, op: &str| match inner {
                Node::Sequence(items) => items.iter().map(|i| set_of(i, what)).collect(),
                _ => Err(problem(
                    inner,
                    format!("`{op}` takes a list of matchers"),
                    "",
                )),
            };
            match key.as_str() {
                k @ ("gt" | "ge" | "lt" | "le") => Ok(compare(k, value(inner, k, false)?)),
                "equal" => Ok(compare("eq", value(inner, "equal", false)?)),
                "not" => Ok(complement(&set_of(inner, what)?)),
                "and" => {
                    let sets: Vec<Vec<IntRange>> = list(inner, "and")?;
                    let everything = vec![IntRange {
                        lower: None,
                        upper: None,
                    }];
                    Ok(sets.iter().fold(everything, |acc, s| intersect(&acc, s)))
                }
                "or" => {
                    let sets: Vec<Vec<IntRange>> = list(inner, "or")?;
                    Ok(normalize(sets.into_iter().flatten().collect()))
                }
                other => Err(problem(
                    node,
                    format!("the matcher `{other}` on `{what}` is not supported"),
                    format!(
                        "`{what}` is a number: archsmoke supports a number, gt, ge, lt, le, \
                         equal, and, or, not"
                    ),
                )),
            }
        }
    }
}

/// A regex matching the decimal numbers from `lo` to `hi` (inclusive; `lo <= hi`; `None` an
/// open end, which takes numbers of any length, as goss's float comparison does) and no other,
/// written as a program prints them (no `+`, no leading zeros, `-` before negatives), for a
/// number archsmoke checks as text. ASCII digits only (`[0-9]`, never `\d`).
pub fn decimal_regex(lo: Option<i64>, hi: Option<i64>) -> String {
    let mut alternatives = Vec::new();
    if lo.is_none_or(|lo| lo < 0) {
        let neg_hi = hi.map_or(-1, |hi| hi.min(-1));
        // -5..=-2 is "-" then 2..=5.
        for a in unsigned(neg_hi.unsigned_abs(), lo.map(i64::unsigned_abs)) {
            alternatives.push(format!("-{a}"));
        }
    }
    if hi.is_none_or(|hi| hi >= 0) {
        let from = lo.map_or(0, |lo| lo.max(0)) as u64;
        alternatives.extend(unsigned(from, hi.map(|hi| hi as u64)));
    }
    format!("(?:{})", alternatives.join("|"))
}

/// Alternatives for `lo..=hi` (`None`: no end), one per number of digits.
fn unsigned(lo: u64, hi: Option<u64>) -> Vec<String> {
    let digits = |n: u64| n.checked_ilog10().unwrap_or(0) + 1;
    let mut out = Vec::new();
    let Some(hi) = hi else {
        // Up to the last number of `lo`'s length, then every longer one.
        let len = digits(lo);
        out.extend(unsigned(lo, Some(10u64.pow(len) - 1)));
        out.push(format!("[1-9][0-9]{{{len},}}"));
        return out;
    };
    for len in digits(lo)..=digits(hi) {
        let first = if len == 1 { 0 } else { 10u64.pow(len - 1) };
        let last = 10u64.checked_pow(len).map_or(u64::MAX, |p| p - 1);
        let (a, b) = (lo.max(first), hi.min(last));
        if a <= b {
            out.push(same_length(&a.to_string(), &b.to_string()));
        }
    }
    out
}

/// A regex for the numbers from `lo` to `hi`, both written with the same number of digits.
fn same_length(lo: &str, hi: &str) -> String {
    if lo == hi {
        return lo.to_owned();
    }
    let (l0, lo_rest) = lo.split_at(1);
    let (h0, hi_rest) = hi.split_at(1);
    if lo_rest.is_empty() {
        return format!("[{l0}-{h0}]");
    }
    if l0 == h0 {
        return format!("{l0}{}", same_length(lo_rest, hi_rest));
    }
    let k = lo_rest.len();
    let (l, h) = (l0.as_bytes()[0], h0.as_bytes()[0]);
    let lo_whole = lo_rest.bytes().all(|b| b == b'0');
    let hi_whole = hi_rest.bytes().all(|b| b == b'9');
    let mut parts = Vec::new();
    if !lo_whole {
        parts.push(format!("{l0}{}", same_length(lo_rest, &"9".repeat(k))));
    }
    let (from, to) = (
        if lo_whole { l } else { l + 1 },
        if hi_whole { h } else { h - 1 },
    );
    if from <= to {
        let class = if from == to {
            (from as char).to_string()
        } else {
            format!("[{}-{}]", from as char, to as char)
        };
        parts.push(format!("{class}[0-9]{{{k}}}"));
    }
    if !hi_whole {
        parts.push(format!("{h0}{}", same_length(&"0".repeat(k), hi_rest)));
    }
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        format!("(?:{})", parts.join("|"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::number::{EXIT_CODES, IDS, SIZES, STATUSES};

    fn node(yaml: &str) -> Node {
        let options = crate::yaml::Options {
            prevent_coercion: true,
            ..crate::yaml::Options::default()
        };
        let doc = crate::yaml::parse(&format!("v: {yaml}\n"), options).expect("yaml");
        doc.as_mapping()
            .expect("mapping")
            .get_node("v")
            .expect("v")
            .clone()
    }

    fn spec(yaml: &str, domain: Domain) -> String {
        toml(range(&node(yaml), "x", domain).expect(yaml))
    }

    #[test]
    fn bounds_keep_their_written_form() {
        assert_eq!(spec("{gt: 100}", SIZES), "{ gt = 100 }");
        assert_eq!(spec("{lt: 2}", EXIT_CODES), "{ lt = 2 }");
        assert_eq!(spec("{ge: 200}", STATUSES), "{ ge = 200 }");
        assert_eq!(spec("{le: 999}", IDS), "{ le = 999 }");
        assert_eq!(spec("3", EXIT_CODES), "3");
        assert_eq!(spec("\"3\"", EXIT_CODES), "3");
        assert_eq!(spec("{equal: 7}", EXIT_CODES), "7");
        assert_eq!(
            spec("{and: [{ge: 200}, {lt: 400}]}", STATUSES),
            "{ ge = 200, lt = 400 }"
        );
    }

    #[test]
    fn not_and_or_are_complement_intersection_and_union_inside_the_domain() {
        // not 0: "< 0" is no exit code, so "> 0" is left.
        assert_eq!(spec("{not: 0}", EXIT_CODES), "{ gt = 0 }");
        assert_eq!(spec("{not: {lt: 2}}", EXIT_CODES), "{ ge = 2 }");
        assert_eq!(spec("{or: [0, 1]}", EXIT_CODES), "{ ge = 0, le = 1 }");
        assert_eq!(spec("{or: [{lt: 5}, {ge: 3}]}", SIZES), "{ ge = 0 }");
        assert_eq!(
            spec("{and: [{gt: 1}, {not: {gt: 9}}, {ge: 0}]}", SIZES),
            "{ gt = 1, le = 9 }"
        );
        assert_eq!(spec("{not: {not: {le: 4}}}", SIZES), "{ le = 4 }");
        // Decimal bounds mean the integers gomega's float comparison passes.
        assert_eq!(spec("{gt: 1.5}", SIZES), "{ ge = 2 }");
        assert_eq!(spec("{le: 1.5}", SIZES), "{ le = 1 }");
        assert_eq!(spec("{lt: 2.0}", SIZES), "{ lt = 2 }");
    }

    #[test]
    fn what_one_range_cannot_say_is_refused_at_its_position() {
        let e = range(&node("{not: 200}"), "status", STATUSES).expect_err("two ranges");
        assert!(e.message.contains("< 200, or > 200"), "{}", e.message);
        assert_eq!(e.span, Some((1, 4)));
        let e = range(&node("{and: [{lt: 1}, {gt: 5}]}"), "size", SIZES).expect_err("empty");
        assert!(e.message.contains("can never match"), "{}", e.message);
        let e = range(&node("{gt: 255}"), "exit-status", EXIT_CODES).expect_err("outside");
        assert!(e.message.contains("can never match"), "{}", e.message);
        assert!(e.hint.contains("0 to 255"), "{}", e.hint);
        assert!(range(&node("{gt: \"5\"}"), "size", SIZES).is_err());
        assert!(range(&node("{have-len: 2}"), "size", SIZES).is_err());
        assert!(range(&node("[1, 2]"), "size", SIZES).is_err());
        assert!(range(&node("{gt: 1, lt: 5}"), "size", SIZES).is_err());
        assert!(range(&node("{eq: 1.5}"), "size", SIZES).is_err());
        assert!(range(&node("{gt: abc}"), "size", SIZES).is_err());
    }

    #[test]
    fn decimal_regexes_match_exactly_their_range() {
        for (lo, hi) in [
            (0, 0),
            (0, 9),
            (0, 999),
            (1, 1000),
            (33, 33),
            (100, 599),
            (101, 4_294_967_295),
            (1000, 59_999),
            (7, 1234),
            (-15, 12),
            (-300, -17),
            (i64::MIN, -9_223_372_036_854_775_000),
            (9_223_372_036_854_775_000, i64::MAX),
        ] {
            let re = regex::Regex::new(&format!("^{}$", decimal_regex(Some(lo), Some(hi))))
                .expect("regex");
            let probe = |n: i64| re.is_match(&n.to_string());
            let middle = (i128::from(lo) + (i128::from(hi) - i128::from(lo)) / 2) as i64;
            for n in [lo, hi, middle] {
                assert!(probe(n), "{n} in {lo}..={hi}: {re}");
            }
            for n in [lo.checked_sub(1), hi.checked_add(1)].into_iter().flatten() {
                assert!(!probe(n), "{n} outside {lo}..={hi}: {re}");
            }
            assert!(!re.is_match("+5") && !re.is_match("007") && !re.is_match(""));
        }
        // Every number of a small window, against a direct comparison.
        for (lo, hi) in [(0, 255), (13, 487), (-99, 101), (250, 1001)] {
            let re = regex::Regex::new(&format!("^{}$", decimal_regex(Some(lo), Some(hi))))
                .expect("regex");
            for n in -1200..1200 {
                assert_eq!(
                    re.is_match(&n.to_string()),
                    (lo..=hi).contains(&n),
                    "{n} {lo} {hi}"
                );
            }
        }
        // Open ends take numbers of any length, beyond i64 too (goss compares as floats).
        let above =
            regex::Regex::new(&format!("^{}$", decimal_regex(Some(300), None))).expect("re");
        let below = regex::Regex::new(&format!("^{}$", decimal_regex(None, Some(-7)))).expect("re");
        for n in -1200..1200 {
            assert_eq!(above.is_match(&n.to_string()), n >= 300, "{n}");
            assert_eq!(below.is_match(&n.to_string()), n <= -7, "{n}");
        }
        assert!(above.is_match("123456789012345678901234567890"));
        assert!(below.is_match("-123456789012345678901234567890"));
        assert!(!above.is_match("0300"));
    }
}
