//! The routers of one worker and their object graph: transports, producers, consumers, data
//! producers and consumers, RTP observers and WebRtcServers, each in an arena keyed by the
//! worker's own ids, with the id maps the facade's handler ids resolve through.
//!
//! This is where objects meet. The class modules (`transport`, `producer`, `consumer`, `data`,
//! `observers`) each work on their own state and the context; what one object's event means
//! for another — a transport connecting activates its consumers, a consumer's need becomes its
//! producer's keyframe request, a closing transport takes its producers and consumers with
//! it — is decided here, and nowhere else. Files: this one (routers, transports, closing
//! cascades, dumps), `media.rs` (producers, consumers, keyframes), `rtp.rs` (the packet path
//! and periodic RTCP), `data.rs` (SCTP and data channels), `observers.rs`.

mod bwe;
mod data;
mod media;
mod observers;
mod recorders;
mod rtp;

use crate::core::consumer::Consumer;
use crate::core::context::{field, str_field, Ctx, Res};
use crate::core::data::{DataConsumer, DataProducer};
use crate::core::ids::ids_of;
use crate::core::ids::IdMap;
use crate::core::message::{CoreError, Output};
use crate::core::observers::RtpObserver;
use crate::core::producer::Producer;
use crate::core::recorder::Recorder;
use crate::core::transport::webrtc_server::WebRtcServer;
use crate::core::transport::{Flavor, LocalSocket, Plain, Transport, WebRtc};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use serde_json::{json, Value};

/// One router: what it holds, by key.
pub struct Router {
    pub transports: Vec<u32>,
    pub producers: Vec<String>,
    pub observers: Vec<u32>,
    pub recorders: Vec<u32>,
}

pub struct Graph {
    pub routers: HashMap<String, Router>,
    pub transports: HashMap<u32, Transport>,
    pub transport_ids: IdMap,
    pub producers: HashMap<u32, Producer>,
    pub producer_ids: IdMap,
    pub consumers: HashMap<u32, Consumer>,
    pub consumer_ids: IdMap,
    pub observers: HashMap<u32, RtpObserver>,
    pub observer_ids: IdMap,
    pub servers: HashMap<u32, WebRtcServer>,
    pub server_ids: IdMap,
    pub data_producers: HashMap<u32, DataProducer>,
    pub data_producer_ids: IdMap,
    pub data_consumers: HashMap<u32, DataConsumer>,
    pub data_consumer_ids: IdMap,
    pub recorders: HashMap<u32, Recorder>,
    pub recorder_ids: IdMap,
    /// Sockets (and their TCP connections) of WebRtcServers.
    pub server_sockets: HashMap<u32, u32>,
    /// TCP connection → the listening socket that accepted it.
    pub conn_listener: HashMap<u32, u32>,
    /// A transport's own socket → the transport.
    pub socket_owner: HashMap<u32, u32>,
    /// Video consumers that asked for a keyframe and may still be waiting for one: each is
    /// asked again every `KEYFRAME_RETRY` until its keyframe arrives.
    pub keyframe_waiters: HashSet<u32>,
    /// The worker certificate's fingerprints (`dtlsParameters.fingerprints`).
    pub fingerprints: Value,
}

impl Graph {
    pub fn new(fingerprints: Value) -> Self {
        Self {
            routers: HashMap::default(),
            transports: HashMap::default(),
            transport_ids: IdMap::default(),
            producers: HashMap::default(),
            producer_ids: IdMap::default(),
            consumers: HashMap::default(),
            consumer_ids: IdMap::default(),
            observers: HashMap::default(),
            observer_ids: IdMap::default(),
            servers: HashMap::default(),
            server_ids: IdMap::default(),
            data_producers: HashMap::default(),
            data_producer_ids: IdMap::default(),
            data_consumers: HashMap::default(),
            data_consumer_ids: IdMap::default(),
            recorders: HashMap::default(),
            recorder_ids: IdMap::default(),
            server_sockets: HashMap::default(),
            conn_listener: HashMap::default(),
            socket_owner: HashMap::default(),
            keyframe_waiters: HashSet::default(),
            fingerprints,
        }
    }

