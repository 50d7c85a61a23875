//! Helpers shared by the simulated-time scenarios: a seeded RNG for loss, RTP packet
//! building, requests answered synchronously by the engine, and the plain-transport set-up
//! that every scenario starts from.
#![allow(dead_code)]

use peerwave_sfu::core::dtls::DtlsCertificate;
use peerwave_sfu::core::message::{Output, Request};
use peerwave_sfu::core::worker::Engine;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::time::{Instant, SystemTime};

/// xorshift64: deterministic loss decisions.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn lose(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

pub fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

pub fn engine(now: Instant) -> Engine {
    Engine::new(
        now,
        SystemTime::now(),
        DtlsCertificate::generate().unwrap(),
        42,
    )
}

/// Sends one request and returns its result; other outputs of the moment are dropped (the
/// scenarios start before any media flows).
pub fn request(
    engine: &mut Engine,
    now: Instant,
    id: u32,
    method: &str,
    handler: &str,
    data: Value,
) -> Value {
    engine.handle_request(
        now,
        Request {
            id,
            method: method.into(),
            handler_id: handler.into(),
            data,
            payload: None,
        },
    );
    let mut result = None;
    let mut rest = VecDeque::new();
    while let Some(o) = engine.poll_output() {
        match o {
            Output::Response { id: rid, result: r } if rid == id => {
                result = Some(r.expect("request succeeds"))
            }
            other => rest.push_back(other),
        }
    }
    assert!(rest.iter().all(|o| !matches!(o, Output::Response { .. })));
    result.expect("a response")
}

/// Creates a plain transport with RTCP muxed on one socket the scenario names.
pub fn plain_transport(
    engine: &mut Engine,
    now: Instant,
    req_id: u32,
    id: &str,
    socket: u32,
    port: u16,
    comedia: bool,
) {
    request(
        engine,
        now,
        req_id,
        "router.createPlainTransport",
        "r",
        json!({
            "transportId": id, "comedia": comedia, "rtcpMux": true,
            "_sockets": [{ "socketId": socket, "protocol": "udp", "ip": "127.0.0.1", "port": port }]
        }),
    );
}

/// Nack + PLI feedback, as a browser offers it.
pub fn video_feedback() -> Value {
    json!([{ "type": "nack" }, { "type": "nack", "parameter": "pli" }])
}

/// A VP8 (+RTX) producer on `transport` with one encoding.
#[allow(clippy::too_many_arguments)]
pub fn vp8_producer(
    engine: &mut Engine,
    now: Instant,
    req_id: u32,
    transport: &str,
    id: &str,
    ssrc: u32,
    rtx_ssrc: u32,
    key_frame_request_delay: u64,
) {
    request(
        engine,
        now,
        req_id,
        "transport.produce",
        transport,
        json!({
            "producerId": id, "kind": "video", "keyFrameRequestDelay": key_frame_request_delay,
            "rtpParameters": {
                "codecs": [
                    { "mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000, "rtcpFeedback": video_feedback() },
                    { "mimeType": "video/rtx", "payloadType": 97, "clockRate": 90000, "parameters": { "apt": 96 } }
                ],
                "encodings": [{ "ssrc": ssrc, "rtx": { "ssrc": rtx_ssrc } }],
                "headerExtensions": []
            },
            "rtpMapping": {
                "codecs": [{ "payloadType": 96, "mappedPayloadType": 101 }, { "payloadType": 97, "mappedPayloadType": 102 }],
                "encodings": [{ "ssrc": ssrc, "mappedSsrc": 5555 }]
            }
        }),
    );
}

/// A simple consumer of `producer` on `transport`, sending VP8 as PT 101 (RTX 102).
#[allow(clippy::too_many_arguments)]
pub fn vp8_consumer(
    engine: &mut Engine,
    now: Instant,
    req_id: u32,
    transport: &str,
    id: &str,
    producer: &str,
    ssrc: u32,
    rtx_ssrc: u32,
) {
    request(
        engine,
        now,
        req_id,
        "transport.consume",
        transport,
        json!({
            "consumerId": id, "producerId": producer, "kind": "video", "type": "simple",
            "rtpParameters": {
                "codecs": [
                    { "mimeType": "video/VP8", "payloadType": 101, "clockRate": 90000, "rtcpFeedback": video_feedback() },
                    { "mimeType": "video/rtx", "payloadType": 102, "clockRate": 90000, "parameters": { "apt": 101 } }
                ],
                "encodings": [{ "ssrc": ssrc, "rtx": { "ssrc": rtx_ssrc } }],
                "headerExtensions": [],
                "rtcp": { "cname": "x" }
            }
        }),
    );
}

/// Whether an RTCP compound holds a PLI (PSFB, FMT 1).
pub fn has_pli(data: &[u8]) -> bool {
    let mut i = 0;
    while i + 4 <= data.len() {
        let words = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
        if data[i + 1] == 206 && data[i] & 0x1f == 1 {
            return true;
        }
        i += (words + 1) * 4;
    }
    false
}

/// The media SSRCs of the PLIs (RTCP PSFB, FMT 1) in an RTCP compound packet.
pub fn plis(data: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 12 <= data.len() {
        let words = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
        if data[i + 1] == 206 && data[i] & 0x1f == 1 {
            out.push(u32::from_be_bytes(data[i + 8..i + 12].try_into().unwrap()));
        }
        i += (words + 1) * 4;
    }
    out
}

/// A sender's answer to the NACKs in an RTCP compound: each packet asked for (and still in
/// `history`, by sequence number) again as RTX on `rtx_ssrc` (payload type 97, the original
/// sequence number first), with the original's timestamp and marker bit.
pub fn rtx_answers(
    data: &[u8],
    history: &std::collections::HashMap<u16, Vec<u8>>,
    rtx_seq: &mut u16,
    rtx_ssrc: u32,
) -> Vec<Vec<u8>> {
    let mut items = Vec::new();
    assert!(peerwave_sfu::core::rtcp::split_compound(data, &mut items));
    let mut out = Vec::new();
    for it in items.iter().filter(|i| i.pt == 205 && i.count == 1) {
        peerwave_sfu::core::rtcp::for_each_nack(it, |s| {
            if let Some(orig) = history.get(&s) {
                *rtx_seq = rtx_seq.wrapping_add(1);
                let mut p = s.to_be_bytes().to_vec();
                p.extend_from_slice(&orig[12..]);
                let ts = u32::from_be_bytes(orig[4..8].try_into().unwrap());
                let mut pkt = rtp(97, *rtx_seq, ts, rtx_ssrc, &p);
                pkt[1] |= orig[1] & 0x80;
                out.push(pkt);
            }
        });
    }
    out
}
