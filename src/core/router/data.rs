//! Data: DataProducers and DataConsumers over SCTP (WebRTC, plain and pipe transports) or
//! direct (DirectTransport), the SCTP associations' input, timers and output, and message
//! delivery with subchannels.
//!
//! It routes messages and drives the associations; each data object's own state (subchannels,
//! counters, thresholds) is `data.rs`'s, the association's protocol work `sctp/`'s.

use super::Graph;
use crate::core::context::{field, str_field, Ctx, Res};
use crate::core::data::{
    decode_subchannels, encode_subchannels, DataConsumer, DataKind, DataProducer, SubchannelFilter,
};
use crate::core::message::{CoreError, Output};
use crate::core::sctp::{SctpMessage, StreamOptions};
use crate::core::transport::Flavor;
use serde_json::{json, Value};
use std::time::Instant;

impl Graph {
    /// An SCTP packet arrived on transport `k` (inside DTLS, or as a UDP datagram).
    pub fn sctp_input(&mut self, ctx: &mut Ctx, k: u32, packet: &[u8]) {
        let now = ctx.now;
        let mut msgs = Vec::new();
        let Some(t) = self.transports.get_mut(&k) else {
            return;
        };
        let Some(sctp) = t.sctp.as_mut() else {
            ctx.drops.malformed += 1;
            return;
        };
        let changed = sctp.handle_packet(now, packet, &mut msgs);
        self.after_sctp(ctx, k, changed, msgs);
    }

    /// Delivers received messages, sends what SCTP queued, reports state changes.
    pub fn after_sctp(&mut self, ctx: &mut Ctx, k: u32, changed: bool, msgs: Vec<SctpMessage>) {
        // From another router: the sender's subchannel options come with each message.
        let from_pipe = self
            .transports
            .get(&k)
            .is_some_and(|t| matches!(&t.flavor, Flavor::Plain(p) if p.pipe));
        for m in msgs {
            let dpk = self
                .transports
                .get(&k)
                .and_then(|t| t.sctp_stream_producers.get(&m.stream_id).copied());
            let Some(dpk) = dpk else {
                ctx.drops.no_producer += 1;
                continue;
            };
            match from_pipe.then(|| decode_subchannels(&m.data)).flatten() {
                Some(c) => {
                    let payload = &m.data[c.payload_at..];
                    self.deliver_data(ctx, dpk, m.ppid, payload, c.filter());
                }
                None => self.deliver_data(ctx, dpk, m.ppid, &m.data, SubchannelFilter::default()),
            }
        }
        self.flush_sctp(ctx, k);
        if changed {
            if let Some(t) = self.transports.get(&k) {
                if let Some(s) = &t.sctp {
                    let (id, state) = (t.id.clone(), s.state.as_str());
                    let negotiated = t.sctp_negotiated_capabilities();
                    if !negotiated.is_null() {
                        ctx.notify(&id, "sctpnegotiatedcapabilities", negotiated);
                    }
                    ctx.notify(&id, "sctpstatechange", json!({ "sctpState": state }));
                    ctx.log(crate::core::log::LogLevel::Debug, "sctp", || {
                        format!("SCTP state changed to {state} [transportId:{id}]")
                    });
                }
            }
        }
    }

    /// Sends the SCTP packets a transport's association has queued.
    pub fn flush_sctp(&mut self, ctx: &mut Ctx, k: u32) {
        if let Some(t) = self.transports.get_mut(&k) {
            t.flush_sctp(ctx);
        }
    }

    /// A message from a data producer goes to each of its data consumers.
    pub fn deliver_data(
        &mut self,
        ctx: &mut Ctx,
        dpk: u32,
        ppid: u32,
        data: &[u8],
        filter: SubchannelFilter<'_>,
    ) {
        let Some(dp) = self.data_producers.get_mut(&dpk) else {
            return;
        };
        dp.messages += 1;
        dp.bytes += data.len() as u64;
        if dp.paused {
            return;
        }
        for dck in dp.consumers.clone() {
            let Some(c) = self.data_consumers.get(&dck) else {
                continue;
            };
            if c.paused || c.producer_paused {
                continue;
            }
            // A pipe DataConsumer forwards to another router, whose consumers are the ones to
            // choose: it takes every message, with the options.
            let to_pipe = self
                .transports
                .get(&c.transport)
                .is_some_and(|t| matches!(&t.flavor, Flavor::Plain(p) if p.pipe));
            if to_pipe {
                match encode_subchannels(&filter, data) {
                    Some(wrapped) => self.send_to_data_consumer(ctx, dck, ppid, &wrapped),
                    None => self.send_to_data_consumer(ctx, dck, ppid, data),
                };
            } else if c.accepts(&filter) {
                self.send_to_data_consumer(ctx, dck, ppid, data);
            }
        }
    }

