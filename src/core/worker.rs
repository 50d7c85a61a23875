//! The engine of one worker: its entry points for the io driver (`handle_request`,
//! `handle_datagram`, `handle_tcp_*`, `handle_timeout`, `poll_output`, `poll_timeout`),
//! request dispatch by handler id, the WebRtcServers' socket routing and the timers.
//! Sans-IO: the driver feeds it requests, datagrams and timeouts with the current time.
//!
//! Owns the context (`Ctx`: clock, output queue, buffer pool, logs) and the object graph
//! (`router::Graph`); it decides nothing about media itself: what a request or a datagram means
//! for transports, producers and consumers is theirs and the router's. Nothing imports it.

use crate::core::context::{field, str_field, Ctx, Res};
use crate::core::data::SubchannelFilter;
use crate::core::dtls::DtlsCertificate;
use crate::core::ice::stun::{self, StunMessage};
use crate::core::ice::Tuple;
use crate::core::message::{CoreError, Output, Request};
use crate::core::router::{Graph, Router};
use crate::core::transport::webrtc_server::WebRtcServer;
use crate::core::transport::{webrtc, Flavor, LocalSocket};
use rustc_hash::FxHashMap as HashMap;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

const TICK: Duration = Duration::from_millis(20);
const RTCP_INTERVAL: Duration = Duration::from_millis(1000);
/// How often transport-cc feedback goes to senders.
const TCC_INTERVAL: Duration = Duration::from_millis(100);

pub struct Engine {
    pub ctx: Ctx,
    cert: DtlsCertificate,
    graph: Graph,
    next_tick: Instant,
    next_rtcp: Instant,
    next_tcc: Instant,
}

