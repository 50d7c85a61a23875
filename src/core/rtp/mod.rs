//! RTP: the packet view, header-extension URIs, rate and loss accounting.

pub mod packet;

use std::collections::VecDeque;
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

/// Bytes-per-second over a sliding one-second window of 100 ms buckets.
#[derive(Debug, Default)]
pub struct RateCalc {
    buckets: VecDeque<(Instant, u64)>,
    total: u64,
}

impl RateCalc {
    const WINDOW: Duration = Duration::from_millis(1000);
    const STEP: Duration = Duration::from_millis(100);

    pub fn update(&mut self, now: Instant, bytes: usize) {
        self.expire(now);
        match self.buckets.back_mut() {
            Some((t, b)) if now.duration_since(*t) < Self::STEP => *b += bytes as u64,
            _ => self.buckets.push_back((now, bytes as u64)),
        }
        self.total += bytes as u64;
    }
    fn expire(&mut self, now: Instant) {
        while let Some(&(t, b)) = self.buckets.front() {
            if now.duration_since(t) >= Self::WINDOW {
                self.buckets.pop_front();
                self.total -= b;
            } else {
                break;
            }
        }
    }
    /// Bits per second.
    pub fn rate(&mut self, now: Instant) -> u64 {
        self.expire(now);
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
