# TA-Lib's abstract API over a DataFrame (`ta.RSI(dataframe, timeperiod=14)` reads the close
# column; multi-output functions return a DataFrame with TA-Lib's output names).
import pandas as pd

import talib as _talib

_OUTPUTS = {"BBANDS": ["upperband", "middleband", "lowerband"], "MACD": ["macd", "macdsignal", "macdhist"]}


def _make(name):
    fn = getattr(_talib, name)

    def call(inputs, *args, price="close", **kwargs):
        real = inputs[price] if isinstance(inputs, (pd.DataFrame, dict)) else inputs
        out = fn(real, *args, **kwargs)
        if name in _OUTPUTS:
            index = real.index if isinstance(real, pd.Series) else None
            return pd.DataFrame(dict(zip(_OUTPUTS[name], out)), index=index)
        return out

    call.__name__ = name
    return call


for _name in _talib.FUNCTIONS:
    globals()[_name] = _make(_name)


def __getattr__(name):
    return getattr(_talib, name)
