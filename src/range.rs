//! A whole number as a spec expects it: exactly one value (`exit_code = 0`) or a range
//! (`size = { gt = 100 }`, `status = { ge = 200, lt = 400 }`). The bounds are kept as written
//! (inclusive or not) so that a report says what the spec said: "> 100", not ">= 101".

use std::fmt;

/// One end of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bound {
    /// `ge` below, `le` above.
    Inclusive(i64),
    /// `gt` below, `lt` above.
    Exclusive(i64),
}

/// The numbers a check accepts: between `lower` and `upper`, either unbounded when `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IntRange {
    pub lower: Option<Bound>,
    pub upper: Option<Bound>,
}

impl IntRange {
    /// Exactly `n`.
    pub fn exactly(n: i64) -> IntRange {
        IntRange {
            lower: Some(Bound::Inclusive(n)),
            upper: Some(Bound::Inclusive(n)),
        }
    }

    /// The one number accepted, when the range was written as one number.
    pub fn exact(&self) -> Option<i64> {
        match (self.lower, self.upper) {
            (Some(Bound::Inclusive(a)), Some(Bound::Inclusive(b))) if a == b => Some(a),
            _ => None,
        }
    }

    /// The smallest and largest number accepted, an open end as `i128`'s (wide enough that
    /// `gt = i64::MAX` is empty and `ge = 5` holds a `u64::MAX` size).
    pub fn inclusive(&self) -> (i128, i128) {
        (lowest(self.lower), highest(self.upper))
    }

    /// The bounds under the keys a spec writes them with: `[("ge", 200), ("lt", 400)]`.
    pub fn keyed(&self) -> Vec<(&'static str, i64)> {
        let lower = self.lower.map(|b| match b {
            Bound::Inclusive(n) => ("ge", n),
            Bound::Exclusive(n) => ("gt", n),
        });
        let upper = self.upper.map(|b| match b {
            Bound::Inclusive(n) => ("le", n),
            Bound::Exclusive(n) => ("lt", n),
        });
        lower.into_iter().chain(upper).collect()
    }

    /// The numbers of `domain` (inclusive ends) this range accepts, as inclusive ends; `None`
    /// when it accepts none of them.
    pub fn within(&self, domain: (i64, i64)) -> Option<(i64, i64)> {
        let (lo, hi) = self.inclusive();
        let lo = lo.max(i128::from(domain.0));
        let hi = hi.min(i128::from(domain.1));
        // Both ends now lie inside `domain`, so they fit an i64.
        (lo <= hi).then_some((lo as i64, hi as i64))
    }

    pub fn contains(&self, n: i64) -> bool {
        let (lo, hi) = self.inclusive();
        (lo..=hi).contains(&i128::from(n))
    }

    /// [`IntRange::contains`] for an unsigned count or size.
    pub fn contains_u64(&self, n: u64) -> bool {
        let (lo, hi) = self.inclusive();
        (lo..=hi).contains(&i128::from(n))
    }
}

/// The smallest number a lower bound accepts (`None`: no bound).
pub fn lowest(b: Option<Bound>) -> i128 {
    match b {
        None => i128::MIN,
        Some(Bound::Inclusive(n)) => i128::from(n),
        Some(Bound::Exclusive(n)) => i128::from(n) + 1,
    }
}

/// The largest number an upper bound accepts (`None`: no bound).
pub fn highest(b: Option<Bound>) -> i128 {
    match b {
        None => i128::MAX,
        Some(Bound::Inclusive(n)) => i128::from(n),
        Some(Bound::Exclusive(n)) => i128::from(n) - 1,
    }
}

impl fmt::Display for IntRange {
    /// `42`, `> 100`, `>= 200 and < 400`: what a report prints after "expected".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.exact() {
            return write!(f, "{n}");
        }
        let lower = self.lower.map(|b| match b {
            Bound::Inclusive(n) => format!(">= {n}"),
            Bound::Exclusive(n) => format!("> {n}"),
        });
        let upper = self.upper.map(|b| match b {
            Bound::Inclusive(n) => format!("<= {n}"),
            Bound::Exclusive(n) => format!("< {n}"),
        });
        match (lower, upper) {
            (Some(l), Some(u)) => write!(f, "{l} and {u}"),
            (Some(one), None) | (None, Some(one)) => f.write_str(&one),
            (None, None) => f.write_str("any number"),
        }
    }
}

impl serde::Serialize for IntRange {
    /// The bounds as a spec writes them: `{"ge": 200, "lt": 400}`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        for (key, n) in self.keyed() {
            map.serialize_entry(key, &n)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(lower: Option<Bound>, upper: Option<Bound>) -> IntRange {
        IntRange { lower, upper }
    }

    #[test]
    fn bounds_are_inclusive_or_not_as_written_and_shown_so() {
        let r = range(Some(Bound::Inclusive(200)), Some(Bound::Exclusive(400)));
        assert!(r.contains(200) && r.contains(399));
        assert!(!r.contains(199) && !r.contains(400));
        assert_eq!(r.to_string(), ">= 200 and < 400");
        let gt = range(Some(Bound::Exclusive(100)), None);
        assert!(!gt.contains(100) && gt.contains(101) && gt.contains(i64::MAX));
        assert_eq!(gt.to_string(), "> 100");
        assert_eq!(
            range(None, Some(Bound::Inclusive(999))).to_string(),
            "<= 999"
        );
        assert_eq!(IntRange::exactly(0).to_string(), "0");
        assert_eq!(IntRange::exactly(7).exact(), Some(7));
        assert_eq!(gt.exact(), None);
    }

    #[test]
    fn within_a_domain_and_at_the_ends_of_i64() {
        let lt2 = range(None, Some(Bound::Exclusive(2)));
        assert_eq!(lt2.within((0, 255)), Some((0, 1)));
        assert_eq!(
            range(Some(Bound::Exclusive(255)), None).within((0, 255)),
            None
        );
        let empty = range(Some(Bound::Exclusive(i64::MAX)), None);
        assert_eq!(empty.within((i64::MIN, i64::MAX)), None);
        assert!(!empty.contains(i64::MAX));
        assert!(
            range(None, Some(Bound::Exclusive(i64::MIN)))
                .within((i64::MIN, 0))
                .is_none()
        );
        assert!(lt2.contains_u64(1) && !lt2.contains_u64(u64::MAX));
        assert!(range(Some(Bound::Inclusive(5)), None).contains_u64(u64::MAX));
    }

    #[test]
    fn serializes_as_the_spec_writes_it() {
        let r = range(Some(Bound::Exclusive(1)), Some(Bound::Inclusive(9)));
        assert_eq!(
            serde_json::to_value(r).expect("json"),
            serde_json::json!({"gt": 1, "le": 9})
        );
    }
}
