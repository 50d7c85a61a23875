//! Load generator for `npm run bench`. Speaks a line protocol on stdin/stdout with the Node
//! driver so the same scenarios run against any module with mediasoup's API.
//!
//! Modes:
//! - `gen --receivers K`: binds K receive sockets and prints `ports p1,p2,...`; then on
//!   `go HOST:PORT RATE SECONDS SIZE` sends paced RTP (SSRC 1, a send timestamp and sequence
//!   in the payload) to HOST:PORT while counting what the K sockets receive; prints one JSON
//!   line with sent/received counts, loss from sequence gaps and one-way latency percentiles.
//! - `relay --outputs K --batched 0|1`: binds an input socket (prints `port P`), then forwards
//!   every datagram to K addresses given by `go host:p1,host:p2,...`: naive (one sendto per
//!   copy) or batched (one sendmmsg per input packet). Prints its CPU time when stdin closes.
//!
//! Hand-written on std + libc: the point is to measure the kernel and the SFU, not a framework.

use std::io::{BufRead, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn thread_cpu_us() -> u64 {
    // SAFETY: getrusage with a valid pointer to a zeroed rusage is always sound.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    (ru.ru_utime.tv_sec as u64 * 1_000_000 + ru.ru_utime.tv_usec as u64)
        + (ru.ru_stime.tv_sec as u64 * 1_000_000 + ru.ru_stime.tv_usec as u64)
}

fn read_line() -> Option<String> {
    let mut l = String::new();
    match std::io::stdin().lock().read_line(&mut l) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(l.trim().to_string()),
    }
}

fn say(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
    let _ = out.flush();
}

#[derive(Default)]
struct RecvStats {
    received: u64,
    max_seq: Option<u32>,
    lat_us: Vec<u32>,
}

fn gen(receivers: usize) {
    let start = Instant::now();
    let socks: Vec<UdpSocket> = (0..receivers).map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind")).collect();
    let ports: Vec<String> = socks.iter().map(|s| s.local_addr().unwrap().port().to_string()).collect();
    say(&format!("ports {}", ports.join(",")));
    let Some(cmd) = read_line() else { return };
    let parts: Vec<&str> = cmd.split_whitespace().collect();
    if parts.len() != 5 || parts[0] != "go" {
        say("error expected: go HOST:PORT RATE SECONDS SIZE");
        return;
    }
    let target: SocketAddr = parts[1].parse().expect("target");
    let rate: f64 = parts[2].parse().expect("rate");
    let secs: f64 = parts[3].parse().expect("seconds");
    let size: usize = parts[4].parse::<usize>().expect("size").max(32);
    let stop = Arc::new(AtomicBool::new(false));
    let stats: Vec<Arc<Mutex<RecvStats>>> = (0..receivers).map(|_| Arc::default()).collect();
    let mut handles = Vec::new();
    for (s, st) in socks.into_iter().zip(stats.iter().cloned()) {
        let stop = stop.clone();
        s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        handles.push(std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                let Ok(n) = s.recv(&mut buf) else { continue };
                if n < 12 + 12 || buf[1] & 0x7f >= 72 && buf[1] & 0x7f <= 95 {
                    continue; // too short, or RTCP
                }
                // Payload starts after the 12-byte header (+ extensions): find it from the
                // X bit, then read our (seq u32, send time u64).
                let cc = (buf[0] & 0x0f) as usize;
                let mut off = 12 + cc * 4;
                if buf[0] & 0x10 != 0 && n >= off + 4 {
                    off += 4 + u16::from_be_bytes([buf[off + 2], buf[off + 3]]) as usize * 4;
                }
                if n < off + 12 {
                    continue;
                }
                let seq = u32::from_be_bytes(buf[off..off + 4].try_into().unwrap());
                let sent_us = u64::from_be_bytes(buf[off + 4..off + 12].try_into().unwrap());
                let now_us = start.elapsed().as_micros() as u64;
                let mut g = st.lock().unwrap();
                g.received += 1;
                g.max_seq = Some(g.max_seq.map_or(seq, |m| m.max(seq)));
                g.lat_us.push(now_us.saturating_sub(sent_us) as u32);
            }
        }));
    }
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut pkt = vec![0u8; 12 + size];
    pkt[0] = 0x80;
    pkt[1] = 0x60; // PT 96
    pkt[8..12].copy_from_slice(&1u32.to_be_bytes());
    let interval = Duration::from_secs_f64(1.0 / rate);
    let total = (rate * secs) as u32;
    let t0 = Instant::now();
    let cpu0 = thread_cpu_us();
    for i in 0..total {
        let due = t0 + interval * i;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        pkt[2..4].copy_from_slice(&(i as u16).to_be_bytes());
        pkt[4..8].copy_from_slice(&(i.wrapping_mul(3000)).to_be_bytes());
        pkt[12..16].copy_from_slice(&i.to_be_bytes());
        pkt[16..24].copy_from_slice(&(start.elapsed().as_micros() as u64).to_be_bytes());
        let _ = tx.send_to(&pkt, target);
    }
    let send_secs = t0.elapsed().as_secs_f64();
    let gen_cpu = thread_cpu_us() - cpu0;
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let mut lat: Vec<u32> = Vec::new();
    let mut per = Vec::new();
    let mut min_received = u64::MAX;
    for st in &stats {
        let mut g = st.lock().unwrap();
        min_received = min_received.min(g.received);
        per.push(g.received.to_string());
        lat.append(&mut g.lat_us);
    }
    lat.sort_unstable();
    let pct = |p: f64| if lat.is_empty() { 0 } else { lat[((lat.len() - 1) as f64 * p) as usize] };
    let lost_max = total as u64 - if receivers == 0 { 0 } else { min_received };
    say(&format!(
        "{{\"sent\":{total},\"sendSeconds\":{send_secs:.3},\"generatorCpuUs\":{gen_cpu},\"received\":[{}],\"maxLossPerReceiver\":{lost_max},\"p50us\":{},\"p99us\":{}}}",
        per.join(","),
        pct(0.5),
        pct(0.99)
    ));
}

