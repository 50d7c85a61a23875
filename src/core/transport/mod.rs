//! Transports: what carries RTP/RTCP (and SCTP) between the SFU and one remote endpoint.
//! One file per kind: `webrtc` (ICE-lite + DTLS + SRTP over UDP or ICE-TCP), `plain` (RTP/RTCP
//! over UDP with comedia and signalled SRTP; also the PipeTransport), `direct` (packets to and
//! from JS); `webrtc_server` is the WebRtcServer's demultiplexing tables.
//!
//! A transport owns its sockets' tuples, security contexts, SCTP association, counters and
//! RTP listener tables; it turns datagrams into `InputOutcome`s and protects what it sends.
//! It keeps the keys of its producers and consumers but never looks into them: what a packet
//! means for them is the router's business.

use crate::core::bwe::SendSideBwe;
use crate::core::context::{field, trace_types, Ctx, Res};
use crate::core::dtls::{DtlsCertificate, DtlsState};
use crate::core::ice::Tuple;
use crate::core::message::{CoreError, Output};
use crate::core::rtp::TrafficCounter;
use crate::core::sctp::SctpAssociation;
use crate::core::srtp::SrtpContext;

pub mod plain;
pub mod webrtc;
pub mod webrtc_server;

pub use plain::Plain;
use rustc_hash::FxHashMap as HashMap;
use serde_json::{json, Value};
use std::net::SocketAddr;
pub use webrtc::WebRtc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Udp,
    Tcp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
        }
    }
}

/// A socket the io driver bound for a transport.
#[derive(Debug, Clone)]
pub struct LocalSocket {
    pub id: u32,
    pub protocol: Protocol,
    pub ip: String,
    pub port: u16,
    pub announced: Option<String>,
}

impl LocalSocket {
    pub fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            id: v.get("socketId")?.as_u64()? as u32,
            protocol: if v.get("protocol")?.as_str()? == "tcp" {
                Protocol::Tcp
            } else {
                Protocol::Udp
            },
            ip: v.get("ip")?.as_str()?.to_string(),
            port: v.get("port")?.as_u64()? as u16,
            announced: v
                .get("announcedAddress")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }
    pub fn tuple_json(&self, remote: SocketAddr) -> Value {
        let local = self.announced.clone().unwrap_or_else(|| self.ip.clone());
        json!({
            "localAddress": local,
            "localIp": local,
            "localPort": self.port,
            "remoteIp": remote.ip().to_string(),
            "remotePort": remote.port(),
            "protocol": self.protocol.as_str(),
        })
    }
}

pub enum Flavor {
    WebRtc(Box<WebRtc>),
    Plain(Box<Plain>),
    /// RTP and RTCP exchanged with the JS side as buffers (mediasoup's DirectTransport):
    /// nothing to negotiate, nothing to protect, always able to carry media.
    Direct {
        max_message_size: u64,
    },
}

/// What a datagram carried, once the transport has unwrapped it (in place).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Inbound {
    /// Nothing for the router (STUN answered, DTLS progressed, or dropped and counted).
    #[default]
    Nothing,
    /// The first n bytes of the datagram are an RTP packet.
    Rtp(usize),
    /// The first n bytes are an RTCP (compound) packet.
    Rtcp(usize),
    /// The first n bytes are an SCTP packet (SCTP over UDP).
    Sctp(usize),
}

/// What the router must do after a transport handled an input.
#[derive(Debug, Default)]
pub struct InputOutcome {
    pub inbound: Inbound,
    /// SCTP packets that arrived as DTLS application data.
    pub sctp_packets: Vec<Vec<u8>>,
    /// ICE, DTLS or the remote tuple changed: whether the transport can carry media may have
    /// changed, and its consumers must be told.
    pub connectivity_changed: bool,
    /// ICE validated this tuple (a WebRtcServer routes the transport's packets by it).
    pub validated_tuple: Option<Tuple>,
}

impl InputOutcome {
    pub fn inbound(inbound: Inbound) -> Self {
        Self {
            inbound,
            ..Default::default()
        }
    }

