//! Send-side bandwidth estimation for one transport: how many bits per second its consumers
//! may send to the remote, from what the remote reports about what arrived.
//!
//! Every packet we send with a transport-wide sequence number is remembered (send time, size);
//! each transport-cc feedback tells when those packets arrived or that they did not. From that:
//! - the delay-based detector (`trendline.rs`) says whether the path's queue is filling;
//! - the acknowledged rate is what actually got through (bytes over arrival time);
//! - the loss fraction over the last second bounds the estimate from above;
//! - an AIMD controller moves the estimate: on overuse down to 85 % of the acknowledged rate,
//!   otherwise up by 8 % a second (never beyond 1.5 × the acknowledged rate: what was not
//!   tried is not known), held while the queue drains or loss is between 2 and 10 %, cut by
//!   half the loss fraction above 10 %.
//! - Probing finds headroom an application-limited sender cannot see: when the consumers want
//!   more than the estimate, the transport sends a 100 ms cluster of padding on top of its
//!   media at up to twice the estimate; the rate at which the cluster arrived (capped by the
//!   rate it was sent at) is a measured capacity the estimate may jump to. A cluster that
//!   came through whole lets the next one follow at once; one that did not waits 3 s.
//! - A REMB (receiver estimate) sets the estimate when the remote sends no transport-cc.
//!
//! `allocation.rs` shares the estimate among the transport's consumers. Written here (not
//! taken from a crate): the one Rust GCC implementation (webrtc-rs's interceptor) is tied to its
//! own stack and allocates per packet; this one is sans-IO and holds fixed-size state.

pub mod allocation;
pub mod trendline;

use crate::core::rtcp::transport_cc::for_each_arrival;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use trendline::{Trendline, Usage};

/// Sent packets remembered for feedback: two seconds of a 10 Mbit/s transport (feedback comes
/// every 100 ms; what is older is not waited for). 16 bytes each, grown as a transport needs.
const HISTORY: usize = 2048;
const ACKED_WINDOW_US: i64 = 500_000;
/// Loss is judged over at least this many reported packets and this long (then counted anew,
/// so one burst of loss is acted on once).
const LOSS_MIN_PACKETS: u32 = 20;
const LOSS_INTERVAL: Duration = Duration::from_millis(300);
/// No feedback for this long: the delay detector's verdict no longer holds back probing.
const QUIET_AFTER: Duration = Duration::from_secs(1);
/// A probe aims this far above what the consumers want (keyframes, rate variation).
const PROBE_HEADROOM: f64 = 2.0;
const PROBE_LENGTH: Duration = Duration::from_millis(100);
const PROBE_RETRY_AFTER_FAILURE: Duration = Duration::from_secs(3);
/// A probe's result is read when all its packets were reported, or this long after its end.
const PROBE_RESULT_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct Sent {
    /// Microseconds since the estimator's first packet.
    at_us: u64,
    size: u16,
    /// Probe cluster this packet belongs to (0: none).
    cluster: u16,
    reported: bool,
}

/// One probe cluster's bookkeeping.
#[derive(Debug, Clone, Copy)]
struct Cluster {
    id: u16,
    target: f64,
    until: Instant,
    sent_packets: u32,
    first_send: Option<Instant>,
    last_send: Option<Instant>,
    /// Bytes sent before the moment of the last send (the last burst ends the span).
    bytes_before_last: u64,
    bytes_at_last: u64,
    reported: u32,
    received: u32,
    first_arrival: Option<i64>,
    last_arrival: i64,
    first_arrival_bytes: u64,
    recv_bytes: u64,
}

/// What a feedback finished, for the transport's log.
#[derive(Debug, Default, Clone, Copy)]
pub struct Update {
    /// A probe cluster finished: (target, measured) bits per second.
    pub probe: Option<(u64, u64)>,
}

