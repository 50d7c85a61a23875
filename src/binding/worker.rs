use crate::core::message::Request;
use crate::io::worker_thread::{self, Command, Emit, WorkerHandle, WorkerSettings};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

/// Called as `callback(message, payload)`: FnArgs spreads the tuple into two JS arguments.
type Args = FnArgs<(String, Option<Buffer>)>;
type Callback = ThreadsafeFunction<Args, (), Args, Status, false>;

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
}

#[napi]
impl BindingWorker {
    #[napi(constructor)]
    pub fn new(
        settings: BindingWorkerSettings,
        #[napi(ts_arg_type = "(message: string, payload?: Buffer | null) => void")]
        callback: Callback,
    ) -> Result<Self> {
        let s = WorkerSettings {
            rtc_min_port: settings.rtc_min_port.min(65535) as u16,
            rtc_max_port: settings.rtc_max_port.min(65535) as u16,
            dtls_certificate_file: settings.dtls_certificate_file,
            dtls_private_key_file: settings.dtls_private_key_file,
            allow_crash_for_testing: settings.allow_crash_for_testing.unwrap_or(false),
        };
        let emit = Emit::new(Box::new(move |msg: String, payload: Option<Vec<u8>>| {
            callback.call(
                (msg, payload.map(Buffer::from)).into(),
                ThreadsafeFunctionCallMode::NonBlocking,
            );
        }));
        let handle =
            worker_thread::spawn(s, emit).map_err(|e| Error::new(Status::GenericFailure, e))?;
        Ok(Self {
            handle: Some(handle),
        })
    }

    /// Queues a request; the answer comes through the callback with the same id.
    #[napi]
    pub fn request(
        &self,
        id: u32,
        method: String,
        handler_id: String,
        data: String,
        payload: Option<Buffer>,
    ) -> Result<bool> {
        let data = if data.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&data)
                .map_err(|e| Error::new(Status::InvalidArg, format!("invalid request body: {e}")))?
        };
        Ok(match &self.handle {
            Some(h) => h.send(Command::Request(Request {
                id,
                method,
                handler_id,
                data,
                payload: payload.map(|b| b.to_vec()),
            })),
            None => false,
        })
    }

    /// Stops the thread and frees its sockets. Idempotent.
    #[napi]
    pub fn close(&mut self) {
        if let Some(mut h) = self.handle.take() {
            h.close();
        }
    }
}