    pub fn close_router(&mut self, ctx: &mut Ctx, id: &str) -> Res {
        let r = self
            .routers
            .remove(id)
            .ok_or_else(|| CoreError::not_found(format!("Router not found [routerId:{id}]")))?;
        for o in r.observers {
            if let Some(o) = self.observers.remove(&o) {
                self.observer_ids.remove(&o.id);
            }
        }
        for k in r.recorders {
            self.finish_recorder(ctx, k, true);
        }
        for t in r.transports {
            self.close_transport(ctx, t);
        }
        Ok(Value::Null)
    }

    pub fn register_transport(
        &mut self,
        router: &str,
        id: &str,
        t: Transport,
    ) -> Result<u32, CoreError> {
        if self.transport_ids.contains(id) {
            return Err(CoreError::error(format!(
                "a Transport with same transportId already exists [transportId:{id}]"
            )));
        }
        let k = self.transport_ids.insert(id);
        let shared = matches!(&t.flavor, Flavor::WebRtc(w) if w.server.is_some());
        if !shared {
            for s in t.sockets() {
                self.socket_owner.insert(s, k);
            }
        }
        self.routers
            .get_mut(router)
            .expect("router checked")
            .transports
            .push(k);
        self.transports.insert(k, t);
        Ok(k)
    }

    pub fn create_webrtc_transport(&mut self, ctx: &mut Ctx, router: &str, d: &Value) -> Res {
        if !self.routers.contains_key(router) {
            return Err(CoreError::not_found(format!(
                "Router not found [routerId:{router}]"
            )));
        }
        let id = str_field(d, "transportId")?.to_string();
        let server = match d.get("webRtcServerId").and_then(Value::as_str) {
            Some(sid) => Some(
                self.server_ids
                    .require(sid, "WebRtcServer", "webRtcServerId")?,
            ),
            None => None,
        };
        let sockets: Vec<LocalSocket> = match server {
            Some(sk) => {
                let enable_udp = d.get("enableUdp").and_then(Value::as_bool).unwrap_or(true);
                let enable_tcp = d.get("enableTcp").and_then(Value::as_bool).unwrap_or(true);
                let prefer_udp = d.get("preferUdp").and_then(Value::as_bool).unwrap_or(false);
                let mut socks: Vec<LocalSocket> = self.servers[&sk]
                    .sockets
                    .iter()
                    .filter(|s| match s.protocol {
                        crate::core::transport::Protocol::Udp => enable_udp,
                        crate::core::transport::Protocol::Tcp => enable_tcp,
                    })
                    .cloned()
                    .collect();
                if prefer_udp {
                    socks.sort_by_key(|s| s.protocol != crate::core::transport::Protocol::Udp);
                }
                socks
            }
            None => field(d, "_sockets")?
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(LocalSocket::from_json)
                .collect(),
        };
        let w = WebRtc::new(d, sockets, server)?;
        let mut t = Self::new_transport(ctx, router, &id, d, Flavor::WebRtc(Box::new(w)));
        if let Some(b) = d
            .get("initialAvailableOutgoingBitrate")
            .and_then(Value::as_u64)
        {
            t.initial_available_outgoing_bitrate = b;
        }
        let k = self.register_transport(router, &id, t)?;
        if let Some(sk) = server {
            let Flavor::WebRtc(w) = &self.transports[&k].flavor else {
                unreachable!("just created")
            };
            let ufrag = w.ice.ufrag.clone();
            let srv = self.servers.get_mut(&sk).expect("checked");
            srv.transports.push(k);
            srv.by_ufrag.insert(ufrag, k);
        }
        Ok(self.transport_dump(k))
    }

