//! The napi-rs surface: thin. `BindingWorker` starts a worker thread and forwards requests;
//! everything the worker says arrives in JS through one ordered callback as JSON strings.

pub mod worker;
