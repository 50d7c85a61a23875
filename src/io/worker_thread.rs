//! One OS thread per worker: a mio event loop owning the worker's sockets, its clock and its
//! `core::worker::Engine`. Requests arrive over a channel with a waker; everything the engine
//! says goes back through one ordered callback as JSON lines. A panic anywhere in the loop is
//! caught here: the worker reports 'died' and its thread ends, the process goes on.
//!
//! Consecutive datagrams for one socket are batched: for UDP — the copies of a packet fanned
//! out through a WebRtcServer's shared socket — they leave in one `sendmmsg` (nix's safe
//! wrapper); a lone datagram goes with `send_to` (or `send` on a connected socket).

use crate::core::dtls::DtlsCertificate;
use crate::core::message::{Output, Request};
use crate::core::worker::Engine;
use crate::io::sockets::{self, Sock, TcpConn};
use mio::{Events, Interest, Poll, Token, Waker};
use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use rustc_hash::FxHashMap as HashMap;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

const WAKER: Token = Token(0);

/// Free pages go back to the system once the engine has freed this much in bulk (DTLS
/// connections released after their handshakes), at most every `TRIM_EVERY`.
const TRIM_AFTER: usize = 1 << 20;
const TRIM_EVERY: Duration = Duration::from_secs(1);

/// Returns whole free pages inside the heap to the system. glibc keeps freed memory in its
/// arenas and gives back only the top of each heap on its own: the ~70 KiB each released DTLS
/// connection frees lies between live allocations, so RSS would never show it (measured:
/// `bench/run.js --memory-breakdown`, see bench/RESULTS.md).
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions: it takes a padding size and walks glibc's own
    // arenas under their locks; it frees nothing that is in use.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

/// How long a requester spins on its answer before it yields the CPU between looks.
const SPIN_BEFORE_YIELD: Duration = Duration::from_micros(30);

/// How long the loop keeps polling without sleeping after a request.
const HOT: Duration = Duration::from_micros(500);

/// Most datagrams one `sendmmsg` carries (Linux takes up to 1024; 64 covers a large room).
const MMSG_MAX: usize = 64;

/// One message from the worker to JS: a JSON line, the binary payload some carry, and the
/// request id when it is a response (0 otherwise).
pub struct OutMsg {
    pub text: String,
    pub payload: Option<Vec<u8>>,
    pub response: u32,
}

/// What the worker says, in order, until JS takes it. The worker rings JS's doorbell (a
/// threadsafe function call) only when the queue goes from taken to not, so a burst of
/// notifications costs one wake-up of Node's loop; and a request whose answer comes within a
/// few microseconds is answered synchronously out of this same queue (`WorkerHandle::answer`),
/// which keeps the one order: whatever the worker said before a response is handed over with it.
#[derive(Default)]
pub struct Outbox {
    queue: Mutex<VecDeque<OutMsg>>,
    /// A doorbell call is pending (set by the worker when it rings, cleared by `take_all`).
    rung: AtomicBool,
    /// The id of the last response pushed, for a requester spinning on its answer.
    answered: AtomicU32,
    /// The request whose requester is spinning on its answer (0: none): its response rings no
    /// doorbell. A ring is a threadsafe-function call whose eventfd write wakes Node's thread:
    /// ~60 µs on this VM, paid by the worker before the answer is seen, then by Node for an
    /// empty drain.
    waiting: AtomicU32,
}

impl Outbox {
    /// Everything queued (the doorbell's call).
    pub fn take_all(&self) -> Vec<OutMsg> {
        self.rung.store(false, Ordering::SeqCst);
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.drain(..).collect()
    }

    /// The messages up to and including the response to `id`, if it is queued. What follows it
    /// stays for the doorbell, which is pending: every push onto a queue JS has not taken since
    /// `take_all` rang it.
    fn take_through(&self, id: u32) -> Option<Vec<OutMsg>> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let at = q.iter().position(|m| m.response == id)?;
        Some(q.drain(..=at).collect())
    }
}

