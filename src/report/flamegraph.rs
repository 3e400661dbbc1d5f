//! Differential flamegraph SVG, interactive with a small inline script (no network).
//!
//! Widths are the later profile. Every frame is coloured by its *own* change (self delta: later −
//! base of what was allocated in the frame itself), red for growth and blue for shrinkage, scaled
//! by the largest self change, so the leaking leaves are the reddest and `all` or `main` are not
//! red merely for containing them. The tooltip and the details line give both the self and the
//! inclusive (frame and everything above it) values. Stacks that vanished (zero in later) stay
//! visible: they are drawn at their base width, hatched, to the right of their siblings. Frames
//! are merged by name, root at the bottom.
//!
//! Click a frame to zoom into it (its callers stay, dimmed, above the full width), "Reset zoom"
//! or Escape to go back; "Search" or Ctrl-F takes a regex, paints the matches and shows the
//! matched share of the total; hovering writes the frame's details at the bottom. The URL
//! fragment `#zoom=NAME&search=REGEX` does the same on load (for links and tests).

use std::fmt::Write as _;
use std::io::{self, Write};

use rustc_hash::FxHashMap;

use super::HtmlExtras;

use crate::model::{Interner, StackId};
use crate::units::human;

/// Options of the flamegraph.
#[derive(Clone, Debug)]
pub struct FlameOptions {
    /// Title line. Default: "Differential flamegraph".
    pub title: String,
    /// Unit of the values (`bytes`, `count`). Default: bytes.
    pub unit: String,
    /// Image width in pixels. Default: 1200.
    pub width: f64,
    /// Frames narrower than this many pixels are not drawn. Default: 0.1.
    pub min_width_px: f64,
    /// A plain flamegraph of the later profile (base ignored): cool colours by name, no deltas.
    pub plain: bool,
    /// The SVG's element id (two flamegraphs in one HTML page need two). Default: `flame`.
    pub id: String,
}

impl Default for FlameOptions {
    fn default() -> Self {
        FlameOptions {
            title: "Differential flamegraph".into(),
            unit: "bytes".into(),
            width: 1200.0,
            min_width_px: 0.1,
            plain: false,
            id: "flame".into(),
        }
    }
}

struct Node {
    name: u32,
    parent: u32,
    depth: u32,
    base: i64,
    later: i64,
    base_self: i64,
    later_self: i64,
    children: Vec<u32>,
    width: i64,
    gone: bool,
}

impl Node {
    fn new(name: u32, parent: u32, depth: u32) -> Self {
        Node {
            name,
            parent,
            depth,
            base: 0,
            later: 0,
            base_self: 0,
            later_self: 0,
            children: vec![],
            width: 0,
            gone: false,
        }
    }
}

/// Builds the name-merged tree from per-stack values (see `diff::stack_values`).
fn build(interner: &Interner, stacks: &[(StackId, [i64; 2])]) -> (Vec<Node>, Vec<String>) {
    let mut names: Vec<String> = vec!["all".into()];
    let mut name_ids: FxHashMap<String, u32> = FxHashMap::default();
    let mut frame_name: FxHashMap<u32, u32> = FxHashMap::default();
    let mut nodes = vec![Node::new(0, 0, 0)];
    let mut child_of: FxHashMap<(u32, u32), u32> = FxHashMap::default();
    let mut flame_of: FxHashMap<StackId, u32> = FxHashMap::default();
    flame_of.insert(StackId::ROOT, 0);
    let mut path = Vec::new();
    for &(stack, [b, l]) in stacks {
        // Walk up to the nearest mapped ancestor, then map the path down.
        path.clear();
        let mut cur = stack;
        while !flame_of.contains_key(&cur) {
            path.push(cur);
            cur = interner.node(cur).parent;
        }
        let mut fnode = flame_of[&cur];
        for &s in path.iter().rev() {
            let frame = interner.node(s).frame;
            let name = *frame_name.entry(frame.0).or_insert_with(|| {
                let n = interner.frame_name(frame);
                *name_ids.entry(n.clone()).or_insert_with(|| {
                    names.push(n);
                    names.len() as u32 - 1
                })
            });
            let next = nodes.len() as u32;
            let child = *child_of.entry((fnode, name)).or_insert(next);
            if child == next {
                let depth = nodes[fnode as usize].depth + 1;
                nodes.push(Node::new(name, fnode, depth));
                nodes[fnode as usize].children.push(child);
            }
            flame_of.insert(s, child);
            fnode = child;
        }
        let n = &mut nodes[fnode as usize];
        n.base = n.base.saturating_add(b);
        n.base_self = n.base_self.saturating_add(b);
        n.later_self = n.later_self.saturating_add(l);
        n.later = n.later.saturating_add(l);
    }
    // Children are created after their parents, so one reverse pass makes values inclusive and
    // computes widths: later-based, except vanished subtrees, which keep their base width.
    let mut child_width = vec![0i64; nodes.len()];
    for i in (0..nodes.len()).rev() {
        let n = &mut nodes[i];
        if n.later > 0 {
            n.width = n.later_self.max(0).saturating_add(child_width[i]);
        } else {
            n.gone = n.base > 0;
            n.width = n.base.max(0);
        }
        if i > 0 {
            let (p, b, l, w) = (n.parent as usize, n.base, n.later, n.width);
            nodes[p].base = nodes[p].base.saturating_add(b);
            nodes[p].later = nodes[p].later.saturating_add(l);
            child_width[p] = child_width[p].saturating_add(w);
        }
    }
    let root = &mut nodes[0];
    root.gone = false;
    (nodes, names)
}

