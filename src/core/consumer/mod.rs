//! Consumer: the sending side towards one remote endpoint for one producer. Rewrites SSRC,
//! sequence number, timestamp, payload type and header extensions; keeps sent packets for
//! retransmission (RTX, RFC 4588) on NACK; waits for a keyframe after (re)starting; writes
//! sender reports; answers its own requests (dump, stats, pause, priority, layers, traces).
//!
//! One file per kind behind `ConsumerType`: `simple.rs` (one encoding), `pipe.rs` (every
//! encoding). A kind decides which producer encodings feed which outgoing streams; the rest is
//! common. A consumer owns its streams and counters; it never reaches its producer or its
//! transport: what it needs from them (a keyframe, a packet sent) it returns to the router.

mod held;
pub mod pipe;
pub mod simple;
pub mod simulcast;
mod stream;
pub use held::{Held, HeldPacket};
pub mod svc;
use crate::core::context::{field, str_field, trace_types, Ctx};
use crate::core::message::CoreError;
use crate::core::rtp::params::{clamp_layers, normalize_rtp_parameters, parse_layers};
use pipe::Pipe;
use simple::Simple;
use simulcast::{Admit, Simulcast};
pub use stream::{OutStream, RetransmissionBuffer, SeqRewriter};
use svc::{Svc, SvcAdmit};

use crate::core::codecs::{blind, dd, vp8, CodecKind};
use crate::core::rtcp::{self, ReportBlock, SenderInfo};
use crate::core::rtp::packet::{ExtWriter, RtpView};
use crate::core::rtp::SrPoint;
use crate::core::rtp::{interval_score, ExtIds, ExtUri};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// What a consumer's request asks of the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerEffect {
    None,
    /// Ask the producer for a keyframe (resumed, or `requestKeyFrame()`).
    RequestKeyFrame,
}

/// The consumer kinds, dispatched statically on the packet path.
pub enum ConsumerType {
    Simple(Simple),
    Simulcast(Simulcast),
    Svc(Svc),
    Pipe(Pipe),
}

impl ConsumerType {
    /// The kind named `name`, for kinds that need nothing more than their name (simulcast and
    /// SVC consumers are built from their parameters in `Consumer::from_request`).
    pub fn from_name(name: &str) -> Self {
        match name {
            "pipe" => Self::Pipe(Pipe),
            _ => Self::Simple(Simple {
                type_name: "simple",
                encoding: 0,
            }),
        }
    }

    /// mediasoup's `consumer.type`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Simple(s) => s.type_name,
            Self::Simulcast(_) => "simulcast",
            Self::Svc(_) => "svc",
            Self::Pipe(_) => "pipe",
        }
    }

    /// The outgoing stream (of `streams`) that producer encoding `encoding` goes out on.
    fn stream_for(&self, encoding: usize, streams: usize) -> Option<usize> {
        match self {
            Self::Simple(s) => s.stream_for(encoding),
            Self::Simulcast(s) => (encoding < s.spatial_layers).then_some(0),
            Self::Svc(_) => (encoding == 0).then_some(0),
            Self::Pipe(p) => p.stream_for(encoding, streams),
        }
    }

    /// The producer encoding feeding outgoing stream `stream`.
    fn encoding_of(&self, stream: usize) -> usize {
        match self {
            Self::Simple(s) => s.encoding,
            Self::Simulcast(s) => s.keyframe_encoding(),
            Self::Svc(_) => 0,
            Self::Pipe(_) => stream,
        }
    }

    /// The producer encoding whose score is the consumer's `producerScore`; None when every
    /// encoding feeds it (a pipe consumer, reported as fully fed, as mediasoup does).
    pub fn scored_encoding(&self) -> Option<usize> {
        match self {
            Self::Simple(s) => Some(s.encoding),
            Self::Simulcast(s) => Some(s.current.unwrap_or(0)),
            Self::Svc(_) => Some(0),
            Self::Pipe(_) => None,
        }
    }
}

/// One payload type the consumer sends, with its RTX payload type.
#[derive(Debug, Clone)]
pub struct ConsumerCodec {
    pub pt: u8,
    pub rtx_pt: Option<u8>,
    pub mime: String,
    pub kind: CodecKind,
    pub clock_rate: u32,
}

