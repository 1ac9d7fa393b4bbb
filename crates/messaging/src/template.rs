//! The template language: parsing and validating a template, and rendering it.
//!
//! The syntax, limits and error positions are documented on [`Template`].

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike};

use crate::{Locale, Placeholder, TemplateKind};

/// The longest template accepted, in characters. Chat systems cut long messages, and a buyer
/// message is a few sentences; 2,000 leaves room for both languages' verbosity.
pub const MAX_TEMPLATE_CHARS: usize = 2_000;

/// Why a template text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The text is empty or only whitespace.
    #[error("the template is empty")]
    Empty,
    /// The text is longer than [`MAX_TEMPLATE_CHARS`].
    #[error("the template is {chars} characters long; at most {max} are allowed")]
    TooLong {
        /// The text's length in characters.
        chars: usize,
        /// The limit, [`MAX_TEMPLATE_CHARS`].
        max: usize,
    },
    /// A control character other than line break or tab.
    #[error("control character U+{:04X} at position {position} is not allowed", u32::from(*.character))]
    ControlCharacter {
        /// Where it is.
        position: usize,
        /// The character.
        character: char,
    },
    /// A `{` that is not closed by `}` (or is followed by another `{` before its `}`).
    #[error("'{{' at position {position} is not closed; write '{{{{' for a literal brace")]
    UnclosedBrace {
        /// Where the `{` is.
        position: usize,
    },
    /// A `}` with no `{` before it.
    #[error("'}}' at position {position} has no opening '{{'; write '}}}}' for a literal brace")]
    UnmatchedClosingBrace {
        /// Where the `}` is.
        position: usize,
    },
    /// `{}` with no name in it.
    #[error("empty placeholder '{{}}' at position {position}")]
    EmptyPlaceholder {
        /// Where the `{` is.
        position: usize,
    },
    /// A placeholder name that does not exist.
    #[error(
        "unknown placeholder {{{name}}} at position {position}; {kind} templates can use: {}",
        placeholder_list(*.kind)
    )]
    UnknownPlaceholder {
        /// The name between the braces, as written.
        name: String,
        /// Where the `{` is.
        position: usize,
        /// The kind the template was parsed for.
        kind: TemplateKind,
    },
    /// A placeholder that exists but not for this kind (`{link}` outside the card).
    #[error(
        "placeholder {{{placeholder}}} at position {position} is not available in {kind} \
         templates; they can use: {}",
        placeholder_list(*.kind)
    )]
    PlaceholderNotAvailable {
        /// The placeholder.
        placeholder: Placeholder,
        /// Where the `{` is.
        position: usize,
        /// The kind the template was parsed for.
        kind: TemplateKind,
    },
}

impl TemplateError {
    /// The 0-based character position the error points at, if it points at one.
    pub fn position(&self) -> Option<usize> {
        match self {
            TemplateError::Empty | TemplateError::TooLong { .. } => None,
            TemplateError::ControlCharacter { position, .. }
            | TemplateError::UnclosedBrace { position }
            | TemplateError::UnmatchedClosingBrace { position }
            | TemplateError::EmptyPlaceholder { position }
            | TemplateError::UnknownPlaceholder { position, .. }
            | TemplateError::PlaceholderNotAvailable { position, .. } => Some(*position),
        }
    }
}

fn placeholder_list(kind: TemplateKind) -> String {
    kind.placeholders()
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Placeholder(Placeholder),
}

/// A validated template for one [`TemplateKind`].
///
/// Built only by [`Template::parse`], so every `Template` renders without error.
///
/// # Syntax
/// - `{name}` inserts a placeholder; the names are those of [`Placeholder`], and
///   [`TemplateKind::placeholders`] says which ones each kind may use. Names are exact: no spaces,
///   lower case.
/// - `{{` and `}}` are a literal `{` and `}`. Any other `{` or `}` is an error, so a typo can never
///   reach a buyer as a half-rendered placeholder.
/// - Everything else is literal text. Line breaks and tabs are allowed; other control characters
///   are not.
///
/// # Limits
/// A template is at most [`MAX_TEMPLATE_CHARS`] (2,000) characters, counted as Unicode scalar
/// values, and is not empty or whitespace only.
///
/// # Positions
/// Error positions are 0-based indices in Unicode characters (not bytes) into the template text,
/// pointing at the offending brace or character, so that an editor can place the cursor there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    kind: TemplateKind,
    source: String,
    segments: Vec<Segment>,
}