/// Where the worker's messages go: the shared outbox, and the doorbell that tells JS to take
/// them (the binding wraps a threadsafe JS function in it; dropping it when the thread ends lets
/// Node exit).
pub struct Emit {
    outbox: Arc<Outbox>,
    bell: Box<dyn FnMut() + Send>,
}

impl Emit {
    pub fn new(outbox: Arc<Outbox>, bell: Box<dyn FnMut() + Send>) -> Self {
        Self { outbox, bell }
    }
    fn push(&mut self, text: String, payload: Option<Vec<u8>>, response: u32) {
        self.outbox
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(OutMsg {
                text,
                payload,
                response,
            });
        if response != 0 {
            self.outbox.answered.store(response, Ordering::SeqCst);
            // Checked after the push: a requester that stopped waiting has cleared `waiting`
            // before its last look at the queue, so either it takes this or the bell rings.
            if self.outbox.waiting.load(Ordering::SeqCst) == response {
                return;
            }
        }
        if !self.outbox.rung.swap(true, Ordering::SeqCst) {
            (self.bell)()
        }
    }
    /// A JSON message.
    pub fn text(&mut self, msg: String) {
        self.push(msg, None, 0)
    }
    /// The response to request `id`.
    pub fn response(&mut self, id: u32, msg: String) {
        self.push(msg, None, id)
    }
    /// A JSON message with a binary payload (RTP/RTCP of a DirectTransport).
    pub fn binary(&mut self, msg: String, payload: Vec<u8>) {
        self.push(msg, Some(payload), 0)
    }
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub rtc_min_port: u16,
    pub rtc_max_port: u16,
    pub dtls_certificate_file: Option<String>,
    pub dtls_private_key_file: Option<String>,
    pub allow_crash_for_testing: bool,
}

pub enum Command {
    Request(Request),
    Close,
}

pub struct WorkerHandle {
    tx: Sender<Command>,
    waker: Arc<Waker>,
    /// The thread is (about to be) blocked in `epoll_wait`: a command must wake it. While it
    /// runs, or spins after a request (`HOT`), it finds commands on its own and the eventfd
    /// write — a cross-CPU wake-up costing ~20 µs on this VM — is skipped.
    asleep: Arc<AtomicBool>,
    outbox: Arc<Outbox>,
    thread: Option<JoinHandle<()>>,
}

impl WorkerHandle {
    pub fn send(&self, c: Command) -> bool {
        if self.tx.send(c).is_err() {
            return false;
        }
        // Pairs with the thread's fence between setting `asleep` and its last look at the queue.
        fence(Ordering::SeqCst);
        !self.asleep.load(Ordering::SeqCst) || self.waker.wake().is_ok()
    }

