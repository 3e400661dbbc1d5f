//! Which samples and frames take part: tag filters, pprof's drop/keep/hide/ignore frame rules,
//! and the sample filter they make together.

use super::*;

/// A `-tagfocus`/`-tagignore` term: `REGEX` (any label's value) or `KEY=REGEX`; numeric
/// labels match as their decimal value, or with their unit (`1024bytes`).
#[derive(Clone, Debug)]
pub struct TagFilter {
    /// Only labels with this key, when given.
    pub key: Option<String>,
    /// Matched against the value (anchored by the caller's regex, as pprof does not anchor).
    pub value: Regex,
}

impl TagFilter {
    /// Parses `KEY=REGEX` or `REGEX`.
    pub fn parse(s: &str) -> Result<TagFilter, regex::Error> {
        let (key, pattern) = match s.split_once('=') {
            Some((k, v))
                if !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c)) =>
            {
                (Some(k.to_string()), v)
            }
            _ => (None, s),
        };
        Ok(TagFilter {
            key,
            value: Regex::new(pattern)?,
        })
    }

    pub(super) fn matches(&self, interner: &Interner, labels: &[crate::model::Label]) -> bool {
        labels.iter().any(|l| {
            if self
                .key
                .as_deref()
                .is_some_and(|k| interner.str(l.key) != k)
            {
                return false;
            }
            match l.value {
                crate::model::LabelValue::Str(v) => self.value.is_match(interner.str(v)),
                crate::model::LabelValue::Num { value, unit } => {
                    let n = value.to_string();
                    self.value.is_match(&n)
                        || self.value.is_match(&format!("{n}{}", interner.str(unit)))
                }
            }
        })
    }
}

/// pprof's `-hide`/`-show` on frames, not samples: frames matching `hide` (or, with `show`, not
/// matching it) are taken out of every stack, so their values go to the caller that is shown.
/// Rewrites the profiles' stacks in `interner`.
pub fn prune_frames(
    interner: &mut Interner,
    profiles: &mut [&mut Profile],
    hide: Option<&Regex>,
    show: Option<&Regex>,
) {
    if hide.is_none() && show.is_none() {
        return;
    }
    let dropped: Vec<bool> = (0..interner.frames().len())
        .map(|i| {
            let id = FrameId(i as u32);
            let name = interner.frame_name(id);
            hide.is_some_and(|r| r.is_match(&name)) || show.is_some_and(|r| !r.is_match(&name))
        })
        .collect();
    let nodes: Vec<(StackId, FrameId)> = interner.nodes()[1..]
        .iter()
        .map(|n| (n.parent, n.frame))
        .collect();
    let mut to = Vec::with_capacity(nodes.len() + 1);
    to.push(StackId::ROOT);
    for (parent, frame) in nodes {
        let p: StackId = to[parent.index()];
        let id = if dropped[frame.index()] {
            p
        } else {
            interner.child(p, frame)
        };
        to.push(id);
    }
    for p in profiles.iter_mut() {
        p.map_stacks(|s| to.get(s.index()).copied().unwrap_or(StackId::ROOT));
    }
}

/// Per-frame and per-node filter state.
pub(super) fn sample_filter(
    interner: &Interner,
    focus: Option<&Regex>,
    ignore: Option<&Regex>,
) -> Option<Vec<bool>> {
    if focus.is_none() && ignore.is_none() {
        return None;
    }
    let frame_hits: Vec<(bool, bool)> = (0..interner.frames().len())
        .into_par_iter()
        .map(|i| {
            let id = FrameId(i as u32);
            let name = interner.frame_name(id);
            let file = interner.str(interner.frame_at(id).file);
            let hit = |r: &Regex| r.is_match(&name) || (!file.is_empty() && r.is_match(file));
            (focus.is_some_and(hit), ignore.is_some_and(hit))
        })
        .collect();
    let nodes = interner.nodes();
    let mut state: Vec<(bool, bool)> = Vec::with_capacity(nodes.len());
    state.push((false, false));
    for n in &nodes[1..] {
        let (pf, pi) = state[n.parent.index()];
        let (ff, fi) = frame_hits[n.frame.index()];
        state.push((pf || ff, pi || fi));
    }
    Some(
        state
            .into_iter()
            .map(|(f, i)| (focus.is_none() || f) && !i)
            .collect(),
    )
}
