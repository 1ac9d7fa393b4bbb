//! Staff accounts and sign-in: an admin invites people and removes them; a person accepts an
//! invitation or signs in with a password, gets a session cookie, and signs out.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use shiphold_domain::StaffId;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{json, shown_once};
use crate::auth::{StaffSession, session_clear_cookie, session_set_cookie};
use crate::extract::{JsonBody, Path};
use crate::problem::ApiError;
use crate::service::staff::{self, Invitation, SignedIn, StaffRole, StaffStatus, StaffView};
use crate::service::{Caller, Role};
use crate::state::AppState;

/// The routes a person reaches with a password, rate-limited per client address.
pub(crate) const SIGN_IN_ROUTES: [&str; 2] = ["/v1/sign-in", "/v1/invitations/accept"];

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list, invite))
        .routes(routes!(remove))
        .routes(routes!(reinvite))
        .routes(routes!(sign_in))
        .routes(routes!(current, sign_out))
        .routes(routes!(accept))
}

/// A staff account.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = StaffAccount)]
struct AccountView {
    #[schema(value_type = String, example = "stf_01936b2a5f4c7d8e9f0a1b2c3d4e5f60")]
    id: StaffId,
    /// What the person signs in with (lower case; unique across all shops).
    #[schema(example = "li.na@example.com")]
    login: String,
    /// How the console and the history name the person.
    #[schema(example = "李娜")]
    name: String,
    /// `admin` (settings, keys, windows, staff, and an agent's work) or `agent` (orders, cards,
    /// interceptions, releases).
    #[schema(value_type = String, example = "agent")]
    role: StaffRole,
    /// `invited` (no password chosen yet), `active` or `removed`.
    #[schema(value_type = String, example = "active")]
    status: StaffStatus,
    /// When the open invitation link expires; `null` when none is open.
    invitation_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    created_at: chrono::DateTime<chrono::Utc>,
    /// Who invited the person (`staff:<login>`, `api_key:<id>` or `operator`).
    created_by: String,
}

impl From<StaffView> for AccountView {
    fn from(v: StaffView) -> Self {
        Self {
            id: v.id,
            login: v.login,
            name: v.name,
            role: v.role,
            status: v.status,
            invitation_expires_at: v.invitation_expires_at,
            created_at: v.created_at,
            created_by: v.created_by,
        }
    }
}

/// The shop's staff accounts.
#[derive(Debug, Serialize, ToSchema)]
struct AccountList {
    items: Vec<AccountView>,
}

/// A person to invite.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = InviteStaffBody)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    /// What the person will sign in with: 3 to 100 letters, digits and `. _ - + @` (an email
    /// address will do); compared without case; unique across all shops.
    #[schema(
        example = "li.na@example.com",
        min_length = 3,
        max_length = 100,
        pattern = "^[A-Za-z0-9._+@-]{3,100}$"
    )]
    login: String,
    /// Their name, 1 to 100 characters.
    #[schema(
        example = "李娜",
        min_length = 1,
        max_length = 100,
        pattern = "[^\\s\\u0085]"
    )]
    name: String,
    /// `admin` or `agent`.
    #[schema(example = "agent", pattern = "^(admin|agent)$")]
    role: String,
}

/// An invitation, with its link shown once.
#[derive(Debug, Serialize, ToSchema)]
struct InvitationView {
    staff: AccountView,
    /// The console link the person opens to choose a password; it works once, until
    /// `expires_at`. Shown this once: only its hash is stored.
    #[schema(example = "https://shiphold.example.com/console#invitation=shi_…")]
    invitation_url: String,
    /// The token inside the link (`shi_…`).
    invitation_token: String,
    expires_at: chrono::DateTime<chrono::Utc>,
}

impl From<Invitation> for InvitationView {
    fn from(i: Invitation) -> Self {
        Self {
            staff: i.member.into(),
            invitation_url: i.url,
            invitation_token: i.token,
            expires_at: i.expires_at,
        }
    }
}

/// A sign-in with a password.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = SignInBody)]
#[serde(deny_unknown_fields)]
struct SignInBody {
    #[schema(example = "li.na@example.com", min_length = 1, max_length = 200)]
    login: String,
    #[schema(min_length = 1, max_length = 1000)]
    password: String,
}

