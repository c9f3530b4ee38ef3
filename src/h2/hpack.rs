//! HPACK (RFC 7541). Decoding keeps the client's dynamic table, bounded by the
//! `SETTINGS_HEADER_TABLE_SIZE` ringlb announces (`loona-hpack` enforces it on every size
//! update); a header list is measured as it is decoded, so an HPACK bomb (a small block that
//! expands into a huge list) is refused without being stored.
//!
//! Encoding keeps a dynamic table of its own per connection ([`Encoder`]), at most
//! [`ENCODER_TABLE`] bytes and never more than the client's `SETTINGS_HEADER_TABLE_SIZE`:
//! the fields a farm's responses repeat (`server`, `content-type`, `cache-control`, `vary`,
//! security headers, the second's `date`) go out in full once per connection and as one-byte
//! references after that. Values that change from response to response (`content-length`,
//! `etag`, `last-modified`, `location`, …) are literals that leave the table alone, and
//! `set-cookie` is a never-indexed literal (RFC 7541 §7.1: no intermediary may index it, and
//! its value cannot be probed through the table). No Huffman: after the first response the
//! bytes saved are in the references. (`loona-hpack`'s encoder indexes only names in no
//! table, so it would never index `server` or `content-type`, and does not signal its table
//! size.)

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

/// The most dynamic table an [`Encoder`] keeps, in RFC 7541 §4.1 bytes (name, value and 32
/// per entry): room for the dozen fields a site's responses repeat, and the bound on what an
/// h2 connection holds for it.
pub const ENCODER_TABLE: usize = 2048;

/// Fields whose value changes from response to response: indexing them would only push the
/// repeating ones out of the table.
const NOT_INDEXED: [&[u8]; 8] = [
    b"content-length",
    b"content-range",
    b"etag",
    b"last-modified",
    b"location",
    b"age",
    b"expires",
    b"x-request-id",
];

/// Fields no table may keep (RFC 7541 §7.1.3): per-client secrets.
const NEVER_INDEXED: [&[u8]; 2] = [b"set-cookie", b"authorization"];

/// The encoder of one connection: its dynamic table and the size updates it owes the client.
/// Every block it encodes must reach the client, in the order encoded — the client's table
/// follows this one block by block.
pub struct Encoder {
    /// The entries oldest first, each as its name, its value, then the two lengths (`u16`
    /// little-endian): one allocation, walked from the newest end.
    table: Vec<u8>,
    /// The table's size as RFC 7541 §4.1 counts it.
    size: u16,
    /// The table's maximum size in effect.
    max: u16,
    /// A size change not yet told to the client: the smallest maximum since the last block
    /// (RFC 7541 §4.2 wants it, then the final one).
    owed: Option<u16>,
}

/// The lengths stored behind each entry.
const LENS: usize = 4;

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}

impl Encoder {
    /// An encoder for a client whose `SETTINGS_HEADER_TABLE_SIZE` is still the default
    /// (4,096): it keeps [`ENCODER_TABLE`] bytes and says so in its first block.
    pub fn new() -> Encoder {
        Encoder {
            table: Vec::new(),
            size: 0,
            max: ENCODER_TABLE as u16,
            owed: Some(ENCODER_TABLE as u16),
        }
    }

    /// The client's `SETTINGS_HEADER_TABLE_SIZE` (acknowledged before the next block).
    pub fn peer_table_size(&mut self, peer: usize) {
        let max = peer.min(ENCODER_TABLE) as u16;
        if max == self.max {
            return;
        }
        self.max = max;
        self.owed = Some(self.owed.map_or(max, |o| o.min(max)));
        self.evict(0);
    }

    /// Begins a header block: the size updates owed come first.
    pub fn start(&mut self, out: &mut Vec<u8>) {
        if let Some(low) = self.owed.take() {
            if low < self.max {
                put_int(out, 0x20, 5, usize::from(low));
            }
            put_int(out, 0x20, 5, usize::from(self.max));
        }
    }