pub struct SendSideBwe {
    history: VecDeque<Sent>,
    /// Extended sequence number of `history[0]`.
    first: u64,
    /// Extended sequence number of the last packet sent.
    last: Option<u64>,
    trend: Trendline,
    estimate: f64,
    pub min_bitrate: u64,
    /// 0: no limit.
    pub max_bitrate: u64,
    acked: VecDeque<(i64, u32)>,
    acked_bytes: u64,
    /// Lost and reported packets since the last loss judgement, and its result.
    lost: u32,
    reported: u32,
    loss: f64,
    loss_judged_at: Option<Instant>,
    last_update: Option<Instant>,
    last_decrease: Option<Instant>,
    probe: Option<Cluster>,
    next_cluster: u16,
    next_probe_at: Option<Instant>,
    /// Media bytes sent since the last padding decision (probes top the media up).
    media_since_tick: u64,
    last_tick: Option<Instant>,
    /// The remote uses transport-cc; REMB is then ignored.
    has_tcc: bool,
    /// A REMB came.
    remb_seen: bool,
    /// The round trip time from receiver reports, when known.
    pub rtt_ms: f64,
    /// What the allocation wanted at the last tick (probes go towards it).
    pub desired: u64,
    /// When the transport's consumers were last given their share.
    pub allocated_at: Option<Instant>,
    /// The time of the first packet sent (history times count from it).
    epoch: Option<Instant>,
    /// (sent, arrival µs, size, cluster) of the packets a feedback acknowledges.
    acked_scratch: Vec<(Instant, i64, u32, u16)>,
    /// The last probe that found the path's limit: when it ended and the rate it measured.
    /// Overuse soon after is the probe's own queue: the estimate falls to that rate, not
    /// to the application-limited acknowledged rate.
    capacity_probe: Option<(Instant, f64)>,
    /// The last probe fell short of its target (the next one aims lower).
    probe_failed: bool,
}

impl SendSideBwe {
    pub fn new(start: u64, min_bitrate: u64, max_bitrate: u64) -> Self {
        let mut b = Self {
            history: VecDeque::with_capacity(256),
            first: 0,
            last: None,
            trend: Trendline::default(),
            estimate: start as f64,
            min_bitrate,
            max_bitrate,
            acked: VecDeque::new(),
            acked_bytes: 0,
            lost: 0,
            reported: 0,
            loss: 0.0,
            loss_judged_at: None,
            last_update: None,
            last_decrease: None,
            probe: None,
            next_cluster: 1,
            next_probe_at: None,
            media_since_tick: 0,
            last_tick: None,
            has_tcc: false,
            remb_seen: false,
            rtt_ms: 100.0,
            desired: 0,
            allocated_at: None,
            epoch: None,
            acked_scratch: Vec::new(),
            capacity_probe: None,
            probe_failed: false,
        };
        b.clamp();
        b
    }

    /// Whether the remote ever reported what arrives (transport-cc feedback or REMB): until
    /// then the estimate is only the start value.
    pub fn has_feedback(&self) -> bool {
        self.has_tcc || self.remb_seen
    }

    /// The estimate, bits per second.
    pub fn available(&self) -> u64 {
        self.estimate as u64
    }

    fn clamp(&mut self) {
        if self.max_bitrate > 0 {
            self.estimate = self.estimate.min(self.max_bitrate as f64);
        }
        self.estimate = self.estimate.max(self.min_bitrate.max(30_000) as f64);
    }

    /// New limits from `setMaxOutgoingBitrate` / `setMinOutgoingBitrate` (0: none).
    pub fn set_limits(&mut self, min_bitrate: u64, max_bitrate: u64) {
        self.min_bitrate = min_bitrate;
        self.max_bitrate = max_bitrate;
        self.clamp();
    }

    /// A packet with transport-wide sequence number `seq` left; `probe`: padding of a probe.
    pub fn on_sent(&mut self, now: Instant, seq: u16, size: usize, padding: bool) {
        let ext = match self.last {
            None => {
                self.first = u64::from(seq);
                u64::from(seq)
            }
            Some(last) => {
                let d = seq.wrapping_sub(last as u16) as i16;
                if d <= 0 {
                    return; // not a new packet: nothing to remember
                }
                last + d as u64
            }
        };
        let epoch = *self.epoch.get_or_insert(now);
        let at_us = now.saturating_duration_since(epoch).as_micros() as u64;
        // Keep the history contiguous (sequence numbers we never saw sent stay unreported).
        while self.first + (self.history.len() as u64) < ext {
            self.history.push_back(Sent {
                at_us,
                size: 0,
                cluster: 0,
                reported: true,
            });
        }
        let cluster = match &mut self.probe {
            Some(c) if now < c.until => {
                c.sent_packets += 1;
                match c.last_send {
                    Some(t) if t == now => c.bytes_at_last += size as u64,
                    _ => {
                        c.bytes_before_last += c.bytes_at_last;
                        c.bytes_at_last = size as u64;
                        c.last_send = Some(now);
                    }
                }
                c.first_send.get_or_insert(now);
                c.id
            }
            _ => 0,
        };
        if !padding {
            self.media_since_tick += size as u64;
        }
        self.history.push_back(Sent {
            at_us,
            size: size.min(u16::MAX as usize) as u16,
            cluster,
            reported: false,
        });
        self.last = Some(ext);
        while self.history.len() > HISTORY {
            self.history.pop_front();
            self.first += 1;
        }
    }

