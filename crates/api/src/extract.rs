//! Extraction of bodies, query strings and path parameters that answers every bad request with a
//! problem document naming the field, instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::problem::{ApiError, ProblemKind};
use crate::state::AppState;

/// Whether a request says its body is JSON (`application/json` or any `+json` type).
fn sends_json(headers: &axum::http::HeaderMap) -> bool {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || media.ends_with("+json")
}

/// A JSON body, parsed with the path of the failing field in the error.
#[derive(Debug)]
pub struct JsonBody<T> {
    /// The parsed value.
    pub value: T,
    /// The raw bytes, for idempotency fingerprints.
    pub raw: Bytes,
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if !sends_json(req.headers()) {
            return Err(ApiError::new(
                ProblemKind::UnsupportedMediaType,
                "send the body as JSON with 'Content-Type: application/json'",
            ));
        }
        let limit = state.config().body_limit;
        let raw = read_body(req.into_body(), limit, "the body").await?;
        let value = parse_json(&raw)?;
        Ok(Self { value, raw })
    }
}

/// Reads a request body of at most `limit` bytes: 413 when it is longer, 408 when it did not
/// arrive in time (the body-read timeout) or the client went away.
pub(crate) async fn read_body(
    body: axum::body::Body,
    limit: usize,
    what: &str,
) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(e) = source {
            if e.is::<http_body_util::LengthLimitError>() {
                return ApiError::new(
                    ProblemKind::PayloadTooLarge,
                    format!("{what} must be at most {limit} bytes"),
                );
            }
            source = e.source();
        }
        ApiError::new(
            ProblemKind::RequestTimeout,
            "the body did not arrive completely in time; send the request again",
        )
    })
}

/// Parses JSON, naming the field that failed.
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(raw);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    match result {
        Ok(value) => {
            if de.end().is_err() {
                return Err(ApiError::new(
                    ProblemKind::MalformedRequest,
                    "unexpected data after the JSON value",
                ));
            }
            // A body without any '[' holds no array: the common case pays no second parse.
            if let Some(field) = raw
                .contains(&b'[')
                .then(|| serde_json::from_slice::<serde_json::Value>(raw).ok())
                .flatten()
                .and_then(|v| array_for_object(&v, "body"))
            {
                return Err(ApiError::field(
                    shiphold_domain::FieldError::new(
                        field,
                        "invalid",
                        "expected a JSON object, not an array",
                    )
                    .zh("应为 JSON 对象,而不是数组"),
                ));
            }
            Ok(value)
        }
        Err(error) => {
            let path = error.path().to_string();
            let inner = error.into_inner();
            let field = if path == "." || path.is_empty() {
                "body".to_owned()
            } else {
                path
            };
            use serde_json::error::Category;
            match inner.classify() {
                Category::Data => Err(ApiError::field(shiphold_domain::FieldError::new(
                    field,
                    "invalid",
                    strip_position(&inner.to_string()),
                ))),
                Category::Syntax | Category::Eof | Category::Io => Err(ApiError::new(
                    ProblemKind::MalformedRequest,
                    format!("the body is not valid JSON: {inner}"),
                )),
            }
        }
    }
}

/// serde reads a struct from a JSON array of its fields in order (`[null, true]`), which no body
/// of this API is documented to accept: every body is an object and no array holds arrays. Names
/// the first array found where an object belongs.
fn array_for_object(value: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::Array(_) if path == "body" => Some(path.to_owned()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| match item {
            Value::Array(_) => Some(format!("{path}[{i}]")),
            Value::Object(_) => array_for_object(item, &format!("{path}[{i}]")),
            _ => None,
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let at = if path == "body" {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            match item {
                Value::Array(_) | Value::Object(_) => array_for_object(item, &at),
                _ => None,
            }
        }),
        _ => None,
    }
}

/// serde_json appends "at line 1 column 42"; the field name says more to a client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        items: Vec<Item>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Item {
        quantity: u32,
    }

    #[test]
    fn errors_name_the_field() {
        let err =
            parse_json::<Body>(br#"{"items":[{"quantity":1},{"quantity":"x"}]}"#).unwrap_err();
        assert_eq!(err.kind, ProblemKind::ValidationFailed);
        assert_eq!(err.errors[0].field, "items[1].quantity");
        let err = parse_json::<Body>(b"{\"items\":").unwrap_err();
        assert_eq!(err.kind, ProblemKind::MalformedRequest);
        let err = parse_json::<Body>(br#"{"items":[]} x"#).unwrap_err();
        assert_eq!(err.kind, ProblemKind::MalformedRequest);
    }
}

/// An optional JSON body: an empty body is `None`; anything else must be valid JSON.
#[derive(Debug)]
pub struct MaybeJson<T> {
    /// The parsed value, if a body was sent.
    pub value: Option<T>,
    /// The raw bytes (empty when none was sent).
    pub raw: Bytes,
}

impl<T: DeserializeOwned> FromRequest<AppState> for MaybeJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_json = sends_json(req.headers());
        let limit = state.config().body_limit;
        let raw = read_body(req.into_body(), limit, "the body").await?;
        // No body at all is "no options", whatever Content-Type a client sends by habit.
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self {
                value: None,
                raw: Bytes::new(),
            });
        }
        if !is_json {
            return Err(ApiError::new(
                ProblemKind::UnsupportedMediaType,
                "send the body as JSON with 'Content-Type: application/json'",
            ));
        }
        // JSON `null` is "no options" too, as the documented schema allows it.
        let value: Option<T> = parse_json(&raw)?;
        Ok(Self { value, raw })
    }
}

