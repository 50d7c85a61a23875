//! Load generator for `npm run bench`. Speaks a line protocol on stdin/stdout with the Node
//! driver so the same scenarios run against any module with mediasoup's API.
//!
//! `session` mode (one process holds every client of a scenario). On start it prints
//! `fingerprint sha-256 AA:BB:..` (the DTLS certificate all its WebRTC clients share), then
//! answers one line per command:
//! - `recv plain` / `recv webrtc HOST:PORT UFRAG PWD FP` → `ok ID PORT`: a receiving client;
//! - `send plain HOST:PORT SSRC` / `send webrtc HOST:PORT UFRAG PWD FP SSRC` → `ok ID PORT`:
//!   a sending client whose stream number is its ID among the senders;
//! - `send simulcast HOST:PORT SSRC`: a plain RTP sender of three simulcast streams (SSRC,
//!   SSRC + 1, SSRC + 2) on one socket, each packet a VP8 keyframe start (a 4-byte payload
//!   descriptor with S=1 and a PictureID, then our payload header, whose first byte has the
//!   VP8 P bit clear), so a simulcast consumer may start or switch at any packet: what is
//!   measured is the per-packet cost of the simulcast path, not the wait for keyframes;
//! - `recv srtp SUITE KEYHEX` / `send srtp HOST:PORT SSRC SUITE KEYHEX`: plain RTP with SRTP
//!   keys signalled (a PlainTransport with `enableSrtp`): the key the SFU sends with, or the
//!   one this client sends with;
//! - `connect` → `ok N PROFILE`: runs ICE (a controlling full agent's nominating check) and the DTLS
//!   client handshake for every WebRTC client, derives SRTP keys and starts the receive threads;
//! - `go RATE SECONDS SIZE` → one JSON line: every sender sends RATE RTP packets/s for SECONDS
//!   (payload SIZE bytes carrying sequence, send time and stream number; a simulcast sender
//!   sends RATE per stream); the answer counts what
//!   each receiver got from each stream (`received[r][s]`) and one-way latency percentiles.
//!   `go` may repeat (a knee search); streams continue their sequence numbers.
//!
//! `srtp --profile NAME --size SIZE`: one protect + one unprotect of an RTP packet with the
//! core's SRTP, measured alone (CPU µs per packet over 200 000 packets), the floor for the SFU's
//! own SRTP cost.
//!
//! `relay --outputs K --batched 0|1|sockets`: the raw baselines. Binds an input socket (prints
//! `port P`), then forwards every datagram to the K addresses of `go host:p1,host:p2,...`: naive
//! (one sendto per copy), batched (one sendmmsg per input packet, each copy its own header and
//! the shared payload) or `sockets` (one sendto per copy, each destination from its own socket,
//! as an SFU's transports send). `stats` prints its forwarded count and CPU time so far.
//!
//! Hand-written on std + libc: the point is to measure the kernel and the SFU, not a framework.
//! The WebRTC clients reuse this repository's own core (STUN writer, DTLS in client role, SRTP)
//! so SRTP's cost is measured on both sides of the SFU.

