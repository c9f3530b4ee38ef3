use super::{ChunkError, ChunkedDecoder, Progress, MAX_CHUNK_LINE, MAX_TRAILER_SECTION};

const SIMPLE: &[u8] = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
const WITH_EXT_AND_TRAILERS: &[u8] =
    b"4;name=value;flag\r\nWiki\r\nA ; q=\"a;b\"\r\npedia in\r\n\r\n0;last\r\nExpires: never\r\nX-Checksum: abc\r\n\r\n";

/// Feeds `input` in pieces cut at `cuts`, returning the payload seen and the
/// total consumed; panics if the decoder reports done before the last piece.
fn feed_pieces(input: &[u8], cuts: &[usize]) -> Result<(Vec<u8>, usize, bool), ChunkError> {
    let mut dec = ChunkedDecoder::new();
    let mut data = Vec::new();
    let mut consumed = 0;
    let mut done = false;
    let mut from = 0;
    for &to in cuts.iter().chain(std::iter::once(&input.len())) {
        let p = dec.feed_with(&input[from..to], |d| data.extend_from_slice(d))?;
        consumed += p.consumed;
        if p.done {
            done = true;
            break;
        }
        assert_eq!(p.consumed, to - from, "not done yet, so all bytes are body");
        from = to;
    }
    Ok((data, consumed, done))
}

#[test]
fn whole_message() {
    let mut dec = ChunkedDecoder::new();
    let mut data = Vec::new();
    let p = dec
        .feed_with(SIMPLE, |d| data.extend_from_slice(d))
        .unwrap();
    assert_eq!(
        p,
        Progress {
            consumed: SIMPLE.len(),
            done: true
        }
    );
    assert_eq!(data, b"hello world");
    assert!(dec.is_done());
}

#[test]
fn stops_at_end_of_message_for_pipelining() {
    let mut input = SIMPLE.to_vec();
    input.extend_from_slice(b"GET / HTTP/1.1\r\n");
    let mut dec = ChunkedDecoder::new();
    let p = dec.feed(&input).unwrap();
    assert_eq!(
        p,
        Progress {
            consumed: SIMPLE.len(),
            done: true
        }
    );
    // Once done, nothing more is taken.
    assert_eq!(
        dec.feed(b"more").unwrap(),
        Progress {
            consumed: 0,
            done: true
        }
    );
}

#[test]
fn byte_by_byte() {
    for msg in [SIMPLE, WITH_EXT_AND_TRAILERS] {
        let cuts: Vec<usize> = (1..msg.len()).collect();
        let (data, consumed, done) = feed_pieces(msg, &cuts).unwrap();
        assert!(done);
        assert_eq!(consumed, msg.len());
        let (whole, _, _) = feed_pieces(msg, &[]).unwrap();
        assert_eq!(data, whole);
    }
}

#[test]
fn every_split_point_gives_same_result() {
    for msg in [SIMPLE, WITH_EXT_AND_TRAILERS] {
        let whole = feed_pieces(msg, &[]).unwrap();
        for cut in 0..=msg.len() {
            assert_eq!(feed_pieces(msg, &[cut]).unwrap(), whole, "cut at {cut}");
        }
        for a in 0..=msg.len() {
            for b in a..=msg.len() {
                assert_eq!(feed_pieces(msg, &[a, b]).unwrap(), whole, "cuts at {a},{b}");
            }
        }
    }
}

#[test]
fn extensions_and_trailers_are_skipped_from_data() {
    let (data, consumed, done) = feed_pieces(WITH_EXT_AND_TRAILERS, &[]).unwrap();
    assert_eq!(data, b"Wikipedia in\r\n");
    assert_eq!(consumed, WITH_EXT_AND_TRAILERS.len());
    assert!(done);
}

#[test]
fn hex_sizes_upper_lower_and_leading_zeros() {
    let msg = b"0000A\r\n0123456789\r\n1f\r\n0123456789abcdef0123456789abcde\r\n0\r\n\r\n";
    let (data, _, done) = feed_pieces(msg, &[]).unwrap();
    assert!(done);
    assert_eq!(data.len(), 10 + 31);
}

#[test]
fn whitespace_only_before_extension() {
    assert!(feed_pieces(b"5 \t;x\r\nhello\r\n0\r\n\r\n", &[]).unwrap().2);
    assert_eq!(
        feed_pieces(b"5 \r\nhello\r\n0\r\n\r\n", &[]),
        Err(ChunkError::InvalidExtension)
    );
    assert_eq!(
        feed_pieces(b"5 5\r\nhello\r\n0\r\n\r\n", &[]),
        Err(ChunkError::InvalidExtension)
    );
}

#[test]
fn rejects_bad_sizes() {
    assert_eq!(
        ChunkedDecoder::new().feed(b"\r\n"),
        Err(ChunkError::InvalidSize)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"g\r\n"),
        Err(ChunkError::InvalidSize)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"-1\r\n"),
        Err(ChunkError::InvalidSize)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"0x5\r\n"),
        Err(ChunkError::InvalidSize)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b";x\r\n"),
        Err(ChunkError::InvalidSize)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"+5\r\n"),
        Err(ChunkError::InvalidSize)
    );
}

