//! A number the spec matches (`exit_code`, a file's `uid`, `gid` and `size`, an HTTP `status`,
//! a process `count`): an integer, exactly that, or a table of bounds such as
//! `{ ge = 200, lt = 400 }` (goss's and gomega's `gt`, `ge`, `lt`, `le`). One shape everywhere,
//! so a spec writes a range the same way wherever a number is checked.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use toml::Spanned;

use super::{SpecError, Validator};
use crate::range::{Bound, IntRange};

/// The bound keys, as the error for an unknown one lists them.
const KEYS: [&str; 4] = ["gt", "ge", "lt", "le"];

/// A number key as written: an integer, or a table of bounds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawNumber {
    pub exact: Option<i64>,
    pub gt: Option<i64>,
    pub ge: Option<i64>,
    pub lt: Option<i64>,
    pub le: Option<i64>,
}

impl RawNumber {
    pub fn exactly(n: i64) -> RawNumber {
        RawNumber {
            exact: Some(n),
            ..RawNumber::default()
        }
    }
}

impl<'de> Deserialize<'de> for RawNumber {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumberVisitor)
    }
}

struct NumberVisitor;

impl<'de> Visitor<'de> for NumberVisitor {
    type Value = RawNumber;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number, or a range such as { gt = 100 } or { ge = 200, lt = 400 }")
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<RawNumber, E> {
        Ok(RawNumber::exactly(n))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<RawNumber, E> {
        i64::try_from(n)
            .map(RawNumber::exactly)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(n), &self))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNumber, A::Error> {
        let mut out = RawNumber::default();
        while let Some(key) = map.next_key::<String>()? {
            let slot = match key.as_str() {
                "gt" => &mut out.gt,
                "ge" => &mut out.ge,
                "lt" => &mut out.lt,
                "le" => &mut out.le,
                other => return Err(de::Error::unknown_field(other, &KEYS)),
            };
            *slot = Some(map.next_value::<i64>()?);
        }
        Ok(out)
    }
}

/// Which numbers a key can ever see, for the error of a range outside them.
#[derive(Debug, Clone, Copy)]
pub struct Domain {
    pub min: i64,
    pub max: i64,
    /// "exit codes are 0 to 255".
    pub says: &'static str,
}

pub const EXIT_CODES: Domain = Domain {
    min: 0,
    max: 255,
    says: "exit codes are 0 to 255",
};
pub const IDS: Domain = Domain {
    min: 0,
    max: u32::MAX as i64,
    says: "ids are 0 to 4294967295",
};
pub const SIZES: Domain = Domain {
    min: 0,
    max: i64::MAX,
    says: "sizes are 0 or more bytes",
};
pub const STATUSES: Domain = Domain {
    min: 100,
    max: 599,
    says: "statuses are 100 to 599",
};
pub const COUNTS: Domain = Domain {
    min: 0,
    max: u32::MAX as i64,
    says: "count is how many processes must match: 0 or more",
};

impl Validator<'_> {
    /// `raw` as the range it means for `key`: refused with its position when it is empty, has
    /// two lower or two upper bounds, or accepts no number `key` can have.
    pub(super) fn number(
        &self,
        raw: &Spanned<RawNumber>,
        key: &str,
        domain: Domain,
    ) -> Result<IntRange, SpecError> {
        let r = raw.get_ref();
        if let Some(n) = r.exact {
            if !(domain.min..=domain.max).contains(&n) {
                return Err(self
                    .err(raw, format!("{key} {n} can never happen"))
                    .with_hint(domain.says));
            }
            return Ok(IntRange::exactly(n));
        }
        let pick = |inclusive: Option<i64>, exclusive: Option<i64>, side: &str, keys: &str| match (
            inclusive, exclusive,
        ) {
            (Some(_), Some(_)) => Err(self
                .err(raw, format!("`{key}` has two bounds from {side} ({keys})"))
                .with_hint(format!("keep one of {keys}"))),
            (Some(n), None) => Ok(Some(Bound::Inclusive(n))),
            (None, Some(n)) => Ok(Some(Bound::Exclusive(n))),
            (None, None) => Ok(None),
        };
        let range = IntRange {
            lower: pick(r.ge, r.gt, "below", "`ge` and `gt`")?,
            upper: pick(r.le, r.lt, "above", "`le` and `lt`")?,
        };
        if range.lower.is_none() && range.upper.is_none() {
            return Err(self
                .err(raw, format!("`{key}` is an empty range"))
                .with_hint(format!(
                    "write a number, or bounds such as `{key} = {{ gt = 1 }}` (gt, ge, lt, le)"
                )));
        }
        let (lo, hi) = range.inclusive();
        if lo > hi {
            return Err(self
                .err(
                    raw,
                    format!("`{key}` can never match: no number is {range}"),
                )
                .with_hint("the lower bound must be below the upper one"));
        }
        if range.within((domain.min, domain.max)).is_none() {
            return Err(self
                .err(raw, format!("`{key}` {range} can never happen"))
                .with_hint(domain.says));
        }
        Ok(range)
    }
}
