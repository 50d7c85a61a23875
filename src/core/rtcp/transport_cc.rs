//! Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-
//! extensions-01), both sides of the wire format. Receiving: arrival times of packets carrying
//! the transport-wide sequence number go back to the sender every 100 ms, so its send-side
//! bandwidth estimator (a browser's GoogCC) can grow its bitrate instead of staying at its
//! start value. Sending: `for_each_arrival` reads a receiver's feedback (run-length, 1-bit and
//! 2-bit chunks, as browsers mix them) for our own estimator (`bwe`).

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

/// Calls `f(sequence, arrival)` for every packet a feedback (RTPFB FMT 15, `body` after the
/// 4-byte header) reports, in sequence order; `arrival` is in microseconds since the
/// receiver's time origin, None for a packet reported lost. Returns None, having called `f` for
/// nothing, when the packet is malformed (truncated chunks or deltas, reserved symbols).
pub fn for_each_arrival(body: &[u8], mut f: impl FnMut(u16, Option<i64>)) -> Option<()> {
    if body.len() < 16 {
        return None;
    }
    let base = u16::from_be_bytes([body[8], body[9]]);
    let count = u16::from_be_bytes([body[10], body[11]]) as usize;
    let reference = i64::from(u32::from_be_bytes([0, body[12], body[13], body[14]])) * 64_000;
    // First pass: the symbols, from the chunks (at most `count`).
    let mut symbols: [u8; 1024] = [0; 1024];
    if count > symbols.len() * 8 {
        return None;
    }
    let mut big: Vec<u8> = Vec::new();
    let many = count > symbols.len();
    if many {
        big.resize(count, 0);
    }
    let syms: &mut [u8] = if many {
        &mut big[..]
    } else {
        &mut symbols[..count]
    };
    let mut n = 0;
    let mut i = 16;
    while n < count {
        let chunk = u16::from_be_bytes([*body.get(i)?, *body.get(i + 1)?]);
        i += 2;
        if chunk & 0x8000 == 0 {
            let sym = ((chunk >> 13) & 3) as u8;
            let run = (chunk & 0x1fff) as usize;
            for _ in 0..run.min(count - n) {
                syms[n] = sym;
                n += 1;
            }
        } else if chunk & 0x4000 == 0 {
            for k in 0..14usize.min(count - n) {
                syms[n] = ((chunk >> (13 - k)) & 1) as u8;
                n += 1;
            }
        } else {
            for k in 0..7usize.min(count - n) {
                syms[n] = ((chunk >> (12 - 2 * k)) & 3) as u8;
                n += 1;
            }
        }
    }
    // Check the deltas are all there before reporting anything.
    let mut j = i;
    for &s in syms.iter() {
        j += match s {
            0 => 0,
            1 => 1,
            2 => 2,
            _ => return None,
        };
    }
    if j > body.len() {
        return None;
    }
    let mut at = reference;
    for (k, &s) in syms.iter().enumerate() {
        let seq = base.wrapping_add(k as u16);
        match s {
            1 => {
                at += i64::from(body[i]) * 250;
                i += 1;
                f(seq, Some(at));
            }
            2 => {
                at += i64::from(i16::from_be_bytes([body[i], body[i + 1]])) * 250;
                i += 2;
                f(seq, Some(at));
            }
            _ => f(seq, None),
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_run_length_and_vector_chunks() {
        // Base 65534, 20 packets: run of 9 received (small deltas), a 1-bit vector of 14
        // (received, lost, received, then lost ...) truncated to the 11 left.
        let mut b = vec![0, 0, 0, 1, 0, 0, 0, 2];
        b.extend_from_slice(&65534u16.to_be_bytes());
        b.extend_from_slice(&20u16.to_be_bytes());
        b.extend_from_slice(&[0, 0, 3, 0]); // reference 192 ms
        b.extend_from_slice(&((1u16 << 13) | 9).to_be_bytes());
        b.extend_from_slice(&(0x8000u16 | (1 << 13) | (1 << 11)).to_be_bytes());
        b.extend(std::iter::repeat_n(4u8, 11)); // 9 + 2 deltas of 1 ms
        let mut seen = Vec::new();
        assert!(for_each_arrival(&b, |s, a| seen.push((s, a))).is_some());
        assert_eq!(seen.len(), 20);
        assert_eq!(seen[0], (65534, Some(193_000)));
        assert_eq!(seen[2], (0, Some(195_000)), "wraps");
        assert_eq!(seen[9], (7, Some(202_000)));
        assert_eq!(seen[10], (8, None));
        assert_eq!(seen[11], (9, Some(203_000)));
        assert!(seen[12..].iter().all(|(_, a)| a.is_none()));
        // Truncated deltas: nothing reported.
        let mut calls = 0;
        assert!(for_each_arrival(&b[..b.len() - 1], |_, _| calls += 1).is_none());
        assert_eq!(calls, 0);
    }

    #[test]
    fn reads_what_the_receiver_side_writes() {
        let epoch = Instant::now();
        let mut r = TccReceiver::default();
        for (s, ms) in [(1u16, 10u64), (2, 12), (4, 15), (5, 400)] {
            r.record(epoch + Duration::from_millis(ms), s, 7);
        }
        let mut out = Vec::new();
        assert!(r.build(1, epoch, &mut out));
        let mut seen = Vec::new();
        for_each_arrival(&out[4..], |s, a| seen.push((s, a))).unwrap();
        assert_eq!(
            seen,
            vec![
                (1, Some(10_000)),
                (2, Some(12_000)),
                (3, None),
                (4, Some(15_000)),
                (5, Some(400_000))
            ]
        );
    }

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
