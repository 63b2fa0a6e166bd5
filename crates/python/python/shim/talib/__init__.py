# tradai's stand-in for TA-Lib's function API (`talib.EMA(close, timeperiod=...)`), used only
# when TA-Lib is not installed. It follows TA-Lib's own recurrences and seeds (an SMA seed for
# EMA, Wilder's sums for RSI, running sums for SMA and STDDEV, MACD's aligned EMAs), so values
# match TA-Lib's where TA-Lib defines them. Functions it lacks raise with their name.
import numpy as np
import pandas as pd


def _arr(x):
    return np.asarray(x, dtype="float64")


def _wrap(like, out):
    if isinstance(like, pd.Series):
        return pd.Series(out, index=like.index)
    return out


def _first_valid(x):
    ok = ~np.isnan(x)
    return int(np.argmax(ok)) if ok.any() else len(x)


def _sma(x, n):
    out = np.full(len(x), np.nan)
    b = _first_valid(x)
    if len(x) - b < n:
        return out
    total = 0.0
    for i in range(b, b + n - 1):
        total += x[i]
    trailing = b
    for i in range(b + n - 1, len(x)):
        total += x[i]
        out[i] = total / n
        total -= x[trailing]
        trailing += 1
    return out


def _ema_from(x, n, k, seed_end, out):
    """TA-Lib's INT_EMA: the SMA of the `n` values ending at `seed_end` seeds the EMA there."""
    start = seed_end - n + 1
    total = 0.0
    for i in range(start, seed_end + 1):
        total += x[i]
    prev = total / n
    out[seed_end] = prev
    for i in range(seed_end + 1, len(x)):
        prev = (x[i] - prev) * k + prev
        out[i] = prev
    return out


def _ema(x, n):
    out = np.full(len(x), np.nan)
    b = _first_valid(x)
    if len(x) - b < n:
        return out
    return _ema_from(x, n, 2.0 / (n + 1), b + n - 1, out)


def SMA(real, timeperiod=30):
    return _wrap(real, _sma(_arr(real), int(timeperiod)))


def EMA(real, timeperiod=30):
    return _wrap(real, _ema(_arr(real), int(timeperiod)))


def _with_change(d, gain, loss):
    """The sums of gains and losses with one more price change `d`."""
    return (gain, loss - d) if d < 0 else (gain + d, loss)


def _rsi_of(gain, loss):
    return 100.0 * (gain / (gain + loss)) if gain + loss != 0 else 0.0


def RSI(real, timeperiod=14):
    x = _arr(real)
    n = int(timeperiod)
    out = np.full(len(x), np.nan)
    b = _first_valid(x)
    if len(x) - b <= n:
        return _wrap(real, out)
    gain = loss = 0.0
    for i in range(b + 1, b + n + 1):
        gain, loss = _with_change(x[i] - x[i - 1], gain, loss)
    gain /= n
    loss /= n
    out[b + n] = _rsi_of(gain, loss)
    for i in range(b + n + 1, len(x)):
        gain, loss = _with_change(x[i] - x[i - 1], gain * (n - 1), loss * (n - 1))
        gain /= n
        loss /= n
        out[i] = _rsi_of(gain, loss)
    return _wrap(real, out)


def STDDEV(real, timeperiod=5, nbdev=1.0):
    x = _arr(real)
    n = int(timeperiod)
    out = np.full(len(x), np.nan)
    b = _first_valid(x)
    if len(x) - b < n:
        return _wrap(real, out)
    s1 = s2 = 0.0
    for i in range(b, b + n - 1):
        s1 += x[i]
        s2 += x[i] * x[i]
    trailing = b
    for i in range(b + n - 1, len(x)):
        s1 += x[i]
        s2 += x[i] * x[i]
        mean = s1 / n
        var = s2 / n - mean * mean
        out[i] = np.sqrt(var) * nbdev if var > 0 else 0.0
        s1 -= x[trailing]
        s2 -= x[trailing] * x[trailing]
        trailing += 1
    return _wrap(real, out)


def BBANDS(real, timeperiod=5, nbdevup=2.0, nbdevdn=2.0, matype=0):
    if matype not in (0, None):
        raise NotImplementedError("tradai's talib shim has BBANDS with matype=0 (SMA) only; install TA-Lib for others")
    x = _arr(real)
    mid = _sma(x, int(timeperiod))
    std = _arr(STDDEV(x, timeperiod, 1.0))
    return _wrap(real, mid + nbdevup * std), _wrap(real, mid), _wrap(real, mid - nbdevdn * std)


def MACD(real, fastperiod=12, slowperiod=26, signalperiod=9):
    x = _arr(real)
    fast_n, slow_n, sig_n = int(fastperiod), int(slowperiod), int(signalperiod)
    if slow_n < fast_n:
        fast_n, slow_n = slow_n, fast_n
    nan = np.full(len(x), np.nan)
    b = _first_valid(x)
    first_line = b + slow_n - 1
    first_out = first_line + sig_n - 1
    if first_out >= len(x):
        return _wrap(real, nan.copy()), _wrap(real, nan.copy()), _wrap(real, nan.copy())
    # As TA-Lib: both EMAs start on the slow one's first value, each seeded by the SMA of the
    # values ending there.
    fast = _ema_from(x, fast_n, 2.0 / (fast_n + 1), first_line, nan.copy())
    slow = _ema_from(x, slow_n, 2.0 / (slow_n + 1), first_line, nan.copy())
    line = fast - slow
    signal = _ema_from(line, sig_n, 2.0 / (sig_n + 1), first_out, nan.copy())
    line[:first_out] = np.nan
    return _wrap(real, line), _wrap(real, signal), _wrap(real, line - signal)


def __getattr__(name):
    if name.isupper():
        raise NotImplementedError(
            f"talib.{name} is not in tradai's TA-Lib stand-in (it has {', '.join(FUNCTIONS)}); install TA-Lib to use it"
        )
    raise AttributeError(name)


FUNCTIONS = ["SMA", "EMA", "RSI", "STDDEV", "BBANDS", "MACD"]
