//! What `/proc` says about a process: CPU time used and memory.

use std::process::Command;

use anyhow::{anyhow, Context};

/// utime + stime of a process, in seconds.
pub(super) fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("odd /proc stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the comm field: state is field 3, utime 14 and stime 15 (1-based).
    let utime: f64 = fields.get(11).context("utime")?.parse()?;
    let stime: f64 = fields.get(12).context("stime")?.parse()?;
    Ok((utime + stime) / clock_ticks())
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// A `Vm…:` line of /proc/<pid>/status, in MiB.
pub(super) fn vm_mib(pid: u32, key: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .ok_or_else(|| anyhow!("{key} not in /proc/{pid}/status"))?;
    let kb: f64 = line.split_whitespace().nth(1).context("value")?.parse()?;
    Ok(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let me = std::process::id();
        // CPU time grows while we burn some: a reading of the wrong fields (a constant
        // or a count of something else) would not follow.
        let before = cpu_seconds(me).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut spin = 0u64;
        let after = loop {
            for i in 0..1_000_000u64 {
                spin = std::hint::black_box(spin.wrapping_mul(31).wrapping_add(i));
            }
            let now = cpu_seconds(me).unwrap();
            if now > before {
                break now;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "cpu_seconds stayed at {before} through a minute of spinning"
            );
        };
        assert!(after - before < 60.0, "{before} -> {after}");
        assert!(cpu_seconds(u32::MAX).is_err(), "no such process");
        assert!(vm_mib(me, "VmRSS:").unwrap() > 0.0);
        assert!(vm_mib(me, "VmNothing:").is_err());
    }
}
