//! One regression tree, laid out for fast traversal (docs/design.md#scoring).
//!
//! Nodes are renumbered in depth-first preorder, so a left child sits right after its parent (no
//! need to store it). A leaf is a fixed point of a step (NaN threshold, default right, right child
//! itself), so several trees can be walked in lockstep for a fixed number of steps with no leaf
//! test and no data-dependent branch: independent walks overlap in the CPU instead of each
//! waiting on its own chain of loads.

use super::json::JsonTree;

const DEFAULT_LEFT: u16 = 1 << 15;
const LEAF: u16 = 1 << 14;
const FEATURE_MASK: u16 = !(DEFAULT_LEFT | LEAF);

#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Node {
    /// Split feature, with DEFAULT_LEFT set when a missing value goes left; LEAF for a leaf
    /// (whose feature is 0).
    split: u16,
    /// How far ahead the right child is (the left child is the next node); 0 for a leaf. Eight
    /// bytes a node instead of twelve: a 600-tree model's nodes fit a core's L2 with room.
    skip: u16,
    /// Split threshold; NaN for a leaf, so that no value goes left.
    threshold: f32,
}

#[derive(Clone, Debug)]
pub(super) struct Tree {
    nodes: Vec<Node>,
    /// Leaf value per node (0 for internal nodes).
    leaf: Vec<f32>,
    /// Hessian sum per node (XGBoost's "cover"), which TreeSHAP weighs paths by.
    cover: Vec<f32>,
    /// Cover-weighted mean leaf value under each node (the tree's expectation at the root).
    mean: Vec<f32>,
    /// Levels: 1 for a lone leaf.
    depth: usize,
    /// Every split feature is below this (checked at load), so walks index `x` unchecked.
    num_features: usize,
}

impl Tree {
    pub(super) fn from_json(json: &JsonTree, num_features: usize) -> Result<Tree, String> {
        let n: usize = json
            .tree_param
            .num_nodes
            .parse()
            .map_err(|_| format!("num_nodes is not a number: {:?}", json.tree_param.num_nodes))?;
        if let Some(size) = &json.tree_param.size_leaf_vector {
            if !matches!(size.as_str(), "0" | "1") {
                return Err(format!("vector leaves (size_leaf_vector {size}) are not supported"));
            }
        }
        let lengths = [
            json.default_left.len(),
            json.left_children.len(),
            json.right_children.len(),
            json.split_conditions.len(),
            json.split_indices.len(),
            json.sum_hessian.len(),
        ];
        if n == 0 || lengths.iter().any(|&len| len != n) {
            return Err(format!("node arrays {lengths:?} do not all have num_nodes = {n} entries"));
        }
        if json.split_type.iter().any(|&t| t != 0) {
            return Err("categorical splits are not supported".into());
        }

        // Preorder renumbering; every node must be reached exactly once from the root.
        let mut order = Vec::with_capacity(n); // new index -> old index
        let mut new_index = vec![u32::MAX; n];
        let mut stack = vec![(0usize, 1usize)];
        let mut depth = 0;
        while let Some((old, level)) = stack.pop() {
            if new_index[old] != u32::MAX {
                return Err(format!("node {old} is reached twice"));
            }
            new_index[old] = order.len() as u32;
            order.push(old);
            depth = depth.max(level);
            let (left, right) = (json.left_children[old], json.right_children[old]);
            if left == -1 && right == -1 {
                continue;
            }
            let child = |c: i64| usize::try_from(c).ok().filter(|&c| c < n && c != 0);
            match (child(left), child(right)) {
                (Some(l), Some(r)) => {
                    stack.push((r, level + 1));
                    stack.push((l, level + 1));
                }
                _ => return Err(format!("node {old} has children {left} and {right}")),
            }
        }
        if order.len() != n {
            return Err(format!("{} of {n} nodes are not reachable from the root", n - order.len()));
        }

        let mut nodes = Vec::with_capacity(n);
        let mut leaves = Vec::with_capacity(n);
        let mut cover = Vec::with_capacity(n);
        for &old in &order {
            let value = json.split_conditions[old];
            let leaf = json.left_children[old] == -1;
            let node = if leaf {
                if !value.is_finite() {
                    return Err(format!("leaf {old} has value {value}"));
                }
                leaves.push(value);
                Node { split: LEAF, skip: 0, threshold: f32::NAN }
            } else {
                let feature = usize::try_from(json.split_indices[old])
                    .ok()
                    .filter(|&f| f < num_features)
                    .ok_or_else(|| format!("node {old} splits on feature {}", json.split_indices[old]))?;
                let feature = u16::try_from(feature).ok().filter(|&f| f <= FEATURE_MASK).ok_or_else(|| {
                    format!("node {old} splits on feature {feature} (at most {FEATURE_MASK} supported)")
                })?;
                let skip = u16::try_from(new_index[json.right_children[old] as usize] as usize - nodes.len())
                    .map_err(|_| format!("node {old} has more than 65,535 nodes below its left child"))?;
                let flag = if json.default_left[old] != 0 { DEFAULT_LEFT } else { 0 };
                if value.is_nan() {
                    return Err(format!("node {old} has threshold NaN"));
                }
                debug_assert_eq!(new_index[json.left_children[old] as usize] as usize, nodes.len() + 1);
                leaves.push(0.0);
                Node { split: feature | flag, skip, threshold: value }
            };
            nodes.push(node);
            cover.push(json.sum_hessian[old]);
        }
        let mut tree = Tree { nodes, leaf: leaves, cover, mean: vec![0.0; n], depth, num_features };
        tree.fill_mean(0);
        Ok(tree)
    }

