//! Scenario in simulated time: a VP8 sender (3 packets a frame, 30 frames/s, sender reports
//! every second) records through the SFU core over an uplink losing 5 % of its packets. With
//! the sender answering NACKs by RTX, the file holds every frame from the first keyframe on, in
//! order, at its time; with a sender that ignores NACKs the recorder leaves out what follows a
//! loss until a keyframe it asked for (PLI), so every run of frames in the file starts at one.
//! The file is read back with a small EBML walker.

mod common;

use common::{engine, plain_transport, plis, request, rtp, rtx_answers, vp8_producer, Rng};
use peerwave_sfu::core::message::Output;
use peerwave_sfu::core::recorder::Sink;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SOCK: u32 = 1;
const SSRC: u32 = 1111;
const RTX_SSRC: u32 = 2222;
const FRAMES: u32 = 300;

/// Recordings of this test binary, by path, once finished.
static FILES: Mutex<Vec<(String, Vec<u8>)>> = Mutex::new(Vec::new());

struct MemSink {
    path: String,
    data: Vec<u8>,
}

impl Sink for MemSink {
    fn append(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(data);
        Ok(())
    }
    fn write_at(&mut self, pos: u64, data: &[u8]) -> std::io::Result<()> {
        let at = pos as usize;
        self.data[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }
    fn finish(&mut self) -> std::io::Result<()> {
        let data = std::mem::take(&mut self.data);
        FILES.lock().unwrap().push((self.path.clone(), data));
        Ok(())
    }
}

fn open_mem(path: &str) -> std::io::Result<Box<dyn Sink>> {
    Ok(Box::new(MemSink {
        path: path.into(),
        data: Vec::new(),
    }))
}

/// Packets of frame `n`: a VP8 descriptor, then (first packet) the frame tag — a keyframe
/// carries the start code and 640×360 — and the frame's number.
fn frame_packets(n: u32, key: bool) -> Vec<Vec<u8>> {
    let mut first = vec![0x10];
    if key {
        first.extend_from_slice(&[0x50, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
    } else {
        first.extend_from_slice(&[0x51, 0x00, 0x00]);
    }
    first.extend_from_slice(&n.to_be_bytes());
    first.extend_from_slice(&[0xaa; 300]);
    vec![
        first,
        [&[0x00][..], &[0xbb; 500]].concat(),
        [&[0x00][..], &[0xcc; 400]].concat(),
    ]
}

fn sender_report(ssrc: u32, ntp: u64, rtp_ts: u32) -> Vec<u8> {
    let mut p = vec![0x80, 200, 0, 6];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&ntp.to_be_bytes());
    p.extend_from_slice(&rtp_ts.to_be_bytes());
    p.extend_from_slice(&[0; 8]);
    p
}

/// (track, time in ms, keyframe, frame bytes) of every SimpleBlock, in file order; panics on
/// an element that runs past its parent.
fn blocks(file: &[u8]) -> Vec<(u8, u64, bool, Vec<u8>)> {
    fn vint(b: &[u8], keep_marker: bool) -> (u64, usize) {
        let len = b[0].leading_zeros() as usize + 1;
        let mut v = u64::from(if keep_marker {
            b[0]
        } else {
            b[0] & (0xffu16 >> len) as u8
        });
        for &x in &b[1..len] {
            v = (v << 8) | u64::from(x);
        }
        (v, len)
    }
    fn walk(b: &[u8], cluster_ms: &mut u64, out: &mut Vec<(u8, u64, bool, Vec<u8>)>) {
        let mut i = 0;
        while i < b.len() {
            let (id, n) = vint(&b[i..], true);
            let (size, m) = vint(&b[i + n..], false);
            let Some(body) = b.get(i + n + m..i + n + m + size as usize) else {
                panic!(
                    "element {id:x} of {size} bytes at {i} runs past its parent ({} bytes)",
                    b.len()
                );
            };
            match id {
                0x1853_8067 | 0x1F43_B675 => walk(body, cluster_ms, out),
                0xE7 => *cluster_ms = body.iter().fold(0, |v, &x| (v << 8) | u64::from(x)),
                0xA3 => {
                    let rel = i16::from_be_bytes([body[1], body[2]]);
                    let at = (*cluster_ms as i64 + i64::from(rel)) as u64;
                    out.push((body[0] & 0x7f, at, body[3] & 0x80 != 0, body[4..].to_vec()));
                }
                _ => {}
            }
            i += n + m + size as usize;
        }
    }
    let mut out = Vec::new();
    walk(file, &mut 0, &mut out);
    out
}

struct Run {
    summary: Value,
    frames: Vec<(u64, bool, u32)>,
    plis: usize,
}

fn run(seed: u64, retransmit: bool, path: &str) -> Run {
    let t0 = Instant::now();
    let mut now = t0;
    let mut engine = engine(now);
    engine.ctx.open_sink = Some(open_mem);
    let from: SocketAddr = "192.0.2.10:5000".parse().unwrap();
    request(
        &mut engine,
        now,
        1,
        "worker.createRouter",
        "",
        json!({ "routerId": "r" }),
    );
    plain_transport(&mut engine, now, 2, "in", SOCK, 40000, true);
    vp8_producer(&mut engine, now, 3, "in", "p", SSRC, RTX_SSRC, 0);
    let created = request(
        &mut engine,
        now,
        4,
        "router.createRecorder",
        "r",
        json!({ "recorderId": "rec", "path": path, "producerIds": ["p"] }),
    );
    assert_eq!(created, Value::Null);

    let mut loss = Rng(seed);
    let mut history: HashMap<u16, Vec<u8>> = HashMap::new();
    let (mut seq, mut rtx_seq) = (1000u16, 0u16);
    let mut key_next = true;
    let mut plis_seen = 0;
    let mut to_sfu: Vec<Vec<u8>> = Vec::new();
    let step = Duration::from_millis(1);
    let frame_every = Duration::from_micros(33_333);
    let mut next_frame = t0;
    let mut next_sr = t0 + Duration::from_millis(200);
    let mut sent = 0u32;
    let end = t0 + frame_every * FRAMES + Duration::from_millis(100);
    while now < end {
        if now >= next_frame && sent < FRAMES {
            next_frame += frame_every;
            let key = std::mem::take(&mut key_next) || sent.is_multiple_of(150);
            let packets = frame_packets(sent, key);
            let last = packets.len() - 1;
            for (i, p) in packets.into_iter().enumerate() {
                let mut pkt = rtp(96, seq, sent * 3000, SSRC, &p);
                if i == last {
                    pkt[1] |= 0x80;
                }
                history.insert(seq, pkt.clone());
                seq = seq.wrapping_add(1);
                if !loss.lose(5) {
                    to_sfu.push(pkt);
                }
            }
            sent += 1;
        }
        if now >= next_sr {
            // The sender's wall clock: NTP of t0 is 1000 s; RTP time runs at 90 kHz from 0.
            next_sr += Duration::from_secs(1);
            let since = now.duration_since(t0);
            let ntp = ((1000 + since.as_secs()) << 32)
                | ((u64::from(since.subsec_nanos()) << 32) / 1_000_000_000);
            to_sfu.push(sender_report(
                SSRC,
                ntp,
                (since.as_micros() * 9 / 100) as u32,
            ));
        }
        for mut d in to_sfu.drain(..) {
            engine.handle_datagram(now, SOCK, from, &mut d);
        }
        engine.handle_timeout(now);
        while let Some(o) = engine.poll_output() {
            let Output::Transmit { data, .. } = o else {
                continue;
            };
            if data.len() < 2 || !(192..=223).contains(&data[1]) {
                continue;
            }
            if !plis(&data).is_empty() {
                plis_seen += 1;
                key_next = true;
            }
            if !retransmit {
                continue;
            }
            for pkt in rtx_answers(&data, &history, &mut rtx_seq, RTX_SSRC) {
                if !loss.lose(5) {
                    to_sfu.push(pkt);
                }
            }
        }
        now += step;
    }
    let summary = request(
        &mut engine,
        now,
        5,
        "router.closeRecorder",
        "r",
        json!({ "recorderId": "rec" }),
    );
    let file = FILES
        .lock()
        .unwrap()
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, d)| d.clone())
        .expect("finished");
    let frames = blocks(&file)
        .into_iter()
        .map(|(track, ms, key, data)| {
            assert_eq!(track, 1);
            let at = if key { 10 } else { 3 };
            (
                ms,
                key,
                u32::from_be_bytes(data[at..at + 4].try_into().unwrap()),
            )
        })
        .collect();
    Run {
        summary,
        frames,
        plis: plis_seen,
    }
}

