//! The value types of `snakepit.toml` and their text forms: durations as humantime strings
//! (`"250ms"`, `"5s"`, `"2m"`), limits that can be `"off"`, byte sizes with a unit
//! (`"64MiB"`), whole numbers that must not be zero, and the `module:Class` of a Python
//! adapter.
//!
//! Each type reads itself from TOML (serde) and from an environment variable (`FromStr`),
//! with the same checks and the same messages, and writes itself back in a form it reads.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The word that turns an optional limit off.
pub(crate) const OFF: &str = "off";

/// A duration, written as a humantime string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dur(pub(crate) Duration);

/// A duration that must not be zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NonZeroDur(pub(crate) Duration);

/// A duration, or `"off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OptDur(pub(crate) Option<Duration>);

/// A whole number of at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Count(pub(crate) usize);

/// A whole number, or `"off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OptCount(pub(crate) Option<u64>);

/// A number of bytes: a whole number, or a string with a unit (`"512KiB"`, `"64MiB"`,
/// `"1GB"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bytes(pub(crate) u64);

/// A number of bytes, or `"off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OptBytes(pub(crate) Option<u64>);

/// A fraction in `[0, 1)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fraction(pub(crate) f64);

/// A Python adapter class, `package.module:Class`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClassPath(pub(crate) String);

impl FromStr for Dur {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        humantime::parse_duration(text.trim())
            .map(Self)
            .map_err(|err| {
                format!("`{text}` is not a duration ({err}); write e.g. \"250ms\", \"5s\", \"2m\"")
            })
    }
}

impl FromStr for NonZeroDur {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let Dur(duration) = text.parse()?;
        if duration.is_zero() {
            return Err("must not be zero".to_owned());
        }
        Ok(Self(duration))
    }
}

impl FromStr for OptDur {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        if text.trim() == OFF {
            return Ok(Self(None));
        }
        text.parse().map(|Dur(duration)| Self(Some(duration)))
    }
}

impl FromStr for Count {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().parse::<usize>() {
            Ok(0) => Err("must be at least 1".to_owned()),
            Ok(count) => Ok(Self(count)),
            Err(_) => Err(format!("`{text}` is not a whole number")),
        }
    }
}

impl FromStr for OptCount {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        if text.trim() == OFF {
            return Ok(Self(None));
        }
        text.trim()
            .parse::<u64>()
            .map(|count| Self(Some(count)))
            .map_err(|_| format!("`{text}` is not a whole number or \"off\""))
    }
}

const UNITS: [(&str, u64); 9] = [
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("KB", 1_000),
    ("kB", 1_000),
    ("B", 1),
    ("", 1),
];

impl FromStr for Bytes {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let bad = || {
            format!("`{text}` is not a size; write bytes or e.g. \"512KiB\", \"64MiB\", \"1GB\"")
        };
        let (number, multiplier) = UNITS
            .iter()
            .find_map(|(unit, multiplier)| {
                trimmed
                    .strip_suffix(unit)
                    .map(|number| (number.trim(), *multiplier))
            })
            .ok_or_else(bad)?;
        number
            .parse::<u64>()
            .ok()
            .and_then(|number| number.checked_mul(multiplier))
            .map(Self)
            .ok_or_else(bad)
    }
}

impl FromStr for OptBytes {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        if text.trim() == OFF {
            return Ok(Self(None));
        }
        text.parse().map(|Bytes(bytes)| Self(Some(bytes)))
    }
}

impl FromStr for ClassPath {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let valid_module =
            |module: &str| !module.is_empty() && module.split('.').all(is_identifier);
        match text.split_once(':') {
            Some((module, class)) if valid_module(module) && is_identifier(class) => {
                Ok(Self(text.to_owned()))
            }
            _ => Err(format!(
                "`{text}` is not a Python adapter class; write `package.module:Class`"
            )),
        }
    }
}

fn is_identifier(word: &str) -> bool {
    let mut chars = word.chars();
    chars
        .next()
        .is_some_and(|first| first == '_' || first.is_alphabetic())
        && chars.all(|rest| rest == '_' || rest.is_alphanumeric())
}

/// How each type is printed, in a form its `FromStr` reads back.
impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match UNITS[..3]
            .iter()
            .find(|(_, multiplier)| self.0 >= *multiplier && self.0 % multiplier == 0)
        {
            Some((unit, multiplier)) => write!(f, "{}{unit}", self.0 / multiplier),
            None => write!(f, "{}", self.0),
        }
    }
}

/// Reads a value that TOML may give as a string or as an integer (or a float, for
/// [`Fraction`]); integers are read as their decimal text.
struct TextOrNumber<T> {
    expecting: &'static str,
    integers: bool,
    parse: fn(&str) -> Result<T, String>,
}

