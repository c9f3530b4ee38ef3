//! Chunked transfer coding (RFC 9112 §7.1), validated in place.
//!
//! ringlb relays chunked bodies byte for byte; the decoder only has to find
//! where the message ends (so a pipelined message after it is not mistaken
//! for body) and refuse anything two parsers could read differently. It
//! keeps a few integers of state, so input may arrive split at any byte.

/// Longest chunk-size line (size, extensions; CRLF excluded). Extensions
/// are skipped, not interpreted, and must not let a peer stream forever
/// without a chunk boundary.
pub const MAX_CHUNK_LINE: usize = 4096;

/// Longest trailer section, final CRLF included.
pub const MAX_TRAILER_SECTION: usize = 16 * 1024;

/// Outcome of feeding bytes to a body decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input that belong to this body. When `done`, the next
    /// message starts at `input[consumed..]`.
    pub consumed: usize,
    /// The body ended within (or before) this input.
    pub done: bool,
}

/// Why a chunked body is refused. After one, the decoder keeps returning
/// it: the connection cannot be resynchronised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChunkError {
    /// Chunk size missing or with a non-hex byte.
    InvalidSize,
    /// Chunk size beyond u64.
    SizeOverflow,
    /// Chunk extension with a control byte, or whitespace not before `;`.
    InvalidExtension,
    /// Chunk-size line longer than [`MAX_CHUNK_LINE`].
    LineTooLong,
    /// A line did not end with CRLF, or chunk data was not followed by one.
    MissingCrlf,
    /// Trailer field line malformed (bad name, control byte, obs-fold).
    InvalidTrailer,
    /// Trailer section longer than [`MAX_TRAILER_SECTION`].
    TrailerTooLarge,
}

impl ChunkError {
    /// Short text for logs.
    pub fn reason(self) -> &'static str {
        match self {
            ChunkError::InvalidSize => "invalid chunk size",
            ChunkError::SizeOverflow => "chunk size overflow",
            ChunkError::InvalidExtension => "invalid chunk extension",
            ChunkError::LineTooLong => "chunk size line too long",
            ChunkError::MissingCrlf => "missing CRLF in chunked body",
            ChunkError::InvalidTrailer => "invalid trailer field",
            ChunkError::TrailerTooLarge => "trailer section too large",
        }
    }

    /// Status for a client whose request body this was.
    pub fn status(self) -> u16 {
        400
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Start of a chunk-size line: a hex digit must come.
    SizeStart,
    /// In the hex digits.
    Size,
    /// Whitespace after the size: only `;` may follow (BWS).
    SizeBws,
    /// In chunk extensions, skipped up to CR.
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    FinalLf,
    Done,
    Failed(ChunkError),
}

