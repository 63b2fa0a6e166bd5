//! Integration tests of the backtest engine: Freqtrade conformance, futures invariants and
//! the behaviour of windows, slots and errors.

mod conformance;
mod feather;
mod futures;
mod invariants;
mod scenarios;
