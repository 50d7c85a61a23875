//! WebRtcTransport: ICE-lite (STUN, consent freshness, nomination), DTLS 1.2 in either role,
//! SRTP keyed from DTLS-SRTP, over UDP or ICE-TCP sockets of its own or of a WebRtcServer.
//!
//! Owns its ICE server, DTLS endpoint and SRTP contexts. It turns a datagram into STUN answers,
//! DTLS progress (with state notifications) or unprotected RTP/RTCP and SCTP packets, returned
//! to the router as an `InputOutcome`; it never looks at producers, consumers or data objects,
//! and a WebRtcServer's routing tables are the engine's to update from what it returns.

use super::{Flavor, Inbound, InputOutcome, LocalSocket, Protocol, Transport};
use crate::core::context::{field, Ctx, Res};
use crate::core::dtls::{DtlsCertificate, DtlsEvent, DtlsRole, DtlsState, DtlsTransport};
use crate::core::ice::stun::{self, StunMessage};
use crate::core::ice::{IceOutcome, IceServer, IceState, Tuple};
use crate::core::message::{CoreError, Output};
use crate::core::rtp::packet::is_rtcp;
use crate::core::srtp::SrtpContext;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

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
    /// Set while the OpenSSL connection may still be released (DTLS connected, no data
    /// channels, not released yet): when it is released at the latest.
    pub dtls_release_at: Option<Instant>,
    pub ice_consent_timeout: u64,
    /// The WebRtcServer whose sockets this transport uses, if any.
    pub server: Option<u32>,
}

impl WebRtc {
    /// A transport listening on `sockets` (in listenInfos order, or the server's), with fresh
    /// ICE credentials and one host candidate per socket.
    pub fn new(
        d: &Value,
        sockets: Vec<LocalSocket>,
        server: Option<u32>,
    ) -> Result<Self, CoreError> {
        if sockets.is_empty() {
            return Err(CoreError::type_error(
                "no listen sockets (check enableUdp / enableTcp)",
            ));
        }
        let consent = d
            .get("iceConsentTimeout")
            .and_then(Value::as_u64)
            .unwrap_or(30);
        // Candidates in listen order; priorities strictly decreasing in that order (the facade
        // orders listenIps by preferUdp / preferTcp; a WebRtcServer's sockets come sorted), as
        // mediasoup's IceCandidate computes them.
        let n = sockets.len() as u32;
        let candidates: Vec<Value> = sockets
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let local_pref = (n - i as u32) * 10;
                let priority = (1u32 << 24) * 64 + (1 << 8) * local_pref + 255;
                let addr = s.announced.clone().unwrap_or_else(|| s.ip.clone());
                let mut c = json!({
                    "foundation": if s.protocol == Protocol::Udp { "udpcandidate" } else { "tcpcandidate" },
                    "priority": priority,
                    "ip": addr,
                    "address": addr,
                    "protocol": s.protocol.as_str(),
                    "port": s.port,
                    "type": "host",
                });
                if s.protocol == Protocol::Tcp {
                    c["tcpType"] = json!("passive");
                }
                c
            })
            .collect();
        Ok(Self {
            ice: IceServer::new(
                random_token(16),
                random_token(32),
                Duration::from_secs(consent),
            ),
            sockets,
            candidates: Value::Array(candidates),
            dtls: None,
            dtls_state: DtlsState::New,
            local_role: None,
            remote_fingerprint: None,
            srtp_in: None,
            srtp_out: None,
            remote_cert: None,
            dtls_release_at: None,
            ice_consent_timeout: consent,
            server,
        })
    }

    pub fn selected(&self) -> Option<Tuple> {
        self.ice.selected
    }

    pub fn ice_state(&self) -> IceState {
        self.ice.state
    }

    /// New ICE credentials (`restartIce()`); the response body mediasoup returns.
    pub fn restart_ice(&mut self) -> Value {
        self.ice.restart(random_token(16), random_token(32));
        json!({ "iceParameters": { "usernameFragment": self.ice.ufrag, "password": self.ice.pwd, "iceLite": true } })
    }

    /// Sends the DTLS records the endpoint queued to the selected tuple.
    fn flush_dtls(&mut self, ctx: &mut Ctx) {
        if let (Some(dtls), Some(sel)) = (self.dtls.as_mut(), self.ice.selected) {
            while let Some(d) = dtls.pop_outgoing() {
                ctx.outputs.push_back(Output::Transmit {
                    socket: sel.socket,
                    to: sel.remote,
                    data: d,
                });
            }
        }
    }
}

