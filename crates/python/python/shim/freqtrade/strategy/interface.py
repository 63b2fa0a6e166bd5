# IStrategy with Freqtrade's interface-3 attribute names and defaults. The per-trade callbacks
# exist so a subclass can override them; tradai refuses a strategy that does, by name.
from datetime import datetime


class IStrategy:
    INTERFACE_VERSION = 3

    minimal_roi = {}
    stoploss = None
    max_open_trades = -1
    trailing_stop = False
    trailing_stop_positive = None
    trailing_stop_positive_offset = 0.0
    trailing_only_offset_is_reached = False
    use_custom_stoploss = False
    can_short = False
    timeframe = "5m"
    process_only_new_candles = True
    use_exit_signal = True
    exit_profit_only = False
    exit_profit_offset = 0.0
    ignore_roi_if_entry_signal = False
    ignore_buying_expired_candle_after = 0
    position_adjustment_enable = False
    max_entry_position_adjustment = -1
    startup_candle_count = 0
    disable_dataframe_checks = False
    order_types = {
        "entry": "limit",
        "exit": "limit",
        "stoploss": "limit",
        "stoploss_on_exchange": False,
        "stoploss_on_exchange_interval": 60,
    }
    order_time_in_force = {"entry": "GTC", "exit": "GTC"}
    plot_config = {}
    protections = []

    def __init__(self, config=None):
        self.config = dict(config or {})
        self.dp = None
        self.wallets = None

    def bot_start(self, **kwargs):
        return None

    def informative_pairs(self):
        return []

    def populate_indicators(self, dataframe, metadata):
        raise NotImplementedError("populate_indicators must be implemented")

    def populate_entry_trend(self, dataframe, metadata):
        return self.populate_buy_trend(dataframe, metadata)

    def populate_exit_trend(self, dataframe, metadata):
        return self.populate_sell_trend(dataframe, metadata)

    def populate_buy_trend(self, dataframe, metadata):
        return dataframe

    def populate_sell_trend(self, dataframe, metadata):
        return dataframe

    def leverage(self, pair: str, current_time: datetime, current_rate: float, proposed_leverage: float,
                 max_leverage: float, entry_tag, side: str, **kwargs) -> float:
        return 1.0

    # Per-candle / per-trade callbacks (overriding one makes tradai refuse the strategy).
    def bot_loop_start(self, current_time, **kwargs):
        return None

    def custom_stoploss(self, pair, trade, current_time, current_rate, current_profit, after_fill, **kwargs):
        return self.stoploss

    def custom_roi(self, pair, trade, current_time, trade_duration, entry_tag, side, **kwargs):
        return None

    def custom_exit(self, pair, trade, current_time, current_rate, current_profit, **kwargs):
        return None

    def custom_sell(self, pair, trade, current_time, current_rate, current_profit, **kwargs):
        return None

    def custom_entry_price(self, pair, trade, current_time, proposed_rate, entry_tag, side, **kwargs):
        return proposed_rate

    def custom_exit_price(self, pair, trade, current_time, proposed_rate, current_profit, exit_tag, **kwargs):
        return proposed_rate

    def custom_stake_amount(self, pair, current_time, current_rate, proposed_stake, min_stake, max_stake,
                            leverage, entry_tag, side, **kwargs):
        return proposed_stake

    def confirm_trade_entry(self, pair, order_type, amount, rate, time_in_force, current_time, entry_tag, side, **kwargs):
        return True

    def confirm_trade_exit(self, pair, trade, order_type, amount, rate, time_in_force, exit_reason, current_time, **kwargs):
        return True

    def check_entry_timeout(self, pair, trade, order, current_time, **kwargs):
        return False

    def check_exit_timeout(self, pair, trade, order, current_time, **kwargs):
        return False

    def check_buy_timeout(self, pair, trade, order, current_time, **kwargs):
        return False

    def check_sell_timeout(self, pair, trade, order, current_time, **kwargs):
        return False

    def adjust_trade_position(self, trade, current_time, current_rate, current_profit, min_stake, max_stake,
                              current_entry_rate, current_exit_rate, current_entry_profit, current_exit_profit, **kwargs):
        return None

    def adjust_entry_price(self, trade, order, pair, current_time, proposed_rate, current_order_rate, entry_tag, side, **kwargs):
        return current_order_rate

    def adjust_exit_price(self, trade, order, pair, current_time, proposed_rate, current_order_rate, entry_tag, side, **kwargs):
        return current_order_rate

    def adjust_order_price(self, trade, order, pair, current_time, proposed_rate, current_order_rate, entry_tag, side,
                           is_entry, **kwargs):
        return current_order_rate

    def order_filled(self, pair, trade, order, current_time, **kwargs):
        return None
