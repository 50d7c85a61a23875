//! Producer: the receiving side of one media source. Maps incoming SSRC / RID to encodings,
//! keeps per-stream receive statistics (RFC 3550 A.3 loss, A.8 jitter), detects losses and
//! asks for them again with NACKs, and turns keyframe requests into PLI/FIR (throttled by
//! `keyFrameRequestDelay`, deferred rather than dropped).
//!
//! Owns its receive streams, codecs and counters and answers its own requests. It knows its
//! consumers and observers only as keys: forwarding to them, and what pausing means for them,
//! is the router's; the RTCP it writes goes out through the router to its transport.

use crate::core::codecs::{dd, vp8, vp9, CodecKind};
use crate::core::context::{field, str_field, trace_types, Ctx};
use crate::core::message::CoreError;
use crate::core::rtcp::{self, ReportBlock};
use crate::core::rtp::params::{
    ext_ids_of, has_fb, normalize_rtp_parameters, parse_layers, validate_producer_parameters,
};
use crate::core::rtp::{ExtIds, SrPoint};

mod stream;
use crate::core::codecs::blind;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
pub use stream::{DdState, LayerRates, RecvStream};

#[derive(Debug, Clone)]
pub struct ProducerCodec {
    pub pt: u8,
    pub mapped_pt: u8,
    pub mime: String,
    pub kind: CodecKind,
    pub clock_rate: u32,
    /// For an RTX codec: the payload type it repairs.
    pub apt: Option<u8>,
    pub nack: bool,
    pub pli: bool,
    pub fir: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ProducerEncoding {
    pub ssrc: Option<u32>,
    pub rid: Option<String>,
    pub rtx_ssrc: Option<u32>,
    pub mapped_ssrc: u32,
    /// The encoding may pause sending (Opus DTX): inactivity is judged over 5 s, not 1.5 s.
    pub dtx: bool,
    /// Spatial and temporal layers of its scalabilityMode.
    pub layers: (usize, usize),
}

/// Bitrates of each (spatial, temporal) layer of a layered stream, for sharing a transport's
/// bandwidth estimate layer by layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerType {
    Simple,
    Simulcast,
    Svc,
}

impl ProducerType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Simulcast => "simulcast",
            Self::Svc => "svc",
        }
    }
}

/// What became of an incoming RTP packet.
#[derive(Debug, Clone, Copy)]
pub struct Accepted {
    pub encoding: usize,
    pub mapped_pt: u8,
    /// Original sequence number (for RTX, the OSN).
    pub seq: u16,
    pub keyframe: bool,
    /// Offset of the media payload in the packet (RTX strips the OSN).
    pub payload_off: usize,
    pub codec_kind: CodecKind,
}

pub struct Producer {
    pub id: String,
    pub transport: u32,
    pub kind: String,
    pub ptype: ProducerType,
    pub paused: bool,
    pub codecs: Vec<ProducerCodec>,
    pub encodings: Vec<ProducerEncoding>,
    pub streams: Vec<Option<RecvStream>>,
    pub ext_ids: ExtIds,
    pub consumers: Vec<u32>,
    pub rtp_parameters: Value,
    pub consumable_rtp_parameters: Value,
    pub key_frame_request_delay: Duration,
    pub rtcp_ssrc: u32,
    pub created: Instant,
    pub last_scores: Vec<u8>,
    pub trace_types: Vec<String>,
    /// The last sender report's NTP time and RTP timestamp, per encoding (simulcast consumers
    /// line the encodings' timestamps up with them).
    pub sender_reports: Vec<Option<SrPoint>>,
    /// RTP observers (audio level, active speaker) this producer feeds.
    pub observers: Vec<u32>,
    /// Recorders writing this producer.
    pub recorders: Vec<u32>,
    /// Last urn:3gpp:video-orientation byte seen (to report changes only).
    pub video_orientation: Option<u8>,
    /// The sender encrypts its frames end to end (`e2ee` option): their payload is not read.
    pub e2ee: Option<E2ee>,
    /// The last keyframe request sent for any encoding: (its SSRC, when).
    pub last_keyframe_request_any: Option<(u32, Instant)>,
}