/// An invitation being accepted.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = AcceptInvitationBody)]
#[serde(deny_unknown_fields)]
struct AcceptBody {
    /// The token from the invitation link (`shi_…`).
    #[schema(min_length = 1, max_length = 200)]
    token: String,
    /// The password the person chooses: 10 to 128 characters, not the login.
    #[schema(min_length = 10, max_length = 128)]
    password: String,
}

/// The signed-in person.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = StaffSession)]
struct SessionView {
    staff: AccountView,
    #[schema(value_type = String)]
    shop_id: shiphold_domain::ShopId,
    /// What the session may do: `admin` and `agent` for an admin, `agent` for an agent.
    #[schema(value_type = Vec<crate::schema::mirror::Role>)]
    roles: Vec<Role>,
    /// Send it in the `X-CSRF-Token` header with every write made with this session.
    csrf_token: String,
    /// When the session ends by itself; then the person signs in again.
    expires_at: chrono::DateTime<chrono::Utc>,
}

fn session_response(state: &AppState, begun: SignedIn) -> Response {
    let lifetime = state.config().staff.session_lifetime;
    let roles = begun.member.role.roles();
    let cookie = session_set_cookie(
        &begun.session_token,
        lifetime,
        state.config().staff.secure_cookie,
    );
    let view = SessionView {
        shop_id: begun.shop_id,
        staff: begun.member.into(),
        roles,
        csrf_token: begun.csrf_token,
        expires_at: begun.expires_at,
    };
    let mut response = json(StatusCode::CREATED, &view);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    // The answer carries the CSRF token: never stored for a replay.
    shown_once(response, "a staff session")
}

/// Lists the shop's staff accounts (admin).
#[utoipa::path(
    get,
    path = "/v1/staff",
    tag = "staff",
    operation_id = "list_staff",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Every account of the shop, removed ones included, oldest first.", body = AccountList),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let items = staff::list(&state, &caller)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(json(StatusCode::OK, &AccountList { items }))
}

/// Invites a person (admin); the invitation link is in this answer only.
#[utoipa::path(
    post,
    path = "/v1/staff",
    tag = "staff",
    operation_id = "invite_staff",
    security(("api_key" = [])),
    request_body = InviteBody,
    responses(
        (status = 201, description = "The account, invited; its link shown once.", body = InvitationView),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 409, response = crate::schema::Conflict),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 422, response = crate::schema::ValidationFailed),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<InviteBody>,
) -> Result<Response, ApiError> {
    let body = body.value;
    let new = staff::parse_new_staff(&body.login, &body.name, &body.role);
    let invitation = staff::invite(&state, &caller, new).await?;
    let what = format!("staff account {}", invitation.member.id);
    Ok(shown_once(
        json(StatusCode::CREATED, &InvitationView::from(invitation)),
        what,
    ))
}

