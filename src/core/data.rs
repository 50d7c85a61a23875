//! DataProducer and DataConsumer: messages between SCTP streams (data channels) and direct
//! (Node) endpoints, routed producer → consumers by the router.
//!
//! Owns each object's stream parameters, subchannels, pause state and counters. It does not
//! touch SCTP associations or transports (the router sends through them) nor other objects.

use crate::core::sctp::StreamOptions;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    Sctp,
    Direct,
}

impl DataKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DataKind::Sctp => "sctp",
            DataKind::Direct => "direct",
        }
    }
}

pub struct DataProducer {
    pub id: String,
    pub transport: u32,
    pub kind: DataKind,
    pub stream_id: Option<u16>,
    pub sctp_stream_parameters: Value,
    pub label: String,
    pub protocol: String,
    pub paused: bool,
    pub consumers: Vec<u32>,
    pub messages: u64,
    pub bytes: u64,
}

impl DataProducer {
    pub fn dump(&self) -> Value {
        without_nulls(json!({
            "id": self.id,
            "type": self.kind.as_str(),
            "sctpStreamParameters": self.sctp_stream_parameters,
            "label": self.label,
            "protocol": self.protocol,
            "paused": self.paused,
        }))
    }

    pub fn stats(&self, ts: u64) -> Value {
        json!([{
            "type": "data-producer",
            "timestamp": ts,
            "label": self.label,
            "protocol": self.protocol,
            "messagesReceived": self.messages,
            "bytesReceived": self.bytes,
        }])
    }
}

pub struct DataConsumer {
    pub id: String,
    pub transport: u32,
    pub producer: u32,
    pub data_producer_id: String,
    pub kind: DataKind,
    pub stream_id: Option<u16>,
    pub options: StreamOptions,
    pub sctp_stream_parameters: Value,
    pub label: String,
    pub protocol: String,
    pub paused: bool,
    pub producer_paused: bool,
    pub subchannels: Vec<u16>,
    pub messages: u64,
    pub bytes: u64,
    pub buffered_amount_low_threshold: usize,
    /// Whether the buffered amount was above the threshold (to emit 'bufferedamountlow' once
    /// it falls back).
    pub above_threshold: bool,
}

impl DataConsumer {
    /// Whether a message with these subchannel options reaches this consumer (mediasoup 3.13+
    /// subchannels: a message with subchannels goes to consumers subscribed to any of them;
    /// `requiredSubchannel` must be among theirs).
    pub fn accepts(&self, subchannels: Option<&[u16]>, required: Option<u16>) -> bool {
        if let Some(r) = required {
            if !self.subchannels.contains(&r) {
                return false;
            }
        }
        match subchannels {
            Some(list) => list.iter().any(|s| self.subchannels.contains(s)),
            None => true,
        }
    }

    pub fn dump(&self) -> Value {
        without_nulls(json!({
            "id": self.id,
            "dataProducerId": self.data_producer_id,
            "type": self.kind.as_str(),
            "sctpStreamParameters": self.sctp_stream_parameters,
            "label": self.label,
            "protocol": self.protocol,
            "bufferedAmountLowThreshold": self.buffered_amount_low_threshold,
            "paused": self.paused,
            "dataProducerPaused": self.producer_paused,
            "subchannels": self.subchannels,
        }))
    }

    pub fn stats(&self, ts: u64, buffered: usize) -> Value {
        json!([{
            "type": "data-consumer",
            "timestamp": ts,
            "label": self.label,
            "protocol": self.protocol,
            "messagesSent": self.messages,
            "bytesSent": self.bytes,
            "bufferedAmount": buffered,
        }])
    }
}

/// Dumps leave out what a transport kind does not have (e.g. SCTP parameters when direct).
fn without_nulls(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.retain(|_, x| !x.is_null());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumer(subchannels: Vec<u16>) -> DataConsumer {
        DataConsumer {
            id: "c".into(),
            transport: 0,
            producer: 0,
            data_producer_id: "p".into(),
            kind: DataKind::Direct,
            stream_id: None,
            options: StreamOptions::default(),
            sctp_stream_parameters: Value::Null,
            label: String::new(),
            protocol: String::new(),
            paused: false,
            producer_paused: false,
            subchannels,
            messages: 0,
            bytes: 0,
            buffered_amount_low_threshold: 0,
            above_threshold: false,
        }
    }

    #[test]
    fn subchannel_filtering() {
        let c = consumer(vec![1, 2]);
        assert!(c.accepts(None, None));
        assert!(c.accepts(Some(&[2, 9]), None));
        assert!(!c.accepts(Some(&[9]), None));
        assert!(c.accepts(None, Some(1)));
        assert!(!c.accepts(None, Some(3)));
        assert!(!consumer(vec![]).accepts(Some(&[1]), None));
    }
}
