//! `trainer dataset`: labelled captures (scripts/make_captures.sh) plus real benign captures laid
//! under them, turned into labelled window rows by the production parser and feature code.

mod dataset;
mod labels;

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Training data for the traffic analyzer's model")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Labelled window rows of every capture in a directory, as CSV.
    Dataset {
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
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Dataset { captures, benign, windows, top_k, out } => {
            let mut backgrounds = Vec::new();
            if let Some(dir) = benign {
                let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
                    .collect();
                files.sort();
                for file in files {
                    backgrounds.push(dataset::read_packets(&[file])?);
                }
            }
            let mut rows = Vec::new();
            for (i, (capture, labels)) in dataset::labelled_captures(&captures)?.into_iter().enumerate() {
                let background = if backgrounds.is_empty() { &[][..] } else { &backgrounds[i % backgrounds.len()][..] };
                rows.extend(dataset::capture_rows(&capture, &labels, background, &windows, top_k)?);
            }
            let mut file = std::io::BufWriter::new(std::fs::File::create(&out)?);
            dataset::write_csv(&rows, &mut file)?;
            let mut per_label: BTreeMap<&str, usize> = BTreeMap::new();
            for r in &rows {
                *per_label.entry(r.label.as_str()).or_default() += 1;
            }
            println!("{} rows to {}: {per_label:?}", rows.len(), out.display());
            Ok(())
        }
    }
}