    /// Sends a message to a data consumer's endpoint; returns the stream's buffered amount.
    pub fn send_to_data_consumer(
        &mut self,
        ctx: &mut Ctx,
        dck: u32,
        ppid: u32,
        data: &[u8],
    ) -> Option<usize> {
        let c = self.data_consumers.get_mut(&dck)?;
        let tk = c.transport;
        match c.kind {
            DataKind::Direct => {
                c.messages += 1;
                c.bytes += data.len() as u64;
                let id = c.id.clone();
                ctx.outputs.push_back(Output::Binary {
                    target: id,
                    event: "message",
                    data: data.to_vec(),
                    ppid,
                });
                Some(0)
            }
            DataKind::Sctp => {
                let (sid, opts) = (c.stream_id?, c.options);
                let t = self.transports.get_mut(&tk)?;
                if t.sctp.as_mut()?.send(sid, ppid, data, opts).is_none() {
                    let id = c.id.clone();
                    ctx.notify(&id, "sctpsendbufferfull", Value::Null);
                    return None;
                }
                c.messages += 1;
                c.bytes += data.len() as u64;
                // What is still buffered once SCTP sent what it could (0 on an idle association).
                t.flush_sctp(ctx);
                let buffered = t.sctp.as_mut().map_or(0, |s| s.buffered_amount(sid));
                if buffered > c.buffered_amount_low_threshold {
                    c.above_threshold = true;
                }
                Some(buffered)
            }
        }
    }

