//! A durable on-disk queue of batches waiting for the front: one file per batch, written to a
//! temporary name, synced, then renamed, so a crash leaves whole batches or nothing. Bounded in
//! bytes: past the bound the oldest batches are dropped (and counted).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// A batch ready to send: gzip-compressed NDJSON, with the id the front deduplicates on.
#[derive(Debug, Clone)]
pub struct Batch {
    pub id: String,
    pub packets: u64,
    pub body: Vec<u8>,
}

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    next_seq: u64,
    /// Queued files, oldest first, with their sizes and packet counts.
    queue: std::collections::VecDeque<(PathBuf, u64, u64)>,
    bytes: u64,
    /// Packets dropped because the spool was full.
    pub dropped_packets: u64,
}

impl Spool {
    /// Opens the spool directory, picking up batches a previous run left behind.
    pub fn open(dir: &Path, max_bytes: u64) -> anyhow::Result<Spool> {
        fs::create_dir_all(dir).with_context(|| format!("creating spool directory {}", dir.display()))?;
        let mut files: Vec<(u64, PathBuf, u64, u64)> = Vec::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.ends_with(".tmp") {
                // An interrupted write: the batch was never acknowledged as spooled.
                let _ = fs::remove_file(&path);
                continue;
            }
            if let Some((seq, packets, _)) = parse_name(&name) {
                files.push((seq, path.clone(), fs::metadata(&path)?.len(), packets));
            }
        }
        files.sort();
        let next_seq = files.last().map_or(0, |f| f.0 + 1);
        let bytes = files.iter().map(|f| f.2).sum();
        let queue = files.into_iter().map(|(_, path, size, packets)| (path, size, packets)).collect();
        Ok(Spool { dir: dir.to_path_buf(), max_bytes, next_seq, queue, bytes, dropped_packets: 0 })
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Packets waiting in the spool.
    pub fn packets(&self) -> u64 {
        self.queue.iter().map(|q| q.2).sum()
    }

    /// Appends a batch durably, dropping the oldest batches if the bound is exceeded.
    pub fn push(&mut self, batch: &Batch) -> anyhow::Result<()> {
        let name = format!("{:020}-{}-{}.ndjson.gz", self.next_seq, batch.packets, encode_id(&batch.id));
        self.next_seq += 1;
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let mut file = fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        file.write_all(&batch.body)?;
        file.sync_all()?;
        fs::rename(&tmp, &path)?;
        if let Ok(dir) = fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        let size = batch.body.len() as u64;
        self.queue.push_back((path, size, batch.packets));
        self.bytes += size;
        while self.bytes > self.max_bytes && self.queue.len() > 1 {
            if let Some((old, old_size, old_packets)) = self.queue.pop_front() {
                let _ = fs::remove_file(&old);
                self.bytes -= old_size;
                self.dropped_packets += old_packets;
                tracing::warn!(packets = old_packets, "spool full: dropped the oldest batch");
            }
        }
        Ok(())
    }

    /// The oldest batch, without removing it.
    pub fn peek(&self) -> anyhow::Result<Option<Batch>> {
        let Some((path, _, packets)) = self.queue.front() else { return Ok(None) };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let id = parse_name(&name).map(|(_, _, id)| id).unwrap_or(name);
        let body = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Some(Batch { id, packets: *packets, body }))
    }

    /// Removes the oldest batch (after the front acknowledged it).
    pub fn pop(&mut self) -> anyhow::Result<()> {
        if let Some((path, size, _)) = self.queue.pop_front() {
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            self.bytes -= size;
        }
        Ok(())
    }
}

/// Batch ids go into file names: keep them to safe characters, reversibly.
fn encode_id(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("-{b:02x}")
            }
        })
        .collect()
}

fn decode_id(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'-' {
            out.push(u8::from_str_radix(encoded.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `<seq>-<packets>-<encoded id>.ndjson.gz` → (seq, packets, id).
fn parse_name(name: &str) -> Option<(u64, u64, String)> {
    let stem = name.strip_suffix(".ndjson.gz")?;
    let (seq, rest) = stem.split_once('-')?;
    let (packets, id) = rest.split_once('-')?;
    Some((seq.parse().ok()?, packets.parse().ok()?, decode_id(id)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(id: &str, size: usize) -> Batch {
        Batch { id: id.into(), packets: 10, body: vec![7; size] }
    }

    #[test]
    fn survives_reopening_in_order() {
        let dir = std::env::temp_dir().join(format!("spool-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut spool = Spool::open(&dir, 1 << 20).unwrap();
        spool.push(&batch("edge-1/run-a/0", 100)).unwrap();
        spool.push(&batch("edge-1/run-a/1", 100)).unwrap();
        fs::write(dir.join("00000000000000000009-1-x.ndjson.gz.tmp"), b"partial").unwrap();
        drop(spool);

        let mut spool = Spool::open(&dir, 1 << 20).unwrap();
        assert_eq!(spool.packets(), 20);
        assert_eq!(spool.peek().unwrap().unwrap().id, "edge-1/run-a/0");
        spool.pop().unwrap();
        spool.push(&batch("edge-1/run-b/0", 100)).unwrap();
        assert_eq!(spool.peek().unwrap().unwrap().id, "edge-1/run-a/1");
        spool.pop().unwrap();
        assert_eq!(spool.peek().unwrap().unwrap().id, "edge-1/run-b/0");
        spool.pop().unwrap();
        assert!(spool.is_empty());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0, "temporary files cleaned, sent batches removed");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn drops_oldest_beyond_the_bound() {
        let dir = std::env::temp_dir().join(format!("spool-bound-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut spool = Spool::open(&dir, 250).unwrap();
        for i in 0..5 {
            spool.push(&batch(&format!("b{i}"), 100)).unwrap();
        }
        assert_eq!(spool.dropped_packets, 30);
        assert_eq!(spool.peek().unwrap().unwrap().id, "b3");
        let _ = fs::remove_dir_all(&dir);
    }
}
