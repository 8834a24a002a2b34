//! (e) steady state: 100,000 projects beating every 30 s on a fresh instance; its CPU
//! over a minute after a warm-up, its peak memory, and then its dashboard's first rows in
//! headless Chromium ([`super::browser`]).

use std::io::Read;
use std::time::{Duration, Instant};

use super::num;
use super::procfs::{cpu_seconds, vm_mib};
use super::report::{thousands, Report};
use super::service::Service;
use super::tool::Tool;

const PROJECTS: usize = 100_000;
const WARMUP: Duration = Duration::from_secs(30);
const MEASURE: Duration = Duration::from_secs(60);

pub(super) fn steady(
    tool: &Tool<'_>,
    service: &Service,
    report: &mut Report,
) -> anyhow::Result<()> {
    let n = PROJECTS.to_string();
    eprintln!("bench: (e) registering {PROJECTS} projects");
    let registered = tool.simulate(&[
        "--server",
        &service.url(),
        "--projects",
        &n,
        "--prefix",
        "ss",
        "--register-only",
        "--concurrency",
        "32",
    ])?;
    service.wait_subscribed()?;
    eprintln!(
        "bench: (e) {PROJECTS} projects at a 30 s interval: {} s warm-up, {} s measured",
        WARMUP.as_secs(),
        MEASURE.as_secs()
    );
    let total = WARMUP + MEASURE + Duration::from_secs(1);
    let mut publisher = tool.spawn_simulate(&[
        "--no-register",
        "--projects",
        &n,
        "--prefix",
        "ss",
        "--interval",
        "30s",
        "--duration",
        &format!("{}s", total.as_secs()),
    ])?;
    std::thread::sleep(WARMUP);
    let window = measure(service)?;
    let painted = super::browser::first_paint(service);
    let mut stdout = String::new();
    if let Some(mut s) = publisher.stdout.take() {
        let _ = s.read_to_string(&mut stdout);
    }
    publisher.wait()?;

    report.row(
        "(e) steady state, 100,000 projects every 30 s: service CPU (% of one core, over 60 s)",
        format!(
            "{:.1} % ({} heartbeats/s processed)",
            window.cpu_pct,
            thousands(window.processed_per_sec)
        ),
        "< 10 %",
        Some(window.cpu_pct < 10.0),
    );
    report.row(
        "(e) steady state: service peak RSS (VmHWM; VmRSS at the end)",
        format!("{:.0} MiB ({:.0} MiB)", window.hwm_mib, window.rss_mib),
        "≤ 150 MB",
        Some(window.hwm_mib * 1.048_576 <= 150.0),
    );
    match painted {
        Ok(p) => report.row(
            "(e) the dashboard at 100,000 projects in headless Chromium: navigation → first rows rendered; the catalog on the wire (decoded); rows in the DOM",
            format!(
                "{:.0} ms; {:.1} MB ({:.1} MB); {} rows of {}",
                p.rows_ms,
                p.catalog_wire / 1e6,
                p.catalog_decoded / 1e6,
                p.dom_rows,
                p.shown_total
            ),
            "≤ 2,000 ms, compressed, rows bounded",
            Some(
                p.rows_ms <= 2000.0
                    && p.catalog_wire < p.catalog_decoded / 2.0
                    && p.dom_rows <= 100
                    && p.shown_total == PROJECTS.to_string(),
            ),
        ),
        Err(e) => report.failed("(e) the dashboard at 100,000 projects", &e),
    }
    report.row(
        "POST registration of 100,000 projects by `federation simulate` (32 in flight)",
        format!(
            "{}/s ({:.0} s)",
            thousands(num(&registered, "/registration/per_sec")),
            num(&registered, "/registration/seconds")
        ),
        "",
        None,
    );
    Ok(())
}

/// The service over [`MEASURE`].
struct Window {
    /// Percent of one core.
    cpu_pct: f64,
    processed_per_sec: f64,
    /// Peak resident memory so far (VmHWM).
    hwm_mib: f64,
    /// Resident memory at the end (VmRSS).
    rss_mib: f64,
}

fn measure(service: &Service) -> anyhow::Result<Window> {
    let pid = service.pid();
    let cpu0 = cpu_seconds(pid)?;
    let ok0 = service.heartbeat_counts()?.ok;
    let t0 = Instant::now();
    std::thread::sleep(MEASURE);
    let cpu1 = cpu_seconds(pid)?;
    let wall = t0.elapsed().as_secs_f64();
    let ok1 = service.heartbeat_counts()?.ok;
    Ok(Window {
        cpu_pct: (cpu1 - cpu0) / wall * 100.0,
        processed_per_sec: (ok1 - ok0) / wall,
        hwm_mib: vm_mib(pid, "VmHWM:")?,
        rss_mib: vm_mib(pid, "VmRSS:")?,
    })
}
