//! Every way a call can go wrong, and how the client classifies it for the outbox.

use crate::support::*;
use shiphold_qimen_adapter::sim::Fault;
use shiphold_qimen_adapter::*;
use std::time::Duration;

#[tokio::test]
async fn a_refusal_with_a_message_is_refused_and_changes_nothing() {
    let sim = start(&["SO-1", "SO-2"]).await;
    let client = client(&sim);
    sim.set_fault_for("SO-1", Some(Fault::refuse("已出库 already shipped")));

    assert_eq!(
        send(&client, &hold("SO-1")).await,
        Outcome::Refused {
            code: "order-refused".into(),
            message: "已出库 already shipped".into()
        }
    );
    assert!(!sim.is_held(WAREHOUSE, "SO-1"));
    // Another document is not affected.
    assert_eq!(send(&client, &hold("SO-2")).await, Outcome::Held);
    // A refused call is still a verified one: the warehouse said no, not "who are you".
    assert!(sim.calls()[0].verified);
    sim.shutdown().await;
}

#[tokio::test]
async fn http_500_is_retried_and_the_retry_succeeds() {
    let sim = start(&["SO-1"]).await;
    let client = client(&sim);
    sim.set_fault(Some(Fault::Status(500)));
    let outcome = send(&client, &hold("SO-1")).await;
    assert!(
        matches!(&outcome, Outcome::Retry { reason, .. } if reason.starts_with("HTTP 500")),
        "{outcome:?}"
    );
    assert!(!sim.is_held(WAREHOUSE, "SO-1"));

    sim.set_fault(None);
    assert_eq!(send(&client, &hold("SO-1")).await, Outcome::Held);
    sim.shutdown().await;
}

