//! Diesel's view of the tables. Written by hand to match both migration folders, which keep
//! the same columns and types (only id generation and the binary type differ in SQL).

diesel::table! {
    shops (id) {
        id -> Text,
        name -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    api_keys (shop_id, id) {
        shop_id -> Text,
        id -> Text,
        label -> Text,
        roles -> Text,
        secret_hash -> Text,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    shop_settings (shop_id) {
        shop_id -> Text,
        settings -> Text,
        erp_secret -> Nullable<Text>,
        templates -> Text,
        version -> BigInt,
        updated_at -> BigInt,
        erp_secret_previous -> Nullable<Text>,
        marketplace_secret -> Nullable<Text>,
        marketplace_session -> Nullable<Text>,
        qimen_secret -> Nullable<Text>,
        marketplace_webhook_secret -> Nullable<Text>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        shop_id -> Text,
        at -> BigInt,
        actor -> Text,
        action -> Text,
        target -> Text,
        before_json -> Text,
        after_json -> Text,
    }
}

diesel::table! {
    event_windows (shop_id, id) {
        shop_id -> Text,
        id -> Text,
        name -> Text,
        refunds_off_from -> BigInt,
        refunds_off_until -> BigInt,
        time_zone -> Text,
        refunds_reopen_at -> BigInt,
    }
}

diesel::table! {
    orders (shop_id, id) {
        shop_id -> Text,
        id -> Text,
        buyer_id -> Text,
        version -> BigInt,
        seller_memo -> Text,
        seller_flag -> Text,
        memo_note -> Nullable<Text>,
        memo_flag -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    sub_orders (shop_id, order_id, id) {
        shop_id -> Text,
        order_id -> Text,
        id -> Text,
        position -> Integer,
        item_id -> Text,
        title -> Text,
        quantity -> BigInt,
        amount -> BigInt,
        shipping_status -> Text,
    }
}

diesel::table! {
    cards (shop_id, id) {
        shop_id -> Text,
        id -> Text,
        order_id -> Text,
        buyer_id -> Text,
        token_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    interceptions (shop_id, id) {
        shop_id -> Text,
        id -> Text,
        order_id -> Text,
        buyer_id -> Text,
        method -> Text,
        card_id -> Nullable<Text>,
        requester_kind -> Text,
        requester_id -> Text,
        created_at -> BigInt,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    interception_lines (shop_id, interception_id, sub_order_id) {
        shop_id -> Text,
        interception_id -> Text,
        sub_order_id -> Text,
        order_id -> Text,
        position -> Integer,
        quantity -> BigInt,
        state -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    line_transitions (id) {
        id -> BigInt,
        shop_id -> Text,
        interception_id -> Text,
        sub_order_id -> Text,
        from_state -> Text,
        to_state -> Text,
        event -> Text,
        detail -> Nullable<Text>,
        at -> BigInt,
        actor -> Nullable<Text>,
    }
}

diesel::table! {
    messages (shop_id, id) {
        shop_id -> Text,
        id -> Text,
        order_id -> Text,
        buyer_id -> Text,
        interception_id -> Nullable<Text>,
        kind -> Text,
        locale -> Text,
        channel -> Text,
        text -> Text,
        link -> Nullable<Text>,
        status -> Text,
        created_at -> BigInt,
        delivered_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        shop_id -> Text,
        topic -> Text,
        ordering_key -> Text,
        message_id -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        available_at -> BigInt,
        lease_until -> Nullable<BigInt>,
        leased_by -> Nullable<Text>,
        lease_token -> Nullable<Text>,
        created_at -> BigInt,
        finished_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    outbox_attempts (id) {
        id -> BigInt,
        shop_id -> Text,
        outbox_id -> BigInt,
        at -> BigInt,
        outcome -> Text,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
        duration_ms -> BigInt,
    }
}

diesel::table! {
    idempotency_keys (shop_id, scope, key) {
        shop_id -> Text,
        scope -> Text,
        key -> Text,
        request_hash -> Text,
        state -> Text,
        locked_until -> BigInt,
        status -> Nullable<Integer>,
        body -> Nullable<Binary>,
        content_type -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    inbound_webhooks (shop_id, webhook_id) {
        shop_id -> Text,
        webhook_id -> Text,
        received_at -> BigInt,
    }
}

diesel::table! {
    staff (shop_id, id) {
        shop_id -> Text,
        id -> Text,
        login -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Nullable<Text>,
        invite_hash -> Nullable<Text>,
        invite_expires_at -> Nullable<BigInt>,
        failed_sign_ins -> Integer,
        throttled_until -> Nullable<BigInt>,
        created_at -> BigInt,
        created_by -> Text,
        removed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    staff_sessions (token_hash) {
        token_hash -> Text,
        shop_id -> Text,
        staff_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        ended_at -> Nullable<BigInt>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    shops,
    api_keys,
    shop_settings,
    audit_log,
    event_windows,
    orders,
    sub_orders,
    cards,
    interceptions,
    interception_lines,
    line_transitions,
    messages,
    outbox,
    outbox_attempts,
    idempotency_keys,
    inbound_webhooks,
    staff,
    staff_sessions,
);
