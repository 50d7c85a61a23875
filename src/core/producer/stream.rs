//! A producer's receive state per encoding: sequence extension, loss and jitter (RFC 3550
//! A.3, A.8), NACK bookkeeping, the score, the dependency descriptor's structure and per-layer
//! bitrates.

use crate::core::codecs::dd;
use crate::core::rtcp::ReportBlock;
use crate::core::rtp::packet::SeqExtender;
use crate::core::rtp::{interval_score, RateCalc, Score, TrafficCounter};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::ProducerEncoding;

#[derive(Debug)]
pub struct LayerRates {
    pub spatial: usize,
    pub temporal: usize,
    pub(super) rates: Vec<RateCalc>,
}

impl LayerRates {
    pub(super) fn new(spatial: usize, temporal: usize) -> Self {
        Self {
            spatial,
            temporal,
            rates: (0..spatial * temporal)
                .map(|_| RateCalc::default())
                .collect(),
        }
    }

    /// Bits per second of layer (s, t) alone.
    pub fn rate(&mut self, now: Instant, s: usize, t: usize) -> u64 {
        let i = s * self.temporal + t;
        self.rates.get_mut(i).map_or(0, |r| r.rate(now))
    }
}

const MAX_NACK_ITEMS: usize = 1000;
const MAX_NACK_RETRIES: u8 = 10;
const NACK_RETRY: Duration = Duration::from_millis(40);

#[derive(Debug)]
struct NackItem {
    sent_at: Option<Instant>,
    retries: u8,
}

/// Receive state of one encoding.
#[derive(Debug)]
pub struct RecvStream {
    pub ssrc: u32,
    pub rtx_ssrc: Option<u32>,
    pub rid: Option<String>,
    pub mapped_ssrc: u32,
    pub codec_idx: usize,
    pub(super) seq: SeqExtender,
    base_seq: u64,
    pub media: TrafficCounter,
    pub rtx: TrafficCounter,
    pub packets_lost: i64,
    pub fraction_lost: u8,
    pub packets_repaired: u64,
    pub packets_discarded: u64,
    pub nack_count: u64,
    pub nack_packet_count: u64,
    pub pli_count: u64,
    pub fir_count: u64,
    jitter: f64,
    last_transit: Option<i64>,
    expected_prior: u64,
    received_prior: u64,
    received: u64,
    pub(super) last_sr: Option<(u32, Instant)>,
    nacks: BTreeMap<u64, NackItem>,
    pub score: Score,
    /// (expected, media received, repaired, retransmissions received) at the last score.
    score_prior: (u64, u64, u64, u64),
    pub(super) last_packet_at: Option<Instant>,
    /// No packet for the inactivity period: the score is 0 until one comes.
    inactive: bool,
    dtx: bool,
    pub last_keyframe_request: Option<Instant>,
    /// A keyframe request arrived inside the throttle window: it is sent when the window
    /// ends, unless a keyframe arrives first (which serves whoever asked).
    pub keyframe_deferred: bool,
    pub(super) fir_seq: u8,
    pub rtt_ms: f64,
    /// The dependency descriptor's last template structure on this stream and the decode
    /// targets its sender last declared active (boxed: only streams that carry it pay).
    pub dd: Option<Box<DdState>>,
    /// Keyframe inference for a whole-frame encrypted VP8 or H264 stream (boxed: only such
    /// streams pay).
    pub blind: Option<Box<crate::core::codecs::blind::BlindKeyframes>>,
    /// Dependency descriptors that did not parse.
    pub dd_invalid: u64,
    /// Per-layer bitrates, for an encoding with more than one layer.
    pub layer_rates: Option<Box<LayerRates>>,
}

#[derive(Debug)]
pub struct DdState {
    pub structure: dd::Structure,
    pub active: u32,
}

impl RecvStream {
    pub(super) fn new(ssrc: u32, enc: &ProducerEncoding, codec_idx: usize) -> Self {
        Self {
            ssrc,
            rtx_ssrc: enc.rtx_ssrc,
            rid: enc.rid.clone(),
            mapped_ssrc: enc.mapped_ssrc,
            codec_idx,
            seq: SeqExtender::default(),
            base_seq: 0,
            media: TrafficCounter::default(),
            rtx: TrafficCounter::default(),
            packets_lost: 0,
            fraction_lost: 0,
            packets_repaired: 0,
            packets_discarded: 0,
            nack_count: 0,
            nack_packet_count: 0,
            pli_count: 0,
            fir_count: 0,
            jitter: 0.0,
            last_transit: None,
            expected_prior: 0,
            received_prior: 0,
            received: 0,
            last_sr: None,
            nacks: BTreeMap::new(),
            score: Score::new(10),
            score_prior: (0, 0, 0, 0),
            last_packet_at: None,
            inactive: false,
            dtx: enc.dtx,
            last_keyframe_request: None,
            keyframe_deferred: false,
            fir_seq: 0,
            rtt_ms: 0.0,
            dd: None,
            blind: None,
            dd_invalid: 0,
            layer_rates: (enc.layers.0 * enc.layers.1 > 1)
                .then(|| Box::new(LayerRates::new(enc.layers.0, enc.layers.1))),
        }
    }