    pub fn merge(&mut self, other: InputOutcome) {
        if other.inbound != Inbound::Nothing {
            self.inbound = other.inbound;
        }
        self.sctp_packets.extend(other.sctp_packets);
        self.connectivity_changed |= other.connectivity_changed;
        self.validated_tuple = self.validated_tuple.or(other.validated_tuple);
    }
}

pub struct Transport {
    pub id: String,
    pub router: String,
    pub flavor: Flavor,
    pub producers: Vec<u32>,
    pub consumers: Vec<u32>,
    /// RTP listener: SSRC → producer, MID → producer.
    pub ssrc_map: HashMap<u32, u32>,
    pub mid_map: HashMap<String, u32>,
    /// Consumer SSRC (media and RTX) → consumer, for incoming RTCP feedback.
    pub consumer_ssrcs: HashMap<u32, u32>,
    pub rtcp_ssrc: u32,
    pub tcc_seq: u16,
    pub recv: TrafficCounter,
    pub send: TrafficCounter,
    pub rtp_recv: TrafficCounter,
    pub rtp_send: TrafficCounter,
    pub rtx_recv: TrafficCounter,
    pub rtx_send: TrafficCounter,
    pub dropped: u64,
    pub max_incoming_bitrate: u64,
    pub max_outgoing_bitrate: u64,
    pub min_outgoing_bitrate: u64,
    pub initial_available_outgoing_bitrate: u64,
    pub trace_types: Vec<String>,
    pub closed: bool,
    /// SCTP association for data channels (enableSctp).
    pub sctp: Option<SctpAssociation>,
    pub data_producers: Vec<u32>,
    pub data_consumers: Vec<u32>,
    /// Incoming SCTP stream id → data producer.
    pub sctp_stream_producers: HashMap<u16, u32>,
    /// Arrival times for transport-wide congestion control feedback.
    pub tcc: crate::core::rtcp::transport_cc::TccReceiver,
    /// What `can_carry_media()` said last time the engine looked: its consumers were told.
    pub media_connected: bool,
    /// mediasoup 3.27's SCTP settings as the facade gave them (reported in sctpParameters).
    pub sctp_settings: Value,
    /// Send-side bandwidth estimation, from the first consumer that negotiated transport-cc.
    pub bwe: Option<Box<SendSideBwe>>,
    /// Probe padding sent (`probationBytesSent`), and its packets' sequence number.
    pub probation: TrafficCounter,
    pub probation_seq: u16,
    /// (available, desired) of the last 'bwe' trace.
    pub bwe_traced: Option<(u64, u64)>,
}

impl Transport {
    pub fn new(id: String, router: String, flavor: Flavor, rtcp_ssrc: u32) -> Self {
        Self {
            id,
            router,
            flavor,
            producers: Vec::new(),
            consumers: Vec::new(),
            ssrc_map: HashMap::default(),
            mid_map: HashMap::default(),
            consumer_ssrcs: HashMap::default(),
            rtcp_ssrc,
            tcc_seq: 0,
            recv: TrafficCounter::default(),
            send: TrafficCounter::default(),
            rtp_recv: TrafficCounter::default(),
            rtp_send: TrafficCounter::default(),
            rtx_recv: TrafficCounter::default(),
            rtx_send: TrafficCounter::default(),
            dropped: 0,
            max_incoming_bitrate: 0,
            max_outgoing_bitrate: 0,
            min_outgoing_bitrate: 0,
            initial_available_outgoing_bitrate: 600_000,
            trace_types: Vec::new(),
            closed: false,
            sctp: None,
            data_producers: Vec::new(),
            data_consumers: Vec::new(),
            sctp_stream_producers: HashMap::default(),
            tcc: Default::default(),
            media_connected: false,
            sctp_settings: Value::Null,
            bwe: None,
            probation: TrafficCounter::default(),
            probation_seq: 0,
            bwe_traced: None,
        }
    }

    /// Whether RTP sent now reaches the remote: a WebRTC transport needs SRTP keys from DTLS
    /// and a selected ICE tuple, a plain or pipe transport a known remote; a direct transport
    /// always can (mediasoup's `Transport::Connected()` moments).
    pub fn can_carry_media(&self) -> bool {
        match &self.flavor {
            Flavor::WebRtc(w) => {
                w.dtls_state == DtlsState::Connected
                    && w.srtp_out.is_some()
                    && w.ice.selected.is_some()
            }
            Flavor::Plain(p) => p.tuple.is_some(),
            Flavor::Direct { .. } => true,
        }
    }

