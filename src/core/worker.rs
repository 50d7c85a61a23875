//! The core engine of one worker: routers, transports, producers and consumers, and the packet
//! path between them. Sans-IO: the driver feeds it requests, datagrams and timeouts with the
//! current time, and drains `Output`s.

use crate::core::codecs::CodecKind;
use crate::core::consumer::{Consumer, ConsumerCodec, OutStream, SourcePacket};
use crate::core::context::{field, str_field, trace_types, Ctx, Res};
use crate::core::data::{DataConsumer, DataKind, DataProducer};
use crate::core::dtls::DtlsCertificate;
use crate::core::ice::stun::{self, StunMessage};
use crate::core::ice::Tuple;
use crate::core::ids::{ids_of, IdMap};
use crate::core::message::{CoreError, Output, Request};
use crate::core::observers::{
    ActiveSpeakerObserver, AudioLevelObserver, ObserverEvent, RtpObserver, RtpObserverKind,
};
use crate::core::producer::{Producer, ProducerCodec, ProducerEncoding, ProducerType};
use crate::core::rtcp::{self, RtcpItem};
use crate::core::rtp::packet::RtpView;
use crate::core::rtp::{ExtIds, ExtUri, EXT_COUNT};
use crate::core::sctp::{SctpMessage, StreamOptions};
use crate::core::transport::webrtc_server::WebRtcServer;
use crate::core::transport::{
    webrtc, Flavor, Inbound, InputOutcome, LocalSocket, Plain, Transport, WebRtc,
};
use rustc_hash::FxHashMap as HashMap;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

const TICK: Duration = Duration::from_millis(20);
const RTCP_INTERVAL: Duration = Duration::from_millis(1000);
/// How often transport-cc feedback goes to senders.
/// How long a consumer waits for the keyframe it asked for before asking again (the request
/// or the keyframe may have been lost, or the sender may have ignored it). mediasoup's
/// KeyFrameRequestManager waits as long before retrying.
const KEYFRAME_RETRY: Duration = Duration::from_millis(1000);
const TCC_INTERVAL: Duration = Duration::from_millis(100);

struct Router {
    transports: Vec<u32>,
    producers: Vec<String>,
    observers: Vec<u32>,
}

pub struct Engine {
    pub ctx: Ctx,
    cert: DtlsCertificate,
    routers: HashMap<String, Router>,
    transports: HashMap<u32, Transport>,
    transport_ids: IdMap,
    producers: HashMap<u32, Producer>,
    producer_ids: IdMap,
    consumers: HashMap<u32, Consumer>,
    consumer_ids: IdMap,
    observers: HashMap<u32, RtpObserver>,
    observer_ids: IdMap,
    servers: HashMap<u32, WebRtcServer>,
    server_ids: IdMap,
    data_producers: HashMap<u32, DataProducer>,
    data_producer_ids: IdMap,
    data_consumers: HashMap<u32, DataConsumer>,
    data_consumer_ids: IdMap,
    /// Sockets (and their TCP connections) of WebRtcServers.
    server_sockets: HashMap<u32, u32>,
    /// TCP connection → the listening socket that accepted it.
    conn_listener: HashMap<u32, u32>,
    socket_owner: HashMap<u32, u32>,
    next_tick: Instant,
    next_rtcp: Instant,
    next_tcc: Instant,
    /// Video consumers that asked for a keyframe and may still be waiting for one: each is
    /// asked again every `KEYFRAME_RETRY` until its keyframe arrives.
    keyframe_waiters: rustc_hash::FxHashSet<u32>,
}

fn ext_ids_of(params: &Value) -> ExtIds {
    let mut ids = [0u8; EXT_COUNT];
    for e in params
        .get("headerExtensions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(uri), Some(id)) = (
            e.get("uri").and_then(Value::as_str),
            e.get("id").and_then(Value::as_u64),
        ) {
            if let Some(u) = ExtUri::from_uri(uri) {
                ids[u as usize] = id as u8;
            }
        }
    }
    ids
}

/// The producer checks mediasoup's worker makes beyond the facade's ortc validation.
fn validate_producer_parameters(rtp: &Value, mapping: &Value) -> Result<(), CoreError> {
    let codecs = rtp["codecs"].as_array().map_or(0, Vec::len);
    if codecs == 0 {
        return Err(CoreError::type_error("empty rtpParameters.codecs"));
    }
    let encodings = rtp["encodings"].as_array().cloned().unwrap_or_default();
    if encodings.is_empty() {
        return Err(CoreError::type_error("empty rtpParameters.encodings"));
    }
    let maps = mapping["encodings"].as_array().map_or(0, Vec::len);
    if maps != encodings.len() {
        return Err(CoreError::type_error(
            "rtpParameters.encodings size does not match rtpMapping.encodings size",
        ));
    }
    let has_id = |e: &Value| {
        e["ssrc"].as_u64().is_some() || e["rid"].as_str().is_some_and(|r| !r.is_empty())
    };
    if encodings.len() > 1 && !encodings.iter().all(has_id) {
        return Err(CoreError::type_error(
            "wrong entry in rtpParameters.encodings (missing ssrc or rid)",
        ));
    }
    let mid = rtp["mid"].as_str().unwrap_or("");
    if mid.is_empty() && encodings.len() == 1 && !has_id(&encodings[0]) {
        return Err(CoreError::type_error(
            "wrong entry in rtpParameters.encodings (missing ssrc or rid, or rtpParameters.mid)",
        ));
    }
    for e in rtp["headerExtensions"].as_array().into_iter().flatten() {
        if e["id"].as_u64() == Some(0) {
            return Err(CoreError::type_error("RTP extension id cannot be 0"));
        }
    }
    Ok(())
}

/// Stores parameters the way mediasoup's worker reports them back in `dump()`: every encoding
/// names its codec payload type, and an empty RTCP feedback parameter is left out.
fn normalize_rtp_parameters(rtp: &mut Value) {
    for c in rtp
        .get_mut("codecs")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(m) = c["mimeType"].as_str().and_then(canonical_mime) {
            c["mimeType"] = json!(m);
        }
    }
    let first_media = rtp["codecs"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|c| {
            let mime = c["mimeType"].as_str()?.to_ascii_lowercase();
            (!mime.ends_with("/rtx")).then(|| c["payloadType"].clone())
        });
    if let (Some(pt), Some(encs)) = (
        first_media,
        rtp.get_mut("encodings").and_then(Value::as_array_mut),
    ) {
        for e in encs {
            if e.get("codecPayloadType").is_none_or(Value::is_null) {
                e["codecPayloadType"] = pt.clone();
            }
        }
    }
    for c in rtp
        .get_mut("codecs")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for fb in c
            .get_mut("rtcpFeedback")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if fb["parameter"].as_str() == Some("") {
                if let Some(o) = fb.as_object_mut() {
                    o.remove("parameter");
                }
            }
        }
    }
}