impl<T> Visitor<'_> for TextOrNumber<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        (self.parse)(text).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<T, E> {
        if !self.integers {
            return Err(E::invalid_type(de::Unexpected::Signed(number), &self));
        }
        if number < 0 {
            return Err(E::custom(format!("{number} is negative")));
        }
        (self.parse)(&number.to_string()).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<T, E> {
        if !self.integers {
            return Err(E::invalid_type(de::Unexpected::Unsigned(number), &self));
        }
        (self.parse)(&number.to_string()).map_err(E::custom)
    }
}

macro_rules! text_value {
    ($type:ty, $expecting:literal, integers: $integers:literal) => {
        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_any(TextOrNumber {
                    expecting: $expecting,
                    integers: $integers,
                    parse: str::parse,
                })
            }
        }
    };
}

text_value!(Dur, "a duration such as \"5s\"", integers: false);
text_value!(NonZeroDur, "a duration such as \"5s\", not zero", integers: false);
text_value!(OptDur, "a duration such as \"5s\", or \"off\"", integers: false);
text_value!(Count, "a whole number of at least 1", integers: true);
text_value!(OptCount, "a whole number, or \"off\"", integers: true);
text_value!(Bytes, "a size in bytes, or a string such as \"64MiB\"", integers: true);
text_value!(OptBytes, "a size such as \"64MiB\", or \"off\"", integers: true);
text_value!(ClassPath, "a Python class written `package.module:Class`", integers: false);

impl FromStr for Fraction {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().parse::<f64>() {
            Ok(value) if (0.0..1.0).contains(&value) => Ok(Self(value)),
            Ok(value) => Err(format!("{value} is not between 0 and 1")),
            Err(_) => Err(format!("`{text}` is not a number")),
        }
    }
}

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        value.to_string().parse().map_err(de::Error::custom)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for NonZeroDur {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Dur(self.0).serialize(serializer)
    }
}

impl Serialize for OptDur {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(duration) => Dur(duration).serialize(serializer),
            None => serializer.serialize_str(OFF),
        }
    }
}

impl Serialize for Count {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0 as u64)
    }
}

impl Serialize for OptCount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(count) => serializer.serialize_u64(count),
            None => serializer.serialize_str(OFF),
        }
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for OptBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(bytes) => Bytes(bytes).serialize(serializer),
            None => serializer.serialize_str(OFF),
        }
    }
}

impl Serialize for Fraction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0)
    }
}

impl Serialize for ClassPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_humantime_and_print_back() {
        assert_eq!("250ms".parse(), Ok(Dur(Duration::from_millis(250))));
        assert_eq!("1m 30s".parse(), Ok(Dur(Duration::from_secs(90))));
        assert_eq!(Dur(Duration::from_secs(90)).to_string(), "1m 30s");
        assert!(
            "5 parsecs"
                .parse::<Dur>()
                .unwrap_err()
                .contains("5 parsecs")
        );
        assert_eq!(
            "0s".parse::<NonZeroDur>(),
            Err("must not be zero".to_owned())
        );
        assert_eq!("off".parse(), Ok(OptDur(None)));
        assert_eq!("2s".parse(), Ok(OptDur(Some(Duration::from_secs(2)))));
    }

    #[test]
    fn sizes_read_units_and_print_the_largest_exact_one() {
        assert_eq!("64MiB".parse(), Ok(Bytes(64 << 20)));
        assert_eq!("64 MiB".parse(), Ok(Bytes(64 << 20)));
        assert_eq!("1GB".parse(), Ok(Bytes(1_000_000_000)));
        assert_eq!("4096".parse(), Ok(Bytes(4096)));
        assert!("64 parsecs".parse::<Bytes>().is_err());
        assert!("-1".parse::<Bytes>().is_err());
        assert_eq!(Bytes(64 << 20).to_string(), "64MiB");
        assert_eq!(Bytes(1536).to_string(), "1536");
        assert_eq!(Bytes(3072).to_string(), "3KiB");
        assert_eq!(Bytes(1000).to_string(), "1000");
        assert_eq!("off".parse(), Ok(OptBytes(None)));
    }

    #[test]
    fn counts_and_classes_are_checked() {
        assert_eq!("0".parse::<Count>(), Err("must be at least 1".to_owned()));
        assert_eq!("3".parse(), Ok(Count(3)));
        assert_eq!("off".parse(), Ok(OptCount(None)));
        assert!("pkg.mod:Class".parse::<ClassPath>().is_ok());
        for bad in [
            "pkg.mod",
            "pkg.:Class",
            ":Class",
            "pkg:",
            "pkg:Cl-ass",
            "1pkg:Class",
        ] {
            assert!(bad.parse::<ClassPath>().is_err(), "{bad}");
        }
        assert!("1.5".parse::<Fraction>().is_err());
        assert_eq!("0.25".parse(), Ok(Fraction(0.25)));
    }
}
