//! Where frames come from: capture files (pcap or pcapng, several merged in timestamp order) or
//! a live interface through libpcap.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::parse::LinkType;

/// One captured frame, owned (the source's buffer is reused for the next one).
#[derive(Debug, Clone, Default)]
pub struct Frame {
    /// Seconds since the Unix epoch, microsecond or nanosecond precision as captured.
    pub timestamp: f64,
    pub wire_len: u32,
    pub data: Vec<u8>,
}

/// A problem with a whole capture file (unreadable, corrupt header, cut mid-record).
#[derive(Debug, Clone)]
pub struct FileError {
    pub path: PathBuf,
    pub message: String,
}

/// One open capture file with its next frame read ahead.
struct FileSource {
    path: PathBuf,
    capture: pcap::Capture<pcap::Offline>,
    link: LinkType,
    interface: String,
    head: Option<Frame>,
}

impl FileSource {
    fn open(path: &Path) -> anyhow::Result<FileSource> {
        let capture = pcap::Capture::from_file(path).with_context(|| format!("opening {}", path.display()))?;
        let linktype = capture.get_datalink().0;
        let link = LinkType::from_linktype(linktype)
            .with_context(|| format!("{}: link type {linktype} is not supported", path.display()))?;
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let interface: String = format!("file:{stem}").chars().take(64).collect();
        Ok(FileSource { path: path.to_path_buf(), capture, link, interface, head: None })
    }

    /// Reads the next frame into `head`; `Err` when the file turns out corrupt.
    fn advance(&mut self) -> Result<(), FileError> {
        match self.capture.next_packet() {
            Ok(packet) => {
                let header = packet.header;
                let frame = self.head.get_or_insert_with(Frame::default);
                frame.timestamp = header.ts.tv_sec as f64 + header.ts.tv_usec as f64 / 1e6;
                frame.wire_len = header.len;
                frame.data.clear();
                frame.data.extend_from_slice(packet.data);
                Ok(())
            }
            Err(pcap::Error::NoMorePackets) => {
                self.head = None;
                Ok(())
            }
            Err(e) => {
                self.head = None;
                Err(FileError { path: self.path.clone(), message: e.to_string() })
            }
        }
    }
}

/// Capture files replayed as one stream in timestamp order.
pub struct FileReplay {
    files: Vec<FileSource>,
    pub errors: Vec<FileError>,
}

/// A frame with the link type and interface name of the file it came from.
pub struct Sourced<'a> {
    pub frame: &'a Frame,
    pub link: LinkType,
    pub interface: &'a str,
}

impl FileReplay {
    /// Opens every file; files that cannot be opened are reported in `errors` and skipped.
    pub fn open(paths: &[PathBuf]) -> FileReplay {
        let mut replay = FileReplay { files: Vec::new(), errors: Vec::new() };
        for path in paths {
            match FileSource::open(path) {
                Ok(mut file) => {
                    if let Err(e) = file.advance() {
                        replay.errors.push(e);
                    }
                    replay.files.push(file);
                }
                Err(e) => replay.errors.push(FileError { path: path.clone(), message: format!("{e:#}") }),
            }
        }
        replay
    }

    /// Bytes of all files, for progress reporting.
    pub fn total_bytes(paths: &[PathBuf]) -> u64 {
        paths.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
    }

    /// Calls `visit` for each frame of all files, earliest timestamp first (files already in
    /// order stay in order; ties go to the file named first).
    pub fn for_each(&mut self, mut visit: impl FnMut(Sourced<'_>)) {
        loop {
            let next = self
                .files
                .iter()
                .enumerate()
                .filter_map(|(i, f)| f.head.as_ref().map(|h| (i, h.timestamp)))
                .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            let Some((index, _)) = next else { return };
            let file = &mut self.files[index];
            if let Some(frame) = &file.head {
                visit(Sourced { frame, link: file.link, interface: &file.interface });
            }
            if let Err(e) = file.advance() {
                self.errors.push(e);
            }
        }
    }
}

/// Every packet of the files, parsed as the sensor parses them, in capture-time order (for
/// tools and tests that need a capture's packets without shipping them).
pub fn read_packets(paths: &[PathBuf]) -> anyhow::Result<Vec<traffic_core::Packet>> {
    let mut replay = FileReplay::open(paths);
    let mut stats = crate::parse::ParseStats::default();
    let mut packets = Vec::new();
    replay.for_each(|s| {
        packets.push(crate::parse::parse_frame(
            s.link,
            &s.frame.data,
            s.frame.wire_len,
            s.frame.timestamp,
            s.interface,
            &mut stats,
        ));
    });
    if let Some(e) = replay.errors.first() {
        anyhow::bail!("{}: {}", e.path.display(), e.message);
    }
    packets.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
    Ok(packets)
}
