//! `trainer dataset`: labelled captures (scripts/make_captures.sh) plus real benign captures laid
//! under them, turned into labelled window rows by the production parser and feature code.

mod card;
mod dataset;
mod evaluate;
mod fixtures;
mod generalization;
mod labels;
mod rules;
mod system;
mod train;

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Training data for the traffic analyzer's model")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the rows come from (both subcommands).
#[derive(clap::Args)]
struct Data {
    /// Directory of NAME.pcap + NAME.labels.json (scripts/make_captures.sh).
    #[arg(long, default_value = "/var/cache/traffic_analyzer/captures")]
    captures: PathBuf,
    /// Real benign captures: used on their own, and one (chosen by capture) is laid under each
    /// labelled capture.
    #[arg(long)]
    benign: Option<PathBuf>,
    /// Window sizes, seconds.
    #[arg(long = "window", default_values_t = traffic_core::jobs::WINDOW_SECONDS)]
    windows: Vec<u32>,
    #[arg(long, default_value_t = 10)]
    top_k: usize,
    /// Captures of this seed are held back for evaluation (with a third of the real benign ones).
    #[arg(long, default_value_t = 3)]
    test_seed: u32,
}

#[derive(Subcommand)]
enum Command {
    /// Labelled window rows of every capture in a directory, as CSV.
    Dataset {
        #[command(flatten)]
        data: Data,
        #[arg(long)]
        out: PathBuf,
    },
    /// Trains the model: captures with seed --test-seed are held back for evaluation, seed
    /// --validation-seed decides early stopping, the others train. Writes the model and its card.
    Train {
        #[command(flatten)]
        data: Data,
        #[arg(long, default_value_t = 2)]
        validation_seed: u32,
        #[arg(long, default_value_t = 300)]
        rounds: u32,
        #[arg(long, default_value_t = 6)]
        max_depth: u32,
        #[arg(long, default_value_t = 0.1)]
        eta: f64,
        /// Class balancing: rare classes' rows weigh (rows / (classes x class rows))^balance.
        #[arg(long, default_value_t = 0.5)]
        balance: f64,
        /// Share of the features each split chooses from (colsample_bynode); 0.5 was chosen over 1.0
        /// and 0.3 on the validation captures (fewer alerts of a wrong class and false alerts).
        #[arg(long, default_value_t = 0.5)]
        colsample: f64,
        #[arg(long, default_value = "models/default.json")]
        model: PathBuf,
        #[arg(long, default_value = "models/MODEL_CARD.md")]
        card: PathBuf,
        /// Also write the misclassified test rows here (CSV), to see what the model gets wrong.
        #[arg(long)]
        errors: Option<PathBuf>,
        /// Skip the leave-one-variant-out models (one training per variant; the card then says so).
        #[arg(long)]
        skip_leave_out: bool,
    },
    /// A model (by default the shipped one) on every labelled capture in --captures (and the real
    /// benign captures in --benign): what it does on captures it was not trained on.
    Evaluate {
        #[command(flatten)]
        data: Data,
        #[arg(long, default_value = "models/default.json")]
        model: PathBuf,
    },
    /// The transparent rules at their defaults over every labelled capture (and the real benign
    /// captures): which attacks they name, which other classes they raise, false findings.
    Rules {
        #[command(flatten)]
        data: Data,
    },
    /// The end-to-end detection test's captures: per scenario, the held-back seed's capture cut
    /// `--attack-seconds` into its attack (a benign one `--benign-seconds` long), gzipped, with its labels.
    Fixtures {
        #[arg(long, default_value = "/var/cache/traffic_analyzer/captures")]
        captures: PathBuf,
        #[arg(long, default_value = "tests/captures")]
        out: PathBuf,
        #[arg(long, default_value_t = 3)]
        seed: u32,
        #[arg(long, default_value_t = 10.0)]
        attack_seconds: f64,
        /// How much of a capture without an attack is kept.
        #[arg(long, default_value_t = 20.0)]
        benign_seconds: f64,
        #[arg(long = "scenario", default_values_t = [
            "benign", "benign_resolver", "benign_web_load", "benign_ssh", "port_scan_syn", "port_scan_fin", "port_scan_xmas",
            "port_scan_null", "port_scan_ack", "port_scan_maimon", "port_scan_window", "port_scan_slow", "port_scan_udp",
            "port_scan_masscan", "port_scan_v6", "sweep_ping",
            "sweep_port", "sweep_v6", "syn_flood", "syn_flood_low", "syn_flood_distributed", "syn_flood_spoofed",
            "udp_flood", "udp_flood_low", "udp_flood_distributed", "udp_flood_spoofed", "icmp_flood",
            "icmp_flood_low", "icmp_flood_distributed", "ack_flood", "rst_flood", "brute_force_ssh",
            "brute_force_ssh_medusa", "brute_force_ftp", "brute_force_http", "slowloris", "slow_read", "slow_post", "dns_flood",
            "dns_flood_ports", "dns_flood_clients"
        ].map(String::from))]
        scenarios: Vec<String>,
    },
}

