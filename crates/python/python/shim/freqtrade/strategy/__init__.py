# IStrategy and the hyperopt parameter classes, with Freqtrade's interface-3 names and defaults.
from freqtrade.strategy.interface import IStrategy
from freqtrade.strategy.parameters import (
    BaseParameter,
    BooleanParameter,
    CategoricalParameter,
    DecimalParameter,
    IntParameter,
    RealParameter,
)
from freqtrade.strategy.helpers import merge_informative_pair, stoploss_from_open, stoploss_from_absolute

__all__ = [
    "IStrategy",
    "BaseParameter",
    "BooleanParameter",
    "CategoricalParameter",
    "DecimalParameter",
    "IntParameter",
    "RealParameter",
    "merge_informative_pair",
    "stoploss_from_open",
    "stoploss_from_absolute",
]