/// `connect({ dtlsParameters })`: the remote's fingerprint (the strongest it gave) and role.
pub fn connect(t: &mut Transport, ctx: &mut Ctx, cert: &DtlsCertificate, d: &Value) -> Res {
    let Flavor::WebRtc(w) = &mut t.flavor else {
        return Err(CoreError::error("not a WebRtcTransport"));
    };
    if w.remote_fingerprint.is_some() {
        return Err(CoreError::error(
            "connect() already called [method:transport.connect]",
        ));
    }
    let dp = field(d, "dtlsParameters")?;
    let fps = field(dp, "fingerprints")?
        .as_array()
        .ok_or_else(|| CoreError::type_error("wrong fingerprints"))?;
    let chosen = ["sha-512", "sha-384", "sha-256", "sha-224", "sha-1"]
        .iter()
        .find_map(|alg| {
            let f = fps
                .iter()
                .find(|f| f.get("algorithm").and_then(Value::as_str) == Some(alg))?;
            Some((
                alg.to_string(),
                f.get("value")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ))
        })
        .ok_or_else(|| CoreError::type_error("no valid fingerprint in dtlsParameters"))?;
    let local = match dp.get("role").and_then(Value::as_str).unwrap_or("auto") {
        "client" => DtlsRole::Server,
        "server" | "auto" => DtlsRole::Client,
        r => {
            return Err(CoreError::type_error(format!(
                "invalid dtlsParameters.role '{r}'"
            )))
        }
    };
    w.remote_fingerprint = Some(chosen);
    w.local_role = Some(local);
    let role = if local == DtlsRole::Client {
        "client"
    } else {
        "server"
    };
    // Nothing can come of the DTLS start but state notifications and records to send.
    let _ = start_dtls_if_ready(t, ctx, cert);
    Ok(json!({ "dtlsLocalRole": role }))
}

/// A datagram on one of the transport's tuples: STUN, DTLS, or SRTP/SRTCP (RFC 7983 demux).
pub fn input(
    t: &mut Transport,
    ctx: &mut Ctx,
    cert: &DtlsCertificate,
    tuple: Tuple,
    data: &mut [u8],
) -> InputOutcome {
    let Flavor::WebRtc(w) = &mut t.flavor else {
        return InputOutcome::default();
    };
    let first = data.first().copied().unwrap_or(0);
    if stun::is_stun(data) {
        let Ok(msg) = StunMessage::parse(data) else {
            ctx.drops.malformed += 1;
            return InputOutcome::default();
        };
        let mut o = w.ice.handle_stun(ctx.now, tuple, &msg);
        let validated = w.ice.is_valid_tuple(&tuple).then_some(tuple);
        if let Some(r) = o.response.take() {
            ctx.outputs.push_back(Output::Transmit {
                socket: tuple.socket,
                to: tuple.remote,
                data: r,
            });
        }
        let mut out = ice_outcome(t, ctx, cert, o);
        out.validated_tuple = validated;
        return out;
    }
    if !w.ice.is_valid_tuple(&tuple) {
        ctx.drops.unknown_socket += 1;
        return InputOutcome::default();
    }
    t.recv.add(ctx.now, data.len());
    if (20..=63).contains(&first) {
        let Some(dtls) = w.dtls.as_mut() else {
            return InputOutcome::default();
        };
        let mut events = Vec::new();
        dtls.handle_datagram(data, &mut events);
        return dtls_events(t, ctx, events);
    }
    if (128..=191).contains(&first) {
        let Some(srtp) = w.srtp_in.as_mut() else {
            ctx.drops.srtp += 1;
            return InputOutcome::default();
        };
        let rtcp = is_rtcp(data);
        let r = if rtcp {
            srtp.unprotect_rtcp(data)
        } else {
            srtp.unprotect_rtp(data)
        };
        return match r {
            Ok(n) => {
                // The peer protects with the exported keys: its handshake is done.
                if w.dtls_release_at.is_some() {
                    release_dtls(w, ctx, &t.id);
                }
                InputOutcome::inbound(if rtcp {
                    Inbound::Rtcp(n)
                } else {
                    Inbound::Rtp(n)
                })
            }
            Err(e) => {
                ctx.drops.srtp += 1;
                let tid = &t.id;
                ctx.debug("srtp", || {
                    format!(
                        "{} unprotect failed ({e:?}), packet dropped [transportId:{tid}]",
                        if rtcp { "SRTCP" } else { "SRTP" }
                    )
                });
                InputOutcome::default()
            }
        };
    }
    ctx.drops.malformed += 1;
    InputOutcome::default()
}