/// Escapes text for XML and HTML (`&`, `<`, `>`, quotes).
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\t' => o.push('?'),
            c => o.push(c),
        }
    }
    o
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars()
            .take(max.saturating_sub(1))
            .chain(std::iter::once('…'))
            .collect()
    }
}

fn color(delta: i64, max_abs: i64) -> String {
    if delta == 0 || max_abs == 0 {
        return "rgb(230,230,230)".into();
    }
    let ratio = (delta.unsigned_abs() as f64 / max_abs as f64).clamp(0.0, 1.0);
    let c = (225.0 * (1.0 - ratio)).round() as u8;
    if delta > 0 {
        format!("rgb(255,{c},{c})")
    } else {
        format!("rgb({c},{c},255)")
    }
}

/// A cool colour chosen by the name's hash: a plain flamegraph sits beside the differential one,
/// where red means growth, so it stays in blues and greens that say nothing about change.
fn cool(name: &str) -> String {
    let h = name.bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    });
    let r = 110 + (h % 60);
    let g = 160 + (h >> 8) % 60;
    let b = 200 + (h >> 16) % 50;
    format!("rgb({r},{g},{b})")
}

const FRAME_H: f64 = 16.0;
const PAD: f64 = 10.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 26.0;
const FONT: f64 = 12.0;

/// A frame's short name: without the package path before the function (`tsdb.(*Head).Appender`
/// for `github.com/prometheus/prometheus/tsdb.(*Head).Appender`). Only a `/` before the first
/// `(` or `[` counts: a receiver or a generic type argument may hold paths of its own.
fn short_name(name: &str) -> &str {
    let cut = name.find(['(', '[']).unwrap_or(name.len());
    match name[..cut].rfind('/') {
        // `operator/(…)`: the slash is the function's own name.
        Some(i) if i + 1 < cut => &name[i + 1..],
        _ => name,
    }
}

/// The label that fits `w` pixels: the short name, cut from the left when it still does not fit
/// (the function's own name is at the end); the full name is in the tooltip and searched. The
/// script does the same when zooming.
fn label(name: &str, w: f64) -> String {
    let fit = ((w - 6.0) / (FONT * 0.6)).floor();
    if fit < 3.0 {
        return String::new();
    }
    let fit = fit as usize;
    let short = short_name(name);
    let n = short.chars().count();
    if n > fit {
        let tail: String = short.chars().skip(n - fit.saturating_sub(2)).collect();
        format!("..{tail}")
    } else {
        short.to_string()
    }
}

fn signed(v: i64, unit: &str) -> String {
    format!("{}{}", if v > 0 { "+" } else { "" }, human(v, unit))
}

/// The element id, made safe for an attribute and a script string.
fn safe_id(id: &str) -> String {
    let s: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    if s.is_empty() {
        "flame".into()
    } else {
        s
    }
}

