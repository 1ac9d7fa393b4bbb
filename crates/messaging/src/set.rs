//! A shop's template overrides, resolved against the built-in defaults, and their JSON form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Locale, RenderContext, Template, TemplateError, TemplateKind, default_template};

/// A shop's message templates: the overrides it saved, falling back to the defaults for every
/// (kind, locale) it did not override.
///
/// # JSON form
/// An object keyed by kind, then by locale, holding the template text as written:
/// ```json
/// { "acknowledgement": { "zh-CN": "亲,{event_day}……", "en": "…" }, "card": { "en": "…" } }
/// ```
/// Only overrides are stored, so a shop that never edited a template follows improvements of the
/// defaults. Deserialising parses every text again and refuses the whole set if one is invalid
/// (unknown kind or locale, or a [`TemplateError`]): what is stored was valid when saved, and a
/// stored set that no longer parses must be noticed, not half-used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TemplateSetWire", into = "TemplateSetWire")]
pub struct TemplateSet {
    overrides: BTreeMap<(TemplateKind, Locale), Template>,
}

/// Why a stored template set could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {kind} template for {locale} is invalid: {source}")]
pub struct TemplateSetError {
    /// The kind of the invalid override.
    pub kind: TemplateKind,
    /// Its locale.
    pub locale: Locale,
    /// What is wrong with its text.
    #[source]
    pub source: TemplateError,
}

impl TemplateSet {
    /// A set with no overrides: every message uses its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the override for the template's kind in `locale`; returns the override it replaces.
    pub fn set(&mut self, locale: Locale, template: Template) -> Option<Template> {
        self.overrides.insert((template.kind(), locale), template)
    }

    /// Parses `text` and sets it as the override for `kind` in `locale`; returns the override it
    /// replaces. On error the set is unchanged.
    pub fn set_text(
        &mut self,
        kind: TemplateKind,
        locale: Locale,
        text: &str,
    ) -> Result<Option<Template>, TemplateError> {
        let template = Template::parse(kind, text)?;
        Ok(self.set(locale, template))
    }

    /// Removes the override for `kind` in `locale`, going back to the default.
    pub fn remove(&mut self, kind: TemplateKind, locale: Locale) -> Option<Template> {
        self.overrides.remove(&(kind, locale))
    }

    /// The shop's override for `kind` in `locale`, if it has one.
    pub fn override_for(&self, kind: TemplateKind, locale: Locale) -> Option<&Template> {
        self.overrides.get(&(kind, locale))
    }

    /// The template used for `kind` in `locale`: the override if present, else the default.
    pub fn resolve(&self, kind: TemplateKind, locale: Locale) -> &Template {
        self.override_for(kind, locale)
            .unwrap_or_else(|| default_template(kind, locale))
    }

    /// Renders the resolved template for `kind` in `locale`.
    pub fn render(&self, kind: TemplateKind, locale: Locale, ctx: &RenderContext) -> String {
        self.resolve(kind, locale).render(locale, ctx)
    }

    /// Every override, ordered by kind then locale.
    pub fn overrides(&self) -> impl Iterator<Item = (Locale, &Template)> + '_ {
        self.overrides.iter().map(|(&(_, locale), t)| (locale, t))
    }

    /// Whether the set has no override.
    pub fn is_empty(&self) -> bool {
        self.overrides.is_empty()
    }
}

/// The JSON form: kind → locale → text.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
struct TemplateSetWire(BTreeMap<TemplateKind, BTreeMap<Locale, String>>);

impl TryFrom<TemplateSetWire> for TemplateSet {
    type Error = TemplateSetError;

    fn try_from(wire: TemplateSetWire) -> Result<Self, Self::Error> {
        let mut set = TemplateSet::new();
        for (kind, texts) in wire.0 {
            for (locale, text) in texts {
                set.set_text(kind, locale, &text)
                    .map_err(|source| TemplateSetError {
                        kind,
                        locale,
                        source,
                    })?;
            }
        }
        Ok(set)
    }
}

