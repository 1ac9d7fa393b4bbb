//! A reader and a writer for the flat XML documents Qimen uses (`<request>` and `<response>`):
//! a root whose children carry text, and at most one level of key/value children below them
//! (`<extendProps>`). Anything else is skipped, so a newer peer's extra elements do not break us.

use quick_xml::events::Event;
use std::collections::BTreeMap;

/// The most bytes a request or an answer may have. Real ones are well under 2 KiB; the bound
/// keeps a broken or hostile peer from making us buffer or parse megabytes.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Deeper nesting than this is refused. The reader does not recurse, so this is not about the
/// stack: a document this deep is not a Qimen document.
const MAX_DEPTH: usize = 16;

/// Why a document is not the XML we expect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Larger than [`MAX_DOCUMENT_BYTES`].
    #[error("document of {0} bytes is larger than the limit of {MAX_DOCUMENT_BYTES}")]
    TooLarge(usize),
    /// Not UTF-8 (the protocol's only charset).
    #[error("document is not UTF-8")]
    NotUtf8,
    /// Not well-formed XML.
    #[error("not well-formed XML: {0}")]
    Syntax(String),
    /// No root element at all.
    #[error("no <{0}> element")]
    NoRoot(&'static str),
    /// The root element has another name.
    #[error("root element is <{found}>, expected <{expected}>")]
    UnexpectedRoot {
        /// The name the protocol defines.
        expected: &'static str,
        /// The name found.
        found: String,
    },
    /// A child of the root appears twice; which one counts would be a guess.
    #[error("element <{0}> appears more than once")]
    Duplicate(String),
    /// Nested deeper than any Qimen document.
    #[error("elements nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// The children of a flat document's root.
#[derive(Debug, Default)]
pub(crate) struct FlatDocument {
    /// Children holding text only, by local name, text trimmed.
    pub fields: BTreeMap<String, String>,
    /// Children holding elements, by local name: their own children as (name, trimmed text).
    pub groups: BTreeMap<String, Vec<(String, String)>>,
}

fn local_name(name: quick_xml::name::LocalName<'_>) -> String {
    String::from_utf8_lossy(name.as_ref()).into_owned()
}

fn syntax(e: impl std::fmt::Display) -> XmlError {
    XmlError::Syntax(e.to_string())
}

/// The element being read at depth 2 (a child of the root).
#[derive(Default)]
struct Field {
    text: String,
    children: Vec<(String, String)>,
    has_children: bool,
    child_text: String,
}

/// Reads a flat document whose root must be `<root>`.
pub(crate) fn read_flat(bytes: &[u8], root: &'static str) -> Result<FlatDocument, XmlError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(XmlError::TooLarge(bytes.len()));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| XmlError::NotUtf8)?;
    // A byte order mark is legal before the declaration.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = quick_xml::Reader::from_str(text);
    let mut doc = FlatDocument::default();
    let mut stack: Vec<String> = Vec::new();
    let mut root_done = false;
    let mut field = Field::default();

    loop {
        let event = reader.read_event().map_err(syntax)?;
        let (start, end) = match &event {
            Event::Start(e) => (Some(local_name(e.local_name())), false),
            Event::Empty(e) => (Some(local_name(e.local_name())), true),
            Event::End(_) => (None, true),
            _ => (None, false),
        };
        if let Some(name) = start {
            match stack.len() {
                0 if root_done => return Err(syntax("more than one root element")),
                0 if name != root => {
                    return Err(XmlError::UnexpectedRoot {
                        expected: root,
                        found: name,
                    });
                }
                1 => field = Field::default(),
                2 => {
                    field.has_children = true;
                    field.child_text.clear();
                }
                _ => {}
            }
            stack.push(name);
            if stack.len() > MAX_DEPTH {
                return Err(XmlError::TooDeep);
            }
        }
        if end {
            let Some(name) = stack.pop() else {
                return Err(syntax("end tag without a start tag"));
            };
            match stack.len() {
                0 => root_done = true,
                1 => close_field(&mut doc, name, std::mem::take(&mut field))?,
                2 => {
                    let text = field.child_text.trim().to_owned();
                    field.children.push((name, text));
                }
                _ => {}
            }
            continue;
        }
        let piece = match &event {
            Event::Text(t) => t.xml10_content().map_err(syntax)?.into_owned(),
            Event::CData(c) => c.xml10_content().map_err(syntax)?.into_owned(),
            Event::GeneralRef(r) => {
                if let Some(ch) = r.resolve_char_ref().map_err(syntax)? {
                    ch.to_string()
                } else {
                    let name = r.decode().map_err(syntax)?;
                    // Only the five predefined entities: a DTD's own are never expanded.
                    quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| syntax(format!("unknown entity &{name};")))?
                        .to_owned()
                }
            }
            Event::Eof => break,
            // Declaration, comments, processing instructions and a DOCTYPE carry no data.
            _ => continue,
        };
        match stack.len() {
            0 if !piece.trim().is_empty() => return Err(syntax("text outside the root element")),
            2 => field.text.push_str(&piece),
            3 => field.child_text.push_str(&piece),
            // Text directly in the root, or deeper than a group, is not data of ours.
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(syntax(format!("unclosed element <{}>", stack.join("><"))));
    }
    if !root_done {
        return Err(XmlError::NoRoot(root));
    }
    Ok(doc)
}

fn close_field(doc: &mut FlatDocument, name: String, field: Field) -> Result<(), XmlError> {
    if doc.fields.contains_key(&name) || doc.groups.contains_key(&name) {
        return Err(XmlError::Duplicate(name));
    }
    if field.has_children {
        doc.groups.insert(name, field.children);
    } else {
        doc.fields.insert(name, field.text.trim().to_owned());
    }
    Ok(())
}

/// Whether XML 1.0 can carry the character at all (its `Char` production); C0 controls other
/// than tab, line feed and carriage return cannot, not even as character references.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The declaration every document we write starts with.
pub(crate) const DECLARATION: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;

/// Appends `<name>text</name>`, with the text escaped. The caller has checked that every
/// character is an XML character. A carriage return is written as a reference, because a
/// reader would otherwise turn `\r\n` into `\n`.
pub(crate) fn push_element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    let escaped = quick_xml::escape::escape(text);
    out.push_str(&escaped.replace('\r', "&#13;"));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_groups_and_unknown_nesting_are_read() {
        let xml = "<?xml version=\"1.0\"?>\n<!-- hi -->\n<r>\n  <a> x &amp; y </a>\n  <b/>\n  <g><k1>v1</k1><k2><![CDATA[<v2>]]></k2></g>\n  <deep><x><y><z>ignored</z></y></x></deep>\n</r>\n";
        let doc = read_flat(xml.as_bytes(), "r").unwrap();
        assert_eq!(doc.fields["a"], "x & y");
        assert_eq!(doc.fields["b"], "");
        assert_eq!(
            doc.groups["g"],
            vec![("k1".into(), "v1".into()), ("k2".into(), "<v2>".into())]
        );
        assert!(doc.groups.contains_key("deep"));
    }

    #[test]
    fn malformed_documents_are_typed_errors() {
        type Check = fn(&XmlError) -> bool;
        let cases: &[(&[u8], Check)] = &[
            (b"<r><a>1</a>", |e| matches!(e, XmlError::Syntax(_))),
            (b"<r><a>1</b></r>", |e| matches!(e, XmlError::Syntax(_))),
            (b"<q/>", |e| matches!(e, XmlError::UnexpectedRoot { .. })),
            (b"", |e| matches!(e, XmlError::NoRoot("r"))),
            (b"  \n ", |e| matches!(e, XmlError::NoRoot("r"))),
            (b"<r/><r/>", |e| matches!(e, XmlError::Syntax(_))),
            (b"junk<r/>", |e| matches!(e, XmlError::Syntax(_))),
            (
                b"<r><a>1</a><a>2</a></r>",
                |e| matches!(e, XmlError::Duplicate(n) if n == "a"),
            ),
            (b"<r><a>&nbsp;</a></r>", |e| {
                matches!(e, XmlError::Syntax(_))
            }),
            (b"<r>\xff</r>", |e| matches!(e, XmlError::NotUtf8)),
        ];
        for (input, check) in cases {
            let err = read_flat(input, "r").unwrap_err();
            assert!(check(&err), "{:?}: {err:?}", String::from_utf8_lossy(input));
        }
        let deep = format!("<r>{}{}</r>", "<x>".repeat(20), "</x>".repeat(20));
        assert_eq!(
            read_flat(deep.as_bytes(), "r").unwrap_err(),
            XmlError::TooDeep
        );
        let big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
        assert!(matches!(read_flat(&big, "r"), Err(XmlError::TooLarge(_))));
    }

    #[test]
    fn escaping_round_trips_through_the_reader() {
        let text = "a<b>&c\"d'e\r\nf 拦截";
        let mut xml = String::from("<r>");
        push_element(&mut xml, "t", text);
        xml.push_str("</r>");
        assert_eq!(
            xml,
            "<r><t>a&lt;b&gt;&amp;c&quot;d&apos;e&#13;\nf 拦截</t></r>"
        );
        assert_eq!(read_flat(xml.as_bytes(), "r").unwrap().fields["t"], text);
    }

    #[test]
    fn xml_characters_follow_the_char_production() {
        assert!(is_xml_char('\t') && is_xml_char('拦') && is_xml_char('\u{10FFFF}'));
        assert!(!is_xml_char('\u{0}') && !is_xml_char('\u{1b}') && !is_xml_char('\u{FFFE}'));
    }
}
