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
  endpoint is set to one under erp.example.com;
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
