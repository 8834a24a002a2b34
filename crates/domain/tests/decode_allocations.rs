//! The ingest hot path decodes every heartbeat: it must stay allocation-light. This
//! counts the heap allocations of one `heartbeat::decode` of typical payloads (the
//! fewest of several runs, so a stray allocation elsewhere in the process does not
//! count) and holds them to a budget.

use chrono::{TimeZone, Utc};
use federation_domain::heartbeat::{decode, Window};
use federation_domain::StatusPolicy;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

// The system allocator, counting (stats_alloc: no unsafe code of ours).
#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

const SEED: &str = r#"{"project_slug":"commandcenter","hub_url":"http://localhost:8000","mesh_namespace":"hub.commandcenter","timestamp":"2025-11-18T12:00:00Z","version":"0.9.0"}"#;

fn allocations_of(slug: &str, body: &str) -> usize {
    let now = Utc.with_ymd_and_hms(2025, 11, 18, 12, 0, 30).unwrap();
    let window = Window::new(now, &StatusPolicy::default());
    (0..20)
        .map(|_| {
            let region = Region::new(GLOBAL);
            let decoded = decode(slug, body.as_bytes(), &window, None);
            let change = region.change();
            assert!(decoded.is_ok(), "{body}: {decoded:?}");
            drop(decoded);
            change.allocations + change.reallocations
        })
        .min()
        .unwrap_or(usize::MAX)
}

#[test]
fn decoding_a_heartbeat_allocates_only_what_it_keeps() {
    let envelope = format!(r#"{{"payload":{SEED},"correlation_id":"abc-123"}}"#);
    let minimal = r#"{"project_slug":"alpha"}"#;
    let degraded =
        r#"{"project_slug":"alpha","status":"degraded","reasons":["db slow","queue full"]}"#;
    let measured = [
        ("seed", allocations_of("commandcenter", SEED)),
        ("envelope", allocations_of("commandcenter", &envelope)),
        ("minimal", allocations_of("alpha", minimal)),
        ("degraded", allocations_of("alpha", degraded)),
    ];
    println!("allocations per decode: {measured:?}");
    // What the result keeps (the slug, the hub URL, the version; the reasons and their
    // list), the URL parser's own string, and the envelope's box: no copy of a field
    // that is only read. (Before the wire crate: 11, 12, 2 and 12.)
    let budget = [
        ("seed", 5),
        ("envelope", 6),
        ("minimal", 1),
        ("degraded", 8),
    ];
    for ((name, got), (_, most)) in measured.iter().zip(budget) {
        assert!(*got <= most, "{name}: {got} allocations, budget {most}");
    }
}
