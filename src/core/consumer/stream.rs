//! A consumer's outgoing streams: the sequence rewriter that keeps numbering continuous across
//! jumps, the retransmission buffer answering NACKs, and the per-stream state and counters.
//! Owns nothing but these; the consumer decides what goes through them.

use crate::core::rtp::{Score, TrafficCounter};
use std::time::{Duration, Instant};

/// Output sequence numbering that stays continuous when the input jumps (pause/resume,
/// stream switch): after `resync`, the next input sequence maps to last output + 1.
#[derive(Debug, Default)]
pub struct SeqRewriter {
    offset: u16,
    last_out: u16,
    /// The newest input sequence number seen (forwarded or dropped).
    last_in: u16,
    started: bool,
    resync: bool,
}

impl SeqRewriter {
    pub fn request_resync(&mut self) {
        self.resync = true;
    }

    pub fn rewrite(&mut self, seq: u16) -> u16 {
        if !self.started {
            self.started = true;
            self.offset = 0;
            self.resync = false;
            self.last_out = seq;
            self.last_in = seq;
            return seq;
        }
        if self.resync {
            self.resync = false;
            self.offset = self.last_out.wrapping_add(1).wrapping_sub(seq);
            self.last_in = seq;
        }
        let out = seq.wrapping_add(self.offset);
        if (out.wrapping_sub(self.last_out) as i16) > 0 {
            self.last_out = out;
        }
        if (seq.wrapping_sub(self.last_in) as i16) > 0 {
            self.last_in = seq;
        }
        out
    }

    /// Input `seq` is not forwarded (a dropped temporal layer): the packets after it go out
    /// one lower, so the receiver sees no gap. A late packet older than the newest one seen is
    /// left alone (its number was never taken).
    pub fn drop(&mut self, seq: u16) {
        if self.started && !self.resync && (seq.wrapping_sub(self.last_in) as i16) > 0 {
            self.last_in = seq;
            self.offset = self.offset.wrapping_sub(1);
        }
    }
}

struct Stored {
    seq: u16,
    /// None: the slot holds nothing yet.
    sent_at: Option<Instant>,
    /// When it was last retransmitted.
    resent_at: Option<Instant>,
    data: Vec<u8>,
}

/// Sent packets, indexed by output sequence number modulo the ring size. The ring is allocated
/// at the first packet stored: a video consumer that never sends (a join storm, a paused
/// consumer) does not carry its `size` empty slots (600 × 64 bytes).
pub struct RetransmissionBuffer {
    slots: Vec<Stored>,
    size: usize,
    max_age: Duration,
}

impl RetransmissionBuffer {
    pub fn new(size: usize, max_age: Duration) -> Self {
        Self {
            slots: Vec::new(),
            size,
            max_age,
        }
    }

    pub fn store(&mut self, now: Instant, seq: u16, pkt: &[u8]) {
        if self.slots.is_empty() {
            if self.size == 0 {
                return;
            }
            self.slots = (0..self.size)
                .map(|_| Stored {
                    seq: 0,
                    sent_at: None,
                    resent_at: None,
                    data: Vec::new(),
                })
                .collect();
        }
        let n = self.slots.len();
        let s = &mut self.slots[seq as usize % n];
        s.seq = seq;
        s.sent_at = Some(now);
        s.resent_at = None;
        s.data.clear();
        s.data.extend_from_slice(pkt);
    }

    /// Whether `seq` may be retransmitted now: it is held and was not already retransmitted
    /// within `gap` (a NACK repeated before the first retransmission could arrive, or a
    /// receiver asking again and again across a congested path, is answered once per gap).
    /// Records the retransmission when it may, returning whether it is the packet's first
    /// (None: it may not).
    pub fn may_resend(&mut self, now: Instant, seq: u16, gap: Duration) -> Option<bool> {
        self.get(now, seq)?;
        let n = self.slots.len();
        let s = &mut self.slots[seq as usize % n];
        if s.resent_at.is_some_and(|t| now.duration_since(t) < gap) {
            return None;
        }
        let first = s.resent_at.is_none();
        s.resent_at = Some(now);
        Some(first)
    }