impl From<TemplateSet> for TemplateSetWire {
    fn from(set: TemplateSet) -> Self {
        let mut wire: BTreeMap<TemplateKind, BTreeMap<Locale, String>> = BTreeMap::new();
        for ((kind, locale), template) in set.overrides {
            wire.entry(kind)
                .or_default()
                .insert(locale, template.as_str().to_owned());
        }
        TemplateSetWire(wire)
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::default_text;

    fn ctx() -> RenderContext {
        let d = |m, d| NaiveDate::from_ymd_opt(2025, m, d).expect("valid test date");
        RenderContext::new("Shop", "O-1", d(6, 18), d(6, 19), vec!["Kettle".into()])
    }

    #[test]
    fn resolves_override_else_default_per_locale() {
        let mut set = TemplateSet::new();
        set.set_text(
            TemplateKind::Acknowledgement,
            Locale::En,
            "Got it, {event_day}.",
        )
        .expect("valid");
        assert_eq!(
            set.render(TemplateKind::Acknowledgement, Locale::En, &ctx()),
            "Got it, 6.18."
        );
        // The other locale and the other kinds keep their defaults.
        assert_eq!(
            set.resolve(TemplateKind::Acknowledgement, Locale::ZhCn)
                .as_str(),
            default_text(TemplateKind::Acknowledgement, Locale::ZhCn)
        );
        assert_eq!(
            set.resolve(TemplateKind::LockSuccess, Locale::En).as_str(),
            default_text(TemplateKind::LockSuccess, Locale::En)
        );
        let old = set.remove(TemplateKind::Acknowledgement, Locale::En);
        assert!(old.is_some());
        assert!(set.is_empty());
        assert_eq!(
            set.resolve(TemplateKind::Acknowledgement, Locale::En)
                .as_str(),
            default_text(TemplateKind::Acknowledgement, Locale::En)
        );
    }

    #[test]
    fn invalid_text_leaves_the_set_unchanged() {
        let mut set = TemplateSet::new();
        set.set_text(TemplateKind::Card, Locale::ZhCn, "{link}")
            .expect("valid");
        let before = set.clone();
        let err = set
            .set_text(TemplateKind::Card, Locale::ZhCn, "{lnk}")
            .expect_err("unknown placeholder");
        assert!(matches!(err, TemplateError::UnknownPlaceholder { ref name, .. } if name == "lnk"));
        assert_eq!(set, before);
    }

    #[test]
    fn json_round_trip_keeps_texts_as_written() {
        let mut set = TemplateSet::new();
        set.set_text(TemplateKind::Card, Locale::En, "{{x}} {link}")
            .expect("valid");
        set.set_text(TemplateKind::Card, Locale::ZhCn, "亲 {link}")
            .expect("valid");
        set.set_text(TemplateKind::ReleaseNotice, Locale::En, "Ships: {items}")
            .expect("valid");
        let json = serde_json::to_value(&set).expect("serialise");
        assert_eq!(
            json,
            serde_json::json!({
                "card": { "zh-CN": "亲 {link}", "en": "{{x}} {link}" },
                "release_notice": { "en": "Ships: {items}" }
            })
        );
        let back: TemplateSet = serde_json::from_value(json).expect("deserialise");
        assert_eq!(back, set);
    }

    #[test]
    fn loading_refuses_invalid_entries() {
        let bad_text = serde_json::json!({ "lock_success": { "en": "Done {link}" } });
        let err = serde_json::from_value::<TemplateSet>(bad_text).expect_err("link not allowed");
        let msg = err.to_string();
        assert!(
            msg.contains("lock_success") && msg.contains("{link}"),
            "{msg}"
        );

        let bad_kind = serde_json::json!({ "success": { "en": "Done" } });
        assert!(serde_json::from_value::<TemplateSet>(bad_kind).is_err());
        let bad_locale = serde_json::json!({ "card": { "fr": "{link}" } });
        assert!(serde_json::from_value::<TemplateSet>(bad_locale).is_err());
        let empty: TemplateSet = serde_json::from_str("{}").expect("empty set");
        assert!(empty.is_empty());
    }
}
