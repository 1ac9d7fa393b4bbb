//! What identifies and authenticates a caller to Qimen: the app key and secret of the calling
//! application (the ERP side, here Shiphold) and the `customerId` that routes the call to one
//! merchant's warehouse.

use subtle::ConstantTimeEq;

/// Why credentials could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// A part is empty (or only whitespace). The signing rule leaves empty parameters out, so an
    /// empty `app_key` or `customerId` would be signed differently from what a reader expects.
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
    /// A part has a control character or surrounding whitespace, which would not survive the
    /// query string or configuration files unchanged.
    #[error("`{0}` must not have control characters or surrounding whitespace")]
    Malformed(&'static str),
}

fn check(name: &'static str, value: &str) -> Result<(), CredentialsError> {
    if value.trim().is_empty() {
        return Err(CredentialsError::Empty(name));
    }
    if value.trim() != value || value.chars().any(char::is_control) {
        return Err(CredentialsError::Malformed(name));
    }
    Ok(())
}

/// The app secret that signs requests. `Debug` never shows it and there is no `Display`, so it
/// cannot end up in a log line by accident.
///
/// ```
/// use shiphold_qimen_adapter::Secret;
/// let secret = Secret::new("0f4c8c7e2b9a4d6e8f1a3b5c7d9e1f20").unwrap();
/// assert_eq!(format!("{secret:?}"), "Secret(…)");
/// assert!(Secret::new("  ").is_err());
/// ```
///
/// Two secrets compare in constant time (for equal lengths; a different length is unequal at
/// once), so a comparison cannot be timed to learn a secret byte by byte.
#[derive(Clone)]
pub struct Secret(String);

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Secret {}

impl Secret {
    /// A secret from its text, as Qimen issued it with the app key.
    pub fn new(text: impl Into<String>) -> Result<Self, CredentialsError> {
        let text = text.into();
        check("secret", &text)?;
        Ok(Self(text))
    }

    /// The bytes that go around the signed text (UTF-8, as the SDKs encode it).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// The app key, secret and `customerId` of one merchant's Qimen connection.
///
/// ```
/// use shiphold_qimen_adapter::{Credentials, Secret};
/// let c = Credentials::new("12345678", Secret::new("s3cr3t").unwrap(), "stub-cust-code").unwrap();
/// assert_eq!(c.app_key(), "12345678");
/// assert!(!format!("{c:?}").contains("s3cr3t"));
/// assert!(Credentials::new("", Secret::new("s").unwrap(), "c").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    app_key: String,
    secret: Secret,
    customer_id: String,
}

impl Credentials {
    /// Credentials from their parts; none may be empty.
    pub fn new(
        app_key: impl Into<String>,
        secret: Secret,
        customer_id: impl Into<String>,
    ) -> Result<Self, CredentialsError> {
        let app_key = app_key.into();
        let customer_id = customer_id.into();
        check("app_key", &app_key)?;
        check("customerId", &customer_id)?;
        Ok(Self {
            app_key,
            secret,
            customer_id,
        })
    }

    /// The `app_key` query parameter.
    pub fn app_key(&self) -> &str {
        &self.app_key
    }

    /// The secret that signs.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The `customerId` query parameter: which merchant's warehouse the call is for.
    pub fn customer_id(&self) -> &str {
        &self.customer_id
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("app_key", &self.app_key)
            .field("secret", &self.secret)
            .field("customer_id", &self.customer_id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_with_control_characters_or_padding_are_refused() {
        assert_eq!(
            Secret::new("a\nb"),
            Err(CredentialsError::Malformed("secret"))
        );
        let s = Secret::new("x").unwrap();
        assert_eq!(
            Credentials::new(" k", s.clone(), "c"),
            Err(CredentialsError::Malformed("app_key"))
        );
        assert_eq!(
            Credentials::new("k", s, "\t"),
            Err(CredentialsError::Empty("customerId"))
        );
    }

    #[test]
    fn secrets_are_equal_only_when_every_byte_is() {
        let s = |t: &str| Secret::new(t).unwrap();
        assert_eq!(s("abc"), s("abc"));
        assert_ne!(s("abc"), s("abd"));
        assert_ne!(s("abc"), s("abcd"));
    }

    #[test]
    fn debug_output_names_everything_but_the_secret() {
        let c = Credentials::new("k-1", Secret::new("very-secret").unwrap(), "cust-9").unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("k-1") && shown.contains("cust-9"), "{shown}");
        assert!(!shown.contains("very-secret"), "{shown}");
    }
}
