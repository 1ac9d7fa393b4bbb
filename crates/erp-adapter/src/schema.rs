//! JSON Schemas (draft 2020-12) of the wire messages, derived from the types in [`wire`](crate::wire)
//! so that the published schemas cannot drift from what this crate sends and accepts.
//!
//! Feature `schema`. The Shiphold repository commits the output as `docs/schemas/erp/*.json`.

use std::borrow::Cow;

use serde_json::{Map, Value, json};
use utoipa::openapi::{ObjectBuilder, OneOfBuilder, Ref, RefOr, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::wire::{
    CallbackReceipt, DeliveryResponse, InterceptionReleased, InterceptionRequested, Message,
    MessageType, PROTOCOL_VERSION, ResultsCallback,
};

/// The JSON Schema dialect of every document.
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

impl PartialSchema for Message {
    fn schema() -> RefOr<Schema> {
        let envelope = |message_type: MessageType, data: Cow<'static, str>, about: &str| {
            ObjectBuilder::new()
                .title(Some(message_type.as_str()))
                .description(Some(about))
                .property(
                    "type",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([message_type.as_str()]))
                        .description(Some("The message type; it decides the shape of `data`.")),
                )
                .required("type")
                .property(
                    "version",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .examples([PROTOCOL_VERSION])
                        .description(Some("The protocol version the message was written in.")),
                )
                .required("version")
                .property(
                    "id",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .description(Some(
                            "The message id; equal to the `webhook-id` header and kept across \
                         redeliveries.",
                        )),
                )
                .required("id")
                .property(
                    "occurred_at",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                            utoipa::openapi::KnownFormat::DateTime,
                        )))
                        .description(Some(
                            "When the change happened in Shiphold (not when this delivery was \
                             attempted).",
                        )),
                )
                .required("occurred_at")
                .property("data", Ref::from_schema_name(data))
                .required("data")
                .build()
        };
        OneOfBuilder::new()
            .description(Some(
                "A message Shiphold sends to an ERP: an envelope around a `data` payload typed by \
                 `type`. Receivers ignore fields they do not know.",
            ))
            .item(envelope(
                MessageType::InterceptionRequested,
                InterceptionRequested::name(),
                "Items of an order must not ship: lock them and report the outcome.",
            ))
            .item(envelope(
                MessageType::InterceptionReleased,
                InterceptionReleased::name(),
                "An interception was undone by customer service: the items may ship again.",
            ))
            .into()
    }
}

impl ToSchema for Message {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for (name, schema) in [
            (
                InterceptionRequested::name(),
                InterceptionRequested::schema(),
            ),
            (InterceptionReleased::name(), InterceptionReleased::schema()),
        ] {
            schemas.push((name.into_owned(), schema));
        }
        InterceptionRequested::schemas(schemas);
        InterceptionReleased::schemas(schemas);
    }
}

/// One schema document per wire message: its file name (`message.json`, …) and the document.
///
/// ```
/// let documents = shiphold_erp_adapter::schema::documents();
/// let names: Vec<&str> = documents.iter().map(|(name, _)| *name).collect();
/// assert_eq!(
///     names,
///     ["message.json", "delivery-response.json", "results-callback.json", "callback-receipt.json"]
/// );
/// ```
pub fn documents() -> Vec<(&'static str, Value)> {
    vec![
        (
            "message.json",
            document::<Message>(
                "Shiphold → ERP: `interception.requested` or `interception.released`.",
            ),
        ),
        (
            "delivery-response.json",
            document::<DeliveryResponse>(
                "ERP → Shiphold: the optional body of the ERP's 2xx answer to a delivery.",
            ),
        ),
        (
            "results-callback.json",
            document::<ResultsCallback>(
                "ERP → Shiphold: the body of `POST {shiphold_base}/v1/erp/shops/{shop_id}/results`.",
            ),
        ),
        (
            "callback-receipt.json",
            document::<CallbackReceipt>("Shiphold → ERP: the 200 answer to a results callback."),
        ),
    ]
}

