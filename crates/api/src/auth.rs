//! Credentials on the wire: API keys (`Authorization: Bearer shk_…`, for systems) and staff
//! sessions (the `shiphold_session` cookie, for people in the console, with a CSRF token on
//! every write), their stored hashes, and the extractor that turns either into the [`Caller`]
//! of a use case. Secrets are shown once and stored hashed; passwords are hashed with Argon2id.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::problem::{ApiError, ProblemKind};
use crate::service::{Caller, keys, staff};
use crate::state::AppState;

/// The cookie that carries a staff session's token.
pub const SESSION_COOKIE: &str = "shiphold_session";
/// The header in which the console sends the session's CSRF token with every write.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The prefix of every API key, so leaked keys are easy to find in logs and scanners.
pub const KEY_PREFIX: &str = "shk_";

/// A new random API key (256 bits).
pub fn generate_key() -> String {
    generate_token(KEY_PREFIX)
}

/// A new random secret (256 bits, URL-safe) after `prefix`.
pub fn generate_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a password: Argon2id with the crate's default cost (19 MiB, 2 passes,
/// 1 lane, OWASP's recommendation) and a random salt, as a PHC string. Slow on purpose: run it
/// off the async threads.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::PasswordHasher;
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = argon2::password_hash::SaltString::encode_b64(&salt)?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` matches a stored PHC string; a string that does not parse matches
/// nothing. Slow on purpose, like [`hash_password`].
pub fn verify_password(password: &str, stored: &str) -> bool {
    use argon2::PasswordVerifier;
    argon2::password_hash::PasswordHash::new(stored).is_ok_and(|hash| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// The stored form of a key or card token. A fast hash is enough: the secrets are random and
/// long, so there is nothing to brute-force.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn unauthenticated(detail: &str) -> ApiError {
    ApiError::new(ProblemKind::Unauthenticated, detail)
}

/// The value of the session cookie, if the request carries one.
pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Whether a request's method changes nothing (so needs no CSRF token).
fn is_safe(method: &axum::http::Method) -> bool {
    matches!(
        *method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    )
}

/// The CSRF token of a session: derived from the session's token, so the console can be given
/// it again after a reload (the cookie itself is out of its reach), and nobody without the
/// session's token can make it.
pub fn csrf_token_for(session_token: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(
        format!("shiphold csrf\n{session_token}").as_bytes(),
    ))
}

/// Whether the request's CSRF header holds the CSRF token of the session `session_token`
/// (compared in constant time).
pub fn csrf_matches(headers: &axum::http::HeaderMap, session_token: &str) -> bool {
    use subtle::ConstantTimeEq;
    let expected = csrf_token_for(session_token);
    headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|sent| sent.trim().as_bytes().ct_eq(expected.as_bytes()).into())
}

/// The `Set-Cookie` value that stores a session's token for `max_age`, readable by no script
/// (`HttpOnly`), sent on no request from another site (`SameSite=Strict`), and only over HTTPS
/// when `secure`.
pub fn session_set_cookie(token: &str, max_age: std::time::Duration, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn session_clear_cookie(secure: bool) -> String {
    session_set_cookie("", std::time::Duration::ZERO, secure)
}

/// A request's open staff session, from its cookie; writes must carry its CSRF token.
pub(crate) struct StaffSession {
    /// The session.
    pub session: staff::Session,
    /// The cookie's token.
    pub token: String,
}

impl FromRequestParts<AppState> for StaffSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = session_cookie(&parts.headers)
            .ok_or_else(|| unauthenticated("sign in to the console first"))?;
        let session = staff::session(state, &token)
            .await?
            .ok_or_else(|| unauthenticated("your sign-in has ended or expired; sign in again"))?;
        if !is_safe(&parts.method) && !csrf_matches(&parts.headers, &token) {
            return Err(ApiError::new(
                ProblemKind::CsrfRejected,
                format!(
                    "a signed-in write must carry the session's CSRF token in the {CSRF_HEADER} \
                     header"
                ),
            ));
        }
        Ok(Self { session, token })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // A system's key first; without one, a person's session.
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            if session_cookie(&parts.headers).is_some() {
                return StaffSession::from_request_parts(parts, state)
                    .await
                    .map(|s| s.session.caller);
            }
            return Err(unauthenticated(
                "send the API key as 'Authorization: Bearer shk_…', or sign in to the console",
            ));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| t.starts_with(KEY_PREFIX))
            .ok_or_else(|| unauthenticated("the Authorization header must be 'Bearer shk_…'"))?;
        keys::authenticate(state, token)
            .await?
            .ok_or_else(|| unauthenticated("the API key is unknown or revoked"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hashed() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX) && a.len() == KEY_PREFIX.len() + 43);
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_ne!(hash_secret(&a), hash_secret(&b));
        assert_eq!(hash_secret(&a).len(), 64);
    }
}
