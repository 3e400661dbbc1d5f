//! Differential flamegraph SVG with inclusive deltas.
//!
//! Widths are the later profile. Every frame is coloured by its *inclusive* delta (later − base of
//! everything at and above it), red for growth and blue for shrinkage, so a leak shows at each frame
//! on its path, not only at the leaf. Stacks that vanished (zero in later) stay visible: they are
//! drawn at their base width, hatched, to the right of their siblings. Frames are merged by name,
//! root at the bottom. Drawn here rather than through inferno because inferno colours only leaf
//! deltas and cannot give a zero-width (vanished) stack any room.

use std::fmt::Write as _;
use std::io::{self, Write};

use rustc_hash::FxHashMap;

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
    /// A plain flamegraph of the later profile (base ignored): warm colours by name, no deltas.
    pub plain: bool,
}

impl Default for FlameOptions {
    fn default() -> Self {
        FlameOptions {
            title: "Differential flamegraph".into(),
            unit: "bytes".into(),
            width: 1200.0,
            min_width_px: 0.1,
            plain: false,
        }
    }
}

struct Node {
    name: u32,
    parent: u32,
    depth: u32,
    base: i64,
    later: i64,
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
            c if (c as u32) < 0x20 && c != '\t' => o.push('?'),
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

/// A warm colour chosen by the name's hash, as classic flamegraphs do.
fn warm(name: &str) -> String {
    let h = name.bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    });
    let r = 205 + (h % 50);
    let g = (h >> 8) % 180 + 40;
    let b = (h >> 16) % 55;
    format!("rgb({r},{g},{b})")
}

const FRAME_H: f64 = 16.0;
const PAD: f64 = 10.0;
const TOP: f64 = 60.0;
const FONT: f64 = 12.0;

/// Writes the differential flamegraph of `stacks` as SVG.
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
    let height = TOP + (max_depth + 1.0) * FRAME_H + PAD * 2.0;
    let max_abs = nodes
        .iter()
        .map(|n| n.later.saturating_sub(n.base).unsigned_abs())
        .max()
        .unwrap_or(0) as i64;
    let unit = &opts.unit;
    let mut svg = String::with_capacity(64 * 1024);
    let _ = write!(
        svg,
        r##"<?xml version="1.0" standalone="no"?>
<svg version="1.1" width="{width}" height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">
<defs><pattern id="gone" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)"><rect width="6" height="6" fill="rgb(200,210,255)"/><line x1="0" y1="0" x2="0" y2="6" stroke="rgb(90,110,230)" stroke-width="2"/></pattern></defs>
<style>text {{ font-family: Verdana, sans-serif; font-size: {FONT}px; fill: #000; }} .t {{ font-size: 17px; }} .s {{ fill: #444; }} rect.f {{ stroke: #fff; stroke-width: 0.5; }} g:hover rect.f {{ stroke: #000; }}</style>
<rect x="0" y="0" width="{width}" height="{height}" fill="#fafafa"/>
<text class="t" x="{cx}" y="24" text-anchor="middle">{title}</text>
<text class="s" x="{cx}" y="44" text-anchor="middle">{subtitle}</text>
"##,
        cx = width / 2.0,
        subtitle = if opts.plain {
            "width = value of the frame and everything above it; colour by name"
        } else {
            "width = later profile; colour = inclusive delta per frame (red grew, blue shrank); hatched = gone in later, drawn at base width"
        },
        title = escape(&clip(&opts.title, ((width - 2.0 * PAD) / 9.5) as usize)),
    );
    for &(i, x, w) in &placed {
        let n = &nodes[i as usize];
        let y = height - PAD - (n.depth as f64 + 1.0) * FRAME_H;
        let delta = n.later.saturating_sub(n.base);
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
            format!("{name}\n{}", human(n.later, unit))
        } else {
            format!(
                "{name}{state}\nlater {} · base {} · Δ {}{}{pct}",
                human(n.later, unit),
                human(n.base, unit),
                if delta > 0 { "+" } else { "" },
                human(delta, unit)
            )
        };
        let fill = if opts.plain {
            warm(name)
        } else if n.gone {
            "url(#gone)".to_string()
        } else {
            color(delta, max_abs)
        };
        let _ = write!(
            svg,
            r#"<g><title>{}</title><rect class="f" x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" fill="{fill}"/>"#,
            escape(&tip),
            h = FRAME_H - 1.0,
        );
        let fit = ((w - 6.0) / (FONT * 0.6)).floor();
        if fit >= 3.0 {
            let fit = fit as usize;
            let label: String = if name.chars().count() > fit {
                name.chars()
                    .take(fit.saturating_sub(2))
                    .chain("..".chars())
                    .collect()
            } else {
                name.clone()
            };
            let _ = write!(
                svg,
                r#"<text x="{:.2}" y="{:.2}">{}</text>"#,
                x + 3.0,
                y + FRAME_H - 4.5,
                escape(&label)
            );
        }
        svg.push_str("</g>\n");
    }
    svg.push_str("</svg>\n");
    out.write_all(svg.as_bytes())
}

#[cfg(test)]
mod tests {
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
        assert!(svg.contains("url(#gone)"));
    }
}
