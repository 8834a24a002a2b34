//! The bench's result: a markdown table of measure, result, target and whether it was met.

use std::fmt::Write as _;

#[derive(Default)]
struct Row {
    measure: String,
    result: String,
    target: String,
    met: Option<bool>,
}

#[derive(Default)]
pub(super) struct Report {
    rows: Vec<Row>,
    pub(super) notes: Vec<String>,
}

impl Report {
    /// Adds a row (and says it on stderr); `met` is `None` where there is no target.
    pub(super) fn row(&mut self, measure: &str, result: String, target: &str, met: Option<bool>) {
        eprintln!("bench: {measure}: {result}");
        self.rows.push(Row {
            measure: measure.to_owned(),
            result,
            target: target.to_owned(),
            met,
        });
    }

    /// A row for a phase that failed before it measured.
    pub(super) fn failed(&mut self, measure: &str, e: &anyhow::Error) {
        self.row(measure, format!("not measured: {e:#}"), "", Some(false));
    }

    pub(super) fn markdown(&self) -> String {
        let mut s = String::from("| measure | result | target | met |\n|---|---|---|---|\n");
        for r in &self.rows {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(s, "| {} | {} | {} | {met} |", r.measure, r.result, r.target);
        }
        if !self.notes.is_empty() {
            s.push('\n');
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        s
    }
}

/// `1234567.0` → `1,234,567`.
pub(super) fn thousands(n: f64) -> String {
    let n = n.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_thousands_with_commas() {
        assert_eq!(thousands(1234567.0), "1,234,567");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(0.0), "0");
    }

    #[test]
    fn a_table_then_the_notes() {
        let mut r = Report::default();
        r.row("(x) speed", "3/s".into(), "≥ 2/s", Some(true));
        r.row("(y) info", "4".into(), "", None);
        r.failed("(z) broken", &anyhow::anyhow!("no wrk"));
        r.notes.push("Machine: 2 cores.".into());
        assert_eq!(
            r.markdown(),
            "| measure | result | target | met |\n|---|---|---|---|\n\
             | (x) speed | 3/s | ≥ 2/s | yes |\n\
             | (y) info | 4 |  |  |\n\
             | (z) broken | not measured: no wrk |  | **no** |\n\
             \n\
             - Machine: 2 cores.\n"
        );
    }
}
