//! Field-section scanner: on any bytes, `FieldSection` never panics, every line it hands out is
//! the buffer's own bytes at the offsets it reports, names hold no colon, values carry no
//! surrounding OWS, and `first`/`values`/`field_value` agree with the line iterator.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::http::{field_value, FieldSection};

fuzz_target!(|data: &[u8]| {
    // The first byte picks a name to look up; the rest is the section.
    let Some((&pick, data)) = data.split_first() else {
        return;
    };
    let name: &[u8] = match pick % 4 {
        0 => b"cookie",
        1 => b"host",
        2 => b"x-tag",
        _ => b"",
    };
    for section in [
        FieldSection::new(data),
        FieldSection::of_head(data),
        FieldSection::within(data, usize::from(pick)..data.len()),
    ] {
        let mut last_end = 0;
        for f in section.lines() {
            assert!(f.start >= last_end, "lines go forward");
            assert_eq!(data.get(f.start..f.end()), Some(f.line));
            assert!(!f.name.contains(&b':'));
            assert!(!f.value.starts_with(b" ") && !f.value.starts_with(b"\t"));
            assert!(!f.value.ends_with(b" ") && !f.value.ends_with(b"\t"));
            last_end = f.end();
        }
        let first = section.lines().find(|f| f.is(name)).map(|f| f.value);
        assert_eq!(section.first(name), first);
        assert_eq!(section.values(name).next(), first);
    }
    assert_eq!(field_value(data, name), FieldSection::new(data).first(name));
});
