//! Recorders of a router: creation (which producers, which container), packets and timers,
//! keyframe requests on their behalf, and the endings — stop, the last producer closing, the
//! router or the worker closing — each of which finalises the file.

use super::Graph;
use crate::core::context::{str_field, Ctx, Res};
use crate::core::message::CoreError;
use crate::core::recorder::track::Track;
use crate::core::recorder::{container_for, Recorder};
use serde_json::{json, Value};
use std::time::Instant;

impl Graph {
    pub fn create_recorder(&mut self, ctx: &mut Ctx, router: &str, d: &Value) -> Res {
        if !self.routers.contains_key(router) {
            return Err(CoreError::not_found(format!(
                "Router not found [routerId:{router}]"
            )));
        }
        let id = str_field(d, "recorderId")?.to_string();
        let path = str_field(d, "path")?.to_string();
        if self.recorder_ids.contains(&id) {
            return Err(CoreError::error(format!(
                "a Recorder with same recorderId already exists [recorderId:{id}]"
            )));
        }
        let ids = d
            .get("producerIds")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| CoreError::type_error("missing producerIds"))?;
        let mut tracks = Vec::new();
        for v in ids {
            let pid = v
                .as_str()
                .ok_or_else(|| CoreError::type_error("producerIds must be strings"))?;
            let pk = self.producer_ids.require(pid, "Producer", "producerId")?;
            let p = &self.producers[&pk];
            if self.transports.get(&p.transport).map(|t| t.router.as_str()) != Some(router) {
                return Err(CoreError::not_found(format!(
                    "Producer not in this router [producerId:{pid}]"
                )));
            }
            if p.e2ee.is_some() {
                return Err(CoreError::unsupported(format!(
                    "producer {pid} is end-to-end encrypted: the server cannot read its media, a recording would hold only ciphertext"
                )));
            }
            let Some(c) = p.codecs.iter().find(|c| c.apt.is_none()) else {
                return Err(CoreError::unsupported(format!(
                    "producer {pid} has no media codec"
                )));
            };
            let channels = p.rtp_parameters["codecs"]
                .as_array()
                .and_then(|cs| {
                    cs.iter()
                        .find(|x| x["payloadType"].as_u64() == Some(c.pt.into()))
                })
                .and_then(|x| x["channels"].as_u64())
                .unwrap_or(2) as u8;
            tracks.push(Track::new(
                pk,
                pid.to_string(),
                c.mime.clone(),
                c.kind,
                p.kind == "video",
                c.clock_rate,
                channels,
                c.nack,
                p.encodings.len(),
            ));
        }
        let kinds: Vec<_> = tracks.iter().map(|t| t.codec).collect();
        let webm = container_for(&kinds, &path).map_err(CoreError::unsupported)?;
        if tracks.iter().filter(|t| t.video).count() > 1 {
            return Err(CoreError::unsupported(
                "a recording holds at most one video producer",
            ));
        }
        let open = ctx
            .open_sink
            .ok_or_else(|| CoreError::error("this worker cannot write files"))?;
        let sink = open(&path)
            .map_err(|e| CoreError::type_error(format!("cannot write path '{path}': {e}")))?;
        let k = self.recorder_ids.insert(&id);
        for t in &tracks {
            if let Some(p) = self.producers.get_mut(&t.producer) {
                p.recorders.push(k);
            }
        }
        let r = Recorder::new(id, router.to_string(), path, webm, tracks, sink, ctx.now);
        self.recorders.insert(k, r);
        self.routers
            .get_mut(router)
            .expect("checked")
            .recorders
            .push(k);
        // Start from a keyframe.
        let video: Vec<(u32, usize)> = self.recorders[&k]
            .tracks
            .iter()
            .filter(|t| t.video)
            .flat_map(|t| (0..self.producers[&t.producer].encodings.len()).map(|e| (t.producer, e)))
            .collect();
        for (pk, e) in video {
            self.send_keyframe_request(ctx, pk, Some(e), false);
        }
        Ok(Value::Null)
    }

    /// Finalises a recorder's file and removes it; returns its summary (also notified as
    /// 'finish' unless the facade asked for it).
    pub fn finish_recorder(&mut self, ctx: &mut Ctx, k: u32, notify: bool) -> Value {
        let Some(mut r) = self.recorders.remove(&k) else {
            return Value::Null;
        };
        self.recorder_ids.remove(&r.id);
        for t in &r.tracks {
            if let Some(p) = self.producers.get_mut(&t.producer) {
                p.recorders.retain(|x| *x != k);
            }
        }
        if let Some(router) = self.routers.get_mut(&r.router) {
            router.recorders.retain(|x| *x != k);
        }
        let summary = r.finish(ctx.now, &|at| ctx.ntp_ms_at(at));
        if notify {
            ctx.notify(&r.id, "finish", summary.clone());
        }
        summary
    }

    pub fn finish_all_recorders(&mut self, ctx: &mut Ctx) {
        let keys: Vec<u32> = self.recorders.keys().copied().collect();
        for k in keys {
            self.finish_recorder(ctx, k, true);
        }
    }

    /// A recorded producer closed: its track ends; the recording ends with its last one.
    pub fn recorders_lose_producer(&mut self, ctx: &mut Ctx, pk: u32, recorders: &[u32]) {
        for &k in recorders {
            let Some(r) = self.recorders.get_mut(&k) else {
                continue;
            };
            let mut pid = None;
            for t in r.tracks.iter_mut().filter(|t| t.producer == pk) {
                t.ended = true;
                pid = Some(t.producer_id.clone());
            }
            let id = r.id.clone();
            if let Some(pid) = pid {
                ctx.notify(&id, "producerclose", json!({ "producerId": pid }));
            }
            if r.tracks.iter().all(|t| t.ended) {
                self.finish_recorder(ctx, k, true);
            }
        }
    }

    pub fn tick_recorders(&mut self, ctx: &mut Ctx, now: Instant) {
        if self.recorders.is_empty() {
            return;
        }
        let mut requests = Vec::new();
        for r in self.recorders.values_mut() {
            r.upkeep(now, &|at| ctx.ntp_ms_at(at));
            requests.extend(r.take_keyframe_requests());
        }
        for (pk, e) in requests {
            self.send_keyframe_request(ctx, pk, Some(e), false);
        }
    }
}
