# The qtpylib indicator helpers strategy files use most, in pandas: crossings, typical price,
# rolling mean/std and Bollinger bands (sample std, min_periods=1, as qtpylib's own).
import numpy as np
import pandas as pd


def _series(x, like=None):
    if isinstance(x, pd.Series):
        return x
    if isinstance(x, (int, float, np.integer, np.floating)):
        return pd.Series(x, index=like.index if like is not None else None, dtype="float64")
    return pd.Series(x)


def crossed(series1, series2, direction=None):
    s1 = _series(series1)
    s2 = _series(series2, s1)
    above = (s1 > s2) & (s1.shift(1) <= s2.shift(1))
    below = (s1 < s2) & (s1.shift(1) >= s2.shift(1))
    if direction == "above":
        return above
    if direction == "below":
        return below
    return above | below


def crossed_above(series1, series2):
    return crossed(series1, series2, "above")


def crossed_below(series1, series2):
    return crossed(series1, series2, "below")


def typical_price(bars):
    return (bars["high"] + bars["low"] + bars["close"]) / 3.0


def rolling_mean(series, window=200, min_periods=None):
    return _series(series).rolling(window=window, min_periods=window if min_periods is None else min_periods).mean()


def rolling_std(series, window=200, min_periods=None):
    return _series(series).rolling(window=window, min_periods=window if min_periods is None else min_periods).std()


def sma(series, window=200, min_periods=None):
    return rolling_mean(series, window, min_periods)


def ema(series, window=200, min_periods=None):
    return _series(series).ewm(span=window, min_periods=window if min_periods is None else min_periods, adjust=False).mean()


def bollinger_bands(series, window=20, stds=2):
    ma = rolling_mean(series, window=window, min_periods=1)
    std = rolling_std(series, window=window, min_periods=1)
    return pd.DataFrame(index=_series(series).index, data={"upper": ma + std * stds, "mid": ma, "lower": ma - std * stds})