    fn expected(&self) -> u64 {
        if !self.seq.started() {
            return 0;
        }
        self.seq.highest() - self.base_seq + 1
    }

    /// Records a media packet; returns false for a duplicate or a packet too old to matter.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn receive(
        &mut self,
        now: Instant,
        anchor: Instant,
        seq: u16,
        ts: u32,
        clock_rate: u32,
        len: usize,
        is_rtx: bool,
        nack_enabled: bool,
    ) -> bool {
        self.last_packet_at = Some(now);
        if self.inactive {
            self.inactive = false;
            self.score.reset(10);
        }
        let first = !self.seq.started();
        let prev_high = self.seq.highest();
        let ext = self.seq.extend(seq);
        if first {
            self.base_seq = ext;
        } else if ext <= prev_high {
            // Late or retransmitted: with NACK on, every gap is listed, so a packet not
            // listed is a duplicate (or given up on).
            if self.nacks.remove(&ext).is_some() {
                self.packets_repaired += 1;
            } else if is_rtx || nack_enabled || ext + 32768 < prev_high || ext == prev_high {
                self.packets_discarded += 1;
                return false;
            }
        } else if nack_enabled && ext > prev_high + 1 {
            for missing in prev_high + 1..ext {
                self.nacks.insert(
                    missing,
                    NackItem {
                        sent_at: None,
                        retries: 0,
                    },
                );
            }
            while self.nacks.len() > MAX_NACK_ITEMS {
                self.nacks.pop_first();
            }
        }
        self.received += 1;
        if is_rtx {
            self.rtx.add(now, len);
        } else {
            self.media.add(now, len);
        }
        // Interarrival jitter in RTP clock units (RFC 3550 A.8).
        if !is_rtx && clock_rate > 0 {
            let arrival = (now.duration_since(anchor).as_secs_f64() * clock_rate as f64) as i64;
            let transit = arrival - ts as i64;
            if let Some(prev) = self.last_transit {
                let d = (transit - prev).abs() as f64;
                if d < clock_rate as f64 * 10.0 {
                    self.jitter += (d - self.jitter) / 16.0;
                }
            }
            self.last_transit = Some(transit);
        }
        true
    }

    /// A sender report came: the score takes the interval since the last one (mediasoup
    /// scores a received stream at each sender report). Returns whether the score changed.
    pub(super) fn update_score(&mut self) -> bool {
        let now = (
            self.expected(),
            self.media.packets,
            self.packets_repaired,
            self.rtx.packets,
        );
        let prior = std::mem::replace(&mut self.score_prior, now);
        if self.inactive {
            return false;
        }
        let expected = now.0.saturating_sub(prior.0);
        if expected == 0 {
            return self.score.push(10);
        }
        let received = now.1.saturating_sub(prior.1);
        let lost = expected.saturating_sub(received);
        let s = interval_score(
            received,
            lost,
            now.2.saturating_sub(prior.2),
            now.3.saturating_sub(prior.3),
        );
        self.score.push(s)
    }

    /// No packet for 1.5 s (5 s when the encoding uses DTX): the score drops to 0 (as
    /// mediasoup's inactivity check). Returns whether the score changed.
    pub(super) fn check_inactive(&mut self, now: Instant) -> bool {
        let period = Duration::from_millis(if self.dtx { 5000 } else { 1500 });
        if self.inactive
            || self
                .last_packet_at
                .is_none_or(|t| now.duration_since(t) < period)
        {
            return false;
        }
        self.inactive = true;
        self.score.reset(0)
    }

    /// Sequence numbers due for a NACK now (first request or a retry).
    pub(super) fn due_nacks(&mut self, now: Instant, out: &mut Vec<u16>) {
        let retry = NACK_RETRY.max(Duration::from_secs_f64(self.rtt_ms / 1000.0));
        self.nacks.retain(|_, it| it.retries < MAX_NACK_RETRIES);
        for (seq, it) in self.nacks.iter_mut() {
            if it.sent_at.is_none_or(|t| now.duration_since(t) >= retry) {
                it.sent_at = Some(now);
                it.retries += 1;
                out.push(*seq as u16);
            }
        }
    }

    pub fn jitter(&self) -> u32 {
        self.jitter as u32
    }

    /// A receiver report block about this stream (RFC 3550 A.3), updating the score.
    pub(super) fn report_block(&mut self, now: Instant) -> ReportBlock {
        let expected = self.expected();
        self.packets_lost = expected as i64 - self.received as i64;
        let exp_int = expected - self.expected_prior;
        let rec_int = self.received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_int = exp_int as i64 - rec_int as i64;
        self.fraction_lost = if exp_int == 0 || lost_int <= 0 {
            0
        } else {
            ((lost_int << 8) / exp_int as i64) as u8
        };
        let (lsr, dlsr) = match self.last_sr {
            Some((mid_ntp, at)) => (
                mid_ntp,
                (now.duration_since(at).as_secs_f64() * 65536.0) as u32,
            ),
            None => (0, 0),
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost: self.fraction_lost,
            total_lost: self.packets_lost.clamp(-0x80_0000, 0x7f_ffff) as i32,
            highest_seq: self.seq.highest().wrapping_sub(1 << 16) as u32,
            jitter: self.jitter(),
            lsr,
            dlsr,
        }
    }
}
