//! Scenarios in simulated time for keyframe requests: a VP8 sender that sends a keyframe only
//! when asked (as a browser does), links with 20 ms of delay each way, receivers on plain
//! transports whose remote is learnt (connect()) long after the producer's first keyframe.
//! A consumer must start with a keyframe within about one request round trip of its
//! transport connecting, however many join at once, with at most one request upstream per
//! `keyFrameRequestDelay` window; a lost request is repeated.

mod common;

use common::{engine, has_pli, plain_transport, request, rtp, vp8_consumer, vp8_producer};
use peerwave_sfu::core::message::{Output, Request};
use peerwave_sfu::core::worker::Engine;
use serde_json::json;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SOCK_IN: u32 = 1;
const SENDER_SSRC: u32 = 1111;
const DELAY: Duration = Duration::from_millis(20);
const FRAME: Duration = Duration::from_millis(33);
const STEP: Duration = Duration::from_millis(1);

/// One receiver: its socket on the SFU, when its transport connects, what it got.
struct Receiver {
    socket: u32,
    addr: SocketAddr,
    connect_at: Duration,
    first_packet: Option<(Duration, bool)>,
    packets: u32,
}

struct Outcome {
    receivers: Vec<Receiver>,
    /// When each PLI reached the sender (since the start).
    plis: Vec<Duration>,
}

/// Frame `n` as one packet: a VP8 descriptor with S=1 and the payload header's P bit clear
/// on keyframes, then filler.
fn frame(n: u32, key: bool) -> Vec<u8> {
    let mut p = vec![0x10, if key { 0x00 } else { 0x01 }, 0x9d, 0x01];
    p.extend_from_slice(&n.to_be_bytes());
    p.extend_from_slice(&[0xab; 300]);
    rtp(96, n as u16, n * 3000, SENDER_SSRC, &p)
}

/// Runs `duration` of a call: the sender starts at 0 with a keyframe, consumers are created at
/// 0 (before their transports connect), each transport connects at its time. `lose_pli(n)`
/// drops the n-th PLI on its way to the sender.
fn run(
    key_frame_request_delay: u64,
    connect_at: &[u64],
    duration: Duration,
    lose_pli: impl Fn(usize) -> bool,
) -> Outcome {
    let t0 = Instant::now();
    let mut now = t0;
    let mut e: Engine = engine(now);
    let sender_addr: SocketAddr = "192.0.2.10:5000".parse().unwrap();
    request(
        &mut e,
        now,
        1,
        "worker.createRouter",
        "",
        json!({ "routerId": "r" }),
    );
    plain_transport(&mut e, now, 2, "in", SOCK_IN, 40000, true);
    vp8_producer(
        &mut e,
        now,
        3,
        "in",
        "p",
        SENDER_SSRC,
        2222,
        key_frame_request_delay,
    );
    let mut receivers = Vec::new();
    for (i, at) in connect_at.iter().enumerate() {
        let i = i as u32;
        let socket = 10 + i;
        plain_transport(
            &mut e,
            now,
            100 + i,
            &format!("out{i}"),
            socket,
            41000 + i as u16,
            false,
        );
        vp8_consumer(
            &mut e,
            now,
            200 + i,
            &format!("out{i}"),
            &format!("c{i}"),
            "p",
            7000 + i,
            8000 + i,
        );
        receivers.push(Receiver {
            socket,
            addr: SocketAddr::new("192.0.2.20".parse().unwrap(), 6000 + i as u16),
            connect_at: Duration::from_millis(*at),
            first_packet: None,
            packets: 0,
        });
    }
    // In flight: (arrival time, to the sender?, socket, bytes).
    let mut to_sfu: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut to_sender: VecDeque<Instant> = VecDeque::new();
    let mut to_receivers: VecDeque<(Instant, usize, Vec<u8>)> = VecDeque::new();
    let mut plis = Vec::new();
    let mut pli_seen = 0usize;
    let mut key_wanted = true;
    let mut next_frame = t0;
    let mut n = 0u32;
    let mut req = 1000;
    while now < t0 + duration {
        let since = now - t0;
        // The sender: a frame every 33 ms, a keyframe when a PLI has arrived since the last.
        while to_sender.front().is_some_and(|t| *t <= now) {
            to_sender.pop_front();
            plis.push(since);
            key_wanted = true;
        }
        if now >= next_frame {
            to_sfu.push_back((now + DELAY, frame(n, key_wanted)));
            key_wanted = false;
            n += 1;
            next_frame += FRAME;
        }
        for r in receivers.iter_mut() {
            if r.connect_at == since {
                // Not `request()`: what the engine sends on connecting must reach the loop.
                req += 1;
                e.handle_request(
                    now,
                    Request {
                        id: req,
                        method: "transport.connect".into(),
                        handler_id: format!("out{}", r.socket - 10),
                        data: json!({ "ip": r.addr.ip().to_string(), "port": r.addr.port() }),
                        payload: None,
                    },
                );
            }
        }
        while to_sfu.front().is_some_and(|(t, _)| *t <= now) {
            let (_, mut data) = to_sfu.pop_front().unwrap();
            e.handle_datagram(now, SOCK_IN, sender_addr, &mut data);
        }
        while to_receivers.front().is_some_and(|(t, _, _)| *t <= now) {
            let (_, i, data) = to_receivers.pop_front().unwrap();
            let r = &mut receivers[i];
            r.packets += 1;
            if r.first_packet.is_none() {
                // The consumer's PT (101) and the VP8 payload header's P bit after the
                // 1-byte descriptor.
                assert_eq!(data[1] & 0x7f, 101);
                r.first_packet = Some((since, data[13] & 0x01 == 0));
            }
        }
        e.handle_timeout(now);
        while let Some(o) = e.poll_output() {
            let Output::Transmit { socket, to, data } = o else {
                continue;
            };
            let rtcp = data.len() >= 2 && (192..=223).contains(&data[1]);
            if socket == SOCK_IN {
                assert_eq!(to, sender_addr);
                if rtcp && has_pli(&data) {
                    pli_seen += 1;
                    if !lose_pli(pli_seen) {
                        to_sender.push_back(now + DELAY);
                    }
                }
            } else if !rtcp {
                let i = receivers.iter().position(|r| r.socket == socket).unwrap();
                assert_eq!(to, receivers[i].addr);
                to_receivers.push_back((now + DELAY, i, data));
            }
        }
        now += STEP;
    }
    Outcome { receivers, plis }
}

