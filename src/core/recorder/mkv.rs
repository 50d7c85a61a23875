//! A Matroska / WebM writer: EBML header, one Segment with a SeekHead, Info, Tracks, Clusters
//! of SimpleBlocks and Cues at the end.
//!
//! Written by hand: the muxer crates are either bindings to libwebm (a C++ toolchain in the
//! build, which this package exists to avoid) or readers; the subset a recorder needs is a few
//! element writers. The writer produces bytes and patches, the recorder hands them to its sink:
//!
//! - the header goes out first with the Segment's size "unknown" and a Void where the SeekHead
//!   will go, so a file cut short by a crash is still a readable live-style stream;
//! - a Cluster is built in memory and written whole when the next one starts (its size known);
//!   a Cluster starts at every video keyframe, so every Cluster is a seek point;
//! - `finish()` appends the Cues and returns the patches: the Segment size, the Duration, and
//!   the SeekHead (pointing at Info, Tracks and Cues) written over the Void.

const EBML: u32 = 0x1A45_DFA3;
const SEGMENT: u32 = 0x1853_8067;
const SEEK_HEAD: u32 = 0x114D_9B74;
const SEEK: u32 = 0x4DBB;
const SEEK_ID: u32 = 0x53AB;
const SEEK_POSITION: u32 = 0x53AC;
const VOID: u32 = 0xEC;
const INFO: u32 = 0x1549_A966;
const TRACKS: u32 = 0x1654_AE6B;
const CLUSTER: u32 = 0x1F43_B675;
const CUES: u32 = 0x1C53_BB6B;

/// Bytes kept for the SeekHead at the start of the Segment: three Seek entries with 8-byte
/// positions (63 bytes) in a SeekHead (5), and a Void of at least 2 after it.
const SEEK_HEAD_ROOM: usize = 80;
/// A Cluster's blocks carry 16-bit signed offsets from its timestamp.
const CLUSTER_MAX_MS: u64 = 30_000;
/// Audio-only files still get a Cluster (and a seek point) every few seconds.
const CLUSTER_AUDIO_MS: u64 = 5_000;

/// The EBML id as written (ids carry their own length marker).
fn put_id(out: &mut Vec<u8>, id: u32) {
    let b = id.to_be_bytes();
    let skip = b.iter().position(|&x| x != 0).unwrap_or(3);
    out.extend_from_slice(&b[skip..]);
}

/// An element size in the shortest variable-length integer (all-ones is reserved).
fn put_size(out: &mut Vec<u8>, n: u64) {
    let mut len = 1;
    while len < 8 && n >= (1u64 << (7 * len)) - 1 {
        len += 1;
    }
    let v = n | (1u64 << (7 * len));
    out.extend_from_slice(&v.to_be_bytes()[8 - len..]);
}

/// A size in 8 bytes, for sizes patched later.
fn size8(n: u64) -> [u8; 8] {
    (n | (1u64 << 56)).to_be_bytes()
}

fn put_uint(out: &mut Vec<u8>, id: u32, v: u64) {
    put_id(out, id);
    let b = v.to_be_bytes();
    let skip = b.iter().position(|&x| x != 0).unwrap_or(7);
    put_size(out, (8 - skip) as u64);
    out.extend_from_slice(&b[skip..]);
}