/// How long a connected transport without data channels keeps its OpenSSL connection when the
/// peer sends no SRTP/SRTCP (a receive-only endpoint with nothing to receive yet): a peer whose
/// last flight is still being lost would retransmit its flight at 1, 3, 7 and 15 s.
const DTLS_KEEP: Duration = Duration::from_secs(30);

/// Frees the OpenSSL connection once DTLS has nothing left to do but close (`DtlsTransport::release`).
fn release_dtls(w: &mut WebRtc, ctx: &mut Ctx, id: &str) {
    w.dtls_release_at = None;
    let Some(d) = w.dtls.as_mut().filter(|d| d.state == DtlsState::Connected) else {
        return;
    };
    d.release();
    ctx.freed_bytes += RELEASED_DTLS_BYTES;
    ctx.debug("dtls", || {
        format!("DTLS connection released, close_notify kept [transportId:{id}]")
    });
}

/// What releasing one connection frees (measured with heaptrack: ~72 KiB of malloc).
const RELEASED_DTLS_BYTES: usize = 64 << 10;

/// Timers: ICE consent freshness, DTLS retransmissions.
pub fn tick(t: &mut Transport, ctx: &mut Ctx, cert: &DtlsCertificate) -> InputOutcome {
    let Flavor::WebRtc(w) = &mut t.flavor else {
        return InputOutcome::default();
    };
    let o = w.ice.handle_timeout(ctx.now);
    let mut events = Vec::new();
    if w.dtls_release_at.is_some_and(|at| ctx.now >= at) {
        release_dtls(w, ctx, &t.id);
    }
    if let Some(d) = w.dtls.as_mut() {
        d.handle_timeout(&mut events);
    }
    let mut out = ice_outcome(t, ctx, cert, o);
    out.merge(dtls_events(t, ctx, events));
    out
}

/// A TCP connection of the transport closed: ICE forgets its tuple.
pub fn socket_closed(
    t: &mut Transport,
    ctx: &mut Ctx,
    cert: &DtlsCertificate,
    socket: u32,
) -> InputOutcome {
    let Flavor::WebRtc(w) = &mut t.flavor else {
        return InputOutcome::default();
    };
    let o = w.ice.remove_socket(socket);
    ice_outcome(t, ctx, cert, o)
}

/// Reports ICE state and selected-tuple changes; a selected tuple may let DTLS start.
fn ice_outcome(
    t: &mut Transport,
    ctx: &mut Ctx,
    cert: &DtlsCertificate,
    o: IceOutcome,
) -> InputOutcome {
    let tuple = t.tuple_json();
    let Flavor::WebRtc(w) = &mut t.flavor else {
        return InputOutcome::default();
    };
    let id = &t.id;
    let state = w.ice.state;
    if o.state_changed {
        ctx.notify(id, "icestatechange", json!({ "iceState": state.as_str() }));
        ctx.debug("ice", || {
            format!("ICE state changed to {} [transportId:{id}]", state.as_str())
        });
    }
    if o.selected_changed {
        if let Some(tu) = tuple {
            ctx.notify(
                id,
                "iceselectedtuplechange",
                json!({ "iceSelectedTuple": tu }),
            );
        }
    }
    let mut out = InputOutcome::default();
    if o.state_changed || o.selected_changed {
        out.connectivity_changed = true;
        out.merge(start_dtls_if_ready(t, ctx, cert));
    }
    out
}