/// Every labelled row: each capture with a real benign capture laid under it, and every real
/// benign capture on its own (all Normal). The real benign captures are split too: every third
/// is held back, laid only under test captures and counted only in the test rows, so the false
/// alert rate is measured on benign traffic the model never saw. Also the held-back captures
/// whole (with their backgrounds), for what the model and the rules together make of them.
fn all_rows(data: &Data) -> anyhow::Result<(Vec<dataset::LabelledRow>, Vec<system::Replay>)> {
    let mut training_backgrounds = Vec::new();
    let mut held_back_backgrounds = Vec::new();
    let mut rows = Vec::new();
    let mut replays = Vec::new();
    if let Some(dir) = &data.benign {
        for (i, file) in dataset::benign_captures(dir)?.iter().enumerate() {
            let held_back = i % 3 == 2;
            let packets = dataset::read_packets(std::slice::from_ref(file))?;
            let seed = if held_back { data.test_seed } else { 0 };
            rows.extend(dataset::benign_rows(file, &packets, seed, &data.windows, data.top_k));
            if held_back {
                let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
                let replay =
                    system::Replay { name, scenario: "shared_benign".into(), attack: None, packets: packets.clone() };
                replays.push(replay);
                held_back_backgrounds.push(packets);
            } else {
                training_backgrounds.push(packets);
            }
        }
    }
    for (i, (capture, labels)) in dataset::labelled_captures(&data.captures)?.into_iter().enumerate() {
        let held_back = labels.seed == data.test_seed;
        let backgrounds = if held_back { &held_back_backgrounds } else { &training_backgrounds };
        let background = if backgrounds.is_empty() { &[][..] } else { &backgrounds[i % backgrounds.len()][..] };
        let (packets, labels) = dataset::capture_packets(&capture, &labels, background)?;
        rows.extend(dataset::capture_rows(&packets, &labels, &data.windows, data.top_k));
        if held_back {
            let name = labels.capture.trim_end_matches(".pcap").to_string();
            let attack = labels.attacks.first().cloned();
            replays.push(system::Replay { name, scenario: labels.scenario.clone(), attack, packets });
        }
    }
    Ok((rows, replays))
}

