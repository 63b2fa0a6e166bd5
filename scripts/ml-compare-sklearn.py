#!/usr/bin/env python3
"""The scikit-learn side of the learner comparison in docs/BENCHMARKS.md.

Reads the CSV `cargo run --release -p tradai-ml --example learners` writes and fits the
scikit-learn counterparts of tradai-ml's learners with the same settings: LogisticRegression
(L2, standardised features) and HistGradientBoostingClassifier (100 trees, depth 3,
learning rate 0.1, 32 bins). Prints fit time (wall and CPU of all threads) and out-of-sample AUC, accuracy, log loss.

    python3 scripts/ml-compare-sklearn.py /tmp/ml-learners.csv
(needs numpy, pandas and scikit-learn: the MLflow venv of scripts/mlflow-server.sh has them)
"""
import sys
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main(path):
    df = pd.read_csv(path)
    feats = [c for c in df.columns if c not in ("y", "test")]
    tr, te = df[df.test == 0], df[df.test == 1]
    models = {
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(C=1.0 / (1e-4 * len(tr)), max_iter=200)),
        "hist-gbt": HistGradientBoostingClassifier(
            max_iter=100, max_depth=3, learning_rate=0.1, max_bins=32, min_samples_leaf=100,
            l2_regularization=1.0, early_stopping=False, random_state=1),
    }
    for name, m in models.items():
        t, c = time.perf_counter(), time.process_time()
        m.fit(tr[feats].to_numpy(), tr.y.to_numpy())
        fit, cpu = time.perf_counter() - t, time.process_time() - c
        p = m.predict_proba(te[feats].to_numpy())[:, 1]
        y = te.y.to_numpy()
        top = np.argsort(-p)[: max(len(p) // 10, 1)]
        print(f"scikit-learn {name:>8}: fit {fit:.2f}s wall {cpu:.2f}s CPU  auc {roc_auc_score(y, p):.4f} "
              f"accuracy {accuracy_score(y, p > 0.5):.4f} log_loss {log_loss(y, p):.4f} top-decile {y[top].mean():.4f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/ml-learners.csv")