use peerwave_sfu::core::dtls::{DtlsCertificate, DtlsEvent, DtlsRole, DtlsState, DtlsTransport};
use peerwave_sfu::core::ice::stun::{self, StunMessage, StunWriter};
use peerwave_sfu::core::srtp::{SrtpContext, SrtpProfile};
use std::io::{BufRead, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
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

fn hex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

/// Bytes of our payload header: sequence u32, send time u64 (µs), stream u32, run u32.
const PAYLOAD_HEADER: usize = 20;

/// The ICE credentials of a WebRTC client's remote end (the SFU's transport).
struct IceRemote {
    ufrag: String,
    pwd: String,
    fingerprint: String,
}

/// One client socket.
struct Endpoint {
    sock: UdpSocket,
    remote: Option<SocketAddr>,
    ice: Option<IceRemote>,
    /// Index among the receivers, for receiving clients.
    receiver: Option<usize>,
    srtp_in: Option<SrtpContext>,
}

struct Sender {
    sock: UdpSocket,
    target: SocketAddr,
    ssrc: u32,
    seq: u32,
    srtp_out: Option<SrtpContext>,
    endpoint: usize,
    /// Three simulcast streams with a VP8 descriptor (`send simulcast`).
    simulcast: bool,
}

/// The VP8 payload descriptor of a simulcast sender's packets: X=1 S=1, I=1, 15-bit PictureID.
const VP8_DESCRIPTOR: usize = 4;

const LOCAL_UFRAG: &str = "loadgen";

fn binding_request(ice: &IceRemote, tid: &[u8; 12]) -> Vec<u8> {
    let mut v = Vec::with_capacity(128);
    let mut w = StunWriter::new(&mut v, stun::BINDING_REQUEST, tid);
    w.username(format!("{}:{LOCAL_UFRAG}", ice.ufrag).as_bytes());
    w.priority(0x6e00_01ff);
    w.ice_role(true, 0x1234_5678_9abc_def0);
    w.use_candidate();
    w.integrity(ice.pwd.as_bytes());
    w.fingerprint();
    v
}

/// ICE check, then the DTLS client handshake; returns (outbound, inbound) SRTP contexts.
fn connect_webrtc(
    ep: &Endpoint,
    cert: &DtlsCertificate,
) -> Result<(SrtpContext, SrtpContext), String> {
    let ice = ep.ice.as_ref().expect("webrtc endpoint");
    let remote = ep.remote.expect("remote");
    ep.sock.set_nonblocking(false).map_err(|e| e.to_string())?;
    ep.sock
        .set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 2048];
    let mut tid = [7u8; 12];
    tid[..8].copy_from_slice(&(ep.sock.local_addr().unwrap().port() as u64).to_be_bytes());
    let req = binding_request(ice, &tid);
    let deadline = Instant::now() + Duration::from_secs(5);
    'ice: loop {
        if Instant::now() > deadline {
            return Err(format!("no ICE response from {remote}"));
        }
        ep.sock.send_to(&req, remote).map_err(|e| e.to_string())?;
        while let Ok((n, _)) = ep.sock.recv_from(&mut buf) {
            if let Ok(m) = StunMessage::parse(&buf[..n]) {
                if m.class_method == stun::BINDING_SUCCESS {
                    break 'ice;
                }
                if m.class_method == stun::BINDING_ERROR {
                    return Err(format!("ICE check rejected by {remote}"));
                }
            }
        }
    }
    let mut dtls = DtlsTransport::new(
        cert,
        DtlsRole::Client,
        ("sha-256".into(), ice.fingerprint.clone()),
    )?;
    let mut events = Vec::new();
    dtls.start(&mut events);
    loop {
        while let Some(d) = dtls.pop_outgoing() {
            ep.sock.send_to(&d, remote).map_err(|e| e.to_string())?;
        }
        for ev in events.drain(..) {
            if let DtlsEvent::Connected(keys) = ev {
                let out = SrtpContext::new(keys.profile, &keys.local_key, true)
                    .map_err(|e| format!("{e:?}"))?;
                let inb = SrtpContext::new(keys.profile, &keys.remote_key, false)
                    .map_err(|e| format!("{e:?}"))?;
                ep.sock.set_nonblocking(true).map_err(|e| e.to_string())?;
                return Ok((out, inb));
            }
        }
        if dtls.state == DtlsState::Failed {
            return Err(dtls.failure.unwrap_or_default());
        }
        if Instant::now() > deadline {
            return Err(format!("DTLS handshake with {remote} timed out"));
        }
        match ep.sock.recv_from(&mut buf) {
            Ok((n, _)) if (20..64).contains(&buf[0]) => {
                dtls.handle_datagram(&buf[..n], &mut events)
            }
            _ => dtls.handle_timeout(&mut events),
        }
    }
}

/// What the receive threads count during one `go`.
struct Shared {
    streams: usize,
    /// received[r * streams + s]
    counts: Vec<AtomicU64>,
    srtp_errors: AtomicU64,
    /// The `go` being counted: packets of an earlier one (still queued somewhere after an
    /// overloaded trial) are not this one's.
    run: AtomicU32,
    latencies: Vec<Mutex<Vec<u32>>>,
    stop: AtomicBool,
}