/// Starts DTLS once ICE has a tuple and connect() gave the remote's role and fingerprint.
fn start_dtls_if_ready(t: &mut Transport, ctx: &mut Ctx, cert: &DtlsCertificate) -> InputOutcome {
    let Flavor::WebRtc(w) = &mut t.flavor else {
        return InputOutcome::default();
    };
    if w.dtls.is_some() || w.ice.selected.is_none() {
        return InputOutcome::default();
    }
    let (Some(role), Some(fp)) = (w.local_role, w.remote_fingerprint.clone()) else {
        return InputOutcome::default();
    };
    match DtlsTransport::new(cert, role, fp) {
        Ok(mut dtls) => {
            let mut events = Vec::new();
            if role == DtlsRole::Client {
                dtls.start(&mut events);
            } else {
                // A server waits for the ClientHello but is already 'connecting'.
                w.dtls_state = DtlsState::Connecting;
                events.push(DtlsEvent::StateChanged);
            }
            w.dtls = Some(dtls);
            dtls_events(t, ctx, events)
        }
        Err(e) => {
            w.dtls_state = DtlsState::Failed;
            ctx.notify(
                &t.id,
                "dtlsstatechange",
                json!({ "dtlsState": "failed", "reason": e }),
            );
            InputOutcome::default()
        }
    }
}

/// DTLS progress: state notifications, SRTP keys on connection, application data (SCTP).
fn dtls_events(t: &mut Transport, ctx: &mut Ctx, events: Vec<DtlsEvent>) -> InputOutcome {
    let Flavor::WebRtc(w) = &mut t.flavor else {
        return InputOutcome::default();
    };
    let id = &t.id;
    let mut out = InputOutcome::default();
    let mut notes = Vec::new();
    for e in events {
        match e {
            DtlsEvent::StateChanged => {
                let s = w.dtls.as_ref().map_or(w.dtls_state, |d| d.state);
                let s = if s == DtlsState::New {
                    DtlsState::Connecting
                } else {
                    s
                };
                if s != w.dtls_state && s != DtlsState::Connected {
                    w.dtls_state = s;
                    notes.push(json!({ "dtlsState": s.as_str() }));
                }
            }
            DtlsEvent::Connected(keys) => {
                let srtp_out = SrtpContext::new(keys.profile, &keys.local_key, true);
                let srtp_in = SrtpContext::new(keys.profile, &keys.remote_key, false);
                match (srtp_out, srtp_in) {
                    (Ok(o), Ok(i)) => {
                        w.srtp_out = Some(o);
                        w.srtp_in = Some(i);
                        w.remote_cert = w.dtls.as_mut().and_then(|d| d.remote_cert_pem.take());
                        // Data channels keep the connection: SCTP travels in it.
                        if t.sctp.is_none() {
                            w.dtls_release_at = Some(ctx.now + DTLS_KEEP);
                        }
                        w.dtls_state = DtlsState::Connected;
                        notes.push(
                            json!({ "dtlsState": "connected", "dtlsRemoteCert": w.remote_cert }),
                        );
                    }
                    _ => {
                        w.dtls_state = DtlsState::Failed;
                        notes.push(json!({ "dtlsState": "failed" }));
                    }
                }
            }
            DtlsEvent::Data(d) => out.sctp_packets.push(d),
        }
    }
    w.flush_dtls(ctx);
    for n in notes {
        let state = n["dtlsState"].as_str().unwrap_or("");
        if state == "failed" {
            let why = w.dtls.as_ref().and_then(|d| d.failure.clone());
            ctx.log(crate::core::log::LogLevel::Warn, "dtls", || {
                format!(
                    "DTLS failed [transportId:{id}]: {}",
                    why.unwrap_or_default()
                )
            });
        } else {
            ctx.debug("dtls", || {
                format!("DTLS state changed to {state} [transportId:{id}]")
            });
        }
        ctx.notify(id, "dtlsstatechange", n);
        out.connectivity_changed = true;
    }
    out
}

/// Closes DTLS (close_notify to the remote) when the transport closes.
pub fn close(w: &mut WebRtc, ctx: &mut Ctx) {
    if let Some(dtls) = w.dtls.as_mut() {
        dtls.close();
    }
    w.flush_dtls(ctx);
}

/// ICE credentials: letters and digits from OpenSSL's RNG.
fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut raw = vec![0u8; len];
    openssl::rand::rand_bytes(&mut raw).expect("OpenSSL RNG");
    raw.iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}
