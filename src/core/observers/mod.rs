//! RTP observers: audio levels and the dominant speaker, fed by the ssrc-audio-level header
//! extension (RFC 6464) of the audio producers added to them.
//!
//! Owns its producers' level history and its timers; it sees producers only as keys and the
//! levels the router hands it, and returns its events for the router to notify.

use rustc_hash::FxHashMap as HashMap;
use std::time::{Duration, Instant};

/// What an observer reports at the end of an interval.
#[derive(Debug, PartialEq)]
pub enum ObserverEvent {
    /// (producer key, volume in dBov, -127..=0), loudest first.
    Volumes(Vec<(u32, i8)>),
    Silence,
    DominantSpeaker(u32),
}

/// mediasoup's AudioLevelObserver: the average level of each producer over `interval`, the
/// `max_entries` loudest above `threshold`, or one 'silence' when nobody is above it.
pub struct AudioLevelObserver {
    pub max_entries: usize,
    pub threshold: i8,
    pub interval: Duration,
    sums: HashMap<u32, (u64, u64)>,
    silence_reported: bool,
}

impl AudioLevelObserver {
    pub fn new(max_entries: usize, threshold: i8, interval: Duration) -> Self {
        Self {
            max_entries,
            threshold,
            interval,
            sums: HashMap::default(),
            silence_reported: false,
        }
    }

    /// `level` is the extension's 0..=127 (-dBov).
    pub fn receive(&mut self, producer: u32, level: u8) {
        let e = self.sums.entry(producer).or_default();
        e.0 += (level & 0x7f) as u64;
        e.1 += 1;
    }

    pub fn reset(&mut self) {
        self.sums.clear();
    }

    pub fn remove(&mut self, producer: u32) {
        self.sums.remove(&producer);
    }

    pub fn tick(&mut self) -> Option<ObserverEvent> {
        let mut v: Vec<(u32, i8)> = self
            .sums
            .drain()
            .filter(|(_, (_, n))| *n > 0)
            .map(|(p, (sum, n))| (p, -((sum / n) as i64) as i8))
            .filter(|(_, vol)| *vol >= self.threshold)
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(self.max_entries);
        if v.is_empty() {
            if self.silence_reported {
                return None;
            }
            self.silence_reported = true;
            return Some(ObserverEvent::Silence);
        }
        self.silence_reported = false;
        Some(ObserverEvent::Volumes(v))
    }
}

/// Speech activity of one producer over three horizons, from per-packet levels.
#[derive(Default)]
struct Activity {
    /// (time, activity 0..=1) samples, newest last, kept for the long horizon.
    samples: std::collections::VecDeque<(Instant, f64)>,
}

impl Activity {
    const LONG: Duration = Duration::from_millis(2000);

    fn push(&mut self, now: Instant, level: u8) {
        // Map -dBov to speech likelihood: ≥ -30 dBov is clearly speech, ≤ -70 is silence.
        let dbov = -((level & 0x7f) as f64);
        let a = ((dbov + 70.0) / 40.0).clamp(0.0, 1.0);
        self.samples.push_back((now, a));
        self.expire(now);
    }

    fn expire(&mut self, now: Instant) {
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > Self::LONG)
        {
            self.samples.pop_front();
        }
    }

    fn mean(&self, now: Instant, horizon: Duration) -> f64 {
        let (sum, n) = self
            .samples
            .iter()
            .filter(|(t, _)| now.duration_since(*t) <= horizon)
            .fold((0.0, 0u32), |(s, n), (_, a)| (s + a, n + 1));
        if n == 0 {
            0.0
        } else {
            sum / n as f64
        }
    }
}

/// Dominant speaker identification in the spirit of Volfin & Cohen ("Dominant speaker
/// identification for multipoint videoconferencing"): a challenger replaces the dominant
/// speaker only when it is clearly more active over both a medium (≈ 1 s) and a long (≈ 2 s)
/// horizon, so a cough or a door slam (loud, but short) does not move the focus.
pub struct ActiveSpeakerObserver {
    pub interval: Duration,
    activity: HashMap<u32, Activity>,
    dominant: Option<u32>,
}

