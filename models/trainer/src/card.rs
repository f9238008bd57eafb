//! models/MODEL_CARD.md, written by the trainer from what it measured.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use traffic_core::features::FEATURE_VERSION;
use traffic_core::model::Model;

use crate::evaluate::Evaluation;
use crate::generalization::{self, HeldOut};
use crate::system::{self, Judged};

pub struct CardInput<'a> {
    pub model: &'a Model,
    pub training: BTreeMap<String, usize>,
    pub validation: BTreeMap<String, usize>,
    pub test: BTreeMap<String, usize>,
    /// (scenario, seed) of every row, to list the captures.
    pub captures: BTreeSet<(String, u32)>,
    pub windows: &'a [u32],
    pub validation_seed: u32,
    pub test_seed: u32,
    pub evaluation: &'a Evaluation,
    /// The held-back captures whole, through the model and the rules together.
    pub judged: &'a [Judged],
    /// Leave-one-variant-out results; None when skipped.
    pub held_out: Option<&'a [HeldOut]>,
}

pub fn model_card(c: &CardInput) -> String {
    let mut out = String::from("# Model card: models/default.json\n\n");
    let _ = writeln!(
        out,
        "XGBoost multi:softprob, {} trees; feature list version {FEATURE_VERSION} ({} features, \
         docs/features.md); classes: {}.\n",
        c.model.num_trees(),
        c.model.num_features(),
        c.model.classes().join(", ")
    );
    out.push_str("Written by `trainer train` (models/trainer); regenerate with `scripts/train.sh`.\n\n## Data\n\n");
    let mut scenarios: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for (scenario, seed) in &c.captures {
        scenarios.entry(scenario).or_default().push(*seed);
    }
    let _ = writeln!(
        out,
        "Captures made by scripts/make_captures.sh (real tools in network namespaces, benign clients \
         alongside, a real benign capture from ../shared/pcaps/benign laid under each), plus each real \
         benign capture on its own (scenario shared_benign, all Normal); window sizes {:?} s, global and \
         top-10 host rows. Split by capture, never by row: seed {validation} decides early stopping, seed {test} \
         is held back for the numbers below, every other seed trains. The real benign captures are split too: \
         every third (by name) is held back (seed {test} in the table below; the others are listed as seed 0), \
         laid only under held-back captures and evaluated on its own, so the false alert rate is measured on \
         benign traffic the model never saw.\n",
        c.windows,
        validation = c.validation_seed,
        test = c.test_seed
    );
    out.push_str("| scenario | seeds |\n|---|---|\n");
    for (scenario, seeds) in &scenarios {
        let _ = writeln!(out, "| {scenario} | {seeds:?} |");
    }
    out.push_str("\n| class | training rows | validation rows | test rows |\n|---|---|---|---|\n");
    for class in c.model.classes() {
        let get = |m: &BTreeMap<String, usize>| m.get(class).copied().unwrap_or(0);
        let _ = writeln!(out, "| {class} | {} | {} | {} |", get(&c.training), get(&c.validation), get(&c.test));
    }
    out.push_str("\n## Evaluation on the held-back captures\n\n");
    out.push_str(&c.evaluation.markdown());
    out.push_str(
        "\n## The model and the rules together\n\nWhat an analyst gets: each held-back capture whole (its \
         background too), every window row scored (also the rows left out of the numbers above: an attack's \
         edges, spoofed sources), the rules of docs/detection.md at their defaults, the alerts joined as the \
         extension joins them (in a window, a rule's finding takes in the model's alerts about its hosts; across \
         windows, alerts of one type, source and destination merge, and the model's other readings of an \
         incident go into the alert that names them: `traffic_core::alerts::merge`, which the extension asks \
         too). A capture is detected when an alert of its class names its attacker (or lists its many) or its \
         victim, and named in full when one names its victim (none for a sweep) and its attacker (none for \
         spoofed sources), as the detection test asks; an alert of another class about its hosts is a \
         wrong-class alert, one more of its class about its hosts a repeat, one about neither its attackers nor \
         its victims an alert about other hosts (the benign traffic beside it); every alert on a benign capture \
         is a false one.\n\n",
    );
    out.push_str(&system::window_table(c.judged, c.windows));
    out.push_str("\nPer family:\n\n");
    out.push_str(&system::family_table(c.judged));
    out.push_str("\nPer capture:\n\n");
    out.push_str(&system::capture_table(c.judged));
    out.push_str("\n## Variants never seen in training\n\n");
    match c.held_out {
        Some(results) => {
            out.push_str(
                "One model per row, trained (with the same settings and seeds) on every capture but the \
                 variant's, and tested on the variant's held-back captures. A capture is detected when an alert \
                 of its class is raised on its attack's rows in some window size. Settings are compared on the \
                 variants' validation captures, never on these.\n\n",
            );
            out.push_str(&generalization::markdown(results));
            out.push_str(
                "\nThe same models with the rules, on the same captures whole, as the section above judges \
                 them (detected by the model alone: the table above):\n\n",
            );
            out.push_str(&generalization::system_markdown(results));
            out.push_str(
                "\nPer family, over every variant's captures, each judged with the model that never saw it:\n\n",
            );
            out.push_str(&system::family_table(generalization::variant_captures(results)));
        }
        None => out.push_str("Not measured for this model (`trainer train --skip-leave-out`).\n"),
    }
    out.push_str(
        "\n## Known blind spots\n\n- One lab: one victim on a /24, attacks of at most 20 s, rates and sizes that \
         grow with the seed (scripts/make_captures.sh); the held-back seed 3 runs at rates above the training \
         seed's, so its numbers include that extrapolation, and far slower or larger attacks were not recorded.\n\
         - Benign traffic is the lab's clients (page loads, paced HTTP load, a busy resolver, transfers) plus the \
         shared real captures (a few minutes in all): other networks' normal may differ, and the false alert rate \
         rests on few benign hours.\n- Captures last ~40 s: a 180 s window holds a whole capture, mostly empty \
         time, so the 180 s rows train on traffic thinner than a real 180 s window's.\n- Rows are labelled by \
         time and scope, not per packet; rows at an attack's edge and spoofed sources' rows are left out, so the \
         numbers above say nothing about them.\n- Brute force is thin in the long windows: attacks last at \
         most 20 s, so a 180 s window sees a guesser's first 20 s. ncrack differs by timing: at -T3/-T4 (seeds \
         1, 2, 4) it opens some 500 connections in 6 s and stops, at -T2 (the held-back seed 3) it opens 4 in \
         20 s with five passwords in each, which the model names only on the guesser's rows.\n\
         - The false alert rate with the rules rests on few minutes of held-back benign captures (the benign \
         hours column); the rules alone found nothing on 0.56 hours of every seed's benign captures.\n\
         - Alerts are joined here as the extension joins them, with the same merge rule but without the \
         database; tests/tests/detection.rs checks the extension itself on these captures.\n",
    );
    out
}