    fn extend(&self, seq: u16) -> Option<u64> {
        let last = self.last?;
        let d = (last as u16).wrapping_sub(seq) as i16;
        let ext = last.checked_sub_signed(i64::from(d))?;
        (ext >= self.first && ext <= last).then_some(ext)
    }

    /// A transport-cc feedback (`body` after the RTCP header) from the remote.
    pub fn on_feedback(&mut self, now: Instant, body: &[u8]) -> Option<Update> {
        self.has_tcc = true;
        let mut lost = 0u32;
        let mut total = 0u32;
        // Reused from feedback to feedback (a transport gets one every 100 ms).
        let mut acked = std::mem::take(&mut self.acked_scratch);
        acked.clear();
        let first = self.first;
        let epoch = self.epoch.unwrap_or(now);
        for_each_arrival(body, |seq, arrival| {
            let Some(ext) = self.extend(seq) else {
                return;
            };
            let s = &mut self.history[(ext - first) as usize];
            if s.reported {
                return;
            }
            total += 1;
            match arrival {
                Some(a) => {
                    s.reported = true;
                    let sent = epoch + Duration::from_micros(s.at_us);
                    acked.push((sent, a, u32::from(s.size), s.cluster));
                }
                None => lost += 1,
            }
        })?;
        let mut update = Update::default();
        for &(sent, arrival, size, cluster) in &acked {
            self.trend.packet(sent, arrival);
            self.acked.push_back((arrival, size));
            self.acked_bytes += u64::from(size);
            if let Some(c) = self
                .probe
                .as_mut()
                .filter(|c| c.id == cluster && cluster != 0)
            {
                c.reported += 1;
                c.received += 1;
                c.recv_bytes += u64::from(size);
                if c.first_arrival.is_none_or(|f| arrival < f) {
                    c.first_arrival = Some(arrival);
                    c.first_arrival_bytes = u64::from(size);
                }
                c.last_arrival = c.last_arrival.max(arrival);
            }
        }
        if let Some(&(newest, _)) = self.acked.back() {
            while self
                .acked
                .front()
                .is_some_and(|&(a, _)| newest - a > ACKED_WINDOW_US)
            {
                let (_, s) = self.acked.pop_front().expect("checked");
                self.acked_bytes -= u64::from(s);
            }
        }
        self.lost += lost;
        self.reported += total;
        self.acked_scratch = acked;
        update.probe = self.probe_result(now, lost);
        self.update(now);
        Some(update)
    }

    /// A REMB from the remote: used only when it sends no transport-cc.
    pub fn on_remb(&mut self, bitrate: u64) -> bool {
        if self.has_tcc {
            return false;
        }
        self.remb_seen = true;
        let before = self.estimate;
        self.estimate = bitrate as f64;
        self.clamp();
        self.estimate != before
    }

    /// What got through over the last half second of arrivals, bits per second.
    pub fn acked_rate(&self) -> Option<f64> {
        let (&(first, _), &(last, _)) = (self.acked.front()?, self.acked.back()?);
        let span = (last - first).max(100_000);
        (self.acked.len() >= 5).then(|| self.acked_bytes as f64 * 8e6 / span as f64)
    }

    /// The loss fraction of the last judged interval.
    pub fn loss_fraction(&self) -> f64 {
        self.loss
    }

    pub fn usage(&self) -> Usage {
        self.trend.usage
    }

