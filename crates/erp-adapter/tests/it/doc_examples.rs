//! Keeps `docs/erp-protocol.md` honest: every signed example in it must carry the signature
//! this crate computes, and its body must parse as the type the page says it is.

use chrono::{TimeZone, Utc};
use shiphold_erp_adapter::*;

/// The example secret the page uses (32 ASCII bytes, base64-encoded).
const DOC_SECRET: &str = "whsec_c2hpcGhvbGQtZXhhbXBsZS1zZWNyZXQtMjAyNi0xMSE=";

fn protocol_page() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/erp-protocol.md");
    std::fs::read_to_string(path).expect("docs/erp-protocol.md is readable")
}

struct SignedExample {
    name: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl SignedExample {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("example {} has no {name} header", self.name))
    }
}

/// Every fenced block that follows a `<!-- signed-example: NAME -->` marker: the request line,
/// headers, a blank line, and the body.
fn signed_examples(page: &str) -> Vec<SignedExample> {
    let marker = "<!-- signed-example: ";
    let mut examples = Vec::new();
    let mut rest = page;
    while let Some(at) = rest.find(marker) {
        rest = &rest[at + marker.len()..];
        let name = rest[..rest.find(" -->").expect("marker closes")].to_owned();
        let open = rest.find("```").expect("a block follows the marker");
        let block_start = open + rest[open..].find('\n').expect("fence line") + 1;
        let block_len = rest[block_start..].find("\n```").expect("block closes");
        let block = &rest[block_start..block_start + block_len];
        rest = &rest[block_start + block_len..];

        let mut lines = block.split('\n');
        let _request_line = lines.next();
        let mut headers = Vec::new();
        for line in lines.by_ref() {
            if line.is_empty() {
                break;
            }
            let (n, v) = line.split_once(": ").expect("header line");
            headers.push((n.to_owned(), v.to_owned()));
        }
        let body = lines.collect::<Vec<_>>().join("\n");
        examples.push(SignedExample {
            name,
            headers,
            body,
        });
    }
    examples
}

#[test]
fn the_protocol_pages_signed_examples_carry_real_signatures() {
    let page = protocol_page();
    assert!(
        page.contains(DOC_SECRET),
        "the page names its example secret"
    );
    let secret = Secret::parse(DOC_SECRET).expect("doc secret is valid");
    let examples = signed_examples(&page);
    let names: Vec<&str> = examples.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["requested", "released", "callback"]);

    for ex in &examples {
        let id = ex.header("webhook-id");
        let ts: i64 = ex.header("webhook-timestamp").parse().expect("timestamp");
        let expected = secret.sign(id, ts, ex.body.as_bytes());
        assert_eq!(
            ex.header("webhook-signature"),
            expected,
            "example `{}`: put this signature in docs/erp-protocol.md",
            ex.name
        );
        let mut headers = http::HeaderMap::new();
        for (n, v) in &ex.headers {
            headers.insert(
                http::HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes()).expect("name"),
                http::HeaderValue::from_str(v).expect("value"),
            );
        }
        let at = Utc.timestamp_opt(ts, 0).single().expect("time");
        match ex.name.as_str() {
            "callback" => {
                let (_, cb) = receive_callback(
                    &headers,
                    ex.body.as_bytes(),
                    std::slice::from_ref(&secret),
                    at,
                )
                .expect("the callback example verifies and parses");
                assert_eq!(
                    cb.to_body(),
                    ex.body.as_bytes(),
                    "the example is the exact compact JSON sent"
                );
            }
            _ => {
                let (v, m) = receive_message(
                    &headers,
                    ex.body.as_bytes(),
                    std::slice::from_ref(&secret),
                    at,
                )
                .expect("the message example verifies and parses");
                assert_eq!(v.webhook_id, m.id, "webhook-id equals the body's id");
                assert_eq!(
                    m.to_body(),
                    ex.body.as_bytes(),
                    "the example is the exact compact JSON sent"
                );
            }
        }
    }
}

#[test]
fn the_protocol_pages_json_examples_parse() {
    // Pretty-printed blocks marked `<!-- json: TYPE -->` must parse as TYPE.
    let page = protocol_page();
    let marker = "<!-- json: ";
    let mut rest = page.as_str();
    let mut seen = 0;
    while let Some(at) = rest.find(marker) {
        rest = &rest[at + marker.len()..];
        let kind = rest[..rest.find(" -->").expect("marker closes")].to_owned();
        let open = rest.find("```").expect("block");
        let start = open + rest[open..].find('\n').expect("fence") + 1;
        let len = rest[start..].find("\n```").expect("closes");
        let json = &rest.as_bytes()[start..start + len];
        rest = &rest[start + len..];
        let ok = match kind.as_str() {
            "message" => parse_message(json).map(|_| ()),
            "delivery-response" => parse_delivery_response(json).map(|_| ()),
            "callback" => parse_callback(json).map(|_| ()),
            "receipt" => serde_json::from_slice::<CallbackReceipt>(json)
                .map(|_| ())
                .map_err(|e| ParseError::Invalid(e.to_string())),
            other => panic!("unknown example kind {other}"),
        };
        assert!(ok.is_ok(), "`{kind}` example does not parse: {ok:?}");
        seen += 1;
    }
    assert!(seen >= 4, "the page has its JSON examples");
}
