//! Leave one variant out: for each variant (a tool, a scan type, a rate range, a number of
//! sources), a model trained without any capture of it, tested on all of its captures. What the
//! model does on an attack it never saw is what it will do on the next tool.

use std::fmt::Write as _;

use crate::dataset::LabelledRow;
use crate::evaluate::{self, Evaluation, Totals};
use crate::system::{self, Judged, Replay};
use crate::train::{self, Settings};

/// The variants held out, one at a time: (name, its scenarios in scripts/make_captures.sh).
pub const VARIANTS: &[(&str, &[&str])] = &[
    ("Xmas scan", &["port_scan_xmas"]),
    (
        "every TCP scan without SYN (FIN, Xmas, Null, ACK, Maimon, Window)",
        &["port_scan_fin", "port_scan_xmas", "port_scan_null", "port_scan_ack", "port_scan_maimon", "port_scan_window"],
    ),
    ("slow scan (nmap -T2)", &["port_scan_slow"]),
    ("UDP scan", &["port_scan_udp"]),
    ("masscan", &["port_scan_masscan"]),
    ("IPv6 (scan and sweep)", &["port_scan_v6", "sweep_v6"]),
    ("ping sweep", &["sweep_ping"]),
    ("one port across hosts", &["sweep_port"]),
    (
        "distributed floods (2-50 real sources)",
        &["syn_flood_distributed", "udp_flood_distributed", "icmp_flood_distributed"],
    ),
    ("low-rate floods (a few hundred packets/s)", &["syn_flood_low", "udp_flood_low", "icmp_flood_low"]),
    ("spoofed sources", &["syn_flood_spoofed", "udp_flood_spoofed"]),
    ("ACK flood", &["ack_flood"]),
    ("medusa (SSH)", &["brute_force_ssh_medusa"]),
    ("ncrack (SSH)", &["brute_force_ssh_ncrack"]),
    ("HTTP basic auth", &["brute_force_http"]),
    ("FTP (medusa)", &["brute_force_ftp"]),
    ("slow POST", &["slow_post"]),
    ("slow read", &["slow_read"]),
    ("DNS flood from many clients", &["dns_flood_clients"]),
    ("DNS flood from many source ports", &["dns_flood_ports"]),
];

pub struct HeldOut {
    pub name: &'static str,
    /// On the variant's captures of the validation seed: what settings may be chosen by.
    pub validation: Evaluation,
    /// On the variant's held-back captures (the test seed): what the card reports.
    pub evaluation: Evaluation,
    /// The same captures whole, through this model and the rules together.
    pub judged: Vec<Judged>,
}

/// Trains one model per variant without any capture of it (the other variants' training and
/// validation seeds, as for the shipped model) and evaluates it on the variant's captures of the
/// validation seed and, apart, of the test seed.
pub fn leave_each_out(
    rows: &[LabelledRow],
    replays: &[Replay],
    (validation_seed, test_seed): (u32, u32),
    settings: &Settings,
    (windows, top_k, threshold): (&[u32], usize, f64),
) -> anyhow::Result<Vec<HeldOut>> {
    let mut out = Vec::new();
    for (name, scenarios) in VARIANTS {
        let held = |r: &&LabelledRow| scenarios.contains(&r.scenario.as_str());
        let of_seed = |seed: u32| rows.iter().filter(held).filter(|r| r.seed == seed).collect::<Vec<_>>();
        let (checked, test) = (of_seed(validation_seed), of_seed(test_seed));
        if test.is_empty() {
            eprintln!("leave one out: no capture of {name}, skipped");
            continue;
        }
        let rest = || rows.iter().filter(|r| !held(r));
        let training: Vec<&LabelledRow> = rest().filter(|r| r.seed != test_seed && r.seed != validation_seed).collect();
        let validation: Vec<&LabelledRow> = rest().filter(|r| r.seed == validation_seed).collect();
        let json = train::train(&training, &validation, settings)?;
        let model = traffic_core::model::Model::from_json(&json)?;
        let validation = evaluate::evaluate(&model, &checked, threshold)?;
        let evaluation = evaluate::evaluate(&model, &test, threshold)?;
        let checked = Totals::of(&validation.incidents);
        eprintln!(
            "leave one out: {name}: validation {} of {} detected, {} false alerts",
            checked.detected,
            checked.captures,
            validation.false_alerts_total()
        );
        let judged = replays
            .iter()
            .filter(|r| scenarios.contains(&r.scenario.as_str()))
            .map(|r| system::judge(&model, r, windows, top_k, threshold))
            .collect();
        out.push(HeldOut { name, validation, evaluation, judged });
    }
    Ok(out)
}