    /// Runs SCTP timers and 'bufferedamountlow' checks.
    pub fn tick_sctp(&mut self, ctx: &mut Ctx, now: Instant) {
        let keys: Vec<u32> = self
            .transports
            .iter()
            .filter(|(_, t)| t.sctp.is_some())
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            let mut msgs = Vec::new();
            let t = self.transports.get_mut(&k).expect("listed");
            let sctp = t.sctp.as_mut().expect("filtered");
            let before = sctp.state;
            sctp.handle_timeout(now, &mut msgs);
            let changed = before != sctp.state;
            self.after_sctp(ctx, k, changed, msgs);
            let dcs = self.transports[&k].data_consumers.clone();
            for dck in dcs {
                let Some(c) = self.data_consumers.get(&dck) else {
                    continue;
                };
                let (Some(sid), true) = (c.stream_id, c.above_threshold) else {
                    continue;
                };
                let buffered = self
                    .transports
                    .get_mut(&k)
                    .and_then(|t| t.sctp.as_mut())
                    .map_or(0, |s| s.buffered_amount(sid));
                let c = self.data_consumers.get_mut(&dck).expect("listed");
                if buffered <= c.buffered_amount_low_threshold {
                    c.above_threshold = false;
                    let id = c.id.clone();
                    ctx.notify(
                        &id,
                        "bufferedamountlow",
                        json!({ "bufferedAmount": buffered }),
                    );
                }
            }
        }
    }

    pub fn produce_data(&mut self, tk: u32, d: &Value) -> Res {
        let id = str_field(d, "dataProducerId")?.to_string();
        if self.data_producer_ids.contains(&id) {
            return Err(CoreError::error(format!(
                "a DataProducer with same dataProducerId already exists [dataProducerId:{id}]"
            )));
        }
        let kind = if d.get("type").and_then(Value::as_str) == Some("direct") {
            DataKind::Direct
        } else {
            DataKind::Sctp
        };
        let t = self.transports.get(&tk).expect("checked");
        let is_direct = matches!(t.flavor, Flavor::Direct { .. });
        if is_direct != (kind == DataKind::Direct) {
            return Err(CoreError::type_error(format!(
                "invalid DataProducer type '{}' for this transport",
                kind.as_str()
            )));
        }
        let mut stream_id = None;
        if kind == DataKind::Sctp {
            let sctp = t
                .sctp
                .as_ref()
                .ok_or_else(|| CoreError::type_error("SCTP not enabled in this transport"))?;
            let sid = d["sctpStreamParameters"]["streamId"]
                .as_u64()
                .ok_or_else(|| CoreError::type_error("missing sctpStreamParameters.streamId"))?;
            if sid > 65535 {
                return Err(CoreError::type_error(format!(
                    "sctpStreamParameters.streamId {sid} out of range"
                )));
            }
            let _ = sctp;
            if t.sctp_stream_producers.contains_key(&(sid as u16)) {
                return Err(CoreError::error(format!(
                    "sctpStreamId already in use [streamId:{sid}]"
                )));
            }
            stream_id = Some(sid as u16);
        }
        let dpk = self.data_producer_ids.insert(&id);
        let dp = DataProducer {
            id,
            transport: tk,
            kind,
            stream_id,
            sctp_stream_parameters: d
                .get("sctpStreamParameters")
                .cloned()
                .unwrap_or(Value::Null),
            label: d
                .get("label")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            protocol: d
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            paused: d.get("paused").and_then(Value::as_bool).unwrap_or(false),
            consumers: Vec::new(),
            messages: 0,
            bytes: 0,
        };
        let dump = dp.dump();
        let t = self.transports.get_mut(&tk).expect("checked");
        if let Some(s) = stream_id {
            t.sctp_stream_producers.insert(s, dpk);
        }
        t.data_producers.push(dpk);
        self.data_producers.insert(dpk, dp);
        Ok(dump)
    }

    pub fn consume_data(&mut self, tk: u32, d: &Value) -> Res {
        let id = str_field(d, "dataConsumerId")?.to_string();
        if self.data_consumer_ids.contains(&id) {
            return Err(CoreError::error(format!(
                "a DataConsumer with same dataConsumerId already exists [dataConsumerId:{id}]"
            )));
        }
        let pid = str_field(d, "dataProducerId")?;
        let dpk = self
            .data_producer_ids
            .require(pid, "DataProducer", "dataProducerId")?;
        let kind = if d.get("type").and_then(Value::as_str) == Some("direct") {
            DataKind::Direct
        } else {
            DataKind::Sctp
        };
        let t = self.transports.get(&tk).expect("checked");
        let mut stream_id = None;
        let mut options = StreamOptions {
            ordered: true,
            ..Default::default()
        };
        if kind == DataKind::Sctp {
            let sctp = t
                .sctp
                .as_ref()
                .ok_or_else(|| CoreError::type_error("SCTP not enabled in this transport"))?;
            let sp = &d["sctpStreamParameters"];
            let sid = sp["streamId"]
                .as_u64()
                .ok_or_else(|| CoreError::type_error("missing sctpStreamParameters.streamId"))?;
            if sid >= sctp.os as u64 {
                return Err(CoreError::type_error(format!(
                    "sctpStreamParameters.streamId {sid} out of range (OS {})",
                    sctp.os
                )));
            }
            stream_id = Some(sid as u16);
            options = StreamOptions {
                ordered: sp["ordered"].as_bool().unwrap_or(true),
                max_packet_life_time: sp["maxPacketLifeTime"].as_u64().map(|v| v as u32),
                max_retransmits: sp["maxRetransmits"].as_u64().map(|v| v as u32),
            };
        }
        let dp = self.data_producers.get_mut(&dpk).expect("checked");
        let dck = self.data_consumer_ids.insert(&id);
        let dc = DataConsumer {
            id,
            transport: tk,
            producer: dpk,
            data_producer_id: pid.to_string(),
            kind,
            stream_id,
            options,
            sctp_stream_parameters: d
                .get("sctpStreamParameters")
                .cloned()
                .unwrap_or(Value::Null),
            label: d
                .get("label")
                .and_then(Value::as_str)
                .unwrap_or(&dp.label)
                .to_string(),
            protocol: d
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or(&dp.protocol)
                .to_string(),
            paused: d.get("paused").and_then(Value::as_bool).unwrap_or(false),
            producer_paused: dp.paused,
            subchannels: d
                .get("subchannels")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_u64().map(|x| x as u16))
                .collect(),
            messages: 0,
            bytes: 0,
            buffered_amount_low_threshold: d
                .get("bufferedAmountLowThreshold")
                .and_then(Value::as_u64)
                .unwrap_or(0) as usize,
            above_threshold: false,
        };
        dp.consumers.push(dck);
        let dump = dc.dump();
        self.transports
            .get_mut(&tk)
            .expect("checked")
            .data_consumers
            .push(dck);
        self.data_consumers.insert(dck, dc);
        Ok(dump)
    }

    pub fn remove_data_consumer(&mut self, k: u32) {
        let Some(c) = self.data_consumers.remove(&k) else {
            return;
        };
        self.data_consumer_ids.remove(&c.id);
        if let Some(p) = self.data_producers.get_mut(&c.producer) {
            p.consumers.retain(|x| *x != k);
        }
        if let Some(t) = self.transports.get_mut(&c.transport) {
            t.data_consumers.retain(|x| *x != k);
        }
    }

    pub fn remove_data_producer(&mut self, ctx: &mut Ctx, k: u32) {
        let Some(p) = self.data_producers.remove(&k) else {
            return;
        };
        self.data_producer_ids.remove(&p.id);
        if let Some(t) = self.transports.get_mut(&p.transport) {
            t.data_producers.retain(|x| *x != k);
            t.sctp_stream_producers.retain(|_, v| *v != k);
        }
        for c in p.consumers {
            if let Some(id) = self.data_consumers.get(&c).map(|c| c.id.clone()) {
                ctx.notify(&id, "dataproducerclose", Value::Null);
            }
            self.remove_data_consumer(c);
        }
    }

    pub fn data_producer_request(&mut self, ctx: &mut Ctx, k: u32, m: &str) -> Res {
        let ts = ctx.unix_ms();
        let p = self.data_producers.get_mut(&k).expect("checked");
        match m {
            "dataProducer.dump" => Ok(p.dump()),
            "dataProducer.getStats" => Ok(p.stats(ts)),
            "dataProducer.pause" | "dataProducer.resume" => {
                let pause = m == "dataProducer.pause";
                if p.paused == pause {
                    return Ok(Value::Null);
                }
                p.paused = pause;
                for c in p.consumers.clone() {
                    if let Some(c) = self.data_consumers.get_mut(&c) {
                        c.producer_paused = pause;
                        let id = c.id.clone();
                        ctx.notify(
                            &id,
                            if pause {
                                "dataproducerpause"
                            } else {
                                "dataproducerresume"
                            },
                            Value::Null,
                        );
                    }
                }
                Ok(Value::Null)
            }
            _ => Err(CoreError::error(format!("unknown method '{m}'"))),
        }
    }

    pub fn data_consumer_request(
        &mut self,
        ctx: &mut Ctx,
        k: u32,
        m: &str,
        d: &Value,
        payload: Option<&[u8]>,
    ) -> Res {
        let ts = ctx.unix_ms();
        let buffered = {
            let c = &self.data_consumers[&k];
            match (
                c.stream_id,
                self.transports
                    .get_mut(&c.transport)
                    .and_then(|t| t.sctp.as_mut()),
            ) {
                (Some(sid), Some(s)) => s.buffered_amount(sid),
                _ => 0,
            }
        };
        let c = self.data_consumers.get_mut(&k).expect("checked");
        match m {
            "dataConsumer.dump" => Ok(c.dump()),
            "dataConsumer.getStats" => Ok(c.stats(ts, buffered)),
            "dataConsumer.getBufferedAmount" => Ok(json!({ "bufferedAmount": buffered })),
            "dataConsumer.setBufferedAmountLowThreshold" => {
                c.buffered_amount_low_threshold = field(d, "threshold")?
                    .as_u64()
                    .ok_or_else(|| CoreError::type_error("wrong threshold"))?
                    as usize;
                c.above_threshold = buffered > c.buffered_amount_low_threshold;
                Ok(Value::Null)
            }
            "dataConsumer.pause" => {
                c.paused = true;
                Ok(Value::Null)
            }
            "dataConsumer.resume" => {
                c.paused = false;
                Ok(Value::Null)
            }
            "dataConsumer.setSubchannels"
            | "dataConsumer.addSubchannel"
            | "dataConsumer.removeSubchannel" => {
                match m {
                    "dataConsumer.setSubchannels" => {
                        let mut v: Vec<u16> = field(d, "subchannels")?
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|v| v.as_u64().map(|x| x as u16))
                            .collect();
                        v.sort_unstable();
                        v.dedup();
                        c.subchannels = v;
                    }
                    "dataConsumer.addSubchannel" => {
                        let s = field(d, "subchannel")?
                            .as_u64()
                            .ok_or_else(|| CoreError::type_error("wrong subchannel"))?
                            as u16;
                        if !c.subchannels.contains(&s) {
                            c.subchannels.push(s);
                            c.subchannels.sort_unstable();
                        }
                    }
                    _ => {
                        let s = field(d, "subchannel")?
                            .as_u64()
                            .ok_or_else(|| CoreError::type_error("wrong subchannel"))?
                            as u16;
                        c.subchannels.retain(|x| *x != s);
                    }
                }
                Ok(json!({ "subchannels": c.subchannels }))
            }
            "dataConsumer.send" => {
                // As mediasoup 3.27: a DataConsumer of a DirectTransport receives through its
                // 'message' event; send() is for SCTP ones.
                if self.data_consumers[&k].kind == DataKind::Direct {
                    return Err(CoreError::type_error(
                        "invalid DataConsumer type 'direct' (send() needs an SCTP DataConsumer)",
                    ));
                }
                let ppid = d.get("ppid").and_then(Value::as_u64).unwrap_or(53) as u32;
                let data = payload.unwrap_or(&[]).to_vec();
                match self.send_to_data_consumer(ctx, k, ppid, &data) {
                    Some(b) => Ok(json!({ "bufferedAmount": b })),
                    None => Err(CoreError::error("message could not be sent (SCTP not connected, too large, or send buffer full)")),
                }
            }
            _ => Err(CoreError::error(format!("unknown method '{m}'"))),
        }
    }
}
