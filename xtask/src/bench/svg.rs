//! Hand-built SVG charts (no plotting dependency): one horizontal bar per pairing on a
//! log scale, the median of the repetitions as the bar, the repetitions' min–max as a
//! whisker, and a second figure (p90 / p99) as a tick.

use std::fmt::Write as _;

use serde_json::Value;

use super::figures::num;

/// One chart: `bar` is the main figure's id, `tick` a second figure's id.
pub struct Chart<'a> {
    pub title: &'a str,
    pub unit: &'a str,
    pub bar: &'a str,
    pub bar_label: &'a str,
    pub tick: &'a str,
    pub tick_label: &'a str,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders the chart over the pairings that ran.
pub fn render(chart: &Chart, pairings: &[Value]) -> String {
    let rows: Vec<&Value> = pairings
        .iter()
        .filter(|p| p["figures"][chart.bar]["median"].is_number())
        .collect();
    let (left, right, top, row_h) = (190.0, 110.0, 58.0, 22.0);
    let plot_w = 560.0;
    let width = left + plot_w + right;
    let height = top + row_h * rows.len().max(1) as f64 + 46.0;
    let vals: Vec<f64> = rows
        .iter()
        .flat_map(|p| {
            [
                p["figures"][chart.bar]["min"].as_f64(),
                p["figures"][chart.bar]["max"].as_f64(),
                p["figures"][chart.tick]["median"].as_f64(),
            ]
        })
        .flatten()
        .filter(|v| *v > 0.0)
        .collect();
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo_e, hi_e) = if vals.is_empty() {
        (0.0, 1.0)
    } else {
        (
            lo.log10().floor(),
            (hi.log10().ceil()).max(lo.log10().floor() + 1.0),
        )
    };
    let x = |v: f64| left + (v.max(1e-9).log10() - lo_e) / (hi_e - lo_e) * plot_w;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="20" font-size="15" font-weight="bold">{}</text>"#,
        esc(chart.title)
    );
    let _ = writeln!(
        s,
        r##"<text x="{left}" y="38" fill="#555">bar: {} (median of repetitions, whisker min–max) · tick: {} · log scale, {}</text>"##,
        esc(chart.bar_label),
        esc(chart.tick_label),
        esc(chart.unit)
    );
    // Grid at 1, 2, 5 × 10^k.
    let bottom = top + row_h * rows.len().max(1) as f64;
    let mut e = lo_e;
    while e < hi_e + 0.5 {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powf(e);
            if v.log10() > hi_e + 1e-9 {
                continue;
            }
            let gx = x(v);
            let stroke = if m == 1.0 { "#bbb" } else { "#e6e6e6" };
            let _ = writeln!(
                s,
                r#"<line x1="{gx:.1}" y1="{top}" x2="{gx:.1}" y2="{bottom}" stroke="{stroke}"/>"#
            );
            let _ = writeln!(
                s,
                r##"<text x="{gx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
                bottom + 16.0,
                if v >= 1.0 { format!("{v:.0}") } else { num(v) }
            );
        }
        e += 1.0;
    }
    for (i, p) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let f = &p["figures"][chart.bar];
        let (m, mn, mx) = (
            f["median"].as_f64().unwrap_or(0.0),
            f["min"].as_f64().unwrap_or(0.0),
            f["max"].as_f64().unwrap_or(0.0),
        );
        let color = match p["host"].as_str() {
            Some("go") => "#00add8",
            Some("rust") => "#dea584",
            Some("python") => "#3572a5",
            _ => "#8e6fbf",
        };
        let name = p["name"].as_str().unwrap_or("");
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 8.0,
            y + 15.0,
            esc(name)
        );
        let _ = writeln!(
            s,
            r#"<rect x="{left}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{} {}: {} {}</title></rect>"#,
            y + 4.0,
            (x(m) - left).max(1.0),
            row_h - 8.0,
            esc(name),
            esc(chart.bar_label),
            num(m),
            esc(chart.unit)
        );
        let cy = y + row_h / 2.0;
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{cy:.1}" x2="{:.1}" y2="{cy:.1}" stroke="black"/>"#,
            x(mn),
            x(mx)
        );
        let mut label_x = x(m.max(mx));
        if let Some(t) = p["figures"][chart.tick]["median"].as_f64() {
            let tx = x(t);
            let _ = writeln!(
                s,
                r##"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#c00" stroke-width="2"><title>{}: {}</title></line>"##,
                y + 2.0,
                y + row_h - 2.0,
                esc(chart.tick_label),
                num(t)
            );
            label_x = label_x.max(tx);
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            label_x + 5.0,
            y + 15.0,
            num(m)
        );
    }
    s.push_str("</svg>\n");
    s
}