/// Totals over the variants' validation captures, and their false alerts: what settings are
/// compared by.
pub fn validation_totals(results: &[HeldOut]) -> (Totals, usize) {
    let totals = Totals::of(results.iter().flat_map(|h| &h.validation.incidents));
    (totals, results.iter().map(|h| h.validation.false_alerts_total()).sum())
}

/// The card's table: per variant held out, incidents detected (in some window size and per size),
/// row recall, wrong-class alerts per incident, what the missed rows were called.
pub fn markdown(results: &[HeldOut]) -> String {
    let mut out = String::from(
        "| held out | captures | detected | detected in 5 / 30 / 180 s | row recall | alerts of a wrong class per \
         incident | false alerts | wrong rows mostly called |\n|---|---|---|---|---|---|---|---|\n",
    );
    for h in results {
        let e = &h.evaluation;
        let t = Totals::of(&e.incidents);
        let per_window: Vec<String> = e.false_alerts.keys().map(|s| e.detected_in(*s).to_string()).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.3} | {:.2} | {} | {} |",
            h.name,
            t.captures,
            t.detected,
            per_window.join(" / "),
            t.recall(),
            t.wrong_class_per_incident(),
            e.false_alerts_total(),
            evaluate::mostly_called(&t.called)
        );
    }
    out
}

/// The card's table of the model that never saw a variant and the rules together, on the
/// variant's held-back captures: detected (and by the rules alone), wrong-class alerts.
pub fn system_markdown(results: &[HeldOut]) -> String {
    let mut out = String::from(
        "| held out | captures | detected | named in full | by the rules alone | by the model alone | alerts of a \
         wrong class | more alerts of its class |\n|---|---|---|---|---|---|---|---|\n",
    );
    for h in results {
        let detected = h.judged.iter().filter(|j| j.all.detected).count();
        let in_full = h.judged.iter().filter(|j| j.all.in_full).count();
        let by_rules = h.judged.iter().filter(|j| j.by_rules).count();
        let by_model = Totals::of(&h.evaluation.incidents).detected;
        let wrong: usize = h.judged.iter().map(|j| j.all.wrong_class).sum();
        let repeats: usize = h.judged.iter().map(|j| j.all.repeats).sum();
        let _ = writeln!(
            out,
            "| {} | {} | {detected} | {in_full} | {by_rules} | {by_model} | {wrong} | {repeats} |",
            h.name,
            h.judged.len()
        );
    }
    out
}

/// Every variant's captures once (a capture in two variants, judged by the first's model).
pub fn variant_captures(results: &[HeldOut]) -> Vec<&Judged> {
    let mut seen = std::collections::BTreeSet::new();
    results.iter().flat_map(|h| &h.judged).filter(|j| seen.insert(j.name.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant held out is a scenario the lab records.
    #[test]
    fn the_variants_are_lab_scenarios() {
        let script = include_str!("../../../scripts/make_captures.sh");
        for (name, scenarios) in VARIANTS {
            for s in *scenarios {
                assert!(script.contains(&format!("{s})")) || script.contains(&format!("{s} |")), "{name}: {s}");
            }
        }
    }
}
