//! Line charts of a series for the HTML report and the dashboard: inline SVG with round ticks,
//! long series averaged in buckets.

use std::fmt::Write as _;

use super::flamegraph::escape;
use super::trends::h;

/// At most this many points per chart; longer series are averaged in buckets.
pub const MAX_CHART_POINTS: usize = 400;

fn downsample(x: &[f64], y: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = x.len().min(y.len());
    if n <= MAX_CHART_POINTS {
        return (x[..n].to_vec(), y[..n].to_vec());
    }
    let per = n.div_ceil(MAX_CHART_POINTS);
    let mut ox = Vec::new();
    let mut oy = Vec::new();
    for c in (0..n).step_by(per) {
        let e = (c + per).min(n);
        ox.push(x[c..e].iter().sum::<f64>() / (e - c) as f64);
        oy.push(y[c..e].iter().sum::<f64>() / (e - c) as f64);
    }
    (ox, oy)
}

/// A line chart of `series` (and a dashed `fitted` line) against seconds, as inline SVG.
pub fn line_chart(
    times: &[f64],
    series: &[f64],
    fitted: Option<&[f64]>,
    unit: &str,
    color: &str,
) -> String {
    let (w, hgt, left, bottom, top, right) = (640.0, 180.0, 70.0, 24.0, 10.0, 10.0);
    let (xs, ys) = downsample(times, series);
    let fit = fitted.map(|f| downsample(times, f).1);
    let xmax = xs.iter().copied().fold(0.0f64, f64::max).max(1e-9);
    let mut ymax = ys.iter().copied().fold(0.0f64, f64::max);
    if let Some(f) = &fit {
        ymax = ymax.max(
            f.iter()
                .copied()
                .filter(|v| v.is_finite())
                .fold(0.0, f64::max),
        );
    }
    let (yticks, ymax) = y_ticks(ymax, unit);
    let px = |x: f64| left + (x / xmax) * (w - left - right);
    let py = |y: f64| top + (1.0 - (y / ymax).clamp(-0.05, 1.05)) * (hgt - top - bottom);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="chart" width="{w}" height="{hgt}" viewBox="0 0 {w} {hgt}" xmlns="http://www.w3.org/2000/svg" role="img"><rect x="{left}" y="{top}" width="{}" height="{}" fill="#fff" stroke="#ccc"/>"##,
        w - left - right,
        hgt - top - bottom
    );
    for (v, label) in &yticks {
        let y = py(*v);
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end" class="ax">{}</text>"##,
            w - right,
            left - 4.0,
            y + 4.0,
            escape(label)
        );
    }
    for (i, (x, label)) in x_ticks(xmax).iter().enumerate() {
        let anchor = if i == 0 {
            "start"
        } else if (x - xmax).abs() < 1e-9 {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            s,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="{1}" y2="{2}" stroke="#ccc"/><text x="{0:.1}" y="{3}" text-anchor="{anchor}" class="ax">{4}</text>"##,
            px(*x),
            hgt - bottom,
            hgt - bottom + 4.0,
            hgt - 6.0,
            escape(label)
        );
    }
    let pts = |ys: &[f64]| -> String {
        xs.iter()
            .zip(ys)
            .filter(|(_, y)| y.is_finite())
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if let Some(f) = &fit {
        let _ = write!(
            s,
            r##"<polyline fill="none" stroke="#888" stroke-dasharray="5,4" stroke-width="1.5" points="{}"/>"##,
            pts(f)
        );
    }
    let _ = write!(
        s,
        r##"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"##,
        pts(&ys)
    );
    for (x, y) in xs.iter().zip(&ys).take(MAX_CHART_POINTS) {
        if xs.len() <= 60 {
            let _ = write!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{color}"><title>{}: {}</title></circle>"##,
                px(*x),
                py(*y),
                escape(&format_secs(*x)),
                escape(&h(*y, unit))
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// Chart colour of a suspect's series: red, growth.
pub const SUSPECT_COLOR: &str = "#c0392b";
/// Chart colour of totals and metrics.
pub const NEUTRAL_COLOR: &str = "#4a6fa5";
/// What grew but is no leak.
pub const BENIGN_COLOR: &str = "#7f8c8d";

/// Y-axis ticks from 0 to at least `max`, at round values in the unit's display scale (bytes: 1,
/// 2, 2.5 or 5 × a power of ten of the binary prefix `max` is shown in, `0, 16 MiB, 32 MiB`;
/// counts: whole numbers, never one label twice), with their labels; and the axis's top.
fn y_ticks(max: f64, unit: &str) -> (Vec<(f64, String)>, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let (scale, suffix) = if unit == "bytes" {
        crate::units::binary_prefix(max)
    } else {
        (1.0, "")
    };
    let raw = max / scale / 4.0;
    let p = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p);
    if unit != "bytes" || suffix == "B" {
        step = step.max(1.0).ceil();
    }
    let n = (max / scale / step).ceil().max(1.0) as usize;
    let ticks = (0..=n)
        .map(|i| {
            let v = step * i as f64;
            let text = if v.fract().abs() < 1e-9 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            };
            let label = if i == 0 {
                "0".to_string()
            } else if unit == "bytes" {
                format!("{text} {suffix}")
            } else if v >= 10_000.0 {
                crate::units::human_f64(v, unit)
            } else {
                text
            };
            (v * scale, label)
        })
        .collect();
    (ticks, step * n as f64 * scale)
}

/// X-axis ticks at round times from 0 to `xmax` seconds (at most six, the last at `xmax` when no
/// round one falls there), with their labels (`30s`, `2m`, `1h30m`).
fn x_ticks(xmax: f64) -> Vec<(f64, String)> {
    const STEPS: [f64; 16] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        21600.0, 86400.0,
    ];
    let step = STEPS
        .iter()
        .copied()
        .find(|s| xmax / s <= 5.0)
        .unwrap_or_else(|| (xmax / 5.0 / 86400.0).ceil() * 86400.0);
    let mut out: Vec<(f64, String)> = (0..)
        .map(|i| i as f64 * step)
        .take_while(|x| *x <= xmax + 1e-9)
        .map(|x| (x, clock(x)))
        .collect();
    if out.last().is_some_and(|(x, _)| xmax - x > 0.5 * step) {
        out.push((xmax, clock(xmax)));
    }
    out
}