    pub fn sockets(&self) -> Vec<u32> {
        match &self.flavor {
            Flavor::WebRtc(w) => w.sockets.iter().map(|s| s.id).collect(),
            Flavor::Plain(p) => std::iter::once(p.socket.id)
                .chain(p.rtcp_socket.as_ref().map(|s| s.id))
                .collect(),
            Flavor::Direct { .. } => Vec::new(),
        }
    }

    /// Where RTP (or RTCP) to the remote goes, if known, and the SRTP context to protect it.
    pub fn destination(
        &mut self,
        rtcp: bool,
    ) -> Option<(u32, SocketAddr, Option<&mut SrtpContext>)> {
        match &mut self.flavor {
            Flavor::WebRtc(w) => {
                let t = w.ice.selected?;
                let ctx = w.srtp_out.as_mut()?;
                Some((t.socket, t.remote, Some(ctx)))
            }
            Flavor::Plain(p) => {
                if rtcp && !p.rtcp_mux {
                    let s = p.rtcp_socket.as_ref()?.id;
                    Some((s, p.rtcp_tuple?, p.srtp_out.as_mut()))
                } else {
                    Some((p.socket.id, p.tuple?, p.srtp_out.as_mut()))
                }
            }
            Flavor::Direct { .. } => None,
        }
    }

    pub fn tuple_json(&self) -> Option<Value> {
        match &self.flavor {
            Flavor::WebRtc(w) => {
                let t = w.ice.selected?;
                let s = w.sockets.iter().find(|s| s.id == t.socket)?;
                Some(s.tuple_json(t.remote))
            }
            Flavor::Plain(p) => {
                let local = p
                    .socket
                    .announced
                    .clone()
                    .unwrap_or_else(|| p.socket.ip.clone());
                Some(match p.tuple {
                    Some(r) => p.socket.tuple_json(r),
                    None => {
                        json!({ "localAddress": local, "localIp": local, "localPort": p.socket.port, "protocol": "udp" })
                    }
                })
            }
            Flavor::Direct { .. } => None,
        }
    }

    pub fn rtcp_tuple_json(&self) -> Option<Value> {
        match &self.flavor {
            Flavor::Plain(p) if !p.rtcp_mux => {
                let s = p.rtcp_socket.as_ref()?;
                Some(match p.rtcp_tuple {
                    Some(r) => s.tuple_json(r),
                    None => {
                        let local = s.announced.clone().unwrap_or_else(|| s.ip.clone());
                        json!({ "localAddress": local, "localIp": local, "localPort": s.port, "protocol": "udp" })
                    }
                })
            }
            _ => None,
        }
    }
}

impl Transport {
    /// A datagram (or de-framed TCP message) on one of the transport's sockets.
    pub fn input(
        &mut self,
        ctx: &mut Ctx,
        cert: &DtlsCertificate,
        tuple: Tuple,
        data: &mut [u8],
    ) -> InputOutcome {
        match self.flavor {
            Flavor::WebRtc(_) => webrtc::input(self, ctx, cert, tuple, data),
            Flavor::Plain(_) => plain::input(self, ctx, tuple, data),
            Flavor::Direct { .. } => InputOutcome::default(),
        }
    }

    /// `transport.connect`.
    pub fn connect(&mut self, ctx: &mut Ctx, cert: &DtlsCertificate, d: &Value) -> Res {
        match self.flavor {
            Flavor::WebRtc(_) => webrtc::connect(self, ctx, cert, d),
            Flavor::Plain(_) => plain::connect(self, ctx, d),
            Flavor::Direct { .. } => Ok(Value::Null),
        }
    }

    /// Timers of the transport's protocols (ICE consent, DTLS retransmission).
    pub fn tick(&mut self, ctx: &mut Ctx, cert: &DtlsCertificate) -> InputOutcome {
        match self.flavor {
            Flavor::WebRtc(_) => webrtc::tick(self, ctx, cert),
            _ => InputOutcome::default(),
        }
    }