#[test]
fn with_retransmissions_every_frame_is_in_the_file_at_its_time() {
    for seed in [3u64, 17, 91] {
        let r = run(seed, true, &format!("rtx-{seed}.webm"));
        let v = &r.summary["tracks"][0];
        println!(
            "seed {seed}: {} frames in the file, lost {}, dropped {}, keyframe requests {}",
            r.frames.len(),
            v["packetsLost"],
            v["framesDropped"],
            v["keyFrameRequests"]
        );
        assert_eq!(v["syncedBy"], "senderReport");
        let first = r.frames[0].2;
        assert!(r.frames[0].1, "the file starts at a keyframe");
        // Every frame from the first one on, in order (the last ones may still have been on
        // their way when the recording stopped).
        let numbers: Vec<u32> = r.frames.iter().map(|f| f.2).collect();
        let expected: Vec<u32> = (first..first + numbers.len() as u32).collect();
        assert_eq!(numbers, expected, "seed {seed}");
        assert!(
            numbers.len() as u32 >= FRAMES - first - 3,
            "seed {seed}: {} frames",
            numbers.len()
        );
        assert_eq!(v["framesDropped"], 0);
        // Times follow the RTP clock (33.3 ms a frame), from 0.
        for (i, f) in r.frames.iter().enumerate() {
            let want = (i as f64 * 1000.0 / 30.0).round() as i64;
            assert!(
                (f.0 as i64 - want).abs() <= 1,
                "seed {seed}: frame {i} at {} ms",
                f.0
            );
        }
        assert_eq!(r.summary["error"], Value::Null);
    }
}