/// Query parameters, parsed with the failing parameter named in a problem document (axum's own
/// `Query` answers a bad value with a plain-text 400).
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|error| {
                let path = error.path().to_string();
                let field = if path == "." || path.is_empty() {
                    "query".to_owned()
                } else {
                    path
                };
                ApiError::field(shiphold_domain::FieldError::new(
                    field,
                    "invalid",
                    error.into_inner().to_string(),
                ))
            })
    }
}

/// Path parameters; a segment that is not valid percent-encoded UTF-8 names nothing that
/// exists, so it answers the same problem document as an unknown id.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => {
                tracing::debug!(%rejection, "path parameters refused");
                Err(ApiError::not_found("object"))
            }
        }
    }
}

/// The raw body of a signed ERP callback: JSON only, at most the protocol's 1 MiB whatever the
/// API's own body limit, kept byte for byte because the signature covers exactly these bytes.
#[derive(Debug)]
pub struct SignedBody(pub Bytes);

impl FromRequest<AppState> for SignedBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, ApiError> {
        if !sends_json(req.headers()) {
            return Err(ApiError::new(
                ProblemKind::UnsupportedMediaType,
                "send the callback as JSON with 'Content-Type: application/json'",
            ));
        }
        let limit = shiphold_erp_adapter::MAX_BODY_BYTES;
        read_body(req.into_body(), limit, "a callback body (1 MiB)")
            .await
            .map(SignedBody)
    }
}

/// Whole numbers in JSON bodies: an integer, or a number without a fraction (`3.0`), which JSON
/// Schema counts as an integer too; anything else is refused with the field's name. For
/// `#[serde(deserialize_with = "whole::number")]` (and `whole::optional`, with `default`).
pub(crate) mod whole {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};

    /// The largest magnitude a float holds exactly as an integer (2^53).
    const EXACT: f64 = 9_007_199_254_740_992.0;

    fn to_int<T: TryFrom<i64>, E: Error>(n: &serde_json::Number) -> Result<T, E> {
        let whole = match n.as_i64() {
            Some(i) => Some(i),
            None => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= EXACT)
                // Exact: a whole float of at most 2^53 converts without loss.
                .map(|f| f as i64),
        };
        let Some(whole) = whole else {
            return Err(E::custom(format!("expected a whole number, got {n}")));
        };
        T::try_from(whole).map_err(|_| E::custom(format!("{whole} is out of range")))
    }

    pub(crate) fn number<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<T, D::Error> {
        to_int(&serde_json::Number::deserialize(d)?)
    }

    pub(crate) fn optional<'de, D: Deserializer<'de>, T: TryFrom<i64>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        Option::<serde_json::Number>::deserialize(d)?
            .map(|n| to_int(&n))
            .transpose()
    }

    #[cfg(test)]
    mod tests {
        #[derive(serde::Deserialize, Debug)]
        struct Body {
            #[serde(deserialize_with = "super::number")]
            n: u32,
            #[serde(default, deserialize_with = "super::optional")]
            o: Option<i64>,
        }

        fn parse(raw: &str) -> Result<Body, String> {
            serde_json::from_str(raw).map_err(|e| e.to_string())
        }

        #[test]
        fn whole_numbers_and_whole_floats_are_accepted_and_the_rest_refused() {
            let b = parse(r#"{"n": 133.0, "o": -2}"#).unwrap();
            assert_eq!((b.n, b.o), (133, Some(-2)));
            assert_eq!(parse(r#"{"n": 7}"#).unwrap().o, None);
            assert_eq!(parse(r#"{"n": 7, "o": null}"#).unwrap().o, None);
            assert!(parse(r#"{"n": 1.5}"#).unwrap_err().contains("whole number"));
            assert!(parse(r#"{"n": -1}"#).unwrap_err().contains("out of range"));
            assert!(
                parse(r#"{"n": 1e300}"#)
                    .unwrap_err()
                    .contains("whole number")
            );
            assert!(parse(r#"{"n": "1"}"#).is_err());
        }
    }
}
