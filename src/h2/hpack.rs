//! HPACK (RFC 7541). Decoding keeps the client's dynamic table, bounded by the
//! `SETTINGS_HEADER_TABLE_SIZE` ringlb announces (`loona-hpack` enforces it on every size
//! update); a header list is measured as it is decoded, so an HPACK bomb (a small block that
//! expands into a huge list) is refused without being stored. Encoding is stateless: literals
//! without indexing, names from the static table where it has them, no Huffman — nothing to
//! keep per connection, and nothing a client's table settings can break.

use std::borrow::Cow;

/// What RFC 9113 §6.5.2 counts per field on top of its name and value.
pub const FIELD_OVERHEAD: usize = 32;

/// Why a header block could not be decoded: the connection's HPACK state is lost
/// (COMPRESSION_ERROR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressionError;

/// The decoder of one connection.
pub struct Decoder {
    inner: loona_hpack::Decoder<'static>,
}

impl Decoder {
    /// A decoder whose dynamic table never grows past `max_table` bytes.
    pub fn new(max_table: usize) -> Decoder {
        let mut inner = loona_hpack::Decoder::new();
        inner.set_max_allowed_table_size(max_table);
        inner.set_max_table_size(max_table.min(4096));
        Decoder { inner }
    }

    /// Decodes `block`, handing each field to `field` until the list passes `max_list` bytes
    /// (counted as RFC 9113 counts them). Returns whether the list stayed within the limit.
    pub fn decode(
        &mut self,
        block: &[u8],
        max_list: usize,
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<bool, CompressionError> {
        let mut size = 0usize;
        let mut within = true;
        self.inner
            .decode_with_cb(block, |name: Cow<'_, [u8]>, value: Cow<'_, [u8]>| {
                size = size.saturating_add(name.len() + value.len() + FIELD_OVERHEAD);
                if size > max_list {
                    within = false;
                }
                if within {
                    field(&name, &value);
                }
            })
            .map_err(|_| CompressionError)?;
        Ok(within)
    }
}

/// Names of the static table (RFC 7541 Appendix A), index = position + 1.
const STATIC_NAMES: [&str; 61] = [
    ":authority",
    ":method",
    ":method",
    ":path",
    ":path",
    ":scheme",
    ":scheme",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "accept",
    "access-control-allow-origin",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-range",
    "content-type",
    "cookie",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "link",
    "location",
    "max-forwards",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "refresh",
    "retry-after",
    "server",
    "set-cookie",
    "strict-transport-security",
    "transfer-encoding",
    "user-agent",
    "vary",
    "via",
    "www-authenticate",
];

/// `:status` values with a full static entry (index 8–14).
const STATIC_STATUS: [(u16, u8); 7] = [
    (200, 8),
    (204, 9),
    (206, 10),
    (304, 11),
    (400, 12),
    (404, 13),
    (500, 14),
];

/// Appends an HPACK integer with an `n`-bit prefix whose high bits are `first`.
fn put_int(out: &mut Vec<u8>, first: u8, n: u32, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_int(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

/// Appends `:status`.
pub fn encode_status(out: &mut Vec<u8>, status: u16) {
    if let Some(&(_, i)) = STATIC_STATUS.iter().find(|(s, _)| *s == status) {
        out.push(0x80 | i);
        return;
    }
    // Literal without indexing, name = static index 8.
    put_int(out, 0, 4, 8);
    put_str(out, status.to_string().as_bytes());
}

/// Appends one field (`name` lower case) as a literal without indexing.
pub fn encode_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    match STATIC_NAMES.iter().position(|n| n.as_bytes() == name) {
        Some(i) => put_int(out, 0, 4, i + 1),
        None => {
            out.push(0);
            put_str(out, name);
        }
    }
    put_str(out, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(block: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut d = Decoder::new(4096);
        let mut v = Vec::new();
        let ok = d
            .decode(block, 1 << 20, |n, val| v.push((n.to_vec(), val.to_vec())))
            .unwrap();
        assert!(ok);
        v
    }

    #[test]
    fn encoded_fields_decode_back() {
        let mut out = Vec::new();
        encode_status(&mut out, 200);
        encode_status(&mut out, 418);
        encode_field(&mut out, b"content-type", b"text/plain");
        encode_field(&mut out, b"x-long", &[b'a'; 300]);
        let got = decode_all(&out);
        assert_eq!(got[0], (b":status".to_vec(), b"200".to_vec()));
        assert_eq!(got[1], (b":status".to_vec(), b"418".to_vec()));
        assert_eq!(got[2], (b"content-type".to_vec(), b"text/plain".to_vec()));
        assert_eq!(got[3].1.len(), 300);
    }

    #[test]
    fn a_list_past_the_limit_is_cut_not_stored() {
        // One 1000-byte literal put in the dynamic table, then indexed 100 times: a small
        // block that would expand to 100 kB.
        let mut block = vec![0x40];
        put_str(&mut block, b"x-bomb");
        put_str(&mut block, &[b'b'; 1000]);
        block.extend(std::iter::repeat_n(0x80 | 62, 100));
        let mut d = Decoder::new(4096);
        let mut n = 0;
        let ok = d.decode(&block, 16_384, |_, _| n += 1).unwrap();
        assert!(!ok);
        assert!(n <= 16, "{n} fields handed over");
    }

    #[test]
    fn a_table_size_update_past_the_setting_is_an_error() {
        let mut d = Decoder::new(4096);
        let mut block = Vec::new();
        put_int(&mut block, 0x20, 5, 100_000);
        block.push(0x82);
        assert_eq!(d.decode(&block, 1 << 20, |_, _| {}), Err(CompressionError));
    }

    #[test]
    fn truncated_blocks_are_errors_not_panics() {
        let mut full = Vec::new();
        encode_field(&mut full, b"x-name", b"value");
        for cut in 1..full.len() {
            let mut d = Decoder::new(4096);
            assert!(d.decode(&full[..cut], 1 << 20, |_, _| {}).is_err(), "{cut}");
        }
    }
}
