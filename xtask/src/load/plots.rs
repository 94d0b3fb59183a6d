//! The SVG plots of a report: `ramp`'s throughput (one line per workload) and per-route p99
//! (one plot per workload) against users.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use super::args::Scenario;
use super::step::Step;

pub(super) fn write_plots(out: &Path, scenario: Scenario, steps: &[Step]) -> anyhow::Result<()> {
    if scenario.ramp().is_none() {
        return Ok(());
    }
    let mut labels: Vec<&str> = steps.iter().map(|s| s.label.as_str()).collect();
    labels.dedup();
    let throughput: Vec<(String, Vec<(f64, f64)>)> = labels
        .iter()
        .map(|label| {
            let points = steps
                .iter()
                .filter(|s| s.label == *label)
                .map(|s| (s.users as f64, s.rate()))
                .collect();
            (label.to_string(), points)
        })
        .collect();
    fs::write(
        out.join("throughput.svg"),
        line_chart(
            "Throughput against users",
            "users",
            "requests / s",
            &throughput,
        ),
    )?;
    for label in labels {
        let mut per_route: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for s in steps.iter().filter(|s| s.label == label) {
            for ((job, route), r) in &s.routes {
                if let Some(p99) = r.p99.filter(|_| r.requests >= 1.0) {
                    per_route
                        .entry(format!("{job} {route}"))
                        .or_default()
                        .push((s.users as f64, p99 * 1000.0));
                }
            }
        }
        let series: Vec<(String, Vec<(f64, f64)>)> = per_route.into_iter().collect();
        fs::write(
            out.join(format!("p99-{label}.svg")),
            line_chart(
                &format!("p99 per route against users, {label}"),
                "users",
                "p99 ms",
                &series,
            ),
        )?;
    }
    Ok(())
}

/// A small SVG line chart (x on a log-2 scale when it spans more than a factor 8).
fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> String {
    const COLOURS: &[&str] = &[
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    ];
    let (w, h, left, right, top, bottom) = (860.0, 420.0, 70.0, 300.0, 40.0, 50.0);
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x_min, mut x_max, mut y_max) = (f64::MAX, f64::MIN, 0.0f64);
    for (x, y) in points {
        x_min = x_min.min(*x);
        x_max = x_max.max(*x);
        y_max = y_max.max(*y);
    }
    if x_min > x_max {
        (x_min, x_max) = (0.0, 1.0);
    }
    let log = x_min > 0.0 && x_max / x_min > 8.0;
    let fx = |x: f64| {
        let (a, b, v) = if log {
            (x_min.log2(), x_max.log2(), x.log2())
        } else {
            (x_min, x_max, x)
        };
        let span = if b > a { b - a } else { 1.0 };
        left + (v - a) / span * (w - left - right)
    };
    let y_top = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let fy = |y: f64| top + (1.0 - y / y_top) * (h - top - bottom);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="{w}" height="{h}" fill="white"/>
<text x="{}" y="22" font-size="15" text-anchor="middle">{title}</text>
<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/>
<line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="black"/>
<text x="{}" y="{}" text-anchor="middle">{x_label}</text>
<text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">{y_label}</text>
"#,
        w / 2.0,
        h - bottom,
        w - right,
        h - bottom,
        h - bottom,
        (left + w - right) / 2.0,
        h - 12.0,
        (top + h - bottom) / 2.0,
        (top + h - bottom) / 2.0,
    );
    for i in 0..=4 {
        let y = y_top * f64::from(i) / 4.0;
        let _ = writeln!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="end">{:.0}</text><line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="#ddd"/>"##,
            left - 6.0,
            fy(y) + 4.0,
            y,
            fy(y),
            w - right,
            fy(y)
        );
    }
    let mut xs: Vec<f64> = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(x, _)| *x))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    for x in xs {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{x:.0}</text>"#,
            fx(x),
            h - bottom + 16.0
        );
    }
    for (i, (name, points)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", fx(*x), fy(*y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for (x, y) in points {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                fx(*x),
                fy(*y)
            );
        }
        let ly = top + 16.0 * i as f64;
        let name = name.replace('&', "&amp;").replace('<', "&lt;");
        let _ = writeln!(
            svg,
            r#"<rect x="{}" y="{}" width="10" height="10" fill="{colour}"/><text x="{}" y="{}">{name}</text>"#,
            w - right + 10.0,
            ly,
            w - right + 24.0,
            ly + 9.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}
