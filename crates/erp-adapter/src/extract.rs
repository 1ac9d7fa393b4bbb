//! An axum extractor that verifies a signed request and parses its JSON body, for either side
//! of the protocol. The application state says which secrets apply to a request.

use crate::receiver::{MAX_BODY_BYTES, VerifiedRequest, verify_with_tolerance};
use crate::signature::{DEFAULT_TOLERANCE, Secret, VerifyError};
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http::request::Parts;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// Where [`SignedJson`] gets the secrets, the clock and the tolerance from: implement it on
/// your application state.
///
/// `secrets_for` sees the request head, so a multi-shop server can pick the shop's secret from
/// the path; `None` answers 404 (unknown shop).
pub trait SecretSource: Send + Sync {
    /// The secrets any of which may have signed this request.
    fn secrets_for(
        &self,
        parts: &Parts,
    ) -> impl std::future::Future<Output = Option<Vec<Secret>>> + Send;

    /// The time to check `webhook-timestamp` against (override it to control time in tests).
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// How far `webhook-timestamp` may be from [`SecretSource::now`].
    fn tolerance(&self) -> Duration {
        DEFAULT_TOLERANCE
    }
}

/// A fixed list of secrets (one shop, or an ERP that talks to one Shiphold), usable directly as
/// axum state.
///
/// ```
/// use shiphold_erp_adapter::{Secret, StaticSecrets};
/// let state = StaticSecrets::new(vec![Secret::generate()]);
/// # let _ = state;
/// ```
#[derive(Debug, Clone)]
pub struct StaticSecrets(pub Arc<Vec<Secret>>);

impl StaticSecrets {
    /// The given secrets.
    pub fn new(secrets: Vec<Secret>) -> Self {
        Self(Arc::new(secrets))
    }
}

impl SecretSource for StaticSecrets {
    async fn secrets_for(&self, _parts: &Parts) -> Option<Vec<Secret>> {
        Some(self.0.as_ref().clone())
    }
}

/// A verified request with its JSON body parsed as `T`.
///
/// Refuses with `application/problem+json`: 401 for a bad signature or a stale timestamp, 400
/// for missing headers or a body that is not `T`, 404 when the state knows no secret for the
/// request, 413 for a body over 1 MiB.
///
/// ```
/// use axum::{Router, routing::post};
/// use shiphold_erp_adapter::{Message, Secret, SignedJson, StaticSecrets};
///
/// async fn receive(SignedJson { request, body }: SignedJson<Message>) -> &'static str {
///     println!("{} {}", request.webhook_id, body.message_type());
///     "{}"
/// }
/// let app: Router = Router::new()
///     .route("/shiphold", post(receive))
///     .with_state(StaticSecrets::new(vec![Secret::generate()]));
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct SignedJson<T> {
    /// The `webhook-id` and timestamp that verified.
    pub request: VerifiedRequest,
    /// The parsed body.
    pub body: T,
}

/// Why [`SignedJson`] refused a request.
#[derive(Debug, thiserror::Error)]
pub enum SignedJsonRejection {
    /// The state has no secret for this request.
    #[error("unknown shop")]
    UnknownShop,
    /// The signature headers did not verify.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The body is over the limit.
    #[error("body larger than 1 MiB")]
    TooLarge,
    /// The body could not be read or is not the expected JSON.
    #[error("invalid body: {0}")]
    InvalidBody(String),
}

impl SignedJsonRejection {
    /// The HTTP status the rejection answers with.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::UnknownShop => http::StatusCode::NOT_FOUND,
            Self::Verify(VerifyError::MissingHeader(_) | VerifyError::InvalidHeader { .. }) => {
                http::StatusCode::BAD_REQUEST
            }
            Self::Verify(_) => http::StatusCode::UNAUTHORIZED,
            Self::TooLarge => http::StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidBody(_) => http::StatusCode::BAD_REQUEST,
        }
    }

    /// The stable problem `type`: the same names Shiphold answers callbacks with (see
    /// `docs/erp-protocol.md`, §6), so both sides of the protocol speak one namespace.
    pub fn problem_type(&self) -> &'static str {
        match self {
            Self::UnknownShop => "/problems/not-found",
            Self::Verify(VerifyError::MissingHeader(_) | VerifyError::InvalidHeader { .. }) => {
                "/problems/signature-missing"
            }
            Self::Verify(
                VerifyError::TimestampTooOld { .. } | VerifyError::TimestampInFuture { .. },
            ) => "/problems/stale-timestamp",
            Self::Verify(VerifyError::NoMatchingSignature | VerifyError::NoSecrets) => {
                "/problems/signature-mismatch"
            }
            Self::TooLarge => "/problems/payload-too-large",
            Self::InvalidBody(_) => "/problems/malformed-request",
        }
    }
}

impl IntoResponse for SignedJsonRejection {
    fn into_response(self) -> Response {
        let status = self.status();
        let problem = serde_json::json!({
            "type": self.problem_type(),
            "title": status.canonical_reason().unwrap_or("error"),
            "status": status.as_u16(),
            "detail": self.to_string(),
        });
        (
            status,
            [(http::header::CONTENT_TYPE, "application/problem+json")],
            problem.to_string(),
        )
            .into_response()
    }
}

impl<S, T> FromRequest<S> for SignedJson<T>
where
    S: SecretSource,
    T: DeserializeOwned,
{
    type Rejection = SignedJsonRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let secrets = state
            .secrets_for(&parts)
            .await
            .ok_or(SignedJsonRejection::UnknownShop)?;
        let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| SignedJsonRejection::TooLarge)?;
        let request = verify_with_tolerance(
            &parts.headers,
            &bytes,
            &secrets,
            state.now(),
            state.tolerance(),
        )?;
        let body = serde_json::from_slice(&bytes)
            .map_err(|e| SignedJsonRejection::InvalidBody(e.to_string()))?;
        Ok(Self { request, body })
    }
}