#[tokio::test]
async fn statuses_are_classified_for_the_outbox() {
    let sim = start(&["SO-1"]).await;
    let client = client(&sim);
    for (status, retry) in [
        (502, true),
        (503, true),
        (429, true),
        (404, false),
        (400, false),
        (401, false),
    ] {
        sim.set_fault(Some(Fault::Status(status)));
        let outcome = send(&client, &hold("SO-1")).await;
        if retry {
            assert!(outcome.is_retryable(), "{status}: {outcome:?}");
        } else {
            assert!(
                matches!(outcome, Outcome::Permanent { .. }),
                "{status}: {outcome:?}"
            );
        }
    }
    assert!(!sim.is_held(WAREHOUSE, "SO-1"));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_malformed_answer_is_retried() {
    let sim = start(&["SO-1"]).await;
    sim.set_fault_for("SO-1", Some(Fault::Malformed));
    let outcome = send(&client(&sim), &hold("SO-1")).await;
    assert!(
        matches!(&outcome, Outcome::Retry { reason, .. } if reason.contains("unreadable answer")),
        "{outcome:?}"
    );
    assert!(!sim.is_held(WAREHOUSE, "SO-1"));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_wrong_secret_is_permanent_and_holds_nothing() {
    let sim = start(&["SO-1"]).await;
    let wrong = Credentials::new(
        "12345678",
        Secret::new("not-the-secret").unwrap(),
        "stub-cust-code",
    )
    .unwrap();
    let outcome = send(&client_for(&sim, wrong), &hold("SO-1")).await;
    assert!(
        matches!(&outcome, Outcome::Permanent { reason } if reason.contains("sign-check-failure")),
        "{outcome:?}"
    );
    assert!(!sim.is_held(WAREHOUSE, "SO-1"));
    let call = sim.calls().remove(0);
    assert!(!call.verified);
    let answer = call.answer.unwrap();
    assert_eq!(answer.code.as_deref(), Some(SIGN_CHECK_FAILURE));
    assert!(answer.message.unwrap().starts_with("Illegal request"));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_wrong_app_key_or_customer_id_is_permanent() {
    let sim = start(&["SO-1"]).await;
    let secret = Secret::new("qimen-test-secret").unwrap();
    for credentials in [
        Credentials::new("87654321", secret.clone(), "stub-cust-code").unwrap(),
        Credentials::new("12345678", secret, "other-customer").unwrap(),
    ] {
        let outcome = send(&client_for(&sim, credentials), &hold("SO-1")).await;
        assert!(matches!(outcome, Outcome::Permanent { .. }), "{outcome:?}");
    }
    assert!(!sim.is_held(WAREHOUSE, "SO-1"));
    sim.shutdown().await;
}

#[tokio::test]
async fn stale_and_future_timestamps_are_refused() {
    let sim = start(&["SO-1"]).await;
    let client = client(&sim);
    for offset in [chrono::Duration::minutes(-6), chrono::Duration::minutes(6)] {
        let outcome = client.send_at(&hold("SO-1"), at() + offset).await.unwrap();
        assert!(
            matches!(outcome, Outcome::Permanent { .. }),
            "{offset}: {outcome:?}"
        );
    }
    // Inside the tolerance it goes through.
    let outcome = client
        .send_at(&hold("SO-1"), at() - chrono::Duration::minutes(4))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Held);
    let calls = sim.calls();
    assert_eq!(
        calls.iter().map(|c| c.verified).collect::<Vec<_>>(),
        [false, false, true]
    );
    assert!(
        calls[0]
            .answer
            .as_ref()
            .unwrap()
            .message
            .as_deref()
            .unwrap()
            .contains("old")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_slow_warehouse_times_out_and_is_retried() {
    let sim = start(&["SO-1"]).await;
    sim.set_fault_for("SO-1", Some(Fault::Delay(Duration::from_secs(30))));
    let impatient =
        QimenClient::new(&sim.url(), credentials(), Duration::from_millis(300)).unwrap();
    let outcome = impatient.send_at(&hold("SO-1"), at()).await.unwrap();
    assert!(
        matches!(&outcome, Outcome::Retry { reason, .. } if reason.starts_with("timeout")),
        "{outcome:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_delay_shorter_than_the_timeout_is_only_slow() {
    let sim = start(&["SO-1"]).await;
    sim.set_fault(Some(Fault::Delay(Duration::from_millis(50))));
    assert_eq!(send(&client(&sim), &hold("SO-1")).await, Outcome::Held);
    assert!(sim.is_held(WAREHOUSE, "SO-1"));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_closed_port_is_retried() {
    // Bind a port and release it, so that nothing listens there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = QimenClient::new(
        &format!("http://{addr}/router/qimen/service"),
        credentials(),
        Duration::from_secs(5),
    )
    .unwrap();
    let outcome = client.send_at(&hold("SO-1"), at()).await.unwrap();
    assert!(
        matches!(&outcome, Outcome::Retry { reason, .. } if reason.starts_with("connection failed")),
        "{outcome:?}"
    );
    // The reason never carries the signed URL.
    assert!(!format!("{outcome:?}").contains("sign="), "{outcome:?}");
}

#[tokio::test]
async fn a_fault_for_one_document_overrides_the_global_one() {
    let sim = start(&["SO-1", "SO-2"]).await;
    let client = client(&sim);
    sim.set_fault(Some(Fault::Status(503)));
    sim.set_fault_for("SO-2", Some(Fault::refuse("库存不足 out of stock")));
    assert!(send(&client, &hold("SO-1")).await.is_retryable());
    assert!(matches!(
        send(&client, &hold("SO-2")).await,
        Outcome::Refused { message, .. } if message == "库存不足 out of stock"
    ));
    sim.clear_faults();
    assert_eq!(send(&client, &hold("SO-1")).await, Outcome::Held);
    assert_eq!(send(&client, &hold("SO-2")).await, Outcome::Held);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_simulator_records_every_call_even_refused_ones() {
    let sim = start(&["SO-1"]).await;
    let client = client(&sim);
    sim.set_fault(Some(Fault::Status(500)));
    let _ = send(&client, &hold("SO-1")).await;
    sim.set_fault(Some(Fault::Malformed));
    let _ = send(&client, &hold("SO-1")).await;
    sim.set_fault(None);
    let _ = send(&client, &hold("SO-1")).await;
    // Each call is recorded before its answer is sent, so all three are there now.
    let calls = sim.calls();
    assert_eq!(
        calls.iter().map(|c| c.status).collect::<Vec<_>>(),
        [500, 200, 200]
    );
    // Faults answer before any check: only the last call was verified, and only it applied.
    assert_eq!(
        calls.iter().map(|c| c.verified).collect::<Vec<_>>(),
        [false, false, true]
    );
    assert_eq!(
        calls.iter().map(|c| c.answer.is_some()).collect::<Vec<_>>(),
        [false, false, true]
    );
    assert!(calls.iter().all(|c| c.request.is_some()));
    assert_eq!(sim.document(WAREHOUSE, "SO-1").unwrap().applied, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_call_the_client_timed_out_on_is_still_applied() {
    let sim = start(&["SO-1"]).await;
    sim.set_fault_for("SO-1", Some(Fault::Delay(Duration::from_secs(2))));
    let impatient =
        QimenClient::new(&sim.url(), credentials(), Duration::from_millis(200)).unwrap();
    let outcome = impatient.send_at(&hold("SO-1"), at()).await.unwrap();
    assert!(
        matches!(&outcome, Outcome::Retry { reason, .. } if reason.starts_with("timeout")),
        "{outcome:?}"
    );
    // The client has given up and closed its connection; the warehouse goes on, and the
    // simulator says so when it is done.
    assert!(sim.wait_for_calls(1, Duration::from_secs(60)).await);
    assert!(sim.is_held(WAREHOUSE, "SO-1"));
    let call = sim.calls().remove(0);
    assert!(call.verified);
    assert_eq!(call.answer.map(|a| a.flag), Some(Flag::Success));
    sim.shutdown().await;
}

#[tokio::test]
async fn retry_after_is_read_and_capped() {
    let sim = start(&["SO-1"]).await;
    let client = client(&sim);
    for (status, header, expected) in [
        (429, Some("120"), Some(Duration::from_secs(120))),
        (503, Some("86400"), Some(MAX_RETRY_AFTER)),
        (503, Some("Wed, 21 Oct 2015 07:28:00 GMT"), None),
        (502, None, None),
    ] {
        sim.set_fault(Some(Fault::Raw {
            status,
            retry_after: header.map(str::to_owned),
            body: "slow down".to_owned(),
        }));
        let outcome = send(&client, &hold("SO-1")).await;
        assert!(outcome.is_retryable(), "{outcome:?}");
        assert_eq!(outcome.retry_after(), expected, "{status} {header:?}");
    }
    // A permanent answer carries no wait, whatever the header says.
    sim.set_fault(Some(Fault::Raw {
        status: 404,
        retry_after: Some("60".to_owned()),
        body: "no such endpoint".to_owned(),
    }));
    assert!(matches!(
        send(&client, &hold("SO-1")).await,
        Outcome::Permanent { .. }
    ));
    assert!(!sim.is_held(WAREHOUSE, "SO-1"));
    sim.shutdown().await;
}

#[tokio::test]
async fn gateway_errors_are_read_not_retried_blindly() {
    let sim = start(&["SO-1"]).await;
    let client = client(&sim);
    let error = |code: &str, sub_code: &str| Fault::Raw {
        status: 200,
        retry_after: None,
        body: format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\" ?><error_response><code>{code}</code><msg>m</msg><sub_code>{sub_code}</sub_code></error_response>"
        ),
    };
    sim.set_fault(Some(error("25", "isv.invalid-signature")));
    let outcome = send(&client, &hold("SO-1")).await;
    assert!(
        matches!(&outcome, Outcome::Permanent { reason } if reason.contains("gateway refused the call: 25")),
        "{outcome:?}"
    );
    sim.set_fault(Some(error(
        "7",
        "accesscontrol.limited-by-app-access-count",
    )));
    let outcome = send(&client, &hold("SO-1")).await;
    assert!(outcome.is_retryable(), "{outcome:?}");
    sim.set_fault(None);
    assert_eq!(send(&client, &hold("SO-1")).await, Outcome::Held);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_busy_warehouse_is_retried_and_its_codes_can_be_configured() {
    let sim = start(&["SO-1"]).await;
    sim.set_fault_for(
        "SO-1",
        Some(Fault::Refuse {
            code: "SYSTEM_BUSY".into(),
            message: "系统繁忙".into(),
        }),
    );
    let outcome = send(&client(&sim), &hold("SO-1")).await;
    assert!(outcome.is_retryable(), "{outcome:?}");
    // A merchant whose WMS means something else by the code.
    let strict = client(&sim).with_retryable_codes(RetryableCodes::none());
    assert_eq!(
        send(&strict, &hold("SO-1")).await,
        Outcome::Refused {
            code: "SYSTEM_BUSY".into(),
            message: "系统繁忙".into()
        }
    );
    assert!(!sim.is_held(WAREHOUSE, "SO-1"));
    sim.shutdown().await;
}
