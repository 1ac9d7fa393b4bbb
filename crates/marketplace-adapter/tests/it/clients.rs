//! The client against the simulator: what each kind of answer becomes, and what the simulated
//! order looks like afterwards.

use crate::support::*;
use chrono::Duration as Minutes;
use shiphold_marketplace_adapter::sim::SimConfig;
use shiphold_marketplace_adapter::*;
use std::time::Duration;

#[tokio::test]
async fn a_write_sets_memo_and_flag_with_every_sign_method() {
    let sim = sim().await;
    for (n, method) in SignMethod::ALL.into_iter().enumerate() {
        let client = client(&sim).with_sign_method(method);
        let text = format!("拦截发货:请勿发货 ({method})");
        let update = MemoUpdate::write(TID, memo(&text), Some(Flag::Red));
        let outcome = client.update_at(&creds(), &update, t0()).await.unwrap();
        assert_eq!(
            outcome,
            Outcome::Written {
                tid: TID,
                modified: Some(t0()),
                request_id: Some(format!("sim{:06}", n + 1)),
            },
            "{method}"
        );
        let order = sim.order(TID).unwrap();
        assert_eq!(order.memo, text);
        assert_eq!(order.flag, Some(Flag::Red));
        assert_eq!(order.writes, u32::try_from(n).unwrap() + 1);
        let call = sim.calls().pop().unwrap();
        assert_eq!(call.param("sign_method"), Some(method.as_str()));
    }
    assert_eq!(sim.order(OTHER_TID).unwrap().writes, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_reset_clears_the_memo_and_leaves_the_flag() {
    let sim =
        sim_with(SimConfig::new().order_with(TID, "送礼品\n拦截发货", Some(Flag::Blue))).await;
    let outcome = client(&sim)
        .update_at(&creds(), &MemoUpdate::clear(TID), t0())
        .await
        .unwrap();
    assert!(outcome.is_written(), "{outcome:?}");
    let order = sim.order(TID).unwrap();
    assert_eq!(order.memo, "");
    assert_eq!(order.flag, Some(Flag::Blue));
    assert_eq!(order.writes, 1);
    let call = sim.calls().pop().unwrap();
    assert_eq!(call.param("reset"), Some("true"));
    assert_eq!(call.param("memo"), None);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_flag_alone_changes_the_flag_and_keeps_the_memo() {
    let sim = sim_with(SimConfig::new().order_with(TID, "送礼品", None)).await;
    let update = MemoUpdate {
        tid: TID,
        memo: None,
        flag: Some(Flag::Purple),
        reset: false,
    };
    let outcome = client(&sim)
        .update_at(&creds(), &update, t0())
        .await
        .unwrap();
    assert!(outcome.is_written(), "{outcome:?}");
    let order = sim.order(TID).unwrap();
    assert_eq!(order.memo, "送礼品");
    assert_eq!(order.flag, Some(Flag::Purple));
    assert_eq!(sim.calls()[0].param("flag"), Some("5"));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_platform_fault_is_retried_and_the_next_call_writes() {
    let sim = sim().await;
    sim.fail_next_with_isp(2);
    let client = client(&sim);
    let update = MemoUpdate::write(TID, memo("拦截"), Some(Flag::Red));
    for _ in 0..2 {
        match client.update_at(&creds(), &update, t0()).await.unwrap() {
            Outcome::Retry { reason, .. } => {
                assert!(
                    reason.contains("isp.top-remote-connection-timeout"),
                    "{reason}"
                );
            }
            other => panic!("expected a retry: {other:?}"),
        }
        assert_eq!(sim.order(TID).unwrap().writes, 0);
    }
    let outcome = client.update_at(&creds(), &update, t0()).await.unwrap();
    assert!(outcome.is_written(), "{outcome:?}");
    assert_eq!(sim.order(TID).unwrap().writes, 1);
    assert_eq!(sim.calls().len(), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn http_503_and_429_are_retried() {
    let sim = sim().await;
    let client = client(&sim);
    let update = MemoUpdate::write(TID, memo("拦截"), None);
    sim.fail_next_with_status(1, 503);
    match client.update_at(&creds(), &update, t0()).await.unwrap() {
        Outcome::Retry { reason, .. } => assert!(reason.starts_with("HTTP 503"), "{reason}"),
        other => panic!("expected a retry: {other:?}"),
    }
    sim.fail_next_with_status(1, 429);
    assert!(
        client
            .update_at(&creds(), &update, t0())
            .await
            .unwrap()
            .is_retry()
    );
    // A 404 (a wrong gateway path, say) is not something a retry fixes.
    sim.fail_next_with_status(1, 404);
    assert!(matches!(
        client.update_at(&creds(), &update, t0()).await.unwrap(),
        Outcome::Permanent { code: None, .. }
    ));
    assert_eq!(sim.applied_writes(), 0);
    assert!(
        client
            .update_at(&creds(), &update, t0())
            .await
            .unwrap()
            .is_written()
    );
    assert_eq!(sim.applied_writes(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unknown_order_is_permanent() {
    let sim = sim().await;
    let outcome = client(&sim)
        .update_at(&creds(), &MemoUpdate::write(1, memo("拦截"), None), t0())
        .await
        .unwrap();
    match outcome {
        Outcome::Permanent {
            code,
            sub_code,
            message,
        } => {
            assert_eq!(code, Some(15));
            assert_eq!(sub_code.as_deref(), Some("isv.trade-not-exist"));
            assert!(message.contains("request_id"), "{message}");
        }
        other => panic!("expected permanent: {other:?}"),
    }
    assert_eq!(sim.order(1), None);
    assert_eq!(sim.applied_writes(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_wrong_secret_is_refused_as_an_invalid_signature() {
    let sim = sim().await;
    let mut wrong = creds();
    wrong.app_secret = AppSecret::new("not-the-secret").unwrap();
    for method in SignMethod::ALL {
        let outcome = client(&sim)
            .with_sign_method(method)
            .update_at(&wrong, &MemoUpdate::write(TID, memo("拦截"), None), t0())
            .await
            .unwrap();
        assert!(
            matches!(outcome, Outcome::Permanent { code: Some(25), .. }),
            "{method}: {outcome:?}"
        );
    }
    assert_eq!(sim.order(TID).unwrap().writes, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_timestamp_must_be_within_ten_minutes_of_the_platform() {
    let sim = sim().await;
    let client = client(&sim);
    let update = MemoUpdate::write(TID, memo("拦截"), None);
    for at in [t0() - Minutes::minutes(11), t0() + Minutes::minutes(11)] {
        let outcome = client.update_at(&creds(), &update, at).await.unwrap();
        assert!(
            matches!(outcome, Outcome::Permanent { code: Some(31), .. }),
            "{at}: {outcome:?}"
        );
    }
    assert_eq!(sim.applied_writes(), 0);
    let outcome = client
        .update_at(&creds(), &update, t0() - Minutes::minutes(9))
        .await
        .unwrap();
    assert!(outcome.is_written(), "{outcome:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn an_invalid_or_revoked_session_is_permanent() {
    let sim = sim().await;
    let client = client(&sim);
    let update = MemoUpdate::write(TID, memo("拦截"), None);
    let mut other = creds();
    other.session = SessionKey::new("someone-else").unwrap();
    let outcome = client.update_at(&other, &update, t0()).await.unwrap();
    assert!(
        matches!(outcome, Outcome::Permanent { code: Some(27), .. }),
        "{outcome:?}"
    );
    assert!(
        client
            .update_at(&creds(), &update, t0())
            .await
            .unwrap()
            .is_written()
    );
    sim.revoke_session("21600001", SESSION);
    assert!(matches!(
        client.update_at(&creds(), &update, t0()).await.unwrap(),
        Outcome::Permanent { code: Some(27), .. }
    ));
    assert_eq!(sim.applied_writes(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_memo_of_exactly_the_limit_is_stored_whole() {
    let sim = sim().await;
    // 333 three-byte characters and one ASCII byte: 1,000 bytes.
    let text = format!("{}!", "拦".repeat(333));
    assert_eq!(text.len(), MAX_MEMO_BYTES);
    let outcome = client(&sim)
        .update_at(&creds(), &MemoUpdate::write(TID, memo(&text), None), t0())
        .await
        .unwrap();
    assert!(outcome.is_written(), "{outcome:?}");
    assert_eq!(sim.order(TID).unwrap().memo, text);

    // A merchant memo that leaves no room: fitted, the note arrives whole.
    let fitted = Memo::fit(&"送".repeat(400), "拦截发货,请勿发货").unwrap();
    assert!(fitted.len() <= MAX_MEMO_BYTES);
    let outcome = client(&sim)
        .update_at(
            &creds(),
            &MemoUpdate::write(TID, fitted.clone(), None),
            t0(),
        )
        .await
        .unwrap();
    assert!(outcome.is_written(), "{outcome:?}");
    let stored = sim.order(TID).unwrap().memo;
    assert_eq!(stored, fitted.as_str());
    assert!(stored.ends_with("送…\n拦截发货,请勿发货"), "{stored}");

    // One byte more cannot be built.
    assert!(matches!(
        Memo::parse(format!("{text}!")),
        Err(MemoError::TooLong { len: 1001, .. })
    ));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_simulator_refuses_an_over_long_memo_that_bypassed_the_type() {
    // Signed by hand, as a client without this crate's types could send it.
    let sim = sim().await;
    let creds = creds();
    let mut params: Vec<(String, String)> = [
        ("method", METHOD),
        ("app_key", "21600001"),
        ("session", SESSION),
        ("format", "json"),
        ("v", "2.0"),
        ("sign_method", "md5"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    params.push(("timestamp".into(), timestamp_text(t0())));
    params.push(("tid".into(), TID.to_string()));
    params.push(("memo".into(), "x".repeat(1001)));
    let sign = sign_params(&params, &creds.app_secret, SignMethod::Md5);
    params.push(("sign".into(), sign));
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let response = raw_http()
        .post(sim.url())
        .header(
            "content-type",
            "application/x-www-form-urlencoded;charset=utf-8",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    match classify_http(status, None, &bytes, TID) {
        Outcome::Permanent { code, sub_code, .. } => {
            assert_eq!(code, Some(41));
            assert_eq!(sub_code.as_deref(), Some("isv.invalid-parameter:memo"));
        }
        other => panic!("expected permanent: {other:?}"),
    }
    assert_eq!(sim.applied_writes(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unsigned_blank_memo_added_on_the_way_changes_nothing() {
    // A flag-only call, signed by the client's code, with `memo=  ` appended by someone on
    // the path: a blank value takes no part in the signature, so it still verifies, and the
    // simulator treats it as absent, as the platform's SDK would.
    let sim = sim_with(SimConfig::new().order_with(TID, "送礼品", None)).await;
    let update = MemoUpdate {
        tid: TID,
        memo: None,
        flag: Some(Flag::Red),
        reset: false,
    };
    let call = sign_update(&update, &creds(), SignMethod::HmacSha256, t0()).unwrap();
    let body = format!("{}&memo=+%E3%80%80", call.form_body());
    let response = raw_http()
        .post(sim.url())
        .header(
            "content-type",
            "application/x-www-form-urlencoded;charset=utf-8",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    assert!(classify_http(status, None, &bytes, TID).is_written());
    let order = sim.order(TID).unwrap();
    assert_eq!(order.memo, "送礼品");
    assert_eq!(order.flag, Some(Flag::Red));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_slow_platform_is_a_retry_and_may_still_have_written() {
    let sim = sim().await;
    sim.set_delay(Duration::from_millis(800));
    let client = client_with_timeout(&sim, Duration::from_millis(200));
    let outcome = client
        .update_at(&creds(), &MemoUpdate::write(TID, memo("拦截"), None), t0())
        .await
        .unwrap();
    match outcome {
        Outcome::Retry { reason, .. } => assert!(reason.starts_with("timeout"), "{reason}"),
        other => panic!("expected a retry: {other:?}"),
    }
    // The platform finished the call after the client gave up: a timeout is not "not
    // written", which is why the retry must be (and is) an overwrite.
    assert!(sim.wait_for_calls(1, Duration::from_secs(10)).await);
    assert_eq!(sim.order(TID).unwrap().writes, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_refused_connection_is_a_retry() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = MemoClient::new(
        &format!("http://{addr}/router/rest"),
        Duration::from_secs(5),
    )
    .unwrap();
    match client
        .update_at(&creds(), &MemoUpdate::clear(TID), t0())
        .await
        .unwrap()
    {
        Outcome::Retry { reason, .. } => {
            assert!(reason.starts_with("connection failed"), "{reason}");
        }
        other => panic!("expected a retry: {other:?}"),
    }
}

#[tokio::test]
async fn neither_the_secret_nor_the_session_key_shows_anywhere() {
    let sim = sim().await;
    let client = client(&sim);
    let mut outcomes = Vec::new();
    let update = MemoUpdate::write(TID, memo("拦截"), None);
    outcomes.push(client.update_at(&creds(), &update, t0()).await.unwrap());
    sim.fail_next_with_isp(1);
    outcomes.push(client.update_at(&creds(), &update, t0()).await.unwrap());
    outcomes.push(
        client
            .update_at(&creds(), &MemoUpdate::write(1, memo("x"), None), t0())
            .await
            .unwrap(),
    );
    let shown = format!(
        "{outcomes:?} {client:?} {:?} {:?} {sim:?} {:?} {:?}",
        creds(),
        sim.calls(),
        SimConfig::new().credentials(&creds()),
        sign_update(&update, &creds(), SignMethod::Md5, t0()).unwrap()
    );
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(!shown.contains(SESSION), "{shown}");
    assert_eq!(sim.calls()[0].param("session"), Some("…"));
    sim.shutdown().await;
}

#[tokio::test]
async fn contradictory_updates_are_refused_before_anything_is_sent() {
    let sim = sim().await;
    let update = MemoUpdate {
        tid: TID,
        memo: Some(memo("x")),
        flag: None,
        reset: true,
    };
    assert_eq!(
        client(&sim).update_at(&creds(), &update, t0()).await,
        Err(UpdateError::MemoWithReset)
    );
    assert!(sim.calls().is_empty());
    sim.shutdown().await;
}

/// A plain HTTP client for calls the crate's client would never make. reqwest is built without
/// a default TLS provider in this workspace, so one is installed first: each test may run in a
/// process of its own.
fn raw_http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