    /// Starts bandwidth estimation (a consumer negotiated transport-cc, or a REMB came).
    pub fn ensure_bwe(&mut self) -> &mut SendSideBwe {
        let (start, min, max) = (
            self.initial_available_outgoing_bitrate,
            self.min_outgoing_bitrate,
            self.max_outgoing_bitrate,
        );
        self.bwe
            .get_or_insert_with(|| Box::new(SendSideBwe::new(start, min, max)))
    }

    fn apply_bitrate_limits(&mut self) {
        let (min, max) = (self.min_outgoing_bitrate, self.max_outgoing_bitrate);
        if let Some(b) = &mut self.bwe {
            b.set_limits(min, max);
        }
    }

    /// `availableOutgoingBitrate`: the estimate, or the initial value before there is one.
    pub fn available_outgoing_bitrate(&self) -> u64 {
        self.bwe.as_ref().map_or(
            if self.max_outgoing_bitrate > 0 {
                self.initial_available_outgoing_bitrate
                    .min(self.max_outgoing_bitrate)
            } else {
                self.initial_available_outgoing_bitrate
            },
            |b| b.available(),
        )
    }

    /// Requests that only touch the transport's own settings.
    pub fn handle_request(&mut self, m: &str, d: &Value) -> Res {
        match m {
            "transport.setMaxIncomingBitrate" => {
                self.max_incoming_bitrate = field(d, "bitrate")?.as_u64().unwrap_or(0);
                Ok(Value::Null)
            }
            "transport.setMaxOutgoingBitrate" => {
                let b = field(d, "bitrate")?.as_u64().unwrap_or(0);
                if b != 0 && self.min_outgoing_bitrate != 0 && b < self.min_outgoing_bitrate {
                    return Err(CoreError::type_error(
                        "maxOutgoingBitrate must be >= minOutgoingBitrate",
                    ));
                }
                self.max_outgoing_bitrate = b;
                self.apply_bitrate_limits();
                Ok(Value::Null)
            }
            "transport.setMinOutgoingBitrate" => {
                let b = field(d, "bitrate")?.as_u64().unwrap_or(0);
                if b != 0 && self.max_outgoing_bitrate != 0 && b > self.max_outgoing_bitrate {
                    return Err(CoreError::type_error(
                        "minOutgoingBitrate must be <= maxOutgoingBitrate",
                    ));
                }
                self.min_outgoing_bitrate = b;
                self.apply_bitrate_limits();
                Ok(Value::Null)
            }
            "transport.enableTraceEvent" => {
                self.trace_types = trace_types(d, &["probation", "bwe"]);
                Ok(Value::Null)
            }
            _ => Err(CoreError::error(format!("unknown method '{m}'"))),
        }
    }

    /// Sends an RTP or RTCP packet to the remote (protecting it when SRTP is on); to JS for a
    /// DirectTransport's RTCP. Returns whether it went out.
    pub fn transmit(&mut self, ctx: &mut Ctx, mut pkt: Vec<u8>, rtcp: bool, rtx: bool) -> bool {
        let now = ctx.now;
        let len = pkt.len();
        if matches!(self.flavor, Flavor::Direct { .. }) {
            if rtcp {
                self.send.add(now, len);
                ctx.outputs.push_back(Output::Binary {
                    target: self.id.clone(),
                    event: "rtcp",
                    data: pkt,
                    ppid: 0,
                });
            }
            return rtcp;
        }
        let Some((socket, to, srtp)) = self.destination(rtcp) else {
            return false;
        };
        if let Some(srtp) = srtp {
            let r = if rtcp {
                srtp.protect_rtcp(&mut pkt)
            } else {
                srtp.protect_rtp(&mut pkt)
            };
            if r.is_err() {
                return false;
            }
        }
        self.send.add(now, pkt.len());
        if !rtcp {
            if rtx {
                self.rtx_send.add(now, len);
            } else {
                self.rtp_send.add(now, len);
            }
        }
        ctx.outputs.push_back(Output::Transmit {
            socket,
            to,
            data: pkt,
        });
        true
    }

