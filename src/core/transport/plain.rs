//! PlainTransport and PipeTransport: RTP/RTCP over UDP to one remote, learnt from connect() or
//! from the first datagram (comedia), with RTCP muxed or on a second socket, optional SRTP
//! with keys signalled in `srtpParameters`, and SCTP over UDP for data. A PipeTransport is the
//! same with RTCP muxed, no comedia, AEAD_AES_256_GCM when SRTP is on, and optional RTX.
//!
//! Owns its sockets' remote tuples and SRTP contexts; returns unprotected RTP/RTCP or SCTP
//! packets to the router as an `InputOutcome` and never touches producers or consumers.

use super::{Flavor, Inbound, InputOutcome, LocalSocket, Transport};
use crate::core::context::{field, str_field, Ctx, Res};
use crate::core::ice::Tuple;
use crate::core::message::{CoreError, Output};
use crate::core::rtp::packet::is_rtcp;
use crate::core::srtp::{SrtpContext, SrtpProfile};
use serde_json::{json, Value};
use std::net::SocketAddr;

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

impl Plain {
    /// A plain (or pipe) transport on the sockets the driver bound for it.
    pub fn new(d: &Value, sockets: Vec<LocalSocket>, pipe: bool) -> Result<Self, CoreError> {
        let mut it = sockets.into_iter();
        let socket = it
            .next()
            .ok_or_else(|| CoreError::type_error("no listen socket"))?;
        let rtcp_mux = pipe || d.get("rtcpMux").and_then(Value::as_bool).unwrap_or(true);
        let mut p = Plain {
            socket,
            rtcp_socket: if rtcp_mux { None } else { it.next() },
            rtcp_mux,
            comedia: !pipe && d.get("comedia").and_then(Value::as_bool).unwrap_or(false),
            tuple: None,
            rtcp_tuple: None,
            srtp_in: None,
            srtp_out: None,
            srtp_params: None,
            connected: false,
            pipe,
            rtx: pipe && d.get("enableRtx").and_then(Value::as_bool).unwrap_or(false),
        };
        if d.get("enableSrtp")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            let suite = d
                .get("srtpCryptoSuite")
                .and_then(Value::as_str)
                .unwrap_or("AES_CM_128_HMAC_SHA1_80");
            let profile = SrtpProfile::from_name(suite).ok_or_else(|| {
                CoreError::type_error(format!("invalid srtpCryptoSuite '{suite}'"))
            })?;
            let (ctx, params) = local_srtp(profile)?;
            p.srtp_out = Some(ctx);
            p.srtp_params = Some(params);
        }
        Ok(p)
    }
}

/// `connect({ ip, port, rtcpPort, srtpParameters })`. Everything is validated first: a
/// rejected connect() changes nothing.
pub fn connect(t: &mut Transport, ctx: &mut Ctx, d: &Value) -> Res {
    let Flavor::Plain(p) = &mut t.flavor else {
        return Err(CoreError::error("not a plain transport"));
    };
    if p.connected {
        return Err(CoreError::error(
            "connect() already called [method:transport.connect]",
        ));
    }
    let mut srtp_in = None;
    let mut new_local = None;
    if let Some(sp) = d.get("srtpParameters").filter(|v| !v.is_null()) {
        let Some(out) = p.srtp_out.as_ref() else {
            return Err(CoreError::type_error(
                "srtpParameters given but SRTP is not enabled",
            ));
        };
        let suite = str_field(sp, "cryptoSuite")?;
        let profile = SrtpProfile::from_name(suite).ok_or_else(|| {
            CoreError::type_error(format!("invalid srtpParameters.cryptoSuite '{suite}'"))
        })?;
        let key = base64_decode(str_field(sp, "keyBase64")?)
            .ok_or_else(|| CoreError::type_error("invalid srtpParameters.keyBase64"))?;
        srtp_in = Some(
            SrtpContext::new(profile, &key, false)
                .map_err(|_| CoreError::type_error("invalid srtpParameters.keyBase64 length"))?,
        );
        // The remote chose another suite: ours follows, with a fresh key.
        if out.profile() != profile {
            new_local = Some(local_srtp(profile)?);
        }
    } else if p.srtp_out.is_some() {
        return Err(CoreError::type_error(
            "missing srtpParameters (SRTP enabled)",
        ));
    }
    let mut tuples = None;
    if !p.comedia {
        let ip = str_field(d, "ip")?;
        let ipaddr: std::net::IpAddr = ip
            .parse()
            .map_err(|_| CoreError::type_error(format!("invalid IP '{ip}'")))?;
        let port = field(d, "port")?
            .as_u64()
            .filter(|p| *p > 0 && *p < 65536)
            .ok_or_else(|| CoreError::type_error("wrong port"))? as u16;
        let rtcp = if p.rtcp_mux {
            None
        } else {
            let rp = d
                .get("rtcpPort")
                .and_then(Value::as_u64)
                .filter(|p| *p > 0 && *p < 65536)
                .ok_or_else(|| {
                    CoreError::type_error("missing rtcpPort (required with rtcpMux: false)")
                })?;
            Some(SocketAddr::new(ipaddr, rp as u16))
        };
        tuples = Some((SocketAddr::new(ipaddr, port), rtcp));
    }
    if let Some((srtp, params)) = new_local {
        p.srtp_out = Some(srtp);
        p.srtp_params = Some(params);
    }
    if srtp_in.is_some() {
        p.srtp_in = srtp_in;
    }
    if let Some((rtp, rtcp)) = tuples {
        p.tuple = Some(rtp);
        p.rtcp_tuple = rtcp.or(p.rtcp_mux.then_some(rtp));
        ctx.outputs.push_back(Output::ConnectSocket {
            socket: p.socket.id,
            to: rtp,
        });
        if let (Some(r), Some(rs)) = (rtcp, p.rtcp_socket.as_ref()) {
            ctx.outputs.push_back(Output::ConnectSocket {
                socket: rs.id,
                to: r,
            });
        }
    }
    p.connected = true;
    // Two pipe transports connect to each other: the one with the lower address initiates
    // SCTP, the other answers (no INIT collision). A PlainTransport answers the remote's INIT.
    let initiate = p.pipe
        && p.tuple.is_some_and(|r| {
            (p.socket.ip.as_str(), p.socket.port) < (r.ip().to_string().as_str(), r.port())
        });
    let srtp_params = p.srtp_params.clone();
    if initiate {
        if let Some(s) = t.sctp.as_mut() {
            s.connect();
        }
        t.flush_sctp(ctx);
    }
    Ok(
        json!({ "tuple": t.tuple_json(), "rtcpTuple": t.rtcp_tuple_json(), "srtpParameters": srtp_params }),
    )
}