/// The source packet as the consumer sees it (producer side already validated it).
pub struct SourcePacket<'a> {
    pub view: RtpView<'a>,
    pub ext_ids: &'a ExtIds,
    pub mapped_pt: u8,
    pub seq: u16,
    pub payload_off: usize,
    pub keyframe: bool,
    pub encoding: usize,
    /// The packet's dependency descriptor, read against its stream's structure.
    pub dd: Option<DdRef<'a>>,
    /// The producer's last sender report per encoding.
    pub sender_reports: &'a [Option<SrPoint>],
    /// For a whole-frame encrypted VP8/H264 stream: where the packet sits in its frame and
    /// whether that frame was inferred to be a keyframe (`codecs::blind`).
    pub blind: Option<blind::Mark>,
}

/// A dependency descriptor as routing reads it: the packet's frame, the template structure of
/// its stream and the decode targets the sender declared active.
#[derive(Clone, Copy)]
pub struct DdRef<'a> {
    pub frame: dd::Frame,
    pub structure: &'a dd::Structure,
    pub active: u32,
}

pub struct Consumer {
    pub id: String,
    pub producer_id: String,
    pub transport: u32,
    pub producer: u32,
    pub kind: String,
    pub ctype: ConsumerType,
    pub paused: bool,
    pub producer_paused: bool,
    pub streams: Vec<OutStream>,
    pub codecs: Vec<ConsumerCodec>,
    /// (id, uri) of every header extension the remote accepts.
    pub exts: Vec<(u8, ExtUri)>,
    pub mid: Option<String>,
    pub cname: String,
    pub nack_count: u64,
    pub nack_packet_count: u64,
    pub pli_count: u64,
    pub fir_count: u64,
    pub score: u8,
    /// Where a rewritten dependency descriptor is built (kept: no allocation per packet).
    dd_scratch: Vec<u8>,
    /// The score changed since the router last reported it ('score').
    pub score_changed: bool,
    /// As JSON text (read by dump and setPreferredLayers only; a `Value` tree cost ~5 KiB).
    rtp_parameters: Box<str>,
    pub priority: u8,
    pub ignore_dtx: bool,
    pub trace_types: Vec<String>,
    pub preferred_layers: Option<Value>,
    /// The consumer's transport can carry media now (WebRTC: DTLS connected on a selected
    /// ICE tuple; plain/pipe: remote known; direct: always). A packet forwarded before would
    /// be lost, and a keyframe asked for before would go by unseen.
    pub transport_connected: bool,
    /// When this consumer last asked its producer for a keyframe (retried while it waits).
    pub keyframe_requested_at: Option<Instant>,
    /// The frame held while waiting for a blind keyframe (boxed: only then).
    held: Option<Box<Held>>,
    /// The bandwidth estimate's spatial downgrades of this consumer (see `BweHold`).
    pub bwe_hold: crate::core::bwe::allocation::BweHold,
}

