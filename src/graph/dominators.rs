//! Immediate dominators (Cooper, Harvey and Kennedy's iteration on post-order numbers).

use super::*;

/// Immediate dominators from `root` (Cooper, Harvey & Kennedy, "A Simple, Fast Dominance
/// Algorithm"), and the post-order it ran on (reachable nodes only, the root last).
///
/// The iteration runs on post-order numbers: predecessor lists in that order are read front to
/// back on every pass, and comparing two nodes' order is comparing their numbers, so neither a
/// numbering array nor the successor rows are touched while it runs.
pub(super) fn dominators(edges: &Edges, root: u32, progress: Progress) -> (Vec<u32>, Vec<u32>) {
    let total = edges.node_count();
    // Post-order by iterative DFS; `po` is NONE until seen, OPEN while on the stack.
    const OPEN: u32 = NONE - 1;
    let mut po = vec![NONE; total];
    let mut post: Vec<u32> = Vec::new();
    let mut stack: Vec<(u32, u32)> = vec![(root, 0)];
    po[root as usize] = OPEN;
    while let Some(&mut (v, ref mut i)) = stack.last_mut() {
        let nb = edges.neighbors(v);
        if (*i as usize) < nb.len() {
            let w = nb[*i as usize];
            *i += 1;
            if po[w as usize] == NONE {
                po[w as usize] = OPEN;
                stack.push((w, 0));
            }
        } else {
            po[v as usize] = post.len() as u32;
            post.push(v);
            stack.pop();
        }
    }
    drop(stack);
    post.shrink_to_fit();
    let r = post.len();
    // Predecessors by post-order number, compressed rows.
    let mut pred_start = vec![0u32; r + 1];
    for &v in &post {
        for &w in edges.neighbors(v) {
            pred_start[po[w as usize] as usize + 1] += 1;
        }
    }
    for i in 0..r {
        pred_start[i + 1] += pred_start[i];
    }
    // Filled through `pred_start` itself: each row's cursor moves up to the next row's start,
    // then the array is shifted back by one.
    let mut preds = vec![0u32; pred_start[r] as usize];
    for (k, &v) in post.iter().enumerate() {
        for &w in edges.neighbors(v) {
            let row = po[w as usize] as usize;
            preds[pred_start[row] as usize] = k as u32;
            pred_start[row] += 1;
        }
    }
    drop(po);
    pred_start.copy_within(0..r, 1);
    pred_start[0] = 0;
    // The root is the last in post-order; every other node comes before its dominators.
    let top = (r - 1) as u32;
    let mut idom = vec![NONE; r];
    idom[top as usize] = top;
    let intersect = |idom: &[u32], mut a: u32, mut b: u32| {
        while a != b {
            while a < b {
                a = idom[a as usize];
            }
            while b < a {
                b = idom[b as usize];
            }
        }
        a
    };
    let mut changed = true;
    let mut pass = 0;
    while changed {
        changed = false;
        pass += 1;
        let phase = format!("computing dominators, pass {pass}");
        progress(Step::phase(&phase));
        for v in (0..top).rev() {
            let ps = &preds[pred_start[v as usize] as usize..pred_start[v as usize + 1] as usize];
            let mut new = NONE;
            for &p in ps {
                if idom[p as usize] == NONE {
                    continue;
                }
                new = if new == NONE {
                    p
                } else {
                    intersect(&idom, p, new)
                };
            }
            if new != NONE && idom[v as usize] != new {
                idom[v as usize] = new;
                changed = true;
            }
        }
    }
    drop(preds);
    drop(pred_start);
    // Back to node numbers.
    let mut out = vec![NONE; total];
    for (k, &d) in idom.iter().enumerate().take(top as usize) {
        out[post[k] as usize] = post[d as usize];
    }
    (out, post)
}
