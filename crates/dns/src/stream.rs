//! DNS over TCP: messages put back together from the segments of each
//! direction of each connection, on each interface.
//!
//! A DNS message over TCP is a 2-byte length and the message (RFC 1035
//! 4.2.2, RFC 7766). A stream is followed from its SYN (or SYN-ACK), whose
//! sequence number says where the first length starts; bytes are taken in
//! order, so a message split over segments is rebuilt and several in one
//! segment are all found. What cannot be followed is reported, never
//! guessed at: a stream whose start was not seen, a gap (a segment the
//! capture lost, or reordering), a segment cut at the capture's 2 KiB, a
//! connection that closes inside a message. Such a stream is dropped until
//! its next SYN. Retransmitted bytes already taken are skipped.
//!
//! Memory is bounded: at most [`MAX_STREAMS`] streams, each holding at most
//! one message of up to [`MAX_MESSAGE`] bytes. A longer message (a zone
//! transfer, say) is counted as cut and its bytes passed over, and the
//! stream goes on with the next one.

use std::net::SocketAddr;

use foldhash::HashMap;

use crate::Skipped;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;

/// The most streams followed at once.
pub(crate) const MAX_STREAMS: usize = 1024;
/// The longest message put back together: more than any answer to the
/// queries flows show (A, AAAA, CNAME chains), less than a zone transfer.
pub(crate) const MAX_MESSAGE: usize = 16 * 1024;
/// A stream silent this long may be forgotten to make room.
const IDLE_NS: u64 = 60 * 1_000_000_000;

/// One direction of a connection, as one interface sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct StreamKey {
    pub(crate) interface: u32,
    pub(crate) source: SocketAddr,
    pub(crate) destination: SocketAddr,
}

#[derive(Debug)]
struct Stream {
    /// The sequence number of the next byte to take.
    next_seq: u32,
    /// Bytes taken that do not yet make a whole message (length included).
    pending: Vec<u8>,
    /// Bytes still to pass over: the rest of a message longer than [`MAX_MESSAGE`].
    passing_over: usize,
    last_ns: u64,
}

/// The TCP segment of a packet on a DNS port.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segment<'a> {
    pub(crate) seq: u32,
    pub(crate) flags: u8,
    pub(crate) payload: &'a [u8],
    pub(crate) cut: bool,
}

/// The streams being followed.
#[derive(Debug, Default)]
pub(crate) struct Streams {
    streams: HashMap<StreamKey, Stream>,
}

impl Streams {
    /// Takes one segment; returns the messages it completes, and why
    /// something could not be read.
    pub(crate) fn take(
        &mut self,
        key: StreamKey,
        segment: Segment<'_>,
        now_ns: u64,
    ) -> (Vec<Vec<u8>>, Option<Skipped>) {
        let mut messages = Vec::new();
        if segment.flags & SYN != 0 && !self.open(key, segment.seq.wrapping_add(1), now_ns) {
            return (messages, Some(Skipped::TcpTooManyStreams));
        }
        let Some(stream) = self.streams.get_mut(&key) else {
            let unknown = !segment.payload.is_empty();
            return (messages, unknown.then_some(Skipped::TcpStartNotSeen));
        };
        stream.last_ns = now_ns;
        let mut skipped = None;
        if !segment.payload.is_empty() {
            match stream.append(segment, &mut messages) {
                Ok(passed_over) => skipped = passed_over,
                Err(lost) => {
                    self.streams.remove(&key);
                    return (messages, Some(lost));
                }
            }
        }
        if segment.flags & (FIN | RST) != 0
            && let Some(stream) = self.streams.remove(&key)
            && !stream.pending.is_empty()
        {
            skipped = Some(Skipped::TcpClosedInsideMessage);
        }
        (messages, skipped)
    }

    /// Starts following `key` at `next_seq`; false when there is no room.
    fn open(&mut self, key: StreamKey, next_seq: u32, now_ns: u64) -> bool {
        if self.streams.len() >= MAX_STREAMS && !self.streams.contains_key(&key) {
            self.streams.retain(|_, stream| now_ns.saturating_sub(stream.last_ns) < IDLE_NS);
            if self.streams.len() >= MAX_STREAMS {
                return false;
            }
        }
        self.streams.insert(key, Stream { next_seq, pending: Vec::new(), passing_over: 0, last_ns: now_ns });
        true
    }
}