/// A request sent when the transport connects reaches the sender after DELAY; its next frame
/// (within FRAME) is a keyframe; it reaches the receiver 2 × DELAY later. The engine's tick
/// (20 ms) may hold a deferred request back a little.
fn round_trip_bound() -> Duration {
    DELAY * 3 + FRAME + Duration::from_millis(20)
}

#[test]
fn a_consumer_connecting_after_the_keyframe_passed_starts_within_a_round_trip() {
    let o = run(0, &[2000], Duration::from_millis(4000), |_| false);
    let r = &o.receivers[0];
    let (at, key) = r.first_packet.expect("the consumer receives video");
    assert!(key, "its stream starts with a keyframe");
    let waited = at - r.connect_at;
    assert!(
        waited <= round_trip_bound(),
        "first packet {waited:?} after connecting"
    );
    assert!(r.packets > 40);
    // Nothing was asked before the transport could carry the answer; one request after.
    assert_eq!(o.plis.len(), 1, "PLIs at {:?}", o.plis);
    assert!(o.plis[0] >= r.connect_at);
}

#[test]
fn consumers_joining_within_the_request_delay_all_get_video_with_one_request_per_window() {
    let delay = 1000;
    let joins = [2000, 2050, 2300, 2600, 2950, 3100, 3120];
    let o = run(delay, &joins, Duration::from_millis(7000), |_| false);
    for r in &o.receivers {
        let (at, key) = r
            .first_packet
            .unwrap_or_else(|| panic!("consumer connecting at {:?} got no video", r.connect_at));
        assert!(
            key,
            "stream of the consumer connecting at {:?} starts with a keyframe",
            r.connect_at
        );
        let waited = at - r.connect_at;
        assert!(
            waited <= Duration::from_millis(delay) + round_trip_bound(),
            "consumer connecting at {:?} waited {waited:?}",
            r.connect_at
        );
    }
    for w in o.plis.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(delay),
            "PLIs at {:?}",
            o.plis
        );
    }
    // 2000 asks; 2050 is served by that keyframe; 2300..2950 share the request deferred to
    // 3000; 3100 and 3120 share the one deferred to 4000.
    assert_eq!(o.plis.len(), 3, "PLIs at {:?}", o.plis);
}

#[test]
fn a_lost_request_is_repeated_until_the_keyframe_comes() {
    // The first two PLIs are lost on the way to the sender.
    let o = run(0, &[2000], Duration::from_millis(6000), |n| n <= 2);
    let r = &o.receivers[0];
    let (at, key) = r
        .first_packet
        .expect("the consumer receives video in the end");
    assert!(key);
    let waited = at - r.connect_at;
    // Two retries, a second apart, then a round trip.
    assert!(waited >= Duration::from_millis(2000), "{waited:?}");
    assert!(
        waited <= Duration::from_millis(2000) + round_trip_bound() + Duration::from_millis(20),
        "{waited:?}"
    );
    assert_eq!(o.plis.len(), 1, "one request got through: {:?}", o.plis);
}
