# Helpers strategy files commonly import from freqtrade.strategy.
import pandas as pd


def merge_informative_pair(dataframe, informative, timeframe, timeframe_inf, ffill=True, append_timeframe=True, date_column="date", suffix=None):
    raise NotImplementedError(
        "merge_informative_pair needs other pairs' or timeframes' candles, which tradai does not pass to strategy files"
    )


def stoploss_from_open(open_relative_stop, current_profit, is_short=False, leverage=1.0):
    if current_profit == -1 and not is_short:
        return 1
    if is_short:
        stoploss = -1 + ((1 - open_relative_stop / leverage) / (1 - current_profit / leverage))
    else:
        stoploss = 1 - ((1 + open_relative_stop / leverage) / (1 + current_profit / leverage))
    return max(stoploss * leverage, 0.0)


def stoploss_from_absolute(stop_rate, current_rate, is_short=False, leverage=1.0):
    if current_rate == 0:
        return 1
    stoploss = 1 - (stop_rate / current_rate)
    if is_short:
        stoploss = -stoploss
    return max(min(stoploss, 1.0), 0.0) * leverage


__all__ = ["merge_informative_pair", "stoploss_from_open", "stoploss_from_absolute", "pd"]
