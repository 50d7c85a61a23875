//! The context every class module works with: the clock of the moment, the output queue, the
//! buffer pool, the engine's own randomness, logging, notifications, traces and drop counters.
//!
//! It sits at the lowest floor of the core: the class modules (transports, producers,
//! consumers, data, observers) and the router receive a `&mut Ctx` and never the engine, so
//! none of them imports `worker.rs` and none reaches another object through it. It owns no
//! object of the graph, and nothing here may look objects up.

use crate::core::log::{LogFilter, LogLevel};
use crate::core::message::{CoreError, Output};
use crate::core::recorder::OpenSink;
use serde_json::Value;
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Seconds between 1900 (NTP epoch) and 1970 (Unix epoch).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Buffers kept for reuse: one read batch of the io loop fanned out to a large room
/// (32 × 32 copies); beyond that a buffer is freed rather than kept.
const POOL_MAX: usize = 1024;

/// The result of a request handler: the response body, or an error for the facade.
pub type Res = Result<Value, CoreError>;

/// Counters of what the engine dropped, by reason.
#[derive(Debug, Default)]
pub struct Drops {
    pub unknown_socket: u64,
    pub malformed: u64,
    pub srtp: u64,
    pub no_producer: u64,
}

pub struct Ctx {
    /// The time of the input being handled.
    pub now: Instant,
    /// `now` when the engine started, and the Unix time at that moment.
    pub anchor: Instant,
    anchor_unix: Duration,
    pub outputs: VecDeque<Output>,
    pool: Vec<Vec<u8>>,
    rng: u64,
    pub drops: Drops,
    /// Heap memory freed in bulk since the io layer last returned free pages to the system
    /// (an estimate: released DTLS connections).
    pub freed_bytes: usize,
    pub log_filter: LogFilter,
    /// Opens recording files (the io layer's; None where the engine has no file system).
    pub open_sink: Option<OpenSink>,
}

impl Ctx {
    pub fn new(now: Instant, unix_now: SystemTime, seed: u64) -> Self {
        Self {
            now,
            anchor: now,
            anchor_unix: unix_now.duration_since(UNIX_EPOCH).unwrap_or_default(),
            outputs: VecDeque::new(),
            pool: Vec::new(),
            rng: seed | 1,
            drops: Drops::default(),
            freed_bytes: 0,
            log_filter: LogFilter::default(),
            open_sink: None,
        }
    }

    /// xorshift64*: only for SSRCs of our own RTCP, never for secrets.
    pub fn random_u32(&mut self) -> u32 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }

    /// Unix time of `at`, in milliseconds.
    pub fn unix_ms_at(&self, at: Instant) -> u64 {
        (self.anchor_unix + at.duration_since(self.anchor)).as_millis() as u64
    }

    /// Wall-clock time of `at` on the NTP scale, in milliseconds (sender reports' clock).
    pub fn ntp_ms_at(&self, at: Instant) -> f64 {
        let t = self.anchor_unix + at.saturating_duration_since(self.anchor);
        (t.as_secs_f64() + NTP_UNIX_OFFSET as f64) * 1000.0
    }

    pub fn unix_ms(&self) -> u64 {
        self.unix_ms_at(self.now)
    }

    /// NTP time of now (RFC 3550 sender reports), 32.32 fixed point.
    pub fn ntp(&self) -> u64 {
        let t = self.anchor_unix + self.now.duration_since(self.anchor);
        let secs = t.as_secs() + NTP_UNIX_OFFSET;
        let frac = ((t.subsec_nanos() as u64) << 32) / 1_000_000_000;
        (secs << 32) | frac
    }

    /// abs-send-time of now: 6.18 fixed-point seconds, 24 bits.
    pub fn abs_send_time(&self) -> u32 {
        ((self.ntp() >> 14) & 0x00ff_ffff) as u32
    }

    /// An empty buffer from the pool.
    pub fn buf(&mut self) -> Vec<u8> {
        let mut b = self.pool.pop().unwrap_or_else(|| Vec::with_capacity(1500));
        b.clear();
        b
    }

    /// Returns a buffer (from a sent `Transmit`, or unused) to the pool.
    pub fn recycle(&mut self, mut b: Vec<u8>) {
        if self.pool.len() < POOL_MAX && b.capacity() >= 1200 {
            b.clear();
            self.pool.push(b);
        }
    }

    /// Emits a worker log line if logLevel / logTags let it through.
    pub fn log(&mut self, level: LogLevel, tag: &'static str, message: impl FnOnce() -> String) {
        if self.log_filter.enabled(level, tag) {
            self.outputs.push_back(Output::Log {
                level: level.as_str(),
                tag,
                message: message(),
            });
        }
    }

    pub fn debug(&mut self, tag: &'static str, message: impl FnOnce() -> String) {
        self.log(LogLevel::Debug, tag, message);
    }

    pub fn notify(&mut self, target: &str, event: &'static str, data: Value) {
        self.outputs.push_back(Output::Notification {
            target: target.to_string(),
            event,
            data,
        });
    }

    /// A 'trace' notification as mediasoup sends it: `{ type, timestamp, direction, info }`.
    pub fn trace(
        &mut self,
        target: &str,
        kind: &'static str,
        direction: &'static str,
        info: Value,
    ) {
        let ts = self.unix_ms();
        self.notify(
            target,
            "trace",
            serde_json::json!({ "type": kind, "timestamp": ts, "direction": direction, "info": info }),
        );
    }
}

/// Request body helpers: a required field, a required string field.
pub fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, CoreError> {
    v.get(name)
        .filter(|x| !x.is_null())
        .ok_or_else(|| CoreError::type_error(format!("missing {name}")))
}

pub fn str_field<'a>(v: &'a Value, name: &str) -> Result<&'a str, CoreError> {
    field(v, name)?
        .as_str()
        .ok_or_else(|| CoreError::type_error(format!("wrong {name} (not a string)")))
}

/// The trace types of an `enableTraceEvent` request that this object knows (unknown ones are
/// dropped, as mediasoup does).
pub fn trace_types(d: &Value, known: &[&str]) -> Vec<String> {
    d.get("types")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|t| known.contains(t))
        .map(str::to_string)
        .collect()
}
