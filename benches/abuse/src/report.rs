//! The results: one row per attack (or variant), the table printed at the
//! end, and the optional JSON file.

use std::fmt::Write as _;

use crate::client::Stats;

/// A `--strict` target of the issue, checked on one row.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    None,
    Pass(String),
    Fail(String),
}

/// The healthy client's figures during one attack.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Healthy {
    pub requests: u64,
    pub ok: u64,
    pub timeouts: u64,
    pub errors: u64,
    pub exceptions: u64,
    pub wrong: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

impl Healthy {
    pub fn from_stats(s: &Stats) -> Healthy {
        Healthy {
            requests: s.attempts(),
            ok: s.ok,
            timeouts: s.timeouts,
            errors: s.errors,
            exceptions: s.exceptions,
            wrong: s.wrong,
            p50_ms: s.ms_at(0.50),
            p99_ms: s.ms_at(0.99),
            max_ms: s.max_ms(),
        }
    }

    pub fn failures(&self) -> u64 {
        self.timeouts + self.errors + self.exceptions + self.wrong
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub attack: String,
    pub healthy: Option<Healthy>,
    pub cpu_pct: Option<f64>,
    pub rss_mib: Option<f64>,
    /// The attack's own figure, e.g. "writes 1234/s".
    pub figure: String,
    pub target: Target,
    /// Correctness problems (wrong answers, the server exited): CI fails on these.
    pub broken: Vec<String>,
    /// Anything else worth reading: first failures, skipped variants.
    pub notes: Vec<String>,
}

impl Row {
    pub fn new(attack: impl Into<String>) -> Row {
        Row {
            attack: attack.into(),
            healthy: None,
            cpu_pct: None,
            rss_mib: None,
            figure: String::new(),
            target: Target::None,
            broken: Vec::new(),
            notes: Vec::new(),
        }
    }
}

fn ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
        None => "-".into(),
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

/// The table, then the notes and problems under it.
pub fn table(rows: &[Row]) -> String {
    let header = [
        "attack", "p50 ms", "p99 ms", "max ms", "failures", "cpu %", "rss MiB", "target", "figure",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            let h = r.healthy.as_ref();
            [
                r.attack.clone(),
                ms(h.and_then(|h| h.p50_ms)),
                ms(h.and_then(|h| h.p99_ms)),
                ms(h.and_then(|h| h.max_ms)),
                h.map_or_else(
                    || "-".into(),
                    |h| format!("{}/{}", h.failures(), h.requests),
                ),
                opt(r.cpu_pct, 1),
                opt(r.rss_mib, 1),
                match &r.target {
                    Target::None => "-".into(),
                    Target::Pass(_) => "pass".into(),
                    Target::Fail(_) => "FAIL".into(),
                },
                r.figure.clone(),
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, row: &[String]| {
        for (i, (c, w)) in row.iter().zip(width).enumerate() {
            // Text columns left-aligned, figures right-aligned; no trailing pad.
            if i == row.len() - 1 {
                let _ = write!(out, "{c}");
            } else if i == 0 {
                let _ = write!(out, "{c:<w$}  ");
            } else {
                let _ = write!(out, "{c:>w$}  ");
            }
        }
        out.push('\n');
    };
    line(&mut out, &header.map(String::from));
    for row in &cells {
        line(&mut out, row);
    }
    out.push_str("(p50/p99/max and failures/requests: the healthy client, FC3 x10 every 10 ms,\n a failed request counted at the time it took; cpu: % of one core)\n");
    for r in rows {
        for t in [&r.target] {
            if let Target::Pass(why) | Target::Fail(why) = t {
                let _ = writeln!(out, "  {}: target: {why}", r.attack);
            }
        }
        if let Some(h) = &r.healthy {
            if h.failures() > 0 {
                let _ = writeln!(
                    out,
                    "  {}: healthy failures: {} timeouts, {} errors, {} exceptions, {} wrong",
                    r.attack, h.timeouts, h.errors, h.exceptions, h.wrong
                );
            }
        }
        for n in &r.notes {
            let _ = writeln!(out, "  {}: {n}", r.attack);
        }
        for b in &r.broken {
            let _ = writeln!(out, "  {}: BROKEN: {b}", r.attack);
        }
    }
    out
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.3}"),
        _ => "null".into(),
    }
}

fn json_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| json_str(s)).collect();
    format!("[{}]", items.join(", "))
}

/// The whole run as JSON: `{"runtime", "short", "wall_s", "rows": [...]}`.
pub fn json(rows: &[Row], runtime: &str, short: bool, wall_s: f64) -> String {
    let mut out = format!(
        "{{\n  \"runtime\": {},\n  \"short\": {short},\n  \"wall_s\": {wall_s:.1},\n  \"rows\": [\n",
        json_str(runtime)
    );
    for (i, r) in rows.iter().enumerate() {
        let healthy = match &r.healthy {
            None => "null".to_string(),
            Some(h) => format!(
                "{{\"requests\": {}, \"ok\": {}, \"timeouts\": {}, \"errors\": {}, \"exceptions\": {}, \"wrong\": {}, \"p50_ms\": {}, \"p99_ms\": {}, \"max_ms\": {}}}",
                h.requests,
                h.ok,
                h.timeouts,
                h.errors,
                h.exceptions,
                h.wrong,
                json_num(h.p50_ms),
                json_num(h.p99_ms),
                json_num(h.max_ms)
            ),
        };
        let (target, why) = match &r.target {
            Target::None => ("null", String::new()),
            Target::Pass(w) => ("\"pass\"", w.clone()),
            Target::Fail(w) => ("\"fail\"", w.clone()),
        };
        let _ = writeln!(
            out,
            "    {{\"attack\": {}, \"healthy\": {healthy}, \"cpu_pct\": {}, \"rss_mib\": {}, \"figure\": {}, \"target\": {target}, \"target_detail\": {}, \"broken\": {}, \"notes\": {}}}{}",
            json_str(&r.attack),
            json_num(r.cpu_pct),
            json_num(r.rss_mib),
            json_str(&r.figure),
            json_str(&why),
            json_list(&r.broken),
            json_list(&r.notes),
            if i + 1 < rows.len() { "," } else { "" }
        );
    }
    out.push_str("  ]\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_str("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    #[test]
    fn table_and_json_hold_every_row() {
        let mut a = Row::new("1 streamer");
        a.healthy = Some(Healthy {
            requests: 10,
            ok: 9,
            timeouts: 1,
            p50_ms: Some(0.25),
            p99_ms: Some(1000.0),
            max_ms: Some(1000.4),
            ..Healthy::default()
        });
        a.target = Target::Fail("p99 1000 ms >= 5 ms".into());
        a.figure = "12345 req/s".into();
        let mut b = Row::new("7 log flood");
        b.broken.push("the server exited".into());
        let rows = [a, b];
        let t = table(&rows);
        assert!(t.contains("1 streamer") && t.contains("1/10") && t.contains("FAIL"));
        assert!(t.contains("BROKEN: the server exited"));
        let j = json(&rows, "async-std", true, 12.0);
        assert!(j.contains("\"p99_ms\": 1000.000") && j.contains("\"target\": \"fail\""));
        assert!(j.contains("\"healthy\": null"));
        assert_eq!(j.matches("\"attack\"").count(), 2);
    }
}