/// The inline script: zoom, reset, search, details. ES5, no network, scoped to its SVG.
const SCRIPT: &str = r##"(function () {
  var svg = document.getElementById("__ID__");
  if (!svg) { return; }
  var W = +svg.getAttribute("data-width"), PAD = 10, FONT = 12, TOTAL = W - 2 * PAD;
  var frames = [], gs = svg.querySelectorAll("g.f");
  for (var i = 0; i < gs.length; i++) {
    var g = gs[i], r = g.querySelector("rect");
    frames.push({ g: g, r: r, t: g.querySelector("text"), x: +g.getAttribute("data-x"),
      w: +g.getAttribute("data-w"), d: +g.getAttribute("data-d"), n: g.getAttribute("data-n"),
      fill: r.getAttribute("fill"), tip: g.querySelector("title").textContent });
  }
  var details = svg.querySelector(".details"), matched = svg.querySelector(".matched");
  var resetBtn = svg.querySelector(".reset"), searchBtn = svg.querySelector(".search");
  var lastSearch = "";
  function shortName(n) {
    var cut = n.search(/[(\[]/);
    if (cut < 0) { cut = n.length; }
    var i = n.lastIndexOf("/", cut - 1);
    return i >= 0 && i + 1 < cut ? n.slice(i + 1) : n;
  }
  function label(f, w) {
    var fit = Math.floor((w - 6) / (FONT * 0.6));
    if (fit < 3) { return ""; }
    var s = shortName(f.n);
    return s.length > fit ? ".." + s.slice(s.length - (fit - 2)) : s;
  }
  function place(f, x, w) {
    f.r.setAttribute("x", x.toFixed(2)); f.r.setAttribute("width", w.toFixed(2));
    f.t.setAttribute("x", (x + 3).toFixed(2)); f.t.textContent = label(f, w);
  }
  function zoom(z) {
    var s = TOTAL / z.w, e = 1e-6;
    for (var i = 0; i < frames.length; i++) {
      var f = frames[i];
      var inside = f.d >= z.d && f.x >= z.x - e && f.x + f.w <= z.x + z.w + e;
      var above = f.d < z.d && f.x <= z.x + e && f.x + f.w >= z.x + z.w - e;
      if (inside) { f.g.style.display = ""; f.g.classList.remove("anc"); place(f, PAD + (f.x - z.x) * s, f.w * s); }
      else if (above) { f.g.style.display = ""; f.g.classList.add("anc"); place(f, PAD, TOTAL); }
      else { f.g.style.display = "none"; }
    }
    resetBtn.style.display = "";
    svg.setAttribute("data-zoomed", z.n);
  }
  function unzoom() {
    for (var i = 0; i < frames.length; i++) {
      var f = frames[i];
      f.g.style.display = ""; f.g.classList.remove("anc"); place(f, f.x, f.w);
    }
    resetBtn.style.display = "none";
    svg.removeAttribute("data-zoomed");
  }
  function search(re) {
    var rx = null;
    if (re) {
      try { rx = new RegExp(re); } catch (err) { matched.textContent = "not a regex: " + re; return; }
    }
    lastSearch = re || "";
    var hits = [];
    for (var i = 0; i < frames.length; i++) {
      var f = frames[i], hit = rx !== null && rx.test(f.n);
      f.r.setAttribute("fill", hit ? "rgb(230,0,230)" : f.fill);
      if (hit) { hits.push(f); }
    }
    if (rx === null) {
      matched.textContent = ""; svg.removeAttribute("data-search"); svg.removeAttribute("data-matched");
      return;
    }
    // Frames nest or are apart, so the outermost matches are those not inside an earlier one.
    hits.sort(function (a, b) { return a.x - b.x || b.w - a.w; });
    var sum = 0, end = -1;
    for (var j = 0; j < hits.length; j++) {
      if (hits[j].x >= end - 1e-6) { sum += hits[j].w; end = hits[j].x + hits[j].w; }
    }
    var pct = (TOTAL > 0 ? 100 * sum / TOTAL : 0).toFixed(1);
    matched.textContent = "Matched: " + pct + "% (" + hits.length + " frames)";
    svg.setAttribute("data-search", re); svg.setAttribute("data-matched", pct);
  }
  function ask() {
    var re = window.prompt("Search frames (regular expression)", lastSearch);
    if (re !== null) { search(re); }
  }
  frames.forEach(function (f) {
    f.g.addEventListener("click", function (ev) { ev.stopPropagation(); zoom(f); });
    f.g.addEventListener("mouseover", function () { details.textContent = f.tip.replace(/\n/g, " \u00b7 "); });
    f.g.addEventListener("mouseout", function () { details.textContent = ""; });
  });
  resetBtn.addEventListener("click", unzoom);
  searchBtn.addEventListener("click", ask);
  window.addEventListener("keydown", function (ev) {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "f" && svg.matches(":hover")) { ev.preventDefault(); ask(); }
    if (ev.key === "Escape") { unzoom(); search(""); }
  });
  var want = {};
  location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
    var k = kv.split("=")[0], v = kv.slice(k.length + 1);
    if (k) { try { want[k] = decodeURIComponent(v); } catch (err) { want[k] = v; } }
  });
  if (want.flame && want.flame !== "__ID__") { return; }
  if (want.zoom) {
    var best = null;
    frames.forEach(function (f) { if (f.n === want.zoom && (!best || f.w > best.w)) { best = f; } });
    if (best) { best.g.dispatchEvent(new MouseEvent("click", { bubbles: true })); }
  }
  if (want.search) { search(want.search); }
  window.leakdiffFlame = window.leakdiffFlame || {};
  window.leakdiffFlame["__ID__"] = { zoom: function (name) {
    for (var i = 0; i < frames.length; i++) { if (frames[i].n === name) { zoom(frames[i]); return true; } }
    return false; }, reset: unzoom, search: search };
})();"##;

