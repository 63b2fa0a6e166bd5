//! Candle storage.