/// mediasoup's spelling of a MIME type ("video/h264" → "video/H264").
fn canonical_mime(mime: &str) -> Option<String> {
    const SUBTYPES: [&str; 22] = [
        "opus",
        "multiopus",
        "PCMU",
        "PCMA",
        "ISAC",
        "G722",
        "iLBC",
        "SILK",
        "CN",
        "telephone-event",
        "rtx",
        "ulpfec",
        "flexfec",
        "x-ulpfec",
        "red",
        "VP8",
        "VP9",
        "H264",
        "H264-SVC",
        "H265",
        "AV1",
        "x-flexfec",
    ];
    let (kind, sub) = mime.split_once('/')?;
    let kind = kind.to_ascii_lowercase();
    let sub = SUBTYPES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(sub))
        .map_or(sub, |s| *s);
    Some(format!("{kind}/{sub}"))
}

fn has_fb(codec: &Value, ty: &str, param: &str) -> bool {
    codec
        .get("rtcpFeedback")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|f| {
            f.get("type").and_then(Value::as_str) == Some(ty)
                && f.get("parameter").and_then(Value::as_str).unwrap_or("") == param
        })
}

impl Engine {
    /// `seed` feeds the engine's own choices (SSRCs for RTCP); `cert` is the worker's DTLS
    /// certificate.
    pub fn new(now: Instant, unix_now: SystemTime, cert: DtlsCertificate, seed: u64) -> Self {
        Self {
            ctx: Ctx::new(now, unix_now, seed),
            cert,
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
            server_sockets: HashMap::default(),
            conn_listener: HashMap::default(),
            socket_owner: HashMap::default(),
            next_tick: now + TICK,
            next_rtcp: now + RTCP_INTERVAL,
            next_tcc: now + TCC_INTERVAL,
            keyframe_waiters: Default::default(),
        }
    }

    /// Returns a buffer from a sent `Transmit` to the pool.
    pub fn recycle(&mut self, b: Vec<u8>) {
        self.ctx.recycle(b);
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.ctx.outputs.pop_front()
    }

    pub fn poll_timeout(&self) -> Instant {
        self.next_tick
    }

    pub fn dtls_fingerprints(&self) -> Value {
        Value::Array(
            self.cert
                .fingerprints
                .iter()
                .map(|(a, v)| json!({ "algorithm": a, "value": v }))
                .collect(),
        )
    }

    // ---------------------------------------------------------------- requests

    pub fn handle_request(&mut self, now: Instant, req: Request) {
        self.ctx.now = now;
        if req.id == 0 {
            // Data notifications (producer.send, transport.sendRtcp, dataProducer.send): no
            // response; what cannot be delivered is a counted drop.
            let mut data = req.payload.clone().unwrap_or_default();
            self.handle_payload(&req.method, &req.handler_id, &req.data, &mut data);
            return;
        }
        let result = self.dispatch(&req);
        self.ctx
            .outputs
            .push_back(Output::Response { id: req.id, result });
    }