/// libwebrtc's encoder (Chromium, Firefox) ignores a keyframe request that comes within 300 ms
/// of the previous one for the same encoder, and one encoder serves every simulcast encoding
/// of a sender: a request for encoding 2 right after one for encoding 1 is dropped, and the
/// consumer waiting on it would wait for its retry a second later (measured: switches of
/// ~1.2 s when the bandwidth allocation moved a consumer's target twice in a row). Such a
/// request waits until the gap has passed.
const ENCODER_KEYFRAME_GAP: Duration = Duration::from_millis(300);

/// How a producer's frames are end-to-end encrypted (the `e2ee` option of `produce()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum E2ee {
    /// Nothing after the RTP payload descriptor is readable.
    WholeFrame,
    /// The codec's first bytes stay clear (VP8: 10 on keyframes, 3 on delta frames).
    ClearPrefix,
}

impl Producer {
    /// A producer from `transport.produce`: codecs with their mapped payload types and RTCP
    /// feedback, encodings with their mapped SSRCs (the facade's ortc computed the mapping).
    pub fn from_request(
        id: String,
        d: &Value,
        transport: u32,
        rtcp_ssrc: u32,
        now: Instant,
    ) -> Result<Self, CoreError> {
        let kind = str_field(d, "kind")?.to_string();
        let mut rtp = field(d, "rtpParameters")?.clone();
        let mapping = field(d, "rtpMapping")?;
        validate_producer_parameters(&rtp, mapping)?;
        normalize_rtp_parameters(&mut rtp);
        let mut codecs = Vec::new();
        for c in field(&rtp, "codecs")?.as_array().into_iter().flatten() {
            let pt = field(c, "payloadType")?.as_u64().unwrap_or(0) as u8;
            let mime = str_field(c, "mimeType")?.to_string();
            let mapped = mapping["codecs"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m["payloadType"].as_u64() == Some(pt as u64))
                .and_then(|m| m["mappedPayloadType"].as_u64())
                .ok_or_else(|| CoreError::type_error(format!("no mapping for payloadType {pt}")))?
                as u8;
            let apt = if mime.to_ascii_lowercase().ends_with("/rtx") {
                c["parameters"]["apt"].as_u64().map(|a| a as u8)
            } else {
                None
            };
            codecs.push(ProducerCodec {
                pt,
                mapped_pt: mapped,
                kind: CodecKind::from_mime(&mime),
                clock_rate: c["clockRate"].as_u64().unwrap_or(90000) as u32,
                mime,
                apt,
                nack: has_fb(c, "nack", ""),
                pli: has_fb(c, "nack", "pli"),
                fir: has_fb(c, "ccm", "fir"),
            });
        }
        let mut encodings = Vec::new();
        let maps = mapping["encodings"].as_array().cloned().unwrap_or_default();
        for (i, e) in field(&rtp, "encodings")?
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            encodings.push(ProducerEncoding {
                ssrc: e["ssrc"].as_u64().map(|s| s as u32),
                rid: e["rid"].as_str().map(str::to_string),
                rtx_ssrc: e["rtx"]["ssrc"].as_u64().map(|s| s as u32),
                mapped_ssrc: maps
                    .get(i)
                    .and_then(|m| m["mappedSsrc"].as_u64())
                    .unwrap_or(0) as u32,
                dtx: e["dtx"].as_bool().unwrap_or(false),
                layers: {
                    let (sl, tl) = parse_layers(e["scalabilityMode"].as_str().unwrap_or(""));
                    (sl as usize, tl as usize)
                },
            });
        }
        let ptype = match d.get("type").and_then(Value::as_str) {
            Some("simulcast") => ProducerType::Simulcast,
            Some("svc") => ProducerType::Svc,
            _ => ProducerType::Simple,
        };
        let paused = d.get("paused").and_then(Value::as_bool).unwrap_or(false);
        let delay = d
            .get("keyFrameRequestDelay")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let e2ee = match d.get("e2ee").and_then(Value::as_str) {
            None => None,
            Some("whole-frame") => Some(E2ee::WholeFrame),
            Some("clear-prefix") => Some(E2ee::ClearPrefix),
            Some(other) => {
                return Err(CoreError::type_error(format!("invalid e2ee \"{other}\"")));
            }
        };
        let n = encodings.len();
        Ok(Producer {
            id,
            transport,
            kind,
            ptype,
            paused,
            codecs,
            streams: (0..n).map(|_| None).collect(),
            encodings,
            ext_ids: ext_ids_of(&rtp),
            consumers: Vec::new(),
            rtp_parameters: rtp,
            consumable_rtp_parameters: d
                .get("consumableRtpParameters")
                .cloned()
                .unwrap_or(Value::Null),
            key_frame_request_delay: Duration::from_millis(delay),
            rtcp_ssrc,
            created: now,
            last_scores: Vec::new(),
            observers: Vec::new(),
            recorders: Vec::new(),
            sender_reports: vec![None; n],
            video_orientation: None,
            e2ee,
            last_keyframe_request_any: None,
            trace_types: Vec::new(),
        })
    }

    fn codec_for_pt(&self, pt: u8) -> Option<usize> {
        self.codecs.iter().position(|c| c.pt == pt)
    }

    /// The producer's own requests: dump, stats, trace types (pause and resume also reach
    /// its consumers and are the router's).
    pub fn handle_request(&mut self, ctx: &Ctx, m: &str, d: &Value) -> Result<Value, CoreError> {
        match m {
            "producer.dump" => Ok(json!({
                "id": self.id,
                "kind": self.kind,
                "type": self.ptype.as_str(),
                "rtpParameters": self.rtp_parameters,
                "rtpMapping": {
                    "codecs": self.codecs.iter().map(|c| json!({ "payloadType": c.pt, "mappedPayloadType": c.mapped_pt })).collect::<Vec<_>>(),
                    "encodings": self.encodings.iter().map(|e| json!({ "ssrc": e.ssrc, "rid": e.rid, "mappedSsrc": e.mapped_ssrc })).collect::<Vec<_>>(),
                },
                "rtpStreams": self.streams.iter().flatten().map(|s| json!({ "params": { "ssrc": s.ssrc, "rid": s.rid, "rtxSsrc": s.rtx_ssrc }, "score": s.score.value })).collect::<Vec<_>>(),
                "traceEventTypes": self.trace_types,
                "paused": self.paused,
            })),
            "producer.getStats" => Ok(self.stats_json(ctx.now, ctx.unix_ms())),
            "producer.enableTraceEvent" => {
                self.trace_types = trace_types(d, &["rtp", "keyframe", "nack", "pli", "fir", "sr"]);
                Ok(Value::Null)
            }
            _ => Err(CoreError::error(format!("unknown method '{m}'"))),
        }
    }

    /// Finds (or creates, on first sight) the stream an RTP packet belongs to.
    /// Returns the encoding index and whether the packet is RTX.
    pub fn match_stream(
        &mut self,
        ssrc: u32,
        pt: u8,
        rid: Option<&[u8]>,
        rrid: Option<&[u8]>,
    ) -> Option<(usize, bool)> {
        for (i, s) in self.streams.iter().enumerate() {
            if let Some(s) = s {
                if s.ssrc == ssrc {
                    return Some((i, false));
                }
                if s.rtx_ssrc == Some(ssrc) {
                    return Some((i, true));
                }
            }
        }
        let ci = self.codec_for_pt(pt)?;
        let is_rtx = self.codecs[ci].apt.is_some();
        // Which encoding: by signalled SSRC, by RID / repaired RID, or the only one.
        let enc = self
            .encodings
            .iter()
            .position(|e| e.ssrc == Some(ssrc) || e.rtx_ssrc == Some(ssrc))
            .or_else(|| {
                let r = if is_rtx { rrid } else { rid }?;
                self.encodings
                    .iter()
                    .position(|e| e.rid.as_deref().map(str::as_bytes) == Some(r))
            })
            .or_else(|| {
                (self.encodings.len() == 1
                    && self.encodings[0].ssrc.is_none()
                    && self.encodings[0].rid.is_none())
                .then_some(0)
            })?;
        let e = self.encodings[enc].clone();
        let is_rtx = is_rtx || e.rtx_ssrc == Some(ssrc);
        match &mut self.streams[enc] {
            Some(s) if is_rtx => s.rtx_ssrc = Some(ssrc),
            Some(_) => return None,
            slot @ None => {
                if is_rtx {
                    // RTX before any media of this encoding: nothing to repair yet.
                    return None;
                }
                *slot = Some(RecvStream::new(ssrc, &e, ci));
            }
        }
        Some((enc, is_rtx))
    }

    /// Accounts an RTP packet of a matched stream. `payload` is the RTP payload.
    #[allow(clippy::too_many_arguments)]
    pub fn receive(
        &mut self,
        now: Instant,
        anchor: Instant,
        enc: usize,
        is_rtx: bool,
        pt: u8,
        seq: u16,
        ts: u32,
        payload_off: usize,
        payload: &[u8],
        len: usize,
    ) -> Option<Accepted> {
        let ci = self.codec_for_pt(pt)?;
        let codec = &self.codecs[ci];
        let (media_ci, seq, payload_off) = if is_rtx || codec.apt.is_some() {
            let apt = codec.apt?;
            if payload.len() < 2 {
                return None; // RTX padding-only probe
            }
            (
                self.codec_for_pt(apt)?,
                u16::from_be_bytes([payload[0], payload[1]]),
                payload_off + 2,
            )
        } else {
            (ci, seq, payload_off)
        };
        let mc = &self.codecs[media_ci];
        let (mapped_pt, kind, clock_rate, nack) = (mc.mapped_pt, mc.kind, mc.clock_rate, mc.nack);
        let stream = self.streams[enc].as_mut()?;
        stream.codec_idx = media_ci;
        if !stream.receive(now, anchor, seq, ts, clock_rate, len, is_rtx, nack) {
            return None;
        }
        let body = if is_rtx { &payload[2..] } else { payload };
        // Under whole-frame encryption only the payload descriptor is readable: VP9's and
        // AV1's tell a keyframe, VP8's and H264's do not (their keyframes are inferred blind,
        // see `blind`).
        let readable = self.e2ee != Some(E2ee::WholeFrame)
            || !matches!(kind, CodecKind::Vp8 | CodecKind::H264);
        let keyframe = readable && kind.is_keyframe(body);
        if keyframe {
            // Every consumer whose request is waiting in the throttle window is active, so
            // this keyframe reaches it: the deferred request has been answered.
            stream.keyframe_deferred = false;
        }
        Some(Accepted {
            encoding: enc,
            mapped_pt,
            seq,
            keyframe,
            payload_off,
            codec_kind: kind,
        })
    }

    /// For a whole-frame encrypted VP8 or H264 stream, what the packet tells of its frame
    /// (see `blind`); None for every other stream and for retransmissions.
    #[allow(clippy::too_many_arguments)]
    pub fn blind_mark(
        &mut self,
        now: Instant,
        acc: &Accepted,
        is_rtx: bool,
        ts: u32,
        marker: bool,
        payload: &[u8],
        orientation: Option<u8>,
    ) -> Option<blind::Mark> {
        if is_rtx
            || self.e2ee != Some(E2ee::WholeFrame)
            || !matches!(acc.codec_kind, CodecKind::Vp8 | CodecKind::H264)
        {
            return None;
        }
        let stream = self.streams.get_mut(acc.encoding)?.as_mut()?;
        let tid = (acc.codec_kind == CodecKind::Vp8)
            .then(|| crate::core::codecs::vp8::temporal(payload))
            .flatten()
            .map(|t| t.tid);
        let b = stream.blind.get_or_insert_with(Default::default);
        Some(b.packet(now, ts, marker, payload.len(), tid, orientation))
    }

    /// Reads the dependency descriptor `data` of a packet accepted on encoding `enc` against
    /// the stream's last template structure, keeping a new one (not from retransmissions,
    /// which may carry an older one) and the active decode targets. None when it does not
    /// parse (counted; the packet is then routed as if it had none).
    pub fn read_dd(&mut self, enc: usize, is_rtx: bool, data: &[u8]) -> Option<dd::Frame> {
        let stream = self.streams.get_mut(enc)?.as_mut()?;
        let known = stream.dd.as_deref().map(|d| &d.structure);
        let (frame, attached) = match dd::parse(data, known) {
            Ok(r) => r,
            Err(dd::Invalid) => {
                stream.dd_invalid += 1;
                return None;
            }
        };
        if !is_rtx {
            if let Some(structure) = attached {
                let active = frame.active.unwrap_or(u32::MAX);
                stream.dd = Some(Box::new(DdState { structure, active }));
            } else if let (Some(a), Some(d)) = (frame.active, stream.dd.as_deref_mut()) {
                d.active = a;
            }
        }
        if frame.is_keyframe() {
            stream.keyframe_deferred = false;
        }
        Some(frame)
    }

    /// Counts a media packet of `len` bytes of encoding `enc` into its layer, when the
    /// encoding has several: by the dependency descriptor `dd`, else the payload descriptor
    /// (VP8's TID, VP9's SID and TID), else the base layer.
    #[inline]
    pub fn record_layer(
        &mut self,
        now: Instant,
        enc: usize,
        kind: CodecKind,
        dd: Option<&dd::Frame>,
        payload: &[u8],
        len: usize,
    ) {
        let Some(l) = self
            .streams
            .get_mut(enc)
            .and_then(Option::as_mut)
            .and_then(|st| st.layer_rates.as_deref_mut())
        else {
            return;
        };
        Self::count_layer(l, now, kind, dd, payload, len);
    }

    #[cold]
    fn count_layer(
        l: &mut LayerRates,
        now: Instant,
        kind: CodecKind,
        dd: Option<&dd::Frame>,
        payload: &[u8],
        len: usize,
    ) {
        let (s, t) = match (dd, kind) {
            (Some(f), _) => (f.spatial, f.temporal),
            (None, CodecKind::Vp8) => (0, vp8::temporal(payload).map_or(0, |t| t.tid)),
            (None, CodecKind::Vp9) => {
                vp9::Descriptor::parse(payload).map_or((0, 0), |d| (d.sid, d.tid))
            }
            _ => (0, 0),
        };
        let (s, t) = (
            (s as usize).min(l.spatial - 1),
            (t as usize).min(l.temporal - 1),
        );
        l.rates[s * l.temporal + t].update(now, len);
    }

    /// A sender report from the producer's sender (for LSR/DLSR in our receiver reports).
    pub fn handle_sr(&mut self, now: Instant, ssrc: u32, ntp: u64, rtp_ts: u32) {
        let found = self
            .streams
            .iter_mut()
            .enumerate()
            .find_map(|(i, s)| s.as_mut().filter(|s| s.ssrc == ssrc).map(|s| (i, s)));
        if let Some((i, s)) = found {
            s.last_sr = Some(((ntp >> 16) as u32, now));
            s.update_score();
            self.sender_reports[i] = Some(SrPoint { ntp, rtp_ts });
        } else if let Some(i) = self.encodings.iter().position(|e| e.ssrc == Some(ssrc)) {
            // A signalled SSRC whose first report came before its first packet (FFmpeg sends
            // one then, the next 5 s later): its time mapping holds all the same.
            self.sender_reports[i] = Some(SrPoint { ntp, rtp_ts });
        }
    }

    /// Appends NACKs due now for every stream to `out` as RTCP.
    pub fn write_nacks(&mut self, now: Instant, out: &mut Vec<u8>, scratch: &mut Vec<u16>) {
        for s in self.streams.iter_mut().flatten() {
            scratch.clear();
            s.due_nacks(now, scratch);
            if !scratch.is_empty() {
                s.nack_count += 1;
                s.nack_packet_count += scratch.len() as u64;
                for chunk in scratch.chunks(64) {
                    rtcp::write_nack(out, self.rtcp_ssrc, s.ssrc, chunk);
                }
            }
        }
    }

    /// Receiver report blocks for every active stream.
    pub fn report_blocks(&mut self, now: Instant, out: &mut Vec<ReportBlock>) {
        for s in self.streams.iter_mut().flatten() {
            if self.paused {
                // A paused producer is not inactive: its period starts again on resume.
                s.last_packet_at = s.last_packet_at.map(|_| now);
            } else {
                s.check_inactive(now);
            }
            out.push(s.report_block(now));
        }
    }

    /// Asks the sender of `encoding` (or of every encoding) for a keyframe: writes a PLI (or
    /// FIR) into `out` unless one went out less than `key_frame_request_delay` (min 100 ms)
    /// ago. A throttled request is not dropped: it is deferred to the end of the window (see
    /// `flush_deferred_keyframe_requests`), so a storm of consumer requests becomes one
    /// request per window and the last consumer's need is still served. Returns what was
    /// written ("pli" or "fir") and for which SSRC, if anything.
    pub fn request_keyframe(
        &mut self,
        now: Instant,
        encoding: Option<usize>,
        out: &mut Vec<u8>,
    ) -> Option<(&'static str, u32)> {
        self.keyframe_requests(now, encoding, false, out)
    }

    /// Sends the requests deferred by the throttle whose window has ended.
    pub fn flush_deferred_keyframe_requests(
        &mut self,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Option<(&'static str, u32)> {
        self.keyframe_requests(now, None, true, out)
    }

    /// When the earliest deferred request is due, if any.
    pub fn next_deferred_keyframe_request(&self) -> Option<Instant> {
        self.streams
            .iter()
            .flatten()
            .filter(|s| s.keyframe_deferred)
            .filter_map(|s| self.keyframe_request_due(s))
            .min()
    }

    /// When stream `s` may be asked for a keyframe again: after the throttle window of its
    /// own last request, and `ENCODER_KEYFRAME_GAP` after a request for another encoding of
    /// the producer (None: at once).
    fn keyframe_request_due(&self, s: &RecvStream) -> Option<Instant> {
        let own = s
            .last_keyframe_request
            .map(|t| t + self.keyframe_throttle());
        let encoder = self
            .last_keyframe_request_any
            .filter(|(ssrc, _)| *ssrc != s.ssrc)
            .map(|(_, t)| t + ENCODER_KEYFRAME_GAP);
        own.max(encoder)
    }

    fn keyframe_throttle(&self) -> Duration {
        self.key_frame_request_delay.max(Duration::from_millis(100))
    }

    fn keyframe_requests(
        &mut self,
        now: Instant,
        encoding: Option<usize>,
        only_deferred: bool,
        out: &mut Vec<u8>,
    ) -> Option<(&'static str, u32)> {
        if self.kind != "video" || self.paused {
            return None;
        }
        let mut wrote = None;
        let before = self.last_keyframe_request_any;
        for i in 0..self.streams.len() {
            let Some(s) = self.streams[i].as_ref() else {
                continue;
            };
            if encoding.is_some_and(|e| e != i) || (only_deferred && !s.keyframe_deferred) {
                continue;
            }
            // Requests written together in this call go out together.
            let due = if before == self.last_keyframe_request_any {
                self.keyframe_request_due(s)
            } else {
                s.last_keyframe_request
                    .map(|t| t + self.keyframe_throttle())
            };
            let s = self.streams[i].as_mut().expect("checked");
            if due.is_some_and(|d| now < d) {
                s.keyframe_deferred = true;
                continue;
            }
            s.keyframe_deferred = false;
            let c = &self.codecs[s.codec_idx];
            let kind = if c.pli {
                rtcp::write_pli(out, self.rtcp_ssrc, s.ssrc);
                s.pli_count += 1;
                "pli"
            } else if c.fir {
                s.fir_seq = s.fir_seq.wrapping_add(1);
                rtcp::write_fir(out, self.rtcp_ssrc, s.ssrc, s.fir_seq);
                s.fir_count += 1;
                "fir"
            } else {
                continue;
            };
            s.last_keyframe_request = Some(now);
            self.last_keyframe_request_any = Some((s.ssrc, now));
            if let Some(b) = s.blind.as_mut() {
                b.requested_at = Some(now);
            }
            wrote.get_or_insert((kind, s.ssrc));
        }
        wrote
    }

    pub fn scores_json(&self) -> Value {
        Value::Array(
            self.streams
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    let s = s.as_ref()?;
                    Some(
                        json!({ "encodingIdx": i, "ssrc": s.ssrc, "rid": s.rid, "score": s.score.value }),
                    )
                })
                .collect(),
        )
    }

    pub fn stats_json(&mut self, now: Instant, ts_ms: u64) -> Value {
        let kind = self.kind.clone();
        let mut v = Vec::new();
        for s in self.streams.iter_mut().flatten() {
            let mime = self.codecs[s.codec_idx].mime.clone();
            let bitrate = s.media.rate.rate(now);
            let mut o = json!({
                "type": "inbound-rtp",
                "timestamp": ts_ms,
                "ssrc": s.ssrc,
                "kind": kind,
                "mimeType": mime,
                "packetsLost": s.packets_lost.max(0),
                "fractionLost": s.fraction_lost,
                "packetsDiscarded": s.packets_discarded,
                "packetsRetransmitted": s.rtx.packets,
                "packetsRepaired": s.packets_repaired,
                "nackCount": s.nack_count,
                "nackPacketCount": s.nack_packet_count,
                "pliCount": s.pli_count,
                "firCount": s.fir_count,
                "score": s.score.value,
                "packetCount": s.media.packets,
                "byteCount": s.media.bytes,
                "bitrate": bitrate,
                "jitter": s.jitter(),
                "roundTripTime": s.rtt_ms,
            });
            if let Some(r) = s.rtx_ssrc {
                o["rtxSsrc"] = json!(r);
            }
            if let Some(r) = &s.rid {
                o["rid"] = json!(r);
            }
            v.push(o);
        }
        Value::Array(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn producer() -> Producer {
        Producer {
            id: "p".into(),
            transport: 0,
            kind: "video".into(),
            ptype: ProducerType::Simple,
            paused: false,
            codecs: vec![
                ProducerCodec {
                    pt: 96,
                    mapped_pt: 101,
                    mime: "video/VP8".into(),
                    kind: CodecKind::Vp8,
                    clock_rate: 90000,
                    apt: None,
                    nack: true,
                    pli: true,
                    fir: true,
                },
                ProducerCodec {
                    pt: 97,
                    mapped_pt: 102,
                    mime: "video/rtx".into(),
                    kind: CodecKind::Other,
                    clock_rate: 90000,
                    apt: Some(96),
                    nack: false,
                    pli: false,
                    fir: false,
                },
            ],
            encodings: vec![ProducerEncoding {
                ssrc: Some(1111),
                rid: None,
                rtx_ssrc: Some(2222),
                mapped_ssrc: 5555,
                dtx: false,
                layers: (1, 1),
            }],
            streams: vec![None],
            ext_ids: [0; crate::core::rtp::EXT_COUNT],
            consumers: vec![],
            rtp_parameters: Value::Null,
            consumable_rtp_parameters: Value::Null,
            key_frame_request_delay: Duration::ZERO,
            rtcp_ssrc: 9,
            created: Instant::now(),
            last_scores: vec![],
            trace_types: vec![],
            observers: vec![],
            recorders: vec![],
            sender_reports: vec![None],
            video_orientation: None,
            e2ee: None,
            last_keyframe_request_any: None,
        }
    }

    #[test]
    fn gaps_become_nacks_and_rtx_repairs_them() {
        let t0 = Instant::now();
        let mut p = producer();
        for seq in [10u16, 11, 14] {
            let (e, rtx) = p.match_stream(1111, 96, None, None).unwrap();
            assert!(!rtx);
            p.receive(t0, t0, e, false, 96, seq, 0, 12, &[0x90, 0, 0, 0, 0], 100)
                .unwrap();
        }
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        p.write_nacks(t0, &mut out, &mut scratch);
        let mut items = Vec::new();
        assert!(rtcp::split_compound(&out, &mut items));
        let mut lost = Vec::new();
        rtcp::for_each_nack(&items[0], |s| lost.push(s));
        assert_eq!(lost, vec![12, 13]);
        // RTX with OSN 12 repairs one; the retry only asks for 13.
        let (e, rtx) = p.match_stream(2222, 97, None, None).unwrap();
        assert!(rtx);
        let a = p
            .receive(
                t0,
                t0,
                e,
                true,
                97,
                1,
                0,
                12,
                &[0, 12, 0x90, 0, 0, 0, 0],
                100,
            )
            .unwrap();
        assert_eq!((a.seq, a.mapped_pt, a.payload_off), (12, 101, 14));
        let mut out2 = Vec::new();
        p.write_nacks(t0 + Duration::from_millis(50), &mut out2, &mut scratch);
        let mut items = Vec::new();
        assert!(rtcp::split_compound(&out2, &mut items));
        lost.clear();
        rtcp::for_each_nack(&items[0], |s| lost.push(s));
        assert_eq!(lost, vec![13]);
        let s = p.streams[0].as_ref().unwrap();
        assert_eq!(s.packets_repaired, 1);
        // A duplicate is discarded.
        let (e, _) = p.match_stream(1111, 96, None, None).unwrap();
        assert!(p
            .receive(t0, t0, e, false, 96, 11, 0, 12, &[0x90, 0, 0, 0, 0], 100)
            .is_none());
    }

    #[test]
    fn a_request_for_another_encoding_waits_300_ms_after_the_last_one() {
        // Two simulcast encodings: libwebrtc ignores a second request within 300 ms.
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut p = producer();
        let mut second = p.encodings[0].clone();
        second.ssrc = Some(3333);
        second.rtx_ssrc = None;
        p.encodings.push(second);
        p.streams.push(None);
        for ssrc in [1111, 3333] {
            let (e, _) = p.match_stream(ssrc, 96, None, None).unwrap();
            p.receive(t0, t0, e, false, 96, 1, 0, 12, &[0x90, 0, 0, 0, 0], 100);
        }
        let mut out = Vec::new();
        assert_eq!(
            p.request_keyframe(t0, Some(0), &mut out),
            Some(("pli", 1111))
        );
        // Encoding 1 at +100 ms: deferred to +300 ms, then sent.
        assert!(p.request_keyframe(ms(100), Some(1), &mut out).is_none());
        assert_eq!(p.next_deferred_keyframe_request(), Some(ms(300)));
        assert!(p
            .flush_deferred_keyframe_requests(ms(299), &mut out)
            .is_none());
        assert_eq!(
            p.flush_deferred_keyframe_requests(ms(300), &mut out),
            Some(("pli", 3333))
        );
        // Both at once (one call) go out together.
        out.clear();
        assert!(p.request_keyframe(ms(700), None, &mut out).is_some());
        assert_eq!(out.len(), 2 * 12);
    }

    #[test]
    fn keyframe_requests_are_throttled_and_deferred_not_dropped() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut p = producer();
        let (e, _) = p.match_stream(1111, 96, None, None).unwrap();
        p.receive(t0, t0, e, false, 96, 1, 0, 12, &[0x90, 0, 0, 0, 0], 100);
        let mut out = Vec::new();
        assert!(p.request_keyframe(t0, None, &mut out).is_some());
        // Inside the window: nothing written now, but the request is kept for the window's end.
        assert!(p.request_keyframe(ms(50), None, &mut out).is_none());
        assert_eq!(p.next_deferred_keyframe_request(), Some(ms(100)));
        assert!(p
            .flush_deferred_keyframe_requests(ms(99), &mut out)
            .is_none());
        assert!(p
            .flush_deferred_keyframe_requests(ms(100), &mut out)
            .is_some());
        assert_eq!(p.next_deferred_keyframe_request(), None);
        assert!(p
            .flush_deferred_keyframe_requests(ms(300), &mut out)
            .is_none());
        assert_eq!(p.streams[0].as_ref().unwrap().pli_count, 2);
        // A keyframe arriving inside the window answers the deferred request.
        assert!(p.request_keyframe(ms(150), None, &mut out).is_none());
        assert!(p.next_deferred_keyframe_request().is_some());
        // VP8 descriptor with S=1, then a keyframe's first payload byte (P bit clear).
        let a = p
            .receive(
                ms(160),
                t0,
                e,
                false,
                96,
                2,
                0,
                12,
                &[0x10, 0x00, 0x9d, 0x01, 0x2a],
                100,
            )
            .unwrap();
        assert!(a.keyframe);
        assert_eq!(p.next_deferred_keyframe_request(), None);
        assert!(p
            .flush_deferred_keyframe_requests(ms(400), &mut out)
            .is_none());
        assert_eq!(p.streams[0].as_ref().unwrap().pli_count, 2);
    }
}
