//! One body follower for every framing, so the proxy drives a single state
//! machine whatever the head said.

use super::chunked::{ChunkError, ChunkedDecoder, Progress};
use super::ResponseFraming;

/// Where a message body stands. Built from a request's [`BodyFraming`]
/// (`BodyFraming` converts into [`ResponseFraming`]) or a response's
/// framing.
///
/// [`BodyFraming`]: super::BodyFraming
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyState {
    /// Body complete (or there was none).
    Done,
    /// Content-Length: bytes still expected.
    Length(u64),
    Chunked(ChunkedDecoder),
    /// Everything until the peer closes.
    UntilClose,
}

impl BodyState {
    pub fn new(framing: impl Into<ResponseFraming>) -> Self {
        match framing.into() {
            ResponseFraming::None | ResponseFraming::Length(0) => BodyState::Done,
            ResponseFraming::Length(n) => BodyState::Length(n),
            ResponseFraming::Chunked => BodyState::Chunked(ChunkedDecoder::new()),
            ResponseFraming::UntilClose => BodyState::UntilClose,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self, BodyState::Done)
    }

    /// Whether the peer closing now ends the body cleanly (rather than
    /// truncating it).
    pub fn complete_on_eof(&self) -> bool {
        matches!(self, BodyState::Done | BodyState::UntilClose)
    }

    /// Accounts for `input`, which starts at the current body position.
    /// `consumed` bytes belong to this body; once `done`, the rest of
    /// `input` is the next message.
    pub fn feed(&mut self, input: &[u8]) -> Result<Progress, ChunkError> {
        self.feed_with(input, |_| {})
    }

    /// Like [`feed`](Self::feed), handing payload bytes (chunk framing
    /// removed) to `on_data`.
    pub fn feed_with(
        &mut self,
        input: &[u8],
        mut on_data: impl FnMut(&[u8]),
    ) -> Result<Progress, ChunkError> {
        match self {
            BodyState::Done => Ok(Progress {
                consumed: 0,
                done: true,
            }),
            BodyState::Length(remaining) => {
                let take = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                let (data, _) = input.split_at(take);
                if !data.is_empty() {
                    on_data(data);
                }
                *remaining -= take as u64;
                let done = *remaining == 0;
                if done {
                    *self = BodyState::Done;
                }
                Ok(Progress {
                    consumed: take,
                    done,
                })
            }
            BodyState::Chunked(decoder) => {
                let progress = decoder.feed_with(input, on_data)?;
                if progress.done {
                    *self = BodyState::Done;
                }
                Ok(progress)
            }
            BodyState::UntilClose => {
                if !input.is_empty() {
                    on_data(input);
                }
                Ok(Progress {
                    consumed: input.len(),
                    done: false,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::BodyFraming;
    use super::*;

    #[test]
    fn length_body_stops_at_its_end() {
        let mut body = BodyState::new(BodyFraming::Length(5));
        assert_eq!(
            body.feed(b"abc").ok(),
            Some(Progress {
                consumed: 3,
                done: false
            })
        );
        assert!(!body.complete_on_eof());
        assert_eq!(
            body.feed(b"deGET /").ok(),
            Some(Progress {
                consumed: 2,
                done: true
            })
        );
        assert!(body.is_done());
        assert_eq!(
            body.feed(b"x").ok(),
            Some(Progress {
                consumed: 0,
                done: true
            })
        );
    }

    #[test]
    fn none_and_zero_length_are_done_at_once() {
        assert!(BodyState::new(BodyFraming::None).is_done());
        assert!(BodyState::new(BodyFraming::Length(0)).is_done());
        assert!(BodyState::new(ResponseFraming::None).is_done());
    }

    #[test]
    fn until_close_takes_everything_and_ends_on_eof() {
        let mut body = BodyState::new(ResponseFraming::UntilClose);
        let mut seen = Vec::new();
        let p = body.feed_with(b"hello", |d| seen.extend_from_slice(d));
        assert_eq!(
            p.ok(),
            Some(Progress {
                consumed: 5,
                done: false
            })
        );
        assert_eq!(seen, b"hello");
        assert!(body.complete_on_eof());
    }

    #[test]
    fn chunked_body_hands_payload_and_finds_the_end() {
        let mut body = BodyState::new(BodyFraming::Chunked);
        let mut seen = Vec::new();
        let input = b"3\r\nabc\r\n0\r\n\r\nNEXT";
        let p = body.feed_with(input, |d| seen.extend_from_slice(d));
        assert_eq!(
            p.ok(),
            Some(Progress {
                consumed: input.len() - 4,
                done: true
            })
        );
        assert_eq!(seen, b"abc");
        assert!(body.is_done());
    }

    #[test]
    fn chunked_error_surfaces() {
        let mut body = BodyState::new(ResponseFraming::Chunked);
        assert_eq!(body.feed(b"zz\r\n"), Err(ChunkError::InvalidSize));
    }
}