impl Template {
    /// Parses and validates `text` as a template of `kind`; see [`Template`] for the
    /// syntax and limits.
    pub fn parse(kind: TemplateKind, text: &str) -> Result<Self, TemplateError> {
        if text.trim().is_empty() {
            return Err(TemplateError::Empty);
        }
        let chars = text.chars().count();
        if chars > MAX_TEMPLATE_CHARS {
            return Err(TemplateError::TooLong {
                chars,
                max: MAX_TEMPLATE_CHARS,
            });
        }
        if let Some((position, character)) = text
            .chars()
            .enumerate()
            .find(|&(_, c)| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(TemplateError::ControlCharacter {
                position,
                character,
            });
        }

        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut it = text.chars().enumerate().peekable();
        while let Some((position, c)) = it.next() {
            match c {
                '{' if it.next_if(|&(_, next)| next == '{').is_some() => literal.push('{'),
                '}' if it.next_if(|&(_, next)| next == '}').is_some() => literal.push('}'),
                '}' => return Err(TemplateError::UnmatchedClosingBrace { position }),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match it.next() {
                            Some((_, '}')) => break,
                            Some((_, '{')) | None => {
                                return Err(TemplateError::UnclosedBrace { position });
                            }
                            Some((_, ch)) => name.push(ch),
                        }
                    }
                    let placeholder = placeholder_at(kind, &name, position)?;
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Placeholder(placeholder));
                }
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Self {
            kind,
            source: text.to_owned(),
            segments,
        })
    }

    /// The kind this template was parsed for.
    pub fn kind(&self) -> TemplateKind {
        self.kind
    }

    /// The template text as written (with `{{`/`}}` escapes), for storing and editing.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The placeholders the template uses, in order of appearance (repeats included).
    pub fn placeholders(&self) -> impl Iterator<Item = Placeholder> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Placeholder(p) => Some(*p),
            Segment::Literal(_) => None,
        })
    }

    /// Renders the template in `locale` (which decides the list separator for `{items}`).
    ///
    /// Values are inserted as they are, never parsed again, so an item title that contains braces
    /// comes out unchanged. `{link}` and `{expires_at}` render as empty text when the context has
    /// no [`CardLink`]; the api crate always gives one for a card.
    pub fn render(&self, locale: Locale, ctx: &RenderContext) -> String {
        let mut out = String::with_capacity(self.source.len() + 64);
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Placeholder(p) => ctx.write_value(*p, locale, &mut out),
            }
        }
        out
    }
}

fn placeholder_at(
    kind: TemplateKind,
    name: &str,
    position: usize,
) -> Result<Placeholder, TemplateError> {
    if name.is_empty() {
        return Err(TemplateError::EmptyPlaceholder { position });
    }
    let placeholder = Placeholder::parse(name).map_err(|_| TemplateError::UnknownPlaceholder {
        name: name.to_owned(),
        position,
        kind,
    })?;
    if kind.allows(placeholder) {
        Ok(placeholder)
    } else {
        Err(TemplateError::PlaceholderNotAvailable {
            placeholder,
            position,
            kind,
        })
    }
}

/// Escapes literal text for use inside a template: doubles every `{` and `}`.
pub fn escape(text: &str) -> String {
    text.replace('{', "{{").replace('}', "}}")
}

/// The interception card's link, for the card message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardLink {
    /// The URL the buyer opens.
    pub url: String,
    /// When the link stops working, in the shop's time zone: `{expires_at}` shows this local
    /// time, so the caller converts to the shop's offset first.
    pub expires_at: DateTime<FixedOffset>,
}

/// The values a template's placeholders are filled with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderContext {
    /// `{shop_name}`.
    pub shop_name: String,
    /// `{order_id}`: the order number as the buyer sees it.
    pub order_id: String,
    /// The day refunds are off (`{event_day}`), in the shop's time zone.
    pub event_day: NaiveDate,
    /// The day refunds reopen (`{reopen_day}`, `{reopen_date}`), in the shop's time zone.
    pub reopen_date: NaiveDate,
    /// Titles of the items concerned (`{items}`, `{item_count}`), in display order.
    pub items: Vec<String>,
    /// The card link (`{link}`, `{expires_at}`); only the card message uses it.
    pub card: Option<CardLink>,
}