/// Makes a new invitation link for an account (admin): for a lost link or a forgotten
/// password. The old link stops working; the old password works until the new link is used.
#[utoipa::path(
    post,
    path = "/v1/staff/{staff_id}/invitation",
    tag = "staff",
    operation_id = "reinvite_staff",
    security(("api_key" = [])),
    params(("staff_id" = String, Path, description = "The account's id.")),
    responses(
        (status = 201, description = "A new link, shown once.", body = InvitationView),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 404, response = crate::schema::NotFound),
        (status = 409, response = crate::schema::Conflict),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn reinvite(
    State(state): State<AppState>,
    caller: Caller,
    Path(staff_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = StaffId::parse(&staff_id).map_err(|_| ApiError::not_found("staff account"))?;
    let invitation = staff::reinvite(&state, &caller, id).await?;
    let what = format!("an invitation for staff account {}", invitation.member.id);
    Ok(shown_once(
        json(StatusCode::CREATED, &InvitationView::from(invitation)),
        what,
    ))
}

/// Removes an account (admin): it cannot sign in from now on, and its sessions end at once.
/// Nobody removes their own account.
#[utoipa::path(
    delete,
    path = "/v1/staff/{staff_id}",
    tag = "staff",
    operation_id = "remove_staff",
    security(("api_key" = [])),
    params(("staff_id" = String, Path, description = "The account's id.")),
    responses(
        (status = 200, description = "The account, removed (removing twice is the same).", body = AccountView),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 404, response = crate::schema::NotFound),
        (status = 409, response = crate::schema::Conflict),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(staff_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = StaffId::parse(&staff_id).map_err(|_| ApiError::not_found("staff account"))?;
    let removed = staff::remove(&state, &caller, id).await?;
    Ok(json(StatusCode::OK, &AccountView::from(removed)))
}

/// Signs a person in with login and password: sets the session cookie (`HttpOnly`,
/// `SameSite=Strict`, `Secure` behind HTTPS) and answers with the CSRF token that every write
/// of the session carries.
#[utoipa::path(
    post,
    path = "/v1/sign-in",
    tag = "staff",
    operation_id = "sign_in",
    request_body = SignInBody,
    responses(
        (status = 201, description = "Signed in; the `Set-Cookie` header holds the session.", body = SessionView,
            headers(("Set-Cookie" = String, description = "`shiphold_session=…; Path=/; Max-Age=…; HttpOnly; SameSite=Strict` (and `Secure` behind HTTPS)."))),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 401, response = crate::schema::SignInRefused),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 422, response = crate::schema::ValidationFailed),
        (status = 429, response = crate::schema::SignInThrottled),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn sign_in(
    State(state): State<AppState>,
    body: JsonBody<SignInBody>,
) -> Result<Response, ApiError> {
    let body = body.value;
    let begun = staff::sign_in(&state, &body.login, &body.password).await?;
    Ok(session_response(&state, begun))
}

/// The signed-in person and the session's CSRF token (the console asks after a reload).
#[utoipa::path(
    get,
    path = "/v1/session",
    tag = "staff",
    operation_id = "current_session",
    security(("staff_session" = [])),
    responses(
        (status = 200, description = "The session.", body = SessionView),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn current(found: StaffSession) -> Result<Response, ApiError> {
    let session = found.session;
    let view = SessionView {
        shop_id: session.caller.shop_id.clone(),
        roles: session.caller.roles.clone(),
        staff: session.member.into(),
        csrf_token: crate::auth::csrf_token_for(&found.token),
        expires_at: session.expires_at,
    };
    Ok(json(StatusCode::OK, &view))
}

/// Signs out: ends the session and removes the cookie.
#[utoipa::path(
    delete,
    path = "/v1/session",
    tag = "staff",
    operation_id = "sign_out",
    security(("staff_session" = [])),
    responses(
        (status = 204, description = "Signed out; the cookie is removed."),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn sign_out(
    State(state): State<AppState>,
    found: StaffSession,
) -> Result<Response, ApiError> {
    staff::sign_out(&state, &found.token).await?;
    let mut response = axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT);
    if let Ok(value) =
        HeaderValue::from_str(&session_clear_cookie(state.config().staff.secure_cookie))
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Accepts an invitation: the person chooses a password and is signed in (as by `POST
/// /v1/sign-in`). The link works once.
#[utoipa::path(
    post,
    path = "/v1/invitations/accept",
    tag = "staff",
    operation_id = "accept_invitation",
    request_body = AcceptBody,
    responses(
        (status = 201, description = "The password is set and the person signed in; the `Set-Cookie` header holds the session.", body = SessionView,
            headers(("Set-Cookie" = String, description = "The session cookie, as for `POST /v1/sign-in`."))),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 404, response = crate::schema::InvitationInvalid),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 422, response = crate::schema::ValidationFailed),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn accept(
    State(state): State<AppState>,
    body: JsonBody<AcceptBody>,
) -> Result<Response, ApiError> {
    let body = body.value;
    let token = body.token.trim();
    if token.is_empty() {
        return Err(shiphold_domain::FieldError::new(
            "token",
            "required",
            "send the token of the invitation link (shi_…)",
        )
        .zh("请提供邀请链接中的令牌(shi_…)")
        .into());
    }
    let begun = staff::accept_invitation(&state, token, &body.password).await?;
    Ok(session_response(&state, begun))
}
