//! `--follow`: reading a file that is still being written, like `tail -f`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

/// How often to look for new data at the end of the file.
const POLL: Duration = Duration::from_millis(50);

/// A reader that waits at the end of the file for more data instead of
/// ending. A file truncated under it is read again from the start.
#[derive(Debug)]
pub struct Follow {
    file: File,
    position: u64,
}

impl Follow {
    pub fn new(file: File) -> Self {
        Self { file, position: 0 }
    }
}

impl Read for Follow {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let read = self.file.read(buffer)?;
            if read > 0 {
                self.position += read as u64;
                return Ok(read);
            }
            if self.file.metadata()?.len() < self.position {
                tracing::info!("input was truncated; reading it from the start");
                self.position = self.file.seek(SeekFrom::Start(0))?;
                continue;
            }
            std::thread::sleep(POLL);
        }
    }
}
