use crate::core::message::Request;
use crate::io::worker_thread::{self, Command, Emit, OutMsg, Outbox, WorkerHandle, WorkerSettings};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Called with no argument when the worker has queued messages: JS then calls `drain()`.
type Doorbell = ThreadsafeFunction<(), (), (), Status, false>;

/// How long `request()` waits, spinning, for the answer before leaving it to the doorbell. An
/// idle worker answers a request in 5–30 µs; the doorbell path costs two thread wake-ups
/// (~20 µs each here) and a turn of Node's loop on top.
const ANSWER_WITHIN: Duration = Duration::from_micros(300);

/// After a request the worker did not answer in time (it was busy forwarding), this many
/// requests do not wait: a loaded worker must not cost Node's thread a spin per request.
const BACKOFF: u32 = 8;

/// A message for JS: the JSON line and, for binary ones, the payload.
#[napi(object)]
pub struct BindingMessage {
    pub message: String,
    pub payload: Option<Buffer>,
}

fn to_js(list: Vec<OutMsg>) -> Vec<BindingMessage> {
    list.into_iter()
        .map(|m| BindingMessage {
            message: m.text,
            payload: m.payload.map(Buffer::from),
        })
        .collect()
}

#[napi(object)]
pub struct BindingWorkerSettings {
    pub rtc_min_port: u32,
    pub rtc_max_port: u32,
    pub dtls_certificate_file: Option<String>,
    pub dtls_private_key_file: Option<String>,
    /// Test-only: lets `worker.crashForTesting` panic the thread (the facade sets it only when
    /// PEERWAVE_SFU_ALLOW_CRASH=1).
    pub allow_crash_for_testing: Option<bool>,
}

/// One worker thread. Dropping the callback when the thread ends lets Node exit.
#[napi]
pub struct BindingWorker {
    handle: Option<WorkerHandle>,
    /// Kept past `close()`: the thread's last messages ('closed') are taken after it.
    outbox: Arc<Outbox>,
    backoff: AtomicU32,
}

#[napi]
impl BindingWorker {
    #[napi(constructor)]
    pub fn new(
        settings: BindingWorkerSettings,
        #[napi(ts_arg_type = "() => void")] doorbell: Doorbell,
    ) -> Result<Self> {
        let s = WorkerSettings {
            rtc_min_port: settings.rtc_min_port.min(65535) as u16,
            rtc_max_port: settings.rtc_max_port.min(65535) as u16,
            dtls_certificate_file: settings.dtls_certificate_file,
            dtls_private_key_file: settings.dtls_private_key_file,
            allow_crash_for_testing: settings.allow_crash_for_testing.unwrap_or(false),
        };
        let outbox = Arc::new(Outbox::default());
        let emit = Emit::new(
            outbox.clone(),
            Box::new(move || {
                doorbell.call((), ThreadsafeFunctionCallMode::NonBlocking);
            }),
        );
        let handle = worker_thread::spawn(s, outbox.clone(), emit)
            .map_err(|e| Error::new(Status::GenericFailure, e))?;
        Ok(Self {
            handle: Some(handle),
            outbox,
            backoff: AtomicU32::new(0),
        })
    }

    /// Queues a request. Returns false when the worker is gone; the messages up to and
    /// including the answer when it came within `ANSWER_WITHIN`; true when the answer will come
    /// through the doorbell. Id 0 is a notification: nothing is waited for.
    #[napi(ts_return_type = "boolean | Array<BindingMessage>")]
    pub fn request(
        &self,
        id: u32,
        method: String,
        handler_id: String,
        data: String,
        payload: Option<Buffer>,
    ) -> Result<Either<bool, Vec<BindingMessage>>> {
        let data = if data.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&data)
                .map_err(|e| Error::new(Status::InvalidArg, format!("invalid request body: {e}")))?
        };
        let Some(h) = &self.handle else {
            return Ok(Either::A(false));
        };
        let sent = h.send(Command::Request(Request {
            id,
            method,
            handler_id,
            data,
            payload: payload.map(|b| b.to_vec()),
        }));
        if !sent || id == 0 {
            return Ok(Either::A(sent));
        }
        let skip = self.backoff.load(Ordering::Relaxed);
        if skip > 0 {
            self.backoff.store(skip - 1, Ordering::Relaxed);
            return Ok(Either::A(true));
        }
        match h.answer(id, ANSWER_WITHIN) {
            Some(list) => Ok(Either::B(to_js(list))),
            None => {
                self.backoff.store(BACKOFF, Ordering::Relaxed);
                Ok(Either::A(true))
            }
        }
    }

    /// What the worker has queued, in order (called when the doorbell rings).
    #[napi]
    pub fn drain(&self) -> Vec<BindingMessage> {
        to_js(self.outbox.take_all())
    }

    /// Stops the thread and frees its sockets. Idempotent.
    #[napi]
    pub fn close(&mut self) {
        if let Some(mut h) = self.handle.take() {
            h.close();
        }
    }
}