fn per_label(rows: &[&dataset::LabelledRow]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in rows {
        *counts.entry(r.label.clone()).or_default() += 1;
    }
    counts
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Fixtures { captures, out, seed, attack_seconds, benign_seconds, scenarios } => {
            std::fs::create_dir_all(&out)?;
            let all = dataset::labelled_captures(&captures)?;
            for scenario in &scenarios {
                let (capture, labels) = all
                    .iter()
                    .find(|(_, l)| &l.scenario == scenario && l.seed == seed)
                    .ok_or_else(|| anyhow::anyhow!("no {scenario} capture of seed {seed} in {}", captures.display()))?;
                fixtures::write_fixture(capture, labels, (attack_seconds, benign_seconds), &out)?;
            }
            Ok(())
        }
        Command::Evaluate { data, model } => {
            let (rows, replays) = all_rows(&data)?;
            let json = std::fs::read_to_string(&model)?;
            let parsed = traffic_core::model::Model::from_json(&json)?;
            let evaluation = evaluate::evaluate(&parsed, &rows.iter().collect::<Vec<_>>(), 0.8)?;
            println!("{} rows of {}:\n{}", rows.len(), data.captures.display(), evaluation.markdown());
            let judged: Vec<system::Judged> =
                replays.iter().map(|r| system::judge(&parsed, r, &data.windows, data.top_k, 0.8)).collect();
            println!(
                "Model and rules together, on the captures of seed {}:\n\n{}\n{}\n{}",
                data.test_seed,
                system::window_table(&judged, &data.windows),
                system::family_table(&judged),
                system::capture_table(&judged)
            );
            Ok(())
        }
        Command::Rules { data } => rules::report(&data.captures, data.benign.as_deref(), &data.windows),
        Command::Dataset { data, out } => {
            let (rows, _) = all_rows(&data)?;
            let mut file = std::io::BufWriter::new(std::fs::File::create(&out)?);
            dataset::write_csv(&rows, &mut file)?;
            println!("{} rows to {}: {:?}", rows.len(), out.display(), per_label(&rows.iter().collect::<Vec<_>>()));
            Ok(())
        }
        Command::Train {
            data,
            validation_seed,
            rounds,
            max_depth,
            eta,
            balance,
            colsample,
            model,
            card,
            errors,
            skip_leave_out,
        } => {
            let (rows, replays) = all_rows(&data)?;
            let test_seed = data.test_seed;
            let test: Vec<&dataset::LabelledRow> = rows.iter().filter(|r| r.seed == test_seed).collect();
            let validation: Vec<&dataset::LabelledRow> = rows.iter().filter(|r| r.seed == validation_seed).collect();
            let training: Vec<&dataset::LabelledRow> =
                rows.iter().filter(|r| r.seed != test_seed && r.seed != validation_seed).collect();
            anyhow::ensure!(
                !test.is_empty() && !validation.is_empty() && !training.is_empty(),
                "need captures of seed {test_seed} (test), {validation_seed} (validation) and others (training)"
            );
            let settings = train::Settings { rounds, max_depth, eta, seed: 7, early_stopping: 20, balance, colsample };
            let json = train::train(&training, &validation, &settings)?;
            let parsed = traffic_core::model::Model::from_json(&json)?;
            let evaluation = evaluate::evaluate(&parsed, &test, 0.8)?;
            // What settings are chosen by: the validation captures (the test ones stay unseen).
            let checked = evaluate::evaluate(&parsed, &validation, 0.8)?;
            println!("validation (seed {validation_seed}):\n{}", checked.markdown());
            std::fs::write(&model, &json)?;
            let judged: Vec<system::Judged> =
                replays.iter().map(|r| system::judge(&parsed, r, &data.windows, data.top_k, 0.8)).collect();
            let held_out = if skip_leave_out {
                None
            } else {
                let results = generalization::leave_each_out(
                    &rows,
                    &replays,
                    (validation_seed, test_seed),
                    &settings,
                    (&data.windows, data.top_k, 0.8),
                )?;
                let (totals, false_alerts) = generalization::validation_totals(&results);
                println!(
                    "variants left out, on their validation captures: {} of {} detected, {} alerts of a wrong \
                     class, {false_alerts} false alerts",
                    totals.detected, totals.captures, totals.wrong_class
                );
                Some(results)
            };
            let text = card::model_card(&card::CardInput {
                model: &parsed,
                training: per_label(&training),
                validation: per_label(&validation),
                test: per_label(&test),
                captures: rows.iter().map(|r| (r.scenario.clone(), r.seed)).collect(),
                windows: &data.windows,
                validation_seed,
                test_seed,
                evaluation: &evaluation,
                judged: &judged,
                held_out: held_out.as_deref(),
            });
            std::fs::write(&card, text)?;
            if let Some(path) = errors {
                let mut csv =
                    String::from("capture,window_seconds,window_start,scope,host,label,predicted,confidence\n");
                for e in &evaluation.errors {
                    csv.push_str(&format!(
                        "{},{},{},{},{},{},{},{}\n",
                        e.capture,
                        e.window_seconds,
                        e.window_start,
                        e.scope,
                        e.host,
                        e.truth,
                        e.predicted,
                        e.confidence
                    ));
                }
                std::fs::write(path, csv)?;
            }
            println!("{}", evaluation.markdown());
            println!("model: {} ({} trees), card: {}", model.display(), parsed.num_trees(), card.display());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `trainer fixtures` by default writes the captures the detection test replays, no more, no
    /// fewer.
    #[test]
    fn the_default_fixtures_are_the_ones_in_tests_captures() {
        let Command::Fixtures { mut scenarios, seed, .. } = Cli::parse_from(["trainer", "fixtures"]).command else {
            panic!("fixtures parses");
        };
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/captures");
        let suffix = format!("-{seed}.pcap.gz");
        let mut present: Vec<String> = std::fs::read_dir(&dir)
            .expect("tests/captures")
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(&suffix).map(String::from))
            .collect();
        scenarios.sort();
        present.sort();
        assert_eq!(scenarios, present);
    }
}