/// Writes the differential flamegraph of `stacks` as SVG.
// Over 120 lines: the SVG written in one pass, frame rectangles and script together.
#[allow(clippy::too_many_lines)]
pub fn write_diff_svg<W: Write>(
    interner: &Interner,
    stacks: &[(StackId, [i64; 2])],
    opts: &FlameOptions,
    mut out: W,
) -> io::Result<()> {
    let (nodes, names) = build(interner, stacks);
    let width = opts.width.max(200.0);
    let root = &nodes[0];
    let scale = if root.width > 0 {
        (width - 2.0 * PAD) / root.width as f64
    } else {
        0.0
    };
    // Layout first (iterative, depth first), so the height fits the frames wide enough to draw.
    let mut placed: Vec<(u32, f64, f64)> = Vec::new();
    let mut todo: Vec<(u32, f64)> = vec![(0, PAD)];
    while let Some((i, x)) = todo.pop() {
        let n = &nodes[i as usize];
        let w = n.width as f64 * scale;
        if w < opts.min_width_px {
            continue;
        }
        placed.push((i, x, w));
        // Children left to right: present ones by name, then vanished ones by name.
        let mut kids: Vec<u32> = n.children.clone();
        kids.sort_by(|&a, &b| {
            let (na, nb) = (&nodes[a as usize], &nodes[b as usize]);
            na.gone
                .cmp(&nb.gone)
                .then_with(|| names[na.name as usize].cmp(&names[nb.name as usize]))
        });
        let mut cx = x;
        let mut next = Vec::with_capacity(kids.len());
        for k in kids {
            next.push((k, cx));
            cx += nodes[k as usize].width as f64 * scale;
        }
        todo.extend(next.into_iter().rev());
    }
    let max_depth = placed
        .iter()
        .map(|&(i, _, _)| nodes[i as usize].depth)
        .max()
        .unwrap_or(0) as f64;
    let height = TOP + (max_depth + 1.0) * FRAME_H + PAD + BOTTOM;
    // Colour scale: the largest own (self) change of any frame.
    let max_self = nodes
        .iter()
        .map(|n| n.later_self.saturating_sub(n.base_self).unsigned_abs())
        .max()
        .unwrap_or(0) as i64;
    let unit = &opts.unit;
    let id = safe_id(&opts.id);
    let mut svg = String::with_capacity(64 * 1024);
    let _ = write!(
        svg,
        r##"<?xml version="1.0" standalone="no"?>
<svg version="1.1" id="{id}" data-width="{width}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">
<defs><pattern id="{id}-gone" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)"><rect width="6" height="6" fill="rgb(200,210,255)"/><line x1="0" y1="0" x2="0" y2="6" stroke="rgb(90,110,230)" stroke-width="2"/></pattern></defs>
<style>#{id} text {{ font-family: Verdana, sans-serif; font-size: {FONT}px; fill: #000; }} #{id} .t {{ font-size: 17px; }} #{id} .s {{ fill: #444; }} #{id} rect.fr {{ stroke: #fff; stroke-width: 0.5; }} #{id} g.f {{ cursor: pointer; }} #{id} g.f:hover rect.fr {{ stroke: #000; }} #{id} g.anc {{ opacity: 0.55; }} #{id} .btn {{ fill: #1a5fb4; cursor: pointer; text-decoration: underline; }} #{id} .details, #{id} .matched {{ fill: #333; }}</style>
<rect x="0" y="0" width="{width}" height="{height}" fill="#fafafa"/>
<text class="t" x="{cx}" y="24" text-anchor="middle">{title}</text>
<text class="s" x="{cx}" y="44" text-anchor="middle">{subtitle}</text>
<text class="btn reset" x="{PAD}" y="24" style="display:none">Reset zoom</text>
<text class="btn search" x="{right}" y="24" text-anchor="end">Search</text>
<text class="details" x="{PAD}" y="{bottom}"></text>
<text class="matched" x="{right}" y="{bottom}" text-anchor="end"></text>
"##,
        cx = width / 2.0,
        right = width - PAD,
        bottom = height - 8.0,
        subtitle = if opts.plain {
            "width = value of the frame and everything above it; colour by name; click to zoom"
        } else {
            "width = later profile (hatched: gone in later, at base width); colour = the frame's own change (self Δ): red grew, blue shrank; click to zoom"
        },
        title = escape(&clip(&opts.title, ((width - 2.0 * PAD) / 9.5) as usize)),
    );
    let gone_fill = format!("url(#{id}-gone)");
    for &(i, x, w) in &placed {
        let n = &nodes[i as usize];
        let y = height - PAD - BOTTOM - (n.depth as f64 + 1.0) * FRAME_H;
        let delta = n.later.saturating_sub(n.base);
        let self_delta = n.later_self.saturating_sub(n.base_self);
        let name = &names[n.name as usize];
        let pct = if n.base != 0 {
            format!(
                " ({:+.1}%)",
                delta as f64 * 100.0 / n.base.unsigned_abs() as f64
            )
        } else {
            String::new()
        };
        let state = if n.gone {
            " [gone in later]"
        } else if n.base == 0 && n.later != 0 {
            " [new]"
        } else {
            ""
        };
        let tip = if opts.plain {
            format!(
                "{name}\n{} (self {})",
                human(n.later, unit),
                human(n.later_self, unit)
            )
        } else {
            format!(
                "{name}{state}\nincl. later {} · base {} · Δ {}{pct}\nself Δ {}",
                human(n.later, unit),
                human(n.base, unit),
                signed(delta, unit),
                signed(self_delta, unit),
            )
        };
        let fill = if opts.plain {
            cool(name)
        } else if n.gone {
            gone_fill.clone()
        } else {
            color(self_delta, max_self)
        };
        let _ = writeln!(
            svg,
            r#"<g class="f" data-d="{d}" data-x="{x:.2}" data-w="{w:.2}" data-n="{n}"><title>{tip}</title><rect class="fr" x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" fill="{fill}"/><text x="{tx:.2}" y="{ty:.2}">{label}</text></g>"#,
            d = n.depth,
            n = escape(name),
            tip = tip
                .split('\n')
                .map(escape)
                .collect::<Vec<_>>()
                .join("&#10;"),
            h = FRAME_H - 1.0,
            tx = x + 3.0,
            ty = y + FRAME_H - 4.5,
            label = escape(&label(name, w)),
        );
    }
    let _ = write!(
        svg,
        "<script type=\"text/javascript\"><![CDATA[\n{}\n]]></script>\n</svg>\n",
        SCRIPT.replace("__ID__", &id)
    );
    out.write_all(svg.as_bytes())
}

