//! Simulcast switching on whole-frame encrypted VP8, in simulated time.
//!
//! A sender with three VP8 simulcast encodings (three temporal layers each, 30 frames a
//! second) encrypts every frame whole: after the payload descriptor (PictureID, TL0PICIDX,
//! TID) each packet carries random bytes, so the VP8 header's keyframe bit the SFU would
//! normally read is noise. A keyframe (6–10× a base-layer frame) comes at start and one frame
//! after a PLI reaches the sender. The receiver "decrypts" a trailer the SFU never reads (the
//! frame's encoding, number and type), decodes like a browser — a frame of a new encoding is
//! decodable only from a keyframe on — and sends a PLI when it cannot decode.
//!
//! The server-side preferred spatial layer changes every 2 s (0 → 2 → 0 → 1 → 2 …, 24
//! switches). Asserted: every switch lands on a keyframe (no undecodable frame), within a
//! second, with and without the video-orientation extension that Chromium puts on keyframes.

mod common;

use common::{engine, plain_transport, plis, request, rtp, video_feedback, Rng};
use peerwave_sfu::core::message::{Output, Request};
use peerwave_sfu::core::rtp::packet::RtpView;
use peerwave_sfu::core::worker::Engine;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SOCK_IN: u32 = 1;
const SOCK_OUT: u32 = 10;
const DELAY: Duration = Duration::from_millis(20);
const FRAME_MS: u64 = 33;
const SSRCS: [u32; 3] = [1001, 1002, 1003];
/// Average base-layer frame size per encoding (bytes).
const BASE: [usize; 3] = [700, 2_200, 6_500];
const OUT_SSRC: u32 = 7000;
const CVO_ID: u8 = 3;

