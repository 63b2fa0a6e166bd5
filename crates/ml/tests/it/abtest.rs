//! The comparator and the A/B test on trade lists with known differences.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use tradai_ml::{AbTestConfig, AbTestKind, AbTestManager, Candidate, Decision, ModelComparator, Recommendation};

fn returns(n: usize, mean: f64, sd: f64, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let d = Normal::new(mean, sd).unwrap();
    (0..n).map(|_| d.sample(&mut rng)).collect()
}

fn cand(version: u64, sharpe: f64, dd: f64, r: Vec<f64>) -> Candidate {
    Candidate { version, sharpe, profit_total: r.iter().sum(), max_drawdown: dd, trade_returns: r }
}

#[test]
fn comparator_promotes_keeps_and_abstains() {
    let c = ModelComparator::default();
    let champ = cand(1, 1.0, 0.1, returns(200, 0.001, 0.02, 1));
    let better = cand(2, 1.5, 0.1, returns(200, 0.006, 0.02, 2));
    let r = c.compare(&champ, &better);
    assert_eq!(r.decision, Decision::Promote, "{}", r.reason);
    assert!(r.confidence > 0.95 && (r.sharpe_improvement - 0.5).abs() < 1e-12);

    let worse = cand(3, 0.5, 0.1, returns(200, -0.004, 0.02, 3));
    assert_eq!(c.compare(&champ, &worse).decision, Decision::Keep);

    let few = cand(4, 3.0, 0.05, returns(5, 0.01, 0.02, 4));
    let r = c.compare(&champ, &few);
    assert_eq!(r.decision, Decision::Inconclusive);
    assert!(r.reason.contains("too few trades"), "{}", r.reason);

    // Better Sharpe but a drawdown twice the champion's: kept out.
    let risky = cand(5, 2.0, 0.25, returns(200, 0.006, 0.02, 5));
    assert_eq!(c.compare(&champ, &risky).decision, Decision::Keep);

    // Same process: better on paper by noise, not by enough confidence.
    let twin = cand(6, 1.08, 0.1, returns(200, 0.0012, 0.02, 6));
    assert_ne!(c.compare(&champ, &twin).decision, Decision::Promote);
}

#[test]
fn ab_test_waits_for_trades_then_decides() {
    for kind in [AbTestKind::WelchT, AbTestKind::MannWhitneyU] {
        let mut cfg = AbTestConfig::new(2, 3);
        cfg.test = kind;
        let mut ab = AbTestManager::new(cfg).unwrap();
        let champ = returns(300, 0.0, 0.02, 10);
        let chal = returns(300, 0.008, 0.02, 11);
        for (a, b) in champ.iter().zip(&chal).take(50) {
            ab.add_trade(2, *a).unwrap();
            ab.add_trade(3, *b).unwrap();
        }
        assert_eq!(ab.evaluate().recommendation, Recommendation::Continue);
        for (a, b) in champ.iter().zip(&chal).skip(50) {
            ab.add_trade(2, *a).unwrap();
            ab.add_trade(3, *b).unwrap();
        }
        let r = ab.evaluate();
        assert_eq!(r.recommendation, Recommendation::PromoteChallenger, "{kind:?}: {}", r.reason);
        assert!(r.p_value.unwrap() < 0.001);
        assert_eq!((r.champion.trades, r.challenger.trades), (300, 300));

        // The other way round: the champion stays.
        let mut ab = AbTestManager::new(AbTestConfig { test: kind, ..AbTestConfig::new(2, 3) }).unwrap();
        champ.iter().for_each(|r| ab.add_trade(3, *r).unwrap());
        chal.iter().for_each(|r| ab.add_trade(2, *r).unwrap());
        assert_eq!(ab.evaluate().recommendation, Recommendation::KeepChampion);
    }
}

#[test]
fn ab_test_false_positive_rate_is_near_the_significance_level() {
    // Two versions of the same quality: PROMOTE_CHALLENGER at most rarely (α/2 one side).
    let mut promoted = 0;
    for seed in 0..200u64 {
        let mut ab = AbTestManager::new(AbTestConfig::new(1, 2)).unwrap();
        returns(150, 0.001, 0.02, 2 * seed + 100).iter().for_each(|r| ab.add_trade(1, *r).unwrap());
        returns(150, 0.001, 0.02, 2 * seed + 101).iter().for_each(|r| ab.add_trade(2, *r).unwrap());
        if ab.evaluate().recommendation == Recommendation::PromoteChallenger {
            promoted += 1;
        }
    }
    assert!(promoted <= 10, "{promoted} of 200 equal pairs promoted");
}

#[test]
fn ab_test_takes_its_rules_from_settings() {
    let s = tradai_settings::MlSettings { ab_min_trades: 10, ab_significance: 0.01, ..Default::default() };
    let c = AbTestConfig::from_settings(4, 5, &s);
    assert_eq!((c.champion_version, c.challenger_version, c.min_trades, c.significance_level), (4, 5, 10, 0.01));
}

#[test]
fn ab_test_rejects_bad_input_by_name() {
    assert!(AbTestManager::new(AbTestConfig::new(1, 1)).unwrap_err().to_string().contains("challenger_version"));
    let mut ab = AbTestManager::new(AbTestConfig::new(1, 2)).unwrap();
    let e = ab.add_trade(7, 0.01).unwrap_err().to_string();
    assert!(e.contains('7') && e.contains("champion (1)"), "{e}");
    assert!(ab.add_trade(1, f64::NAN).is_err());
}