    fn update(&mut self, now: Instant) {
        let dt = self
            .last_update
            .map_or(0.0, |t| now.duration_since(t).as_secs_f64().min(1.0));
        self.last_update = Some(now);
        let acked = self.acked_rate();
        let interval_done = self.loss_judged_at.is_none_or(|t| {
            now.duration_since(t) >= LOSS_INTERVAL + Duration::from_millis(self.rtt_ms as u64)
        });
        let judged = self.reported >= LOSS_MIN_PACKETS && interval_done;
        if judged {
            self.loss = f64::from(self.lost) / f64::from(self.reported);
            self.lost = 0;
            self.reported = 0;
            self.loss_judged_at = Some(now);
        }
        let loss = self.loss;
        let interval = Duration::from_millis((self.rtt_ms as u64).clamp(50, 300));
        match self.trend.usage {
            Usage::Overusing => {
                if self
                    .last_decrease
                    .is_none_or(|t| now.duration_since(t) >= interval)
                {
                    let acked = acked.unwrap_or(self.estimate);
                    let probed = self
                        .capacity_probe
                        .filter(|(end, _)| now.duration_since(*end) < Duration::from_secs(2))
                        .map(|(_, m)| m);
                    let floor = match probed {
                        Some(m) => 0.95 * m.max(acked),
                        None => 0.85 * acked,
                    };
                    self.estimate = self.estimate.min(floor);
                    self.last_decrease = Some(now);
                }
            }
            Usage::Underusing => {}
            Usage::Normal if loss <= 0.02 => {
                let grown = self.estimate * 1.08f64.powf(dt);
                let cap = acked.map_or(grown, |a| (1.5 * a + 10_000.0).max(self.estimate));
                self.estimate = grown.min(cap);
            }
            Usage::Normal => {}
        }
        // Heavy loss cuts the estimate once per judged interval, never below most of what
        // got through (packets queued before the last cut are still being lost).
        if judged && loss > 0.1 {
            let cut = self.estimate * (1.0 - 0.5 * loss);
            let floor = acked.map_or(0.0, |a| 0.7 * a);
            self.estimate = self.estimate.min(cut.max(floor));
        }
        self.clamp();
    }

    /// Reads a finished probe cluster: the measured rate, and the estimate raised to it.
    fn probe_result(&mut self, now: Instant, lost_now: u32) -> Option<(u64, u64)> {
        if let Some(c) = self.probe.as_mut() {
            c.reported += lost_now.min(c.sent_packets.saturating_sub(c.reported));
        }
        let c = self.probe?;
        let ended = now >= c.until;
        let all_in = c.reported >= c.sent_packets;
        if !ended || !(all_in || now >= c.until + PROBE_RESULT_WAIT) {
            return None;
        }
        self.probe = None;
        let (Some(fs), Some(ls), Some(fa)) = (c.first_send, c.last_send, c.first_arrival) else {
            self.next_probe_at = Some(now + PROBE_RETRY_AFTER_FAILURE);
            return Some((c.target as u64, 0));
        };
        let send_span = ls.duration_since(fs).as_secs_f64();
        let recv_span = (c.last_arrival - fa) as f64 / 1e6;
        let enough = c.received * 5 >= c.sent_packets * 4 && send_span > 0.0 && recv_span > 0.0;
        let measured = if enough {
            let send_rate = c.bytes_before_last as f64 * 8.0 / send_span;
            let recv_rate = (c.recv_bytes - c.first_arrival_bytes) as f64 * 8.0 / recv_span;
            send_rate.min(recv_rate)
        } else {
            0.0
        };
        let success = measured >= 0.9 * c.target;
        self.probe_failed = !success;
        self.next_probe_at = Some(if success {
            now
        } else {
            now + PROBE_RETRY_AFTER_FAILURE
        });
        if !success && measured > 0.0 {
            self.capacity_probe = Some((c.until, measured));
        }
        // A cluster that came through whole proves its rate; one that fell short measured the
        // path's capacity, a little of which is left as margin.
        let proven = if success {
            measured.min(c.target)
        } else {
            0.95 * measured
        };
        // Overuse right after a cluster is the cluster's own queue: a capacity it measured
        // stands; a rate it merely carried does not.
        if proven > self.estimate && (!success || self.trend.usage != Usage::Overusing) {
            self.estimate = proven;
            self.clamp();
        }
        Some((c.target as u64, measured as u64))
    }

