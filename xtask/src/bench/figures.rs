//! The figures compared, their min/median/max over repetitions, ratios to the baseline,
//! and the stdout table.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

/// One compared figure.
pub struct Figure {
    pub id: &'static str,
    /// Column header in the table.
    pub label: &'static str,
    pub unit: &'static str,
    pub lower_is_better: bool,
    /// From one host run's JSON.
    pub extract: fn(&Value) -> Option<f64>,
}

fn ptr(v: &Value, p: &str) -> Option<f64> {
    v.pointer(p)?.as_f64()
}

/// Every figure, in table order.
pub const FIGURES: [Figure; 10] = [
    Figure {
        id: "cold_start_p50_ms",
        label: "cold p50 ms",
        unit: "ms",
        lower_is_better: true,
        extract: |v| ptr(v, "/cold_start_ms/p50"),
    },
    Figure {
        id: "cold_start_p90_ms",
        label: "cold p90 ms",
        unit: "ms",
        lower_is_better: true,
        extract: |v| ptr(v, "/cold_start_ms/p90"),
    },
    Figure {
        id: "get_p50_us",
        label: "Get p50 µs",
        unit: "µs",
        lower_is_better: true,
        extract: |v| ptr(v, "/get_latency_us/p50"),
    },
    Figure {
        id: "get_p99_us",
        label: "Get p99 µs",
        unit: "µs",
        lower_is_better: true,
        extract: |v| ptr(v, "/get_latency_us/p99"),
    },
    Figure {
        id: "ops_per_sec",
        label: "Gets/s @64",
        unit: "1/s",
        lower_is_better: false,
        extract: |v| ptr(v, "/ops_per_sec"),
    },
    Figure {
        id: "put_1mib_mb_per_s",
        label: "Put 1MiB MB/s",
        unit: "MB/s",
        lower_is_better: false,
        extract: |v| ptr(v, "/put_1mib_mb_per_s"),
    },
    Figure {
        id: "plugin_peak_rss_mib",
        label: "plugin RSS MiB",
        unit: "MiB",
        lower_is_better: true,
        extract: |v| Some(ptr(v, "/plugin_peak_rss_kib")? / 1024.0),
    },
    Figure {
        id: "cpu_ms_per_10k_gets",
        label: "CPU ms/10k",
        unit: "ms",
        lower_is_better: true,
        extract: |v| {
            Some(ptr(v, "/cpu_ms_per_10k_gets/host")? + ptr(v, "/cpu_ms_per_10k_gets/plugin")?)
        },
    },
    Figure {
        id: "cpu_host_ms_per_10k_gets",
        label: "CPU host",
        unit: "ms",
        lower_is_better: true,
        extract: |v| ptr(v, "/cpu_ms_per_10k_gets/host"),
    },
    Figure {
        id: "cpu_plugin_ms_per_10k_gets",
        label: "CPU plugin",
        unit: "ms",
        lower_is_better: true,
        extract: |v| ptr(v, "/cpu_ms_per_10k_gets/plugin"),
    },
];

/// Figures shown in the stdout table (the JSON and docs have all).
const TABLE: [&str; 8] = [
    "cold_start_p50_ms",
    "cold_start_p90_ms",
    "get_p50_us",
    "get_p99_us",
    "ops_per_sec",
    "put_1mib_mb_per_s",
    "plugin_peak_rss_mib",
    "cpu_ms_per_10k_gets",
];

/// The figures' descriptions for the report.
pub fn describe(figures: &[Figure]) -> Value {
    Value::Array(
        figures
            .iter()
            .map(|f| json!({"id": f.id, "label": f.label, "unit": f.unit, "lower_is_better": f.lower_is_better}))
            .collect(),
    )
}

/// `{id: {min, median, max}}` of `figures` over the runs (figures no run has are left out).
pub fn aggregate(figures: &[Figure], runs: &[Value]) -> Map<String, Value> {
    let mut out = Map::new();
    for f in figures {
        let mut v: Vec<f64> = runs
            .iter()
            .filter_map(f.extract)
            .filter(|x| x.is_finite())
            .collect();
        if v.is_empty() {
            continue;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        // The median of an even count is the mean of the middle two.
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        out.insert(
            f.id.into(),
            json!({"min": v[0], "median": median, "max": v[n - 1]}),
        );
    }
    out
}

/// `{id: ratio}`: how many times better than the baseline's median (> 1 = better).
pub fn ratios(
    figures: &[Figure],
    figs: &Map<String, Value>,
    base: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for f in figures {
        let m = figs.get(f.id).and_then(|x| x["median"].as_f64());
        let b = base
            .and_then(|b| b.get(f.id))
            .and_then(|x| x["median"].as_f64());
        let r = match (m, b) {
            (Some(m), Some(b)) if m > 0.0 && b > 0.0 => {
                Some(if f.lower_is_better { b / m } else { m / b })
            }
            _ => None,
        };
        out.insert(f.id.into(), json!(r));
    }
    out
}

/// A number in 4 significant-ish characters.
pub fn num(x: f64) -> String {
    if x >= 10_000.0 {
        format!("{:.0}k", x / 1000.0)
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// The stdout table: one row per pairing, each figure as `median (ratio×)`; pairings that
/// did not run say why (with the matrix's cause).
pub fn table(pairings: &[Value], baseline: &str) -> String {
    const W: usize = 17;
    let mut t = String::new();
    let _ = write!(t, "{:<22}", "pairing");
    for id in TABLE {
        let f = FIGURES.iter().find(|f| f.id == id).expect("table figure");
        let _ = write!(t, "{:>W$}", f.label);
    }
    t.push('\n');
    let mut notes = Vec::new();
    for p in pairings {
        let name = p["name"].as_str().unwrap_or("");
        let _ = write!(t, "{name:<22}");
        if p["status"] != "ok" {
            let _ = writeln!(
                t,
                "  {}: {}",
                p["status"].as_str().unwrap_or(""),
                p["why"].as_str().unwrap_or("")
            );
            continue;
        }
        for id in TABLE {
            let m = p["figures"][id]["median"].as_f64();
            let r = p["ratios"][id].as_f64();
            let cell = match (m, r) {
                (Some(m), Some(r)) => format!("{} ({r:.2}×)", num(m)),
                (Some(m), None) => num(m),
                _ => "-".into(),
            };
            let _ = write!(t, "{cell:>W$}");
        }
        t.push('\n');
        if let Some(n) = p["note"].as_str() {
            notes.push(format!("  {name}: {n}"));
        }
    }
    let _ = writeln!(
        t,
        "\nmedians of the repetitions; (N×) = N times better than {baseline} (same TLS config) in this run; \
         CPU = host+plugin user+sys ms per 10,000 sequential Gets"
    );
    if !notes.is_empty() {
        t.push_str("ran, although the matrix cell is not a pass:\n");
        for n in notes {
            t.push_str(&n);
            t.push('\n');
        }
    }
    t
}
