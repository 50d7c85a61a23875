//! RTP parameters as the facade sends them (mediasoup's JSON shapes): validation of a
//! producer's parameters against its mapping, normalisation (canonical MIME types, absent
//! fields as mediasoup fills them), header-extension ids, RTCP feedback, scalability modes.
//! Pure functions over JSON values: no object of the graph, no state.

use crate::core::message::CoreError;
use crate::core::rtp::{ExtIds, ExtUri, EXT_COUNT};
use serde_json::{json, Value};

pub fn ext_ids_of(params: &Value) -> ExtIds {
    let mut ids = [0u8; EXT_COUNT];
    for e in params
        .get("headerExtensions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(uri), Some(id)) = (
            e.get("uri").and_then(Value::as_str),
            e.get("id").and_then(Value::as_u64),
        ) {
            if let Some(u) = ExtUri::from_uri(uri) {
                ids[u as usize] = id as u8;
            }
        }
    }
    ids
}

/// The producer checks mediasoup's worker makes beyond the facade's ortc validation.
pub fn validate_producer_parameters(rtp: &Value, mapping: &Value) -> Result<(), CoreError> {
    let codecs = rtp["codecs"].as_array().map_or(0, Vec::len);
    if codecs == 0 {
        return Err(CoreError::type_error("empty rtpParameters.codecs"));
    }
    let encodings = rtp["encodings"].as_array().cloned().unwrap_or_default();
    if encodings.is_empty() {
        return Err(CoreError::type_error("empty rtpParameters.encodings"));
    }
    let maps = mapping["encodings"].as_array().map_or(0, Vec::len);
    if maps != encodings.len() {
        return Err(CoreError::type_error(
            "rtpParameters.encodings size does not match rtpMapping.encodings size",
        ));
    }
    let has_id = |e: &Value| {
        e["ssrc"].as_u64().is_some() || e["rid"].as_str().is_some_and(|r| !r.is_empty())
    };
    if encodings.len() > 1 && !encodings.iter().all(has_id) {
        return Err(CoreError::type_error(
            "wrong entry in rtpParameters.encodings (missing ssrc or rid)",
        ));
    }
    let mid = rtp["mid"].as_str().unwrap_or("");
    if mid.is_empty() && encodings.len() == 1 && !has_id(&encodings[0]) {
        return Err(CoreError::type_error(
            "wrong entry in rtpParameters.encodings (missing ssrc or rid, or rtpParameters.mid)",
        ));
    }
    for e in rtp["headerExtensions"].as_array().into_iter().flatten() {
        if e["id"].as_u64() == Some(0) {
            return Err(CoreError::type_error("RTP extension id cannot be 0"));
        }
    }
    Ok(())
}

/// Stores parameters the way mediasoup's worker reports them back in `dump()`: every encoding
/// names its codec payload type, and an empty RTCP feedback parameter is left out.
pub fn normalize_rtp_parameters(rtp: &mut Value) {
    for c in rtp
        .get_mut("codecs")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(m) = c["mimeType"].as_str().and_then(canonical_mime) {
            c["mimeType"] = json!(m);
        }
    }
    let first_media = rtp["codecs"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|c| {
            let mime = c["mimeType"].as_str()?.to_ascii_lowercase();
            (!mime.ends_with("/rtx")).then(|| c["payloadType"].clone())
        });
    if let (Some(pt), Some(encs)) = (
        first_media,
        rtp.get_mut("encodings").and_then(Value::as_array_mut),
    ) {
        for e in encs {
            if e.get("codecPayloadType").is_none_or(Value::is_null) {
                e["codecPayloadType"] = pt.clone();
            }
        }
    }
    for c in rtp
        .get_mut("codecs")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for fb in c
            .get_mut("rtcpFeedback")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if fb["parameter"].as_str() == Some("") {
                if let Some(o) = fb.as_object_mut() {
                    o.remove("parameter");
                }
            }
        }
    }
}

/// mediasoup's spelling of a MIME type ("video/h264" → "video/H264").
fn canonical_mime(mime: &str) -> Option<String> {
    const SUBTYPES: [&str; 22] = [
        "opus",
        "multiopus",
        "PCMU",
        "PCMA",
        "ISAC",
        "G722",
        "iLBC",
        "SILK",
        "CN",
        "telephone-event",
        "rtx",
        "ulpfec",
        "flexfec",
        "x-ulpfec",
        "red",
        "VP8",
        "VP9",
        "H264",
        "H264-SVC",
        "H265",
        "AV1",
        "x-flexfec",
    ];
    let (kind, sub) = mime.split_once('/')?;
    let kind = kind.to_ascii_lowercase();
    let sub = SUBTYPES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(sub))
        .map_or(sub, |s| *s);
    Some(format!("{kind}/{sub}"))
}

pub fn has_fb(codec: &Value, ty: &str, param: &str) -> bool {
    codec
        .get("rtcpFeedback")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|f| {
            f.get("type").and_then(Value::as_str) == Some(ty)
                && f.get("parameter").and_then(Value::as_str).unwrap_or("") == param
        })
}

/// Preferred layers clamped to what a consumer's single encoding offers (its scalabilityMode);
/// a missing layer means the highest.
pub fn clamp_layers(rtp: &Value, spatial: Option<u64>, temporal: Option<u64>) -> Value {
    let mode = rtp["encodings"][0]["scalabilityMode"]
        .as_str()
        .unwrap_or("L1T1");
    let (max_s, max_t) = parse_layers(mode);
    let s = spatial.map_or(max_s - 1, |s| s.min(max_s - 1));
    let t = temporal.map_or(max_t - 1, |t| t.min(max_t - 1));
    json!({ "spatialLayer": s, "temporalLayer": t })
}

/// Spatial and temporal layer counts of a scalability mode such as "L3T3_KEY" or "S2T1".
pub fn parse_layers(mode: &str) -> (u64, u64) {
    let b = mode.as_bytes();
    if b.len() < 4 || !(b[0] == b'L' || b[0] == b'S') {
        return (1, 1);
    }
    let rest = &mode[1..];
    let Some(t) = rest.find('T') else {
        return (1, 1);
    };
    let s: u64 = rest[..t].parse().unwrap_or(1);
    let tl: u64 = rest[t + 1..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(1);
    (s.max(1), tl.max(1))
}
