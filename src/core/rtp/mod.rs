//! RTP: the packet view, header-extension URIs, rate and loss accounting.

pub mod packet;
pub mod params;

use std::time::{Duration, Instant};

/// Header extensions the SFU understands, by URI (RFC 8285 and WebRTC's experiments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ExtUri {
    Mid = 0,
    Rid,
    Rrid,
    AbsSendTime,
    TransportWideCc,
    AudioLevel,
    VideoOrientation,
    Toffset,
    AbsCaptureTime,
    PlayoutDelay,
    DependencyDescriptor,
}

pub const EXT_COUNT: usize = 11;

impl ExtUri {
    pub fn from_uri(uri: &str) -> Option<Self> {
        Some(match uri {
            "urn:ietf:params:rtp-hdrext:sdes:mid" => Self::Mid,
            "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id" => Self::Rid,
            "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id" => Self::Rrid,
            "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time" => Self::AbsSendTime,
            "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01" => Self::TransportWideCc,
            "urn:ietf:params:rtp-hdrext:ssrc-audio-level" => Self::AudioLevel,
            "urn:3gpp:video-orientation" => Self::VideoOrientation,
            "urn:ietf:params:rtp-hdrext:toffset" => Self::Toffset,
            "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time" => Self::AbsCaptureTime,
            "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay" => Self::PlayoutDelay,
            "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension" => {
                Self::DependencyDescriptor
            }
            _ => return None,
        })
    }
}

/// One sender report's mapping of wall-clock time (NTP, 32.32 fixed point) to RTP time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SrPoint {
    pub ntp: u64,
    pub rtp_ts: u32,
}

/// Extension ids by URI for one endpoint's parameters (0 = not negotiated).
pub type ExtIds = [u8; EXT_COUNT];

/// Bytes-per-second over a sliding one-second window: a ring of ten 100 ms slots.
///
/// It runs for every packet on every counter it passes (producer, each consumer, both
/// transports), so the common case — a packet in the current slot — is one comparison of
/// instants and two additions; slots are only rotated when a packet or a read falls past the
/// current slot's end.
#[derive(Debug, Default)]
pub struct RateCalc {
    slots: [u64; RateCalc::SLOTS],
    /// Index of the current slot in `slots`.
    current: usize,
    /// Start and end of the current slot; `None` before the first packet.
    span: Option<(Instant, Instant)>,
    total: u64,
}

impl RateCalc {
    const SLOTS: usize = 10;
    const STEP: Duration = Duration::from_millis(100);

    pub fn update(&mut self, now: Instant, bytes: usize) {
        match self.span {
            Some((_, end)) if now < end => {}
            _ => self.advance(now),
        }
        self.slots[self.current] += bytes as u64;
        self.total += bytes as u64;
    }

    /// Makes the slot holding `now` current, emptying the slots it skips over.
    fn advance(&mut self, now: Instant) {
        let Some((start, end)) = self.span else {
            self.span = Some((now, now + Self::STEP));
            return;
        };
        if now < end {
            return;
        }
        let steps = (now.duration_since(start).as_nanos() / Self::STEP.as_nanos()) as u64;
        for _ in 0..steps.min(Self::SLOTS as u64) {
            self.current = (self.current + 1) % Self::SLOTS;
            self.total -= self.slots[self.current];
            self.slots[self.current] = 0;
        }
        let start = start + Self::STEP * steps.min(u32::MAX as u64) as u32;
        self.span = Some((start, start + Self::STEP));
    }

    /// Bits per second.
    pub fn rate(&mut self, now: Instant) -> u64 {
        self.advance(now);
        self.total * 8
    }
}

/// Simple counters plus bitrate for one direction of traffic.
#[derive(Debug, Default)]
pub struct TrafficCounter {
    pub packets: u64,
    pub bytes: u64,
    pub rate: RateCalc,
}