    /// Appends one field (`name` lower case): a reference when the table has it, otherwise
    /// a literal, added to the table when its kind of value repeats.
    pub fn field(&mut self, out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
        let mut in_table = None;
        for (k, (n, v)) in self.entries().enumerate() {
            if n == name {
                if v == value {
                    put_int(out, 0x80, 7, 62 + k);
                    return;
                }
                in_table = in_table.or(Some(62 + k));
            }
        }
        // The static table's name first; looked up only for a literal.
        let name_at = static_name(name).or(in_table);
        let entry = name.len() + value.len() + FIELD_OVERHEAD;
        let max = usize::from(self.max);
        let (first, bits) = if NEVER_INDEXED.contains(&name) {
            (0x10, 4)
        } else if entry > max / 2 || NOT_INDEXED.contains(&name) {
            (0x00, 4)
        } else {
            (0x40, 6)
        };
        match name_at {
            Some(i) => put_int(out, first, bits, i),
            None => {
                out.push(first);
                put_str(out, name);
            }
        }
        put_str(out, value);
        if first == 0x40 {
            self.evict(entry);
            // Within u16: an indexed entry is at most half of ENCODER_TABLE.
            self.table.extend_from_slice(name);
            self.table.extend_from_slice(value);
            self.table
                .extend_from_slice(&(name.len() as u16).to_le_bytes());
            self.table
                .extend_from_slice(&(value.len() as u16).to_le_bytes());
            self.size += entry as u16;
        }
    }

    /// The entries newest first (HPACK index 62, 63, …), as (name, value).
    fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut end = self.table.len();
        std::iter::from_fn(move || {
            let &[n0, n1, v0, v1] = self.table.get(end.checked_sub(LENS)?..end)? else {
                return None;
            };
            let n = usize::from(u16::from_le_bytes([n0, n1]));
            let v = usize::from(u16::from_le_bytes([v0, v1]));
            let start = end.checked_sub(LENS + n + v)?;
            let entry = self.table.get(start..start + n + v)?;
            end = start;
            Some(entry.split_at(n))
        })
    }

    /// Drops the oldest entries until `room` more bytes fit.
    fn evict(&mut self, room: usize) {
        let max = usize::from(self.max);
        if usize::from(self.size) + room <= max {
            return;
        }
        // Keep the newest entries that fit, drop the bytes before them.
        let mut kept = 0;
        let mut kept_bytes = 0;
        for (n, v) in self.entries() {
            let e = n.len() + v.len() + FIELD_OVERHEAD;
            if kept + e + room > max {
                break;
            }
            kept += e;
            kept_bytes += n.len() + v.len() + LENS;
        }
        let cut = self.table.len() - kept_bytes;
        self.table.drain(..cut);
        self.size = kept as u16;
    }
}