/// A datagram from the remote: the tuple is learnt first (comedia), then SCTP is told apart
/// from RTP by its first byte, then SRTP is removed.
pub fn input(t: &mut Transport, ctx: &mut Ctx, tuple: Tuple, data: &mut [u8]) -> InputOutcome {
    let Flavor::Plain(p) = &mut t.flavor else {
        return InputOutcome::default();
    };
    let rtcp_socket = p.rtcp_socket.as_ref().map(|s| s.id) == Some(tuple.socket);
    let rtcp = rtcp_socket || is_rtcp(data);
    let mut learnt = None;
    if rtcp_socket {
        if p.rtcp_tuple.is_none() && p.comedia {
            p.rtcp_tuple = Some(tuple.remote);
            learnt = Some(false);
            ctx.outputs.push_back(Output::ConnectSocket {
                socket: tuple.socket,
                to: tuple.remote,
            });
        } else if p.rtcp_tuple != Some(tuple.remote) {
            t.dropped += 1;
            return InputOutcome::default();
        }
    } else if p.tuple.is_none() && p.comedia {
        p.tuple = Some(tuple.remote);
        if p.rtcp_mux {
            p.rtcp_tuple = Some(tuple.remote);
        }
        learnt = Some(true);
        ctx.outputs.push_back(Output::ConnectSocket {
            socket: tuple.socket,
            to: tuple.remote,
        });
    } else if p.tuple != Some(tuple.remote) {
        t.dropped += 1;
        return InputOutcome::default();
    }
    let mut out = InputOutcome {
        connectivity_changed: learnt.is_some(),
        ..Default::default()
    };
    // SCTP over UDP (not RTP: the version bits are not 2), for data channels.
    if t.sctp.is_some() && !rtcp_socket && data.first().is_some_and(|b| b >> 6 != 2) {
        t.recv.add(ctx.now, data.len());
        if learnt == Some(true) {
            ctx.notify(&t.id, "tuple", json!({ "tuple": t.tuple_json() }));
        }
        out.inbound = Inbound::Sctp(data.len());
        return out;
    }
    let n = match p.srtp_in.as_mut() {
        Some(srtp) => {
            let r = if rtcp {
                srtp.unprotect_rtcp(data)
            } else {
                srtp.unprotect_rtp(data)
            };
            match r {
                Ok(n) => n,
                Err(_) => {
                    ctx.drops.srtp += 1;
                    return out;
                }
            }
        }
        None if p.srtp_out.is_some() => {
            // SRTP enabled but the remote's key is not known yet.
            ctx.drops.srtp += 1;
            return out;
        }
        None => data.len(),
    };
    t.recv.add(ctx.now, data.len());
    match learnt {
        Some(true) => ctx.notify(&t.id, "tuple", json!({ "tuple": t.tuple_json() })),
        Some(false) => ctx.notify(
            &t.id,
            "rtcptuple",
            json!({ "rtcpTuple": t.rtcp_tuple_json() }),
        ),
        None => {}
    }
    out.inbound = if rtcp {
        Inbound::Rtcp(n)
    } else {
        Inbound::Rtp(n)
    };
    out
}

/// A fresh local SRTP context and the `srtpParameters` that announce its key.
fn local_srtp(profile: SrtpProfile) -> Result<(SrtpContext, Value), CoreError> {
    let mut key = vec![0u8; profile.key_len() + profile.salt_len()];
    openssl::rand::rand_bytes(&mut key).map_err(|e| CoreError::error(e.to_string()))?;
    let ctx =
        SrtpContext::new(profile, &key, true).map_err(|_| CoreError::error("SRTP init failed"))?;
    Ok((
        ctx,
        json!({ "cryptoSuite": profile.name(), "keyBase64": base64_encode(&key) }),
    ))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (`srtpParameters.keyBase64`).
pub fn base64_encode(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for ch in data.chunks(3) {
        let b = [ch[0], *ch.get(1).unwrap_or(&0), *ch.get(2).unwrap_or(&0)];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        for i in 0..4 {
            if i <= ch.len() {
                s.push(B64[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        if c == b'=' {
            break;
        }
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrip() {
        for n in 0..40u8 {
            let d: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base64_decode(&base64_encode(&d)).unwrap(), d);
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
    }
}
