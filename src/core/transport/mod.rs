//! Transports: what carries RTP/RTCP between the SFU and one remote endpoint.
//! `WebRtc` is ICE-lite + DTLS + SRTP over UDP or ICE-TCP; `Plain` is RTP/RTCP over UDP
//! with optional comedia (remote learnt from the first packet).

use crate::core::dtls::{DtlsRole, DtlsState, DtlsTransport};
use crate::core::ice::{IceServer, IceState, Tuple};
use crate::core::rtp::TrafficCounter;
use crate::core::srtp::SrtpContext;

pub mod webrtc_server;
use rustc_hash::FxHashMap as HashMap;
use serde_json::{json, Value};
use std::net::SocketAddr;

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

pub struct WebRtc {
    pub ice: IceServer,
    pub sockets: Vec<LocalSocket>,
    pub candidates: Value,
    pub dtls: Option<DtlsTransport>,
    pub dtls_state: DtlsState,
    pub local_role: Option<DtlsRole>,
    pub remote_fingerprint: Option<(String, String)>,
    pub srtp_in: Option<SrtpContext>,
    pub srtp_out: Option<SrtpContext>,
    pub remote_cert: Option<String>,
    pub ice_consent_timeout: u64,
    /// The WebRtcServer whose sockets this transport uses, if any.
    pub server: Option<u32>,
}

impl WebRtc {
    pub fn selected(&self) -> Option<Tuple> {
        self.ice.selected
    }
    pub fn ice_state(&self) -> IceState {
        self.ice.state
    }
}

pub struct Plain {
    pub socket: LocalSocket,
    pub rtcp_socket: Option<LocalSocket>,
    pub rtcp_mux: bool,
    pub comedia: bool,
    pub tuple: Option<SocketAddr>,
    pub rtcp_tuple: Option<SocketAddr>,
    pub srtp_in: Option<SrtpContext>,
    pub srtp_out: Option<SrtpContext>,
    pub srtp_params: Option<Value>,
    /// connect() succeeded once (mediasoup allows it once).
    pub connected: bool,
    /// A PipeTransport (router-to-router): no comedia, RTCP muxed, optional RTX.
    pub pipe: bool,
    pub rtx: bool,
}

pub enum Flavor {
    WebRtc(Box<WebRtc>),
    Plain(Box<Plain>),
    /// RTP and RTCP exchanged with the JS side as buffers (mediasoup's DirectTransport).
    Direct {
        max_message_size: u64,
    },
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
    pub sctp: Option<crate::core::sctp::SctpAssociation>,
    pub data_producers: Vec<u32>,
    pub data_consumers: Vec<u32>,
    /// Incoming SCTP stream id → data producer.
    pub sctp_stream_producers: HashMap<u16, u32>,
    /// Arrival times for transport-wide congestion control feedback.
    pub tcc: crate::core::rtcp::transport_cc::TccReceiver,
    /// What `can_carry_media()` said last time the engine looked: its consumers were told.
    pub media_connected: bool,
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