/// The static table's index of `name`.
fn static_name(name: &[u8]) -> Option<usize> {
    STATIC_NAMES
        .iter()
        .position(|n| n.as_bytes() == name)
        .map(|i| i + 1)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes each block with one decoder (as a client would), returning the fields.
    fn decode_blocks(d: &mut Decoder, blocks: &[Vec<u8>]) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
        blocks
            .iter()
            .map(|b| {
                let mut v = Vec::new();
                let ok = d
                    .decode(b, 1 << 20, |n, val| v.push((n.to_vec(), val.to_vec())))
                    .unwrap();
                assert!(ok);
                v
            })
            .collect()
    }

    fn block(enc: &mut Encoder, status: u16, fields: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        enc.start(&mut out);
        encode_status(&mut out, status);
        for (n, v) in fields {
            enc.field(&mut out, n, v);
        }
        out
    }

    #[test]
    fn encoded_fields_decode_back() {
        let mut enc = Encoder::new();
        let long = [b'a'; 300];
        let fields: [(&[u8], &[u8]); 3] = [
            (b"content-type", b"text/plain"),
            (b"x-long", &long),
            (b"x-backend", b"web1"),
        ];
        let b1 = block(&mut enc, 200, &fields);
        let b2 = block(&mut enc, 418, &fields);
        let got = decode_blocks(&mut Decoder::new(4096), &[b1, b2.clone()]);
        for (i, status) in ["200", "418"].iter().enumerate() {
            assert_eq!(got[i][0], (b":status".to_vec(), status.as_bytes().to_vec()));
            assert_eq!(
                got[i][1],
                (b"content-type".to_vec(), b"text/plain".to_vec())
            );
            assert_eq!(got[i][2].1.len(), 300);
            assert_eq!(got[i][3], (b"x-backend".to_vec(), b"web1".to_vec()));
        }
        // 418 is a literal (5 bytes); then three one-byte references.
        assert_eq!(b2.len(), 5 + 3, "{b2:?}");
    }

    #[test]
    fn the_first_block_tells_the_table_size() {
        let mut enc = Encoder::new();
        let b = block(&mut enc, 200, &[(b"server", b"web")]);
        // A size update to 2048 (5-bit prefix: 31, then 2017 as 0xe1 0x0f).
        assert_eq!(&b[..3], &[0x3f, 0xe1, 0x0f]);
        let b2 = block(&mut enc, 200, &[(b"server", b"web")]);
        assert_eq!(b2, vec![0x88, 0x80 | 62]);
    }

    #[test]
    fn changing_values_stay_out_and_cookies_are_never_indexed() {
        let mut enc = Encoder::new();
        let mut d = Decoder::new(4096);
        let fields: [(&[u8], &[u8]); 3] = [
            (b"content-length", b"16"),
            (b"set-cookie", b"sid=secret"),
            (b"etag", b"\"abc\""),
        ];
        let b1 = block(&mut enc, 200, &fields);
        let b2 = block(&mut enc, 200, &fields);
        assert_eq!(b1.len(), b2.len() + 3, "only the size update differs");
        // content-length: literal without indexing, static name 28 (0x0f 0x0d).
        assert_eq!(&b2[1..3], &[0x0f, 0x0d]);
        // set-cookie: never indexed (0x1f, static name 55 = 15 + 40).
        assert!(b2.windows(2).any(|w| w == [0x1f, 40]), "{b2:?}");
        assert_eq!(enc.size, 0);
        assert!(enc.table.is_empty());
        let got = decode_blocks(&mut d, &[b1, b2]);
        assert_eq!(got[0], got[1]);
    }

    #[test]
    fn a_smaller_client_table_is_obeyed_and_told() {
        let mut enc = Encoder::new();
        let mut d = Decoder::new(4096);
        let fields: [(&[u8], &[u8]); 2] = [(b"server", b"web"), (b"x-frame-options", b"DENY")];
        let mut blocks = vec![block(&mut enc, 200, &fields)];
        // The client lowers its table to 64 bytes, then to 0 and back to 4096 between two
        // blocks: the next block says 0 (the smallest) then 2048.
        enc.peer_table_size(64);
        assert!(enc.size <= 64);
        assert!(enc
            .entries()
            .all(|(n, v)| n.len() + v.len() + FIELD_OVERHEAD <= 64));
        blocks.push(block(&mut enc, 200, &fields));
        enc.peer_table_size(0);
        enc.peer_table_size(4096);
        let b = block(&mut enc, 200, &fields);
        assert_eq!(&b[..4], &[0x20, 0x3f, 0xe1, 0x0f]);
        blocks.push(b);
        blocks.push(block(&mut enc, 200, &fields));
        let got = decode_blocks(&mut d, &blocks);
        for g in &got {
            assert_eq!(g, &got[0]);
        }
        enc.peer_table_size(0);
        let b = block(&mut enc, 200, &fields);
        assert_eq!(enc.size, 0);
        assert!(enc.table.is_empty());
        assert_eq!(decode_blocks(&mut d, &[b])[0], got[0]);
    }

    #[test]
    fn the_client_table_follows_through_evictions() {
        // Dates that change, values of every length, names new and known: 2,000 blocks,
        // each decoded by one client decoder, must come back as encoded.
        let mut enc = Encoder::new();
        let mut d = Decoder::new(4096);
        let mut seed = 0x2545_f491_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for i in 0..2000u32 {
            let date = format!("Mon, 07 Dec 2026 11:{:02}:{:02} GMT", i / 60 % 60, i % 60);
            let names = [
                "server",
                "x-backend",
                "cache-control",
                "x-trace",
                "vary",
                "date",
            ];
            let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            for _ in 0..(next() % 6) {
                let name = names[(next() % names.len() as u32) as usize];
                let len = (next() % 700) as usize;
                let value =
                    vec![b'a' + (next() % 3) as u8; len % 40 + if len > 600 { len } else { 0 }];
                fields.push((name.as_bytes().to_vec(), value));
            }
            fields.push((b"date".to_vec(), date.into_bytes()));
            if i % 97 == 0 {
                enc.peer_table_size((next() % 5000) as usize);
            }
            let refs: Vec<(&[u8], &[u8])> = fields
                .iter()
                .map(|(n, v)| (n.as_slice(), v.as_slice()))
                .collect();
            let b = block(&mut enc, 200, &refs);
            let got = decode_blocks(&mut d, &[b]).remove(0);
            assert_eq!(got.len(), fields.len() + 1, "block {i}");
            assert_eq!(&got[1..], &fields[..], "block {i}");
            assert!(enc.size <= enc.max);
            let counted: usize = enc.entries().map(|(n, v)| n.len() + v.len() + 32).sum();
            assert_eq!(counted, usize::from(enc.size), "block {i}");
        }
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
        let full = block(&mut Encoder::new(), 200, &[(b"x-name", b"value")]);
        // Past the size update (3 bytes) and the status (1).
        for cut in 5..full.len() {
            let mut d = Decoder::new(4096);
            assert!(d.decode(&full[..cut], 1 << 20, |_, _| {}).is_err(), "{cut}");
        }
    }
}
