//! Recorder: chosen producers of a router, audio and video together, written to a WebM
//! (VP8 / VP9 / AV1, Opus) or Matroska (H264 too) file by the worker thread itself.
//!
//! The router hands it every packet of its producers (after RTX is unwrapped). Per producer a
//! `Track` reorders packets (waiting for retransmissions the producer's NACKs ask for), builds
//! frames (`depack`) and, after a loss nothing repaired, drops video until the keyframe it asks
//! for. The file starts when every track can start: each video track has a keyframe, each track
//! has a sender report (or waited `SYNC_WAIT` for one); time zero is the first video keyframe's
//! wall-clock time. Sender reports map each track's RTP time to the sender's wall clock, so
//! audio and video keep the sync the sender captured them with. Frames are written in time
//! order across tracks (`mkv`), a track that lags being waited for up to `MUX_WAIT`.
//!
//! Files are written through a `Sink` the io layer opens (the core does no I/O of its own).

pub mod depack;
pub mod mkv;
pub mod track;

use crate::core::codecs::CodecKind;
use mkv::{Mkv, TrackEntry, TrackType};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
pub use track::PacketIn;
use track::Track;

/// How long a track waits for its first sender report before its frames are placed by their
/// arrival time instead. libwebrtc reports audio every 5 s (video every 1 s), FFmpeg every 5 s;
/// the frames wait in memory meanwhile, none is lost.
pub const SYNC_WAIT: Duration = Duration::from_millis(5500);
/// How long the file waits for every track to be ready; then it starts with those that are.
const START_WAIT: Duration = Duration::from_millis(8000);
/// How long a frame waits for the other tracks' frames of the same time before it is written.
const MUX_WAIT: Duration = Duration::from_millis(1000);

/// Where a recording goes: the io layer's file, or memory in tests.
pub trait Sink: Send {
    fn append(&mut self, data: &[u8]) -> std::io::Result<()>;
    fn write_at(&mut self, pos: u64, data: &[u8]) -> std::io::Result<()>;
    fn finish(&mut self) -> std::io::Result<()>;
}

/// Opens a sink for a path (set on the context by the io layer).
pub type OpenSink = fn(&str) -> std::io::Result<Box<dyn Sink>>;

pub struct Recorder {
    pub id: String,
    pub router: String,
    pub path: String,
    pub webm: bool,
    pub tracks: Vec<Track>,
    sink: Option<Box<dyn Sink>>,
    mkv: Option<Mkv>,
    /// Wall-clock milliseconds of the file's time zero.
    t0: Option<f64>,
    created: Instant,
    bytes: u64,
    pub error: Option<String>,
}

impl Recorder {
    pub fn new(
        id: String,
        router: String,
        path: String,
        webm: bool,
        tracks: Vec<Track>,
        sink: Box<dyn Sink>,
        now: Instant,
    ) -> Self {
        Self {
            id,
            router,
            path,
            webm,
            tracks,
            sink: Some(sink),
            mkv: None,
            t0: None,
            created: now,
            bytes: 0,
            error: None,
        }
    }

    /// One packet of a recorded producer.
    pub fn packet(
        &mut self,
        now: Instant,
        producer: u32,
        pkt: PacketIn<'_>,
        wall_ms: &dyn Fn(Instant) -> f64,
    ) {
        for t in self.tracks.iter_mut().filter(|t| t.producer == producer) {
            t.packet(now, pkt, wall_ms);
        }
        self.write_ready(now, wall_ms, false);
    }

    /// Keyframe requests the tracks want sent: (producer key, encoding).
    pub fn take_keyframe_requests(&mut self) -> Vec<(u32, usize)> {
        let mut out = Vec::new();
        for t in &mut self.tracks {
            for e in t.keyframe_requests.drain(..) {
                out.push((t.producer, e));
            }
        }
        out
    }

    /// Timers (gaps given up) and writing; `wall_ms` turns an Instant into wall-clock ms.
    pub fn upkeep(&mut self, now: Instant, wall_ms: &dyn Fn(Instant) -> f64) {
        for t in &mut self.tracks {
            t.release(now);
        }
        self.write_ready(now, wall_ms, false);
    }

