//! TreeSHAP (Lundberg et al., "Consistent Individualized Feature Attribution for Tree
//! Ensembles"), following XGBoost's CPU implementation step by step and in f32, so that the
//! contributions equal `Booster.predict(pred_contribs=True)`.

use super::tree::Tree;

#[derive(Clone, Copy, Default)]
pub(super) struct PathElement {
    feature: i64,
    zero_fraction: f32,
    one_fraction: f32,
    weight: f32,
}

/// Adds one tree's contributions for `x` to `phi` (`x.len()` features, then the bias).
pub(super) fn tree_contributions(tree: &Tree, x: &[f32], phi: &mut [f32], path: &mut Vec<PathElement>) {
    phi[x.len()] += tree.expected_value();
    // Each level copies its parent's path after it: a triangular buffer, as in XGBoost.
    let levels = tree.depth() + 2;
    path.clear();
    path.resize(levels * (levels + 1) / 2 + levels, PathElement::default());
    recurse(tree, x, phi, path, 0, 0, 0, 1.0, 1.0, -1);
}

fn extend(path: &mut [PathElement], depth: usize, zero_fraction: f32, one_fraction: f32, feature: i64) {
    path[depth] = PathElement { feature, zero_fraction, one_fraction, weight: if depth == 0 { 1.0 } else { 0.0 } };
    for i in (0..depth).rev() {
        path[i + 1].weight += one_fraction * path[i].weight * (i + 1) as f32 / (depth + 1) as f32;
        path[i].weight = zero_fraction * path[i].weight * (depth - i) as f32 / (depth + 1) as f32;
    }
}

fn unwind(path: &mut [PathElement], depth: usize, index: usize) {
    let one_fraction = path[index].one_fraction;
    let zero_fraction = path[index].zero_fraction;
    let mut next_one_portion = path[depth].weight;
    for i in (0..depth).rev() {
        if one_fraction != 0.0 {
            let tmp = path[i].weight;
            path[i].weight = next_one_portion * (depth + 1) as f32 / ((i + 1) as f32 * one_fraction);
            next_one_portion = tmp - path[i].weight * zero_fraction * (depth - i) as f32 / (depth + 1) as f32;
        } else {
            path[i].weight = (path[i].weight * (depth + 1) as f32) / (zero_fraction * (depth - i) as f32);
        }
    }
    for i in index..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero_fraction = path[i + 1].zero_fraction;
        path[i].one_fraction = path[i + 1].one_fraction;
    }
}

/// The total permutation weight if the element at `index` were unwound.
fn unwound_sum(path: &[PathElement], depth: usize, index: usize) -> f32 {
    let one_fraction = path[index].one_fraction;
    let zero_fraction = path[index].zero_fraction;
    let mut next_one_portion = path[depth].weight;
    let mut total = 0.0f32;
    for i in (0..depth).rev() {
        if one_fraction != 0.0 {
            let tmp = next_one_portion * (depth + 1) as f32 / ((i + 1) as f32 * one_fraction);
            total += tmp;
            next_one_portion = path[i].weight - tmp * zero_fraction * ((depth - i) as f32 / (depth + 1) as f32);
        } else if zero_fraction != 0.0 {
            total += (path[i].weight / zero_fraction) / ((depth - i) as f32 / (depth + 1) as f32);
        }
    }
    total
}

/// One node of the recursion. The parent's path is `buffer[parent..parent + depth + 1]`; this
/// node's copy goes right after it.
#[allow(clippy::too_many_arguments)]
fn recurse(
    tree: &Tree,
    x: &[f32],
    phi: &mut [f32],
    buffer: &mut [PathElement],
    parent: usize,
    mut depth: usize,
    node: usize,
    parent_zero_fraction: f32,
    parent_one_fraction: f32,
    parent_feature: i64,
) {
    let here = parent + depth + 1;
    buffer.copy_within(parent..parent + depth + 1, here);
    let path = &mut buffer[here..];
    extend(path, depth, parent_zero_fraction, parent_one_fraction, parent_feature);

    if tree.is_leaf(node) {
        let leaf = tree.value(node);
        for i in 1..=depth {
            let w = unwound_sum(path, depth, i);
            let el = path[i];
            phi[el.feature as usize] += w * (el.one_fraction - el.zero_fraction) * leaf;
        }
        return;
    }

    let split = tree.split_feature(node);
    let (hot, cold) = tree.hot_cold(node, x);
    let w = tree.cover(node);
    let hot_zero_fraction = tree.cover(hot) / w;
    let cold_zero_fraction = tree.cover(cold) / w;
    let mut incoming_zero_fraction = 1.0f32;
    let mut incoming_one_fraction = 1.0f32;

    // Already split on this feature higher up: undo that split so this node redoes it.
    if let Some(index) = (0..=depth).find(|&i| path[i].feature == split as i64) {
        incoming_zero_fraction = path[index].zero_fraction;
        incoming_one_fraction = path[index].one_fraction;
        unwind(path, depth, index);
        depth -= 1;
    }

    let split = split as i64;
    recurse(
        tree,
        x,
        phi,
        buffer,
        here,
        depth + 1,
        hot,
        hot_zero_fraction * incoming_zero_fraction,
        incoming_one_fraction,
        split,
    );
    recurse(tree, x, phi, buffer, here, depth + 1, cold, cold_zero_fraction * incoming_zero_fraction, 0.0, split);
}
