//! The ERP simulator, driven by the real client: sync answers, callbacks, faults, going down
//! and coming back on the same port, and the command-line binary.

use crate::support::{FakeShiphold, released, requested};
use chrono::Utc;
use shiphold_erp_adapter::sim::{SimConfig, SimMode, SimRules, Simulator};
use shiphold_erp_adapter::*;
use std::time::Duration;

fn client() -> ErpClient {
    ErpClient::new(EndpointPolicy::INSECURE, Duration::from_secs(5)).expect("client")
}

async fn send(url: &str, message: &Message, secret: &Secret) -> DeliveryOutcome {
    client()
        .deliver(
            url,
            &message.id,
            Utc::now().timestamp(),
            &message.to_body(),
            std::slice::from_ref(secret),
        )
        .await
        .expect("endpoint allowed")
}

#[tokio::test]
async fn sync_mode_answers_by_rule_and_records_every_message() {
    let secret = Secret::generate();
    let mut config = SimConfig::new(secret.clone());
    config
        .rules
        .overrides
        .insert("so-2".into(), Outcome::Failed);
    config
        .rules
        .overrides
        .insert("so-3".into(), Outcome::AlreadyShipped);
    config.rules.failure_reason = "picked".into();
    let sim = Simulator::start(config).await.expect("sim starts");

    let m = requested("msg_s1", "shop-1", &["so-1", "so-2", "so-3"]);
    match send(&sim.url(), &m, &secret).await {
        DeliveryOutcome::Delivered {
            results: Some(results),
            ..
        } => assert_eq!(
            results,
            vec![
                ItemResult::locked("so-1"),
                ItemResult::failed("so-2", "picked"),
                ItemResult::already_shipped("so-3"),
            ]
        ),
        other => panic!("{other:?}"),
    }
    let r = released("msg_s2", "shop-1", &["so-1"]);
    assert_eq!(
        send(&sim.url(), &r, &secret).await,
        DeliveryOutcome::Delivered {
            status: 200,
            results: None,
            note: None
        }
    );
    // Wrong secret: 401, recorded but not accepted.
    assert!(matches!(
        send(&sim.url(), &m, &Secret::generate()).await,
        DeliveryOutcome::Rejected { status: 401, .. }
    ));
    // Rules change at runtime.
    sim.set_rules(SimRules {
        default_outcome: Outcome::AlreadyShipped,
        ..SimRules::default()
    });
    let m4 = requested("msg_s4", "shop-1", &["so-9"]);
    assert!(matches!(
        send(&sim.url(), &m4, &secret).await,
        DeliveryOutcome::Delivered { results: Some(r), .. } if r == vec![ItemResult::already_shipped("so-9")]
    ));

    let received = sim.received();
    assert_eq!(
        received.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![200, 200, 401, 200]
    );
    assert_eq!(received[0].webhook_id, "msg_s1");
    assert_eq!(
        received[0].message_type.as_deref(),
        Some("interception.requested")
    );
    assert_eq!(
        received[1].message_type.as_deref(),
        Some("interception.released")
    );
    assert_eq!(received[0].body, m.to_body());
    assert_eq!(sim.accepted().len(), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn callback_mode_reports_once_through_the_signed_callback() {
    let secret = Secret::generate();
    let fake = FakeShiphold::new("shop-1", &secret, &["so-1", "so-2"]);
    let shiphold = fake.start().await;
    let mut config = SimConfig::new(secret.clone());
    config.mode = SimMode::Callback {
        shiphold_base: shiphold,
        delay: Duration::from_millis(100),
    };
    config
        .rules
        .overrides
        .insert("so-2".into(), Outcome::Failed);
    let sim = Simulator::start(config).await.expect("sim starts");

    let m = requested("msg_k1", "shop-1", &["so-1", "so-2"]);
    assert_eq!(
        send(&sim.url(), &m, &secret).await,
        DeliveryOutcome::Delivered {
            status: 202,
            results: None,
            note: None
        }
    );
    // A redelivery (same webhook-id) is acknowledged but not reported twice.
    assert!(send(&sim.url(), &m, &secret).await.is_delivered());
    assert!(sim.wait_for_callbacks(1, Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let callbacks = sim.callbacks();
    assert_eq!(callbacks.len(), 1, "{callbacks:?}");
    let receipt = callbacks[0]
        .result
        .clone()
        .expect("Shiphold accepted the callback");
    assert_eq!(receipt.results.len(), 2);
    let applied = fake.applied();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].interception_id, "icp-msg_k1");
    assert_eq!(applied[0].results[1].outcome, Outcome::Failed);
    assert_eq!(sim.accepted_ids().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_faults_give_the_answers_a_retry_logic_must_handle() {
    let secret = Secret::generate();
    let sim = Simulator::start(SimConfig::new(secret.clone()))
        .await
        .expect("sim starts");
    let m = requested("msg_f1", "shop-1", &["so-1"]);

    sim.fail_next(2);
    for _ in 0..2 {
        assert!(matches!(
            send(&sim.url(), &m, &secret).await,
            DeliveryOutcome::Retry { .. }
        ));
    }
    assert!(send(&sim.url(), &m, &secret).await.is_delivered());

    sim.fail_next_with(1, 429, Some(3));
    assert!(matches!(
        send(&sim.url(), &m, &secret).await,
        DeliveryOutcome::Retry { retry_after: Some(d), .. } if d == Duration::from_secs(3)
    ));

    sim.set_gone(true);
    assert_eq!(send(&sim.url(), &m, &secret).await, DeliveryOutcome::Gone);
    sim.set_gone(false);

    sim.set_rules(SimRules {
        response_delay: Duration::from_secs(2),
        ..SimRules::default()
    });
    let quick =
        ErpClient::new(EndpointPolicy::INSECURE, Duration::from_millis(300)).expect("client");
    let outcome = quick
        .deliver(
            &sim.url(),
            &m.id,
            Utc::now().timestamp(),
            &m.to_body(),
            std::slice::from_ref(&secret),
        )
        .await
        .expect("allowed");
    assert!(
        matches!(outcome, DeliveryOutcome::Retry { ref reason, .. } if reason.starts_with("timeout")),
        "{outcome:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_simulator_that_goes_down_refuses_connections_and_comes_back_on_the_same_port() {
    let secret = Secret::generate();
    let sim = Simulator::start(SimConfig::new(secret.clone()))
        .await
        .expect("sim starts");
    let addr = sim.addr();
    let c = client();
    let m = requested("msg_d1", "shop-1", &["so-1"]);
    let body = m.to_body();
    let url = format!("http://{addr}/erp");
    let deliver = || {
        c.deliver(
            &url,
            &m.id,
            Utc::now().timestamp(),
            &body,
            std::slice::from_ref(&secret),
        )
    };

    assert!(deliver().await.expect("allowed").is_delivered());
    sim.go_down().await;
    assert!(sim.is_down());
    for _ in 0..3 {
        match deliver().await.expect("allowed") {
            DeliveryOutcome::Retry { reason, .. } => {
                assert!(reason.starts_with("connection failed"), "{reason}")
            }
            other => panic!("delivered while down: {other:?}"),
        }
    }
    sim.come_up().await.expect("same port again");
    assert_eq!(sim.addr(), addr);
    assert!(deliver().await.expect("allowed").is_delivered());
    assert_eq!(sim.accepted().len(), 2);
    assert_eq!(
        sim.accepted_ids().len(),
        1,
        "the redelivery kept its webhook-id"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_binary_serves_the_same_simulator() {
    use tokio::io::AsyncBufReadExt;
    let secret = Secret::generate();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_shiphold-erp-sim"))
        .args([
            "--port",
            "0",
            "--outcome",
            "already_shipped",
            "--override",
            "so-1=locked",
        ])
        .env("SHIPHOLD_ERP_SIM_SECRET", secret.to_whsec())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("listening: ") {
                return Some(url.to_owned());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("the binary prints its URL");

    let m = requested("msg_b1", "shop-1", &["so-1", "so-2"]);
    let outcome = send(&url, &m, &secret).await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    assert_eq!(
        outcome,
        DeliveryOutcome::Delivered {
            status: 200,
            results: Some(vec![
                ItemResult::locked("so-1"),
                ItemResult::already_shipped("so-2")
            ]),
            note: None
        }
    );
}

#[tokio::test]
async fn the_binary_refuses_bad_flags_with_a_message() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_shiphold-erp-sim"))
        .args(["--port", "0", "--secret", "whsec_short", "--override", "x"])
        .output()
        .await
        .expect("binary runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--secret"));
}