impl RenderContext {
    /// A context without a card link.
    pub fn new(
        shop_name: impl Into<String>,
        order_id: impl Into<String>,
        event_day: NaiveDate,
        reopen_date: NaiveDate,
        items: Vec<String>,
    ) -> Self {
        Self {
            shop_name: shop_name.into(),
            order_id: order_id.into(),
            event_day,
            reopen_date,
            items,
            card: None,
        }
    }

    /// The same context with a card link.
    pub fn with_card(mut self, card: CardLink) -> Self {
        self.card = Some(card);
        self
    }

    fn write_value(&self, placeholder: Placeholder, locale: Locale, out: &mut String) {
        use std::fmt::Write as _;
        // Writing into a String cannot fail; the results are ignored on purpose.
        match placeholder {
            Placeholder::ShopName => out.push_str(&self.shop_name),
            Placeholder::OrderId => out.push_str(&self.order_id),
            Placeholder::Items => out.push_str(&self.items.join(locale.list_separator())),
            Placeholder::ItemCount => {
                let _ = write!(out, "{}", self.items.len());
            }
            Placeholder::EventDay => write_month_day(out, self.event_day),
            Placeholder::ReopenDay => write_month_day(out, self.reopen_date),
            Placeholder::ReopenDate => {
                let _ = write!(out, "{}", self.reopen_date.format("%Y-%m-%d"));
            }
            Placeholder::Link => {
                if let Some(card) = &self.card {
                    out.push_str(&card.url);
                }
            }
            Placeholder::ExpiresAt => {
                if let Some(card) = &self.card {
                    let t = card.expires_at;
                    write_month_day(out, t.date_naive());
                    let _ = write!(out, " {:02}:{:02}", t.hour(), t.minute());
                }
            }
        }
    }
}

