//! Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-
//! extensions-01): the receiver's side. Arrival times of packets carrying the transport-wide
//! sequence number go back to the sender every 100 ms, so its send-side bandwidth estimator
//! (a browser's GoogCC) can grow its bitrate instead of staying at its start value.

use crate::core::rtp::packet::SeqExtender;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// At most this many packets per feedback (older ones are reported as lost and dropped).
const MAX_STATUS: u64 = 2000;

#[derive(Default)]
pub struct TccReceiver {
    seq: SeqExtender,
    arrivals: BTreeMap<u64, Instant>,
    next_base: Option<u64>,
    fb_count: u8,
    pub media_ssrc: u32,
}

impl TccReceiver {
    pub fn record(&mut self, now: Instant, wide_seq: u16, media_ssrc: u32) {
        let s = self.seq.extend(wide_seq);
        if self.next_base.is_some_and(|b| s < b) {
            return; // already reported
        }
        self.arrivals.insert(s, now);
        self.media_ssrc = media_ssrc;
    }

    pub fn has_pending(&self) -> bool {
        !self.arrivals.is_empty()
    }

    /// Builds one feedback packet (RTPFB, FMT 15) for everything received since the last one.
    /// `epoch` is the time origin of the reference time (any fixed instant).
    pub fn build(&mut self, sender_ssrc: u32, epoch: Instant, out: &mut Vec<u8>) -> bool {
        let (Some(&first), Some(&last)) = (
            self.arrivals.keys().next(),
            self.arrivals.keys().next_back(),
        ) else {
            return false;
        };
        let mut base = self.next_base.unwrap_or(first).min(first);
        if last - base + 1 > MAX_STATUS {
            base = last + 1 - MAX_STATUS;
            self.arrivals.retain(|s, _| *s >= base);
        }
        let first_arrival = self.arrivals.values().min().copied().unwrap_or(epoch);
        let ref_64ms = (first_arrival.saturating_duration_since(epoch).as_millis() / 64) as i64;
        let mut prev = epoch + Duration::from_millis(ref_64ms as u64 * 64);
        let mut symbols = Vec::with_capacity((last - base + 1) as usize);
        let mut deltas: Vec<u8> = Vec::new();
        for s in base..=last {
            match self.arrivals.get(&s) {
                None => symbols.push(0u8),
                Some(&at) => {
                    let micros = if at >= prev {
                        at.duration_since(prev).as_micros() as i64
                    } else {
                        -(prev.duration_since(at).as_micros() as i64)
                    };
                    let ticks = micros / 250;
                    if (0..=255).contains(&ticks) {
                        symbols.push(1);
                        deltas.push(ticks as u8);
                    } else {
                        symbols.push(2);
                        deltas.extend_from_slice(
                            &(ticks.clamp(i16::MIN as i64, i16::MAX as i64) as i16).to_be_bytes(),
                        );
                    }
                    prev = at;
                }
            }
        }
        let start = out.len();
        out.extend_from_slice(&[0x80 | 15, 205, 0, 0]);
        out.extend_from_slice(&sender_ssrc.to_be_bytes());
        out.extend_from_slice(&self.media_ssrc.to_be_bytes());
        out.extend_from_slice(&(base as u16).to_be_bytes());
        out.extend_from_slice(&(symbols.len() as u16).to_be_bytes());
        out.extend_from_slice(&((ref_64ms as u32) & 0x00ff_ffff).to_be_bytes()[1..]);
        out.push(self.fb_count);
        // Status vector chunks with 2-bit symbols, seven per chunk.
        for group in symbols.chunks(7) {
            let mut chunk: u16 = 0b11 << 14;
            for (i, sym) in group.iter().enumerate() {
                chunk |= (*sym as u16) << (12 - 2 * i);
            }
            out.extend_from_slice(&chunk.to_be_bytes());
        }
        out.extend_from_slice(&deltas);
        let pad = (4 - (out.len() - start) % 4) % 4;
        if pad > 0 {
            out[start] |= 0x20;
            out.extend(std::iter::repeat_n(0u8, pad - 1));
            out.push(pad as u8);
        }
        let words = ((out.len() - start) / 4 - 1) as u16;
        out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
        self.next_base = Some(last + 1);
        self.arrivals.clear();
        self.fb_count = self.fb_count.wrapping_add(1);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_layout_statuses_and_deltas() {
        let epoch = Instant::now();
        let mut r = TccReceiver::default();
        // Packets 10, 11, 13 (12 lost), 1 ms apart starting at 130 ms; 14 arrives 100 ms later.
        r.record(epoch + Duration::from_millis(130), 10, 7);
        r.record(epoch + Duration::from_millis(131), 11, 7);
        r.record(epoch + Duration::from_millis(132), 13, 7);
        r.record(epoch + Duration::from_millis(232), 14, 7);
        let mut out = Vec::new();
        assert!(r.build(1, epoch, &mut out));
        assert_eq!(out.len() % 4, 0);
        assert_eq!(out[0] & 0x1f, 15);
        assert_eq!(out[1], 205);
        assert_eq!(u16::from_be_bytes([out[12], out[13]]), 10, "base sequence");
        assert_eq!(u16::from_be_bytes([out[14], out[15]]), 5, "status count");
        // Reference time 128 ms → 2 units of 64 ms.
        assert_eq!(&out[16..19], &[0, 0, 2]);
        assert_eq!(out[19], 0, "feedback count");
        let chunk = u16::from_be_bytes([out[20], out[21]]);
        let syms: Vec<u16> = (0..5).map(|i| (chunk >> (12 - 2 * i)) & 3).collect();
        // 14 came 100 ms after 13: 400 ticks of 250 µs do not fit a byte (symbol 2).
        assert_eq!(syms, vec![1, 1, 0, 1, 2]);
        // Deltas in 250 µs: 2 ms after the reference time (8), then 4, 4, and 400 as i16.
        assert_eq!(&out[22..27], &[8, 4, 4, 0x01, 0x90]);
        // The next feedback continues after 14.
        r.record(epoch + Duration::from_millis(300), 15, 7);
        let mut out2 = Vec::new();
        assert!(r.build(1, epoch, &mut out2));
        assert_eq!(u16::from_be_bytes([out2[12], out2[13]]), 15);
        assert_eq!(out2[19], 1);
    }
}
