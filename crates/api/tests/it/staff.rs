//! Staff accounts: invitations, password sign-in, the session cookie and its CSRF token,
//! throttling, sign-out, expiry, removal, and the history naming the person.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::on_every_backend;
use crate::support::{StaffLogin, TestApp, read};

async fn sign_in(app: &TestApp, login: &str, password: &str) -> reqwest::Response {
    app.http
        .post(app.url("/v1/sign-in"))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap()
}

/// An admin invites an agent; the agent opens the link once, chooses a password, is signed in
/// with a cookie no script can read and no other site can send, works as themselves (the
/// interception and the audit trail name them), may not do an admin's work, and signs out.
#[tokio::test]
async fn an_invited_agent_signs_in_and_the_history_names_them() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        app.order(&key, "T-1", "buyer-1", &[("s1", "awaiting_shipment")])
            .await;
        let (s, invited) = app
            .call(
                Method::POST,
                "/v1/staff",
                &key,
                Some(json!({"login": "Li.Na@Example.com", "name": "李娜", "role": "agent"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{invited}");
        assert_eq!(invited["staff"]["login"], "li.na@example.com");
        assert_eq!(invited["staff"]["status"], "invited");
        let token = invited["invitation_token"].as_str().unwrap().to_owned();
        let url = invited["invitation_url"].as_str().unwrap();
        // The token rides in the fragment, which no server log sees.
        assert_eq!(url, format!("{}/console#invitation={token}", app.base));

        // A password that is too short is refused, and the link still works afterwards.
        let accept = |password: &'static str| {
            app.http
                .post(app.url("/v1/invitations/accept"))
                .json(&json!({"token": token, "password": password}))
                .send()
        };
        let (s, b) = read(accept("short").await.unwrap()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(b["errors"][0]["field"], "password");
        let response = accept("a long enough password").await.unwrap();
        let agent = StaffLogin::from_response(
            response,
            invited["staff"]["id"].as_str().unwrap().to_owned(),
            "li.na@example.com",
            "a long enough password",
        )
        .await;
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
            assert!(agent.set_cookie.contains(attribute), "{}", agent.set_cookie);
        }
        // Plain http here: the cookie is not marked Secure.
        assert!(!agent.set_cookie.contains("Secure"), "{}", agent.set_cookie);
        // The link works once.
        let (s, b) = read(accept("another long password").await.unwrap()).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
        assert_eq!(b["type"], "/problems/invitation-invalid");

        let (s, me) = app.call_as(Method::GET, "/v1/session", &agent, None).await;
        assert_eq!(s, StatusCode::OK, "{me}");
        assert_eq!(me["staff"]["name"], "李娜");
        assert_eq!(me["staff"]["status"], "active");
        assert_eq!(me["roles"], json!(["agent"]));
        assert_eq!(me["csrf_token"], agent.csrf.as_str());

        // Works as themselves.
        let (s, b) = app
            .call_as(
                Method::POST,
                "/v1/orders/T-1/interceptions",
                &agent,
                Some(json!({"reason": "x".repeat(201)})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(b["errors"][0]["field"], "reason");
        let (s, icp) = app
            .call_as(
                Method::POST,
                "/v1/orders/T-1/interceptions",
                &agent,
                Some(json!({"locale": "en", "reason": " 买家下错单 "})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{icp}");
        let id = icp["id"].as_str().unwrap();
        let (_, icp) = app
            .call(Method::GET, &format!("/v1/interceptions/{id}"), &key, None)
            .await;
        assert!(
            icp.to_string().contains("staff:li.na@example.com"),
            "the interception does not name the agent: {icp}"
        );
        // Every history row says who made the change: the request and the release, the agent.
        let (s, b) = app
            .call_as(
                Method::POST,
                &format!("/v1/interceptions/{id}/release"),
                &agent,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (_, icp) = app
            .call(Method::GET, &format!("/v1/interceptions/{id}"), &key, None)
            .await;
        let history = icp["lines"][0]["history"].as_array().unwrap();
        let events: Vec<(&str, &str)> = history
            .iter()
            .map(|t| (t["event"].as_str().unwrap(), t["by"].as_str().unwrap_or("")))
            .collect();
        assert!(
            events.contains(&("requested", "staff:li.na@example.com")),
            "{events:?}"
        );
        // The reason is the interception's and its first history row's.
        assert_eq!(icp["reason"], "买家下错单");
        assert_eq!(history[0]["detail"], "买家下错单");
        assert!(
            events.contains(&("released", "staff:li.na@example.com")),
            "{events:?}"
        );
        // An agent does no admin's work.
        let (s, b) = app.call_as(Method::GET, "/v1/staff", &agent, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        assert_eq!(b["type"], "/problems/forbidden");
        let (s, _) = app
            .call_as(Method::POST, "/v1/settings/disable", &agent, None)
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // Agents see and re-drive the ERP's failures where they work.
        let (s, b) = app
            .call_as(Method::GET, "/v1/erp/dead-letters", &agent, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        // Re-driving is theirs too: an unknown entry is not found, not forbidden.
        let (s, b) = app
            .call_as(
                Method::POST,
                "/v1/erp/dead-letters/999999/redrive",
                &agent,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
        // The invitation is in the audit trail, by the key that made it.
        let (_, audit) = app.call(Method::GET, "/v1/audit", &key, None).await;
        assert!(audit.to_string().contains("staff.invite"), "{audit}");

        // Signing out ends the session: the same cookie opens nothing.
        let response = app
            .as_staff(Method::DELETE, "/v1/session", &agent)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let cleared = response.headers()["set-cookie"].to_str().unwrap();
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
        let (s, b) = app.call_as(Method::GET, "/v1/orders", &agent, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");

        // And the password signs in again.
        let again = sign_in(&app, "LI.NA@example.com", "a long enough password").await;
        let again =
            StaffLogin::from_response(again, agent.id.clone(), &agent.login, &agent.password).await;
        let (s, _) = app.call_as(Method::GET, "/v1/orders", &again, None).await;
        assert_eq!(s, StatusCode::OK);
    });
}

/// A write made with a session must carry its CSRF token; without it, or with another
/// session's, nothing happens and nothing stored is replayed. Reads need none.
#[tokio::test]
async fn a_signed_in_write_needs_the_sessions_csrf_token() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        app.order(&key, "T-2", "buyer-2", &[("s1", "awaiting_shipment")])
            .await;
        let agent = app.staff(&key, "agent.one@example.com", "agent").await;
        let other = app.staff(&key, "agent.two@example.com", "agent").await;
        let write = |csrf: Option<&str>| {
            let mut req = app
                .http
                .post(app.url("/v1/orders/T-2/cards"))
                .header("cookie", &agent.cookie)
                .header("idempotency-key", "card-for-T-2");
            if let Some(csrf) = csrf {
                req = req.header("x-csrf-token", csrf);
            }
            req.send()
        };
        for csrf in [None, Some("forged"), Some(other.csrf.as_str())] {
            let (s, b) = read(write(csrf).await.unwrap()).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{csrf:?}: {b}");
            assert_eq!(b["type"], "/problems/csrf-rejected");
        }
        let (_, cards) = app.call(Method::GET, "/v1/orders/T-2", &key, None).await;
        assert!(!cards.to_string().contains("crd_"), "{cards}");
        let (s, b) = read(write(Some(&agent.csrf)).await.unwrap()).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        // A replay needs the token as much as the first request did.
        let (s, _) = read(write(None).await.unwrap()).await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        let read_only = app
            .http
            .get(app.url("/v1/orders/T-2"))
            .header("cookie", &agent.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(read_only.status(), StatusCode::OK);
    });
}

/// After five failed sign-ins in a row an account waits 30 seconds (then twice as long after
/// each further failure), even for the right password; an unknown login gets the same answer
/// as a wrong password; a success clears the count.
#[tokio::test]
async fn failed_sign_ins_slow_the_account_down() {
    for db in shiphold_testkit::TestDatabase::all() {
        let app = TestApp::start_with_wall_clock(db, |_| {}).await;
        let wall = app.wall.clone().unwrap();
        let (_, key) = app.ready_shop().await;
        let agent = app.staff(&key, "slow.agent@example.com", "agent").await;

        let (s, unknown) = read(sign_in(&app, "nobody@example.com", "whatever it is").await).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        for _ in 0..5 {
            let (s, wrong) = read(sign_in(&app, &agent.login, "not the password").await).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{wrong}");
            assert_eq!(wrong["type"], "/problems/sign-in-failed");
            assert_eq!(wrong["detail"], unknown["detail"]);
        }
        let throttled = sign_in(&app, &agent.login, &agent.password).await;
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = throttled.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=30).contains(&retry), "{retry}");
        let (_, b) = read(throttled).await;
        assert_eq!(b["type"], "/problems/sign-in-throttled");
        // The session that was open stays open.
        let (s, _) = app.call_as(Method::GET, "/v1/orders", &agent, None).await;
        assert_eq!(s, StatusCode::OK);

        wall.advance(chrono::Duration::seconds(31));
        // The sixth failure doubles the wait.
        let (s, _) = read(sign_in(&app, &agent.login, "still not it").await).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let throttled = sign_in(&app, &agent.login, &agent.password).await;
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = throttled.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((31..=60).contains(&retry), "{retry}");

        wall.advance(chrono::Duration::seconds(61));
        let right = sign_in(&app, &agent.login, &agent.password).await;
        StaffLogin::from_response(right, agent.id.clone(), &agent.login, &agent.password).await;
        // Cleared: one more failure is not throttled.
        let (s, _) = read(sign_in(&app, &agent.login, "wrong again").await).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let right = sign_in(&app, &agent.login, &agent.password).await;
        assert_eq!(right.status(), StatusCode::CREATED);
        app.stop().await;
    }
}

/// A session lasts one shift (12 hours by default), by the wall clock.
#[tokio::test]
async fn a_session_expires_after_its_lifetime() {
    for db in shiphold_testkit::TestDatabase::all() {
        let app = TestApp::start_with_wall_clock(db, |_| {}).await;
        let wall = app.wall.clone().unwrap();
        let (_, key) = app.ready_shop().await;
        let agent = app.staff(&key, "shift@example.com", "agent").await;
        wall.advance(chrono::Duration::seconds(12 * 3600 - 60));
        let (s, _) = app.call_as(Method::GET, "/v1/orders", &agent, None).await;
        assert_eq!(s, StatusCode::OK);
        wall.advance(chrono::Duration::seconds(61));
        let (s, b) = app.call_as(Method::GET, "/v1/orders", &agent, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
        // An invitation expires too (7 days by default).
        let (_, token) = app.invite(&key, "late@example.com", "agent").await;
        wall.advance(chrono::Duration::seconds(7 * 24 * 3600 + 1));
        let (s, b) = read(
            app.http
                .post(app.url("/v1/invitations/accept"))
                .json(&json!({"token": token, "password": "a long enough password"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
        assert_eq!(b["type"], "/problems/invitation-invalid");
        app.stop().await;
    }
}

/// An admin account does an admin's work and an agent's; it removes other accounts (whose
/// sessions end at once and who cannot sign in again) but never its own; a new invitation link
/// replaces the old one, and the old password works until the new link is used.
#[tokio::test]
async fn admins_remove_and_reinvite_accounts() {
    on_every_backend!(|_| {}, |app| {
        let (_, key) = app.ready_shop().await;
        let admin = app.staff(&key, "boss@example.com", "admin").await;
        let agent = app.staff(&key, "helper@example.com", "agent").await;
        let (s, me) = app.call_as(Method::GET, "/v1/session", &admin, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(me["roles"], json!(["admin", "agent"]));
        let (s, list) = app.call_as(Method::GET, "/v1/staff", &admin, None).await;
        assert_eq!(s, StatusCode::OK, "{list}");
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
        assert!(!list.to_string().contains("argon2"), "{list}");
        let (s, b) = app
            .call_as(
                Method::PUT,
                "/v1/settings/memo",
                &admin,
                Some(json!({"memo_text": "请勿发货", "accept_terms": true})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (_, audit) = app.call(Method::GET, "/v1/audit", &key, None).await;
        assert!(
            audit.to_string().contains("staff:boss@example.com"),
            "{audit}"
        );

        // A taken login is refused as a conflict, naming it.
        let (s, b) = app
            .call_as(
                Method::POST,
                "/v1/staff",
                &admin,
                Some(json!({"login": "HELPER@example.com", "name": "x", "role": "agent"})),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{b}");
        assert_eq!(b["type"], "/problems/conflict");
        assert!(
            b["detail"]
                .as_str()
                .unwrap()
                .contains("'helper@example.com' is taken"),
            "{b}"
        );

        // Nobody removes themselves.
        let (s, b) = app
            .call_as(
                Method::DELETE,
                &format!("/v1/staff/{}", admin.id),
                &admin,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{b}");
        // Said to a person: in Chinese when they read Chinese.
        let (s, b) = read(
            app.as_staff(Method::DELETE, &format!("/v1/staff/{}", admin.id), &admin)
                .header("accept-language", "zh-CN")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT, "{b}");
        assert_eq!(b["detail"], "不能移除自己的账号;请另一位管理员操作", "{b}");

        // A new link for the agent: the old password still works until it is used.
        let (s, again) = app
            .call_as(
                Method::POST,
                &format!("/v1/staff/{}/invitation", agent.id),
                &admin,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{again}");
        let new_token = again["invitation_token"].as_str().unwrap();
        let old = sign_in(&app, &agent.login, &agent.password).await;
        assert_eq!(old.status(), StatusCode::CREATED);
        let reset = app
            .http
            .post(app.url("/v1/invitations/accept"))
            .json(&json!({"token": new_token, "password": "a brand new password"}))
            .send()
            .await
            .unwrap();
        let reset = StaffLogin::from_response(
            reset,
            agent.id.clone(),
            &agent.login,
            "a brand new password",
        )
        .await;
        let (s, _) = read(sign_in(&app, &agent.login, &agent.password).await).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "the old password still works");
        // The new password ended the sessions begun with the old one.
        let (s, _) = app.call_as(Method::GET, "/v1/orders", &agent, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        // Removed: the session ends at once and the password opens nothing.
        let (s, removed) = app
            .call_as(
                Method::DELETE,
                &format!("/v1/staff/{}", agent.id),
                &admin,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{removed}");
        assert_eq!(removed["status"], "removed");
        let (s, _) = app.call_as(Method::GET, "/v1/orders", &reset, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = read(sign_in(&app, &agent.login, "a brand new password").await).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // Its login stays taken.
        let (s, _) = app
            .call_as(
                Method::POST,
                "/v1/staff",
                &admin,
                Some(json!({"login": agent.login, "name": "x", "role": "agent"})),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
    });
}

/// Behind HTTPS the cookie is marked Secure.
#[tokio::test]
async fn the_cookie_is_secure_behind_https() {
    on_every_backend!(|c| c.staff.secure_cookie = true, |app| {
        let (_, key) = app.ready_shop().await;
        let agent = app.staff(&key, "tls@example.com", "agent").await;
        assert!(
            agent.set_cookie.ends_with("; Secure"),
            "{}",
            agent.set_cookie
        );
    });
}

/// Sign-in is rate-limited per client address, apart from the buyer's allowance.
#[tokio::test]
async fn sign_in_is_rate_limited_per_address() {
    let limits = |c: &mut shiphold_api::ApiConfig| {
        c.rate_limits = Some(shiphold_api::RateLimits {
            buyer_per_minute: 100,
            callback_per_minute: 100,
            sign_in_per_minute: 2,
            client_ip_header: Some(reqwest::header::HeaderName::from_static("x-forwarded-for")),
        });
    };
    on_every_backend!(limits, |app| {
        let try_from = |client: &'static str| {
            app.http
                .post(app.url("/v1/sign-in"))
                .header("x-forwarded-for", client)
                .json(&json!({"login": "who@example.com", "password": "whatever it is"}))
                .send()
        };
        for _ in 0..2 {
            assert_eq!(
                try_from("198.51.100.7").await.unwrap().status(),
                StatusCode::UNAUTHORIZED
            );
        }
        let (s, b) = read(try_from("198.51.100.7").await.unwrap()).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{b}");
        assert_eq!(b["type"], "/problems/too-many-requests");
        assert_eq!(
            try_from("198.51.100.8").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    });
}
