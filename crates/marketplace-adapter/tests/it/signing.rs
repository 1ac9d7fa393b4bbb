//! Signing and verification through the public API: what `sign_update` sends verifies after a
//! trip through a form body, and nothing else does.

use crate::support::*;
use chrono::Duration as Minutes;
use shiphold_marketplace_adapter::*;

fn received(call: &SignedCall) -> Vec<(String, String)> {
    parse_form(call.form_body().as_bytes())
}

fn set(params: &mut [(String, String)], name: &str, value: &str) {
    let slot = params.iter_mut().find(|(k, _)| k == name).unwrap();
    slot.1 = value.to_owned();
}

#[test]
fn every_method_round_trips_through_a_form_body() {
    let update = MemoUpdate::write(TID, memo("拦截发货 & 请勿发货 = 100%"), Some(Flag::Yellow));
    for method in SignMethod::ALL {
        let call = sign_update(&update, &creds(), method, t0()).unwrap();
        let params = received(&call);
        assert_eq!(param(&params, "memo"), Some("拦截发货 & 请勿发货 = 100%"));
        let verified = verify_call(&params, &creds().app_secret, t0()).unwrap();
        assert_eq!(verified.sign_method, method);
        assert_eq!(verified.method, METHOD);
        assert_eq!(verified.signed_at, t0());
        assert_eq!(
            call.sign().len(),
            if method == SignMethod::HmacSha256 {
                64
            } else {
                32
            }
        );
        assert!(
            call.sign()
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        );
    }
}

#[test]
fn the_hand_computed_md5_vector_is_what_is_sent() {
    // The canonical string and its digest, worked out by hand in sign.rs's tests; here through
    // the form body a server receives.
    let update = MemoUpdate::write(TID, memo("拦截发货:请勿发货"), Some(Flag::Red));
    let call = sign_update(&update, &creds(), SignMethod::Md5, t0()).unwrap();
    let params = received(&call);
    assert_eq!(
        param(&params, "sign"),
        Some("6E39220FA1E244C43EE32206822D56A7")
    );
    assert_eq!(
        canonical_string(&params),
        "app_key21600001flag1formatjsonmemo拦截发货:请勿发货methodtaobao.trade.memo.updatesession6100a3sessionkeysign_methodmd5tid4012345678901234567timestamp2026-11-11 08:30:00v2.0"
    );
}

#[test]
fn a_tampered_parameter_a_wrong_secret_and_a_stale_timestamp_are_refused() {
    let update = MemoUpdate::write(TID, memo("拦截"), Some(Flag::Red));
    for method in SignMethod::ALL {
        let call = sign_update(&update, &creds(), method, t0()).unwrap();
        let secret = &creds().app_secret;
        for (name, value) in [
            ("memo", "发货"),
            ("flag", "0"),
            ("tid", "4012345678901234568"),
            ("app_key", "21600002"),
            ("session", "someone-else"),
        ] {
            let mut params = received(&call);
            set(&mut params, name, value);
            assert_eq!(
                verify_call(&params, secret, t0()),
                Err(VerifyError::SignatureMismatch),
                "{method} {name}"
            );
        }
        // An extra parameter (a reset smuggled in) is refused too.
        let mut params = received(&call);
        params.push(("reset".into(), "true".into()));
        assert_eq!(
            verify_call(&params, secret, t0()),
            Err(VerifyError::SignatureMismatch)
        );

        let wrong = AppSecret::new(SECRET.to_uppercase()).unwrap();
        assert_eq!(
            verify_call(&received(&call), &wrong, t0()),
            Err(VerifyError::SignatureMismatch)
        );

        let late = t0() + Minutes::minutes(10) + Minutes::seconds(1);
        assert!(matches!(
            verify_call(&received(&call), secret, late),
            Err(VerifyError::TimestampOutOfRange { skew_secs: 601, .. })
        ));
        assert!(verify_call(&received(&call), secret, t0() + Minutes::minutes(10)).is_ok());
    }
}
