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
