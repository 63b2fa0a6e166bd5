//! Temporary read-path experiment (to be removed).
use std::time::Instant;
use tradai_core::{Timeframe, TimeRange, ExchangeId};
use tradai_store::*;
fn main() {
    let spec = SynthSpec::new(vec!["A/B".parse().unwrap()], Timeframe::M1, 365, 1);
    let c = synth_series(&spec, 0);
    let dir = tempfile::tempdir().unwrap();
    let store = BlockingCandleStore::open(dir.path().to_str().unwrap()).unwrap();
    let key = SeriesKey::new(ExchangeId::new("x").unwrap(), "A/B".parse().unwrap(), Timeframe::M1);
    store.append(&key, &c).unwrap();
    let mut v = Vec::new();
    for _ in 0..60 {
        let t = Instant::now();
        let r = store.read(&key, TimeRange::all(), Columns::ALL).unwrap();
        v.push(t.elapsed().as_secs_f64()*1e3);
        assert_eq!(r.len(), c.len());
    }
    v.sort_by(|a,b| a.partial_cmp(b).unwrap());
    println!("read min {:.1} med {:.1}", v[0], v[v.len()/2]);
}