impl Engine {
    /// `seed` feeds the engine's own choices (SSRCs for RTCP); `cert` is the worker's DTLS
    /// certificate.
    pub fn new(now: Instant, unix_now: SystemTime, cert: DtlsCertificate, seed: u64) -> Self {
        let fingerprints = Value::Array(
            cert.fingerprints
                .iter()
                .map(|(a, v)| json!({ "algorithm": a, "value": v }))
                .collect(),
        );
        Self {
            ctx: Ctx::new(now, unix_now, seed),
            cert,
            graph: Graph::new(fingerprints),
            next_tick: now + TICK,
            next_rtcp: now + RTCP_INTERVAL,
            next_tcc: now + TCC_INTERVAL,
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
        self.graph.fingerprints.clone()
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
                "webRtcServerIds": self.graph.servers.values().map(|s| s.id.clone()).collect::<Vec<_>>(),
                "routerIds": self.graph.routers.keys().collect::<Vec<_>>(),
                "channelMessageHandlers": {
                    "channelRequestHandlers": self.graph.servers.values().map(|s| s.id.clone())
                        .chain(self.graph.routers.keys().cloned())
                        .chain(self.graph.transports.values().map(|t| t.id.clone()))
                        .chain(self.graph.producers.values().map(|p| p.id.clone()))
                        .chain(self.graph.consumers.values().map(|c| c.id.clone()))
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
                if self.graph.routers.contains_key(id) {
                    return Err(CoreError::error(format!(
                        "a Router with same routerId already exists [routerId:{id}]"
                    )));
                }
                self.graph.routers.insert(
                    id.to_string(),
                    Router {
                        transports: Vec::new(),
                        producers: Vec::new(),
                        observers: Vec::new(),
                        recorders: Vec::new(),
                    },
                );
                Ok(Value::Null)
            }
            "worker.createWebRtcServer" => {
                let id = str_field(d, "webRtcServerId")?.to_string();
                if self.graph.server_ids.contains(&id) {
                    return Err(CoreError::error(format!("a WebRtcServer with same webRtcServerId already exists [webRtcServerId:{id}]")));
                }
                let sockets: Vec<LocalSocket> = field(d, "_sockets")?
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(LocalSocket::from_json)
                    .collect();
                let sk = self.graph.server_ids.insert(&id);
                for s in &sockets {
                    self.graph.server_sockets.insert(s.id, sk);
                }
                self.graph.servers.insert(
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
                let sk = self.graph.server_ids.remove(id).ok_or_else(|| {
                    CoreError::not_found(format!("WebRtcServer not found [webRtcServerId:{id}]"))
                })?;
                let srv = self.graph.servers.remove(&sk).expect("listed");
                for k in srv.transports {
                    self.graph.close_transport(&mut self.ctx, k);
                }
                self.graph.server_sockets.retain(|sock, owner| {
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
                    .graph
                    .server_ids
                    .require(h, "WebRtcServer", "webRtcServerId")?;
                let srv = &self.graph.servers[&sk];
                let tid = |k: &u32| self.graph.transports.get(k).map(|t| t.id.clone());
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
                self.graph.close_router(&mut self.ctx, id)
            }
            "router.dump" => self.graph.router_dump(h),
            "router.createWebRtcTransport" | "router.createWebRtcTransportWithServer" => {
                self.graph.create_webrtc_transport(&mut self.ctx, h, d)
            }
            "router.createPlainTransport" => {
                self.graph
                    .create_plain_transport(&mut self.ctx, h, d, false)
            }
            "router.createPipeTransport" => {
                self.graph.create_plain_transport(&mut self.ctx, h, d, true)
            }
            "router.createDirectTransport" => {
                self.graph.create_direct_transport(&mut self.ctx, h, d)
            }
            "router.createAudioLevelObserver" | "router.createActiveSpeakerObserver" => {
                self.graph.create_observer(&mut self.ctx, h, &req.method, d)
            }
            "router.closeRtpObserver" => {
                let id = str_field(d, "rtpObserverId")?;
                let k = self
                    .graph
                    .observer_ids
                    .require(id, "RtpObserver", "rtpObserverId")?;
                self.graph.close_observer(k);
                Ok(Value::Null)
            }
            m if m.starts_with("rtpObserver.") => {
                let k = self
                    .graph
                    .observer_ids
                    .require(h, "RtpObserver", "rtpObserverId")?;
                self.graph.observer_request(k, m, d)
            }
            "router.createRecorder" => self.graph.create_recorder(&mut self.ctx, h, d),
            "router.closeRecorder" => {
                let id = str_field(d, "recorderId")?;
                let k = self
                    .graph
                    .recorder_ids
                    .require(id, "Recorder", "recorderId")?;
                Ok(self.graph.finish_recorder(&mut self.ctx, k, false))
            }
            m if m.starts_with("recorder.") => {
                let k = self
                    .graph
                    .recorder_ids
                    .require(h, "Recorder", "recorderId")?;
                Ok(self.graph.recorders[&k].stats())
            }
            "router.closeTransport" => {
                let id = str_field(d, "transportId")?;
                let k = self
                    .graph
                    .transport_ids
                    .require(id, "Transport", "transportId")?;
                self.graph.close_transport(&mut self.ctx, k);
                Ok(Value::Null)
            }
            "transport.connect" => {
                let k = self
                    .graph
                    .transport_ids
                    .require(h, "Transport", "transportId")?;
                self.transport_connect(k, d)
            }
            m if m.starts_with("transport.") => {
                let k = self
                    .graph
                    .transport_ids
                    .require(h, "Transport", "transportId")?;
                self.graph.transport_request(&mut self.ctx, k, m, d)
            }
            m if m.starts_with("producer.") => {
                let k = self
                    .graph
                    .producer_ids
                    .require(h, "Producer", "producerId")?;
                self.graph.producer_request(&mut self.ctx, k, m, d)
            }
            m if m.starts_with("dataProducer.") => {
                let k =
                    self.graph
                        .data_producer_ids
                        .require(h, "DataProducer", "dataProducerId")?;
                self.graph.data_producer_request(&mut self.ctx, k, m)
            }
            m if m.starts_with("dataConsumer.") => {
                let k =
                    self.graph
                        .data_consumer_ids
                        .require(h, "DataConsumer", "dataConsumerId")?;
                self.graph
                    .data_consumer_request(&mut self.ctx, k, m, d, req.payload.as_deref())
            }
            m if m.starts_with("consumer.") => {
                let k = self
                    .graph
                    .consumer_ids
                    .require(h, "Consumer", "consumerId")?;
                self.graph.consumer_request(&mut self.ctx, k, m, d)
            }
            m => Err(CoreError::error(format!("unknown method '{m}'"))),
        }
    }

    /// `producer.send` (RTP into a DirectTransport producer) and `transport.sendRtcp`.
    fn handle_payload(&mut self, method: &str, handler: &str, meta: &Value, data: &mut [u8]) {
        if method == "dataProducer.send" {
            let Some(dpk) = self.graph.data_producer_ids.get(handler) else {
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
            let subchannel = |name| meta.get(name).and_then(Value::as_u64).map(|v| v as u16);
            let filter = SubchannelFilter {
                subchannels: subchannels.as_deref(),
                required: subchannel("requiredSubchannel"),
                ignored: subchannel("ignoredSubchannel"),
            };
            self.graph
                .deliver_data(&mut self.ctx, dpk, ppid, data, filter);
            return;
        }
        let tk = match method {
            "producer.send" => self
                .graph
                .producer_ids
                .get(handler)
                .and_then(|pk| self.graph.producers.get(&pk))
                .map(|p| p.transport),
            "transport.sendRtcp" => self.graph.transport_ids.get(handler),
            _ => None,
        };
        let Some(tk) = tk.filter(|tk| {
            matches!(
                self.graph.transports.get(tk).map(|t| &t.flavor),
                Some(Flavor::Direct { .. })
            )
        }) else {
            self.ctx.drops.no_producer += 1;
            return;
        };
        self.graph
            .transports
            .get_mut(&tk)
            .expect("checked")
            .recv
            .add(self.ctx.now, data.len());
        if method == "producer.send" {
            self.graph.rtp_input(&mut self.ctx, tk, data);
        } else {
            self.graph.rtcp_input(&mut self.ctx, tk, data);
        }
    }

    fn transport_connect(&mut self, k: u32, d: &Value) -> Res {
        let t = self.graph.transports.get_mut(&k).expect("checked");
        let r = t.connect(&mut self.ctx, &self.cert, d);
        self.graph.sync_transport_connected(&mut self.ctx, k);
        r
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
        let k = match self.graph.socket_owner.get(&socket) {
            Some(&k) => k,
            None => {
                let Some(srv) = self
                    .graph
                    .server_sockets
                    .get(&socket)
                    .and_then(|sk| self.graph.servers.get(sk))
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
        let t = self.graph.transports.get_mut(&k).expect("owner");
        let o = t.input(&mut self.ctx, &self.cert, tuple, data);
        self.graph.after_input(&mut self.ctx, k, o, data);
    }

    /// A TCP connection of a transport's listening socket closed.
    pub fn handle_tcp_closed(&mut self, now: Instant, listener: u32, conn: u32) {
        self.ctx.now = now;
        if let Some(sk) = self.graph.server_sockets.remove(&conn) {
            self.graph.conn_listener.remove(&conn);
            let ks: Vec<u32> = self
                .graph
                .servers
                .get(&sk)
                .map(|s| s.transports.clone())
                .unwrap_or_default();
            for k in ks {
                if let Some(t) = self.graph.transports.get_mut(&k) {
                    let o = webrtc::socket_closed(t, &mut self.ctx, &self.cert, conn);
                    self.graph.after_input(&mut self.ctx, k, o, &[]);
                }
            }
            if let Some(srv) = self.graph.servers.get_mut(&sk) {
                srv.by_tuple.retain(|t, _| t.socket != conn);
            }
            return;
        }
        let Some(&k) = self.graph.socket_owner.get(&listener) else {
            return;
        };
        let t = self.graph.transports.get_mut(&k).expect("owner");
        let o = webrtc::socket_closed(t, &mut self.ctx, &self.cert, conn);
        self.graph.after_input(&mut self.ctx, k, o, &[]);
    }

    /// Registers a TCP connection accepted on a listening socket as belonging to its transport.
    pub fn handle_tcp_accepted(&mut self, listener: u32, conn: u32) {
        if let Some(&sk) = self.graph.server_sockets.get(&listener) {
            self.graph.server_sockets.insert(conn, sk);
            self.graph.conn_listener.insert(conn, listener);
            return;
        }
        if let Some(&k) = self.graph.socket_owner.get(&listener) {
            self.graph.socket_owner.insert(conn, k);
            if let Some(Flavor::WebRtc(w)) =
                self.graph.transports.get_mut(&k).map(|t| &mut t.flavor)
            {
                if let Some(s) = w.sockets.iter().find(|s| s.id == listener).cloned() {
                    w.sockets.push(LocalSocket { id: conn, ..s });
                }
            }
        }
    }

    // ---------------------------------------------------------------- timers

    /// The worker closes: recordings are finalised before the thread ends.
    pub fn shutdown(&mut self, now: Instant) {
        self.ctx.now = now;
        self.graph.finish_all_recorders(&mut self.ctx);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.ctx.now = now;
        if now < self.next_tick {
            return;
        }
        self.next_tick = now + TICK;
        // ICE consent and DTLS retransmissions.
        let keys: Vec<u32> = self.graph.transports.keys().copied().collect();
        for &k in &keys {
            let t = self.graph.transports.get_mut(&k).expect("listed");
            let o = t.tick(&mut self.ctx, &self.cert);
            self.graph.after_input(&mut self.ctx, k, o, &[]);
        }
        self.graph.tick_nacks(&mut self.ctx, now);
        self.graph.keyframe_upkeep(&mut self.ctx, now);
        self.graph.tick_observers(&mut self.ctx, now);
        self.graph.tick_sctp(&mut self.ctx, now);
        self.graph.tick_bwe(&mut self.ctx, now);
        self.graph.tick_recorders(&mut self.ctx, now);
        if now >= self.next_tcc {
            self.next_tcc = now + TCC_INTERVAL;
            self.graph.send_tcc_feedback(&mut self.ctx);
        }
        if now >= self.next_rtcp {
            self.next_rtcp = now + RTCP_INTERVAL;
            self.graph.send_rtcp_reports(&mut self.ctx, &keys);
        }
    }
}
