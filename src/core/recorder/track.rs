//! One recorded producer: which of its encodings is written (simulcast: the highest that
//! sends, switched at a keyframe), the reorder buffer that waits for retransmissions, frame
//! assembly, waiting for a keyframe after a loss nothing repaired, and the mapping of RTP time
//! to wall-clock time (sender reports) that keeps the tracks of a file in sync.

use super::depack::{self, Assembler};
use crate::core::codecs::CodecKind;
use crate::core::rtp::SrPoint;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// An encoding that sent nothing for this long is taken as stopped.
const ENCODING_STALE: Duration = Duration::from_millis(1000);
/// Keyframe requests of a track that waits for one go out this often.
const KEYFRAME_RETRY: Duration = Duration::from_millis(1000);
/// A reorder buffer never holds more than this many packets (then gaps are given up).
const REORDER_MAX: usize = 2000;

struct Pkt {
    ts: u32,
    marker: bool,
    arrival: Instant,
    payload: Vec<u8>,
}

/// One RTP packet of a recorded producer, as the router hands it over (RTX unwrapped).
#[derive(Debug, Clone, Copy)]
pub struct PacketIn<'a> {
    pub encoding: usize,
    /// The original sequence number.
    pub seq: u16,
    pub ts: u32,
    pub marker: bool,
    /// The packet starts a keyframe.
    pub keyframe: bool,
    /// After the RTP header (and the RTX prefix).
    pub payload: &'a [u8],
    /// The producer's last sender report for this encoding.
    pub sr: Option<SrPoint>,
}

/// A whole frame, waiting to be written.
pub struct Frame {
    /// Extended RTP timestamp.
    pub rtp: u64,
    pub arrival: Instant,
    pub key: bool,
    pub data: Vec<u8>,
    /// Its wall-clock time, once fixed (frames of an earlier run of another encoding).
    pub wall: Option<f64>,
    /// A keyframe's picture size.
    pub size: Option<(u32, u32)>,
}

#[derive(Default, Debug, Clone, Copy)]
pub struct TrackStats {
    pub packets: u64,
    pub packets_lost: u64,
    pub packets_late: u64,
    pub frames: u64,
    pub frames_dropped: u64,
    pub key_frames: u64,
    pub key_frame_requests: u64,
    pub bytes: u64,
}

pub struct Track {
    pub producer: u32,
    pub producer_id: String,
    pub mime: String,
    pub codec: CodecKind,
    pub video: bool,
    pub clock: u32,
    pub channels: u8,
    /// How long a gap waits for its retransmission (NACK-capable producers only).
    wait: Duration,
    /// The Matroska track number once the track is in the file.
    pub number: Option<u64>,
    /// The producer closed: nothing more comes.
    pub ended: bool,
    encoding: Option<usize>,
    seen: Vec<Option<Instant>>,
    pub first_at: Option<Instant>,
    reorder: BTreeMap<u64, Pkt>,
    next: Option<u64>,
    seq_high: Option<u64>,
    asm: Assembler,
    frame_ts: Option<u32>,
    frame_arrival: Option<Instant>,
    frame_broken: bool,
    wait_keyframe: bool,
    keyframe_asked: Option<Instant>,
    /// Encodings a keyframe should be requested for (taken by the router).
    pub keyframe_requests: Vec<usize>,
    rtp_high: Option<u64>,
    /// The latest sender report of the recorded encoding.
    pub sr: Option<SrPoint>,
    /// RTP time → wall-clock milliseconds (NTP), fixed when a run of one encoding starts.
    map: Option<(u64, f64)>,
    /// What placed the current run in time: "senderReport" or "arrival".
    synced_by: Option<&'static str>,
    pub pending: VecDeque<Frame>,
    pub last_ms: Option<u64>,
    pub size: Option<(u32, u32)>,
    pub private: Option<Vec<u8>>,
    pub stats: TrackStats,
}

fn extend(high: &mut Option<u64>, v: u64, bits: u32) -> u64 {
    let span = 1u64 << bits;
    let ext = match *high {
        None => v + (span << 16),
        Some(h) => {
            let base = h & !(span - 1);
            let c = base | v;
            if c + span / 2 < h {
                c + span
            } else if c > h + span / 2 && c >= span {
                c - span
            } else {
                c
            }
        }
    };
    if high.is_none_or(|h| ext > h) {
        *high = Some(ext);
    }
    ext
}

