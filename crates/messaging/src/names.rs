//! Names that travel as strings (locales, kinds, channels, placeholders): the shared parse error
//! and the serde glue that makes every one of them serialise as its `as_str` form.

/// Longest part of a refused value that is echoed back in an error, so that a huge input does not
/// become a huge error message.
const MAX_ECHO_CHARS: usize = 64;

/// A string that is not one of the names a type accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}; expected one of: {expected}")]
pub struct UnknownName {
    what: &'static str,
    value: String,
    expected: &'static str,
}

impl UnknownName {
    pub(crate) fn new(what: &'static str, value: &str, expected: &'static str) -> Self {
        Self {
            what,
            value: value.chars().take(MAX_ECHO_CHARS).collect(),
            expected,
        }
    }

    /// What was being parsed: `"locale"`, `"template kind"`, `"channel"` or `"placeholder"`.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The refused value (at most 64 characters of it).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The accepted names, comma-separated.
    pub fn expected(&self) -> &'static str {
        self.expected
    }
}

/// Implements `Display`, `FromStr`, `Serialize` and `Deserialize` through the type's
/// `as_str`/`parse`, so that the text form is defined in one place and JSON map keys work too.
macro_rules! string_name {
    ($ty:ty) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::names::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                // An owned string, because JSON strings with escapes cannot be borrowed.
                let s = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                Self::parse(&s).map_err(::serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use string_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_in_the_error() {
        let long = "x".repeat(10_000);
        let err = UnknownName::new("locale", &long, "zh-CN, en");
        assert_eq!(err.value().chars().count(), MAX_ECHO_CHARS);
        assert!(err.to_string().len() < 200);
    }
}
