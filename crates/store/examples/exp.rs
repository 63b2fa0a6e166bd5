//! Temporary tuning experiment (to be removed).
use std::time::Instant;
use tradai_core::{Timeframe, Candles};
use tradai_store::*;
fn main() {
    let spec = SynthSpec::new(vec!["A/B".parse().unwrap()], Timeframe::M1, 31, 1);
    let t = Instant::now();
    let c = synth_series(&spec, 0);
    println!("synth {} in {:?}", c.len(), t.elapsed());
    for (lvl, dict) in [(1, true), (3, true), (1, false)] {
        let tuning = WriteTuning { zstd_level: lvl, price_dictionary: dict };
        let mut b = Vec::new();
        let mut te = std::time::Duration::MAX;
        for _ in 0..15 { let t = Instant::now(); b = tradai_store::__encode(&c, tuning); te = te.min(t.elapsed()); }
        let bytes = bytes::Bytes::from(b);
        let mut d = Candles::default();
        let mut td = std::time::Duration::MAX;
        for _ in 0..30 { let t = Instant::now(); d = tradai_store::__decode(bytes.clone()); td = td.min(t.elapsed()); }
        assert_eq!(d, c);
        println!("lvl {lvl} dict {dict}: {:.2} B/candle, encode {:.2} ms ({:.1} M/s), decode {:.2} ms ({:.1} M/s)", bytes.len() as f64 / c.len() as f64, te.as_secs_f64()*1e3, c.len() as f64 / te.as_secs_f64()/1e6, td.as_secs_f64()*1e3, c.len() as f64/td.as_secs_f64()/1e6);
    }
}