    /// Sends the SCTP packets the association queued (inside DTLS, or as UDP datagrams).
    pub fn flush_sctp(&mut self, ctx: &mut Ctx) {
        let Some(sctp) = self.sctp.as_mut() else {
            return;
        };
        let mut packets = Vec::new();
        while let Some(ps) = sctp.poll_transmit(ctx.now) {
            packets.extend(ps);
        }
        if packets.is_empty() {
            return;
        }
        match &mut self.flavor {
            Flavor::WebRtc(w) => {
                let (Some(dtls), Some(sel)) = (w.dtls.as_mut(), w.ice.selected) else {
                    return;
                };
                for p in packets {
                    dtls.send_application_data(&p);
                }
                while let Some(d) = dtls.pop_outgoing() {
                    ctx.outputs.push_back(Output::Transmit {
                        socket: sel.socket,
                        to: sel.remote,
                        data: d,
                    });
                }
            }
            Flavor::Plain(p) => {
                let Some(to) = p.tuple else { return };
                for pk in packets {
                    ctx.outputs.push_back(Output::Transmit {
                        socket: p.socket.id,
                        to,
                        data: pk.to_vec(),
                    });
                }
            }
            Flavor::Direct { .. } => {}
        }
    }

    /// The transport's own part of `transport.dump` (the router adds its objects' ids).
    pub fn dump(&self, fingerprints: Value) -> Value {
        let mut v = json!({
            "id": self.id,
            "direct": false,
            "mapRtxSsrcConsumerId": [],
            "recvRtpHeaderExtensions": {},
            "maxMessageSize": 262144,
            "traceEventTypes": self.trace_types,
            "sctpNegotiatedCapabilities": self.sctp_negotiated_capabilities(),
        });
        let sctp_state = self
            .sctp
            .as_ref()
            .map_or(Value::Null, |s| json!(s.state.as_str()));
        match &self.flavor {
            Flavor::Direct { max_message_size } => {
                v["direct"] = json!(true);
                v["maxMessageSize"] = json!(max_message_size);
            }
            Flavor::WebRtc(w) => {
                v["iceRole"] = json!("controlled");
                v["iceParameters"] = json!({ "usernameFragment": w.ice.ufrag, "password": w.ice.pwd, "iceLite": true });
                v["iceCandidates"] = w.candidates.clone();
                v["iceState"] = json!(w.ice.state.as_str());
                v["iceSelectedTuple"] = self.tuple_json().unwrap_or(Value::Null);
                v["dtlsParameters"] = json!({ "role": "auto", "fingerprints": fingerprints });
                v["dtlsState"] = json!(w.dtls_state.as_str());
                v["iceConsentTimeout"] = json!(w.ice_consent_timeout);
                v["sctpParameters"] = self.sctp_parameters();
                v["sctpState"] = sctp_state;
            }
            Flavor::Plain(p) if p.pipe => {
                v["tuple"] = self.tuple_json().unwrap_or(Value::Null);
                v["rtx"] = json!(p.rtx);
                v["sctpParameters"] = self.sctp_parameters();
                v["sctpState"] = sctp_state;
                v["srtpParameters"] = p.srtp_params.clone().unwrap_or(Value::Null);
            }
            Flavor::Plain(p) => {
                v["rtcpMux"] = json!(p.rtcp_mux);
                v["comedia"] = json!(p.comedia);
                v["sctpParameters"] = self.sctp_parameters();
                v["sctpState"] = sctp_state;
                v["tuple"] = self.tuple_json().unwrap_or(Value::Null);
                v["rtcpTuple"] = self.rtcp_tuple_json().unwrap_or(Value::Null);
                v["srtpParameters"] = p.srtp_params.clone().unwrap_or(Value::Null);
            }
        }
        v
    }

