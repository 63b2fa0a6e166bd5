//! The learner comparison behind the choice of tradai-ml's own learners: the logistic
//! regression and histogram GBT written here against linfa-logistic and smartcore (logistic
//! regression, random forest) on the same features, labels and walk-forward splits, with
//! out-of-sample accuracy, log loss, AUC and fit time per learner.
//!
//! Run (never part of the default build; the feature pulls the external crates in):
//! `cargo run --release -p tradai-ml --features external-learners --example external_learners -- [ROWS_PER_PAIR] [PAIRS]`
//!
//! The candles are those of the `learners` example (AR(1) returns whose strength depends on the
//! volume: a non-linear signal a tree can find and a linear model only partly).

mod data;

use tradai_core::{Candles, Pair, Timeframe};
use tradai_ml::split::walk_forward;
use tradai_ml::{parse_features, Algo, ClassMetrics, Dataset, LabelSpec, Model};

/// One learner's out-of-sample scores over every fold, and its total fit time.
struct Row {
    name: &'static str,
    metrics: ClassMetrics,
    fit_secs: f64,
    note: &'static str,
}

/// Rows of `x`, each feature standardised with the mean and deviation of the `train` rows (the
/// own learners standardise inside; the external ones are given the same scaled inputs).
fn rows_of(x: &[&[f64]], train: &std::ops::Range<usize>, rows: std::ops::Range<usize>) -> Vec<Vec<f64>> {
    let n = train.len().max(1) as f64;
    let scale: Vec<(f64, f64)> = x
        .iter()
        .map(|c| {
            let m = c[train.clone()].iter().sum::<f64>() / n;
            let v = c[train.clone()].iter().map(|v| (v - m).powi(2)).sum::<f64>() / n;
            (m, v.sqrt().max(1e-12))
        })
        .collect();
    rows.map(|r| x.iter().zip(&scale).map(|(c, (m, s))| (c[r] - m) / s).collect()).collect()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (n, n_pairs) = (args.first().copied().unwrap_or(20_000), args.get(1).copied().unwrap_or(4));
    let pairs: Vec<(Pair, Candles)> =
        (0..n_pairs).map(|i| (format!("P{i}/USDT").parse().unwrap(), data::candles(n, 100 + i as u64))).collect();
    let features = parse_features(tradai_ml::DEFAULT_FEATURES).unwrap();
    let label = LabelSpec { horizon: 1 };
    let ds = Dataset::build(&features, label, &pairs);
    let x = ds.columns();
    let folds = walk_forward(&ds.ts, 4, Timeframe::H1.millis()).unwrap();
    println!("{} rows x {} features, {} walk-forward folds (purge 1 candle)", ds.len(), features.len(), folds.len());

    type Fit<'a> = Box<dyn Fn(std::ops::Range<usize>, std::ops::Range<usize>) -> Vec<f64> + 'a>;
    let own = |algo: Algo| -> Fit<'_> {
        let x = x.clone();
        let y = ds.y.clone();
        Box::new(move |train, test| {
            let rows: Vec<usize> = train.collect();
            let m = Model::fit(&algo, &x, &y, &rows).unwrap();
            m.predict_rows(&x, &test.collect::<Vec<_>>())
        })
    };
    let linfa_lr: Fit<'_> = Box::new(|train, test| {
        use linfa::prelude::*;
        let xt = ndarray::Array2::from_shape_vec((train.len(), x.len()), rows_of(&x, &train, train.clone()).concat()).unwrap();
        let yt = ndarray::Array1::from_iter(ds.y[train.clone()].iter().map(|v| *v > 0.5));
        let fitted = linfa_logistic::LogisticRegression::default()
            // The same L2 strength as the own logistic regression (1e-4 per row).
            .alpha(1e-4 * train.len() as f64)
            .max_iterations(1000)
            // Tighter than its default stop (1e-4); no score below moved at the fourth decimal.
            .gradient_tolerance(1e-10)
            .fit(&linfa::Dataset::new(xt, yt))
            .unwrap();
        let xs = ndarray::Array2::from_shape_vec((test.len(), x.len()), rows_of(&x, &train, test).concat()).unwrap();
        fitted.predict_probabilities(&xs).to_vec()
    });
    let smart_lr: Fit<'_> = Box::new(|train, test| {
        use smartcore::linalg::basic::arrays::Array;
        use smartcore::linalg::basic::matrix::DenseMatrix;
        use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};
        let xt = DenseMatrix::from_2d_vec(&rows_of(&x, &train, train.clone())).unwrap();
        let yt: Vec<i32> = ds.y[train.clone()].iter().map(|v| i32::from(*v > 0.5)).collect();
        let m = LogisticRegression::fit(&xt, &yt, LogisticRegressionParameters::default().with_alpha(1e-4 * train.len() as f64)).unwrap();
        // smartcore 0.4 predicts classes only; the probability comes from its coefficients.
        let (w, b) = (m.coefficients(), *m.intercept().get((0, 0)));
        rows_of(&x, &train, test).iter().map(|r| sigmoid(b + r.iter().enumerate().map(|(j, v)| v * w.get((0, j))).sum::<f64>())).collect()
    });
    let smart_rf: Fit<'_> = Box::new(|train, test| {
        use smartcore::ensemble::random_forest_classifier::{RandomForestClassifier, RandomForestClassifierParameters};
        use smartcore::linalg::basic::matrix::DenseMatrix;
        let xt = DenseMatrix::from_2d_vec(&rows_of(&x, &train, train.clone())).unwrap();
        let yt: Vec<i32> = ds.y[train.clone()].iter().map(|v| i32::from(*v > 0.5)).collect();
        let params = RandomForestClassifierParameters::default().with_n_trees(100).with_max_depth(6).with_min_samples_leaf(100);
        let m = RandomForestClassifier::fit(&xt, &yt, params).unwrap();
        let xs = DenseMatrix::from_2d_vec(&rows_of(&x, &train, test)).unwrap();
        // Hard votes only in smartcore 0.4: a class is scored as 0.25 / 0.75 so log loss stays finite.
        m.predict(&xs).unwrap().iter().map(|c| if *c == 1 { 0.75 } else { 0.25 }).collect()
    });
    let learners: Vec<(&'static str, Fit<'_>, &'static str)> = vec![
        ("tradai logistic (IRLS)", own("logistic".parse().unwrap()), ""),
        ("tradai gbt (histogram)", own("gbt".parse().unwrap()), ""),
        ("linfa-logistic 0.7", linfa_lr, ""),
        ("smartcore logistic 0.4", smart_lr, "probabilities from its coefficients"),
        ("smartcore random forest 0.4", smart_rf, "class votes only: no probabilities, AUC/log loss of 0.25/0.75"),
    ];
    let mut out = Vec::new();
    for (name, fit, note) in &learners {
        let (mut y, mut p, mut secs) = (Vec::new(), Vec::new(), 0.0);
        for f in &folds {
            let c = data::cpu_secs();
            let probs = fit(f.train.clone(), f.test.clone());
            secs += data::cpu_secs() - c;
            y.extend_from_slice(&ds.y[f.test.clone()]);
            p.extend(probs);
        }
        out.push(Row { name, metrics: ClassMetrics::score(&y, &p), fit_secs: secs, note });
    }
    println!("| learner | accuracy | log loss | AUC | fit + predict (CPU s, {} folds) | note |", folds.len());
    println!("|---|---|---|---|---|---|");
    for r in out {
        let m = r.metrics;
        println!("| {} | {:.4} | {:.4} | {:.4} | {:.2} | {} |", r.name, m.accuracy, m.log_loss, m.auc, r.fit_secs, r.note);
    }
}