    /// Starts the file when it can, then writes every frame whose turn has come (`all`: the
    /// recording ends, write everything).
    pub fn write_ready(&mut self, now: Instant, wall_ms: &dyn Fn(Instant) -> f64, all: bool) {
        if self.sink.is_none() {
            return;
        }
        if self.mkv.is_none() && !self.try_start(now, wall_ms, all) {
            return;
        }
        loop {
            // The track whose first waiting frame is earliest.
            let mut best: Option<(usize, f64)> = None;
            let mut blocked = false;
            for i in 0..self.tracks.len() {
                let t = &mut self.tracks[i];
                if t.number.is_none() {
                    // Not in the file (it was not ready when the file started): nothing of
                    // it is kept.
                    t.pending.clear();
                    continue;
                }
                let Some(f) = t.pending.front() else {
                    if !t.ended && !all {
                        blocked = true;
                    }
                    continue;
                };
                let (rtp, arrival, fixed) = (f.rtp, f.arrival, f.wall);
                let ms = fixed.unwrap_or_else(|| t.wall_ms(rtp, wall_ms(arrival)));
                if best.is_none_or(|(_, b)| ms < b) {
                    best = Some((i, ms));
                }
            }
            let Some((i, ms)) = best else {
                return;
            };
            let oldest = self.tracks[i].pending.front().map(|f| f.arrival);
            if blocked && !all && oldest.is_some_and(|a| now.duration_since(a) < MUX_WAIT) {
                return;
            }
            let f = self.tracks[i].pending.pop_front().expect("present");
            let rel = ms - self.t0.unwrap_or(ms);
            let t = &mut self.tracks[i];
            if rel < 0.0 {
                continue;
            }
            let mut at = rel.round() as u64;
            if let Some(last) = t.last_ms {
                at = at.max(last + 1);
            }
            t.last_ms = Some(at);
            t.stats.frames += 1;
            t.stats.bytes += f.data.len() as u64;
            let number = t.number.expect("in the file");
            let mkv = self.mkv.as_mut().expect("started");
            if let Some(cluster) = mkv.block(number, at, f.key, &f.data) {
                self.append(&cluster);
            }
        }
    }

    fn try_start(&mut self, now: Instant, wall_ms: &dyn Fn(Instant) -> f64, all: bool) -> bool {
        // Video tracks drop what precedes their first keyframe.
        for t in &mut self.tracks {
            if t.video {
                while t.pending.front().is_some_and(|f| !f.key) {
                    t.pending.pop_front();
                }
            }
        }
        let ready = |t: &Track| {
            !t.pending.is_empty()
                && (all || t.can_map(now, SYNC_WAIT))
                && (!t.video || t.size.is_some())
        };
        let every = self.tracks.iter().all(|t| ready(t) || t.ended);
        let waited = all || now.duration_since(self.created) >= START_WAIT;
        if !(every || waited) || !self.tracks.iter().any(ready) {
            return false;
        }
        let mut entries = Vec::new();
        let mut n = 0;
        let mut t0_video: Option<f64> = None;
        let mut t0_audio: Option<f64> = None;
        for t in &mut self.tracks {
            if !ready(t) {
                continue;
            }
            n += 1;
            t.number = Some(n);
            let f = t.pending.front().expect("ready");
            let (rtp, arrival, size) = (f.rtp, f.arrival, f.size);
            let ms = t.wall_ms(rtp, wall_ms(arrival));
            let slot = if t.video {
                &mut t0_video
            } else {
                &mut t0_audio
            };
            *slot = Some(slot.map_or(ms, |v: f64| v.min(ms)));
            // The header gives the size of the picture the track starts with.
            entries.push(entry(t, n, size));
        }
        self.t0 = t0_video.or(t0_audio);
        let (mkv, header) = Mkv::new(self.webm, "peerwave-sfu", &entries);
        self.mkv = Some(mkv);
        self.append(&header);
        true
    }