/// `45s`, `2m`, `1m30s`, `2h`, `1h30m`, `3d`.
pub(super) fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 if s.is_multiple_of(60) => format!("{}m", s / 60),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86399 if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        3600..=86399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ if s.is_multiple_of(86400) => format!("{}d", s / 86400),
        _ => format!("{:.1}d", secs / 86400.0),
    }
}

pub(super) fn format_secs(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.0}s")
    } else if s < 7200.0 {
        format!("{:.0}m", s / 60.0)
    } else {
        format!("{:.1}h", s / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_downsample_long_series() {
        let x: Vec<f64> = (0..5000).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| v * 2.0).collect();
        let svg = line_chart(&x, &y, Some(&y), "bytes", SUSPECT_COLOR);
        let pts = svg.matches(',').count();
        assert!(pts <= 2 * MAX_CHART_POINTS + 10, "{pts}");
        assert!(!svg.contains("<circle"));
    }

    #[test]
    fn axes_tick_at_round_values_and_never_repeat_a_label() {
        let labels = |t: Vec<(f64, String)>| t.into_iter().map(|x| x.1).collect::<Vec<_>>();
        // 26.8 MiB at the top: 0, 10, 20, 30 MiB, not 26.80/4 steps.
        let (t, top) = y_ticks(26.8 * 1048576.0, "bytes");
        assert_eq!(labels(t), ["0", "10 MiB", "20 MiB", "30 MiB"]);
        assert_eq!(top, 30.0 * 1048576.0);
        // A count up to 2: whole numbers, each once.
        let (t, top) = y_ticks(2.1, "count");
        assert_eq!(labels(t), ["0", "1", "2", "3"]);
        assert_eq!(top, 3.0);
        let (t, _) = y_ticks(97.0 * 1048576.0, "bytes");
        assert_eq!(labels(t), ["0", "25 MiB", "50 MiB", "75 MiB", "100 MiB"]);
        // Times: round steps, the end added when far from the last round one.
        assert_eq!(labels(x_ticks(120.0)), ["0s", "30s", "1m", "1m30s", "2m"]);
        assert_eq!(
            labels(x_ticks(145.0)),
            ["0s", "30s", "1m", "1m30s", "2m", "2m25s"]
        );
        assert_eq!(labels(x_ticks(3.0)), ["0s", "1s", "2s", "3s"]);
        assert_eq!(labels(x_ticks(7200.0)), ["0s", "30m", "1h", "1h30m", "2h"]);
    }
}