    /// XGBoost's FillNodeMeanValues, in the same f32 operation order.
    fn fill_mean(&mut self, index: usize) -> f32 {
        let node = self.nodes[index];
        let result = if node.split & LEAF != 0 {
            self.leaf[index]
        } else {
            let (l, r) = (index + 1, index + node.skip as usize);
            let mut sum = self.fill_mean(l) * self.cover[l];
            sum += self.fill_mean(r) * self.cover[r];
            sum / self.cover[index]
        };
        self.mean[index] = result;
        result
    }

    /// Which child `x` follows from node `index`: missing values take the default direction,
    /// otherwise `x < threshold` goes left (equal goes right). A leaf stays where it is.
    #[inline(always)]
    fn next(&self, index: usize, x: &[f32]) -> usize {
        let node = &self.nodes[index];
        let v = x[(node.split & FEATURE_MASK) as usize];
        // Non-short-circuit `|` and `&`: no branch on missingness.
        let go_left = (v.is_nan() & (node.split & DEFAULT_LEFT != 0)) | (v < node.threshold);
        if go_left {
            index + 1
        } else {
            index + node.skip as usize
        }
    }

    /// One branch-free step of the walk of the row starting at `offset` in `rows` (a lone row:
    /// offset 0).
    #[inline(always)]
    fn step(&self, index: usize, rows: &[f32], offset: usize) -> usize {
        // SAFETY: `index` is a node of this tree (walks start at the root and only move to
        // children, which from_json checked); every split feature is below num_features, and
        // `walk`/`walk_block` asserted that offset + num_features <= rows.len().
        let node = unsafe { self.nodes.get_unchecked(index) };
        let v = unsafe { *rows.get_unchecked(offset + (node.split & FEATURE_MASK) as usize) };
        let go_left = (v.is_nan() & (node.split & DEFAULT_LEFT != 0)) | (v < node.threshold);
        // A conditional move, not a branch: the direction is a coin flip to the predictor (as a
        // branch, this walk ran at 0.44x XGBoost's speed).
        std::hint::select_unpredictable(go_left, index + 1, index + node.skip as usize)
    }

    /// The tree's expected output over the training distribution (SHAP's bias term).
    pub(super) fn expected_value(&self) -> f32 {
        self.mean[0]
    }

    pub(super) fn depth(&self) -> usize {
        self.depth
    }

    pub(super) fn is_leaf(&self, index: usize) -> bool {
        self.nodes[index].split & LEAF != 0
    }

    /// The leaf value of a leaf node (0 for an internal node).
    #[inline(always)]
    pub(super) fn value(&self, index: usize) -> f32 {
        self.leaf[index]
    }

    pub(super) fn cover(&self, index: usize) -> f32 {
        self.cover[index]
    }

    pub(super) fn split_feature(&self, index: usize) -> usize {
        (self.nodes[index].split & FEATURE_MASK) as usize
    }

    pub(super) fn children(&self, index: usize) -> (usize, usize) {
        (index + 1, index + self.nodes[index].skip as usize)
    }

    /// The child `x` follows (hot) and the other one (cold).
    pub(super) fn hot_cold(&self, index: usize, x: &[f32]) -> (usize, usize) {
        let hot = self.next(index, x);
        let (left, right) = self.children(index);
        (hot, if hot == left { right } else { left })
    }
}

/// Trees walked in lockstep (a batch of independent walks in flight).
pub(super) const LOCKSTEP: usize = 16;

/// Adds the leaf values `x` reaches in `trees` (at most LOCKSTEP) to `margins`, by group, in
/// tree order (XGBoost's summation order).
#[inline]
pub(super) fn walk(trees: &[Tree], groups: &[u32], x: &[f32], margins: &mut [f32]) {
    debug_assert!(trees.len() <= LOCKSTEP && trees.len() == groups.len());
    let mut index = [0usize; LOCKSTEP];
    let mut steps = 0;
    for tree in trees {
        assert!(x.len() >= tree.num_features, "a row has every feature the trees split on");
        steps = steps.max(tree.depth - 1);
    }
    for _ in 0..steps {
        for (i, tree) in index.iter_mut().zip(trees) {
            *i = tree.step(*i, x, 0);
        }
    }
    for ((i, tree), &group) in index.iter().zip(trees).zip(groups) {
        margins[group as usize] += tree.value(*i);
    }
}

/// Rows per block in batch scoring: a tree's nodes stay in L1 while the block walks it.
pub(super) const BLOCK: usize = 64;

/// Adds this tree's leaf values for each row of a block (`width` values per row, at most BLOCK
/// rows) to `margins` (`groups` per row) at `group`.
#[inline]
pub(super) fn walk_block(tree: &Tree, group: usize, rows: &[f32], width: usize, margins: &mut [f32], groups: usize) {
    let count = rows.len() / width;
    assert!(count <= BLOCK && width >= tree.num_features && count * width == rows.len());
    let mut index = [0usize; BLOCK];
    for _ in 1..tree.depth {
        for (r, i) in index[..count].iter_mut().enumerate() {
            *i = tree.step(*i, rows, r * width);
        }
    }
    for (r, i) in index[..count].iter().enumerate() {
        margins[r * groups + group] += tree.value(*i);
    }
}