    fn append(&mut self, data: &[u8]) {
        let Some(sink) = self.sink.as_mut() else {
            return;
        };
        match sink.append(data) {
            Ok(()) => self.bytes += data.len() as u64,
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: std::io::Error) {
        self.error.get_or_insert_with(|| e.to_string());
        self.sink = None;
    }

    /// Ends the recording: everything waiting is written, the file finalised. Returns the
    /// summary the facade resolves `stop()` with.
    pub fn finish(&mut self, now: Instant, wall_ms: &dyn Fn(Instant) -> f64) -> Value {
        for t in &mut self.tracks {
            t.release(now + Duration::from_secs(3600));
        }
        self.write_ready(now, wall_ms, true);
        let mut duration_ms = 0;
        if let Some(mkv) = self.mkv.take() {
            let f = mkv.finish();
            duration_ms = f.duration_ms;
            self.append(&f.tail);
            if let Some(sink) = self.sink.as_mut() {
                let mut r = Ok(());
                for (at, bytes) in &f.patches {
                    r = r.and_then(|_| sink.write_at(*at, bytes));
                }
                if let Err(e) = r {
                    self.fail(e);
                }
            }
        } else if self.error.is_none() {
            self.error = Some("no media was received: nothing was written".into());
        }
        if let Some(mut sink) = self.sink.take() {
            if let Err(e) = sink.finish() {
                self.fail(e);
            }
        }
        json!({
            "path": self.path,
            "durationMs": duration_ms,
            "bytes": self.bytes,
            "error": self.error,
            "tracks": self.tracks.iter().map(|t| t.stats_json(if t.video { "video" } else { "audio" })).collect::<Vec<_>>(),
        })
    }

    pub fn stats(&self) -> Value {
        json!({
            "type": "recorder",
            "recorderId": self.id,
            "path": self.path,
            "started": self.mkv.is_some(),
            "bytesWritten": self.bytes,
            "error": self.error,
            "tracks": self.tracks.iter().map(|t| t.stats_json(if t.video { "video" } else { "audio" })).collect::<Vec<_>>(),
        })
    }
}

fn entry(t: &Track, number: u64, size: Option<(u32, u32)>) -> TrackEntry {
    let (w, h) = size.or(t.size).unwrap_or((0, 0));
    let (codec_id, kind) = match t.codec {
        CodecKind::Vp8 => (
            "V_VP8",
            TrackType::Video {
                width: w,
                height: h,
            },
        ),
        CodecKind::Vp9 => (
            "V_VP9",
            TrackType::Video {
                width: w,
                height: h,
            },
        ),
        CodecKind::Av1 => (
            "V_AV1",
            TrackType::Video {
                width: w,
                height: h,
            },
        ),
        CodecKind::H264 => (
            "V_MPEG4/ISO/AVC",
            TrackType::Video {
                width: w,
                height: h,
            },
        ),
        CodecKind::Opus | CodecKind::Other => (
            "A_OPUS",
            TrackType::Audio {
                rate: 48_000.0,
                channels: t.channels,
            },
        ),
    };
    let opus = t.codec == CodecKind::Opus;
    TrackEntry {
        number,
        codec_id,
        codec_private: if opus {
            Some(depack::opus_head(t.channels))
        } else {
            t.private.clone()
        },
        codec_delay_ns: 0,
        seek_pre_roll_ns: if opus { 80_000_000 } else { 0 },
        kind,
    }
}

/// Which codecs a recording can hold, and in which container: None when it cannot.
pub fn container_for(codecs: &[CodecKind], path: &str) -> Result<bool, String> {
    let lower = path.to_ascii_lowercase();
    let webm = lower.ends_with(".webm");
    if !webm && !lower.ends_with(".mkv") {
        return Err("path must end in .webm or .mkv".into());
    }
    if let Some(c) = codecs.iter().find(|c| **c == CodecKind::Other) {
        return Err(format!(
            "codec {c:?} cannot be recorded (VP8, VP9, AV1, H264 and Opus can)"
        ));
    }
    if webm && codecs.contains(&CodecKind::H264) {
        return Err("H264 cannot go in WebM: use a .mkv path".into());
    }
    Ok(webm)
}