impl Consumer {
    /// A consumer from `transport.consume`: its outgoing streams (SSRC, RTX SSRC), codecs,
    /// header extensions, MID and CNAME as the facade's ortc computed them.
    pub fn from_request(
        id: String,
        producer_id: String,
        tk: u32,
        pk: u32,
        d: &Value,
    ) -> Result<Self, CoreError> {
        let kind = str_field(d, "kind")?.to_string();
        let mut rtp = field(d, "rtpParameters")?.clone();
        normalize_rtp_parameters(&mut rtp);
        let type_name = d.get("type").and_then(Value::as_str).unwrap_or("simple");
        let video = kind == "video";
        let mut streams = Vec::new();
        for (i, e) in rtp["encodings"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let ssrc = e["ssrc"].as_u64().ok_or_else(|| {
                CoreError::type_error(format!("missing rtpParameters.encodings[{i}].ssrc"))
            })?;
            let rtx = e["rtx"]["ssrc"].as_u64().map(|s| s as u32);
            streams.push(OutStream::new(ssrc as u32, rtx, video));
        }
        if streams.is_empty() {
            return Err(CoreError::type_error("empty rtpParameters.encodings"));
        }
        // A non-pipe consumer sends one stream whatever the producer has.
        if type_name != "pipe" {
            streams.truncate(1);
        }
        let all: Vec<&Value> = rtp["codecs"].as_array().into_iter().flatten().collect();
        let mut codecs = Vec::new();
        for c in &all {
            let mime = c["mimeType"].as_str().unwrap_or("").to_string();
            if mime.to_ascii_lowercase().ends_with("/rtx") {
                continue;
            }
            let pt = c["payloadType"].as_u64().unwrap_or(0) as u8;
            let rtx_pt = all
                .iter()
                .find(|r| r["parameters"]["apt"].as_u64() == Some(pt as u64))
                .and_then(|r| r["payloadType"].as_u64())
                .map(|p| p as u8);
            codecs.push(ConsumerCodec {
                pt,
                rtx_pt,
                kind: CodecKind::from_mime(&mime),
                clock_rate: c["clockRate"].as_u64().unwrap_or(90000) as u32,
                mime,
            });
        }
        let exts = rtp["headerExtensions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some((
                    e["id"].as_u64()? as u8,
                    ExtUri::from_uri(e["uri"].as_str()?)?,
                ))
            })
            .collect();
        let mid = rtp["mid"].as_str().map(str::to_string);
        let cname = rtp["rtcp"]["cname"]
            .as_str()
            .unwrap_or("peerwave")
            .to_string();
        let preferred_layers = matches!(type_name, "simulcast" | "svc").then(|| {
            let pl = d.get("preferredLayers");
            let layer = |k| pl.and_then(|l| l.get(k)).and_then(Value::as_u64);
            clamp_layers(&rtp, layer("spatialLayer"), layer("temporalLayer"))
        });
        // Layered kinds: their layers from the (single) encoding's scalabilityMode, their
        // preferred layers as clamped above.
        let mode = rtp["encodings"][0]["scalabilityMode"]
            .as_str()
            .unwrap_or("L1T1");
        let (spatial, temporal) = parse_layers(mode);
        let (spatial, temporal) = (spatial as usize, temporal as usize);
        let ctype = match (type_name, &preferred_layers) {
            ("simulcast" | "svc", Some(l)) => {
                let layer = |k: &str| l[k].as_u64().unwrap_or(0) as usize;
                let (ps, pt) = (layer("spatialLayer"), layer("temporalLayer"));
                if type_name == "svc" {
                    let mut svc = Svc::new(spatial, temporal, mode.ends_with("_KEY"));
                    (svc.preferred_spatial, svc.preferred_temporal) = (ps, pt);
                    ConsumerType::Svc(svc)
                } else {
                    let clock_rate = codecs.first().map_or(90000, |x| x.clock_rate);
                    let mut sim = Simulcast::new(spatial, temporal, clock_rate);
                    (sim.preferred_spatial, sim.preferred_temporal) = (ps, pt);
                    ConsumerType::Simulcast(sim)
                }
            }
            (other, _) => ConsumerType::from_name(other),
        };
        let mut c = Consumer::new(
            id,
            producer_id,
            tk,
            pk,
            kind,
            ctype,
            streams,
            codecs,
            exts,
            mid,
            cname,
            rtp,
        );
        c.paused = d.get("paused").and_then(Value::as_bool).unwrap_or(false);
        c.ignore_dtx = d.get("ignoreDtx").and_then(Value::as_bool).unwrap_or(false);
        c.preferred_layers = preferred_layers;
        Ok(c)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        producer_id: String,
        transport: u32,
        producer: u32,
        kind: String,
        ctype: ConsumerType,
        streams: Vec<OutStream>,
        codecs: Vec<ConsumerCodec>,
        exts: Vec<(u8, ExtUri)>,
        mid: Option<String>,
        cname: String,
        rtp_parameters: Value,
    ) -> Self {
        Self {
            id,
            producer_id,
            transport,
            producer,
            kind,
            ctype,
            paused: false,
            producer_paused: false,
            streams,
            codecs,
            exts,
            mid,
            cname,
            nack_count: 0,
            nack_packet_count: 0,
            pli_count: 0,
            fir_count: 0,
            score: 10,
            score_changed: false,
            dd_scratch: Vec::new(),
            rtp_parameters: rtp_parameters.to_string().into_boxed_str(),
            priority: 1,
            ignore_dtx: false,
            trace_types: Vec::new(),
            preferred_layers: None,
            transport_connected: false,
            keyframe_requested_at: None,
            held: None,
            bwe_hold: Default::default(),
        }
    }

    pub fn rtp_parameters(&self) -> Value {
        serde_json::from_str(&self.rtp_parameters).unwrap_or(Value::Null)
    }

    /// The consumer's own requests. Returns the response (the router completes dump and
    /// stats with its producer's part) and whether a keyframe is needed.
    pub fn handle_request(
        &mut self,
        ctx: &Ctx,
        m: &str,
        d: &Value,
    ) -> Result<(Value, ConsumerEffect), CoreError> {
        let none = ConsumerEffect::None;
        match m {
            "consumer.dump" => Ok((
                self.dump_layers(json!({
                    "id": self.id,
                    "producerId": self.producer_id,
                    "kind": self.kind,
                    "type": self.ctype.name(),
                    "rtpParameters": self.rtp_parameters(),
                    "supportedCodecPayloadTypes": self.codecs.iter().map(|x| x.pt).collect::<Vec<_>>(),
                    "traceEventTypes": self.trace_types,
                    "paused": self.paused,
                    "producerPaused": self.producer_paused,
                    "priority": self.priority,
                })),
                none,
            )),
            "consumer.getStats" => {
                Ok((Value::Array(self.stats_json(ctx.now, ctx.unix_ms())), none))
            }
            "consumer.pause" => {
                self.paused = true;
                Ok((Value::Null, none))
            }
            "consumer.resume" => {
                let mut effect = none;
                if self.paused {
                    self.paused = false;
                    if self.is_active() {
                        self.restart();
                        effect = ConsumerEffect::RequestKeyFrame;
                    }
                }
                Ok((Value::Null, effect))
            }
            "consumer.requestKeyFrame" => Ok((Value::Null, ConsumerEffect::RequestKeyFrame)),
            "consumer.setPriority" => {
                let p = field(d, "priority")?
                    .as_u64()
                    .filter(|p| *p >= 1)
                    .ok_or_else(|| CoreError::type_error("wrong priority"))?;
                self.priority = p.min(255) as u8;
                Ok((json!({ "priority": self.priority }), none))
            }
            "consumer.setPreferredLayers" => {
                if matches!(self.ctype.name(), "simple" | "pipe") {
                    return Ok((Value::Null, none));
                }
                let spatial = field(d, "spatialLayer")?
                    .as_u64()
                    .ok_or_else(|| CoreError::type_error("wrong spatialLayer"))?;
                let layers = clamp_layers(
                    &self.rtp_parameters(),
                    Some(spatial),
                    d.get("temporalLayer").and_then(Value::as_u64),
                );
                self.preferred_layers = Some(layers.clone());
                let layer = |k: &str| layers[k].as_u64().unwrap_or(0) as usize;
                if let ConsumerType::Simulcast(sim) = &mut self.ctype {
                    sim.set_preferred(ctx.now, layer("spatialLayer"), layer("temporalLayer"));
                    return Ok((layers, ConsumerEffect::RequestKeyFrame));
                }
                if let ConsumerType::Svc(svc) = &mut self.ctype {
                    svc.set_preferred(layer("spatialLayer"), layer("temporalLayer"));
                    if std::mem::take(&mut svc.keyframe_wanted) {
                        return Ok((layers, ConsumerEffect::RequestKeyFrame));
                    }
                }
                Ok((layers, none))
            }
            "consumer.enableTraceEvent" => {
                self.trace_types = trace_types(d, &["rtp", "keyframe", "nack", "pli", "fir"]);
                Ok((Value::Null, none))
            }
            _ => Err(CoreError::error(format!("unknown method '{m}'"))),
        }
    }

    /// A simulcast consumer's dump adds its layers as mediasoup's does (-1: none).
    fn dump_layers(&self, mut v: Value) -> Value {
        // (preferred, target, current) as (spatial, temporal) pairs.
        let (preferred, target, current) = match &self.ctype {
            ConsumerType::Simulcast(sim) => {
                let preferred = (sim.preferred_spatial, sim.preferred_temporal);
                let target = sim
                    .target
                    .or(sim.current)
                    .map(|s| (s, sim.target_temporal()));
                (preferred, target, sim.current_layers())
            }
            ConsumerType::Svc(svc) => {
                let preferred = (svc.preferred_spatial, svc.preferred_temporal);
                (preferred, Some(svc.targets()), svc.current_layers())
            }
            _ => return v,
        };
        let layer = |l: Option<usize>| l.map_or(-1, |x| x as i64);
        v["preferredSpatialLayer"] = json!(preferred.0);
        v["targetSpatialLayer"] = json!(layer(target.map(|t| t.0)));
        v["currentSpatialLayer"] = json!(layer(current.map(|c| c.0)));
        v["preferredTemporalLayer"] = json!(preferred.1);
        v["targetTemporalLayer"] = json!(layer(target.map(|t| t.1)));
        v["currentTemporalLayer"] = json!(layer(current.map(|c| c.1)));
        v
    }

    pub fn is_pipe(&self) -> bool {
        matches!(self.ctype, ConsumerType::Pipe(_))
    }

    pub fn is_active(&self) -> bool {
        !self.paused && !self.producer_paused && self.transport_connected
    }

    /// The producer encodings this consumer is waiting on a keyframe from (to start, or to
    /// switch simulcast layers).
    pub fn encodings_awaiting_keyframe(&self) -> impl Iterator<Item = usize> + '_ {
        let switching = match &self.ctype {
            ConsumerType::Simulcast(s) => s.target,
            ConsumerType::Svc(s) => s.awaiting_keyframe().then_some(0),
            _ => None,
        };
        self.streams
            .iter()
            .enumerate()
            .filter(|(_, s)| s.keyframe_required)
            .map(|(i, _)| self.ctype.encoding_of(i))
            .chain(switching)
    }

    /// What a simulcast consumer's last packets changed, for the router: the 'layerschange'
    /// body if currentLayers changed (null: none), and whether a new target layer needs its
    /// keyframe. None (the common case, checked per packet) when nothing changed.
    #[inline]
    pub fn take_layer_events(&mut self) -> Option<(Option<Value>, bool)> {
        let (changed, wanted, current) = match &mut self.ctype {
            ConsumerType::Simulcast(s) if s.layers_changed || s.keyframe_wanted => (
                std::mem::take(&mut s.layers_changed),
                std::mem::take(&mut s.keyframe_wanted),
                s.current_layers(),
            ),
            ConsumerType::Svc(s) if s.layers_changed || s.keyframe_wanted => (
                std::mem::take(&mut s.layers_changed),
                std::mem::take(&mut s.keyframe_wanted),
                s.current_layers(),
            ),
            _ => return None,
        };
        let layers = changed.then(|| {
            current.map_or(
                Value::Null,
                |(sl, tl)| json!({ "spatialLayer": sl, "temporalLayer": tl }),
            )
        });
        Some((layers, wanted))
    }

    /// All SSRCs this consumer sends (media and RTX).
    pub fn ssrcs(&self) -> impl Iterator<Item = u32> + '_ {
        self.streams
            .iter()
            .flat_map(|s| std::iter::once(s.ssrc).chain(s.rtx_ssrc))
    }

    /// (Re)start after pause or producer resume: continue numbering, wait for a keyframe.
    pub fn restart(&mut self) {
        match &mut self.ctype {
            ConsumerType::Simulcast(sim) => sim.restart(),
            ConsumerType::Svc(svc) => svc.restart(),
            _ => {}
        }
        let video = self.kind == "video";
        for s in &mut self.streams {
            s.seq.request_resync();
            s.sync_required = true;
            s.keyframe_required = video;
        }
    }

    fn codec_for(&self, pt: u8) -> Option<&ConsumerCodec> {
        self.codecs.iter().find(|c| c.pt == pt)
    }

    /// Index of the outgoing stream a producer encoding maps to, if this consumer sends it.
    fn stream_for(&self, encoding: usize) -> Option<usize> {
        self.ctype.stream_for(encoding, self.streams.len())
    }

    /// The producer encodings this consumer forwards (one per outgoing stream).
    pub fn encodings(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.streams.len()).map(|i| self.ctype.encoding_of(i))
    }

    /// Writes the rewritten packet into `out` (cleared first). Returns false if the packet is
    /// not forwarded (paused, unknown payload type, waiting for a keyframe, DTX to ignore).
    pub fn forward(
        &mut self,
        now: Instant,
        src: &SourcePacket<'_>,
        tcc_seq: &mut u16,
        abs_send_time: u32,
        out: &mut Vec<u8>,
    ) -> bool {
        if !self.is_active() {
            return false;
        }
        let Some(si) = self.stream_for(src.encoding) else {
            return false;
        };
        let Some(codec) = self.codec_for(src.mapped_pt) else {
            return false;
        };
        let payload = &src.view.buf[src.payload_off..src.view.payload_off + src.view.payload_len];
        if self.ignore_dtx && codec.kind == CodecKind::Opus && payload.len() <= 2 {
            return false;
        }
        let codec_kind = codec.kind;
        let vp8 = codec_kind == CodecKind::Vp8;
        if src.blind.is_some() && self.held_while_waiting(now, si, src) {
            return false;
        }
        let st = &mut self.streams[si];
        let mut ts = src.view.timestamp();
        let mut encoding_switched = false;
        if let ConsumerType::Simulcast(sim) = &mut self.ctype {
            match sim.admit(now, src.encoding, ts, src.keyframe, src.sender_reports) {
                Admit::Drop => return false,
                Admit::Forward {
                    timestamp,
                    switched,
                } => {
                    ts = timestamp;
                    encoding_switched = switched;
                    if switched {
                        st.seq.request_resync();
                    }
                    let temporal = if sim.temporal_layers <= 1 {
                        None
                    } else if let Some(d) = &src.dd {
                        // Any codec the sender describes with a dependency descriptor: a
                        // frame may be switched up to where its decode target says so.
                        let f = &d.frame;
                        let dt = d.structure.decode_target(f.spatial, f.temporal);
                        Some(vp8::Temporal {
                            tid: f.temporal,
                            sync: f.start && dt.is_some_and(|dt| f.dti(dt) == dd::DTI_SWITCH),
                            picture_id: vp8
                                .then(|| vp8::temporal(payload))
                                .flatten()
                                .and_then(|t| t.picture_id),
                        })
                    } else if vp8 {
                        vp8::temporal(payload)
                    } else if codec_kind == CodecKind::Vp9 {
                        // VP9's descriptor: TID, and U (switching up point) on the frame's
                        // first packet. Its PictureIDs need no closing over: Chromium's VP9
                        // receiver reads references from the descriptor.
                        crate::core::codecs::vp9::Descriptor::parse(payload).map(|d| {
                            vp8::Temporal {
                                tid: d.tid,
                                sync: d.switch_up && d.start,
                                picture_id: None,
                            }
                        })
                    } else {
                        None
                    };
                    if let Some(t) = temporal {
                        if !sim.admit_temporal(t.tid, t.sync, switched) {
                            st.seq.drop(src.seq);
                            if let Some(pid) = t.picture_id {
                                sim.vp8.drop_picture(pid);
                            }
                            return false;
                        }
                    }
                }
            }
        }
        let mut marker = false;
        if let ConsumerType::Svc(svc) = &mut self.ctype {
            // Routing facts from the dependency descriptor when the packet carries one, the
            // VP9 payload descriptor otherwise; a packet with neither goes through.
            let admit = match &src.dd {
                Some(d) => Some(svc.admit_dd(&d.frame, d.structure, d.active)),
                None if codec_kind == CodecKind::Vp9 => {
                    crate::core::codecs::vp9::Descriptor::parse(payload).map(|d| svc.admit(&d))
                }
                None => None,
            };
            match admit {
                Some(SvcAdmit::Drop) => {
                    st.seq.drop(src.seq);
                    return false;
                }
                Some(SvcAdmit::Forward { marker: m }) => marker = m,
                None => {}
            }
        }
        if st.keyframe_required {
            if !src.keyframe {
                return false;
            }
            st.keyframe_required = false;
        }
        if st.sync_required {
            st.sync_required = false;
            st.seq.request_resync();
        }
        let seq = st.seq.rewrite(src.seq);
        let ssrc = st.ssrc;
        // A receiver that negotiated the dependency descriptor gets it rewritten: the frame
        // number continuing across simulcast switches, the active decode targets naming only
        // the layers it still gets.
        let mut dd_buf = Vec::new();
        let dd_raw = src.dd.as_ref().and_then(|d| {
            let raw = src
                .view
                .extension(src.ext_ids[ExtUri::DependencyDescriptor as usize])?;
            self.ext_id(ExtUri::DependencyDescriptor)?;
            dd_buf = std::mem::take(&mut self.dd_scratch);
            Some((d, raw))
        });
        let took = dd_raw.is_some();
        let dd_out = match dd_raw {
            Some((d, raw)) => {
                let (frame_number, active) = match &mut self.ctype {
                    ConsumerType::Simulcast(sim) => (
                        sim.dd_frame_number(d.frame.frame_number, encoding_switched),
                        sim.active_decode_targets(d.structure, d.active),
                    ),
                    ConsumerType::Svc(svc) => (
                        d.frame.frame_number,
                        svc.active_decode_targets(d.structure, d.active),
                    ),
                    _ => (d.frame.frame_number, None),
                };
                dd::rewrite(
                    raw,
                    &d.frame,
                    d.structure,
                    frame_number,
                    active,
                    &mut dd_buf,
                );
                Some(&dd_buf[..])
            }
            None => None,
        };
        self.write_packet(
            src,
            ssrc,
            src.mapped_pt,
            seq,
            ts,
            tcc_seq,
            abs_send_time,
            payload,
            dd_out,
            out,
        );
        if took {
            self.dd_scratch = dd_buf;
        }
        if let (true, ConsumerType::Simulcast(sim)) = (vp8, &mut self.ctype) {
            let start = out.len() - payload.len();
            sim.vp8.rewrite(&mut out[start..]);
        }
        if marker {
            out[1] |= 0x80;
        }
        let st = &mut self.streams[si];
        st.buffer.store(now, seq, out);
        st.sent.add(now, out.len());
        st.last_ts = ts;
        st.last_ts_at = Some(now);
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn write_packet(
        &self,
        src: &SourcePacket<'_>,
        ssrc: u32,
        pt: u8,
        seq: u16,
        ts: u32,
        tcc_seq: &mut u16,
        ast: u32,
        payload: &[u8],
        dd: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) {
        out.clear();
        let csrcs = src.view.csrcs();
        out.extend_from_slice(&[
            0x80 | (csrcs.len() / 4) as u8,
            pt | if src.view.marker() { 0x80 } else { 0 },
        ]);
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&ts.to_be_bytes());
        out.extend_from_slice(&ssrc.to_be_bytes());
        out.extend_from_slice(csrcs);
        let ext_start = out.len();
        // Values longer than 16 bytes (a dependency descriptor with its structure) need the
        // two-byte form (mediasoup-client's remote descriptions allow it: extmap-allow-mixed).
        // A descriptor copied as it came (one not read) counts only if this consumer carries
        // it at all.
        let dd_len = match dd {
            Some(d) => d.len(),
            None if src.ext_ids[ExtUri::DependencyDescriptor as usize] != 0
                && self.ext_id(ExtUri::DependencyDescriptor).is_some() =>
            {
                src.view
                    .extension(src.ext_ids[ExtUri::DependencyDescriptor as usize])
                    .map_or(0, <[u8]>::len)
            }
            None => 0,
        };
        let two_byte = dd_len > 16 || self.exts.iter().any(|(id, _)| *id > 14);
        // Room for the extension block: header + each element at most 2 + 255 bytes.
        out.resize(ext_start + 4 + 64 + dd_len + self.exts.len() * 20, 0);
        let mut w = ExtWriter::new(out, ext_start, two_byte);
        for &(id, uri) in &self.exts {
            match uri {
                ExtUri::Mid => {
                    if let Some(m) = &self.mid {
                        w.push(id, m.as_bytes());
                    }
                }
                ExtUri::Rid | ExtUri::Rrid => {}
                ExtUri::TransportWideCc => {
                    *tcc_seq = tcc_seq.wrapping_add(1);
                    w.push(id, &tcc_seq.to_be_bytes());
                }
                ExtUri::AbsSendTime => {
                    w.push(id, &ast.to_be_bytes()[1..]);
                }
                ExtUri::DependencyDescriptor if dd.is_some() => {
                    w.push(id, dd.unwrap_or_default());
                }
                other => {
                    let pid = src.ext_ids[other as usize];
                    if let Some(v) = src.view.extension(pid) {
                        if v.len() <= 16 || two_byte {
                            w.push(id, v);
                        }
                    }
                }
            }
        }
        let end = w.finish();
        out.truncate(end);
        if end > ext_start {
            out[0] |= 0x10;
        }
        out.extend_from_slice(payload);
    }

    /// Builds the RTX (or plain) retransmission of `seq` of the stream with media SSRC `ssrc`
    /// into `out`, with the transport's next transport-wide sequence number if the packet
    /// carries one. Returns whether it was RTX, or None if the packet is not buffered.
    pub fn retransmit(
        &mut self,
        now: Instant,
        ssrc: u32,
        seq: u16,
        tcc_seq: &mut u16,
        out: &mut Vec<u8>,
    ) -> Option<bool> {
        let si = self.streams.iter().position(|s| s.ssrc == ssrc)?;
        // Once per round trip (at least 20 ms, 100 ms before one is measured).
        let rtt = self.streams[si].rtt_ms;
        let gap = Duration::from_millis(if rtt > 0.0 { (rtt as u64).max(20) } else { 100 });
        match self.streams[si].buffer.may_resend(now, seq, gap) {
            None => return None,
            Some(first) => self.streams[si].repaired += u64::from(first),
        }
        let (pt, hl) = {
            let v = RtpView::parse(self.streams[si].buffer.get(now, seq)?).ok()?;
            (v.payload_type(), v.header_len())
        };
        let rtx_pt = self.codec_for(pt).and_then(|c| c.rtx_pt);
        let st = &mut self.streams[si];
        let orig = st.buffer.get(now, seq)?;
        out.clear();
        let rtx = match (st.rtx_ssrc, rtx_pt) {
            (Some(rssrc), Some(rpt)) => {
                st.rtx_seq = st.rtx_seq.wrapping_add(1);
                out.extend_from_slice(&orig[..hl]);
                out[0] &= !0x20;
                out[1] = (out[1] & 0x80) | rpt;
                out[2..4].copy_from_slice(&st.rtx_seq.to_be_bytes());
                out[8..12].copy_from_slice(&rssrc.to_be_bytes());
                out.extend_from_slice(&seq.to_be_bytes());
                out.extend_from_slice(&orig[hl..]);
                true
            }
            _ => {
                out.extend_from_slice(orig);
                false
            }
        };
        st.retransmitted.add(now, out.len());
        // A retransmission is a new packet for congestion control: its own transport-wide
        // sequence number.
        if let Some(id) = self.ext_id(ExtUri::TransportWideCc) {
            let at = RtpView::parse(out).ok().and_then(|v| {
                let e = v.extension(id).filter(|e| e.len() >= 2)?;
                Some(e.as_ptr() as usize - out.as_ptr() as usize)
            });
            if let Some(at) = at {
                *tcc_seq = tcc_seq.wrapping_add(1);
                out[at..at + 2].copy_from_slice(&tcc_seq.to_be_bytes());
            }
        }
        Some(rtx)
    }

    /// The id the remote gave a header extension, if it accepted it.
    pub fn ext_id(&self, uri: ExtUri) -> Option<u8> {
        self.exts.iter().find(|(_, u)| *u == uri).map(|(id, _)| *id)
    }

    /// Handles a receiver report block about one of our SSRCs.
    pub fn handle_report(&mut self, now_ntp_mid: u32, rb: &ReportBlock) {
        let Some(st) = self.streams.iter_mut().find(|s| s.ssrc == rb.ssrc) else {
            return;
        };
        st.packets_lost = rb.total_lost;
        st.fraction_lost = rb.fraction_lost;
        if rb.lsr != 0 {
            let rtt = now_ntp_mid.wrapping_sub(rb.lsr).wrapping_sub(rb.dlsr);
            if rtt < 65536 * 10 {
                st.rtt_ms = rtt as f64 * 1000.0 / 65536.0;
            }
        }
        // The interval since the last report, as mediasoup scores a sent stream: packets
        // sent, lost (from the report's cumulative count), repaired and retransmitted.
        let now = (
            st.sent.packets,
            rb.total_lost.max(0) as u64,
            st.repaired,
            st.retransmitted.packets,
        );
        let prior = std::mem::replace(&mut st.score_prior, now);
        let sent = now.0.saturating_sub(prior.0);
        let s = if sent == 0 {
            10
        } else {
            interval_score(
                sent,
                now.1.saturating_sub(prior.1),
                now.2.saturating_sub(prior.2),
                now.3.saturating_sub(prior.3),
            )
        };
        st.score.push(s);
        let score = self
            .streams
            .iter()
            .map(|s| s.score.value)
            .min()
            .unwrap_or(10);
        if score != self.score {
            self.score = score;
            self.score_changed = true;
        }
    }

    /// Sender report + SDES for every stream that has sent something.
    pub fn write_sr(&self, now: Instant, ntp: u64, out: &mut Vec<u8>) {
        let clock = self.codecs.first().map_or(90000, |c| c.clock_rate) as f64;
        for st in &self.streams {
            let Some(at) = st.last_ts_at else { continue };
            let rtp_ts = st
                .last_ts
                .wrapping_add((now.duration_since(at).as_secs_f64() * clock) as u32);
            let info = SenderInfo {
                ssrc: st.ssrc,
                ntp,
                rtp_ts,
                packets: st.sent.packets as u32,
                octets: st.sent.bytes as u32,
            };
            rtcp::write_sr(out, &info, &[]);
            rtcp::write_sdes_cname(out, st.ssrc, &self.cname);
        }
    }

    pub fn stats_json(&mut self, now: Instant, ts_ms: u64) -> Vec<Value> {
        let mime = self
            .codecs
            .first()
            .map(|c| c.mime.clone())
            .unwrap_or_default();
        let (kind, nacks, nack_pkts, plis, firs) = (
            self.kind.clone(),
            self.nack_count,
            self.nack_packet_count,
            self.pli_count,
            self.fir_count,
        );
        self.streams
            .iter_mut()
            .map(|st| {
                let mut o = json!({
                    "type": "outbound-rtp",
                    "timestamp": ts_ms,
                    "ssrc": st.ssrc,
                    "kind": kind,
                    "mimeType": mime,
                    "packetsLost": st.packets_lost,
                    "fractionLost": st.fraction_lost,
                    "packetsDiscarded": 0,
                    "packetsRetransmitted": st.retransmitted.packets,
                    "packetsRepaired": st.repaired,
                    "nackCount": nacks,
                    "nackPacketCount": nack_pkts,
                    "pliCount": plis,
                    "firCount": firs,
                    "score": st.score.value,
                    "packetCount": st.sent.packets,
                    "byteCount": st.sent.bytes,
                    "bitrate": st.sent.rate.rate(now),
                    "roundTripTime": st.rtt_ms,
                });
                if let Some(r) = st.rtx_ssrc {
                    o["rtxSsrc"] = json!(r);
                }
                o
            })
            .collect()
    }
}
