//! Scenario in simulated time: a sender, the SFU core and a receiver exchange RTP and RTCP over
//! two lossy links (seeded, deterministic). The SFU NACKs the sender's losses, the receiver
//! NACKs the SFU's, retransmissions travel as RTX, and in the end the receiver has every packet.

mod common;

use common::{engine, plain_transport, request, rtp, rtx_answers, vp8_consumer, vp8_producer, Rng};
use peerwave_sfu::core::message::Output;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SOCK_IN: u32 = 1;
const SOCK_OUT: u32 = 2;
const SENDER_SSRC: u32 = 1111;
const SENDER_RTX_SSRC: u32 = 2222;
const CONSUMER_SSRC: u32 = 7777;
const CONSUMER_RTX_SSRC: u32 = 7778;
const PACKETS: u32 = 1000;

fn nack(sender: u32, media: u32, lost: &[u16]) -> Vec<u8> {
    let mut out = Vec::new();
    peerwave_sfu::core::rtcp::write_nack(&mut out, sender, media, lost);
    out
}

/// Payload: a VP8 descriptor (keyframe for index 0) followed by the packet's index.
fn payload(index: u32) -> Vec<u8> {
    let mut p = vec![0x10, if index == 0 { 0x00 } else { 0x01 }, 0x9d, 0x01];
    p.extend_from_slice(&index.to_be_bytes());
    p.extend_from_slice(&[0xab; 200]);
    p
}

fn index_of(payload: &[u8]) -> u32 {
    u32::from_be_bytes(payload[4..8].try_into().unwrap())
}

#[test]
fn nack_and_rtx_recover_every_packet_over_lossy_links() {
    let t0 = Instant::now();
    let mut now = t0;
    let mut engine = engine(now);
    let sender_addr: SocketAddr = "192.0.2.10:5000".parse().unwrap();
    let receiver_addr: SocketAddr = "192.0.2.20:6000".parse().unwrap();

    request(
        &mut engine,
        now,
        1,
        "worker.createRouter",
        "",
        json!({ "routerId": "r" }),
    );
    plain_transport(&mut engine, now, 2, "in", SOCK_IN, 40000, true);
    plain_transport(&mut engine, now, 3, "out", SOCK_OUT, 40001, false);
    request(
        &mut engine,
        now,
        4,
        "transport.connect",
        "out",
        json!({ "ip": "192.0.2.20", "port": 6000 }),
    );
    vp8_producer(
        &mut engine,
        now,
        5,
        "in",
        "p",
        SENDER_SSRC,
        SENDER_RTX_SSRC,
        0,
    );
    vp8_consumer(
        &mut engine,
        now,
        6,
        "out",
        "c",
        "p",
        CONSUMER_SSRC,
        CONSUMER_RTX_SSRC,
    );

    let mut loss = Rng(0x9e37_79b9_7f4a_7c15);
    // Sender state: history for retransmission, its own RTX numbering.
    let mut history: HashMap<u16, Vec<u8>> = HashMap::new();
    let mut sender_rtx_seq = 0u16;
    let mut sender_nacks = 0u32;
    // Receiver state.
    let mut received: BTreeSet<u32> = BTreeSet::new();
    let mut recv_seqs: BTreeSet<u16> = BTreeSet::new();
    let mut recv_highest: Option<u16> = None;
    let mut receiver_rtx = 0u32;
    let mut next_receiver_nack = now;

    let step = Duration::from_millis(10);
    let end = t0 + Duration::from_millis(10 * PACKETS as u64 + 3000);
    let mut sent = 0u32;
    let mut to_sfu: Vec<(u32, Vec<u8>)> = Vec::new();
    while now < end {
        if sent < PACKETS {
            let seq = (60000u32 + sent) as u16; // wraps during the run
            let pkt = rtp(96, seq, sent * 3000, SENDER_SSRC, &payload(sent));
            history.insert(seq, pkt.clone());
            if !loss.lose(5) {
                to_sfu.push((SOCK_IN, pkt));
            }
            sent += 1;
        }
        // Receiver NACKs every gap below its highest sequence number, every 30 ms.
        if now >= next_receiver_nack {
            next_receiver_nack = now + Duration::from_millis(30);
            if let Some(h) = recv_highest {
                let lost: Vec<u16> = (1..=300u16)
                    .map(|d| h.wrapping_sub(d))
                    .filter(|s| !recv_seqs.contains(s))
                    .collect();
                let mut lost: Vec<u16> = lost
                    .into_iter()
                    .filter(|s| s.wrapping_sub(60000) < PACKETS as u16)
                    .collect();
                lost.sort_by_key(|s| s.wrapping_sub(60000));
                for chunk in lost.chunks(16) {
                    if !loss.lose(5) {
                        to_sfu.push((SOCK_OUT, nack(9999, CONSUMER_SSRC, chunk)));
                    }
                }
            }
        }
        for (sock, mut data) in to_sfu.drain(..) {
            let from = if sock == SOCK_IN {
                sender_addr
            } else {
                receiver_addr
            };
            engine.handle_datagram(now, sock, from, &mut data);
        }
        engine.handle_timeout(now);
        while let Some(o) = engine.poll_output() {
            let Output::Transmit { socket, to, data } = o else {
                continue;
            };
            let is_rtcp = data.len() >= 2 && (192..=223).contains(&data[1]);
            if socket == SOCK_IN {
                assert_eq!(to, sender_addr);
                // RTCP to the sender: NACKs get RTX answers.
                if is_rtcp && data[1] == 205 && !loss.lose(5) {
                    sender_nacks += 1;
                    for pkt in rtx_answers(&data, &history, &mut sender_rtx_seq, SENDER_RTX_SSRC) {
                        if !loss.lose(5) {
                            to_sfu.push((SOCK_IN, pkt));
                        }
                    }
                }
            } else {
                assert_eq!((socket, to), (SOCK_OUT, receiver_addr));
                if is_rtcp || loss.lose(5) {
                    continue;
                }
                let ssrc = u32::from_be_bytes(data[8..12].try_into().unwrap());
                let (seq, body) = if ssrc == CONSUMER_RTX_SSRC {
                    assert_eq!(data[1] & 0x7f, 102);
                    receiver_rtx += 1;
                    (u16::from_be_bytes([data[12], data[13]]), &data[14..])
                } else {
                    assert_eq!((ssrc, data[1] & 0x7f), (CONSUMER_SSRC, 101));
                    (u16::from_be_bytes([data[2], data[3]]), &data[12..])
                };
                received.insert(index_of(body));
                recv_seqs.insert(seq);
                if recv_highest.is_none_or(|h| (seq.wrapping_sub(h) as i16) > 0) {
                    recv_highest = Some(seq);
                }
            }
        }
        now += step;
    }

    let missing: Vec<u32> = (0..PACKETS).filter(|i| !received.contains(i)).collect();
    assert!(
        missing.is_empty(),
        "receiver misses {} packets: {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    assert!(sender_nacks > 0, "the SFU asked the sender for its losses");
    assert!(
        receiver_rtx > 0,
        "the SFU answered the receiver's NACKs with RTX"
    );
}