    /// A transport of `flavor` with its own RTCP SSRC and the SCTP association (and 3.27 SCTP
    /// settings) the request asked for.
    fn new_transport(
        ctx: &mut Ctx,
        router: &str,
        id: &str,
        d: &Value,
        flavor: Flavor,
    ) -> Transport {
        let mut t = Transport::new(id.to_string(), router.to_string(), flavor, ctx.random_u32());
        t.sctp = Transport::sctp_from_request(d);
        t.sctp_settings = d.get("sctpSettings").cloned().unwrap_or(Value::Null);
        t
    }

    pub fn create_plain_transport(
        &mut self,
        ctx: &mut Ctx,
        router: &str,
        d: &Value,
        pipe: bool,
    ) -> Res {
        if !self.routers.contains_key(router) {
            return Err(CoreError::not_found(format!(
                "Router not found [routerId:{router}]"
            )));
        }
        let id = str_field(d, "transportId")?.to_string();
        let socks: Vec<LocalSocket> = field(d, "_sockets")?
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(LocalSocket::from_json)
            .collect();
        let p = Plain::new(d, socks, pipe)?;
        let t = Self::new_transport(ctx, router, &id, d, Flavor::Plain(Box::new(p)));
        let k = self.register_transport(router, &id, t)?;
        Ok(self.transport_dump(k))
    }

    pub fn close_transport(&mut self, ctx: &mut Ctx, k: u32) {
        let Some(mut t) = self.transports.remove(&k) else {
            return;
        };
        self.transport_ids.remove(&t.id);
        if let Some(r) = self.routers.get_mut(&t.router) {
            r.transports.retain(|x| *x != k);
        }
        // DTLS's close_notify goes out before the transport's sockets close.
        t.close(ctx);
        let server = match &t.flavor {
            Flavor::WebRtc(w) => w.server,
            _ => None,
        };
        match server {
            // Shared sockets stay open with their server.
            Some(sk) => {
                if let Some(srv) = self.servers.get_mut(&sk) {
                    srv.forget_transport(k);
                }
            }
            None => {
                for s in t.sockets() {
                    self.socket_owner.remove(&s);
                    ctx.outputs.push_back(Output::CloseSocket(s));
                }
            }
        }
        for c in std::mem::take(&mut t.consumers) {
            self.remove_consumer(c);
        }
        for c in std::mem::take(&mut t.data_consumers) {
            self.remove_data_consumer(c);
        }
        for p in std::mem::take(&mut t.data_producers) {
            self.remove_data_producer(ctx, p);
        }
        for p in std::mem::take(&mut t.producers) {
            self.remove_producer(ctx, p, true);
        }
    }

    pub fn remove_consumer(&mut self, k: u32) {
        let Some(c) = self.consumers.remove(&k) else {
            return;
        };
        self.consumer_ids.remove(&c.id);
        if let Some(p) = self.producers.get_mut(&c.producer) {
            p.consumers.retain(|x| *x != k);
        }
        if let Some(t) = self.transports.get_mut(&c.transport) {
            t.consumers.retain(|x| *x != k);
            t.consumer_ssrcs.retain(|_, v| *v != k);
        }
    }

    /// Removes a producer; its consumers get 'producerclose' and are removed.
    pub fn remove_producer(&mut self, ctx: &mut Ctx, k: u32, notify: bool) {
        let Some(p) = self.producers.remove(&k) else {
            return;
        };
        self.producer_ids.remove(&p.id);
        for o in &p.observers {
            if let Some(o) = self.observers.get_mut(o) {
                o.remove_producer(k);
            }
        }
        self.recorders_lose_producer(ctx, k, &p.recorders);
        if let Some(t) = self.transports.get_mut(&p.transport) {
            t.producers.retain(|x| *x != k);
            t.ssrc_map.retain(|_, v| *v != k);
            t.mid_map.retain(|_, v| *v != k);
        }
        if let Some(r) = self
            .transports
            .get(&p.transport)
            .and_then(|t| self.routers.get_mut(&t.router))
        {
            r.producers.retain(|x| *x != p.id);
        } else {
            for r in self.routers.values_mut() {
                r.producers.retain(|x| *x != p.id);
            }
        }
        for c in p.consumers {
            if let Some(cid) = self.consumers.get(&c).map(|c| c.id.clone()) {
                if notify {
                    ctx.notify(&cid, "producerclose", Value::Null);
                }
            }
            self.remove_consumer(c);
        }
    }