fn setup(now: Instant, cvo: bool) -> Engine {
    let mut e = engine(now);
    request(
        &mut e,
        now,
        1,
        "worker.createRouter",
        "",
        json!({ "routerId": "r" }),
    );
    plain_transport(&mut e, now, 2, "in", SOCK_IN, 40000, true);
    let exts: Vec<Value> = if cvo {
        vec![json!({ "uri": "urn:3gpp:video-orientation", "id": CVO_ID })]
    } else {
        vec![]
    };
    request(
        &mut e,
        now,
        3,
        "transport.produce",
        "in",
        json!({
            "producerId": "p", "kind": "video", "e2ee": "whole-frame",
            "rtpParameters": {
                "codecs": [{ "mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000, "rtcpFeedback": video_feedback() }],
                "encodings": SSRCS.iter().map(|s| json!({ "ssrc": s, "scalabilityMode": "L1T3" })).collect::<Vec<_>>(),
                "headerExtensions": exts
            },
            "rtpMapping": {
                "codecs": [{ "payloadType": 96, "mappedPayloadType": 101 }],
                "encodings": SSRCS.iter().enumerate().map(|(i, s)| json!({ "ssrc": s, "mappedSsrc": 5000 + i })).collect::<Vec<_>>()
            }
        }),
    );
    plain_transport(&mut e, now, 4, "out", SOCK_OUT, 41000, false);
    request(
        &mut e,
        now,
        5,
        "transport.connect",
        "out",
        json!({ "ip": "192.0.2.20", "port": 6000 }),
    );
    request(
        &mut e,
        now,
        6,
        "transport.consume",
        "out",
        json!({
            "consumerId": "c", "producerId": "p", "kind": "video", "type": "simulcast",
            "rtpParameters": {
                "codecs": [{ "mimeType": "video/VP8", "payloadType": 101, "clockRate": 90000, "rtcpFeedback": video_feedback() }],
                "encodings": [{ "ssrc": OUT_SSRC, "scalabilityMode": "L3T3" }],
                "headerExtensions": [],
                "rtcp": { "cname": "x" }
            },
            "preferredLayers": { "spatialLayer": 0, "temporalLayer": 2 }
        }),
    );
    e
}

/// The sender's state per encoding.
#[derive(Default)]
struct Enc {
    seq: u16,
    tl0: u8,
    key_wanted: bool,
}

/// One encrypted frame of encoding `e` as packets: descriptor, random bytes, and a trailer
/// only the test's receiver reads (encoding, frame number, keyframe).
fn frame_packets(
    rng: &mut Rng,
    s: &mut Enc,
    e: usize,
    n: u32,
    key: bool,
    cvo: bool,
    flat: bool,
) -> Vec<Vec<u8>> {
    let tid: u8 = if key { 0 } else { [0, 2, 1, 2][n as usize % 4] };
    if tid == 0 {
        s.tl0 = s.tl0.wrapping_add(1);
    }
    let base = BASE[e] as f64 * (0.7 + (rng.next() % 600) as f64 / 1000.0);
    let size = if key && flat {
        // A flat picture: its keyframe no larger than a base-layer delta frame.
        base
    } else if key {
        base * (6.0 + (rng.next() % 40) as f64 / 10.0)
    } else {
        base * [1.0, 0.6, 0.4][tid as usize]
    } as usize;
    let count = size.div_ceil(1100).max(1);
    (0..count)
        .map(|i| {
            let last = i + 1 == count;
            let pid = (n & 0x7fff) as u16 | 0x8000;
            // X, S (first packet); I (15-bit PictureID), L (TL0PICIDX), T (TID, Y).
            let mut p = vec![if i == 0 { 0x90 } else { 0x80 }, 0xe0];
            p.extend_from_slice(&pid.to_be_bytes());
            p.push(s.tl0);
            p.push((tid << 6) | 0x20);
            let body = size / count;
            while p.len() < 6 + body {
                p.push(rng.next() as u8);
            }
            p.extend_from_slice(&(e as u32).to_be_bytes());
            p.extend_from_slice(&n.to_be_bytes());
            p.push(key as u8);
            s.seq = s.seq.wrapping_add(1);
            let mut pkt = rtp(96, s.seq, n * 3000, SSRCS[e], &p);
            if last {
                pkt[1] |= 0x80;
                if cvo && key {
                    // One-byte header extension: video orientation, rotation 0.
                    let mut ext = pkt[..12].to_vec();
                    ext[0] |= 0x10;
                    ext.extend_from_slice(&[0xbe, 0xde, 0, 1, CVO_ID << 4, 0, 0, 0]);
                    ext.extend_from_slice(&pkt[12..]);
                    pkt = ext;
                }
            }
            pkt
        })
        .collect()
}

struct Outcome {
    switches: usize,
    /// Switches whose first frame of the new encoding was not a keyframe.
    wrong: usize,
    /// Frames received that the receiver could not decode.
    undecodable: usize,
    /// From each setPreferredLayers to the first frame of the new encoding.
    latencies: Vec<Duration>,
    plis: usize,
}

fn run(cvo: bool, flat: bool, seed: u64) -> Outcome {
    let t0 = Instant::now();
    let mut now = t0;
    let mut e = setup(now, cvo);
    let sender: SocketAddr = "192.0.2.10:5000".parse().unwrap();
    let receiver: SocketAddr = "192.0.2.20:6000".parse().unwrap();
    let mut rng = Rng(seed);
    let mut encs: Vec<Enc> = (0..3)
        .map(|_| Enc {
            key_wanted: true,
            ..Enc::default()
        })
        .collect();
    let mut to_sfu: VecDeque<(Instant, u32, SocketAddr, Vec<u8>)> = VecDeque::new();
    let mut to_receiver: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut plis_to_sender: VecDeque<(Instant, u32)> = VecDeque::new();
    let plan = [
        2, 0, 1, 2, 0, 2, 1, 0, 2, 0, 1, 2, 0, 2, 1, 0, 2, 0, 1, 2, 0, 2, 1, 0,
    ];
    let mut o = Outcome {
        switches: 0,
        wrong: 0,
        undecodable: 0,
        latencies: Vec::new(),
        plis: 0,
    };
    // Receiver: the encoding and frame it decodes, whether it can.
    let mut cur_enc: Option<u32> = None;
    let mut last_frame: Option<u32> = None;
    let mut decodable = false;
    let mut last_pli: Option<Instant> = None;
    let mut asked: Option<(Instant, u32)> = None;
    let mut req = 100;
    let mut n = 0u32;
    for step in 0..(plan.len() as u64 * 2000 + 3000) {
        if step >= 2000 && step % 2000 == 0 && ((step / 2000 - 1) as usize) < plan.len() {
            let want = plan[(step / 2000 - 1) as usize];
            req += 1;
            e.handle_request(
                now,
                Request {
                    id: req,
                    method: "consumer.setPreferredLayers".into(),
                    handler_id: "c".into(),
                    data: json!({ "spatialLayer": want, "temporalLayer": 2 }),
                    payload: None,
                },
            );
            asked = Some((now, want));
        }
        while plis_to_sender.front().is_some_and(|(t, _)| *t <= now) {
            let (_, ssrc) = plis_to_sender.pop_front().unwrap();
            if let Some(i) = SSRCS.iter().position(|s| *s == ssrc) {
                encs[i].key_wanted = true;
            }
        }
        if step % FRAME_MS == 0 {
            for (i, s) in encs.iter_mut().enumerate() {
                let key = std::mem::take(&mut s.key_wanted);
                for p in frame_packets(&mut rng, s, i, n, key, cvo, flat) {
                    to_sfu.push_back((now + DELAY, SOCK_IN, sender, p));
                }
            }
            n += 1;
        }
        while to_sfu.front().is_some_and(|(t, ..)| *t <= now) {
            let (_, sock, from, mut data) = to_sfu.pop_front().unwrap();
            e.handle_datagram(now, sock, from, &mut data);
        }
        while to_receiver.front().is_some_and(|(t, _)| *t <= now) {
            let (_, data) = to_receiver.pop_front().unwrap();
            let v = RtpView::parse(&data).unwrap();
            assert_eq!(v.ssrc(), OUT_SSRC);
            let pl = v.payload();
            let t = &pl[pl.len() - 9..];
            let enc = u32::from_be_bytes(t[0..4].try_into().unwrap());
            let frame = u32::from_be_bytes(t[4..8].try_into().unwrap());
            let key = t[8] == 1;
            if last_frame == Some(frame) && cur_enc == Some(enc) {
                continue;
            }
            last_frame = Some(frame);
            if cur_enc != Some(enc) {
                if cur_enc.is_some() {
                    o.switches += 1;
                    o.wrong += usize::from(!key);
                    if let Some((at, want)) = asked.take() {
                        assert_eq!(want, enc, "switched to the wrong encoding");
                        o.latencies.push(now.duration_since(at));
                    }
                }
                cur_enc = Some(enc);
                decodable = key;
            } else if key {
                decodable = true;
            }
            if !decodable {
                o.undecodable += 1;
                if last_pli.is_none_or(|t| now.duration_since(t) > Duration::from_millis(200)) {
                    last_pli = Some(now);
                    o.plis += 1;
                    let mut pli = vec![0x81, 206, 0, 2];
                    pli.extend_from_slice(&99u32.to_be_bytes());
                    pli.extend_from_slice(&OUT_SSRC.to_be_bytes());
                    to_sfu.push_back((now + DELAY, SOCK_OUT, receiver, pli));
                }
            }
        }
        e.handle_timeout(now);
        while let Some(out) = e.poll_output() {
            if let Output::Transmit { socket, data, .. } = out {
                let rtcp = data.len() >= 2 && (192..=223).contains(&data[1]);
                if socket == SOCK_IN {
                    for m in plis(&data) {
                        plis_to_sender.push_back((now + DELAY, m));
                    }
                } else if !rtcp {
                    to_receiver.push_back((now + DELAY, data));
                }
            }
        }
        now += Duration::from_millis(1);
    }
    o
}

/// Prints a run's figures and checks it made its switches; returns the sorted latencies.
fn summary(label: &str, o: &Outcome) -> Vec<Duration> {
    let mut l = o.latencies.clone();
    l.sort();
    assert!(
        o.switches >= 20 && !l.is_empty(),
        "{label}: {} switches",
        o.switches
    );
    println!(
        "{label}: {} switches, {} on a non-keyframe, {} undecodable frames, {} PLIs; latency min {:?} median {:?} max {:?}",
        o.switches, o.wrong, o.undecodable, o.plis, l[0], l[l.len() / 2], l[l.len() - 1]
    );
    l
}

fn check(cvo: bool) {
    for seed in [3, 11] {
        let o = run(cvo, false, seed);
        let l = summary(&format!("cvo {cvo} seed {seed}"), &o);
        assert_eq!(o.latencies.len(), o.switches);
        assert_eq!(o.wrong, 0, "switches on a non-keyframe");
        assert_eq!(o.undecodable, 0);
        assert!(l[l.len() - 1] <= Duration::from_secs(1), "{l:?}");
    }
}

#[test]
fn whole_frame_encrypted_simulcast_switches_on_keyframes_told_by_the_orientation_extension() {
    check(true);
}

#[test]
fn whole_frame_encrypted_simulcast_switches_on_keyframes_told_by_size_and_request_timing() {
    check(false);
}

#[test]
fn keyframes_that_look_like_any_frame_still_switch_after_the_deadline() {
    // A flat picture (Firefox's fake camera): keyframes no larger than delta frames and no
    // orientation extension. The consumer cannot tell its keyframe; after waiting 1.2 s it
    // starts at a base-layer frame, and the receiver's PLI brings a keyframe it decodes.
    for seed in [3, 11] {
        let o = run(false, true, seed);
        let l = summary(&format!("flat seed {seed}"), &o);
        assert!(l[l.len() - 1] <= Duration::from_millis(1600), "{l:?}");
        // Each wrong start costs the frames of one PLI round trip (40 ms here), a few.
        assert!(
            o.undecodable <= 5 * o.wrong.max(1),
            "{} undecodable for {} wrong",
            o.undecodable,
            o.wrong
        );
    }
}
