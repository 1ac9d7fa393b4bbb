//! The languages buyer messages are written in, and the formatting that differs between them.

use crate::names::{UnknownName, string_name};

/// A language buyer messages are written in.
///
/// Text form (`as_str`, serde, `Display`): `zh-CN` or `en`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Locale {
    /// Simplified Chinese, `zh-CN`: the marketplace's language, and the default.
    #[default]
    ZhCn,
    /// English, `en`.
    En,
}

string_name!(Locale);

impl Locale {
    /// Every locale, in a stable order.
    pub const ALL: [Locale; 2] = [Locale::ZhCn, Locale::En];

    /// Parses a language tag.
    ///
    /// Accepts `zh-CN`, `zh`, `zh-Hans`, `zh-Hans-CN` (Chinese) and `en`, `en-<region>` (English),
    /// in any letter case and with `_` in place of `-` (POSIX-style names such as `zh_CN` are
    /// common in configuration). Traditional Chinese tags (`zh-TW`, `zh-Hant`…) are refused rather
    /// than answered in simplified characters.
    pub fn parse(s: &str) -> Result<Self, UnknownName> {
        let tag = s.replace('_', "-").to_ascii_lowercase();
        match tag.as_str() {
            "zh-cn" | "zh" | "zh-hans" | "zh-hans-cn" => Ok(Locale::ZhCn),
            "en" => Ok(Locale::En),
            // Any English region reads the same messages.
            t if t.strip_prefix("en-").is_some_and(|region| {
                !region.is_empty() && region.chars().all(|c| c.is_ascii_alphanumeric())
            }) =>
            {
                Ok(Locale::En)
            }
            _ => Err(UnknownName::new("locale", s, "zh-CN, en")),
        }
    }

    /// The canonical tag: `zh-CN` or `en`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-CN",
            Locale::En => "en",
        }
    }

    /// What joins item titles in a list: `、` (the Chinese enumeration comma) or `, `.
    pub const fn list_separator(self) -> &'static str {
        match self {
            Locale::ZhCn => "、",
            Locale::En => ", ",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_tags_round_trip() {
        for locale in Locale::ALL {
            assert_eq!(Locale::parse(locale.as_str()), Ok(locale));
            assert_eq!(locale.to_string(), locale.as_str());
        }
    }

    #[test]
    fn accepts_common_spellings() {
        for tag in ["zh-CN", "zh_cn", "ZH", "zh-Hans", "zh-Hans-CN"] {
            assert_eq!(Locale::parse(tag), Ok(Locale::ZhCn), "{tag}");
        }
        for tag in ["en", "EN", "en-US", "en_GB"] {
            assert_eq!(Locale::parse(tag), Ok(Locale::En), "{tag}");
        }
    }

    #[test]
    fn refuses_other_languages_and_traditional_chinese() {
        for tag in [
            "", "fr", "zh-TW", "zh-Hant", "en-", "en-U S", "english", " en",
        ] {
            let err = Locale::parse(tag).expect_err(tag);
            assert_eq!(err.what(), "locale");
            assert_eq!(err.value(), tag);
        }
    }

    #[test]
    fn serde_uses_the_canonical_tag() {
        let json = serde_json::to_string(&Locale::ZhCn).expect("serialise");
        assert_eq!(json, "\"zh-CN\"");
        let back: Locale = serde_json::from_str("\"en\"").expect("deserialise");
        assert_eq!(back, Locale::En);
        assert!(serde_json::from_str::<Locale>("\"fr\"").is_err());
    }

    #[test]
    fn list_separators() {
        assert_eq!(Locale::ZhCn.list_separator(), "、");
        assert_eq!(Locale::En.list_separator(), ", ");
    }
}
