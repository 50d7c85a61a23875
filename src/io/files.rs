//! Recording files: the core's `Sink` over a buffered `std::fs::File`, written by the worker
//! thread (a recording's writes are a few hundred kilobytes a second, buffered in 256 KiB).

use crate::core::recorder::Sink;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};

struct FileSink {
    file: BufWriter<File>,
}

impl Sink for FileSink {
    fn append(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.file.write_all(data)
    }

    fn write_at(&mut self, pos: u64, data: &[u8]) -> std::io::Result<()> {
        let end = self.file.seek(SeekFrom::End(0))?;
        self.file.seek(SeekFrom::Start(pos))?;
        self.file.write_all(data)?;
        self.file.seek(SeekFrom::Start(end))?;
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Creates (or truncates) the file at `path`.
pub fn open(path: &str) -> std::io::Result<Box<dyn Sink>> {
    let file = File::create(path)?;
    Ok(Box::new(FileSink {
        file: BufWriter::with_capacity(256 * 1024, file),
    }))
}
