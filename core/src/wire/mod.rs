//! Decoding a batch of packets as sensors post it: a JSON array (the original API) or NDJSON.
//!
//! Errors say where: the byte position of a syntax error, or the packet index and field of a
//! value that is wrong. A batch decodes whole or not at all.

use std::io::BufRead;

use serde_path_to_error::Segment;

mod array;

use array::{ArrayElements, Framing};

use crate::packet::{Limits, Packet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `[{...}, {...}]`, as the original sender posts.
    JsonArray,
    /// One JSON object per line.
    Ndjson,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The body is not well-formed JSON.
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    Malformed { line: usize, column: usize, message: String },
    /// A packet (or the batch's shape) is not acceptable.
    #[error("packet {}: {message}", index.map_or("-".to_string(), |i| i.to_string()))]
    Invalid {
        /// Position of the packet in the batch, when the error is about one packet.
        index: Option<usize>,
        /// The offending field, when known.
        field: Option<String>,
        message: String,
    },
    /// Decoding stopped at the first packet past the limit: the rest was never read.
    #[error("batch holds more than the limit of {max} packets")]
    TooManyPackets { max: usize },
}

/// Why a streamed batch stopped: its content, or the reader under it (a body that broke off,
/// went past a byte limit, or is not valid gzip; the reader's own error says which).
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error("reading the batch: {0}")]
    Io(#[from] std::io::Error),
}

/// Decodes and validates a whole batch held in memory.
pub fn decode_batch(
    body: &[u8],
    format: Format,
    limits: &Limits,
    max_packets: usize,
) -> Result<Vec<Packet>, BatchError> {
    let mut packets = Vec::new();
    match decode_stream(body, format, limits, max_packets, &mut |p| packets.push(p)) {
        Ok(_) => Ok(packets),
        Err(StreamError::Batch(e)) => Err(e),
        // A slice cannot fail to read; serde_json reports a cut-off body as a syntax error.
        Err(StreamError::Io(e)) => Err(BatchError::Malformed { line: 0, column: 0, message: e.to_string() }),
    }
}

/// Decodes a batch as it is read, handing each packet to `sink` once it is decoded and valid, so
/// memory holds one packet at a time whatever the body's size: decoding stops at the first
/// error, or at the first packet past `max_packets` (the rest is never read). Returns how many
/// packets went to `sink`. A batch is all or nothing: the caller keeps what `sink` got until
/// this returns Ok.
pub fn decode_stream<R: BufRead>(
    reader: R,
    format: Format,
    limits: &Limits,
    max_packets: usize,
    sink: &mut dyn FnMut(Packet),
) -> Result<usize, StreamError> {
    let mut accept = |index: usize, packet: Packet| -> Result<(), BatchError> {
        if index >= max_packets {
            return Err(BatchError::TooManyPackets { max: max_packets });
        }
        packet.validate(limits).map_err(|e| BatchError::Invalid {
            index: Some(index),
            field: Some(e.field.to_string()),
            message: e.message,
        })?;
        sink(packet);
        Ok(())
    };
    match format {
        Format::JsonArray => stream_array(reader, &mut accept),
        Format::Ndjson => stream_ndjson(reader, &mut accept),
    }
}

type Accept<'a> = dyn FnMut(usize, Packet) -> Result<(), BatchError> + 'a;