impl Track {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        producer: u32,
        producer_id: String,
        mime: String,
        codec: CodecKind,
        video: bool,
        clock: u32,
        channels: u8,
        nack: bool,
        encodings: usize,
    ) -> Self {
        Self {
            producer,
            producer_id,
            mime,
            codec,
            video,
            clock: clock.max(1),
            channels,
            wait: Duration::from_millis(if nack { 600 } else { 80 }),
            number: None,
            ended: false,
            encoding: None,
            seen: vec![None; encodings.max(1)],
            first_at: None,
            reorder: BTreeMap::new(),
            next: None,
            seq_high: None,
            asm: Assembler::default(),
            frame_ts: None,
            frame_arrival: None,
            frame_broken: false,
            wait_keyframe: video,
            keyframe_asked: None,
            keyframe_requests: Vec::new(),
            rtp_high: None,
            sr: None,
            map: None,
            synced_by: None,
            pending: VecDeque::new(),
            last_ms: None,
            size: None,
            private: None,
            stats: TrackStats::default(),
        }
    }

    /// The encoding a simulcast track should record: the highest one sending.
    fn wanted(&self, now: Instant) -> Option<usize> {
        (0..self.seen.len())
            .rev()
            .find(|&e| self.seen[e].is_some_and(|t| now.duration_since(t) < ENCODING_STALE))
    }

    fn ask_keyframe(&mut self, now: Instant, encoding: usize) {
        if self
            .keyframe_asked
            .is_some_and(|t| now.duration_since(t) < KEYFRAME_RETRY)
        {
            return;
        }
        self.keyframe_asked = Some(now);
        self.keyframe_requests.push(encoding);
        self.stats.key_frame_requests += 1;
    }

    /// One RTP packet of the producer.
    pub fn packet(&mut self, now: Instant, pkt: PacketIn<'_>, wall_ms: &dyn Fn(Instant) -> f64) {
        let PacketIn {
            encoding,
            seq,
            ts,
            marker,
            keyframe,
            payload,
            sr,
        } = pkt;
        if self.ended || encoding >= self.seen.len() {
            return;
        }
        self.seen[encoding] = Some(now);
        self.first_at.get_or_insert(now);
        if self.video {
            let want = self.wanted(now).unwrap_or(encoding);
            let current_ok = self.encoding.is_some_and(|e| {
                self.seen[e].is_some_and(|t| now.duration_since(t) < ENCODING_STALE)
            });
            // The first encoding to arrive is taken at once (the file starts sooner); a higher
            // one takes over at its keyframe, asked for at creation.
            let switch = match self.encoding {
                None => true,
                Some(cur) => cur != want && (!current_ok || want > cur),
            };
            if switch && encoding == want {
                if self.encoding.is_some() && !keyframe {
                    self.ask_keyframe(now, want);
                } else {
                    self.start_run(encoding, wall_ms);
                    if !keyframe {
                        self.ask_keyframe(now, want);
                    }
                }
            }
            if self.encoding != Some(encoding) {
                return;
            }
        } else if self.encoding.is_none() {
            self.start_run(encoding, wall_ms);
        } else if self.encoding != Some(encoding) {
            return;
        }
        self.sr = sr;
        self.stats.packets += 1;
        let s = extend(&mut self.seq_high, u64::from(seq), 16);
        let next = *self.next.get_or_insert(s);
        if s < next || self.reorder.contains_key(&s) {
            self.stats.packets_late += 1;
            return;
        }
        self.reorder.insert(
            s,
            Pkt {
                ts,
                marker,
                arrival: now,
                payload: payload.to_vec(),
            },
        );
        self.release(now);
    }

    /// A new run of one encoding: its sequence numbers, timestamps and clock mapping. Frames
    /// of the previous run still waiting keep their place in time (once the file started;
    /// before, the new run's keyframe is where the file will start).
    fn start_run(&mut self, encoding: usize, wall_ms: &dyn Fn(Instant) -> f64) {
        if self.number.is_some() {
            let mut pending = std::mem::take(&mut self.pending);
            for f in &mut pending {
                if f.wall.is_none() {
                    f.wall = Some(self.wall_ms(f.rtp, wall_ms(f.arrival)));
                }
            }
            self.pending = pending;
        } else {
            self.pending.clear();
        }
        self.encoding = Some(encoding);
        self.reorder.clear();
        self.next = None;
        self.seq_high = None;
        self.rtp_high = None;
        self.map = None;
        self.sr = None;
        self.asm.reset();
        self.frame_ts = None;
        self.frame_broken = false;
        self.wait_keyframe = self.video;
    }

    /// Passes on every packet in order. A gap is given up once the packet after it has waited
    /// the retransmission wait (so gaps queued behind one another expire together, not one
    /// wait after the other).
    pub fn release(&mut self, now: Instant) {
        loop {
            let Some((&first, p)) = self.reorder.first_key_value() else {
                return;
            };
            let next = self.next.unwrap_or(first);
            if first == next {
                let p = self.reorder.pop_first().expect("present").1;
                self.next = Some(next + 1);
                self.assemble(now, p);
                continue;
            }
            if now.duration_since(p.arrival) < self.wait && self.reorder.len() < REORDER_MAX {
                return;
            }
            // Unrecoverable: the frame in progress is lost, and video waits for a keyframe.
            self.stats.packets_lost += first - next;
            self.next = Some(first);
            self.frame_broken = true;
            if self.video {
                self.wait_keyframe = true;
                if let Some(e) = self.encoding {
                    self.ask_keyframe(now, e);
                }
            }
        }
    }

    fn assemble(&mut self, now: Instant, p: Pkt) {
        if self.frame_ts != Some(p.ts) {
            if self.frame_ts.is_some() && (!self.asm.data.is_empty() || self.frame_broken) {
                // The previous frame never got its marker.
                self.end_frame(now, false);
            }
            self.frame_ts = Some(p.ts);
            self.frame_arrival = Some(p.arrival);
            self.frame_broken = false;
        }
        let first = self.asm.data.is_empty();
        if self.asm.push(self.codec, &p.payload, first).is_err() {
            self.frame_broken = true;
        }
        if !self.video || p.marker {
            self.end_frame(now, true);
        }
    }

    fn end_frame(&mut self, now: Instant, complete: bool) {
        let key = self.asm.keyframe;
        let data = self.asm.take(self.codec);
        let ts = self.frame_ts.unwrap_or(0);
        let broken = std::mem::take(&mut self.frame_broken) || !complete;
        let Some(data) = data.filter(|_| !broken) else {
            if self.video {
                self.stats.frames_dropped += 1;
                self.wait_keyframe = true;
                if let Some(e) = self.encoding {
                    self.ask_keyframe(now, e);
                }
            }
            return;
        };
        if self.video && self.wait_keyframe && !key {
            self.stats.frames_dropped += 1;
            if let Some(e) = self.encoding {
                self.ask_keyframe(now, e);
            }
            return;
        }
        let mut size = None;
        if self.video && key {
            self.wait_keyframe = false;
            self.keyframe_asked = None;
            self.stats.key_frames += 1;
            // The size of the current picture (the file's header keeps the first one: decoders
            // follow the bitstream when a simulcast switch changes it).
            size = depack::picture_size(self.codec, &self.asm, &data);
            if size.is_some() {
                self.size = size;
            }
            if self.private.is_none() {
                self.private = depack::codec_private(self.codec, &self.asm);
            }
        }
        let rtp = extend(&mut self.rtp_high, u64::from(ts), 32);
        // AV1 and H264: what carries one RTP timestamp is one temporal unit / access unit, one
        // block in the file, even when a marker bit came in between.
        if matches!(self.codec, CodecKind::Av1 | CodecKind::H264) {
            if let Some(last) = self.pending.back_mut().filter(|f| f.rtp == rtp) {
                last.data.extend_from_slice(&data);
                last.key |= key;
                return;
            }
        }
        self.pending.push_back(Frame {
            rtp,
            arrival: self.frame_arrival.unwrap_or(now),
            key: key || !self.video,
            data,
            wall: None,
            size,
        });
    }

    /// Whether the track's frames can be placed in time: it has a sender report, or waited
    /// long enough for one.
    pub fn can_map(&self, now: Instant, sync_wait: Duration) -> bool {
        self.map.is_some()
            || self.sr.is_some()
            || self
                .first_at
                .is_some_and(|t| now.duration_since(t) >= sync_wait)
    }

    /// Wall-clock milliseconds (NTP) of a frame; `arrival_ms` is the wall clock of its
    /// arrival, used when no sender report came.
    pub fn wall_ms(&mut self, rtp: u64, arrival_ms: f64) -> f64 {
        let clock = f64::from(self.clock);
        let synced_by = &mut self.synced_by;
        let (base_rtp, base_ms) = *self.map.get_or_insert_with(|| match self.sr {
            Some(sr) => {
                *synced_by = Some("senderReport");
                let sr_ms = (sr.ntp >> 32) as f64 * 1000.0
                    + (sr.ntp & 0xffff_ffff) as f64 * 1000.0 / 4_294_967_296.0;
                let d = (rtp as u32).wrapping_sub(sr.rtp_ts) as i32;
                (rtp, sr_ms + f64::from(d) * 1000.0 / clock)
            }
            None => {
                *synced_by = Some("arrival");
                (rtp, arrival_ms)
            }
        });
        base_ms + (rtp as f64 - base_rtp as f64) * 1000.0 / clock
    }

    pub fn stats_json(&self, kind_label: &str) -> Value {
        json!({
            "type": "recorder-track",
            "producerId": self.producer_id,
            "kind": kind_label,
            "mimeType": self.mime,
            "trackNumber": self.number,
            "encodingIdx": self.encoding,
            "syncedBy": self.synced_by,
            "width": self.size.map(|s| s.0),
            "height": self.size.map(|s| s.1),
            "packetsReceived": self.stats.packets,
            "packetsLost": self.stats.packets_lost,
            "packetsLate": self.stats.packets_late,
            "framesWritten": self.stats.frames,
            "framesDropped": self.stats.frames_dropped,
            "keyFrames": self.stats.key_frames,
            "keyFrameRequests": self.stats.key_frame_requests,
            "bytesWritten": self.stats.bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp8(key: bool, body: u8) -> Vec<u8> {
        vec![0x10, if key { 0x00 } else { 0x01 }, body]
    }

    fn pkt(seq: u16, ts: u32, marker: bool, keyframe: bool, payload: &[u8]) -> PacketIn<'_> {
        PacketIn {
            encoding: 0,
            seq,
            ts,
            marker,
            keyframe,
            payload,
            sr: None,
        }
    }

    fn vp8_track() -> Track {
        Track::new(
            1,
            "p".into(),
            "video/VP8".into(),
            CodecKind::Vp8,
            true,
            90_000,
            0,
            true,
            1,
        )
    }

    #[test]
    fn reordered_packets_make_whole_frames_and_a_lost_one_waits_for_a_keyframe() {
        let t0 = Instant::now();
        let mut t = vp8_track();
        let ms = |n| t0 + Duration::from_millis(n);
        // Frame 1 (key, seq 10–11) arrives 11 first; frame 2 (seq 12); frame 3 (seq 13 lost); frame 4 (14).
        t.packet(ms(0), pkt(11, 3000, true, false, &[0x00, 0xbb]), &|_| 0.0);
        t.packet(ms(1), pkt(10, 3000, false, true, &vp8(true, 0xaa)), &|_| {
            0.0
        });
        assert_eq!(
            t.pending.len(),
            0,
            "seq 10 is the first packet seen after 11: 11 was early"
        );
        let mut t = vp8_track();
        t.packet(ms(0), pkt(10, 3000, false, true, &vp8(true, 0xaa)), &|_| {
            0.0
        });
        t.packet(
            ms(1),
            pkt(12, 6000, true, false, &vp8(false, 0xcc)),
            &|_| 0.0,
        );
        t.packet(ms(2), pkt(11, 3000, true, false, &[0x00, 0xbb]), &|_| 0.0);
        assert_eq!(t.pending.len(), 2);
        assert!(t.pending[0].key && !t.pending[1].key);
        assert_eq!(t.pending[0].data, [0x00, 0xaa, 0xbb]);
        t.packet(
            ms(40),
            pkt(14, 12000, true, false, &vp8(false, 0xee)),
            &|_| 0.0,
        );
        t.release(ms(500));
        assert_eq!(t.pending.len(), 2, "waiting for seq 13's retransmission");
        t.release(ms(700));
        assert_eq!(t.stats.packets_lost, 1);
        assert_eq!(
            t.pending.len(),
            2,
            "frame 4 needs frame 3: dropped until a keyframe"
        );
        assert_eq!(t.keyframe_requests, vec![0]);
        t.packet(
            ms(710),
            pkt(15, 15000, true, true, &vp8(true, 0x11)),
            &|_| 0.0,
        );
        assert_eq!(t.pending.len(), 3);
        assert_eq!(t.pending[2].rtp - t.pending[0].rtp, 12000);
    }

    #[test]
    fn sender_reports_place_frames_on_the_wall_clock() {
        let mut t = Track::new(
            1,
            "p".into(),
            "audio/opus".into(),
            CodecKind::Opus,
            false,
            48_000,
            2,
            false,
            1,
        );
        // NTP 1000.5 s at RTP 48_000.
        t.sr = Some(SrPoint {
            ntp: (1000u64 << 32) | (1u64 << 31),
            rtp_ts: 48_000,
        });
        assert_eq!(t.wall_ms(96_000, 0.0), 1_001_500.0);
        assert_eq!(t.wall_ms(96_960, 0.0), 1_001_520.0);
    }
}
