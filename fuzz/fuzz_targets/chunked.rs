//! Chunked decoder: fed whole or split in three at points the input chooses, it gives the same
//! verdict, consumes the same bytes and hands out the same data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::http::{ChunkError, ChunkedDecoder};

/// What a feeding run observed.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    result: Result<(usize, bool), ChunkError>,
    data: Vec<u8>,
}

fn run(input: &[u8], cuts: &[usize]) -> Outcome {
    let mut dec = ChunkedDecoder::new();
    let mut data = Vec::new();
    let mut consumed = 0usize;
    let mut start = 0usize;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(start, input.len());
        let Some(piece) = input.get(start..cut) else {
            break;
        };
        start = cut;
        match dec.feed_with(piece, |d| data.extend_from_slice(d)) {
            Ok(p) => {
                assert!(p.consumed <= piece.len());
                consumed += p.consumed;
                if p.done {
                    assert!(dec.is_done());
                    return Outcome {
                        result: Ok((consumed, true)),
                        data,
                    };
                }
                assert_eq!(p.consumed, piece.len(), "bytes left over before the end");
            }
            Err(e) => {
                return Outcome {
                    result: Err(e),
                    data,
                }
            }
        }
    }
    Outcome {
        result: Ok((consumed, false)),
        data,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&[a, b], input)) = data.split_first_chunk::<2>() else {
        return;
    };
    let whole = run(input, &[]);
    let len = input.len().max(1);
    let (mut x, mut y) = (usize::from(a) * len / 256, usize::from(b) * len / 256);
    if x > y {
        std::mem::swap(&mut x, &mut y);
    }
    let split = run(input, &[x, y]);
    // On error, data handed out before it may differ by where the cut fell; the verdict not.
    match (&whole.result, &split.result) {
        (Err(e1), Err(e2)) => assert_eq!(e1, e2),
        _ => assert_eq!(whole, split, "whole and split feeding disagree"),
    }
});