    pub fn get(&self, now: Instant, seq: u16) -> Option<&[u8]> {
        if self.slots.is_empty() {
            return None;
        }
        let s = &self.slots[seq as usize % self.slots.len()];
        (s.seq == seq
            && s.sent_at
                .is_some_and(|t| now.duration_since(t) <= self.max_age))
        .then_some(&s.data[..])
    }
}

/// One outgoing RTP stream of a consumer: a simple consumer has one, a pipe consumer one per
/// producer encoding.
pub struct OutStream {
    pub ssrc: u32,
    pub rtx_ssrc: Option<u32>,
    pub seq: SeqRewriter,
    pub sync_required: bool,
    pub keyframe_required: bool,
    pub(super) rtx_seq: u16,
    pub buffer: RetransmissionBuffer,
    pub sent: TrafficCounter,
    pub retransmitted: TrafficCounter,
    pub packets_lost: i32,
    pub fraction_lost: u8,
    pub rtt_ms: f64,
    pub score: Score,
    /// Packets retransmitted at least once (the first retransmission repairs a loss).
    pub repaired: u64,
    /// (sent, lost, repaired, retransmitted) at the last receiver report.
    pub(super) score_prior: (u64, u64, u64, u64),
    pub(super) last_ts: u32,
    pub(super) last_ts_at: Option<Instant>,
}

impl OutStream {
    pub fn new(ssrc: u32, rtx_ssrc: Option<u32>, video: bool) -> Self {
        Self {
            ssrc,
            rtx_ssrc,
            seq: SeqRewriter::default(),
            sync_required: true,
            keyframe_required: video,
            rtx_seq: 0,
            buffer: RetransmissionBuffer::new(
                if video { 600 } else { 0 },
                Duration::from_millis(2000),
            ),
            sent: TrafficCounter::default(),
            retransmitted: TrafficCounter::default(),
            packets_lost: 0,
            fraction_lost: 0,
            rtt_ms: 0.0,
            score: Score::new(10),
            repaired: 0,
            score_prior: (0, 0, 0, 0),
            last_ts: 0,
            last_ts_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_rewriter_continues_across_jumps() {
        let mut s = SeqRewriter::default();
        assert_eq!(s.rewrite(100), 100);
        assert_eq!(s.rewrite(101), 101);
        s.request_resync();
        assert_eq!(s.rewrite(5000), 102);
        assert_eq!(s.rewrite(5001), 103);
        // Reordered packet keeps its relative place.
        assert_eq!(s.rewrite(4999), 101);
        s.request_resync();
        assert_eq!(s.rewrite(65535), 104);
        assert_eq!(s.rewrite(0), 105);
        // Two dropped packets: no gap.
        s.drop(1);
        s.drop(2);
        assert_eq!(s.rewrite(3), 106);
        // A late dropped packet does not move the numbering.
        s.drop(1);
        assert_eq!(s.rewrite(4), 107);
    }

    #[test]
    fn retransmission_buffer_bounds() {
        let t0 = Instant::now();
        let mut b = RetransmissionBuffer::new(4, Duration::from_millis(100));
        for s in 0..6u16 {
            b.store(t0, s, &[s as u8]);
        }
        assert!(b.get(t0, 1).is_none(), "overwritten by 5");
        assert_eq!(b.get(t0, 5), Some(&[5u8][..]));
        assert!(
            b.get(t0 + Duration::from_millis(150), 5).is_none(),
            "too old"
        );
        let gap = Duration::from_millis(40);
        assert_eq!(b.may_resend(t0, 5, gap), Some(true));
        assert_eq!(b.may_resend(t0 + Duration::from_millis(20), 5, gap), None);
        assert_eq!(
            b.may_resend(t0 + Duration::from_millis(50), 5, gap),
            Some(false)
        );
        assert_eq!(b.may_resend(t0, 1, gap), None, "not held");
    }
}
