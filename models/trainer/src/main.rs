//! `trainer dataset`: labelled captures (scripts/make_captures.sh) plus real benign captures laid
//! under them, turned into labelled window rows by the production parser and feature code.

mod card;
mod dataset;
mod evaluate;
mod labels;
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
    /// Real benign captures; one (chosen by capture) is laid under each labelled capture.
    #[arg(long)]
    benign: Option<PathBuf>,
    /// Window sizes, seconds.
    #[arg(long = "window", default_values_t = [5u32, 30])]
    windows: Vec<u32>,
    #[arg(long, default_value_t = 10)]
    top_k: usize,
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
        #[arg(long, default_value_t = 3)]
        test_seed: u32,
        #[arg(long, default_value_t = 2)]
        validation_seed: u32,
        #[arg(long, default_value_t = 300)]
        rounds: u32,
        #[arg(long, default_value_t = 6)]
        max_depth: u32,
        #[arg(long, default_value_t = 0.1)]
        eta: f64,
        #[arg(long, default_value = "models/default.json")]
        model: PathBuf,
        #[arg(long, default_value = "models/MODEL_CARD.md")]
        card: PathBuf,
        /// Also write the misclassified test rows here (CSV), to see what the model gets wrong.
        #[arg(long)]
        errors: Option<PathBuf>,
    },
}

/// Every labelled row of the captures, each with a real benign capture laid under it.
fn all_rows(data: &Data) -> anyhow::Result<Vec<dataset::LabelledRow>> {
    let mut backgrounds = Vec::new();
    if let Some(dir) = &data.benign {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
            .collect();
        files.sort();
        for file in files {
            backgrounds.push(dataset::read_packets(&[file])?);
        }
    }
    let mut rows = Vec::new();
    for (i, (capture, labels)) in dataset::labelled_captures(&data.captures)?.into_iter().enumerate() {
        let background = if backgrounds.is_empty() { &[][..] } else { &backgrounds[i % backgrounds.len()][..] };
        rows.extend(dataset::capture_rows(&capture, &labels, background, &data.windows, data.top_k)?);
    }
    Ok(rows)
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
        Command::Dataset { data, out } => {
            let rows = all_rows(&data)?;
            let mut file = std::io::BufWriter::new(std::fs::File::create(&out)?);
            dataset::write_csv(&rows, &mut file)?;
            let mut per_label: BTreeMap<&str, usize> = BTreeMap::new();
            for r in &rows {
                *per_label.entry(r.label.as_str()).or_default() += 1;
            }
            println!("{} rows to {}: {per_label:?}", rows.len(), out.display());
            Ok(())
        }
        Command::Train { data, test_seed, validation_seed, rounds, max_depth, eta, model, card, errors } => {
            let rows = all_rows(&data)?;
            let test: Vec<&dataset::LabelledRow> = rows.iter().filter(|r| r.seed == test_seed).collect();
            let validation: Vec<&dataset::LabelledRow> = rows.iter().filter(|r| r.seed == validation_seed).collect();
            let training: Vec<&dataset::LabelledRow> =
                rows.iter().filter(|r| r.seed != test_seed && r.seed != validation_seed).collect();
            anyhow::ensure!(
                !test.is_empty() && !validation.is_empty() && !training.is_empty(),
                "need captures of seed {test_seed} (test), {validation_seed} (validation) and others (training)"
            );
            let settings = train::Settings { rounds, max_depth, eta, seed: 7, early_stopping: 20 };
            let json = train::train(&training, &validation, &settings)?;
            let parsed = traffic_core::model::Model::from_json(&json)?;
            let evaluation = evaluate::evaluate(&parsed, &test, 0.8)?;
            std::fs::write(&model, &json)?;
            let text = card::model_card(&card::CardInput {
                model: &parsed,
                training: per_label(&training),
                validation: per_label(&validation),
                test: per_label(&test),
                captures: rows.iter().map(|r| (r.scenario.clone(), r.seed)).collect(),
                windows: &data.windows,
                evaluation: &evaluation,
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
