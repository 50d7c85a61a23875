//! The router's media objects: producers and consumers created from requests and registered
//! in the transports' RTP listeners, their requests, and the keyframe requests between them
//! (a consumer's need goes to its producer, throttled and deferred there, retried while the
//! consumer waits; a transport's connection activates its consumers).

use super::Graph;
use crate::core::codecs::CodecKind;
use crate::core::consumer::{Consumer, ConsumerCodec, OutStream};
use crate::core::context::{field, str_field, trace_types, Ctx, Res};
use crate::core::message::CoreError;
use crate::core::producer::{Producer, ProducerCodec, ProducerEncoding, ProducerType};
use crate::core::rtp::params::{
    clamp_layers, ext_ids_of, has_fb, normalize_rtp_parameters, validate_producer_parameters,
};
use crate::core::rtp::ExtUri;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long a consumer waits for the keyframe it asked for before asking again (the request
/// or the keyframe may have been lost, or the sender may have ignored it). mediasoup's
/// KeyFrameRequestManager waits as long before retrying.
const KEYFRAME_RETRY: Duration = Duration::from_millis(1000);

impl Graph {
    pub fn produce(&mut self, ctx: &mut Ctx, tk: u32, d: &Value) -> Res {
        let id = str_field(d, "producerId")?.to_string();
        if self.producer_ids.contains(&id) {
            return Err(CoreError::error(format!(
                "a Producer with same producerId already exists [producerId:{id}]"
            )));
        }
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
        let t = self.transports.get_mut(&tk).expect("checked");
        // Conflicts in the RTP listener, as mediasoup checks them.
        for e in &encodings {
            for s in [e.ssrc, e.rtx_ssrc].into_iter().flatten() {
                if t.ssrc_map.contains_key(&s) {
                    return Err(CoreError::error(format!(
                        "ssrc already exists in RTP listener [ssrc:{s}]"
                    )));
                }
            }
        }
        let mid = rtp.get("mid").and_then(Value::as_str).map(str::to_string);
        if let Some(m) = &mid {
            if t.mid_map.contains_key(m) {
                return Err(CoreError::error(format!(
                    "MID already exists in RTP listener [mid:{m}]"
                )));
            }
        }
        let n = encodings.len();
        let producer = Producer {
            id: id.clone(),
            transport: tk,
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
            rtcp_ssrc: t.rtcp_ssrc,
            created: ctx.now,
            last_scores: Vec::new(),
            observers: Vec::new(),
            video_orientation: None,
            trace_types: Vec::new(),
        };
        let pk = self.producer_ids.insert(&id);
        for e in &producer.encodings {
            for s in [e.ssrc, e.rtx_ssrc].into_iter().flatten() {
                t.ssrc_map.insert(s, pk);
            }
        }
        if let Some(m) = mid {
            t.mid_map.insert(m, pk);
        }
        t.producers.push(pk);
        let router = t.router.clone();
        self.producers.insert(pk, producer);
        if let Some(r) = self.routers.get_mut(&router) {
            r.producers.push(id);
        }
        Ok(json!({ "type": ptype.as_str() }))
    }
    pub fn consume(&mut self, ctx: &mut Ctx, tk: u32, d: &Value) -> Res {
        let id = str_field(d, "consumerId")?.to_string();
        if self.consumer_ids.contains(&id) {
            return Err(CoreError::error(format!(
                "a Consumer with same consumerId already exists [consumerId:{id}]"
            )));
        }
        let producer_id = str_field(d, "producerId")?.to_string();
        let pk = self.producer_ids.get(&producer_id).ok_or_else(|| {
            CoreError::not_found(format!("Producer not found [producerId:{producer_id}]"))
        })?;
        let kind = str_field(d, "kind")?.to_string();
        let mut rtp = field(d, "rtpParameters")?.clone();
        normalize_rtp_parameters(&mut rtp);
        let ctype = d
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("simple")
            .to_string();
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
        if ctype != "pipe" {
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
        let mut c = Consumer::new(
            id.clone(),
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
        self.sync_transport_connected(ctx, tk);
        c.transport_connected = self.transports[&tk].media_connected;
        let producer = self.producers.get_mut(&pk).expect("checked");
        c.producer_paused = producer.paused;
        // Until layer switching lands, a simulcast/SVC producer's consumer follows encoding 0.
        c.encoding = 0;
        let ck = self.consumer_ids.insert(&id);
        producer.consumers.push(ck);
        let t = self.transports.get_mut(&tk).expect("checked");
        t.consumers.push(ck);
        for ssrc in c.ssrcs() {
            t.consumer_ssrcs.insert(ssrc, ck);
        }
        let (paused, producer_paused) = (c.paused, c.producer_paused);
        if c.ctype == "simulcast" || c.ctype == "svc" {
            let pl = d.get("preferredLayers");
            let spatial = pl
                .and_then(|l| l.get("spatialLayer"))
                .and_then(Value::as_u64);
            let temporal = pl
                .and_then(|l| l.get("temporalLayer"))
                .and_then(Value::as_u64);
            c.preferred_layers = Some(clamp_layers(&c.rtp_parameters, spatial, temporal));
        }
        let preferred_layers = c.preferred_layers.clone();
        let active = c.is_active();
        let score = self.consumer_score(&c);
        self.consumers.insert(ck, c);
        if active {
            self.request_keyframe_for(ctx, ck);
        }
        Ok(json!({
            "paused": paused,
            "producerPaused": producer_paused,
            "score": score,
            "preferredLayers": preferred_layers,
        }))
    }
    /// `{ score, producerScore, producerScores }` as mediasoup reports it: the producer's
    /// per-encoding scores are 0 until their stream has been seen.
    pub fn consumer_score(&self, c: &Consumer) -> Value {
        let all: Vec<u8> = self
            .producers
            .get(&c.producer)
            .map(|p| {
                p.streams
                    .iter()
                    .map(|s| s.as_ref().map_or(0, |s| s.score))
                    .collect()
            })
            .unwrap_or_default();
        // A pipe consumer forwards every encoding: mediasoup reports it as fully fed.
        let producer_score = if c.is_pipe() {
            10
        } else {
            all.get(c.encoding).copied().unwrap_or(0)
        };
        json!({ "score": c.score, "producerScore": producer_score, "producerScores": all })
    }
    /// A consumer needs a keyframe (created, resumed, its transport connected, its producer
    /// resumed, its remote sent PLI/FIR, or the app asked): ask its producer for one on each
    /// encoding it forwards, and remember the consumer until the keyframe arrives so that the
    /// request is repeated every `KEYFRAME_RETRY` (mediasoup: `Consumer::RequestKeyFrame()`,
    /// ignored while the consumer is not active, since what it cannot send it cannot start).
    pub fn request_keyframe_for(&mut self, ctx: &mut Ctx, ck: u32) {
        let Some(c) = self.consumers.get_mut(&ck) else {
            return;
        };
        if c.kind != "video" || !c.is_active() {
            return;
        }
        c.keyframe_requested_at = Some(ctx.now);
        if c.encodings_awaiting_keyframe().next().is_some() {
            self.keyframe_waiters.insert(ck);
        }
        let pk = c.producer;
        if c.is_pipe() {
            for enc in 0..c.streams.len() {
                self.send_keyframe_request(ctx, pk, Some(enc), false);
            }
        } else {
            let enc = c.encoding;
            self.send_keyframe_request(ctx, pk, Some(enc), false);
        }
    }
    /// Writes the producer's PLI/FIR (throttled and deferred by the producer; with
    /// `deferred_only`, only the requests whose throttle window has ended) to its sender.
    pub fn send_keyframe_request(
        &mut self,
        ctx: &mut Ctx,
        pk: u32,
        encoding: Option<usize>,
        deferred_only: bool,
    ) {
        let now = ctx.now;
        let mut out = ctx.buf();
        let Some(p) = self.producers.get_mut(&pk) else {
            ctx.recycle(out);
            return;
        };
        let sent = if deferred_only {
            p.flush_deferred_keyframe_requests(now, &mut out)
        } else {
            p.request_keyframe(now, encoding, &mut out)
        };
        let Some((kind, ssrc)) = sent else {
            if !deferred_only && p.next_deferred_keyframe_request().is_some() {
                let pid = p.id.clone();
                ctx.log(crate::core::log::LogLevel::Debug, "rtcp", || {
                    format!("keyframe request deferred to the end of keyFrameRequestDelay [producerId:{pid}]")
                });
            }
            ctx.recycle(out);
            return;
        };
        let tk = p.transport;
        let pid = p.id.clone();
        let trace = p.trace_types.iter().any(|t| t == kind);
        if let Some(t) = self.transports.get_mut(&tk) {
            t.transmit(ctx, out, true, false);
        }
        ctx.log(crate::core::log::LogLevel::Debug, "rtcp", || {
            format!("keyframe requested ({kind}) [producerId:{pid}, ssrc:{ssrc}]")
        });
        if trace {
            ctx.trace(&pid, kind, "out", json!({ "ssrc": ssrc }));
        }
    }
    /// Keyframe upkeep, every tick: deferred producer requests whose window ended go out, and
    /// consumers still waiting for the keyframe they asked for `KEYFRAME_RETRY` ago ask again.
    /// Without the retry a consumer whose request (or whose keyframe) was lost would stay
    /// black: a receiver that has decoded nothing sends no PLI of its own.
    pub fn keyframe_upkeep(&mut self, ctx: &mut Ctx, now: Instant) {
        let due: Vec<u32> = self
            .producers
            .iter()
            .filter(|(_, p)| p.next_deferred_keyframe_request().is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        for pk in due {
            self.send_keyframe_request(ctx, pk, None, true);
        }
        if self.keyframe_waiters.is_empty() {
            return;
        }
        let mut retry = Vec::new();
        let consumers = &self.consumers;
        self.keyframe_waiters.retain(|ck| {
            let Some(c) = consumers.get(ck) else {
                return false;
            };
            // Inactive: it asks again when it becomes active (resume, transport connected).
            if !c.is_active() || c.encodings_awaiting_keyframe().next().is_none() {
                return false;
            }
            if c.keyframe_requested_at
                .is_none_or(|t| now.duration_since(t) >= KEYFRAME_RETRY)
            {
                retry.push(*ck);
            }
            true
        });
        for ck in retry {
            self.request_keyframe_for(ctx, ck);
        }
    }
    /// Tells a transport's consumers when it starts or stops being able to carry media
    /// (`Transport::can_carry_media`). A consumer made active by the connection waits for a
    /// keyframe and asks for one now — not before: a keyframe requested while the transport
    /// could not carry it goes by unseen, and nothing would ask again.
    pub fn sync_transport_connected(&mut self, ctx: &mut Ctx, k: u32) {
        let Some(t) = self.transports.get_mut(&k) else {
            return;
        };
        let connected = t.can_carry_media();
        if connected == t.media_connected {
            return;
        }
        t.media_connected = connected;
        let cks = t.consumers.clone();
        let tid = t.id.clone();
        ctx.log(crate::core::log::LogLevel::Debug, "rtp", || {
            let can = if connected { "can" } else { "cannot" };
            format!("transport {can} carry media now [transportId:{tid}]")
        });
        for ck in cks {
            let Some(c) = self.consumers.get_mut(&ck) else {
                continue;
            };
            c.transport_connected = connected;
            if connected && c.is_active() {
                c.restart();
                self.request_keyframe_for(ctx, ck);
            }
        }
    }
    pub fn producer_request(&mut self, ctx: &mut Ctx, k: u32, m: &str, d: &Value) -> Res {
        let now = ctx.now;
        let ts = ctx.unix_ms();
        match m {
            "producer.dump" => {
                let p = &self.producers[&k];
                Ok(json!({
                    "id": p.id,
                    "kind": p.kind,
                    "type": p.ptype.as_str(),
                    "rtpParameters": p.rtp_parameters,
                    "rtpMapping": {
                        "codecs": p.codecs.iter().map(|c| json!({ "payloadType": c.pt, "mappedPayloadType": c.mapped_pt })).collect::<Vec<_>>(),
                        "encodings": p.encodings.iter().map(|e| json!({ "ssrc": e.ssrc, "rid": e.rid, "mappedSsrc": e.mapped_ssrc })).collect::<Vec<_>>(),
                    },
                    "rtpStreams": p.streams.iter().flatten().map(|s| json!({ "params": { "ssrc": s.ssrc, "rid": s.rid, "rtxSsrc": s.rtx_ssrc }, "score": s.score })).collect::<Vec<_>>(),
                    "traceEventTypes": p.trace_types,
                    "paused": p.paused,
                }))
            }
            "producer.getStats" => Ok(self
                .producers
                .get_mut(&k)
                .expect("checked")
                .stats_json(now, ts)),
            "producer.pause" | "producer.resume" => {
                let pause = m == "producer.pause";
                let p = self.producers.get_mut(&k).expect("checked");
                if p.paused == pause {
                    return Ok(Value::Null);
                }
                p.paused = pause;
                let consumers = p.consumers.clone();
                for ck in consumers {
                    let Some(c) = self.consumers.get_mut(&ck) else {
                        continue;
                    };
                    let was_active = c.is_active();
                    c.producer_paused = pause;
                    let cid = c.id.clone();
                    if !pause && !was_active && c.is_active() {
                        c.restart();
                    }
                    let active = c.is_active();
                    ctx.notify(
                        &cid,
                        if pause {
                            "producerpause"
                        } else {
                            "producerresume"
                        },
                        Value::Null,
                    );
                    if !pause && active {
                        self.request_keyframe_for(ctx, ck);
                    }
                }
                Ok(Value::Null)
            }
            "producer.enableTraceEvent" => {
                self.producers.get_mut(&k).expect("checked").trace_types =
                    trace_types(d, &["rtp", "keyframe", "nack", "pli", "fir", "sr"]);
                Ok(Value::Null)
            }
            _ => Err(CoreError::error(format!("unknown method '{m}'"))),
        }
    }
    pub fn consumer_request(&mut self, ctx: &mut Ctx, k: u32, m: &str, d: &Value) -> Res {
        let now = ctx.now;
        let ts = ctx.unix_ms();
        match m {
            "consumer.dump" => {
                let c = &self.consumers[&k];
                Ok(json!({
                    "id": c.id,
                    "producerId": c.producer_id,
                    "kind": c.kind,
                    "type": c.ctype,
                    "rtpParameters": c.rtp_parameters,
                    "consumableRtpEncodings": self.producers.get(&c.producer).map(|p| p.consumable_rtp_parameters["encodings"].clone()),
                    "supportedCodecPayloadTypes": c.codecs.iter().map(|x| x.pt).collect::<Vec<_>>(),
                    "traceEventTypes": c.trace_types,
                    "paused": c.paused,
                    "producerPaused": c.producer_paused,
                    "priority": c.priority,
                }))
            }
            "consumer.getStats" => {
                let c = self.consumers.get_mut(&k).expect("checked");
                let mut v = c.stats_json(now, ts);
                let pk = c.producer;
                if let Some(p) = self.producers.get_mut(&pk) {
                    if let Value::Array(a) = p.stats_json(now, ts) {
                        v.extend(a.into_iter().take(1));
                    }
                }
                Ok(Value::Array(v))
            }
            "consumer.pause" => {
                self.consumers.get_mut(&k).expect("checked").paused = true;
                Ok(Value::Null)
            }
            "consumer.resume" => {
                let c = self.consumers.get_mut(&k).expect("checked");
                if c.paused {
                    c.paused = false;
                    if c.is_active() {
                        c.restart();
                        self.request_keyframe_for(ctx, k);
                    }
                }
                Ok(Value::Null)
            }
            "consumer.requestKeyFrame" => {
                self.request_keyframe_for(ctx, k);
                Ok(Value::Null)
            }
            "consumer.setPriority" => {
                let p = field(d, "priority")?
                    .as_u64()
                    .filter(|p| *p >= 1)
                    .ok_or_else(|| CoreError::type_error("wrong priority"))?;
                let c = self.consumers.get_mut(&k).expect("checked");
                c.priority = p.min(255) as u8;
                Ok(json!({ "priority": c.priority }))
            }
            "consumer.setPreferredLayers" => {
                let c = self.consumers.get_mut(&k).expect("checked");
                if c.ctype == "simple" || c.ctype == "pipe" {
                    return Ok(Value::Null);
                }
                let spatial = field(d, "spatialLayer")?
                    .as_u64()
                    .ok_or_else(|| CoreError::type_error("wrong spatialLayer"))?;
                let layers = clamp_layers(
                    &c.rtp_parameters,
                    Some(spatial),
                    d.get("temporalLayer").and_then(Value::as_u64),
                );
                c.preferred_layers = Some(layers.clone());
                Ok(layers)
            }
            "consumer.enableTraceEvent" => {
                self.consumers.get_mut(&k).expect("checked").trace_types =
                    trace_types(d, &["rtp", "keyframe", "nack", "pli", "fir"]);
                Ok(Value::Null)
            }
            _ => Err(CoreError::error(format!("unknown method '{m}'"))),
        }
    }
}