/// Streaming validator for a chunked body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: State,
    /// Size being read, then data bytes left in the current chunk.
    remaining: u64,
    /// Bytes of the current size line, for the MAX_CHUNK_LINE bound.
    line_len: usize,
    /// Bytes of the trailer section, for the MAX_TRAILER_SECTION bound.
    trailer_len: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::SizeStart,
            remaining: 0,
            line_len: 0,
            trailer_len: 0,
        }
    }

    /// The final CRLF has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Validates `input`; see [`Progress`].
    pub fn feed(&mut self, input: &[u8]) -> Result<Progress, ChunkError> {
        self.feed_with(input, |_| {})
    }

    /// Like [`feed`](Self::feed), and hands each run of chunk data (without
    /// sizes, extensions, CRLFs or trailers) to `on_data`, in order: what a
    /// de-chunking relay to an HTTP/1.0 client sends.
    pub fn feed_with(
        &mut self,
        input: &[u8],
        mut on_data: impl FnMut(&[u8]),
    ) -> Result<Progress, ChunkError> {
        let mut at = 0;
        while let Some(rest) = input.get(at..).filter(|r| !r.is_empty()) {
            match self.state {
                State::Done => break,
                State::Failed(e) => return Err(e),
                State::Data => {
                    let take = usize::try_from(self.remaining)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    let (data, _) = rest.split_at(take);
                    on_data(data);
                    at += take;
                    self.remaining -= take as u64;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                }
                _ => {
                    // Control bytes: one at a time.
                    for &b in rest {
                        at += 1;
                        if let Err(e) = self.step(b) {
                            self.state = State::Failed(e);
                            return Err(e);
                        }
                        if matches!(self.state, State::Data | State::Done) {
                            break;
                        }
                    }
                }
            }
        }
        if let State::Failed(e) = self.state {
            return Err(e);
        }
        Ok(Progress {
            consumed: at,
            done: self.state == State::Done,
        })
    }

    fn step(&mut self, b: u8) -> Result<(), ChunkError> {
        match self.state {
            State::SizeStart | State::Size | State::SizeBws | State::Ext => {
                if b != b'\r' {
                    self.line_len += 1;
                    if self.line_len > MAX_CHUNK_LINE {
                        return Err(ChunkError::LineTooLong);
                    }
                }
                self.step_size_line(b)
            }
            State::SizeLf => {
                expect_lf(b)?;
                self.line_len = 0;
                self.state = if self.remaining == 0 {
                    State::TrailerStart
                } else {
                    State::Data
                };
                Ok(())
            }
            State::DataCr => {
                if b != b'\r' {
                    return Err(ChunkError::MissingCrlf);
                }
                self.state = State::DataLf;
                Ok(())
            }
            State::DataLf => {
                expect_lf(b)?;
                self.state = State::SizeStart;
                Ok(())
            }
            State::TrailerStart
            | State::TrailerName
            | State::TrailerValue
            | State::TrailerLf
            | State::FinalLf => {
                self.trailer_len += 1;
                if self.trailer_len > MAX_TRAILER_SECTION {
                    return Err(ChunkError::TrailerTooLarge);
                }
                self.step_trailer(b)
            }
            // Not reached: feed_with handles these before stepping.
            State::Data | State::Done => Ok(()),
            State::Failed(e) => Err(e),
        }
    }

    fn step_size_line(&mut self, b: u8) -> Result<(), ChunkError> {
        match (self.state, b) {
            (State::SizeStart | State::Size, _) if b.is_ascii_hexdigit() => {
                let digit = u64::from(hex_value(b));
                self.remaining = self
                    .remaining
                    .checked_mul(16)
                    .and_then(|v| v.checked_add(digit))
                    .ok_or(ChunkError::SizeOverflow)?;
                self.state = State::Size;
            }
            (State::SizeStart, _) => return Err(ChunkError::InvalidSize),
            (State::Size | State::SizeBws, b' ' | b'\t') => self.state = State::SizeBws,
            (State::Size | State::SizeBws, b';') => self.state = State::Ext,
            (State::Size | State::Ext, b'\r') => self.state = State::SizeLf,
            (State::Size, _) => return Err(ChunkError::InvalidSize),
            (State::SizeBws, _) => return Err(ChunkError::InvalidExtension),
            // qdtext and token bytes, `;`, `=`, `"`, `\`, HTAB, SP, obs-text.
            (State::Ext, _) if b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80 => {}
            _ => return Err(ChunkError::InvalidExtension),
        }
        Ok(())
    }

    fn step_trailer(&mut self, b: u8) -> Result<(), ChunkError> {
        self.state = match (self.state, b) {
            (State::TrailerStart, b'\r') => State::FinalLf,
            (State::TrailerStart | State::TrailerName, _) if super::fields::is_tchar(b) => {
                State::TrailerName
            }
            (State::TrailerName, b':') => State::TrailerValue,
            (State::TrailerValue, b'\r') => State::TrailerLf,
            (State::TrailerValue, _) if b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80 => {
                State::TrailerValue
            }
            (State::TrailerLf, _) => {
                expect_lf(b)?;
                State::TrailerStart
            }
            (State::FinalLf, _) => {
                expect_lf(b)?;
                State::Done
            }
            _ => return Err(ChunkError::InvalidTrailer),
        };
        Ok(())
    }
}

fn expect_lf(b: u8) -> Result<(), ChunkError> {
    if b == b'\n' {
        Ok(())
    } else {
        Err(ChunkError::MissingCrlf)
    }
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
#[path = "chunked_tests.rs"]
mod tests;
