//! RTP observers (audio level, active speaker) of a router: creation, producers added and
//! removed, and their periodic events.
//!
//! It feeds observers and turns their events into notifications; levels and speaker choice are
//! `observers/`'s own.

use super::Graph;
use crate::core::context::{str_field, Ctx, Res};
use crate::core::message::CoreError;
use crate::core::observers::{
    ActiveSpeakerObserver, AudioLevelObserver, ObserverEvent, RtpObserver, RtpObserverKind,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

impl Graph {
    pub fn close_observer(&mut self, k: u32) {
        let Some(o) = self.observers.remove(&k) else {
            return;
        };
        self.observer_ids.remove(&o.id);
        for p in &o.producers {
            if let Some(p) = self.producers.get_mut(p) {
                p.observers.retain(|x| *x != k);
            }
        }
        if let Some(r) = self.routers.get_mut(&o.router) {
            r.observers.retain(|x| *x != k);
        }
    }

    pub fn observer_request(&mut self, k: u32, m: &str, d: &Value) -> Res {
        match m {
            "rtpObserver.pause" | "rtpObserver.resume" => {
                let o = self.observers.get_mut(&k).expect("checked");
                o.paused = m == "rtpObserver.pause";
                if o.paused {
                    if let RtpObserverKind::AudioLevel(a) = &mut o.kind {
                        a.reset();
                    }
                }
                Ok(Value::Null)
            }
            "rtpObserver.addProducer" | "rtpObserver.removeProducer" => {
                let pid = str_field(d, "producerId")?;
                let pk = self.producer_ids.require(pid, "Producer", "producerId")?;
                let o = self.observers.get_mut(&k).expect("checked");
                let p = self.producers.get_mut(&pk).expect("listed");
                if m == "rtpObserver.addProducer" {
                    if o.producers.contains(&pk) {
                        return Err(CoreError::error(format!(
                            "Producer already in this RtpObserver [producerId:{pid}]"
                        )));
                    }
                    o.producers.push(pk);
                    p.observers.push(k);
                    if let RtpObserverKind::ActiveSpeaker(a) = &mut o.kind {
                        a.add(pk);
                    }
                } else {
                    if !o.producers.contains(&pk) {
                        return Err(CoreError::not_found(format!(
                            "Producer not in this RtpObserver [producerId:{pid}]"
                        )));
                    }
                    o.remove_producer(pk);
                    p.observers.retain(|x| *x != k);
                }
                Ok(Value::Null)
            }
            _ => Err(CoreError::error(format!("unknown method '{m}'"))),
        }
    }

    pub fn tick_observers(&mut self, ctx: &mut Ctx, now: Instant) {
        let due: Vec<u32> = self
            .observers
            .iter()
            .filter(|(_, o)| o.next_tick <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in due {
            let o = self.observers.get_mut(&k).expect("listed");
            let id = o.id.clone();
            let pid = |k: &u32| self.producers.get(k).map(|p| p.id.clone());
            match o.tick(now) {
                Some(ObserverEvent::Volumes(v)) => {
                    let list: Vec<Value> = v
                        .iter()
                        .filter_map(|(p, vol)| {
                            Some(json!({ "producerId": pid(p)?, "volume": vol }))
                        })
                        .collect();
                    ctx.notify(&id, "volumes", Value::Array(list));
                }
                Some(ObserverEvent::Silence) => ctx.notify(&id, "silence", Value::Null),
                Some(ObserverEvent::DominantSpeaker(p)) => {
                    if let Some(p) = pid(&p) {
                        ctx.notify(&id, "dominantspeaker", json!({ "producerId": p }));
                    }
                }
                None => {}
            }
        }
    }

    pub fn create_observer(&mut self, ctx: &mut Ctx, h: &str, method: &str, d: &Value) -> Res {
        if !self.routers.contains_key(h) {
            return Err(CoreError::not_found(format!(
                "Router not found [routerId:{h}]"
            )));
        }
        let id = str_field(d, "rtpObserverId")?.to_string();
        if self.observer_ids.contains(&id) {
            return Err(CoreError::error(format!(
                "an RtpObserver with same id already exists [id:{id}]"
            )));
        }
        let interval = d.get("interval").and_then(Value::as_u64);
        let kind = if method == "router.createAudioLevelObserver" {
            let max_entries = d
                .get("maxEntries")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .max(1) as usize;
            let threshold = d
                .get("threshold")
                .and_then(Value::as_i64)
                .unwrap_or(-80)
                .clamp(-127, 0) as i8;
            let interval = Duration::from_millis(interval.unwrap_or(1000).max(250));
            RtpObserverKind::AudioLevel(AudioLevelObserver::new(max_entries, threshold, interval))
        } else {
            let interval = Duration::from_millis(interval.unwrap_or(300).max(100));
            RtpObserverKind::ActiveSpeaker(ActiveSpeakerObserver::new(interval))
        };
        let k = self.observer_ids.insert(&id);
        let mut o = RtpObserver {
            id,
            router: h.to_string(),
            paused: false,
            producers: Vec::new(),
            kind,
            next_tick: ctx.now,
        };
        o.next_tick = ctx.now + o.interval();
        self.observers.insert(k, o);
        self.routers.get_mut(h).expect("checked").observers.push(k);
        Ok(Value::Null)
    }
}
