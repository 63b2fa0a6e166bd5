//! The pair, timeframe, date and time-range parsers: no input panics, every refusal quotes
//! what it refused, and what they print they parse back to the same value.

use proptest::prelude::*;
use tradai_core::{parse_date_ms, Pair, TimeRange, Timeframe};

/// Asset codes as exchanges write them: upper-case letters and digits.
fn asset() -> impl Strategy<Value = String> {
    "[A-Z0-9]{1,20}"
}

/// Text near the grammar (separators, digits, letters of both cases) plus arbitrary Unicode.
fn near_miss() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z0-9/:_\\- .TZ+]{0,40}", any::<String>()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn pairs_round_trip(base in asset(), quote in asset(), settle in proptest::option::of(asset())) {
        let p = Pair::new(&base, &quote, settle.as_deref()).unwrap();
        prop_assert_eq!(p.to_string().parse::<Pair>().unwrap(), p.clone());
        prop_assert_eq!(p.base(), base.as_str());
        prop_assert_eq!(p.settle(), settle.as_deref());
        // The file stem splits back into the same assets (codes hold no '_').
        let stem = p.file_stem();
        let parts: Vec<&str> = stem.split('_').collect();
        prop_assert_eq!(parts.len(), if settle.is_some() { 3 } else { 2 });
    }

    #[test]
    fn pair_refusals_quote_the_input(s in near_miss()) {
        if let Err(e) = s.parse::<Pair>() {
            prop_assert!(e.to_string().contains(&format!("'{s}'")), "{}", e);
        }
    }

    #[test]
    fn timeframes_parse_only_what_they_print(s in near_miss()) {
        match s.parse::<Timeframe>() {
            Ok(t) => prop_assert_eq!(t.as_str(), s.as_str()),
            Err(e) => {
                let quoted = format!("'{s}'");
                prop_assert!(e.to_string().contains(&quoted), "{}", e);
            }
        }
    }

    #[test]
    fn dates_never_panic_and_refusals_quote_the_input(s in near_miss()) {
        if let Err(e) = parse_date_ms(&s) {
            prop_assert!(e.to_string().contains(&format!("'{s}'")), "{}", e);
        }
    }

    #[test]
    fn day_ranges_round_trip(a in 0i64..2_932_896, len in 1i64..20_000, open_start in any::<bool>(), open_end in any::<bool>()) {
        // Whole days from 1970 to 9999, as Freqtrade's --timerange writes them.
        let day = 86_400_000;
        let r = TimeRange {
            start_ms: (!open_start).then_some(a * day),
            end_ms: (!open_end).then_some((a + len).min(2_932_896) * day),
        };
        prop_assume!(r.start_ms.zip(r.end_ms).is_none_or(|(s, e)| s < e));
        let text = r.to_string();
        prop_assert_eq!(text.parse::<TimeRange>().unwrap(), r, "{}", text);
    }

    #[test]
    fn range_refusals_quote_what_they_refuse(s in near_miss()) {
        if let Err(e) = s.parse::<TimeRange>() {
            let msg = e.to_string();
            let (a, b) = s.split_once('-').unwrap_or((&s, ""));
            let quoted = [s.as_str(), a, b].iter().any(|part| msg.contains(&format!("'{part}'")));
            prop_assert!(quoted, "{}", msg);
        }
    }

    #[test]
    fn parsed_ranges_are_ordered(s in "[0-9]{0,13}-[0-9]{0,13}") {
        if let Ok(r) = s.parse::<TimeRange>() {
            if let (Some(a), Some(b)) = (r.start_ms, r.end_ms) {
                prop_assert!(a < b);
            }
        }
    }
}
