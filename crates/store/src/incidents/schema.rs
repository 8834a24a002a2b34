//! The incident tables (migrations `2026-12-02-120000_incidents`).

diesel::table! {
    use diesel::sql_types::*;
    use crate::schema::UtcTime;

    incidents (id) {
        id -> BigInt,
        started_at -> UtcTime,
        opened_at -> UtcTime,
        ended_at -> Nullable<UtcTime>,
        resolved_revision -> Nullable<BigInt>,
        trigger -> Text,
        tag -> Nullable<Text>,
        offline -> Integer,
        tag_size -> Nullable<Integer>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::schema::UtcTime;

    incident_members (incident_id, slug) {
        incident_id -> BigInt,
        slug -> Text,
        offline_at -> UtcTime,
        revision -> BigInt,
        back_at -> Nullable<UtcTime>,
    }
}

diesel::joinable!(incident_members -> incidents (incident_id));
diesel::allow_tables_to_appear_in_same_query!(incidents, incident_members);