    /// `transport.getStats`.
    pub fn stats(&mut self, ctx: &Ctx) -> Value {
        let now = ctx.now;
        let mut v = json!({
            "transportId": self.id,
            "timestamp": ctx.unix_ms(),
            "bytesReceived": self.recv.bytes,
            "recvBitrate": self.recv.rate.rate(now),
            "bytesSent": self.send.bytes,
            "sendBitrate": self.send.rate.rate(now),
            "rtpBytesReceived": self.rtp_recv.bytes,
            "rtpRecvBitrate": self.rtp_recv.rate.rate(now),
            "rtpBytesSent": self.rtp_send.bytes,
            "rtpSendBitrate": self.rtp_send.rate.rate(now),
            "rtxBytesReceived": self.rtx_recv.bytes,
            "rtxRecvBitrate": self.rtx_recv.rate.rate(now),
            "rtxBytesSent": self.rtx_send.bytes,
            "rtxSendBitrate": self.rtx_send.rate.rate(now),
            "probationBytesSent": self.probation.bytes,
            "probationSendBitrate": self.probation.rate.rate(now),
        });
        if self.max_incoming_bitrate > 0 {
            v["maxIncomingBitrate"] = json!(self.max_incoming_bitrate);
        }
        if self.bwe.is_some() {
            v["availableOutgoingBitrate"] = json!(self.available_outgoing_bitrate());
        }
        let tuple = self.tuple_json();
        match &self.flavor {
            Flavor::Direct { .. } => v["type"] = json!("direct-transport"),
            Flavor::WebRtc(w) => {
                v["type"] = json!("webrtc-transport");
                if let Some(s) = &self.sctp {
                    v["sctpState"] = json!(s.state.as_str());
                }
                v["availableOutgoingBitrate"] = json!(self.available_outgoing_bitrate());
                v["iceRole"] = json!("controlled");
                v["iceState"] = json!(w.ice.state.as_str());
                v["dtlsState"] = json!(w.dtls_state.as_str());
                if let Some(tu) = tuple {
                    v["iceSelectedTuple"] = tu;
                }
            }
            Flavor::Plain(p) if p.pipe => {
                v["type"] = json!("pipe-transport");
                if let Some(tu) = tuple {
                    v["tuple"] = tu;
                }
            }
            Flavor::Plain(p) => {
                v["type"] = json!("plain-rtp-transport");
                v["rtcpMux"] = json!(p.rtcp_mux);
                v["comedia"] = json!(p.comedia);
                if let Some(tu) = tuple {
                    v["tuple"] = tu;
                }
                if let Some(tu) = self.rtcp_tuple_json() {
                    v["rtcpTuple"] = tu;
                }
            }
        }
        Value::Array(vec![v])
    }

    /// The SCTP association asked for with `enableSctp` (streams and message size as given).
    pub fn sctp_from_request(d: &Value) -> Option<SctpAssociation> {
        if !d
            .get("enableSctp")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            return None;
        }
        let streams = &d["numSctpStreams"];
        let os = streams["OS"].as_u64().unwrap_or(1024).clamp(1, 65535) as u16;
        let mis = streams["MIS"].as_u64().unwrap_or(1024).clamp(1, 65535) as u16;
        let max = d
            .get("maxSctpMessageSize")
            .or_else(|| d.get("maxReceiveMessageSize"))
            .and_then(Value::as_u64)
            .unwrap_or(262_144);
        Some(SctpAssociation::new(os, mis, max))
    }

    pub fn sctp_parameters(&self) -> Value {
        let Some(s) = &self.sctp else {
            return Value::Null;
        };
        let mut v =
            json!({ "port": 5000, "OS": s.os, "MIS": s.mis, "maxMessageSize": s.max_message_size });
        if let (Some(o), Some(settings)) = (v.as_object_mut(), self.sctp_settings.as_object()) {
            o.extend(settings.iter().map(|(k, x)| (k.clone(), x.clone())));
        }
        v
    }

    /// `{ negotiatedMaxOutboundStreams, negotiatedMaxInboundStreams }` once SCTP is connected.
    pub fn sctp_negotiated_capabilities(&self) -> Value {
        match self.sctp.as_ref().and_then(|s| s.negotiated_streams()) {
            Some((out, inb)) => {
                json!({ "negotiatedMaxOutboundStreams": out, "negotiatedMaxInboundStreams": inb })
            }
            None => Value::Null,
        }
    }

    /// The transport closes: DTLS says goodbye to the remote.
    pub fn close(&mut self, ctx: &mut Ctx) {
        if let Flavor::WebRtc(w) = &mut self.flavor {
            webrtc::close(w, ctx);
        }
    }
}
