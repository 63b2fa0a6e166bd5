//! Freqtrade strategy files as tradai strategies.
//!
//! A Freqtrade user's `user_data/strategies/*.py` defines an `IStrategy` (interface 3) class.
//! [`PythonStrategy::load`] finds the class in a file or folder, starts a Python worker
//! (`python3`, or the interpreter `TRADAI_PYTHON` names; it needs pandas and pyarrow, as
//! Freqtrade does) and reads the class's settings once: ROI table, stop-loss, trailing stop,
//! exit-signal switches, start-up candles, `can_short`, timeframe, order types, `leverage()`
//! and the hyperopt parameters it declares. Signals are then computed once per pair, in
//! Python — `populate_indicators`, `populate_entry_trend`, `populate_exit_trend` — and the
//! signal columns come back as an Arrow IPC stream; the tradai simulator does the rest.
//!
//! When Freqtrade is not installed, a small stand-in for `freqtrade.strategy` (IStrategy, the
//! parameter classes, `freqtrade.vendor.qtpylib.indicators`) and for `talib` (SMA, EMA, RSI,
//! STDDEV, BBANDS, MACD with TA-Lib's seeds) is put at the end of `sys.path`, so an installed
//! Freqtrade or TA-Lib always wins.
//!
//! Callbacks Freqtrade calls per candle or per trade (`custom_stoploss`, `custom_exit`,
//! `confirm_trade_entry`, ...) cannot be honoured by a vectorised run: a class that overrides
//! one is refused with their names ([`PythonError::Unsupported`]), never run without them.

mod describe;
mod error;
mod frame;
mod strategy;
mod worker;

pub use describe::{Description, ParamDescription};
pub use error::PythonError;
pub use frame::PythonFrame;
pub use strategy::{PythonStrategy, PYTHON_ENV};