impl ActiveSpeakerObserver {
    const MEDIUM: Duration = Duration::from_millis(1000);
    const MARGIN: f64 = 1.5;
    const MIN_ACTIVITY: f64 = 0.25;

    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            activity: HashMap::default(),
            dominant: None,
        }
    }

    pub fn receive(&mut self, now: Instant, producer: u32, level: u8) {
        self.activity.entry(producer).or_default().push(now, level);
    }

    pub fn add(&mut self, producer: u32) {
        self.activity.entry(producer).or_default();
    }

    pub fn remove(&mut self, producer: u32) {
        self.activity.remove(&producer);
        if self.dominant == Some(producer) {
            self.dominant = None;
        }
    }

    pub fn tick(&mut self, now: Instant) -> Option<ObserverEvent> {
        for a in self.activity.values_mut() {
            a.expire(now);
        }
        let score = |a: &Activity| (a.mean(now, Self::MEDIUM), a.mean(now, Activity::LONG));
        let mut best: Option<(u32, (f64, f64))> = None;
        for (&p, a) in &self.activity {
            let s = score(a);
            if best.is_none_or(|(bp, bs)| {
                s.0 + s.1 > bs.0 + bs.1 || (s.0 + s.1 == bs.0 + bs.1 && p < bp)
            }) {
                best = Some((p, s));
            }
        }
        let (cand, cs) = best?;
        if cs.0 < Self::MIN_ACTIVITY {
            return None;
        }
        match self.dominant {
            Some(d) if d == cand => None,
            Some(d) => {
                let ds = self.activity.get(&d).map(score).unwrap_or((0.0, 0.0));
                // Both horizons must favour the challenger clearly.
                if cs.0 > ds.0 * Self::MARGIN && cs.1 > ds.1 * Self::MARGIN {
                    self.dominant = Some(cand);
                    Some(ObserverEvent::DominantSpeaker(cand))
                } else {
                    None
                }
            }
            None => {
                self.dominant = Some(cand);
                Some(ObserverEvent::DominantSpeaker(cand))
            }
        }
    }
}

pub enum RtpObserverKind {
    AudioLevel(AudioLevelObserver),
    ActiveSpeaker(ActiveSpeakerObserver),
}

pub struct RtpObserver {
    pub id: String,
    pub router: String,
    pub paused: bool,
    pub producers: Vec<u32>,
    pub kind: RtpObserverKind,
    pub next_tick: Instant,
}

impl RtpObserver {
    pub fn interval(&self) -> Duration {
        match &self.kind {
            RtpObserverKind::AudioLevel(o) => o.interval,
            RtpObserverKind::ActiveSpeaker(o) => o.interval,
        }
    }

    pub fn receive(&mut self, now: Instant, producer: u32, level: u8) {
        if self.paused {
            return;
        }
        match &mut self.kind {
            RtpObserverKind::AudioLevel(o) => o.receive(producer, level),
            RtpObserverKind::ActiveSpeaker(o) => o.receive(now, producer, level),
        }
    }

    pub fn tick(&mut self, now: Instant) -> Option<ObserverEvent> {
        self.next_tick = now + self.interval();
        if self.paused {
            return None;
        }
        match &mut self.kind {
            RtpObserverKind::AudioLevel(o) => o.tick(),
            RtpObserverKind::ActiveSpeaker(o) => o.tick(now),
        }
    }

    pub fn remove_producer(&mut self, producer: u32) {
        self.producers.retain(|p| *p != producer);
        match &mut self.kind {
            RtpObserverKind::AudioLevel(o) => o.remove(producer),
            RtpObserverKind::ActiveSpeaker(o) => o.remove(producer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_levels_average_threshold_and_silence_once() {
        let mut o = AudioLevelObserver::new(2, -60, Duration::from_millis(100));
        for _ in 0..10 {
            o.receive(1, 20);
            o.receive(2, 40);
            o.receive(3, 90); // below threshold
        }
        o.receive(4, 10);
        o.receive(4, 30); // average 20, ties with 1: lower key first
        assert_eq!(
            o.tick(),
            Some(ObserverEvent::Volumes(vec![(1, -20), (4, -20)]))
        );
        assert_eq!(o.tick(), Some(ObserverEvent::Silence));
        assert_eq!(o.tick(), None, "silence is reported once");
        o.receive(2, 0);
        assert_eq!(o.tick(), Some(ObserverEvent::Volumes(vec![(2, 0)])));
    }

    #[test]
    fn dominant_speaker_changes_for_sustained_speech_not_for_short_noise() {
        let t0 = Instant::now();
        let mut o = ActiveSpeakerObserver::new(Duration::from_millis(300));
        let mut now = t0;
        let step = Duration::from_millis(20);
        let mut events = Vec::new();
        // A speaks for 3 s; B is silent.
        for _ in 0..150 {
            o.receive(now, 1, 25);
            o.receive(now, 2, 110);
            now += step;
            if let Some(e) = o.tick(now) {
                events.push(e);
            }
        }
        assert_eq!(events, vec![ObserverEvent::DominantSpeaker(1)]);
        // B makes a 100 ms loud noise while A keeps talking: no change.
        for i in 0..50 {
            o.receive(now, 1, 25);
            o.receive(now, 2, if i < 5 { 5 } else { 110 });
            now += step;
            assert_eq!(o.tick(now), None);
        }
        // A stops, B talks: B becomes dominant within a couple of seconds.
        let mut changed_at = None;
        for i in 0..150 {
            o.receive(now, 1, 110);
            o.receive(now, 2, 25);
            now += step;
            if let Some(e) = o.tick(now) {
                assert_eq!(e, ObserverEvent::DominantSpeaker(2));
                changed_at.get_or_insert(i);
            }
        }
        let at = changed_at.expect("B became dominant");
        assert!(at * 20 < 2000, "changed after {} ms", at * 20);
    }
}
