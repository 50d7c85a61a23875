//! The delay-based half of the estimator: is the path's queue growing? Packets are grouped
//! by send time into 5 ms bursts; for each pair of groups the one-way delay variation
//! (arrival spacing minus send spacing) is accumulated and smoothed, and the slope of that
//! curve over the last 20 groups (a least-squares line) is compared with a threshold that
//! adapts to the path's noise, as the transport-cc design (draft-ietf-rmcat-gcc §5) describes.
//! A positive slope above the threshold for more than 10 ms is overuse: the queue fills.
//!
//! Written here rather than taken from a crate: no maintained Rust crate carries GCC's
//! delay detector separately from a whole WebRTC stack.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

const BURST: Duration = Duration::from_millis(5);
const WINDOW: usize = 20;
const SMOOTHING: f64 = 0.9;
const GAIN: f64 = 4.0;
const OVERUSE_TIME_MS: f64 = 10.0;
const K_UP: f64 = 0.0087;
const K_DOWN: f64 = 0.039;

/// What the delay says about the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    Normal,
    Underusing,
    Overusing,
}

#[derive(Debug, Clone, Copy)]
struct Group {
    first_send: Instant,
    last_send: Instant,
    /// Arrival of the group's last packet, µs in the receiver's clock.
    last_arrival: i64,
}

pub struct Trendline {
    current: Option<Group>,
    previous: Option<Group>,
    first_arrival: Option<i64>,
    accumulated: f64,
    smoothed: f64,
    window: VecDeque<(f64, f64)>,
    deltas: u32,
    threshold: f64,
    last_threshold_update: Option<i64>,
    time_over: f64,
    overuse_count: u32,
    prev_trend: f64,
    pub usage: Usage,
    /// The last modified trend (for traces and tests).
    pub trend: f64,
}

impl Default for Trendline {
    fn default() -> Self {
        Self {
            current: None,
            previous: None,
            first_arrival: None,
            accumulated: 0.0,
            smoothed: 0.0,
            window: VecDeque::with_capacity(WINDOW),
            deltas: 0,
            threshold: 12.5,
            last_threshold_update: None,
            time_over: -1.0,
            overuse_count: 0,
            prev_trend: 0.0,
            usage: Usage::Normal,
            trend: 0.0,
        }
    }
}

impl Trendline {
    /// One acknowledged packet, in send order.
    pub fn packet(&mut self, sent: Instant, arrival: i64) {
        match &mut self.current {
            Some(g) if sent.saturating_duration_since(g.first_send) <= BURST => {
                if sent > g.last_send {
                    g.last_send = sent;
                }
                g.last_arrival = g.last_arrival.max(arrival);
            }
            _ => {
                let done = self.current.replace(Group {
                    first_send: sent,
                    last_send: sent,
                    last_arrival: arrival,
                });
                if let Some(done) = done {
                    if let Some(prev) = self.previous.replace(done) {
                        self.delta(prev, done);
                    }
                }
            }
        }
    }

    fn delta(&mut self, prev: Group, cur: Group) {
        let send_ms = cur
            .last_send
            .saturating_duration_since(prev.last_send)
            .as_secs_f64()
            * 1e3;
        let arrival_ms = (cur.last_arrival - prev.last_arrival) as f64 / 1e3;
        let first = *self.first_arrival.get_or_insert(cur.last_arrival);
        self.deltas = (self.deltas + 1).min(1000);
        self.accumulated += arrival_ms - send_ms;
        self.smoothed = SMOOTHING * self.smoothed + (1.0 - SMOOTHING) * self.accumulated;
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        let x = (cur.last_arrival - first) as f64 / 1e3;
        self.window.push_back((x, self.smoothed));
        if self.window.len() == WINDOW {
            let slope = slope(&self.window).unwrap_or(0.0);
            self.trend = f64::from(self.deltas.min(60)) * slope * GAIN;
        }
        self.detect(send_ms, cur.last_arrival);
    }

    fn detect(&mut self, send_ms: f64, now_us: i64) {
        let t = self.trend;
        if t > self.threshold {
            if self.time_over < 0.0 {
                self.time_over = send_ms / 2.0;
            } else {
                self.time_over += send_ms;
            }
            self.overuse_count += 1;
            if self.time_over > OVERUSE_TIME_MS && self.overuse_count > 1 && t >= self.prev_trend {
                self.time_over = 0.0;
                self.overuse_count = 0;
                self.usage = Usage::Overusing;
            }
        } else if t < -self.threshold {
            self.time_over = -1.0;
            self.overuse_count = 0;
            self.usage = Usage::Underusing;
        } else {
            self.time_over = -1.0;
            self.overuse_count = 0;
            self.usage = Usage::Normal;
        }
        self.prev_trend = t;
        // The threshold follows |trend| slowly upwards and quickly downwards, so a noisy path
        // is not taken for a filling queue; a jump far above it (a spike) is not learnt.
        let last = self.last_threshold_update.replace(now_us).unwrap_or(now_us);
        if t.abs() <= self.threshold + 15.0 {
            let k = if t.abs() < self.threshold {
                K_DOWN
            } else {
                K_UP
            };
            let dt = ((now_us - last) as f64 / 1e3).clamp(0.0, 100.0);
            self.threshold =
                (self.threshold + k * (t.abs() - self.threshold) * dt).clamp(6.0, 600.0);
        }
    }
}

/// Least-squares slope of `(x, y)` points.
fn slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    (den != 0.0).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packets every 10 ms; arrival spacing `spacing_us`.
    fn run(spacing_us: i64, n: i64) -> Trendline {
        let t0 = Instant::now();
        let mut t = Trendline::default();
        for i in 0..n {
            t.packet(
                t0 + Duration::from_millis(10 * i as u64),
                50_000 + i * spacing_us,
            );
        }
        t
    }

    #[test]
    fn a_steady_path_is_normal_and_a_filling_queue_is_overuse() {
        assert_eq!(run(10_000, 100).usage, Usage::Normal);
        // Each packet 2 ms later than the one before it, relative to its send time.
        let t = run(12_000, 100);
        assert_eq!(t.usage, Usage::Overusing);
        assert!(t.trend > 12.5);
        // A draining queue.
        assert_eq!(run(8_000, 100).usage, Usage::Underusing);
    }
}
