//! Validation errors that name the field that was wrong, so the edge can report it as is.

use std::fmt;

/// One field that failed validation, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The field's name as clients spell it (`memo_text`, `sub_orders[2].quantity`).
    pub field: String,
    /// A stable machine-readable code (`required`, `too_long`, `invalid`, …).
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
    /// The same sentence in Chinese, where one was written; the edge shows it to callers who
    /// ask for Chinese.
    #[serde(skip)]
    pub message_zh: Option<String>,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
            message_zh: None,
        }
    }

    /// The message in Chinese too.
    #[must_use]
    pub fn zh(mut self, message: impl Into<String>) -> Self {
        self.message_zh = Some(message.into());
        self
    }

    /// The same error for a field nested under `prefix` (`items` + `[1].id`).
    #[must_use]
    pub fn under(mut self, prefix: &str) -> Self {
        self.field = if self.field.starts_with('[') {
            format!("{prefix}{}", self.field)
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// One or more fields that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("invalid input: {}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ValidationError {
    /// Every field that failed, in the order they were checked.
    pub errors: Vec<FieldError>,
}

impl ValidationError {
    /// An error with no fields yet; see [`ValidationError::into_result`].
    pub fn empty() -> Self {
        Self { errors: Vec::new() }
    }

    /// Adds a field error.
    pub fn push(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// Collects the error of `result`, if any, and gives back its value.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(error);
                None
            }
        }
    }

    /// `Ok(())` when no field failed.
    pub fn into_result(self) -> Result<(), ValidationError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl From<FieldError> for ValidationError {
    fn from(error: FieldError) -> Self {
        Self {
            errors: vec![error],
        }
    }
}
