//! Who calls: the application's key and secret, and the seller's authorisation (session key).
//! The secret and the session key are kept in types that never show them in `Debug` and have no
//! `Display`, so they cannot reach a log line by accident.

use crate::sign::is_blank;
use subtle::ConstantTimeEq;

/// Why a credential was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// The value is empty (or, for the app key and the session key, whitespace only: the
    /// platform's SDK treats such a parameter as empty and leaves it out of the call).
    #[error("{0} must not be empty")]
    Empty(&'static str),
}

/// The application's secret (AppSecret), the key of every signature.
///
/// ```
/// use shiphold_marketplace_adapter::AppSecret;
/// let secret = AppSecret::new("helloworld").unwrap();
/// assert_eq!(format!("{secret:?}"), "AppSecret(…)");
/// assert!(AppSecret::new("").is_err());
/// ```
#[derive(Clone)]
pub struct AppSecret(String);

impl AppSecret {
    /// A secret from its text, as the platform's console shows it. Empty is refused: anyone
    /// could forge a signature keyed with nothing.
    pub fn new(secret: impl Into<String>) -> Result<Self, CredentialsError> {
        let secret = secret.into();
        if secret.is_empty() {
            return Err(CredentialsError::Empty("app_secret"));
        }
        Ok(Self(secret))
    }

    /// The secret's bytes, for signing. Kept out of `Debug` and `Display`; do not log them.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl PartialEq for AppSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for AppSecret {}

impl std::fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppSecret(…)")
    }
}

/// The seller's authorisation (`session`, also called the access token or SessionKey). The
/// memo API needs one ("需要授权"): it writes on the seller's orders.
///
/// ```
/// use shiphold_marketplace_adapter::SessionKey;
/// let session = SessionKey::new("6100a3…").unwrap();
/// assert_eq!(format!("{session:?}"), "SessionKey(…)");
/// assert!(SessionKey::new(" ").is_err());
/// ```
///
/// Two session keys compare in constant time (for equal lengths), as the secret does.
#[derive(Clone)]
pub struct SessionKey(String);

impl SessionKey {
    /// A session key from its text. Empty or whitespace only is refused.
    pub fn new(session: impl Into<String>) -> Result<Self, CredentialsError> {
        let session = session.into();
        if is_blank(&session) {
            return Err(CredentialsError::Empty("session"));
        }
        Ok(Self(session))
    }

    /// The key's text, for the `session` parameter. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl PartialEq for SessionKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for SessionKey {}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(…)")
    }
}

/// Everything a call is signed and authorised with: one application, one seller.
///
/// ```
/// use shiphold_marketplace_adapter::Credentials;
/// let creds = Credentials::new("12345678", "helloworld", "session-of-the-seller").unwrap();
/// let shown = format!("{creds:?}");
/// assert!(shown.contains("12345678"));
/// assert!(!shown.contains("helloworld") && !shown.contains("session-of-the-seller"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The application's key (`app_key`); public, it names the application.
    pub app_key: String,
    /// The application's secret.
    pub app_secret: AppSecret,
    /// The seller's session key.
    pub session: SessionKey,
}

impl Credentials {
    /// Credentials from their three texts; none may be empty, and neither the app key nor the
    /// session key may be whitespace only.
    pub fn new(
        app_key: impl Into<String>,
        app_secret: impl Into<String>,
        session: impl Into<String>,
    ) -> Result<Self, CredentialsError> {
        let app_key = app_key.into();
        if is_blank(&app_key) {
            return Err(CredentialsError::Empty("app_key"));
        }
        Ok(Self {
            app_key,
            app_secret: AppSecret::new(app_secret)?,
            session: SessionKey::new(session)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys_are_equal_only_when_every_byte_is() {
        let s = |t: &str| SessionKey::new(t).expect("session");
        assert_eq!(s("6100a3"), s("6100a3"));
        assert_ne!(s("6100a3"), s("6100a4"));
        assert_ne!(s("6100a3"), s("6100a3x"));
    }

    #[test]
    fn blank_app_keys_and_sessions_are_refused() {
        assert_eq!(
            Credentials::new(" ", "s", "t"),
            Err(CredentialsError::Empty("app_key"))
        );
        assert_eq!(
            Credentials::new("k", "s", "\u{3000}"),
            Err(CredentialsError::Empty("session"))
        );
        // The secret is a key, never a parameter: any non-empty text is one.
        assert!(Credentials::new("k", " ", "t").is_ok());
    }
}