/// `M.D` without leading zeros, the way the marketplace names its sale days (11.11, 6.18).
fn write_month_day(out: &mut String, day: NaiveDate) {
    use std::fmt::Write as _;
    let _ = write!(out, "{}.{}", day.month(), day.day());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    fn ctx() -> RenderContext {
        RenderContext::new(
            "Shop",
            "O-42",
            date(2025, 11, 11),
            date(2025, 11, 12),
            vec!["Kettle".into(), "Mug".into()],
        )
    }

    fn parse(kind: TemplateKind, text: &str) -> Result<Template, TemplateError> {
        Template::parse(kind, text)
    }

    #[test]
    fn renders_each_placeholder() {
        let expires = DateTime::parse_from_rfc3339("2025-11-12T20:05:00+08:00").expect("time");
        let ctx = ctx().with_card(CardLink {
            url: "https://x.test/c/abc".into(),
            expires_at: expires,
        });
        let cases = [
            ("{shop_name}", "Shop"),
            ("{order_id}", "O-42"),
            ("{items}", "Kettle, Mug"),
            ("{item_count}", "2"),
            ("{event_day}", "11.11"),
            ("{reopen_day}", "11.12"),
            ("{reopen_date}", "2025-11-12"),
            ("{link}", "https://x.test/c/abc"),
            ("{expires_at}", "11.12 20:05"),
        ];
        for (text, want) in cases {
            let t = parse(TemplateKind::Card, text).expect(text);
            assert_eq!(t.render(Locale::En, &ctx), want, "{text}");
        }
        let t = parse(TemplateKind::Card, "{items}").expect("items");
        assert_eq!(t.render(Locale::ZhCn, &ctx), "Kettle、Mug");
    }

    #[test]
    fn dates_have_no_leading_zeros_but_iso_has() {
        let mut ctx = ctx();
        ctx.event_day = date(2025, 6, 1);
        ctx.reopen_date = date(2025, 6, 2);
        let t = parse(
            TemplateKind::Acknowledgement,
            "{event_day}|{reopen_day}|{reopen_date}",
        )
        .expect("parse");
        assert_eq!(t.render(Locale::ZhCn, &ctx), "6.1|6.2|2025-06-02");
    }

    #[test]
    fn missing_card_link_renders_empty() {
        let t = parse(TemplateKind::Card, "a{link}b{expires_at}c").expect("parse");
        assert_eq!(t.render(Locale::En, &ctx()), "abc");
    }

    #[test]
    fn no_items_renders_empty_list_and_zero() {
        let mut ctx = ctx();
        ctx.items.clear();
        let t = parse(TemplateKind::RefundReminder, "[{items}] {item_count}").expect("parse");
        assert_eq!(t.render(Locale::ZhCn, &ctx), "[] 0");
    }

    #[test]
    fn values_are_not_parsed_again() {
        let mut ctx = ctx();
        ctx.items = vec!["{link}".into(), "}{".into()];
        let t = parse(TemplateKind::Acknowledgement, "{items}").expect("parse");
        assert_eq!(t.render(Locale::En, &ctx), "{link}, }{");
    }

    #[test]
    fn braces_escape() {
        let t = parse(
            TemplateKind::Acknowledgement,
            "{{event_day}} {{{event_day}}}",
        )
        .expect("parse");
        assert_eq!(t.render(Locale::En, &ctx()), "{event_day} {11.11}");
        assert_eq!(t.as_str(), "{{event_day}} {{{event_day}}}");
        assert_eq!(escape("a{b}c"), "a{{b}}c");
    }

    #[test]
    fn placeholders_are_listed_in_order() {
        let t = parse(TemplateKind::Card, "{link} {items} {link}").expect("parse");
        let got: Vec<_> = t.placeholders().collect();
        assert_eq!(
            got,
            [Placeholder::Link, Placeholder::Items, Placeholder::Link]
        );
    }

    #[test]
    fn refuses_empty_and_blank() {
        assert_eq!(parse(TemplateKind::Card, ""), Err(TemplateError::Empty));
        assert_eq!(
            parse(TemplateKind::Card, " \n\t "),
            Err(TemplateError::Empty)
        );
    }

    #[test]
    fn length_limit_counts_characters_not_bytes() {
        let at_limit = "亲".repeat(MAX_TEMPLATE_CHARS);
        assert!(parse(TemplateKind::Acknowledgement, &at_limit).is_ok());
        let over = "亲".repeat(MAX_TEMPLATE_CHARS + 1);
        assert_eq!(
            parse(TemplateKind::Acknowledgement, &over),
            Err(TemplateError::TooLong {
                chars: MAX_TEMPLATE_CHARS + 1,
                max: MAX_TEMPLATE_CHARS
            })
        );
    }

    #[test]
    fn refuses_control_characters_but_not_line_breaks() {
        assert!(parse(TemplateKind::Acknowledgement, "a\r\nb\tc").is_ok());
        assert_eq!(
            parse(TemplateKind::Acknowledgement, "亲a\u{0}"),
            Err(TemplateError::ControlCharacter {
                position: 2,
                character: '\u{0}'
            })
        );
    }

    #[test]
    fn brace_errors_point_at_the_brace_in_characters() {
        use TemplateError::*;
        let k = TemplateKind::Acknowledgement;
        assert_eq!(parse(k, "亲{event_day"), Err(UnclosedBrace { position: 1 }));
        assert_eq!(parse(k, "亲亲{a{b}"), Err(UnclosedBrace { position: 2 }));
        assert_eq!(parse(k, "亲}"), Err(UnmatchedClosingBrace { position: 1 }));
        assert_eq!(parse(k, "ab{}"), Err(EmptyPlaceholder { position: 2 }));
        assert_eq!(parse(k, "{"), Err(UnclosedBrace { position: 0 }));
        assert_eq!(parse(k, "}}}"), Err(UnmatchedClosingBrace { position: 2 }));
    }

    #[test]
    fn unknown_and_unavailable_placeholders_are_named() {
        let err = parse(TemplateKind::Acknowledgement, "亲,{evnt_day}").expect_err("unknown");
        assert_eq!(
            err,
            TemplateError::UnknownPlaceholder {
                name: "evnt_day".into(),
                position: 2,
                kind: TemplateKind::Acknowledgement
            }
        );
        assert_eq!(err.position(), Some(2));
        let msg = err.to_string();
        assert!(msg.contains("{evnt_day}"), "{msg}");
        assert!(msg.contains("event_day"), "{msg}");
        assert!(!msg.contains("link"), "{msg}");

        let err = parse(TemplateKind::LockSuccess, "go {link}").expect_err("unavailable");
        assert_eq!(
            err,
            TemplateError::PlaceholderNotAvailable {
                placeholder: Placeholder::Link,
                position: 3,
                kind: TemplateKind::LockSuccess
            }
        );
        assert!(err.to_string().contains("{link}"));
        // Names are exact: no padding, no case folding.
        assert!(matches!(
            parse(TemplateKind::Card, "{ link }"),
            Err(TemplateError::UnknownPlaceholder { .. })
        ));
        assert!(matches!(
            parse(TemplateKind::Card, "{LINK}"),
            Err(TemplateError::UnknownPlaceholder { .. })
        ));
    }
}