/// A JSON array read element by element (see [`array`]); each element is decoded from memory,
/// with its path tracked only when it turns out wrong.
fn stream_array<R: BufRead>(reader: R, accept: &mut Accept<'_>) -> Result<usize, StreamError> {
    let mut elements = ArrayElements::new(reader);
    let mut index = 0;
    loop {
        let (bytes, start) = match elements.next_element() {
            Ok(Some(element)) => element,
            Ok(None) => return Ok(index),
            Err(Framing::Io(e)) => return Err(StreamError::Io(e)),
            Err(Framing::Syntax(at, message)) => {
                return Err(BatchError::Malformed { line: at.line, column: at.column, message: message.into() }.into())
            }
            Err(Framing::NotAnArray) => {
                return Err(BatchError::Invalid { index: None, field: None, message: NOT_AN_ARRAY.into() }.into())
            }
        };
        let packet = match decode_tracked::<Packet>(bytes) {
            Ok(packet) => packet,
            Err(Failure::Syntax(e)) => {
                // serde_json counts from the element's start; the body's position is wanted.
                let (line, column) = if e.line() <= 1 {
                    (start.line, start.column + e.column().saturating_sub(1))
                } else {
                    (start.line + e.line() - 1, e.column())
                };
                return Err(BatchError::Malformed { line, column, message: strip_position(&e) }.into());
            }
            Err(Failure::Data(e, path)) => return Err(invalid_at(path.as_ref(), Some(index), &e).into()),
        };
        accept(index, packet)?;
        index += 1;
    }
}

const NOT_AN_ARRAY: &str =
    "expected a JSON array of packet objects (or NDJSON with Content-Type: application/x-ndjson)";

/// One JSON object per line; blank lines are skipped. A line is read whole (bounded by the
/// reader's own byte limit), then decoded from memory.
fn stream_ndjson<R: BufRead>(mut reader: R, accept: &mut Accept<'_>) -> Result<usize, StreamError> {
    let mut line = Vec::new();
    let mut index = 0;
    for line_no in 1.. {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let packet = match decode_tracked::<Packet>(&line) {
            Ok(packet) => packet,
            Err(Failure::Syntax(e)) => return Err(malformed(&e, Some(line_no)).into()),
            Err(Failure::Data(e, path)) => return Err(invalid_at(path.as_ref(), Some(index), &e).into()),
        };
        accept(index, packet)?;
        index += 1;
    }
    Ok(index)
}

enum Failure {
    Syntax(serde_json::Error),
    Data(serde_json::Error, Option<serde_path_to_error::Path>),
}

/// Decodes without path tracking (fast); on a data error decodes again to learn where it is.
fn decode_tracked<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Failure> {
    match serde_json::from_slice::<T>(bytes) {
        Ok(value) => Ok(value),
        Err(e) if !e.is_data() => Err(Failure::Syntax(e)),
        Err(e) => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            match serde_path_to_error::deserialize::<_, T>(&mut de) {
                Ok(_) => Err(Failure::Data(e, None)),
                Err(tracked) => {
                    let path = tracked.path().clone();
                    Err(Failure::Data(tracked.into_inner(), Some(path)))
                }
            }
        }
    }
}

/// `line` overrides the error's own line (NDJSON decodes one line at a time).
fn malformed(e: &serde_json::Error, line: Option<usize>) -> BatchError {
    BatchError::Malformed { line: line.unwrap_or(e.line()), column: e.column(), message: strip_position(e) }
}

/// serde_json appends " at line L column C" to messages; positions are reported separately.
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(pos) => text[..pos].to_string(),
        None => text,
    }
}

