//! The router's media objects: producers and consumers created from requests and registered
//! in the transports' RTP listeners, their requests, and the keyframe requests between them
//! (a consumer's need goes to its producer, throttled and deferred there, retried while the
//! consumer waits; a transport's connection activates its consumers).
//!
//! Like every file of the router, it owns no state of its own (the `Graph` does) and leaves
//! each object's own work to its module: parsing, counters, rewriting and requests that touch
//! one object only are the producer's and the consumer's.

use super::Graph;
use crate::core::consumer::{Consumer, ConsumerEffect};
use crate::core::context::{str_field, Ctx, Res};
use crate::core::message::CoreError;
use crate::core::producer::Producer;
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
        let t = self.transports.get_mut(&tk).expect("checked");
        let producer = Producer::from_request(id.clone(), d, tk, t.rtcp_ssrc, ctx.now)?;
        let ptype = producer.ptype;
        // Conflicts in the RTP listener, as mediasoup checks them.
        for e in &producer.encodings {
            for s in [e.ssrc, e.rtx_ssrc].into_iter().flatten() {
                if t.ssrc_map.contains_key(&s) {
                    return Err(CoreError::error(format!(
                        "ssrc already exists in RTP listener [ssrc:{s}]"
                    )));
                }
            }
        }
        let mid = producer
            .rtp_parameters
            .get("mid")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(m) = &mid {
            if t.mid_map.contains_key(m) {
                return Err(CoreError::error(format!(
                    "MID already exists in RTP listener [mid:{m}]"
                )));
            }
        }
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
        let mut c = Consumer::from_request(id.clone(), producer_id, tk, pk, d)?;
        self.sync_transport_connected(ctx, tk);
        c.transport_connected = self.transports[&tk].media_connected;
        let producer = self.producers.get_mut(&pk).expect("checked");
        c.producer_paused = producer.paused;
        let ck = self.consumer_ids.insert(&id);
        producer.consumers.push(ck);
        let t = self.transports.get_mut(&tk).expect("checked");
        t.consumers.push(ck);
        for ssrc in c.ssrcs() {
            t.consumer_ssrcs.insert(ssrc, ck);
        }
        let (paused, producer_paused) = (c.paused, c.producer_paused);
        let preferred_layers = c.preferred_layers.clone();
        let active = c.is_active();
        let score = self.consumer_score(&c);
        self.consumers.insert(ck, c);
        self.start_bwe_for(tk, ck);
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
                    .map(|s| s.as_ref().map_or(0, |s| s.score.value))
                    .collect()
            })
            .unwrap_or_default();
        // A pipe consumer forwards every encoding: mediasoup reports it as fully fed.
        let producer_score = match c.ctype.scored_encoding() {
            Some(e) => all.get(e).copied().unwrap_or(0),
            None => 10,
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
        let encodings: Vec<usize> = c.encodings().collect();
        for enc in encodings {
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

    /// Producer requests: pause and resume reach its consumers; the rest is the producer's own.
    pub fn producer_request(&mut self, ctx: &mut Ctx, k: u32, m: &str, d: &Value) -> Res {
        let p = self.producers.get_mut(&k).expect("checked");
        let pause = match m {
            "producer.pause" => true,
            "producer.resume" => false,
            _ => return p.handle_request(ctx, m, d),
        };
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
            if !pause && !was_active && c.is_active() {
                c.restart();
            }
            let active = c.is_active();
            let event = if pause {
                "producerpause"
            } else {
                "producerresume"
            };
            ctx.notify(&c.id, event, Value::Null);
            if !pause && active {
                self.request_keyframe_for(ctx, ck);
            }
        }
        Ok(Value::Null)
    }

    /// Consumer requests: the consumer answers, the router adds what comes from its producer
    /// (consumable encodings, the producer's stats) and acts on a keyframe need.
    pub fn consumer_request(&mut self, ctx: &mut Ctx, k: u32, m: &str, d: &Value) -> Res {
        let c = self.consumers.get_mut(&k).expect("checked");
        let (mut v, effect) = c.handle_request(ctx, m, d)?;
        let pk = c.producer;
        match m {
            "consumer.dump" => {
                v["consumableRtpEncodings"] = self.producers.get(&pk).map_or(Value::Null, |p| {
                    p.consumable_rtp_parameters["encodings"].clone()
                });
            }
            "consumer.getStats" => {
                if let (Value::Array(out), Some(p)) = (&mut v, self.producers.get_mut(&pk)) {
                    if let Value::Array(a) = p.stats_json(ctx.now, ctx.unix_ms()) {
                        out.extend(a.into_iter().take(1));
                    }
                }
            }
            _ => {}
        }
        if effect == ConsumerEffect::RequestKeyFrame {
            self.request_keyframe_for(ctx, k);
        }
        Ok(v)
    }
}