    /// Called every engine tick with the media rate the transport sends: how many bytes of
    /// probe padding to send now (0 when not probing).
    pub fn padding_due(&mut self, now: Instant) -> usize {
        let media = std::mem::take(&mut self.media_since_tick);
        let dt = self
            .last_tick
            .replace(now)
            .map_or(0.0, |t| now.duration_since(t).as_secs_f64().min(0.1));
        let want = self.desired as f64;
        let limited = self.max_bitrate > 0 && self.estimate >= self.max_bitrate as f64;
        // Nothing reported for a while (the consumers were stopped for want of bandwidth):
        // the detector's last verdict is stale, and only a probe can find room again.
        let quiet = self
            .last_update
            .is_some_and(|t| now.duration_since(t) > QUIET_AFTER);
        if self.probe.is_none()
            && want > self.estimate
            && !limited
            && (self.trend.usage == Usage::Normal || quiet)
            && self.last.is_some()
            && self.next_probe_at.is_none_or(|t| now >= t)
        {
            let factor = if self.probe_failed { 1.5 } else { 2.0 };
            let mut target = (factor * self.estimate).min(want * PROBE_HEADROOM);
            if self.max_bitrate > 0 {
                target = target.min(self.max_bitrate as f64);
            }
            self.probe = Some(Cluster {
                id: self.next_cluster,
                target,
                until: now + PROBE_LENGTH,
                sent_packets: 0,
                first_send: None,
                last_send: None,
                bytes_before_last: 0,
                bytes_at_last: 0,
                reported: 0,
                received: 0,
                first_arrival: None,
                last_arrival: 0,
                first_arrival_bytes: 0,
                recv_bytes: 0,
            });
            self.next_cluster = self.next_cluster.wrapping_add(1).max(1);
            // The cluster's first tick: a tick's worth at the target rate.
            return (target * 0.02 / 8.0) as usize;
        }
        match &self.probe {
            Some(c) if now < c.until => {
                let due = c.target * dt / 8.0 - media as f64;
                due.max(0.0) as usize
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::rtcp::transport_cc::TccReceiver;

    /// Sends 1000-byte packets every `gap` over a link of `capacity` bits/s (a drop-tail queue
    /// of 500 ms) with 20 ms of propagation, feedback every 100 ms; returns the estimate after
    /// `secs`.
    fn simulate(capacity: f64, gap_ms: u64, secs: u64, start: u64) -> SendSideBwe {
        let t0 = Instant::now();
        let mut bwe = SendSideBwe::new(start, 0, 0);
        let mut rx = TccReceiver::default();
        let mut link_free = t0;
        let mut in_flight: VecDeque<(Instant, u16)> = VecDeque::new();
        let mut seq = 0u16;
        let mut fb: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
        for ms in 0..secs * 1000 {
            let now = t0 + Duration::from_millis(ms);
            let mut send = |bwe: &mut SendSideBwe, size: usize, padding: bool| {
                seq = seq.wrapping_add(1);
                bwe.on_sent(now, seq, size, padding);
                let start = link_free.max(now);
                if start.duration_since(now) > Duration::from_millis(500) {
                    return;
                }
                link_free = start + Duration::from_secs_f64(size as f64 * 8.0 / capacity);
                in_flight.push_back((link_free + Duration::from_millis(20), seq));
            };
            if ms % gap_ms == 0 {
                send(&mut bwe, 1000, false);
            }
            if ms % 20 == 0 {
                bwe.desired = 5_000_000;
                let mut pad = bwe.padding_due(now);
                while pad > 0 {
                    send(&mut bwe, 255, true);
                    pad = pad.saturating_sub(255);
                }
            }
            while in_flight.front().is_some_and(|&(t, _)| t <= now) {
                let (t, s) = in_flight.pop_front().unwrap();
                rx.record(t, s, 1);
            }
            if ms % 100 == 0 && rx.has_pending() {
                let mut out = Vec::new();
                rx.build(1, t0, &mut out);
                fb.push_back((now + Duration::from_millis(20), out));
            }
            while fb.front().is_some_and(|(t, _)| *t <= now) {
                let (_, f) = fb.pop_front().unwrap();
                let u = bwe.on_feedback(now, &f[4..]).unwrap();
                if std::env::var("BWE_DEBUG").is_ok() {
                    eprintln!(
                        "{ms} ms: estimate {} acked {:?} usage {:?} trend {:.1} loss {:.2} probe {:?}",
                        bwe.available(),
                        bwe.acked_rate().map(|a| a as u64),
                        bwe.usage(),
                        bwe.trend.trend,
                        bwe.loss_fraction(),
                        u.probe
                    );
                }
            }
        }
        bwe
    }

    #[test]
    fn probing_finds_a_link_an_application_limited_sender_does_not_fill() {
        // 400 kbit/s of media, 2 Mbit/s of link: the estimate reaches the link.
        let b = simulate(2_000_000.0, 20, 6, 300_000);
        let e = b.available() as f64;
        assert!((1_700_000.0..=2_300_000.0).contains(&e), "estimate {e}");
    }

    #[test]
    fn a_saturated_link_is_found_from_above() {
        // 8 Mbit/s of media into 1 Mbit/s: overuse brings the estimate to the link.
        let b = simulate(1_000_000.0, 1, 6, 3_000_000);
        let e = b.available() as f64;
        assert!((700_000.0..=1_150_000.0).contains(&e), "estimate {e}");
    }
}