#[test]
fn rejects_size_overflow() {
    assert!(ChunkedDecoder::new().feed(b"ffffffffffffffff\r\n").is_ok());
    assert_eq!(
        ChunkedDecoder::new().feed(b"10000000000000000\r\n"),
        Err(ChunkError::SizeOverflow)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"fffffffffffffffff"),
        Err(ChunkError::SizeOverflow)
    );
}

#[test]
fn requires_crlf_strictly() {
    // LF alone after the size, after data, in trailers, at the end.
    assert_eq!(
        ChunkedDecoder::new().feed(b"5\nhello\r\n"),
        Err(ChunkError::InvalidSize)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"5\rhello"),
        Err(ChunkError::MissingCrlf)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"5\r\nhello\n0\r\n\r\n"),
        Err(ChunkError::MissingCrlf)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"5\r\nhelloX\r\n"),
        Err(ChunkError::MissingCrlf)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"5\r\nhello\rX"),
        Err(ChunkError::MissingCrlf)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"0\r\n\n"),
        Err(ChunkError::InvalidTrailer)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"0\r\n\rX"),
        Err(ChunkError::MissingCrlf)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"0\r\nA: b\n\r\n"),
        Err(ChunkError::InvalidTrailer)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"0\r\nA: b\rX"),
        Err(ChunkError::MissingCrlf)
    );
}

#[test]
fn rejects_control_bytes_in_extensions() {
    assert_eq!(
        ChunkedDecoder::new().feed(b"5;a\x00b\r\n"),
        Err(ChunkError::InvalidExtension)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"5;a\nb\r\n"),
        Err(ChunkError::InvalidExtension)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"5;a\x7f\r\n"),
        Err(ChunkError::InvalidExtension)
    );
    assert!(ChunkedDecoder::new()
        .feed(b"5;a=\"\xc3\xa9\t\"\r\n")
        .is_ok());
}

#[test]
fn bounds_chunk_size_line() {
    let mut line = b"5;".to_vec();
    line.resize(MAX_CHUNK_LINE, b'x');
    line.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
    assert!(feed_pieces(&line, &[]).unwrap().2);
    let mut long = b"5;".to_vec();
    long.resize(MAX_CHUNK_LINE + 1, b'x');
    assert_eq!(
        ChunkedDecoder::new().feed(&long),
        Err(ChunkError::LineTooLong)
    );
    // Leading zeros count too: a size line cannot stream forever.
    let zeros = vec![b'0'; MAX_CHUNK_LINE + 1];
    assert_eq!(
        ChunkedDecoder::new().feed(&zeros),
        Err(ChunkError::LineTooLong)
    );
}

#[test]
fn rejects_malformed_trailers() {
    assert_eq!(
        ChunkedDecoder::new().feed(b"0\r\n folded\r\n\r\n"),
        Err(ChunkError::InvalidTrailer)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"0\r\nNoColon\r\n\r\n"),
        Err(ChunkError::InvalidTrailer)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"0\r\nA : b\r\n\r\n"),
        Err(ChunkError::InvalidTrailer)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"0\r\nA: b\x01\r\n\r\n"),
        Err(ChunkError::InvalidTrailer)
    );
    assert_eq!(
        ChunkedDecoder::new().feed(b"0\r\n: b\r\n\r\n"),
        Err(ChunkError::InvalidTrailer)
    );
}

#[test]
fn bounds_trailer_section() {
    let mut msg = b"0\r\nX: ".to_vec();
    msg.resize(3 + MAX_TRAILER_SECTION + 1, b'v');
    assert_eq!(
        ChunkedDecoder::new().feed(&msg),
        Err(ChunkError::TrailerTooLarge)
    );
}

#[test]
fn errors_are_sticky() {
    let mut dec = ChunkedDecoder::new();
    assert_eq!(dec.feed(b"z"), Err(ChunkError::InvalidSize));
    assert_eq!(dec.feed(b"5\r\n"), Err(ChunkError::InvalidSize));
    assert!(!dec.is_done());
    assert_eq!(ChunkError::InvalidSize.status(), 400);
    assert_eq!(
        ChunkError::TrailerTooLarge.reason(),
        "trailer section too large"
    );
}

#[test]
fn empty_input_makes_no_progress() {
    let mut dec = ChunkedDecoder::new();
    assert_eq!(
        dec.feed(b"").unwrap(),
        Progress {
            consumed: 0,
            done: false
        }
    );
    assert_eq!(
        dec.feed(b"3\r\nab").unwrap(),
        Progress {
            consumed: 5,
            done: false
        }
    );
    assert_eq!(
        dec.feed(b"").unwrap(),
        Progress {
            consumed: 0,
            done: false
        }
    );
    assert_eq!(
        dec.feed(b"c\r\n0\r\n\r\n").unwrap(),
        Progress {
            consumed: 8,
            done: true
        }
    );
}

#[test]
fn huge_chunk_size_passes_data_through() {
    let mut dec = ChunkedDecoder::new();
    let mut seen = 0usize;
    dec.feed_with(b"ffffffffffffffff\r\n", |_| {}).unwrap();
    let block = [7u8; 4096];
    for _ in 0..4 {
        let p = dec.feed_with(&block, |d| seen += d.len()).unwrap();
        assert_eq!(
            p,
            Progress {
                consumed: 4096,
                done: false
            }
        );
    }
    assert_eq!(seen, 4 * 4096);
}
