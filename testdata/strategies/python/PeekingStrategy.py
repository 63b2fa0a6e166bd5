# A strategy with planted look-ahead bias, for `tradai analysis lookahead`: `next_close` is the
# NEXT candle's close (shift(-1)), which no live bot can know when the candle closes.
from pandas import DataFrame

from freqtrade.strategy import IStrategy


class PeekingStrategy(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    minimal_roi = {"0": 0.02}
    stoploss = -0.05
    startup_candle_count = 30

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["ema_slow"] = dataframe["close"].ewm(span=26, adjust=False).mean()
        dataframe["next_close"] = dataframe["close"].shift(-1)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        rising = dataframe["next_close"] > dataframe["close"] * 1.002
        dataframe.loc[rising & (dataframe["volume"] > 0), "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["close"] < dataframe["ema_slow"], "exit_long"] = 1
        return dataframe