impl TrafficCounter {
    pub fn add(&mut self, now: Instant, len: usize) {
        self.packets += 1;
        self.bytes += len as u64;
        self.rate.update(now, len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_over_a_sliding_second() {
        let t0 = Instant::now();
        let mut r = RateCalc::default();
        // 1000 bytes every 10 ms for two seconds: 800 kbit/s.
        for i in 0..200u32 {
            r.update(t0 + Duration::from_millis(10) * i, 1000);
        }
        let at = t0 + Duration::from_millis(1995);
        let bps = r.rate(at);
        assert!((720_000..=800_000).contains(&bps), "{bps}");
        // Half a second of silence drops about half; more than a second drops all.
        let bps = r.rate(at + Duration::from_millis(500));
        assert!((320_000..=480_000).contains(&bps), "{bps}");
        assert_eq!(r.rate(at + Duration::from_millis(1100)), 0);
        // A packet after a long gap starts afresh.
        r.update(at + Duration::from_secs(60), 500);
        assert_eq!(r.rate(at + Duration::from_secs(60)), 4000);
    }
}

/// A stream's score, 0 to 10, kept as mediasoup keeps it: every interval (a sender report for
/// a received stream, a receiver report for a sent one) adds that interval's score to a
/// history of the last 24, and the score is their average weighted 1, 2, … 24 from the
/// oldest, so a bad second shows at once and fades over the following ones.
#[derive(Debug, Clone)]
pub struct Score {
    history: [u8; Score::LEN],
    len: usize,
    /// Index of the oldest entry once the history is full.
    head: usize,
    pub value: u8,
}

impl Score {
    const LEN: usize = 24;

    pub fn new(initial: u8) -> Self {
        Self {
            history: [0; Self::LEN],
            len: 0,
            head: 0,
            value: initial,
        }
    }

    /// Adds an interval's score; returns whether the score changed.
    pub fn push(&mut self, s: u8) -> bool {
        if self.len < Self::LEN {
            self.history[self.len] = s;
            self.len += 1;
        } else {
            self.history[self.head] = s;
            self.head = (self.head + 1) % Self::LEN;
        }
        let (mut weighted, mut weights) = (0usize, 0usize);
        for i in 0..self.len {
            let w = i + 1;
            weighted += w * self.history[(self.head + i) % Self::LEN] as usize;
            weights += w;
        }
        let before = self.value;
        self.value = (weighted as f64 / weights as f64).round() as u8;
        self.value != before
    }

    /// Forgets the history (the stream went inactive, or came back); returns whether the
    /// score changed.
    pub fn reset(&mut self, s: u8) -> bool {
        self.len = 0;
        self.head = 0;
        let before = self.value;
        self.value = s;
        self.value != before
    }
}

/// One interval's score from the packets that should have arrived (`base`: received for an
/// incoming stream, sent for an outgoing one), those lost, those repaired by retransmission
/// and the retransmissions it took — mediasoup's formula: repaired packets count as delivered
/// in proportion to how few retransmissions they took and how few there were, and the score is
/// ten times the fourth power of the delivered ratio.
pub fn interval_score(base: u64, lost: u64, repaired: u64, retransmitted: u64) -> u8 {
    if base == 0 {
        return 0;
    }
    let lost = lost.min(base) as f64;
    let repaired = repaired.min(lost as u64) as f64;
    let mut weight = (1.0 / (repaired / base as f64 + 1.0)).powi(4);
    if retransmitted > 0 {
        weight *= (repaired / retransmitted as f64).min(1.0);
    }
    let lost = (lost - repaired * weight).max(0.0);
    let delivered = (base as f64 - lost) / base as f64;
    (delivered.powi(4) * 10.0).round() as u8
}

#[cfg(test)]
mod score_tests {
    use super::*;

    #[test]
    fn weighted_history() {
        let mut s = Score::new(10);
        assert!(!s.push(10));
        // One bad interval after one good: (1·10 + 2·0) / 3.
        assert!(s.push(0));
        assert_eq!(s.value, 3);
        for _ in 0..30 {
            s.push(10);
        }
        assert_eq!(s.value, 10, "the bad interval left the history");
        assert!(s.reset(0));
        assert_eq!(s.value, 0);
        s.push(10);
        assert_eq!(s.value, 10, "the history restarted");
    }

    #[test]
    fn interval_scores() {
        assert_eq!(interval_score(100, 0, 0, 0), 10);
        // 5 % lost: 0.95^4 = 0.81.
        assert_eq!(interval_score(100, 5, 0, 0), 8);
        // All five repaired with five retransmissions: (1/1.05)^4 of them count as delivered.
        assert_eq!(interval_score(100, 5, 5, 5), 10);
        // Repaired only after 20 retransmissions: a quarter of the weight.
        assert_eq!(interval_score(100, 5, 5, 20), 9);
        assert_eq!(interval_score(100, 100, 0, 0), 0);
        assert_eq!(interval_score(0, 0, 0, 0), 0);
    }
}