    fn dispatch(&mut self, req: &Request) -> Res {
        let d = &req.data;
        let h = req.handler_id.as_str();
        match req.method.as_str() {
            "worker.dump" => Ok(json!({
                "pid": std::process::id(),
                "webRtcServerIds": self.servers.values().map(|s| s.id.clone()).collect::<Vec<_>>(),
                "routerIds": self.routers.keys().collect::<Vec<_>>(),
                "channelMessageHandlers": {
                    "channelRequestHandlers": self.servers.values().map(|s| s.id.clone())
                        .chain(self.routers.keys().cloned())
                        .chain(self.transports.values().map(|t| t.id.clone()))
                        .chain(self.producers.values().map(|p| p.id.clone()))
                        .chain(self.consumers.values().map(|c| c.id.clone()))
                        .collect::<Vec<_>>(),
                    "channelNotificationHandlers": []
                }
            })),
            "worker.updateSettings" => {
                if let Some(l) = d.get("logLevel").and_then(Value::as_str) {
                    self.ctx.log_filter.level = crate::core::log::LogLevel::parse(l)
                        .ok_or_else(|| CoreError::type_error(format!("invalid logLevel '{l}'")))?;
                }
                if let Some(tags) = d.get("logTags").and_then(Value::as_array) {
                    self.ctx.log_filter.tags = tags
                        .iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect();
                }
                Ok(Value::Null)
            }
            "worker.createRouter" => {
                let id = str_field(d, "routerId")?;
                if self.routers.contains_key(id) {
                    return Err(CoreError::error(format!(
                        "a Router with same routerId already exists [routerId:{id}]"
                    )));
                }
                self.routers.insert(
                    id.to_string(),
                    Router {
                        transports: Vec::new(),
                        producers: Vec::new(),
                        observers: Vec::new(),
                    },
                );
                Ok(Value::Null)
            }
            "worker.createWebRtcServer" => {
                let id = str_field(d, "webRtcServerId")?.to_string();
                if self.server_ids.contains(&id) {
                    return Err(CoreError::error(format!("a WebRtcServer with same webRtcServerId already exists [webRtcServerId:{id}]")));
                }
                let sockets: Vec<LocalSocket> = field(d, "_sockets")?
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(LocalSocket::from_json)
                    .collect();
                let sk = self.server_ids.insert(&id);
                for s in &sockets {
                    self.server_sockets.insert(s.id, sk);
                }
                self.servers.insert(
                    sk,
                    WebRtcServer {
                        id,
                        sockets,
                        transports: Vec::new(),
                        by_ufrag: HashMap::default(),
                        by_tuple: HashMap::default(),
                    },
                );
                Ok(Value::Null)
            }
            "worker.closeWebRtcServer" => {
                let id = str_field(d, "webRtcServerId")?;
                let sk = self.server_ids.remove(id).ok_or_else(|| {
                    CoreError::not_found(format!("WebRtcServer not found [webRtcServerId:{id}]"))
                })?;
                let srv = self.servers.remove(&sk).expect("listed");
                for k in srv.transports {
                    self.close_transport(k);
                }
                self.server_sockets.retain(|sock, owner| {
                    if *owner == sk {
                        self.ctx.outputs.push_back(Output::CloseSocket(*sock));
                        false
                    } else {
                        true
                    }
                });
                Ok(Value::Null)
            }
            "webRtcServer.dump" => {
                let sk = self
                    .server_ids
                    .require(h, "WebRtcServer", "webRtcServerId")?;
                let srv = &self.servers[&sk];
                let tid = |k: &u32| self.transports.get(k).map(|t| t.id.clone());
                let sock = |p: crate::core::transport::Protocol| -> Vec<Value> {
                    srv.sockets
                        .iter()
                        .filter(|s| s.protocol == p)
                        .map(|s| json!({ "ip": s.ip, "port": s.port }))
                        .collect()
                };
                Ok(json!({
                    "id": srv.id,
                    "udpSockets": sock(crate::core::transport::Protocol::Udp),
                    "tcpServers": sock(crate::core::transport::Protocol::Tcp),
                    "webRtcTransportIds": srv.transports.iter().filter_map(tid).collect::<Vec<_>>(),
                    "localIceUsernameFragments": srv.by_ufrag.iter().filter_map(|(u, k)| Some(json!({ "localIceUsernameFragment": u, "webRtcTransportId": tid(k)? }))).collect::<Vec<_>>(),
                    "tupleHashes": srv.by_tuple.iter().filter_map(|(t, k)| Some(json!({ "tupleHash": format!("{}:{}", t.socket, t.remote), "webRtcTransportId": tid(k)? }))).collect::<Vec<_>>(),
                }))
            }
            "worker.closeRouter" => {
                let id = str_field(d, "routerId")?;
                self.close_router(id)
            }
            "router.dump" => {
                let r = self.routers.get(h).ok_or_else(|| {
                    CoreError::not_found(format!("Router not found [routerId:{h}]"))
                })?;
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
                        let dcs: Vec<String> =
                            ids_of(&dp.consumers, &self.data_consumers, |x| &x.id);
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
            "router.createWebRtcTransport" | "router.createWebRtcTransportWithServer" => {
                self.create_webrtc_transport(h, d)
            }
            "router.createPlainTransport" => self.create_plain_transport(h, d, false),
            "router.createPipeTransport" => self.create_plain_transport(h, d, true),
            "router.createDirectTransport" => {
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
                let rtcp_ssrc = self.ctx.random_u32();
                let t = Transport::new(
                    id.clone(),
                    h.to_string(),
                    Flavor::Direct { max_message_size },
                    rtcp_ssrc,
                );
                let k = self.register_transport(h, &id, t)?;
                Ok(self.transport_dump(k))
            }
            "router.createAudioLevelObserver" | "router.createActiveSpeakerObserver" => {
                if !self.routers.contains_key(h) {
                    return Err(CoreError::not_found(format!(
                        "Router not found [routerId:{h}]"
                    )));
                }
                let id = str_field(d, "rtpObserverId")?.to_string();
                if self.observer_ids.contains(&id) {
                    return Err(CoreError::error(format!(
                        "an RtpObserver with same id already exists [id:{id}]"
                    )));
                }
                let interval = d.get("interval").and_then(Value::as_u64);
                let kind = if req.method == "router.createAudioLevelObserver" {
                    let max_entries = d
                        .get("maxEntries")
                        .and_then(Value::as_u64)
                        .unwrap_or(1)
                        .max(1) as usize;
                    let threshold = d
                        .get("threshold")
                        .and_then(Value::as_i64)
                        .unwrap_or(-80)
                        .clamp(-127, 0) as i8;
                    let interval = Duration::from_millis(interval.unwrap_or(1000).max(250));
                    RtpObserverKind::AudioLevel(AudioLevelObserver::new(
                        max_entries,
                        threshold,
                        interval,
                    ))
                } else {
                    let interval = Duration::from_millis(interval.unwrap_or(300).max(100));
                    RtpObserverKind::ActiveSpeaker(ActiveSpeakerObserver::new(interval))
                };
                let k = self.observer_ids.insert(&id);
                let mut o = RtpObserver {
                    id,
                    router: h.to_string(),
                    paused: false,
                    producers: Vec::new(),
                    kind,
                    next_tick: self.ctx.now,
                };
                o.next_tick = self.ctx.now + o.interval();
                self.observers.insert(k, o);
                self.routers.get_mut(h).expect("checked").observers.push(k);
                Ok(Value::Null)
            }
            "router.closeRtpObserver" => {
                let id = str_field(d, "rtpObserverId")?;
                let k = self
                    .observer_ids
                    .require(id, "RtpObserver", "rtpObserverId")?;
                self.close_observer(k);
                Ok(Value::Null)
            }
            m if m.starts_with("rtpObserver.") => {
                let k = self
                    .observer_ids
                    .require(h, "RtpObserver", "rtpObserverId")?;
                self.observer_request(k, m, d)
            }
            "router.closeTransport" => {
                let id = str_field(d, "transportId")?;
                let k = self.transport_ids.require(id, "Transport", "transportId")?;
                self.close_transport(k);
                Ok(Value::Null)
            }
            m if m.starts_with("transport.") => {
                let k = self.transport_ids.require(h, "Transport", "transportId")?;
                self.transport_request(k, m, d)
            }
            m if m.starts_with("producer.") => {
                let k = self.producer_ids.require(h, "Producer", "producerId")?;
                self.producer_request(k, m, d)
            }
            m if m.starts_with("dataProducer.") => {
                let k = self
                    .data_producer_ids
                    .require(h, "DataProducer", "dataProducerId")?;
                self.data_producer_request(k, m)
            }
            m if m.starts_with("dataConsumer.") => {
                let k = self
                    .data_consumer_ids
                    .require(h, "DataConsumer", "dataConsumerId")?;
                self.data_consumer_request(k, m, d, req.payload.as_deref())
            }
            m if m.starts_with("consumer.") => {
                let k = self.consumer_ids.require(h, "Consumer", "consumerId")?;
                self.consumer_request(k, m, d)
            }
            m => Err(CoreError::error(format!("unknown method '{m}'"))),
        }
    }

    /// `producer.send` (RTP into a DirectTransport producer) and `transport.sendRtcp`.
    fn handle_payload(&mut self, method: &str, handler: &str, meta: &Value, data: &mut [u8]) {
        if method == "dataProducer.send" {
            let Some(dpk) = self.data_producer_ids.get(handler) else {
                self.ctx.drops.no_producer += 1;
                return;
            };
            let ppid = meta.get("ppid").and_then(Value::as_u64).unwrap_or(53) as u32;
            let subchannels: Option<Vec<u16>> =
                meta.get("subchannels").and_then(Value::as_array).map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_u64().map(|x| x as u16))
                        .collect()
                });
            let required = meta
                .get("requiredSubchannel")
                .and_then(Value::as_u64)
                .map(|v| v as u16);
            self.deliver_data(dpk, ppid, data, subchannels.as_deref(), required);
            return;
        }
        let tk = match method {
            "producer.send" => self
                .producer_ids
                .get(handler)
                .and_then(|pk| self.producers.get(&pk))
                .map(|p| p.transport),
            "transport.sendRtcp" => self.transport_ids.get(handler),
            _ => None,
        };
        let Some(tk) = tk.filter(|tk| {
            matches!(
                self.transports.get(tk).map(|t| &t.flavor),
                Some(Flavor::Direct { .. })
            )
        }) else {
            self.ctx.drops.no_producer += 1;
            return;
        };
        self.transports
            .get_mut(&tk)
            .expect("checked")
            .recv
            .add(self.ctx.now, data.len());
        if method == "producer.send" {
            self.rtp_input(tk, data);
        } else {
            self.rtcp_input(tk, data);
        }
    }

    /// An SCTP packet arrived on transport `k` (inside DTLS, or as a UDP datagram).
    fn sctp_input(&mut self, k: u32, packet: &[u8]) {
        let now = self.ctx.now;
        let mut msgs = Vec::new();
        let Some(t) = self.transports.get_mut(&k) else {
            return;
        };
        let Some(sctp) = t.sctp.as_mut() else {
            self.ctx.drops.malformed += 1;
            return;
        };
        let changed = sctp.handle_packet(now, packet, &mut msgs);
        self.after_sctp(k, changed, msgs);
    }

    /// Delivers received messages, sends what SCTP queued, reports state changes.
    fn after_sctp(&mut self, k: u32, changed: bool, msgs: Vec<SctpMessage>) {
        for m in msgs {
            let dpk = self
                .transports
                .get(&k)
                .and_then(|t| t.sctp_stream_producers.get(&m.stream_id).copied());
            match dpk {
                Some(dpk) => self.deliver_data(dpk, m.ppid, &m.data, None, None),
                None => self.ctx.drops.no_producer += 1,
            }
        }
        self.flush_sctp(k);
        if changed {
            if let Some(t) = self.transports.get(&k) {
                if let Some(s) = &t.sctp {
                    let (id, state) = (t.id.clone(), s.state.as_str());
                    self.ctx
                        .notify(&id, "sctpstatechange", json!({ "sctpState": state }));
                    self.ctx.log(crate::core::log::LogLevel::Debug, "sctp", || {
                        format!("SCTP state changed to {state} [transportId:{id}]")
                    });
                }
            }
        }
    }

    /// Sends the SCTP packets a transport's association has queued.
    fn flush_sctp(&mut self, k: u32) {
        if let Some(t) = self.transports.get_mut(&k) {
            t.flush_sctp(&mut self.ctx);
        }
    }

    /// A message from a data producer goes to each of its data consumers.
    fn deliver_data(
        &mut self,
        dpk: u32,
        ppid: u32,
        data: &[u8],
        subchannels: Option<&[u16]>,
        required: Option<u16>,
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
            let ok = self.data_consumers.get(&dck).is_some_and(|c| {
                !c.paused && !c.producer_paused && c.accepts(subchannels, required)
            });
            if ok {
                self.send_to_data_consumer(dck, ppid, data);
            }
        }
    }

    /// Sends a message to a data consumer's endpoint; returns the stream's buffered amount.
    fn send_to_data_consumer(&mut self, dck: u32, ppid: u32, data: &[u8]) -> Option<usize> {
        let c = self.data_consumers.get_mut(&dck)?;
        let tk = c.transport;
        match c.kind {
            DataKind::Direct => {
                c.messages += 1;
                c.bytes += data.len() as u64;
                let id = c.id.clone();
                self.ctx.outputs.push_back(Output::Binary {
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
                let buffered = match t.sctp.as_mut()?.send(sid, ppid, data, opts) {
                    Some(b) => b,
                    None => {
                        let id = c.id.clone();
                        self.ctx.notify(&id, "sctpsendbufferfull", Value::Null);
                        return None;
                    }
                };
                c.messages += 1;
                c.bytes += data.len() as u64;
                if buffered > c.buffered_amount_low_threshold {
                    c.above_threshold = true;
                }
                self.flush_sctp(tk);
                Some(buffered)
            }
        }
    }

    /// Runs SCTP timers and 'bufferedamountlow' checks.
    fn tick_sctp(&mut self, now: Instant) {
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
            self.after_sctp(k, changed, msgs);
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
                    self.ctx.notify(
                        &id,
                        "bufferedamountlow",
                        json!({ "bufferedAmount": buffered }),
                    );
                }
            }
        }
    }

    fn produce_data(&mut self, tk: u32, d: &Value) -> Res {
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

    fn consume_data(&mut self, tk: u32, d: &Value) -> Res {
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

    fn remove_data_consumer(&mut self, k: u32) {
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

    fn remove_data_producer(&mut self, k: u32) {
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
                self.ctx.notify(&id, "dataproducerclose", Value::Null);
            }
            self.remove_data_consumer(c);
        }
    }

    fn data_producer_request(&mut self, k: u32, m: &str) -> Res {
        let ts = self.ctx.unix_ms();
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
                        self.ctx.notify(
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

    fn data_consumer_request(&mut self, k: u32, m: &str, d: &Value, payload: Option<&[u8]>) -> Res {
        let ts = self.ctx.unix_ms();
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
                let ppid = d.get("ppid").and_then(Value::as_u64).unwrap_or(53) as u32;
                let data = payload.unwrap_or(&[]).to_vec();
                match self.send_to_data_consumer(k, ppid, &data) {
                    Some(b) => Ok(json!({ "bufferedAmount": b })),
                    None => Err(CoreError::error("message could not be sent (SCTP not connected, too large, or send buffer full)")),
                }
            }
            _ => Err(CoreError::error(format!("unknown method '{m}'"))),
        }
    }

    fn close_observer(&mut self, k: u32) {
        let Some(o) = self.observers.remove(&k) else {
            return;
        };
        self.observer_ids.remove(&o.id);
        for p in &o.producers {
            if let Some(p) = self.producers.get_mut(p) {
                p.observers.retain(|x| *x != k);
            }
        }
        if let Some(r) = self.routers.get_mut(&o.router) {
            r.observers.retain(|x| *x != k);
        }
    }

    fn observer_request(&mut self, k: u32, m: &str, d: &Value) -> Res {
        match m {
            "rtpObserver.pause" | "rtpObserver.resume" => {
                let o = self.observers.get_mut(&k).expect("checked");
                o.paused = m == "rtpObserver.pause";
                if o.paused {
                    if let RtpObserverKind::AudioLevel(a) = &mut o.kind {
                        a.reset();
                    }
                }
                Ok(Value::Null)
            }
            "rtpObserver.addProducer" | "rtpObserver.removeProducer" => {
                let pid = str_field(d, "producerId")?;
                let pk = self.producer_ids.require(pid, "Producer", "producerId")?;
                let o = self.observers.get_mut(&k).expect("checked");
                let p = self.producers.get_mut(&pk).expect("listed");
                if m == "rtpObserver.addProducer" {
                    if o.producers.contains(&pk) {
                        return Err(CoreError::error(format!(
                            "Producer already in this RtpObserver [producerId:{pid}]"
                        )));
                    }
                    o.producers.push(pk);
                    p.observers.push(k);
                    if let RtpObserverKind::ActiveSpeaker(a) = &mut o.kind {
                        a.add(pk);
                    }
                } else {
                    if !o.producers.contains(&pk) {
                        return Err(CoreError::not_found(format!(
                            "Producer not in this RtpObserver [producerId:{pid}]"
                        )));
                    }
                    o.remove_producer(pk);
                    p.observers.retain(|x| *x != k);
                }
                Ok(Value::Null)
            }
            _ => Err(CoreError::error(format!("unknown method '{m}'"))),
        }
    }

    fn close_router(&mut self, id: &str) -> Res {
        let r = self
            .routers
            .remove(id)
            .ok_or_else(|| CoreError::not_found(format!("Router not found [routerId:{id}]")))?;
        for o in r.observers {
            if let Some(o) = self.observers.remove(&o) {
                self.observer_ids.remove(&o.id);
            }
        }
        for t in r.transports {
            self.close_transport(t);
        }
        Ok(Value::Null)
    }

    fn register_transport(
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

    fn create_webrtc_transport(&mut self, router: &str, d: &Value) -> Res {
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
        let rtcp_ssrc = self.ctx.random_u32();
        let mut t = Transport::new(
            id.clone(),
            router.to_string(),
            Flavor::WebRtc(Box::new(w)),
            rtcp_ssrc,
        );
        t.sctp = Transport::sctp_from_request(d);
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

    fn create_plain_transport(&mut self, router: &str, d: &Value, pipe: bool) -> Res {
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
        let rtcp_ssrc = self.ctx.random_u32();
        let mut t = Transport::new(
            id.clone(),
            router.to_string(),
            Flavor::Plain(Box::new(p)),
            rtcp_ssrc,
        );
        t.sctp = Transport::sctp_from_request(d);
        let k = self.register_transport(router, &id, t)?;
        Ok(self.transport_dump(k))
    }

    fn close_transport(&mut self, k: u32) {
        let Some(mut t) = self.transports.remove(&k) else {
            return;
        };
        self.transport_ids.remove(&t.id);
        if let Some(r) = self.routers.get_mut(&t.router) {
            r.transports.retain(|x| *x != k);
        }
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
                    self.ctx.outputs.push_back(Output::CloseSocket(s));
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
            self.remove_data_producer(p);
        }
        for p in std::mem::take(&mut t.producers) {
            self.remove_producer(p, true);
        }
        t.close(&mut self.ctx);
    }

    fn remove_consumer(&mut self, k: u32) {
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
    fn remove_producer(&mut self, k: u32, notify: bool) {
        let Some(p) = self.producers.remove(&k) else {
            return;
        };
        self.producer_ids.remove(&p.id);
        for o in &p.observers {
            if let Some(o) = self.observers.get_mut(o) {
                o.remove_producer(k);
            }
        }
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
                    self.ctx.notify(&cid, "producerclose", Value::Null);
                }
            }
            self.remove_consumer(c);
        }
    }

    fn transport_request(&mut self, k: u32, m: &str, d: &Value) -> Res {
        match m {
            "transport.dump" => Ok(self.transport_dump(k)),
            "transport.getStats" => Ok(self.transport_stats(k)),
            "transport.connect" => self.transport_connect(k, d),
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
            "transport.produce" => self.produce(k, d),
            "transport.consume" => self.consume(k, d),
            "transport.closeProducer" => {
                let id = str_field(d, "producerId")?;
                let pk = self.producer_ids.require(id, "Producer", "producerId")?;
                self.remove_producer(pk, true);
                Ok(Value::Null)
            }
            "transport.produceData" => self.produce_data(k, d),
            "transport.consumeData" => self.consume_data(k, d),
            "transport.closeDataProducer" => {
                let id = str_field(d, "dataProducerId")?;
                let dk = self
                    .data_producer_ids
                    .require(id, "DataProducer", "dataProducerId")?;
                self.remove_data_producer(dk);
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

    fn transport_connect(&mut self, k: u32, d: &Value) -> Res {
        let t = self.transports.get_mut(&k).expect("checked");
        let r = t.connect(&mut self.ctx, &self.cert, d);
        self.sync_transport_connected(k);
        r
    }

    fn produce(&mut self, tk: u32, d: &Value) -> Res {
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
            created: self.ctx.now,
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

    fn consume(&mut self, tk: u32, d: &Value) -> Res {
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
        self.sync_transport_connected(tk);
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
            self.request_keyframe_for(ck);
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
    fn consumer_score(&self, c: &Consumer) -> Value {
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
    fn request_keyframe_for(&mut self, ck: u32) {
        let Some(c) = self.consumers.get_mut(&ck) else {
            return;
        };
        if c.kind != "video" || !c.is_active() {
            return;
        }
        c.keyframe_requested_at = Some(self.ctx.now);
        if c.encodings_awaiting_keyframe().next().is_some() {
            self.keyframe_waiters.insert(ck);
        }
        let pk = c.producer;
        if c.is_pipe() {
            for enc in 0..c.streams.len() {
                self.send_keyframe_request(pk, Some(enc), false);
            }
        } else {
            let enc = c.encoding;
            self.send_keyframe_request(pk, Some(enc), false);
        }
    }

    /// Writes the producer's PLI/FIR (throttled and deferred by the producer; with
    /// `deferred_only`, only the requests whose throttle window has ended) to its sender.
    fn send_keyframe_request(&mut self, pk: u32, encoding: Option<usize>, deferred_only: bool) {
        let now = self.ctx.now;
        let mut out = self.ctx.buf();
        let Some(p) = self.producers.get_mut(&pk) else {
            self.ctx.recycle(out);
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
                self.ctx.log(crate::core::log::LogLevel::Debug, "rtcp", || {
                    format!("keyframe request deferred to the end of keyFrameRequestDelay [producerId:{pid}]")
                });
            }
            self.ctx.recycle(out);
            return;
        };
        let tk = p.transport;
        let pid = p.id.clone();
        let trace = p.trace_types.iter().any(|t| t == kind);
        if let Some(t) = self.transports.get_mut(&tk) {
            t.transmit(&mut self.ctx, out, true, false);
        }
        self.ctx.log(crate::core::log::LogLevel::Debug, "rtcp", || {
            format!("keyframe requested ({kind}) [producerId:{pid}, ssrc:{ssrc}]")
        });
        if trace {
            self.ctx.trace(&pid, kind, "out", json!({ "ssrc": ssrc }));
        }
    }

    /// Keyframe upkeep, every tick: deferred producer requests whose window ended go out, and
    /// consumers still waiting for the keyframe they asked for `KEYFRAME_RETRY` ago ask again.
    /// Without the retry a consumer whose request (or whose keyframe) was lost would stay
    /// black: a receiver that has decoded nothing sends no PLI of its own.
    fn keyframe_upkeep(&mut self, now: Instant) {
        let due: Vec<u32> = self
            .producers
            .iter()
            .filter(|(_, p)| p.next_deferred_keyframe_request().is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        for pk in due {
            self.send_keyframe_request(pk, None, true);
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
            self.request_keyframe_for(ck);
        }
    }

    /// Tells a transport's consumers when it starts or stops being able to carry media
    /// (`Transport::can_carry_media`). A consumer made active by the connection waits for a
    /// keyframe and asks for one now — not before: a keyframe requested while the transport
    /// could not carry it goes by unseen, and nothing would ask again.
    fn sync_transport_connected(&mut self, k: u32) {
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
        self.ctx.log(crate::core::log::LogLevel::Debug, "rtp", || {
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
                self.request_keyframe_for(ck);
            }
        }
    }

    fn producer_request(&mut self, k: u32, m: &str, d: &Value) -> Res {
        let now = self.ctx.now;
        let ts = self.ctx.unix_ms();
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
                    self.ctx.notify(
                        &cid,
                        if pause {
                            "producerpause"
                        } else {
                            "producerresume"
                        },
                        Value::Null,
                    );
                    if !pause && active {
                        self.request_keyframe_for(ck);
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

    fn consumer_request(&mut self, k: u32, m: &str, d: &Value) -> Res {
        let now = self.ctx.now;
        let ts = self.ctx.unix_ms();
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
                        self.request_keyframe_for(k);
                    }
                }
                Ok(Value::Null)
            }
            "consumer.requestKeyFrame" => {
                self.request_keyframe_for(k);
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

    fn transport_dump(&self, k: u32) -> Value {
        let t = &self.transports[&k];
        let mut v = t.dump(self.dtls_fingerprints());
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

    fn transport_stats(&mut self, k: u32) -> Value {
        self.transports
            .get_mut(&k)
            .expect("checked")
            .stats(&self.ctx)
    }

    // ---------------------------------------------------------------- network input

    /// A datagram (or a de-framed TCP message) arrived on `socket` from `from`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        socket: u32,
        from: SocketAddr,
        data: &mut [u8],
    ) {
        self.ctx.now = now;
        let tuple = Tuple {
            socket,
            remote: from,
        };
        let k = match self.socket_owner.get(&socket) {
            Some(&k) => k,
            None => {
                let Some(srv) = self
                    .server_sockets
                    .get(&socket)
                    .and_then(|sk| self.servers.get(sk))
                else {
                    self.ctx.drops.unknown_socket += 1;
                    return;
                };
                let user = if stun::is_stun(data) {
                    StunMessage::parse(data).ok().and_then(|m| m.username)
                } else {
                    None
                };
                match srv.route(&tuple, user) {
                    Some(k) => k,
                    None => {
                        self.ctx.drops.unknown_socket += 1;
                        return;
                    }
                }
            }
        };
        let t = self.transports.get_mut(&k).expect("owner");
        let o = t.input(&mut self.ctx, &self.cert, tuple, data);
        self.after_input(k, o, data);
    }

    /// Acts on what a transport made of an input: WebRtcServer routing by validated tuple,
    /// consumers told of connectivity, SCTP packets, then RTP/RTCP into the router.
    fn after_input(&mut self, k: u32, o: InputOutcome, data: &[u8]) {
        if let Some(tuple) = o.validated_tuple {
            self.route_validated_tuple(k, tuple);
        }
        if o.connectivity_changed {
            self.sync_transport_connected(k);
        }
        for p in &o.sctp_packets {
            self.sctp_input(k, p);
        }
        match o.inbound {
            Inbound::Rtp(n) => self.rtp_input(k, &data[..n]),
            Inbound::Rtcp(n) => self.rtcp_input(k, &data[..n]),
            Inbound::Sctp(n) => self.sctp_input(k, &data[..n]),
            Inbound::Nothing => {}
        }
    }

    /// On a WebRtcServer, a validated tuple routes this transport's later packets (and a new
    /// TCP connection becomes one of its sockets).
    fn route_validated_tuple(&mut self, k: u32, tuple: Tuple) {
        let Some(Flavor::WebRtc(w)) = self.transports.get_mut(&k).map(|t| &mut t.flavor) else {
            return;
        };
        let Some(sk) = w.server else {
            return;
        };
        if !w.sockets.iter().any(|s| s.id == tuple.socket) {
            let listener = self.conn_listener.get(&tuple.socket).copied();
            if let Some(ls) = listener
                .and_then(|l| w.sockets.iter().find(|s| s.id == l))
                .cloned()
            {
                w.sockets.push(LocalSocket {
                    id: tuple.socket,
                    ..ls
                });
            }
        }
        if let Some(srv) = self.servers.get_mut(&sk) {
            srv.by_tuple.insert(tuple, k);
        }
    }

    /// A TCP connection of a transport's listening socket closed.
    pub fn handle_tcp_closed(&mut self, now: Instant, listener: u32, conn: u32) {
        self.ctx.now = now;
        if let Some(sk) = self.server_sockets.remove(&conn) {
            self.conn_listener.remove(&conn);
            let ks: Vec<u32> = self
                .servers
                .get(&sk)
                .map(|s| s.transports.clone())
                .unwrap_or_default();
            for k in ks {
                if let Some(t) = self.transports.get_mut(&k) {
                    let o = webrtc::socket_closed(t, &mut self.ctx, &self.cert, conn);
                    self.after_input(k, o, &[]);
                }
            }
            if let Some(srv) = self.servers.get_mut(&sk) {
                srv.by_tuple.retain(|t, _| t.socket != conn);
            }
            return;
        }
        let Some(&k) = self.socket_owner.get(&listener) else {
            return;
        };
        let t = self.transports.get_mut(&k).expect("owner");
        let o = webrtc::socket_closed(t, &mut self.ctx, &self.cert, conn);
        self.after_input(k, o, &[]);
    }

    /// Registers a TCP connection accepted on a listening socket as belonging to its transport.
    pub fn handle_tcp_accepted(&mut self, listener: u32, conn: u32) {
        if let Some(&sk) = self.server_sockets.get(&listener) {
            self.server_sockets.insert(conn, sk);
            self.conn_listener.insert(conn, listener);
            return;
        }
        if let Some(&k) = self.socket_owner.get(&listener) {
            self.socket_owner.insert(conn, k);
            if let Some(Flavor::WebRtc(w)) = self.transports.get_mut(&k).map(|t| &mut t.flavor) {
                if let Some(s) = w.sockets.iter().find(|s| s.id == listener).cloned() {
                    w.sockets.push(LocalSocket { id: conn, ..s });
                }
            }
        }
    }

    /// The RTP packet path: listener → producer stream → consumers.
    fn rtp_input(&mut self, tk: u32, data: &[u8]) {
        let now = self.ctx.now;
        let Ok(view) = RtpView::parse(data) else {
            self.ctx.drops.malformed += 1;
            return;
        };
        let ast = self.ctx.abs_send_time();
        let Self {
            transports,
            producers,
            consumers,
            observers,
            ctx,
            ..
        } = self;
        let Some(t) = transports.get_mut(&tk) else {
            return;
        };
        let ssrc = view.ssrc();
        let pk = match t.ssrc_map.get(&ssrc) {
            Some(&pk) => pk,
            None => {
                // Not signalled by SSRC: find the producer by MID, then by RID.
                let found = t.producers.iter().copied().find(|pk| {
                    let p = &producers[pk];
                    let mid_id = p.ext_ids[ExtUri::Mid as usize];
                    if let (Some(mid), Some(want)) =
                        (view.extension(mid_id), p.rtp_parameters["mid"].as_str())
                    {
                        return mid == want.as_bytes();
                    }
                    let rid_id = p.ext_ids[ExtUri::Rid as usize];
                    let rrid_id = p.ext_ids[ExtUri::Rrid as usize];
                    let rid = view.extension(rid_id).or_else(|| view.extension(rrid_id));
                    rid.is_some_and(|r| {
                        p.encodings
                            .iter()
                            .any(|e| e.rid.as_deref().map(str::as_bytes) == Some(r))
                    })
                });
                match found {
                    Some(pk) => pk,
                    None => {
                        ctx.drops.no_producer += 1;
                        return;
                    }
                }
            }
        };
        let Some(p) = producers.get_mut(&pk) else {
            return;
        };
        let rid = view.extension(p.ext_ids[ExtUri::Rid as usize]);
        let rrid = view.extension(p.ext_ids[ExtUri::Rrid as usize]);
        let Some((enc, is_rtx)) = p.match_stream(ssrc, view.payload_type(), rid, rrid) else {
            ctx.drops.no_producer += 1;
            return;
        };
        t.ssrc_map.insert(ssrc, pk);
        if let Some(v) = view
            .extension(p.ext_ids[ExtUri::TransportWideCc as usize])
            .filter(|v| v.len() >= 2)
        {
            t.tcc.record(now, u16::from_be_bytes([v[0], v[1]]), ssrc);
        }
        if is_rtx {
            t.rtx_recv.add(now, data.len());
        } else {
            t.rtp_recv.add(now, data.len());
        }
        let Some(acc) = p.receive(
            now,
            ctx.anchor,
            enc,
            is_rtx,
            view.payload_type(),
            view.seq(),
            view.timestamp(),
            view.payload_off,
            view.payload(),
            data.len(),
        ) else {
            return;
        };
        if !p.trace_types.is_empty() {
            let kf = acc.keyframe;
            let wants = p
                .trace_types
                .iter()
                .any(|t| t == "rtp" || (kf && t == "keyframe"));
            if wants {
                let kind = if kf && p.trace_types.iter().any(|t| t == "keyframe") {
                    "keyframe"
                } else {
                    "rtp"
                };
                let info = json!({
                    "payloadType": view.payload_type(), "sequenceNumber": view.seq(), "timestamp": view.timestamp(),
                    "marker": view.marker(), "ssrc": ssrc, "isKeyFrame": kf, "size": data.len(), "payloadSize": view.payload_len,
                });
                ctx.trace(&p.id, kind, "in", info);
            }
        }
        // Video orientation (urn:3gpp:video-orientation, TS 26.114 §7.4.5): C, F and rotation bits.
        if !is_rtx {
            if let Some(&cvo) = view
                .extension(p.ext_ids[ExtUri::VideoOrientation as usize])
                .and_then(|v| v.first())
            {
                if p.video_orientation != Some(cvo & 0x0f) {
                    p.video_orientation = Some(cvo & 0x0f);
                    ctx.outputs.push_back(Output::Notification {
                        target: p.id.clone(),
                        event: "videoorientationchange",
                        data: json!({ "camera": cvo & 0x08 != 0, "flip": cvo & 0x04 != 0, "rotation": (cvo & 0x03) as u16 * 90 }),
                    });
                }
            }
        }
        if p.paused {
            return;
        }
        if !p.observers.is_empty() && !is_rtx {
            if let Some(&level) = view
                .extension(p.ext_ids[ExtUri::AudioLevel as usize])
                .and_then(|v| v.first())
            {
                for o in &p.observers {
                    if let Some(o) = observers.get_mut(o) {
                        o.receive(now, pk, level);
                    }
                }
            }
        }
        let src = SourcePacket {
            view,
            ext_ids: &p.ext_ids,
            mapped_pt: acc.mapped_pt,
            seq: acc.seq,
            payload_off: acc.payload_off,
            keyframe: acc.keyframe,
            encoding: acc.encoding,
        };
        for ck in &p.consumers {
            let Some(c) = consumers.get_mut(ck) else {
                continue;
            };
            let Some(ct) = transports.get_mut(&c.transport) else {
                continue;
            };
            let mut out = ctx.buf();
            if c.forward(now, &src, &mut ct.tcc_seq, ast, &mut out) {
                if !c.trace_types.is_empty() {
                    let kf = src.keyframe;
                    if c.trace_types
                        .iter()
                        .any(|t| t == "rtp" || (kf && t == "keyframe"))
                    {
                        let kind = if kf && c.trace_types.iter().any(|t| t == "keyframe") {
                            "keyframe"
                        } else {
                            "rtp"
                        };
                        let info = json!({
                            "payloadType": out[1] & 0x7f, "sequenceNumber": u16::from_be_bytes([out[2], out[3]]),
                            "timestamp": src.view.timestamp(), "marker": src.view.marker(), "isKeyFrame": kf, "size": out.len(),
                        });
                        ctx.trace(&c.id, kind, "out", info);
                    }
                }
                if matches!(ct.flavor, Flavor::Direct { .. }) {
                    ct.send.add(now, out.len());
                    ct.rtp_send.add(now, out.len());
                    ctx.outputs.push_back(Output::Binary {
                        target: c.id.clone(),
                        event: "rtp",
                        data: out,
                        ppid: 0,
                    });
                    continue;
                }
                ct.transmit(ctx, out, false, false);
            } else {
                ctx.recycle(out);
            }
        }
    }

    fn rtcp_input(&mut self, tk: u32, data: &[u8]) {
        let mut items: Vec<RtcpItem<'_>> = Vec::new();
        if !rtcp::split_compound(data, &mut items) {
            self.ctx.drops.malformed += 1;
            return;
        }
        let now = self.ctx.now;
        let ntp_mid = ((self.ctx.ntp() >> 16) & 0xffff_ffff) as u32;
        // Collect work first: keyframe requests and retransmissions need several maps.
        let mut keyframe_for: Vec<u32> = Vec::new();
        let mut nacks: Vec<(u32, u32, u16)> = Vec::new();
        let mut traces: Vec<(String, &'static str, Value)> = Vec::new();
        {
            let Self {
                transports,
                producers,
                consumers,
                ..
            } = self;
            let Some(t) = transports.get_mut(&tk) else {
                return;
            };
            for it in &items {
                match it.pt {
                    rtcp::PT_SR => {
                        if let Some((info, blocks)) = rtcp::parse_sr(it) {
                            if let Some(pk) = t.ssrc_map.get(&info.ssrc) {
                                if let Some(p) = producers.get_mut(pk) {
                                    p.handle_sr(now, info.ssrc, info.ntp);
                                    if p.trace_types.iter().any(|t| t == "sr") {
                                        traces.push((
                                            p.id.clone(),
                                            "sr",
                                            json!({
                                                "ssrc": info.ssrc,
                                                "ntpSec": (info.ntp >> 32) as u32,
                                                "ntpFrac": info.ntp as u32,
                                                "rtpTs": info.rtp_ts,
                                                "packetCount": info.packets,
                                                "octetCount": info.octets,
                                            }),
                                        ));
                                    }
                                }
                            }
                            for b in blocks {
                                if let Some(c) = t
                                    .consumer_ssrcs
                                    .get(&b.ssrc)
                                    .and_then(|ck| consumers.get_mut(ck))
                                {
                                    c.handle_report(ntp_mid, &b);
                                }
                            }
                        }
                    }
                    rtcp::PT_RR => {
                        if let Some((_, blocks)) = rtcp::parse_rr(it) {
                            for b in blocks {
                                if let Some(c) = t
                                    .consumer_ssrcs
                                    .get(&b.ssrc)
                                    .and_then(|ck| consumers.get_mut(ck))
                                {
                                    c.handle_report(ntp_mid, &b);
                                }
                            }
                        }
                    }
                    rtcp::PT_RTPFB if it.count == 1 => {
                        if let Some((_, media)) = rtcp::feedback_ssrcs(it) {
                            if let Some(&ck) = t.consumer_ssrcs.get(&media) {
                                if let Some(c) = consumers.get_mut(&ck) {
                                    c.nack_count += 1;
                                    if c.trace_types.iter().any(|t| t == "nack") {
                                        traces.push((c.id.clone(), "nack", json!({})));
                                    }
                                    rtcp::for_each_nack(it, |s| {
                                        c.nack_packet_count += 1;
                                        nacks.push((ck, media, s));
                                    });
                                }
                            }
                        }
                    }
                    rtcp::PT_PSFB if it.count == 1 || it.count == 4 => {
                        let targets: Vec<u32> = if it.count == 1 {
                            rtcp::feedback_ssrcs(it)
                                .map(|(_, m)| m)
                                .into_iter()
                                .collect()
                        } else {
                            rtcp::fir_ssrcs(it).collect()
                        };
                        for m in targets {
                            if let Some(&ck) = t.consumer_ssrcs.get(&m) {
                                if let Some(c) = consumers.get_mut(&ck) {
                                    let kind = if it.count == 1 {
                                        c.pli_count += 1;
                                        "pli"
                                    } else {
                                        c.fir_count += 1;
                                        "fir"
                                    };
                                    if c.trace_types.iter().any(|t| t == kind) {
                                        traces.push((c.id.clone(), kind, json!({ "ssrc": m })));
                                    }
                                    if c.is_active() {
                                        keyframe_for.push(ck);
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        for (target, kind, info) in traces {
            self.ctx.trace(&target, kind, "in", info);
        }
        for ck in keyframe_for {
            self.request_keyframe_for(ck);
        }
        for (ck, media, seq) in nacks {
            let mut out = self.ctx.buf();
            let Self {
                transports,
                consumers,
                ctx,
                ..
            } = self;
            let Some(c) = consumers.get_mut(&ck) else {
                continue;
            };
            if let Some(rtx) = c.retransmit(now, media, seq, &mut out) {
                if let Some(t) = transports.get_mut(&c.transport) {
                    t.transmit(ctx, out, false, rtx);
                }
            }
        }
    }

    // ---------------------------------------------------------------- timers

    pub fn handle_timeout(&mut self, now: Instant) {
        self.ctx.now = now;
        if now < self.next_tick {
            return;
        }
        self.next_tick = now + TICK;
        // ICE consent and DTLS retransmissions.
        let keys: Vec<u32> = self.transports.keys().copied().collect();
        for &k in &keys {
            let t = self.transports.get_mut(&k).expect("listed");
            let o = t.tick(&mut self.ctx, &self.cert);
            self.after_input(k, o, &[]);
        }
        // NACKs for every producer.
        let mut scratch = Vec::new();
        let pks: Vec<u32> = self.producers.keys().copied().collect();
        for pk in pks {
            let mut out = self.ctx.buf();
            let p = self.producers.get_mut(&pk).expect("listed");
            p.write_nacks(now, &mut out, &mut scratch);
            let tk = p.transport;
            let trace = (!out.is_empty() && p.trace_types.iter().any(|t| t == "nack"))
                .then(|| p.id.clone());
            if let Some(pid) = trace {
                self.ctx.trace(&pid, "nack", "out", json!({}));
            }
            if !out.is_empty() {
                if let Some(t) = self.transports.get_mut(&tk) {
                    t.transmit(&mut self.ctx, out, true, false);
                }
            } else {
                self.ctx.recycle(out);
            }
        }
        self.keyframe_upkeep(now);
        self.tick_observers(now);
        self.tick_sctp(now);
        if now >= self.next_tcc {
            self.next_tcc = now + TCC_INTERVAL;
            let anchor = self.ctx.anchor;
            let Self {
                transports, ctx, ..
            } = self;
            for t in transports.values_mut() {
                if t.tcc.has_pending() {
                    let mut out = Vec::with_capacity(128);
                    if t.tcc.build(t.rtcp_ssrc, anchor, &mut out) {
                        t.transmit(ctx, out, true, false);
                    }
                }
            }
        }
        if now >= self.next_rtcp {
            self.next_rtcp = now + RTCP_INTERVAL;
            self.send_rtcp_reports(&keys);
        }
    }

    fn tick_observers(&mut self, now: Instant) {
        let due: Vec<u32> = self
            .observers
            .iter()
            .filter(|(_, o)| o.next_tick <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in due {
            let o = self.observers.get_mut(&k).expect("listed");
            let id = o.id.clone();
            let pid = |k: &u32| self.producers.get(k).map(|p| p.id.clone());
            match o.tick(now) {
                Some(ObserverEvent::Volumes(v)) => {
                    let list: Vec<Value> = v
                        .iter()
                        .filter_map(|(p, vol)| {
                            Some(json!({ "producerId": pid(p)?, "volume": vol }))
                        })
                        .collect();
                    self.ctx.notify(&id, "volumes", Value::Array(list));
                }
                Some(ObserverEvent::Silence) => self.ctx.notify(&id, "silence", Value::Null),
                Some(ObserverEvent::DominantSpeaker(p)) => {
                    if let Some(p) = pid(&p) {
                        self.ctx
                            .notify(&id, "dominantspeaker", json!({ "producerId": p }));
                    }
                }
                None => {}
            }
        }
    }

    fn send_rtcp_reports(&mut self, keys: &[u32]) {
        let now = self.ctx.now;
        let ntp = self.ctx.ntp();
        let mut blocks = Vec::new();
        let mut score_notes = Vec::new();
        for &k in keys {
            let Self {
                transports,
                producers,
                consumers,
                ctx,
                ..
            } = self;
            let Some(t) = transports.get_mut(&k) else {
                continue;
            };
            blocks.clear();
            for pk in &t.producers {
                if let Some(p) = producers.get_mut(pk) {
                    p.report_blocks(now, &mut blocks);
                    let scores: Vec<u8> = p.streams.iter().flatten().map(|s| s.score).collect();
                    if scores != p.last_scores {
                        p.last_scores = scores;
                        score_notes.push((p.id.clone(), p.scores_json()));
                        for ck in &p.consumers {
                            if let Some(c) = consumers.get(ck) {
                                let ps = p
                                    .streams
                                    .get(c.encoding)
                                    .and_then(|s| s.as_ref())
                                    .map_or(0, |s| s.score);
                                let all: Vec<u8> = p
                                    .streams
                                    .iter()
                                    .map(|s| s.as_ref().map_or(0, |s| s.score))
                                    .collect();
                                score_notes.push((c.id.clone(), json!({ "score": c.score, "producerScore": ps, "producerScores": all })));
                            }
                        }
                    }
                }
            }
            for chunk in blocks.chunks(31) {
                let mut out = Vec::with_capacity(64 + chunk.len() * 24);
                rtcp::write_rr(&mut out, t.rtcp_ssrc, chunk);
                t.transmit(ctx, out, true, false);
            }
            let cks = t.consumers.clone();
            for ck in &cks {
                if let Some(c) = consumers.get(ck) {
                    let mut out = Vec::with_capacity(128);
                    c.write_sr(now, ntp, &mut out);
                    if !out.is_empty() {
                        t.transmit(ctx, out, true, false);
                    }
                }
            }
        }
        for (id, data) in score_notes {
            self.ctx.notify(&id, "score", data);
        }
    }
}

/// Preferred layers clamped to what a consumer's single encoding offers (its scalabilityMode);
/// a missing layer means the highest.
fn clamp_layers(rtp: &Value, spatial: Option<u64>, temporal: Option<u64>) -> Value {
    let mode = rtp["encodings"][0]["scalabilityMode"]
        .as_str()
        .unwrap_or("L1T1");
    let (max_s, max_t) = parse_layers(mode);
    let s = spatial.map_or(max_s - 1, |s| s.min(max_s - 1));
    let t = temporal.map_or(max_t - 1, |t| t.min(max_t - 1));
    json!({ "spatialLayer": s, "temporalLayer": t })
}

/// Spatial and temporal layer counts of a scalability mode such as "L3T3_KEY" or "S2T1".
fn parse_layers(mode: &str) -> (u64, u64) {
    let b = mode.as_bytes();
    if b.len() < 4 || !(b[0] == b'L' || b[0] == b'S') {
        return (1, 1);
    }
    let rest = &mode[1..];
    let Some(t) = rest.find('T') else {
        return (1, 1);
    };
    let s: u64 = rest[..t].parse().unwrap_or(1);
    let tl: u64 = rest[t + 1..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(1);
    (s.max(1), tl.max(1))
}