impl Stream {
    /// Takes the segment's new bytes and moves every whole message into
    /// `messages`. `Ok(Some(Cut))` when a message too long to keep was
    /// passed over; `Err` says why the stream cannot go on.
    fn append(&mut self, segment: Segment<'_>, messages: &mut Vec<Vec<u8>>) -> Result<Option<Skipped>, Skipped> {
        // Serial number arithmetic: ahead or behind by less than 2^31.
        let ahead = segment.seq.wrapping_sub(self.next_seq) as i32;
        if ahead > 0 {
            return Err(Skipped::TcpGap);
        }
        let already = ahead.unsigned_abs() as usize;
        if already >= segment.payload.len() {
            return Ok(None); // a retransmission of bytes already taken
        }
        if segment.cut {
            return Err(Skipped::Cut);
        }
        let mut new = &segment.payload[already..];
        self.next_seq = self.next_seq.wrapping_add(new.len() as u32);
        let passed = self.passing_over.min(new.len());
        self.passing_over -= passed;
        new = &new[passed..];
        self.pending.extend_from_slice(new);

        let mut passed_over = None;
        let mut start = 0;
        while let [high, low, ..] = self.pending[start..] {
            let len = usize::from(u16::from_be_bytes([high, low]));
            let end = start + 2 + len;
            if len > MAX_MESSAGE {
                passed_over = Some(Skipped::Cut);
                self.passing_over = end.saturating_sub(self.pending.len());
                start = end.min(self.pending.len());
                continue;
            }
            if end > self.pending.len() {
                break;
            }
            messages.push(self.pending[start + 2..end].to_vec());
            start = end;
        }
        self.pending.drain(..start);
        Ok(passed_over)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StreamKey {
        StreamKey {
            interface: 3,
            source: "10.0.0.1:53".parse().unwrap(),
            destination: "10.0.0.2:40000".parse().unwrap(),
        }
    }

    fn data(seq: u32, payload: &[u8]) -> Segment<'_> {
        Segment { seq, flags: 0x18, payload, cut: false }
    }

    fn framed(message: &[u8]) -> Vec<u8> {
        let mut bytes = (message.len() as u16).to_be_bytes().to_vec();
        bytes.extend_from_slice(message);
        bytes
    }

    #[test]
    fn messages_split_and_joined_across_segments() {
        let mut streams = Streams::default();
        let syn = Segment { seq: u32::MAX - 2, flags: SYN, payload: &[], cut: false };
        assert_eq!(streams.take(key(), syn, 0), (vec![], None));
        let mut bytes = framed(b"first");
        bytes.extend(framed(b"second"));
        bytes.extend(framed(b"third"));
        // Across the sequence number's wrap: the first byte is at 2^32 - 1.
        let (head, tail) = bytes.split_at(9);
        assert_eq!(streams.take(key(), data(u32::MAX - 1, head), 1), (vec![b"first".to_vec()], None));
        // A retransmission of the first segment changes nothing.
        assert_eq!(streams.take(key(), data(u32::MAX - 1, head), 2), (vec![], None));
        let seq = (u32::MAX - 1).wrapping_add(9);
        assert_eq!(streams.take(key(), data(seq, tail), 3), (vec![b"second".to_vec(), b"third".to_vec()], None));
    }

    #[test]
    fn a_message_too_long_to_keep_is_passed_over() {
        let mut streams = Streams::default();
        streams.take(key(), Segment { seq: 0, flags: SYN, payload: &[], cut: false }, 0);
        let mut bytes = framed(&vec![7; MAX_MESSAGE + 1]);
        bytes.extend(framed(b"next"));
        let mut seq = 1;
        let mut taken = Vec::new();
        let mut skipped = Vec::new();
        for chunk in bytes.chunks(1460) {
            let (messages, skip) = streams.take(key(), data(seq, chunk), 0);
            taken.extend(messages);
            skipped.extend(skip);
            seq += chunk.len() as u32;
            assert!(streams.streams[&key()].pending.len() <= MAX_MESSAGE + 2);
        }
        assert_eq!(taken, vec![b"next".to_vec()]);
        assert_eq!(skipped, vec![Skipped::Cut]);
    }

    #[test]
    fn what_cannot_be_followed_is_reported() {
        let mut streams = Streams::default();
        assert_eq!(streams.take(key(), data(100, b"\x00\x05hello"), 0).1, Some(Skipped::TcpStartNotSeen));
        streams.take(key(), Segment { seq: 99, flags: SYN, payload: &[], cut: false }, 0);
        assert_eq!(streams.take(key(), data(110, b"\x00\x05hello"), 0).1, Some(Skipped::TcpGap));
        assert_eq!(streams.take(key(), data(100, b"\x00\x05hello"), 0).1, Some(Skipped::TcpStartNotSeen), "dropped");

        streams.take(key(), Segment { seq: 99, flags: SYN, payload: &[], cut: false }, 0);
        let cut = Segment { seq: 100, flags: 0x18, payload: b"\x10\x00abc", cut: true };
        assert_eq!(streams.take(key(), cut, 0).1, Some(Skipped::Cut));

        streams.take(key(), Segment { seq: 99, flags: SYN, payload: &[], cut: false }, 0);
        streams.take(key(), data(100, b"\x00\x09hel"), 0);
        let fin = Segment { seq: 105, flags: FIN, payload: &[], cut: false };
        assert_eq!(streams.take(key(), fin, 0).1, Some(Skipped::TcpClosedInsideMessage));
    }
}
