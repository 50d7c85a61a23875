//! Codec payload inspection: keyframe detection per codec (the consumer waits for one after a
//! resume or a stream switch). One function per payload format.

pub mod av1;
pub mod blind;
pub mod dd;
pub mod h264;
pub mod vp8;
pub mod vp9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecKind {
    Opus,
    Vp8,
    Vp9,
    H264,
    Av1,
    Other,
}

impl CodecKind {
    /// From a mimeType such as "video/VP8" (case-insensitive).
    pub fn from_mime(mime: &str) -> Self {
        let sub = mime.rsplit('/').next().unwrap_or("").to_ascii_lowercase();
        match sub.as_str() {
            "opus" | "multiopus" => Self::Opus,
            "vp8" => Self::Vp8,
            "vp9" => Self::Vp9,
            "h264" | "h264-svc" => Self::H264,
            "av1" => Self::Av1,
            _ => Self::Other,
        }
    }

    pub fn is_keyframe(self, payload: &[u8]) -> bool {
        match self {
            Self::Vp8 => vp8::is_keyframe(payload),
            Self::Vp9 => vp9::is_keyframe(payload),
            Self::H264 => h264::is_keyframe(payload),
            Self::Av1 => av1::is_keyframe(payload),
            Self::Opus | Self::Other => false,
        }
    }
}
