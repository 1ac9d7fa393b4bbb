"""Hooks of `cargo xtask api-fuzz` (loaded through SCHEMATHESIS_HOOKS).

Every generated request keeps to the OpenAPI document. These hooks change a request only where
the API has a documented rule that JSON Schema cannot state, so that a request the fuzzer takes
for valid really is one; everything else goes out as generated:

- an Idempotency-Key used again with another body answers 422 (docs/api.md, "Retrying safely"):
  each valid generated key is replaced by a fresh one;
- a cursor is valid only as the `next_cursor` the list returned: generated cursors are dropped;
- event windows: refunds_off_from < refunds_off_until <= refunds_reopen_at;
- sub-order ids are unique within an order;
- an ERP endpoint's host must resolve to public addresses (there is no network in CI): the
  endpoint is set to one under erp.example.com; likewise the marketplace gateway, the marketplace
  webhook and the Qimen endpoint (under gw.example.com, shop.example.com, qimen.example.com);
- the links' credentials and codes may not be blank (whitespace only, as Rust reads it): blank
  ones are replaced; and the first link of the marketplace or of a Qimen warehouse needs its
  secret (and session): a request without them gets them, since an earlier call may have
  removed the link;
- a template's {placeholders} depend on its kind: braces are removed;
- a memo text holds at most 1000 bytes of UTF-8;
- order and card-token path parameters point, every other time, at the demo shop's real orders
  and card (SHIPHOLD_FUZZ_ORDERS, SHIPHOLD_FUZZ_TOKEN), so the fuzzer reaches more than 404s.
"""

import os
import re
import uuid
import zlib
from datetime import datetime, timedelta

import schemathesis

VALID_KEY = re.compile(r"^[!-~]{1,255}$")
ORDERS = [o for o in os.environ.get("SHIPHOLD_FUZZ_ORDERS", "").split(",") if o]
TOKEN = os.environ.get("SHIPHOLD_FUZZ_TOKEN", "")


def _pick(value, choices):
    """The same generated value always maps to the same choice (or keeps itself)."""
    digest = zlib.crc32(repr(value).encode())
    if not choices or digest % 2:
        return value
    return choices[(digest // 2) % len(choices)]


def _windows(body):
    names = ["refunds_off_from", "refunds_off_until", "refunds_reopen_at"]
    if not all(isinstance(body.get(n), str) for n in names):
        return
    try:
        times = sorted(datetime.fromisoformat(body[n].replace("Z", "+00:00")) for n in names)
    except ValueError:
        return
    start, end, reopen = times
    if end <= start:
        end = start + timedelta(hours=1)
    if reopen < end:
        reopen = end
    for name, value in zip(names, (start, end, reopen)):
        body[name] = value.isoformat()


def _unique_sub_orders(body):
    seen = set()
    for i, sub in enumerate(body.get("sub_orders") or []):
        if isinstance(sub, dict) and isinstance(sub.get("id"), str):
            if sub["id"] in seen:
                sub["id"] = (sub["id"][:50] + "-dup" + str(i))[:64]
            seen.add(sub["id"])


@schemathesis.hook
def before_call(context, case, kwargs):
    for headers in (case.headers, kwargs.get("headers")):
        if headers:
            key = headers.get("Idempotency-Key")
            if isinstance(key, str) and VALID_KEY.match(key):
                headers["Idempotency-Key"] = uuid.uuid4().hex
    if case.query and "cursor" in case.query:
        del case.query["cursor"]
    params = case.path_parameters or {}
    if "order_id" in params:
        params["order_id"] = _pick(params["order_id"], ORDERS)
    if "token" in params and TOKEN:
        params["token"] = _pick(params["token"], [TOKEN])

    body = case.body
    if not isinstance(body, dict):
        return
    path = case.operation.path
    if path.startswith("/v1/event-windows"):
        _windows(body)
    elif path == "/v1/orders/{order_id}":
        _unique_sub_orders(body)
    elif path == "/v1/settings/erp" and isinstance(body.get("endpoint"), str):
        body["endpoint"] = "https://erp.example.com/" + uuid.uuid4().hex
    elif path.startswith("/v1/settings/templates/") and isinstance(body.get("text"), str):
        text = body["text"].replace("{", "").replace("}", "")
        body["text"] = text if text.strip() else "text"
    elif path == "/v1/settings/memo" and isinstance(body.get("memo_text"), str):
        text = body["memo_text"]
        while len(text.encode()) > 1000:
            text = text[:-1]
        body["memo_text"] = text if text.strip() else "memo"
    elif path == "/v1/settings/marketplace":
        if isinstance(body.get("gateway"), str):
            body["gateway"] = "https://gw.example.com/router/rest"
        _given(body, "app_secret", "fuzz-app-secret")
        _given(body, "session", "fuzz-session")
        _not_blank(body, ["app_key", "app_secret", "session"])
    elif path == "/v1/settings/marketplace-webhook" and isinstance(body.get("endpoint"), str):
        body["endpoint"] = "https://shop.example.com/" + uuid.uuid4().hex
    elif path == "/v1/settings/qimen":
        if isinstance(body.get("endpoint"), str):
            body["endpoint"] = "https://qimen.example.com/router/qimen/service"
        _given(body, "app_secret", "fuzz-app-secret")
        _not_blank(body, ["app_key", "app_secret", "customer_id", "warehouse_code", "order_type"])


def _given(body, name, value):
    """A credential left out (or null) is given, as the first link needs it."""
    if body.get(name) is None:
        body[name] = value


def _not_blank(body, names):
    """Rust's trim() takes Unicode White_Space away; a value left empty is replaced."""
    for name in names:
        value = body.get(name)
        if isinstance(value, str) and value and not value.strip(RUST_WHITESPACE):
            body[name] = "x"


# Unicode White_Space, as Rust's char::is_whitespace and str::trim read it.
RUST_WHITESPACE = (
    "\u0009\u000a\u000b\u000c\u000d\u0020\u0085\u00a0\u1680\u2000\u2001\u2002\u2003"
    "\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