/// Reads the payload header of a plain RTP packet: (stream, send time µs, run).
fn payload_header(p: &[u8]) -> Option<(usize, u64, u32)> {
    if p.len() < 12 {
        return None;
    }
    let cc = (p[0] & 0x0f) as usize;
    let mut off = 12 + cc * 4;
    if p[0] & 0x10 != 0 && p.len() >= off + 4 {
        off += 4 + u16::from_be_bytes([p[off + 2], p[off + 3]]) as usize * 4;
    }
    // A simulcast sender's VP8 descriptor (first byte 0x90; our own header's first byte is the
    // high byte of a sequence number, never that high in a run).
    if p.get(off) == Some(&0x90) {
        off += VP8_DESCRIPTOR;
    }
    let h = p.get(off..off + PAYLOAD_HEADER)?;
    let sent_us = u64::from_be_bytes(h[4..12].try_into().unwrap());
    let stream = u32::from_be_bytes(h[12..16].try_into().unwrap()) as usize;
    let run = u32::from_be_bytes(h[16..20].try_into().unwrap());
    Some((stream, sent_us, run))
}

fn receive_loop(mut eps: Vec<Endpoint>, shared: Arc<Shared>, slot: usize, start: Instant) {
    let mut fds: Vec<libc::pollfd> = eps
        .iter()
        .map(|e| libc::pollfd {
            fd: e.sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let mut buf = [0u8; 2048];
    let mut lat: Vec<u32> = Vec::with_capacity(1 << 16);
    let mut last_consent = Instant::now();
    let mut tid = [9u8; 12];
    while !shared.stop.load(Ordering::Relaxed) {
        // SAFETY: fds is a valid array of pollfd for the length given.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 50) };
        if n > 0 {
            for (i, fd) in fds.iter_mut().enumerate() {
                if fd.revents == 0 {
                    continue;
                }
                fd.revents = 0;
                let ep = &mut eps[i];
                while let Ok(n) = ep.sock.recv(&mut buf) {
                    let Some(r) = ep.receiver else { continue };
                    if n < 12 || buf[0] < 128 || (72..=95).contains(&(buf[1] & 0x7f)) {
                        continue; // STUN, DTLS or RTCP
                    }
                    let len = match ep.srtp_in.as_mut() {
                        Some(ctx) => match ctx.unprotect_rtp(&mut buf[..n]) {
                            Ok(l) => l,
                            Err(_) => {
                                shared.srtp_errors.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                        },
                        None => n,
                    };
                    let Some((s, sent_us, run)) = payload_header(&buf[..len]) else {
                        continue;
                    };
                    if s < shared.streams && run == shared.run.load(Ordering::Relaxed) {
                        shared.counts[r * shared.streams + s].fetch_add(1, Ordering::Relaxed);
                        let now_us = start.elapsed().as_micros() as u64;
                        lat.push(now_us.saturating_sub(sent_us) as u32);
                    }
                }
            }
        }
        if lat.len() >= 4096 || n == 0 {
            shared.latencies[slot].lock().unwrap().append(&mut lat);
        }
        // RFC 7675 consent freshness: refresh every WebRTC client's pair well within 30 s.
        if last_consent.elapsed() > Duration::from_secs(2) {
            last_consent = Instant::now();
            for ep in &eps {
                if let (Some(ice), Some(remote)) = (ep.ice.as_ref(), ep.remote) {
                    tid[0] = tid[0].wrapping_add(1);
                    let _ = ep.sock.send_to(&binding_request(ice, &tid), remote);
                }
            }
        }
    }
}

fn session() {
    let start = Instant::now();
    let cert = DtlsCertificate::generate().expect("certificate");
    let fp = cert
        .fingerprints
        .iter()
        .find(|(a, _)| a == "sha-256")
        .unwrap()
        .1
        .clone();
    say(&format!("fingerprint sha-256 {fp}"));
    let mut endpoints: Vec<Endpoint> = Vec::new();
    let mut senders: Vec<Sender> = Vec::new();
    let mut receivers = 0usize;
    let mut shared: Option<Arc<Shared>> = None;
    while let Some(line) = read_line() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["recv" | "send", kind, rest @ ..] if shared.is_none() => {
                let is_send = w[0] == "send";
                let webrtc = *kind == "webrtc";
                let need = match (*kind, is_send) {
                    ("plain", false) => 0,
                    ("plain" | "simulcast", true) => 2,
                    ("srtp", false) => 2,
                    ("srtp", true) => 4,
                    ("webrtc", false) => 4,
                    ("webrtc", true) => 5,
                    _ => usize::MAX,
                };
                if rest.len() != need {
                    say(&format!("error bad command: {line}"));
                    continue;
                }
                // Signalled SRTP: (suite, key) are the last two words.
                let mut srtp = if *kind == "srtp" {
                    let key = hex(rest[need - 1]);
                    let ctx = SrtpProfile::from_name(rest[need - 2])
                        .zip(key)
                        .and_then(|(p, k)| SrtpContext::new(p, &k, is_send).ok());
                    if ctx.is_none() {
                        say(&format!("error bad SRTP suite or key: {line}"));
                        continue;
                    }
                    ctx
                } else {
                    None
                };
                let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
                let _ = socket2::SockRef::from(&sock).set_recv_buffer_size(4 << 20);
                let port = sock.local_addr().unwrap().port();
                let remote: Option<SocketAddr> = if is_send || webrtc {
                    rest.first().and_then(|a| a.parse().ok())
                } else {
                    None
                };
                let ice = webrtc.then(|| IceRemote {
                    ufrag: rest[1].into(),
                    pwd: rest[2].into(),
                    fingerprint: rest[3].into(),
                });
                let id = if is_send {
                    senders.push(Sender {
                        sock: sock.try_clone().unwrap(),
                        target: remote.expect("target"),
                        ssrc: rest[if *kind == "srtp" { 1 } else { need - 1 }]
                            .parse()
                            .expect("ssrc"),
                        seq: 0,
                        srtp_out: srtp.take(),
                        endpoint: endpoints.len(),
                        simulcast: *kind == "simulcast",
                    });
                    senders.len() - 1
                } else {
                    receivers += 1;
                    receivers - 1
                };
                sock.set_nonblocking(true).unwrap();
                endpoints.push(Endpoint {
                    sock,
                    remote,
                    ice,
                    receiver: (!is_send).then_some(id),
                    srtp_in: srtp.take(),
                });
                say(&format!("ok {id} {port}"));
            }
            ["connect"] if shared.is_none() => {
                let mut failed = None;
                let mut profile = "none";
                let mut out_ctx: Vec<Option<SrtpContext>> = Vec::new();
                for ep in endpoints.iter_mut() {
                    if ep.ice.is_none() {
                        out_ctx.push(None);
                        continue;
                    }
                    match connect_webrtc(ep, &cert) {
                        Ok((out, inb)) => {
                            profile = out.profile().name();
                            ep.srtp_in = Some(inb);
                            out_ctx.push(Some(out));
                        }
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                if let Some(e) = failed {
                    say(&format!("error {e}"));
                    continue;
                }
                for s in senders.iter_mut() {
                    if let Some(ctx) = out_ctx[s.endpoint].take() {
                        s.srtp_out = Some(ctx);
                    }
                }
                let threads = endpoints.len().clamp(1, 2);
                let sh = Arc::new(Shared {
                    streams: senders.len(),
                    counts: (0..receivers * senders.len())
                        .map(|_| AtomicU64::new(0))
                        .collect(),
                    srtp_errors: AtomicU64::new(0),
                    run: AtomicU32::new(0),
                    latencies: (0..threads).map(|_| Mutex::default()).collect(),
                    stop: AtomicBool::new(false),
                });
                let mut groups: Vec<Vec<Endpoint>> = (0..threads).map(|_| Vec::new()).collect();
                for (i, ep) in endpoints.drain(..).enumerate() {
                    groups[i % threads].push(ep);
                }
                for (slot, g) in groups.into_iter().enumerate() {
                    let sh = sh.clone();
                    std::thread::spawn(move || receive_loop(g, sh, slot, start));
                }
                shared = Some(sh);
                say(&format!("ok {} {profile}", senders.len() + receivers));
            }
            ["go", rate, secs, size] if shared.is_some() => {
                let sh = shared.as_ref().unwrap();
                let (Ok(rate), Ok(secs), Ok(size)) = (
                    rate.parse::<f64>(),
                    secs.parse::<f64>(),
                    size.parse::<usize>(),
                ) else {
                    say("error expected: go RATE SECONDS SIZE");
                    continue;
                };
                say(&run(
                    sh,
                    &mut senders,
                    receivers,
                    rate,
                    secs,
                    size.max(PAYLOAD_HEADER),
                    start,
                ));
            }
            _ => say(&format!("error bad command: {line}")),
        }
    }
    if let Some(sh) = shared {
        sh.stop.store(true, Ordering::Relaxed);
    }
}

fn run(
    sh: &Shared,
    senders: &mut [Sender],
    receivers: usize,
    rate: f64,
    secs: f64,
    size: usize,
    start: Instant,
) -> String {
    // A new run number first: from here on, stragglers of the last run are not counted.
    let run = sh.run.fetch_add(1, Ordering::Relaxed) + 1;
    for c in &sh.counts {
        c.store(0, Ordering::Relaxed);
    }
    sh.srtp_errors.store(0, Ordering::Relaxed);
    for l in &sh.latencies {
        l.lock().unwrap().clear();
    }
    let mut pkt: Vec<u8> = Vec::with_capacity(12 + size + 32);
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
        for (s, snd) in senders.iter_mut().enumerate() {
            let layers = if snd.simulcast { 3 } else { 1 };
            for layer in 0..layers {
                pkt.clear();
                pkt.extend_from_slice(&[0x80, 96]);
                pkt.extend_from_slice(&(snd.seq as u16).to_be_bytes());
                pkt.extend_from_slice(&snd.seq.wrapping_mul(960).to_be_bytes());
                pkt.extend_from_slice(&(snd.ssrc + layer).to_be_bytes());
                if snd.simulcast {
                    let pid = (snd.seq as u16 & 0x7fff) | 0x8000;
                    pkt.extend_from_slice(&[0x90, 0x80]);
                    pkt.extend_from_slice(&pid.to_be_bytes());
                }
                pkt.extend_from_slice(&snd.seq.to_be_bytes());
                pkt.extend_from_slice(&(start.elapsed().as_micros() as u64).to_be_bytes());
                pkt.extend_from_slice(&(s as u32).to_be_bytes());
                pkt.extend_from_slice(&run.to_be_bytes());
                pkt.resize(12 + size, 0);
                if let Some(ctx) = snd.srtp_out.as_mut() {
                    if ctx.protect_rtp(&mut pkt).is_err() {
                        continue;
                    }
                }
                let _ = snd.sock.send_to(&pkt, snd.target);
            }
            snd.seq = snd.seq.wrapping_add(1);
        }
    }
    let send_secs = t0.elapsed().as_secs_f64();
    let gen_cpu = thread_cpu_us() - cpu0;
    // Let what is still in flight arrive before counting.
    std::thread::sleep(Duration::from_millis(200));
    let mut lat: Vec<u32> = Vec::new();
    for l in &sh.latencies {
        lat.append(&mut l.lock().unwrap());
    }
    lat.sort_unstable();
    let pct = |p: f64| {
        if lat.is_empty() {
            0
        } else {
            lat[((lat.len() - 1) as f64 * p) as usize]
        }
    };
    let rows: Vec<String> = (0..receivers)
        .map(|r| {
            let row: Vec<String> = (0..sh.streams)
                .map(|s| {
                    sh.counts[r * sh.streams + s]
                        .load(Ordering::Relaxed)
                        .to_string()
                })
                .collect();
            format!("[{}]", row.join(","))
        })
        .collect();
    format!(
        "{{\"sent\":{total},\"sendSeconds\":{send_secs:.3},\"generatorCpuUs\":{gen_cpu},\"received\":[{}],\"srtpErrors\":{},\"p50us\":{},\"p99us\":{}}}",
        rows.join(","),
        sh.srtp_errors.load(Ordering::Relaxed),
        pct(0.5),
        pct(0.99)
    )
}

fn relay(outputs: usize, batched: bool, own_sockets: bool) {
    let input = UdpSocket::bind("127.0.0.1:0").unwrap();
    let _ = socket2::SockRef::from(&input).set_recv_buffer_size(4 << 20);
    say(&format!("port {}", input.local_addr().unwrap().port()));
    let Some(cmd) = read_line() else { return };
    let dests: Vec<SocketAddr> = cmd
        .trim_start_matches("go ")
        .split(',')
        .filter_map(|a| a.parse().ok())
        .collect();
    assert_eq!(dests.len(), outputs, "expected {outputs} destinations");
    let out = UdpSocket::bind("127.0.0.1:0").unwrap();
    let outs: Vec<UdpSocket> = (0..if own_sockets { outputs } else { 0 })
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    input
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    // `stats` answers from what the forwarding thread last published; stop when stdin closes.
    let stop = Arc::new(AtomicBool::new(false));
    let forwarded = Arc::new(AtomicU64::new(0));
    let cpu_us = Arc::new(AtomicU64::new(0));
    {
        let (stop, forwarded, cpu_us) = (stop.clone(), forwarded.clone(), cpu_us.clone());
        std::thread::spawn(move || {
            while let Some(l) = read_line() {
                if l == "stats" {
                    say(&format!(
                        "{{\"forwarded\":{},\"cpuUs\":{}}}",
                        forwarded.load(Ordering::Relaxed),
                        cpu_us.load(Ordering::Relaxed)
                    ));
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
    }
    let cpu0 = thread_cpu_us();
    let mut count: u64 = 0;
    let mut buf = [0u8; 2048];
    // Per-copy headers for the batched relay: each copy gets its own 12-byte header.
    let mut headers = vec![[0u8; 12]; outputs];
    let addrs: Vec<libc::sockaddr_in> = dests
        .iter()
        .map(|d| {
            let SocketAddr::V4(v4) = d else {
                panic!("IPv4 only")
            };
            libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
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
        iovs.push(libc::iovec {
            iov_base: h.as_ptr() as *mut _,
            iov_len: 12,
        });
        iovs.push(libc::iovec {
            iov_base: buf[12..].as_ptr() as *mut _,
            iov_len: 0,
        });
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
    let publish = |count: u64| {
        forwarded.store(count, Ordering::Relaxed);
        cpu_us.store(thread_cpu_us() - cpu0, Ordering::Relaxed);
    };
    while !stop.load(Ordering::Relaxed) {
        let Ok(n) = input.recv(&mut buf) else {
            publish(count);
            continue;
        };
        if n < 12 {
            continue;
        }
        if batched {
            for (i, h) in headers.iter_mut().enumerate() {
                h[..8].copy_from_slice(&buf[..8]);
                iovs[i * 2 + 1].iov_len = n - 12;
            }
            // SAFETY: msgs point into iovs, headers, buf and addrs, which all outlive the call.
            let sent =
                unsafe { libc::sendmmsg(out.as_raw_fd(), msgs.as_mut_ptr(), outputs as u32, 0) };
            if sent > 0 {
                count += sent as u64;
            }
        } else {
            for (i, d) in dests.iter().enumerate() {
                buf[8..12].copy_from_slice(&(1000 + i as u32).to_be_bytes());
                let socket = outs.get(i).unwrap_or(&out);
                if socket.send_to(&buf[..n], d).is_ok() {
                    count += 1;
                }
            }
        }
        if count & 63 < outputs as u64 {
            publish(count);
        }
    }
}

fn srtp_alone(profile: &str, size: usize) {
    let profile = SrtpProfile::from_name(profile).expect("SRTP profile name");
    let key: Vec<u8> = (0..profile.key_len() + profile.salt_len())
        .map(|i| i as u8 * 7 + 1)
        .collect();
    let mut enc = SrtpContext::new(profile, &key, true).unwrap();
    let mut dec = SrtpContext::new(profile, &key, false).unwrap();
    let mut pkt: Vec<u8> = Vec::with_capacity(12 + size + 32);
    let count = 200_000u32;
    let cpu0 = thread_cpu_us();
    for seq in 0..count {
        pkt.clear();
        pkt.extend_from_slice(&[0x80, 96]);
        pkt.extend_from_slice(&(seq as u16).to_be_bytes());
        pkt.extend_from_slice(&seq.wrapping_mul(960).to_be_bytes());
        pkt.extend_from_slice(&1234u32.to_be_bytes());
        pkt.resize(12 + size, seq as u8);
        enc.protect_rtp(&mut pkt).unwrap();
        let n = dec.unprotect_rtp(&mut pkt).unwrap();
        assert_eq!(n, 12 + size);
    }
    let us = (thread_cpu_us() - cpu0) as f64 / count as f64;
    say(&format!(
        "{{\"profile\":\"{}\",\"usPerPacket\":{us:.3}}}",
        profile.name()
    ));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    match args.get(1).map(String::as_str) {
        Some("session") => session(),
        Some("srtp") => srtp_alone(
            &arg("--profile").unwrap_or_else(|| "AEAD_AES_256_GCM".into()),
            arg("--size").and_then(|v| v.parse().ok()).unwrap_or(1000),
        ),
        Some("relay") => relay(
            arg("--outputs").and_then(|v| v.parse().ok()).unwrap_or(1),
            arg("--batched").as_deref() == Some("1"),
            arg("--batched").as_deref() == Some("sockets"),
        ),
        _ => {
            eprintln!("usage: peerwave-loadgen session | srtp --profile P --size S | relay --outputs K --batched 0|1|sockets");
            std::process::exit(2);
        }
    }
}