fn relay(outputs: usize, batched: bool) {
    let input = UdpSocket::bind("127.0.0.1:0").unwrap();
    say(&format!("port {}", input.local_addr().unwrap().port()));
    let Some(cmd) = read_line() else { return };
    let dests: Vec<SocketAddr> = cmd.trim_start_matches("go ").split(',').filter_map(|a| a.parse().ok()).collect();
    assert_eq!(dests.len(), outputs, "expected {outputs} destinations");
    let out = UdpSocket::bind("127.0.0.1:0").unwrap();
    input.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    // Stop when stdin closes.
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while read_line().is_some() {}
            stop.store(true, Ordering::Relaxed);
        });
    }
    let cpu0 = thread_cpu_us();
    let mut forwarded: u64 = 0;
    let mut buf = [0u8; 2048];
    // Per-copy headers for the batched relay: each copy gets its own 12-byte header.
    let mut headers = vec![[0u8; 12]; outputs];
    let addrs: Vec<libc::sockaddr_in> = dests
        .iter()
        .map(|d| {
            let SocketAddr::V4(v4) = d else { panic!("IPv4 only") };
            libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(v4.ip().octets()) },
                sin_zero: [0; 8],
            }
        })
        .collect();
    // The batched relay's iovecs and message headers are built once: per packet only the
    // payload length and the copied headers change.
    for (i, h) in headers.iter_mut().enumerate() {
        h[8..12].copy_from_slice(&(1000 + i as u32).to_be_bytes());
    }
    let mut iovs: Vec<libc::iovec> = Vec::with_capacity(outputs * 2);
    for h in headers.iter() {
        iovs.push(libc::iovec { iov_base: h.as_ptr() as *mut _, iov_len: 12 });
        iovs.push(libc::iovec { iov_base: buf[12..].as_ptr() as *mut _, iov_len: 0 });
    }
    let mut msgs: Vec<libc::mmsghdr> = (0..outputs)
        .map(|i| {
            // SAFETY: a zeroed mmsghdr is a valid empty header; the fields are set below.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_name = &addrs[i] as *const _ as *mut _;
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            m.msg_hdr.msg_iov = &iovs[i * 2] as *const _ as *mut _;
            m.msg_hdr.msg_iovlen = 2;
            m
        })
        .collect();
    while !stop.load(Ordering::Relaxed) {
        let Ok(n) = input.recv(&mut buf) else { continue };
        if n < 12 {
            continue;
        }
        if batched {
            for (i, h) in headers.iter_mut().enumerate() {
                h[..8].copy_from_slice(&buf[..8]);
                iovs[i * 2 + 1].iov_len = n - 12;
            }
            // SAFETY: msgs point into iovs, headers, buf and addrs, which all outlive the call.
            let sent = unsafe { libc::sendmmsg(out.as_raw_fd(), msgs.as_mut_ptr(), outputs as u32, 0) };
            if sent > 0 {
                forwarded += sent as u64;
            }
        } else {
            for (i, d) in dests.iter().enumerate() {
                buf[8..12].copy_from_slice(&(1000 + i as u32).to_be_bytes());
                if out.send_to(&buf[..n], d).is_ok() {
                    forwarded += 1;
                }
            }
        }
    }
    say(&format!("{{\"forwarded\":{forwarded},\"cpuUs\":{}}}", thread_cpu_us() - cpu0));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    match args.get(1).map(String::as_str) {
        Some("gen") => gen(arg("--receivers").and_then(|v| v.parse().ok()).unwrap_or(1)),
        Some("relay") => relay(
            arg("--outputs").and_then(|v| v.parse().ok()).unwrap_or(1),
            arg("--batched").as_deref() == Some("1"),
        ),
        _ => {
            eprintln!("usage: peerwave-loadgen gen --receivers K | relay --outputs K --batched 0|1");
            std::process::exit(2);
        }
    }
}