    pub fn transport_request(&mut self, ctx: &mut Ctx, k: u32, m: &str, d: &Value) -> Res {
        match m {
            "transport.dump" => Ok(self.transport_dump(k)),
            "transport.getStats" => Ok(self.transport_stats(ctx, k)),
            "transport.restartIce" => {
                let t = self.transports.get_mut(&k).expect("checked");
                let Flavor::WebRtc(w) = &mut t.flavor else {
                    return Err(CoreError::error("not a WebRtcTransport"));
                };
                let params = w.restart_ice();
                if let Some(srv) = w.server.and_then(|sk| self.servers.get_mut(&sk)) {
                    srv.by_ufrag.insert(w.ice.ufrag.clone(), k);
                }
                Ok(params)
            }
            "transport.setMaxIncomingBitrate"
            | "transport.setMaxOutgoingBitrate"
            | "transport.setMinOutgoingBitrate"
            | "transport.enableTraceEvent" => self
                .transports
                .get_mut(&k)
                .expect("checked")
                .handle_request(m, d),
            "transport.produce" => self.produce(ctx, k, d),
            "transport.consume" => self.consume(ctx, k, d),
            "transport.closeProducer" => {
                let id = str_field(d, "producerId")?;
                let pk = self.producer_ids.require(id, "Producer", "producerId")?;
                self.remove_producer(ctx, pk, true);
                Ok(Value::Null)
            }
            "transport.produceData" => self.produce_data(k, d),
            "transport.consumeData" => self.consume_data(k, d),
            "transport.closeDataProducer" => {
                let id = str_field(d, "dataProducerId")?;
                let dk = self
                    .data_producer_ids
                    .require(id, "DataProducer", "dataProducerId")?;
                self.remove_data_producer(ctx, dk);
                Ok(Value::Null)
            }
            "transport.closeDataConsumer" => {
                let id = str_field(d, "dataConsumerId")?;
                let dk = self
                    .data_consumer_ids
                    .require(id, "DataConsumer", "dataConsumerId")?;
                self.remove_data_consumer(dk);
                Ok(Value::Null)
            }
            "transport.closeConsumer" => {
                let id = str_field(d, "consumerId")?;
                let ck = self.consumer_ids.require(id, "Consumer", "consumerId")?;
                self.remove_consumer(ck);
                Ok(Value::Null)
            }
            _ => Err(CoreError::error(format!("unknown method '{m}'"))),
        }
    }

    pub fn transport_dump(&self, k: u32) -> Value {
        let t = &self.transports[&k];
        let mut v = t.dump(self.fingerprints.clone());
        v["producerIds"] = json!(ids_of(&t.producers, &self.producers, |x| &x.id));
        v["consumerIds"] = json!(ids_of(&t.consumers, &self.consumers, |x| &x.id));
        v["mapSsrcConsumerId"] = t
            .consumer_ssrcs
            .iter()
            .filter_map(|(s, c)| Some(json!({ "key": s, "value": self.consumers.get(c)?.id })))
            .collect();
        v["dataProducerIds"] = json!(ids_of(&t.data_producers, &self.data_producers, |x| &x.id));
        v["dataConsumerIds"] = json!(ids_of(&t.data_consumers, &self.data_consumers, |x| &x.id));
        v["rtpListener"] = json!({
            "ssrcTable": t.ssrc_map.iter().filter_map(|(s, p)| Some(json!({ "key": s, "value": self.producers.get(p)?.id }))).collect::<Vec<_>>(),
            "midTable": t.mid_map.iter().filter_map(|(m, p)| Some(json!({ "key": m, "value": self.producers.get(p)?.id }))).collect::<Vec<_>>(),
            "ridTable": [],
        });
        // Absent, not null, for what the transport does not have (as mediasoup's dump).
        if let Some(o) = v.as_object_mut() {
            o.retain(|_, x| !x.is_null());
        }
        v
    }