/// Flamegraphs of the first and last heap snapshots, from the profiles the store kept.
pub fn report_flamegraphs(
    report: &crate::leaks::Report,
    store: &crate::store::Store,
) -> HtmlExtras {
    let Some(ends) = &store.heap_ends else {
        return HtmlExtras {
            note: Some(if store.snapshots_of(crate::store::Kind::Heap).is_empty() {
                "no heap snapshots".into()
            } else {
                "this store holds no stacks to draw flamegraphs from (saved by an older leakdiff)"
                    .into()
            }),
            ..Default::default()
        };
    };
    let run = || -> Result<HtmlExtras, String> {
        let kind = report
            .value_type
            .split('/')
            .next()
            .unwrap_or("")
            .to_string();
        let options = crate::diff::DiffOptions {
            sample: Some(kind.clone()),
            ..Default::default()
        };
        let values = crate::diff::stack_values(&ends.first, &ends.last, &ends.interner, &options)
            .map_err(|e| e.to_string())?;
        let unit = values.value_type.unit.clone();
        let mut opts = FlameOptions {
            title: format!("{kind}: first → last snapshot"),
            unit,
            min_width_px: 0.5,
            id: "flame-diff".into(),
            ..Default::default()
        };
        let mut diff_svg = Vec::new();
        write_diff_svg(&ends.interner, &values.stacks, &opts, &mut diff_svg)
            .map_err(|e| e.to_string())?;
        let latest: Vec<_> = values
            .stacks
            .iter()
            .filter(|(_, v)| v[1] > 0)
            .map(|(s, v)| (*s, [0, v[1]]))
            .collect();
        opts.plain = true;
        opts.id = "flame-latest".into();
        opts.title = format!("{kind}: latest snapshot");
        let mut latest_svg = Vec::new();
        write_diff_svg(&ends.interner, &latest, &opts, &mut latest_svg)
            .map_err(|e| e.to_string())?;
        Ok(HtmlExtras {
            diff_flamegraph: Some(String::from_utf8_lossy(&diff_svg).into_owned()),
            latest_flamegraph: Some(String::from_utf8_lossy(&latest_svg).into_owned()),
            note: None,
            ..Default::default()
        })
    };
    run().unwrap_or_else(|e| HtmlExtras {
        note: Some(format!("flamegraphs not drawn: {e}")),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels_are_short_names_cut_from_the_left() {
        let name = "github.com/prometheus/prometheus/tsdb.(*Head).Appender";
        assert_eq!(short_name(name), "tsdb.(*Head).Appender");
        assert_eq!(label(name, 1000.0), "tsdb.(*Head).Appender");
        // 12 characters fit: the end of the name, where the function is.
        let l = label(name, 6.0 + 12.0 * FONT * 0.6);
        assert_eq!(l, "..).Appender");
        assert_eq!(short_name("main.main"), "main.main");
        assert_eq!(
            short_name("example.com/a.F[go.shape.struct { X example.com/b.T }]"),
            "a.F[go.shape.struct { X example.com/b.T }]"
        );
        assert_eq!(short_name("operator/(Frac, Frac)"), "operator/(Frac, Frac)");
    }

    use super::*;

    #[test]
    fn inclusive_deltas_reach_every_frame_and_gone_stacks_keep_width() {
        let mut i = Interner::new();
        let main = i.symbol_frame("main", "m.go", 1);
        let leak = i.symbol_frame("leak", "m.go", 2);
        let old = i.symbol_frame("old<&>", "m.go", 3);
        let s_leak = i.stack_from_root([main, leak]);
        let s_old = i.stack_from_root([main, old]);
        let stacks = vec![(s_leak, [10, 100]), (s_old, [50, 0])];
        let (nodes, names) = build(&i, &stacks);
        let main_node = nodes
            .iter()
            .find(|n| names[n.name as usize] == "main")
            .unwrap();
        assert_eq!((main_node.base, main_node.later), (60, 100));
        assert_eq!(main_node.width, 150, "later 100 + vanished 50");
        let gone = nodes
            .iter()
            .find(|n| names[n.name as usize] == "old<&>")
            .unwrap();
        assert!(gone.gone);
        let mut svg = Vec::new();
        write_diff_svg(&i, &stacks, &FlameOptions::default(), &mut svg).unwrap();
        let svg = String::from_utf8(svg).unwrap();
        assert!(svg.contains("old&lt;&amp;&gt;"));
        assert!(!svg.contains("old<&>"));
        assert!(svg.contains("url(#flame-gone)"));
        // Colour by own change: the leaf that grew is full red, `main` (no self change) grey.
        let fill = |name: &str| {
            let g = svg
                .split("<g class=\"f\"")
                .find(|g| g.contains(&format!("data-n=\"{name}\"")))
                .unwrap();
            g.split("fill=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(fill("leak"), "rgb(255,0,0)");
        assert_eq!(fill("main"), "rgb(230,230,230)");
        assert_eq!(fill("all"), "rgb(230,230,230)");
    }
}
