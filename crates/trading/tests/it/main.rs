//! Integration tests of tradai-trading (one test binary): the node's state database, its
//! reports, the live broker against a fake Binance, and the live feed against a fake kline venue.

mod binance;
mod fake_binance;
mod fake_klines;
mod live;
mod orders;
mod reconcile;
mod report;
mod state;
