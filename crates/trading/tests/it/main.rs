//! Integration tests of tradai-trading (one test binary): the node's state database, its
//! reports, and the live broker against a fake Binance.

mod binance;
mod fake_binance;
mod report;
mod state;
