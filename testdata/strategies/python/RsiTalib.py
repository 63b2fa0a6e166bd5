# A typical user strategy: TA-Lib through `talib.abstract`, qtpylib crossings, hyperopt
# parameters, an entry tag and an exit tag. Runs with or without Freqtrade and TA-Lib installed (tradai's
# stand-ins provide RSI, EMA and the crossings when they are not).
import talib.abstract as ta
from pandas import DataFrame

import freqtrade.vendor.qtpylib.indicators as qtpylib
from freqtrade.strategy import DecimalParameter, IntParameter, IStrategy


class RsiTalib(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    minimal_roi = {"0": 0.04, "60": 0.01}
    stoploss = -0.08
    trailing_stop = False
    startup_candle_count = 50

    buy_rsi = IntParameter(15, 40, default=30, space="buy")
    sell_rsi = IntParameter(60, 85, default=70, space="sell")
    buy_ema_gap = DecimalParameter(0.0, 0.02, default=0.0, decimals=3, space="buy", optimize=False)

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["rsi"] = ta.RSI(dataframe, timeperiod=14)
        dataframe["ema50"] = ta.EMA(dataframe, timeperiod=50)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        cond = qtpylib.crossed_above(dataframe["rsi"], self.buy_rsi.value) & (dataframe["volume"] > 0)
        cond &= dataframe["close"] < dataframe["ema50"] * (1 + self.buy_ema_gap.value)
        dataframe.loc[cond, ["enter_long", "enter_tag"]] = (1, "rsi_cross")
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        cond = qtpylib.crossed_below(dataframe["rsi"], self.sell_rsi.value)
        dataframe.loc[cond, ["exit_long", "exit_tag"]] = (1, "rsi_high")
        return dataframe