    /// Waits up to `within` (spinning) for the response to request `id`; with it, returns the
    /// messages queued up to and including it. None: not yet (it comes through the doorbell).
    pub fn answer(&self, id: u32, within: Duration) -> Option<Vec<OutMsg>> {
        let start = Instant::now();
        self.outbox.waiting.store(id, Ordering::SeqCst);
        loop {
            if self.outbox.answered.load(Ordering::SeqCst) == id || start.elapsed() >= within {
                break;
            }
            // Spin briefly, then yield: a worker thread the scheduler queued on this CPU (a new
            // worker's, or one woken by this request) must not wait behind the spinning.
            if start.elapsed() < SPIN_BEFORE_YIELD {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        // From here the worker rings for it; what it pushed already is taken now (it may also
        // have come and been overtaken by another response in `answered`).
        self.outbox.waiting.store(0, Ordering::SeqCst);
        self.outbox.take_through(id)
    }

    /// Asks the thread to stop and waits for it (it stops within one loop iteration).
    pub fn close(&mut self) {
        let _ = self.send(Command::Close);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.close();
    }
}

/// The certificate of the workers given none: generated once per process and shared (a key
/// pair, a signature and two OpenSSL contexts took 0.5–1.3 ms, most of `createWorker()`).
/// mediasoup makes one per worker process; workers here are threads of one process.
fn generated_certificate() -> Result<DtlsCertificate, String> {
    static CERT: OnceLock<Result<DtlsCertificate, String>> = OnceLock::new();
    CERT.get_or_init(DtlsCertificate::generate).clone()
}

/// Loads or generates the certificate, then starts the worker thread.
pub fn spawn(
    settings: WorkerSettings,
    outbox: Arc<Outbox>,
    mut emit: Emit,
) -> Result<WorkerHandle, String> {
    let cert = match (
        &settings.dtls_certificate_file,
        &settings.dtls_private_key_file,
    ) {
        (Some(c), Some(k)) => {
            let cp = std::fs::read(c)
                .map_err(|e| format!("cannot read dtlsCertificateFile '{c}': {e}"))?;
            let kp = std::fs::read(k)
                .map_err(|e| format!("cannot read dtlsPrivateKeyFile '{k}': {e}"))?;
            DtlsCertificate::from_pem(&cp, &kp)?
        }
        _ => generated_certificate()?,
    };
    let poll = Poll::new().map_err(|e| e.to_string())?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(|e| e.to_string())?);
    let (tx, rx) = channel();
    let asleep = Arc::new(AtomicBool::new(false));
    let thread_asleep = asleep.clone();
    let thread = std::thread::Builder::new()
        .name("peerwave-worker".into())
        .spawn(move || {
            let mut seed = [0u8; 8];
            let _ = openssl::rand::rand_bytes(&mut seed);
            let mut engine = Engine::new(
                Instant::now(),
                SystemTime::now(),
                cert,
                u64::from_le_bytes(seed),
            );
            engine.ctx.open_sink = Some(crate::io::files::open);
            let mut lp = Loop {
                poll,
                rx,
                early: VecDeque::new(),
                asleep: thread_asleep,
                hot_until: None,
                last_trim: Instant::now(),
                engine,
                socks: HashMap::default(),
                next_token: 1,
                settings,
                rbuf: vec![0u8; 65536],
                frame: Vec::new(),
                batch: Vec::with_capacity(MMSG_MAX),
                batch_socket: None,
                mmsg: MultiHeaders::preallocate(MMSG_MAX, None),
                mmsg_addrs: Vec::with_capacity(MMSG_MAX),
            };
            emit.text(json!({ "t": "running" }).to_string());
            let result = catch_unwind(AssertUnwindSafe(|| lp.run(&mut emit)));
            match result {
                Ok(()) => emit.text(json!({ "t": "closed" }).to_string()),
                Err(panic) => {
                    let reason = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    // Sockets are dropped with the loop; the thread ends here.
                    drop(lp);
                    emit.text(json!({ "t": "died", "reason": reason }).to_string());
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(WorkerHandle {
        tx,
        waker,
        asleep,
        outbox,
        thread: Some(thread),
    })
}

struct Loop {
    poll: Poll,
    rx: Receiver<Command>,
    /// Commands found by the last look before sleeping.
    early: VecDeque<Command>,
    asleep: Arc<AtomicBool>,
    /// After a request the loop polls without blocking until then: the next request of a burst
    /// (a join: transport, connect, produce, consume…) usually follows within tens of µs.
    hot_until: Option<Instant>,
    last_trim: Instant,
    engine: Engine,
    socks: HashMap<u32, Sock>,
    next_token: u32,
    settings: WorkerSettings,
    rbuf: Vec<u8>,
    frame: Vec<u8>,
    /// Datagrams waiting for `flush`, all for the UDP socket `batch_socket`.
    batch: Vec<(SocketAddr, Vec<u8>)>,
    batch_socket: Option<u32>,
    mmsg: MultiHeaders<SockaddrStorage>,
    mmsg_addrs: Vec<Option<SockaddrStorage>>,
}

fn res_ok(id: u32, data: Value) -> String {
    json!({ "t": "res", "id": id, "ok": true, "data": data }).to_string()
}

fn res_err(id: u32, error: &str, reason: &str) -> String {
    json!({ "t": "res", "id": id, "ok": false, "error": error, "reason": reason }).to_string()
}

fn thread_rusage() -> Value {
    match nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_THREAD) {
        Ok(u) => {
            let ms = |t: nix::sys::time::TimeVal| {
                t.tv_sec() as f64 * 1000.0 + t.tv_usec() as f64 / 1000.0
            };
            json!({
                "ru_utime": ms(u.user_time()),
                "ru_stime": ms(u.system_time()),
                "ru_maxrss": u.max_rss(),
                "ru_ixrss": u.shared_integral(),
                "ru_idrss": u.unshared_data_integral(),
                "ru_isrss": u.unshared_stack_integral(),
                "ru_minflt": u.minor_page_faults(),
                "ru_majflt": u.major_page_faults(),
                "ru_nswap": u.full_swaps(),
                "ru_inblock": u.block_reads(),
                "ru_oublock": u.block_writes(),
                "ru_msgsnd": u.ipc_sends(),
                "ru_msgrcv": u.ipc_receives(),
                "ru_nsignals": u.signals(),
                "ru_nvcsw": u.voluntary_context_switches(),
                "ru_nivcsw": u.involuntary_context_switches(),
            })
        }
        Err(_) => json!({}),
    }
}

impl Loop {
    fn run(&mut self, emit: &mut Emit) {
        let mut events = Events::with_capacity(256);
        loop {
            let now = Instant::now();
            let deadline = self.engine.poll_timeout();
            let mut timeout = deadline
                .saturating_duration_since(now)
                .max(Duration::from_micros(100));
            if self.hot_until.is_some_and(|t| now < t) {
                timeout = Duration::ZERO;
            } else {
                self.hot_until = None;
                self.asleep.store(true, Ordering::SeqCst);
                // A command queued before the store above rang no bell: look once more.
                fence(Ordering::SeqCst);
                self.early.extend(self.rx.try_iter());
                if !self.early.is_empty() {
                    timeout = Duration::ZERO;
                }
            }
            let polled = self.poll.poll(&mut events, Some(timeout));
            self.asleep.store(false, Ordering::SeqCst);
            if let Err(e) = polled {
                if e.kind() != ErrorKind::Interrupted {
                    panic!("poll failed: {e}");
                }
            }
            for ev in events.iter() {
                if ev.token() == WAKER {
                    continue;
                }
                let id = ev.token().0 as u32;
                self.on_socket(id, ev.is_writable(), emit);
            }
            // Commands after socket input, so a response never passes data that came first.
            loop {
                let next = match self.early.pop_front() {
                    Some(c) => Ok(c),
                    None => self.rx.try_recv(),
                };
                match next {
                    Ok(Command::Request(r)) => {
                        self.on_request(r, emit);
                        self.hot_until = Some(Instant::now() + HOT);
                    }
                    Ok(Command::Close) | Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                        // Recordings are finalised before the thread ends.
                        self.engine.shutdown(Instant::now());
                        return;
                    }
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                }
            }
            self.engine.handle_timeout(Instant::now());
            if self.engine.ctx.freed_bytes >= TRIM_AFTER && self.last_trim.elapsed() >= TRIM_EVERY {
                self.engine.ctx.freed_bytes = 0;
                self.last_trim = Instant::now();
                trim_heap();
            }
            self.drain(emit);
        }
    }

    fn register(&mut self, mut sock: Sock) -> io::Result<u32> {
        let id = self.next_token;
        self.next_token += 1;
        let token = Token(id as usize);
        let reg = self.poll.registry();
        match &mut sock {
            Sock::Udp(u) => reg.register(&mut u.socket, token, Interest::READABLE)?,
            Sock::Listener(s) => reg.register(s, token, Interest::READABLE)?,
            Sock::Conn(c) => reg.register(&mut c.stream, token, Interest::READABLE)?,
        }
        self.socks.insert(id, sock);
        Ok(id)
    }

    fn close_socket(&mut self, id: u32) {
        if let Some(mut s) = self.socks.remove(&id) {
            let reg = self.poll.registry();
            let _ = match &mut s {
                Sock::Udp(u) => reg.deregister(&mut u.socket),
                Sock::Listener(s) => reg.deregister(s),
                Sock::Conn(c) => reg.deregister(&mut c.stream),
            };
        }
        // Connections accepted on a closed listener go with it.
        let children: Vec<u32> = self
            .socks
            .iter()
            .filter_map(|(k, s)| matches!(s, Sock::Conn(c) if c.listener == id).then_some(*k))
            .collect();
        for c in children {
            self.close_socket(c);
        }
    }

    /// Reads a UDP socket until it would block, sending what each batch of `UDP_BATCH`
    /// datagrams produced before reading the next: a backlog (after a stall, or under
    /// overload) then never holds more than a batch's copies in memory, and the buffers of
    /// sent copies return to the engine's pool before the next batch needs them.
    fn on_udp(&mut self, id: u32, emit: &mut Emit) {
        const UDP_BATCH: usize = 32;
        loop {
            let now = Instant::now();
            let Some(Sock::Udp(u)) = self.socks.get_mut(&id) else {
                return;
            };
            let mut more = true;
            let mut read = 0;
            while read < UDP_BATCH {
                match u.socket.recv_from(&mut self.rbuf) {
                    Ok((n, from)) => {
                        read += 1;
                        self.engine
                            .handle_datagram(now, id, normalize(from), &mut self.rbuf[..n]);
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        more = false;
                        break;
                    }
                    // ICMP errors (a connected socket's peer refused a datagram) surface on a
                    // read: ignored, and counted against the batch so reading goes on.
                    Err(_) => read += 1,
                }
            }
            self.drain(emit);
            if !more {
                return;
            }
        }
    }

    fn on_socket(&mut self, id: u32, writable: bool, emit: &mut Emit) {
        if matches!(self.socks.get(&id), Some(Sock::Udp(..))) {
            return self.on_udp(id, emit);
        }
        let now = Instant::now();
        let mut accepted = Vec::new();
        let mut closed = None;
        match self.socks.get_mut(&id) {
            Some(Sock::Udp(..)) => {}
            Some(Sock::Listener(l)) => loop {
                match l.accept() {
                    Ok((stream, peer)) => accepted.push((stream, peer)),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            },
            Some(Sock::Conn(c)) => {
                if writable && !c.wbuf.is_empty() {
                    match c.stream.write(&c.wbuf) {
                        Ok(n) => {
                            c.wbuf.drain(..n);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(_) => closed = Some(c.listener),
                    }
                }
                loop {
                    match c.stream.read(&mut self.rbuf) {
                        Ok(0) => {
                            closed = Some(c.listener);
                            break;
                        }
                        Ok(n) => {
                            c.rbuf.extend_from_slice(&self.rbuf[..n]);
                            while c.next_frame(&mut self.frame) {
                                self.engine.handle_datagram(
                                    now,
                                    id,
                                    normalize(c.peer),
                                    &mut self.frame,
                                );
                            }
                            // A peer announcing frames larger than any packet is not ICE-TCP.
                            if c.rbuf.len() > 70_000 {
                                closed = Some(c.listener);
                                break;
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(_) => {
                            closed = Some(c.listener);
                            break;
                        }
                    }
                }
            }
            None => {}
        }
        for (stream, peer) in accepted {
            let _ = stream.set_nodelay(true);
            let conn = TcpConn {
                stream,
                listener: id,
                peer,
                rbuf: Vec::new(),
                wbuf: Vec::new(),
            };
            if let Ok(cid) = self.register(Sock::Conn(Box::new(conn))) {
                self.engine.handle_tcp_accepted(id, cid);
            }
        }
        if let Some(listener) = closed {
            self.close_socket(id);
            self.engine.handle_tcp_closed(now, listener, id);
        }
        self.drain(emit);
    }

    fn on_request(&mut self, mut r: Request, emit: &mut Emit) {
        match r.method.as_str() {
            "worker.getResourceUsage" => return emit.response(r.id, res_ok(r.id, thread_rusage())),

            "worker.crashForTesting" => {
                if self.settings.allow_crash_for_testing {
                    panic!("crash requested for testing");
                }
                return emit.response(
                    r.id,
                    res_err(
                        r.id,
                        "Error",
                        "crashForTesting is disabled (set PEERWAVE_SFU_ALLOW_CRASH=1)",
                    ),
                );
            }
            "router.createWebRtcTransport"
            | "router.createPlainTransport"
            | "router.createPipeTransport"
            | "worker.createWebRtcServer" => {
                match self.bind_for(&r.data, r.method == "router.createPlainTransport") {
                    Ok(list) => r.data["_sockets"] = Value::Array(list),
                    Err(reason) => {
                        // Bad listen info is the caller's mistake; a busy port range is not.
                        let kind = if reason.starts_with("wrong") || reason.starts_with("missing") {
                            "TypeError"
                        } else {
                            "Error"
                        };
                        return emit.response(r.id, res_err(r.id, kind, &reason));
                    }
                }
            }
            _ => {}
        }
        self.engine.handle_request(Instant::now(), r);
        self.drain(emit);
    }

    /// Binds every socket a transport asks for, returning their descriptions for the engine.
    fn bind_for(&mut self, d: &Value, plain: bool) -> Result<Vec<Value>, String> {
        let range = (self.settings.rtc_min_port, self.settings.rtc_max_port);
        let mut infos: Vec<Value> = d["listenInfos"].as_array().cloned().unwrap_or_default();
        if plain && !d["rtcpMux"].as_bool().unwrap_or(true) {
            let mut rtcp = d["rtcpListenInfo"].clone();
            if rtcp.is_null() {
                rtcp = infos.first().cloned().unwrap_or(Value::Null);
                rtcp["port"] = json!(0);
            }
            infos.push(rtcp);
        }
        let mut out = Vec::new();
        let mut ids = Vec::new();
        for info in &infos {
            let mut seed = [0u8; 4];
            let _ = openssl::rand::rand_bytes(&mut seed);
            let b = match sockets::bind(info, range, u32::from_le_bytes(seed)) {
                Ok(b) => b,
                Err(e) => {
                    for id in ids {
                        self.close_socket(id);
                    }
                    return Err(e);
                }
            };
            let (protocol, ip, port, announced) =
                (b.protocol, b.ip.clone(), b.port, b.announced.clone());
            let id = self.register(b.sock).map_err(|e| e.to_string())?;
            ids.push(id);
            out.push(json!({ "socketId": id, "protocol": protocol, "ip": ip, "port": port, "announcedAddress": announced }));
        }
        Ok(out)
    }

    fn drain(&mut self, emit: &mut Emit) {
        while let Some(o) = self.engine.poll_output() {
            match o {
                Output::Transmit { socket, to, data } => {
                    if self.batch_socket != Some(socket) || self.batch.len() == MMSG_MAX {
                        self.flush();
                    }
                    self.batch_socket = Some(socket);
                    self.batch.push((to, data));
                }
                Output::Response { id, result } => emit.response(
                    id,
                    match result {
                        Ok(v) => res_ok(id, v),
                        Err(e) => res_err(id, e.kind.as_str(), &e.reason),
                    },
                ),
                Output::Notification {
                    target,
                    event,
                    data,
                } => emit.text(
                    json!({ "t": "ntf", "target": target, "event": event, "data": data })
                        .to_string(),
                ),
                Output::Binary {
                    target,
                    event,
                    data,
                    ppid,
                } => emit.binary(
                    json!({ "t": "bin", "target": target, "event": event, "ppid": ppid })
                        .to_string(),
                    data,
                ),
                Output::CloseSocket(id) => {
                    self.flush();
                    self.close_socket(id)
                }
                Output::ConnectSocket { socket, to } => {
                    self.flush();
                    if let Some(Sock::Udp(u)) = self.socks.get_mut(&socket) {
                        u.connect(to);
                    }
                }
                Output::Log {
                    level,
                    tag,
                    message,
                } => emit.text(
                    json!({ "t": "log", "level": level, "tag": tag, "message": message })
                        .to_string(),
                ),
            }
        }
        self.flush();
    }

    /// Sends the batched datagrams, all for one socket: one `sendmmsg` when there are several
    /// for a UDP socket. Each one the kernel refuses (a full socket buffer, an unreachable
    /// peer) is dropped, as a congested network would, and the rest still go.
    fn flush(&mut self) {
        let Some(socket) = self.batch_socket.take() else {
            return;
        };
        match self.socks.get(&socket) {
            Some(Sock::Udp(u)) if self.batch.len() > 1 => {
                self.mmsg_addrs.clear();
                for (to, _) in &self.batch {
                    self.mmsg_addrs.push(u.dest(*to).map(SockaddrStorage::from));
                }
                let mut iovs = [[IoSlice::new(&[])]; MMSG_MAX];
                for (iov, (_, data)) in iovs.iter_mut().zip(&self.batch) {
                    *iov = [IoSlice::new(data)];
                }
                let n = self.batch.len();
                let mut off = 0;
                while off < n {
                    let r = sendmmsg(
                        u.socket.as_raw_fd(),
                        &mut self.mmsg,
                        iovs[off..n].iter(),
                        &self.mmsg_addrs[off..n],
                        [],
                        MsgFlags::empty(),
                    );
                    match r {
                        Ok(sent) => off += sent.count().max(1),
                        Err(nix::errno::Errno::EINTR) => {}
                        Err(_) => off += 1,
                    }
                }
            }
            Some(Sock::Udp(u)) => {
                for (to, data) in &self.batch {
                    u.send(data, *to);
                }
            }
            _ => {
                let batch = std::mem::take(&mut self.batch);
                for (to, data) in &batch {
                    self.send(socket, *to, data);
                }
                self.batch = batch;
            }
        }
        for (_, data) in self.batch.drain(..) {
            self.engine.recycle(data);
        }
    }

    fn send(&mut self, socket: u32, to: SocketAddr, data: &[u8]) {
        match self.socks.get_mut(&socket) {
            Some(Sock::Udp(u)) => u.send(data, to),
            Some(Sock::Conn(c)) => {
                if data.len() > u16::MAX as usize {
                    return;
                }
                let was_empty = c.wbuf.is_empty();
                c.wbuf.extend_from_slice(&(data.len() as u16).to_be_bytes());
                c.wbuf.extend_from_slice(data);
                if was_empty {
                    match c.stream.write(&c.wbuf) {
                        Ok(n) => {
                            c.wbuf.drain(..n);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(_) => c.wbuf.clear(),
                    }
                }
                if !c.wbuf.is_empty() {
                    let _ = self.poll.registry().reregister(
                        &mut c.stream,
                        Token(socket as usize),
                        Interest::READABLE | Interest::WRITABLE,
                    );
                    // Bound the backlog of a stalled TCP peer.
                    if c.wbuf.len() > 4 << 20 {
                        c.wbuf.clear();
                    }
                }
            }
            _ => {}
        }
    }
}

/// Maps IPv4-mapped IPv6 addresses back to IPv4 so tuples compare and print as users expect.
fn normalize(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => a,
        },
        _ => a,
    }
}