    pub fn transport_stats(&mut self, ctx: &mut Ctx, k: u32) -> Value {
        self.transports.get_mut(&k).expect("checked").stats(ctx)
    }

    pub fn router_dump(&self, h: &str) -> Res {
        let r = self
            .routers
            .get(h)
            .ok_or_else(|| CoreError::not_found(format!("Router not found [routerId:{h}]")))?;
        let transport_ids: Vec<_> = ids_of(&r.transports, &self.transports, |x| &x.id);
        let observer_ids: Vec<_> = ids_of(&r.observers, &self.observers, |x| &x.id);
        let mut map_producer_observers = Vec::new();
        let mut map_dp_dcs = Vec::new();
        let mut map_dc_dp = Vec::new();
        for tk in &r.transports {
            let Some(t) = self.transports.get(tk) else {
                continue;
            };
            for dpk in &t.data_producers {
                let Some(dp) = self.data_producers.get(dpk) else {
                    continue;
                };
                let dcs: Vec<String> = ids_of(&dp.consumers, &self.data_consumers, |x| &x.id);
                for c in &dcs {
                    map_dc_dp.push(json!({ "key": c, "value": dp.id }));
                }
                map_dp_dcs.push(json!({ "key": dp.id, "values": dcs }));
            }
        }
        let mut map_producer_consumers = Vec::new();
        let mut map_consumer_producer = Vec::new();
        for pid in &r.producers {
            if let Some(p) = self
                .producer_ids
                .get(pid)
                .and_then(|k| self.producers.get(&k))
            {
                if !p.observers.is_empty() {
                    let oids: Vec<_> = ids_of(&p.observers, &self.observers, |x| &x.id);
                    map_producer_observers.push(json!({ "key": pid, "values": oids }));
                }
                let cids: Vec<_> = ids_of(&p.consumers, &self.consumers, |x| &x.id);
                for c in &cids {
                    map_consumer_producer.push(json!({ "key": c, "value": pid }));
                }
                map_producer_consumers.push(json!({ "key": pid, "values": cids }));
            }
        }
        Ok(json!({
            "id": h,
            "transportIds": transport_ids,
            "rtpObserverIds": observer_ids,
            "mapProducerIdConsumerIds": map_producer_consumers,
            "mapConsumerIdProducerId": map_consumer_producer,
            "mapProducerIdObserverIds": map_producer_observers,
            "mapDataProducerIdDataConsumerIds": map_dp_dcs,
            "mapDataConsumerIdDataProducerId": map_dc_dp,
        }))
    }

    pub fn create_direct_transport(&mut self, ctx: &mut Ctx, h: &str, d: &Value) -> Res {
        if !self.routers.contains_key(h) {
            return Err(CoreError::not_found(format!(
                "Router not found [routerId:{h}]"
            )));
        }
        let id = str_field(d, "transportId")?.to_string();
        let max_message_size = d
            .get("maxMessageSize")
            .and_then(Value::as_u64)
            .unwrap_or(262_144);
        let rtcp_ssrc = ctx.random_u32();
        let t = Transport::new(
            id.clone(),
            h.to_string(),
            Flavor::Direct { max_message_size },
            rtcp_ssrc,
        );
        let k = self.register_transport(h, &id, t)?;
        Ok(self.transport_dump(k))
    }
}
