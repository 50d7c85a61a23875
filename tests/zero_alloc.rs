//! The forwarding path allocates nothing per packet once warm: a counting global allocator
//! watches 1000 plain-RTP packets go from one producer to three consumers through the engine.

mod common;

use common::request;
use peerwave_sfu::core::message::Output;
use peerwave_sfu::core::worker::Engine;
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarding to the system allocator with the caller's layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: p was allocated by System.alloc with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as GlobalAlloc::realloc, forwarded.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn forwarding_allocates_nothing_per_packet_once_warm() {
    let t0 = Instant::now();
    let mut engine = common::engine(t0);
    request(
        &mut engine,
        t0,
        1,
        "worker.createRouter",
        "",
        json!({ "routerId": "r" }),
    );
    let sock = |id: u32| json!([{ "socketId": id, "protocol": "udp", "ip": "127.0.0.1", "port": 40000 + id }]);
    request(
        &mut engine,
        t0,
        2,
        "router.createPlainTransport",
        "r",
        json!({ "transportId": "in", "comedia": true, "_sockets": sock(1) }),
    );
    request(
        &mut engine,
        t0,
        3,
        "transport.produce",
        "in",
        json!({
            "producerId": "p", "kind": "audio",
            "rtpParameters": {
                "codecs": [{ "mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000, "channels": 2 }],
                "encodings": [{ "ssrc": 1 }], "headerExtensions": []
            },
            "rtpMapping": { "codecs": [{ "payloadType": 100, "mappedPayloadType": 100 }], "encodings": [{ "ssrc": 1, "mappedSsrc": 2 }] }
        }),
    );
    for i in 0..3u32 {
        let tid = format!("out{i}");
        request(
            &mut engine,
            t0,
            10 + i,
            "router.createPlainTransport",
            "r",
            json!({ "transportId": tid, "_sockets": sock(2 + i) }),
        );
        request(
            &mut engine,
            t0,
            20 + i,
            "transport.connect",
            &tid,
            json!({ "ip": "127.0.0.1", "port": 50000 + i }),
        );
        request(
            &mut engine,
            t0,
            30 + i,
            "transport.consume",
            &tid,
            json!({
                "consumerId": format!("c{i}"), "producerId": "p", "kind": "audio", "type": "simple",
                "rtpParameters": {
                    "codecs": [{ "mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000, "channels": 2 }],
                    "encodings": [{ "ssrc": 100 + i }], "headerExtensions": [], "rtcp": { "cname": "x" }
                }
            }),
        );
    }
    let from: SocketAddr = "127.0.0.1:6000".parse().unwrap();
    let mut pkt = vec![0u8; 12 + 1000];
    pkt[0] = 0x80;
    pkt[1] = 100;
    pkt[8..12].copy_from_slice(&1u32.to_be_bytes());
    let mut now = t0;
    let mut forwarded = 0u64;
    let mut run =
        |engine: &mut Engine, from_seq: u16, count: u16, now: &mut Instant, forwarded: &mut u64| {
            for s in from_seq..from_seq + count {
                pkt[2..4].copy_from_slice(&s.to_be_bytes());
                pkt[4..8].copy_from_slice(&(s as u32 * 960).to_be_bytes());
                let mut data = pkt.clone();
                COUNTING.store(true, Ordering::Relaxed);
                engine.handle_datagram(*now, 1, from, &mut data);
                while let Some(o) = engine.poll_output() {
                    if let Output::Transmit { data, .. } = o {
                        *forwarded += 1;
                        engine.recycle(data);
                    }
                }
                COUNTING.store(false, Ordering::Relaxed);
                *now += Duration::from_micros(500);
            }
        };
    // Warm up: pools fill, maps and rate buckets reach their working size.
    run(&mut engine, 0, 2000, &mut now, &mut forwarded);
    ALLOCS.store(0, Ordering::Relaxed);
    forwarded = 0;
    run(&mut engine, 2000, 1000, &mut now, &mut forwarded);
    let allocs = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(forwarded, 3000);
    // Rate windows start a new 100 ms bucket now and then (a VecDeque in steady state does not
    // grow); nothing else may allocate.
    assert_eq!(
        allocs, 0,
        "{allocs} allocations for {forwarded} forwarded packets"
    );
}
