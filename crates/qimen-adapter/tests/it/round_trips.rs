//! The happy path and the wire format, as the simulator received it.

use crate::support::*;
use shiphold_qimen_adapter::sim::{DocumentState, SimConfig, Simulator};
use shiphold_qimen_adapter::*;

#[tokio::test]
async fn pending_holds_the_document_and_restore_releases_it() {
    let sim = start(&["SO-1"]).await;
    let client = client(&sim);

    assert_eq!(send(&client, &hold("SO-1")).await, Outcome::Held);
    assert!(sim.is_held(WAREHOUSE, "SO-1"));
    assert_eq!(send(&client, &release("SO-1")).await, Outcome::Restored);
    assert_eq!(
        sim.document(WAREHOUSE, "SO-1"),
        Some(DocumentState {
            held: false,
            shipped: false,
            applied: 2,
            changes: 2
        })
    );
    let calls = sim.calls();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c.verified && c.status == 200));
    assert_eq!(
        calls[0].request.as_ref().map(|r| r.action),
        Some(Action::Pending)
    );
    assert_eq!(
        calls[1].request.as_ref().map(|r| r.action),
        Some(Action::Restore)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_call_on_the_wire_is_the_documented_one() {
    let sim = start(&["SO-20261111-0001"]).await;
    let request = hold("SO-20261111-0001").with_order_id("WMS-889");
    assert_eq!(send(&client(&sim), &request).await, Outcome::Held);

    let call = sim.calls().remove(0);
    let param = |name: &str| call.param(name).unwrap_or_else(|| panic!("no `{name}`"));
    assert_eq!(param("method"), "taobao.qimen.order.pending");
    assert_eq!(param("timestamp"), "2026-11-11 08:00:00");
    assert_eq!(param("format"), "xml");
    assert_eq!(param("app_key"), "12345678");
    assert_eq!(param("v"), "2.0");
    assert_eq!(param("sign_method"), "md5");
    assert_eq!(param("customerId"), "stub-cust-code");
    let sign = param("sign");
    assert!(
        sign.len() == 32
            && sign
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
        "{sign}"
    );
    assert_eq!(call.content_type.as_deref(), Some("text/xml;charset=utf-8"));
    // The body on the wire is the request's XML, byte for byte, and reads back as the request.
    assert_eq!(call.body, request.to_xml().unwrap().into_bytes());
    assert_eq!(call.request.as_ref(), Some(&request));
    // The receiving rule, applied to what arrived, accepts it.
    let secret = Secret::new("qimen-test-secret").unwrap();
    let verified = verify(&call.query, &call.body, &secret, at(), DEFAULT_TOLERANCE).unwrap();
    assert_eq!(verified.signed_at, at());
    // The answer came back as the documented `<response>`.
    assert_eq!(call.answer.map(|a| a.flag), Some(Flag::Success));
    sim.shutdown().await;
}

#[tokio::test]
async fn repeating_a_call_is_harmless() {
    let sim = start(&["SO-1"]).await;
    let client = client(&sim);
    for _ in 0..2 {
        assert_eq!(send(&client, &hold("SO-1")).await, Outcome::Held);
    }
    let state = sim.document(WAREHOUSE, "SO-1").unwrap();
    assert!(state.held);
    assert_eq!((state.applied, state.changes), (2, 1));
    for _ in 0..2 {
        assert_eq!(send(&client, &release("SO-1")).await, Outcome::Restored);
    }
    let state = sim.document(WAREHOUSE, "SO-1").unwrap();
    assert!(!state.held);
    assert_eq!((state.applied, state.changes), (4, 2));
    sim.shutdown().await;
}

#[tokio::test]
async fn special_characters_and_chinese_text_arrive_unchanged() {
    let sim = start(&["SO-<&>"]).await;
    let reason = "<&>\"' 买家说:不要发货 & 退款";
    let request = hold("SO-<&>").with_reason(reason);
    assert_eq!(send(&client(&sim), &request).await, Outcome::Held);
    let call = sim.calls().remove(0);
    assert!(
        String::from_utf8(call.body.clone())
            .unwrap()
            .contains("<reason>&lt;&amp;&gt;&quot;&apos; 买家说:不要发货 &amp; 退款</reason>")
    );
    let received = call.request.unwrap();
    assert_eq!(received.reason.as_deref(), Some(reason));
    assert_eq!(received.order_code, "SO-<&>");
    assert!(sim.is_held(WAREHOUSE, "SO-<&>"));
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_documents_and_warehouses_are_refused_about_that_document() {
    let sim = start(&["SO-1"]).await;
    let client = client(&sim);
    match send(&client, &hold("SO-404")).await {
        Outcome::Refused { code, message } => {
            assert_eq!(code, "order-not-found");
            assert!(message.contains("SO-404"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let elsewhere = PendingRequest::pending("WH-OTHER", "SO-1");
    assert!(matches!(
        send(&client, &elsewhere).await,
        Outcome::Refused { code, .. } if code == "warehouse-not-found"
    ));
    assert!(sim.document("WH-OTHER", "SO-1").is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_shipped_document_cannot_be_held() {
    let sim = start(&["SO-1"]).await;
    sim.ship(WAREHOUSE, "SO-1");
    assert_eq!(
        send(&client(&sim), &hold("SO-1")).await,
        Outcome::Refused {
            code: "order-shipped".into(),
            message: "已出库 already shipped".into()
        }
    );
    assert!(!sim.is_held(WAREHOUSE, "SO-1"));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_simulator_that_accepts_unknown_documents_creates_them() {
    let mut config = SimConfig::new(credentials());
    config.now = Some(at());
    config.accept_unknown_documents = true;
    let sim = Simulator::start(config).await.unwrap();
    assert_eq!(send(&client(&sim), &hold("SO-NEW")).await, Outcome::Held);
    assert!(sim.is_held(WAREHOUSE, "SO-NEW"));
    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_requests_are_refused_before_sending() {
    let sim = start(&["SO-1"]).await;
    let result = client(&sim)
        .send_at(&PendingRequest::pending("", "SO-1"), at())
        .await;
    assert_eq!(result, Err(InvalidRequest::Missing("warehouseCode")));
    assert_eq!(sim.call_count(), 0);
    sim.shutdown().await;
}