fn put_float(out: &mut Vec<u8>, id: u32, v: f64) {
    put_id(out, id);
    put_size(out, 8);
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_bytes(out: &mut Vec<u8>, id: u32, data: &[u8]) {
    put_id(out, id);
    put_size(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn put_master(out: &mut Vec<u8>, id: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let mut b = Vec::new();
    body(&mut b);
    put_bytes(out, id, &b);
}

#[derive(Debug, Clone, PartialEq)]
pub enum TrackType {
    Video { width: u32, height: u32 },
    Audio { rate: f64, channels: u8 },
}

/// One track of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackEntry {
    pub number: u64,
    pub codec_id: &'static str,
    pub codec_private: Option<Vec<u8>>,
    /// Opus: the decoder's delay (pre-skip) and how much to decode before a seek target.
    pub codec_delay_ns: u64,
    pub seek_pre_roll_ns: u64,
    pub kind: TrackType,
}

/// What the writer gives its sink: bytes to append, and at the end bytes to write over
/// earlier positions.
#[derive(Debug, Default, PartialEq)]
pub struct Finish {
    pub tail: Vec<u8>,
    pub patches: Vec<(u64, Vec<u8>)>,
    pub duration_ms: u64,
}

pub struct Mkv {
    /// Bytes handed out so far (the file position of the next append).
    pos: u64,
    segment_size_pos: u64,
    segment_data: u64,
    seek_head_pos: u64,
    duration_pos: u64,
    info_pos: u64,
    tracks_pos: u64,
    video_track: Option<u64>,
    /// The open Cluster: its timestamp and its body so far.
    cluster_ms: Option<u64>,
    cluster: Vec<u8>,
    cluster_keyframe: bool,
    cues: Vec<(u64, u64, u64)>,
    /// The end of the last block written (its timestamp plus the gap to its predecessor on
    /// the same track, as a frame length estimate).
    end_ms: u64,
    last_ms: Vec<(u64, u64)>,
}

impl Mkv {
    /// The writer and the header bytes the file starts with. `webm` chooses the DocType
    /// ("webm" only allows VP8/VP9/AV1 and Opus/Vorbis; "matroska" any codec).
    pub fn new(webm: bool, app: &str, tracks: &[TrackEntry]) -> (Self, Vec<u8>) {
        let mut out = Vec::with_capacity(512);
        put_master(&mut out, EBML, |b| {
            put_uint(b, 0x4286, 1); // EBMLVersion
            put_uint(b, 0x42F7, 1); // EBMLReadVersion
            put_uint(b, 0x42F2, 4); // EBMLMaxIDLength
            put_uint(b, 0x42F3, 8); // EBMLMaxSizeLength
            put_bytes(b, 0x4282, if webm { b"webm" } else { b"matroska" }); // DocType
            put_uint(b, 0x4287, 4); // DocTypeVersion
            put_uint(b, 0x4285, 2); // DocTypeReadVersion
        });
        put_id(&mut out, SEGMENT);
        let segment_size_pos = out.len() as u64;
        out.extend_from_slice(&0x01FF_FFFF_FFFF_FFFFu64.to_be_bytes()); // unknown until finish
        let segment_data = out.len() as u64;
        let seek_head_pos = out.len() as u64;
        put_id(&mut out, VOID);
        out.extend_from_slice(&size8((SEEK_HEAD_ROOM - 9) as u64));
        out.resize(out.len() + SEEK_HEAD_ROOM - 9, 0);
        let info_pos = out.len() as u64;
        let mut duration_off = 0;
        put_master(&mut out, INFO, |b| {
            put_uint(b, 0x2A_D7B1, 1_000_000); // TimestampScale: milliseconds
            put_bytes(b, 0x4D80, app.as_bytes()); // MuxingApp
            put_bytes(b, 0x5741, app.as_bytes()); // WritingApp
            put_float(b, 0x4489, 0.0); // Duration, patched by finish()
            duration_off = b.len() - 8;
        });
        // The Info body starts after its id (4 bytes) and its one-byte size.
        let duration_pos = info_pos + 5 + duration_off as u64;
        let tracks_pos = out.len() as u64;
        put_master(&mut out, TRACKS, |b| {
            for t in tracks {
                put_master(b, 0xAE, |e| {
                    put_uint(e, 0xD7, t.number); // TrackNumber
                    put_uint(e, 0x73C5, t.number); // TrackUID
                    let track_type = match t.kind {
                        TrackType::Video { .. } => 1,
                        TrackType::Audio { .. } => 2,
                    };
                    put_uint(e, 0x83, track_type); // TrackType
                    put_uint(e, 0x9C, 0); // FlagLacing
                    put_bytes(e, 0x86, t.codec_id.as_bytes()); // CodecID
                    if let Some(p) = &t.codec_private {
                        put_bytes(e, 0x63A2, p);
                    }
                    if t.codec_delay_ns > 0 {
                        put_uint(e, 0x56AA, t.codec_delay_ns);
                    }
                    if t.seek_pre_roll_ns > 0 {
                        put_uint(e, 0x56BB, t.seek_pre_roll_ns);
                    }
                    match t.kind {
                        TrackType::Video { width, height } => put_master(e, 0xE0, |v| {
                            put_uint(v, 0xB0, width.into());
                            put_uint(v, 0xBA, height.into());
                        }),
                        TrackType::Audio { rate, channels } => put_master(e, 0xE1, |a| {
                            put_float(a, 0xB5, rate);
                            put_uint(a, 0x9F, channels.into());
                        }),
                    }
                });
            }
        });
        let video_track = tracks
            .iter()
            .find(|t| matches!(t.kind, TrackType::Video { .. }))
            .map(|t| t.number);
        let pos = out.len() as u64;
        let mkv = Self {
            pos,
            segment_size_pos,
            segment_data,
            seek_head_pos,
            duration_pos,
            info_pos,
            tracks_pos,
            video_track,
            cluster_ms: None,
            cluster: Vec::new(),
            cluster_keyframe: false,
            cues: Vec::new(),
            end_ms: 0,
            last_ms: Vec::new(),
        };
        (mkv, out)
    }

    /// Adds one frame. Returns a finished Cluster to append when this frame opened a new one.
    /// `ms` must not go below the open Cluster's timestamp (it is raised to it).
    pub fn block(&mut self, track: u64, ms: u64, keyframe: bool, data: &[u8]) -> Option<Vec<u8>> {
        let video_key = keyframe && Some(track) == self.video_track;
        let new_cluster = match self.cluster_ms {
            None => true,
            Some(c) => {
                (video_key && !self.cluster.is_empty())
                    || ms.saturating_sub(c) >= CLUSTER_MAX_MS
                    || (self.video_track.is_none() && ms.saturating_sub(c) >= CLUSTER_AUDIO_MS)
            }
        };
        let done = if new_cluster {
            self.close_cluster()
        } else {
            None
        };
        if new_cluster {
            self.cluster_ms = Some(ms);
            self.cluster_keyframe = video_key;
        }
        let base = self.cluster_ms.unwrap_or(ms);
        let ms = ms.max(base);
        let rel = (ms - base) as i16;
        // SimpleBlock: track number (vint), timestamp offset, flags, frame.
        put_id(&mut self.cluster, 0xA3);
        put_size(&mut self.cluster, 4 + data.len() as u64);
        self.cluster.push(0x80 | track as u8);
        self.cluster.extend_from_slice(&rel.to_be_bytes());
        self.cluster.push(if keyframe { 0x80 } else { 0 });
        self.cluster.extend_from_slice(data);
        let prev = match self.last_ms.iter_mut().find(|(t, _)| *t == track) {
            Some((_, last)) => std::mem::replace(last, ms),
            None => {
                self.last_ms.push((track, ms));
                ms
            }
        };
        let frame_len = (ms - prev).clamp(1, 100);
        self.end_ms = self.end_ms.max(ms + frame_len);
        done
    }

    fn close_cluster(&mut self) -> Option<Vec<u8>> {
        let ms = self.cluster_ms.take()?;
        let mut out = Vec::with_capacity(self.cluster.len() + 16);
        let mut ts = Vec::with_capacity(10);
        put_uint(&mut ts, 0xE7, ms); // Timestamp
        put_id(&mut out, CLUSTER);
        put_size(&mut out, (ts.len() + self.cluster.len()) as u64);
        out.extend_from_slice(&ts);
        out.append(&mut self.cluster);
        if self.cluster_keyframe {
            if let Some(v) = self.video_track {
                self.cues.push((ms, v, self.pos - self.segment_data));
            }
        } else if self.video_track.is_none() {
            // Audio only: every Cluster is a seek point.
            self.cues.push((ms, 1, self.pos - self.segment_data));
        }
        self.pos += out.len() as u64;
        Some(out)
    }

    /// Closes the file: the last Cluster and the Cues to append, then the patches.
    pub fn finish(mut self) -> Finish {
        let mut tail = self.close_cluster().unwrap_or_default();
        let cues_pos = self.pos;
        let mut cues = Vec::new();
        if !self.cues.is_empty() {
            put_master(&mut cues, CUES, |b| {
                for &(ms, track, at) in &self.cues {
                    put_master(b, 0xBB, |p| {
                        put_uint(p, 0xB3, ms); // CueTime
                        put_master(p, 0xB7, |t| {
                            put_uint(t, 0xF7, track); // CueTrack
                            put_uint(t, 0xF1, at); // CueClusterPosition
                        });
                    });
                }
            });
        }
        let end = cues_pos + cues.len() as u64;
        tail.extend_from_slice(&cues);
        let mut seek = Vec::with_capacity(SEEK_HEAD_ROOM);
        put_master(&mut seek, SEEK_HEAD, |b| {
            let mut entry = |id: u32, at: u64| {
                put_master(b, SEEK, |s| {
                    let mut idb = Vec::new();
                    put_id(&mut idb, id);
                    put_bytes(s, SEEK_ID, &idb);
                    put_id(s, SEEK_POSITION);
                    put_size(s, 8);
                    s.extend_from_slice(&at.to_be_bytes());
                });
            };
            entry(INFO, self.info_pos - self.segment_data);
            entry(TRACKS, self.tracks_pos - self.segment_data);
            if !self.cues.is_empty() {
                entry(CUES, cues_pos - self.segment_data);
            }
        });
        let rest = SEEK_HEAD_ROOM - seek.len();
        put_id(&mut seek, VOID);
        put_size(&mut seek, rest as u64 - 2);
        seek.resize(SEEK_HEAD_ROOM, 0);
        let duration_ms = self.end_ms;
        Finish {
            patches: vec![
                (
                    self.segment_size_pos,
                    size8(end - self.segment_data).to_vec(),
                ),
                (
                    self.duration_pos,
                    (duration_ms as f64).to_be_bytes().to_vec(),
                ),
                (self.seek_head_pos, seek),
            ],
            tail,
            duration_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(mut file: Vec<u8>, f: &Finish) -> Vec<u8> {
        file.extend_from_slice(&f.tail);
        for (at, bytes) in &f.patches {
            file[*at as usize..*at as usize + bytes.len()].copy_from_slice(bytes);
        }
        file
    }

    #[test]
    fn sizes_and_ids_are_the_shortest_ebml_forms() {
        let mut b = Vec::new();
        put_size(&mut b, 0);
        put_size(&mut b, 126);
        put_size(&mut b, 127); // 0x7f alone would be the reserved all-ones form
        put_size(&mut b, 16_382);
        assert_eq!(b, [0x80, 0xFE, 0x40, 0x7F, 0x7F, 0xFE]);
        let mut i = Vec::new();
        put_id(&mut i, 0xA3);
        put_id(&mut i, 0x4286);
        put_id(&mut i, 0x1A45_DFA3);
        assert_eq!(i, [0xA3, 0x42, 0x86, 0x1A, 0x45, 0xDF, 0xA3]);
        let mut u = Vec::new();
        put_uint(&mut u, 0xD7, 0);
        put_uint(&mut u, 0x2A_D7B1, 1_000_000);
        assert_eq!(
            u,
            [0xD7, 0x81, 0x00, 0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40]
        );
    }

    #[test]
    fn a_file_is_header_clusters_cues_and_patches() {
        let tracks = [
            TrackEntry {
                number: 1,
                codec_id: "V_VP8",
                codec_private: None,
                codec_delay_ns: 0,
                seek_pre_roll_ns: 0,
                kind: TrackType::Video {
                    width: 640,
                    height: 360,
                },
            },
            TrackEntry {
                number: 2,
                codec_id: "A_OPUS",
                codec_private: Some(b"OpusHead".to_vec()),
                codec_delay_ns: 0,
                seek_pre_roll_ns: 80_000_000,
                kind: TrackType::Audio {
                    rate: 48_000.0,
                    channels: 2,
                },
            },
        ];
        let (mut m, head) = Mkv::new(true, "t", &tracks);
        assert_eq!(&head[..4], &[0x1A, 0x45, 0xDF, 0xA3]);
        assert!(head.windows(4).any(|w| w == b"webm"));
        let mut file = head;
        assert!(m.block(1, 0, true, &[1, 2, 3]).is_none());
        assert!(m.block(2, 5, true, &[9]).is_none());
        assert!(m.block(1, 33, false, &[4]).is_none());
        // The next keyframe closes the first Cluster, whole.
        let c = m.block(1, 1000, true, &[5]).expect("cluster");
        assert_eq!(&c[..4], &[0x1F, 0x43, 0xB6, 0x75]);
        // Size, then Timestamp 0, then SimpleBlock: track 1, offset 0, keyframe, [1,2,3].
        assert_eq!(&c[5..8], &[0xE7, 0x81, 0x00]);
        assert_eq!(&c[8..16], &[0xA3, 0x87, 0x81, 0x00, 0x00, 0x80, 1, 2]);
        // Audio block: track 2, offset 5.
        assert_eq!(&c[17..23], &[0xA3, 0x85, 0x82, 0x00, 0x05, 0x80]);
        let cluster_at = file.len() as u64;
        file.extend_from_slice(&c);
        let f = m.finish();
        assert_eq!(
            f.duration_ms, 1100,
            "the last frame lasts as long as the gap before it, at most 100 ms"
        );
        let file = apply(file, &f);
        // Segment size covers everything after its size field.
        let seg = file
            .windows(4)
            .position(|w| w == [0x18, 0x53, 0x80, 0x67])
            .unwrap();
        let size =
            u64::from_be_bytes(file[seg + 4..seg + 12].try_into().unwrap()) & ((1 << 56) - 1);
        assert_eq!(seg as u64 + 12 + size, file.len() as u64);
        // The SeekHead sits where the Void was, and Cues point at both Clusters.
        assert_eq!(&file[seg + 12..seg + 16], &[0x11, 0x4D, 0x9B, 0x74]);
        let cues = file
            .windows(4)
            .position(|w| w == [0x1C, 0x53, 0xBB, 0x6B])
            .unwrap();
        let first = cluster_at - (seg as u64 + 12);
        assert!(
            file[cues..]
                .windows(3)
                .any(|w| w == [0xF1, 0x81, first as u8])
                || first > 255
        );
        // Duration 1100.0 ms.
        assert!(file.windows(10).any(|w| w[..2] == [0x44, 0x89]
            && w[2] == 0x88
            && w[3..] == 1100f64.to_be_bytes()[..7]));
    }
}
