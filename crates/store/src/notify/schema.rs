//! The notification tables (migrations `2026-12-02-090000_notifications`).

diesel::table! {
    use diesel::sql_types::*;
    use crate::schema::UtcTime;

    notify_channels (name) {
        name -> Text,
        kind -> Text,
        url -> Text,
        secret -> Nullable<Text>,
        rules -> Text,
        enabled -> Bool,
        email -> Nullable<Text>,
        created_at -> UtcTime,
        updated_at -> UtcTime,
    }
}

diesel::table! {
    notify_cursors (channel) {
        channel -> Text,
        revision -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::schema::UtcTime;

    notify_deliveries (id) {
        id -> BigInt,
        channel -> Text,
        revision -> BigInt,
        event -> Text,
        slug -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        http_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        latency_ms -> BigInt,
        at -> UtcTime,
    }
}
