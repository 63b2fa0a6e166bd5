//! Fuzz target: the pair, timeframe, date and time-range parsers on arbitrary text: no panic,
//! refusals quote the input, and a parsed value prints back to text that parses the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tradai_core::{parse_date_ms, Pair, TimeRange, Timeframe};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    match s.parse::<Pair>() {
        Ok(p) => assert_eq!(p.to_string().parse::<Pair>().unwrap(), p),
        Err(e) => assert!(e.to_string().contains(s)),
    }
    if let Ok(t) = s.parse::<Timeframe>() {
        assert_eq!(t.as_str(), s);
    }
    let _ = parse_date_ms(s);
    if let Ok(r) = s.parse::<TimeRange>() {
        if let (Some(a), Some(b)) = (r.start_ms, r.end_ms) {
            assert!(a < b);
        }
    }
});