#[test]
fn with_nacks_ignored_each_run_of_frames_starts_at_a_keyframe() {
    for seed in [5u64, 23] {
        let r = run(seed, false, &format!("plain-{seed}.webm"));
        let v = &r.summary["tracks"][0];
        println!(
            "seed {seed}: {} frames in the file, lost {}, dropped {}, keyframe requests {}, PLIs {}",
            r.frames.len(),
            v["packetsLost"],
            v["framesDropped"],
            v["keyFrameRequests"],
            r.plis
        );
        assert!(v["packetsLost"].as_u64().unwrap() > 10);
        assert!(v["framesDropped"].as_u64().unwrap() > 0);
        assert!(r.plis > 0, "the recorder asked the sender for keyframes");
        // Decodable: whenever a frame number is skipped, the next frame is a keyframe.
        assert!(r.frames[0].1);
        for w in r.frames.windows(2) {
            if w[1].2 != w[0].2 + 1 {
                assert!(
                    w[1].1,
                    "seed {seed}: frame {} follows {} without being a keyframe",
                    w[1].2, w[0].2
                );
            }
            assert!(w[1].0 > w[0].0);
        }
        // A sender that ignores NACKs loses a frame in seven here (3 packets, 5 % each), and each
        // loss costs the frames up to the keyframe it answers a PLI with: fewer frames, all of
        // them decodable.
        assert!(
            r.frames.len() >= 40,
            "seed {seed}: only {} frames",
            r.frames.len()
        );
    }
}