/// A standalone schema of `T`: its own schema at the top, what it refers to under `$defs`.
fn document<T: ToSchema>(direction: &str) -> Value {
    let mut defs = Vec::new();
    T::schemas(&mut defs);
    let mut root = match to_json(&T::schema()) {
        Value::Object(map) => map,
        other => Map::from_iter([("allOf".to_owned(), json!([other]))]),
    };
    let about = root
        .remove("description")
        .and_then(|d| d.as_str().map(str::to_owned));
    let description = match about {
        Some(about) => format!("{direction}\n\n{about}"),
        None => direction.to_owned(),
    };
    let mut document = Map::new();
    document.insert("$schema".into(), json!(DIALECT));
    document.insert("title".into(), json!(T::name()));
    document.insert("description".into(), json!(description));
    document.insert("x-protocol-version".into(), json!(PROTOCOL_VERSION));
    document.extend(root);
    if !defs.is_empty() {
        let defs: Map<String, Value> = defs
            .iter()
            .map(|(name, schema)| (name.clone(), to_json(schema)))
            .collect();
        document.insert("$defs".into(), Value::Object(defs));
    }
    Value::Object(document)
}

/// The schema as JSON, its OpenAPI component references turned into `$defs` references and its
/// descriptions turned from rustdoc into prose.
fn to_json(schema: &RefOr<Schema>) -> Value {
    let mut value = serde_json::to_value(schema).unwrap_or(Value::Null);
    rewrite_refs(&mut value);
    tidy_descriptions(&mut value);
    value
}

/// Turns the rustdoc the descriptions come from into prose: drops the code examples and joins
/// the lines rustdoc wrapped. Useful too where these types are embedded in an OpenAPI document.
pub fn tidy_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                match item {
                    Value::String(text) if key == "description" => *text = prose(text),
                    _ => tidy_descriptions(item),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tidy_descriptions),
        _ => {}
    }
}

fn prose(doc: &str) -> String {
    let mut paragraphs = Vec::new();
    let mut in_code = false;
    for paragraph in doc.split("\n\n") {
        let fenced = paragraph.trim_start().starts_with("```");
        if fenced || in_code {
            // A fence opens or closes with each ``` line; a block may span blank lines.
            in_code ^= paragraph.matches("```").count() % 2 == 1;
            continue;
        }
        let joined = paragraph
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ");
        if !joined.is_empty() {
            paragraphs.push(joined);
        }
    }
    paragraphs.join("\n\n")
}

fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if key == "$ref"
                    && let Some(target) = item.as_str()
                    && let Some(name) = target.strip_prefix("#/components/schemas/")
                {
                    *item = json!(format!("#/$defs/{name}"));
                } else {
                    rewrite_refs(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` of every document resolves inside that document.
    #[test]
    fn references_resolve() {
        fn refs(value: &Value, out: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    for (key, item) in map {
                        match item.as_str() {
                            Some(target) if key == "$ref" => out.push(target.to_owned()),
                            _ => refs(item, out),
                        }
                    }
                }
                Value::Array(items) => items.iter().for_each(|i| refs(i, out)),
                _ => {}
            }
        }
        for (file, document) in documents() {
            let mut found = Vec::new();
            refs(&document, &mut found);
            for target in found {
                let name = target
                    .strip_prefix("#/$defs/")
                    .unwrap_or_else(|| panic!("{file}: foreign reference {target}"));
                assert!(
                    document["$defs"][name].is_object(),
                    "{file}: {target} is missing"
                );
            }
        }
    }

    #[test]
    fn descriptions_are_prose() {
        assert_eq!(
            prose("One item\nof an order.\n\n```\nlet x = 1;\n\nlet y = 2;\n```\n\nMore."),
            "One item of an order.\n\nMore."
        );
        for (file, document) in documents() {
            let text = document.to_string();
            assert!(!text.contains("```"), "{file} carries a code example");
        }
    }

    #[test]
    fn message_schema_names_both_event_types() {
        let documents = documents();
        let message = &documents[0].1;
        let types: Vec<&Value> = message["oneOf"]
            .as_array()
            .expect("oneOf")
            .iter()
            .map(|variant| &variant["properties"]["type"]["enum"][0])
            .collect();
        assert_eq!(
            types,
            [
                &json!("interception.requested"),
                &json!("interception.released")
            ]
        );
        assert_eq!(message["$defs"]["Flag"]["enum"][0], "none");
        assert_eq!(message["$defs"]["Actor"]["enum"], json!(["buyer", "agent"]));
    }
}