/// Turns a decode error at `path` into an error naming the packet index and field.
fn invalid_at(path: Option<&serde_path_to_error::Path>, index: Option<usize>, e: &serde_json::Error) -> BatchError {
    let mut index = index;
    let mut field = None;
    for segment in path.iter().flat_map(|p| p.iter()) {
        match segment {
            Segment::Seq { index: i } if index.is_none() => index = Some(*i),
            Segment::Map { key } if field.is_none() => field = Some(key.clone()),
            _ => {}
        }
    }
    let message = strip_position(e);
    // A missing field is reported at the packet, with the field only in the message.
    if field.is_none() {
        if let Some(name) = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
            field = Some(name.to_string());
        }
    }
    let message = match message.as_str() {
        m if m.starts_with("invalid type: map, expected a sequence") => NOT_AN_ARRAY.to_string(),
        _ => message,
    };
    BatchError::Invalid { index, field, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_timestamp: 1_800_000_000.0 };

    fn decode(body: &str) -> Result<Vec<Packet>, BatchError> {
        decode_batch(body.as_bytes(), Format::JsonArray, &LIMITS, 1000)
    }

    fn invalid(err: BatchError) -> (Option<usize>, Option<String>, String) {
        match err {
            BatchError::Invalid { index, field, message } => (index, field, message),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    const GOOD: &str = r#"{"timestamp": 1701234567.123, "interface": "test", "src_ip": "192.168.1.1", "dst_ip": "8.8.8.8", "protocol": "TCP", "length": 60}"#;

    #[test]
    fn decodes_array_and_ndjson_alike() {
        let array = decode(&format!("[{GOOD},{GOOD}]")).unwrap();
        let ndjson = decode_batch(format!("{GOOD}\n\n{GOOD}\n").as_bytes(), Format::Ndjson, &LIMITS, 1000).unwrap();
        assert_eq!(array.len(), 2);
        assert_eq!(array, ndjson);
        assert!(decode("[]").unwrap().is_empty());
    }

    #[test]
    fn names_index_and_field_of_wrong_types() {
        let body = format!(r#"[{GOOD}, {{"timestamp": 1701234567, "interface": "x", "length": "sixty"}}]"#);
        let (index, field, message) = invalid(decode(&body).unwrap_err());
        assert_eq!((index, field.as_deref()), (Some(1), Some("length")));
        assert!(message.contains("invalid type"), "{message}");
    }

    #[test]
    fn names_missing_fields_invalid_ips_and_negative_lengths() {
        let missing = invalid(decode(r#"[{"timestamp": 1701234567, "length": 1}]"#).unwrap_err());
        assert_eq!((missing.0, missing.1.as_deref()), (Some(0), Some("interface")));

        let bad_ip = invalid(
            decode(&format!(
                r#"[{GOOD},{GOOD},{{"timestamp": 1701234567, "interface": "x", "length": 1, "src_ip": "10.0.0.300"}}]"#
            ))
            .unwrap_err(),
        );
        assert_eq!((bad_ip.0, bad_ip.1.as_deref()), (Some(2), Some("src_ip")));

        let negative = invalid(decode(r#"[{"timestamp": 1701234567, "interface": "x", "length": -5}]"#).unwrap_err());
        assert_eq!(negative.1.as_deref(), Some("length"));
    }

    #[test]
    fn validation_errors_carry_the_index() {
        let body = format!(r#"[{GOOD}, {{"timestamp": 1.0, "interface": "x", "length": 1}}]"#);
        let (index, field, _) = invalid(decode(&body).unwrap_err());
        assert_eq!((index, field.as_deref()), (Some(1), Some("timestamp")));
    }

    #[test]
    fn malformed_json_is_not_a_validation_error() {
        for body in ["[{", "not json", "[NaN]", r#"[{"timestamp": NaN, "interface": "x", "length": 1}]"#, ""] {
            assert!(matches!(decode(body), Err(BatchError::Malformed { .. })), "{body}");
        }
        let ndjson = decode_batch(format!("{GOOD}\n{{oops\n").as_bytes(), Format::Ndjson, &LIMITS, 10);
        assert!(matches!(ndjson, Err(BatchError::Malformed { line: 2, .. })), "{ndjson:?}");
    }

    #[test]
    fn an_object_instead_of_an_array_is_explained() {
        let (index, _, message) = invalid(decode(GOOD).unwrap_err());
        assert_eq!(index, None);
        assert!(message.contains("JSON array"), "{message}");
    }

    #[test]
    fn enforces_packet_limit() {
        let body = format!("[{GOOD},{GOOD},{GOOD}]");
        assert_eq!(
            decode_batch(body.as_bytes(), Format::JsonArray, &LIMITS, 2),
            Err(BatchError::TooManyPackets { max: 2 })
        );
        let ndjson = format!("{GOOD}\n{GOOD}\n{GOOD}\n");
        assert_eq!(
            decode_batch(ndjson.as_bytes(), Format::Ndjson, &LIMITS, 2),
            Err(BatchError::TooManyPackets { max: 2 })
        );
    }
}
