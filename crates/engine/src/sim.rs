//! The trade simulator: Freqtrade's backtest loop over all pairs.
//!
//! Every rule here is a rule of `conformance/SEMANTICS.md`; the section numbers in comments
//! refer to it. Time runs from `min_date + tf` to `max_date`; at each candle the pairs with
//! open trades are processed first (in the order their trades opened), then the pairs with
//! an entry signal in whitelist order.
//!
//! What happens to an open trade depends only on its own pair's candles, never on other pairs
//! (slots and the wallet matter only when entering). So when a trade opens, its exits are
//! evaluated forward over its pair's candles in one tight loop ([`Sim::scan_exits`]) until
//! its exit order fills. The main loop then only visits candles where something happens — an
//! entry signal or a fill — and processes them in Freqtrade's order, which keeps slots,
//! wallet, closing order and rejected signals exact while the cost grows with signals and
//! trade-candles, not with candles times pairs.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use prefetch_index::prefetch_index;

use tradai_core::StakeAmount;
use tradai_core::{iso_ts_ms, ExitReason, LeverageTier, MarketType, OpenExitOrder, Pair, StrategySettings, Trade, UnclosedTrade};

use crate::config::BacktestConfig;
use crate::data::MarketView;
use crate::decimal::{dec, one_plus_minus, product_to_f64, py_round, to_tick, Dec, Tick, TickRounding};
use crate::session::{ExitOrderState, OpenTradeState, SessionError};
use crate::strategy::Signals;
use crate::tick::TickSeries;

/// Long or short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Long,
    Short,
}

/// An exit order waiting to fill (§7).
#[derive(Debug, Clone, Copy, PartialEq)]
struct ExitOrder {
    price: f64,
    amount: f64,
    placed: i64,
    reason: ExitReason,
}

/// An open trade and everything Freqtrade tracks on it.
#[derive(Debug, Clone)]
struct OpenTrade {
    side: Side,
    open_ts: i64,
    /// Raw open of the entry candle: the order price (stake and profit ratio use it).
    open_raw: f64,
    /// `open_raw` truncated to 18 decimals (the average price profit is computed from).
    avg_price: f64,
    /// `avg_price` rounded half-up to the tick (reported, ROI and stops use it).
    open_rate: f64,
    amount: f64,
    amount_dec: Dec,
    stake: f64,
    leverage: f64,
    tick: Option<Tick>,
    /// `open_value(amount, open_rate)`.
    open_trade_value: f64,
    /// `open_value(amount, open_raw)` (the profit ratio's denominator).
    open_value_raw: f64,
    stop_loss: f64,
    stop_loss_pct: f64,
    initial_stop_loss: f64,
    initial_stop_loss_pct: f64,
    is_stop_loss_trailing: bool,
    max_rate: Option<f64>,
    min_rate: Option<f64>,
    exit_order: Option<ExitOrder>,
    exit_reason: Option<ExitReason>,
    enter_tag: String,
    /// Exit tag of the exit signal that placed the exit order ("" otherwise).
    exit_tag: String,
    /// Time index of the candle where the exit order fills; `None` while it never does
    /// within the pair's data.
    close_k: Option<i64>,
}

/// The read-only columns of one pair.
struct PairView<'a> {
    ts0: i64,
    /// Time index (candles since `min_date`) of row 0, so a row is found without division.
    k0: i64,
    n: usize,
    /// First row of the loop: the first trimmed candle is dropped after the signal shift.
    first_row: usize,
    has_window: bool,
    open: &'a [f64],
    high: &'a [f64],
    low: &'a [f64],
    close: &'a [f64],
    enter_long: &'a [bool],
    exit_long: &'a [bool],
    enter_short: &'a [bool],
    exit_short: &'a [bool],
    tags: Option<&'a [Option<String>]>,
    exit_tags: Option<&'a [Option<String>]>,
    ticks: &'a TickSeries,
    price_tick: Option<Tick>,
    amount_step: Option<Tick>,
    min_amount: Option<f64>,
    min_notional: Option<f64>,
    max_amount: Option<f64>,
    max_notional: Option<f64>,
    /// Leverage tiers (futures); empty when unknown.
    tiers: &'a [LeverageTier],
}

/// What one simulation produced.
pub(crate) struct SimOutput {
    pub trades: Vec<Trade>,
    pub unclosed: Vec<UnclosedTrade>,
    pub rejected: u64,
    pub final_balance: f64,
    pub balance_series: Vec<(i64, f64)>,
}

/// How a trade's exits are found: scanned ahead when it opens (the backtest, which knows
/// every candle), or one candle at a time as candles arrive (a trading session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Backtest,
    Stepped,
}

/// One exit candidate of §5 step 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Candidate {
    ExitSignal,
    StopLoss,
    Roi,
    TrailingStopLoss,
}

pub(crate) struct Sim<'a> {
    cfg: &'a BacktestConfig,
    st: &'a StrategySettings,
    names: Vec<&'a Pair>,
    pairs: Vec<PairView<'a>>,
    step: i64,
    tf_minutes: i64,
    spot: bool,
    can_short: bool,
    /// The strategy's leverage (1 in spot), before the leverage tiers cap it per trade.
    leverage: f64,
    fee: f64,
    one_plus_fee: Dec,
    one_minus_fee: Dec,
    one_plus_fee_f: f64,
    one_minus_fee_f: f64,
    open: Vec<Option<OpenTrade>>,
    /// Pairs with an open trade, in the order the trades opened.
    open_order: Vec<usize>,
    closed_profit: f64,
    tied: f64,
    free: f64,
    rejected: u64,
    trades: Vec<Trade>,
    /// The wallet capture of candles 1..=k_max (§10), built in place: in spot the trades'
    /// `Σ amount · open` is added trade by trade in opening order when each trade is scanned
    /// (candles ahead of the main loop), and the wallet total last, when the main loop
    /// passes the candle (every trade open at its start has been scanned by then).
    balance: Vec<(i64, f64)>,
    /// Last time index of the run (`max_date`).
    k_max: i64,
    /// Quiet-candle skipping and word-wise entry scanning (off only in tests).
    shortcuts: bool,
    /// First time index of the run's data (`min_date`), epoch ms.
    min_date: i64,
    /// Pairs that opened a trade on the current stepped candle (see [`Sim::step`]).
    entered: Vec<usize>,
    /// Reused buffer of [`Sim::step`].
    scratch: Vec<usize>,
    /// New trades may open on stepped candles (a session's kill switch clears it).
    pub(crate) entries_allowed: bool,
    /// The market's last candle is not the run's last (a live node's market grows): entries
    /// may open on it, as on any other candle.
    pub(crate) open_end: bool,
}

/// Runs the simulation. `signals` is aligned with `market.pairs`.
pub(crate) fn simulate(cfg: &BacktestConfig, st: &StrategySettings, market: &MarketView<'_>, signals: &[Signals]) -> SimOutput {
    simulate_with(cfg, st, market, signals, true)
}

/// [`simulate`]; without `shortcuts` every candle of a trade is evaluated in full and every
/// row is checked for an entry (the reference the shortcuts are tested against).
fn simulate_with(cfg: &BacktestConfig, st: &StrategySettings, market: &MarketView<'_>, signals: &[Signals], shortcuts: bool) -> SimOutput {
    let mut sim = Sim::new(cfg, st, market, signals, shortcuts);
    sim.wallet_update();
    sim.run_loop(market.min_date_ms);
    let balance_series = std::mem::take(&mut sim.balance);
    let unclosed = sim.handle_left_open();
    let final_balance = sim.wallet_total();
    SimOutput { trades: sim.trades, unclosed, rejected: sim.rejected, final_balance, balance_series }
}

impl<'a> Sim<'a> {
    /// The simulator before the first candle.
    pub(crate) fn new(
        cfg: &'a BacktestConfig,
        st: &'a StrategySettings,
        market: &MarketView<'a>,
        signals: &'a [Signals],
        shortcuts: bool,
    ) -> Self {
        let spot = cfg.trading_mode == MarketType::Spot;
        let (one_plus_fee, one_minus_fee) = one_plus_minus(cfg.fee);
        let pairs = market
            .pairs
            .iter()
            .zip(signals)
            .map(|(p, s)| PairView {
                ts0: p.candles.ts.first().copied().unwrap_or(0),
                k0: p.candles.ts.first().map_or(0, |t| (t - market.min_date_ms).div_euclid(market.timeframe.millis())),
                n: p.candles.len(),
                first_row: p.startup_rows + 1,
                has_window: p.has_window(),
                open: &p.candles.open,
                high: &p.candles.high,
                low: &p.candles.low,
                close: &p.candles.close,
                enter_long: &s.enter_long,
                exit_long: &s.exit_long,
                enter_short: &s.enter_short,
                exit_short: &s.exit_short,
                tags: s.enter_tag.as_deref(),
                exit_tags: s.exit_tag.as_deref(),
                ticks: p.ticks,
                price_tick: p.instrument.price_tick.and_then(Tick::new),
                amount_step: p.instrument.amount_step.and_then(Tick::new),
                min_amount: p.instrument.min_amount,
                min_notional: p.instrument.min_notional,
                max_amount: p.instrument.max_amount,
                max_notional: p.instrument.max_notional,
                tiers: if spot { &[] } else { &p.instrument.leverage_tiers },
            })
            .collect::<Vec<_>>();
        let n_pairs = pairs.len();
        Sim {
            cfg,
            st,
            names: market.pairs.iter().map(|p| p.pair).collect(),
            pairs,
            step: market.timeframe.millis(),
            tf_minutes: market.timeframe.minutes(),
            spot,
            can_short: !spot && st.can_short,
            leverage: if spot { 1.0 } else { st.leverage.max(1.0) },
            fee: cfg.fee,
            one_plus_fee,
            one_minus_fee,
            one_plus_fee_f: 1.0 + cfg.fee,
            one_minus_fee_f: 1.0 - cfg.fee,
            open: vec![None; n_pairs],
            open_order: Vec::new(),
            closed_profit: 0.0,
            tied: 0.0,
            free: cfg.starting_balance,
            rejected: 0,
            trades: Vec::new(),
            balance: {
                let step = market.timeframe.millis();
                let k_max = (market.max_date_ms - market.min_date_ms).div_euclid(step);
                (1..=k_max).map(|k| (market.min_date_ms + step * k, 0.0)).collect()
            },
            k_max: (market.max_date_ms - market.min_date_ms).div_euclid(market.timeframe.millis()),
            shortcuts,
            min_date: market.min_date_ms,
            entered: Vec::new(),
            scratch: Vec::new(),
            entries_allowed: true,
            open_end: false,
        }
    }
}

impl Sim<'_> {
    /// The main loop (§3), completing the balance captured at every candle (§10).
    fn run_loop(&mut self, min_date: i64) {
        // Entry candidates of every pair in time order, merged across pairs by time index
        // and then whitelist order (the heap's tuple order).
        // Each carries its direction: the flags are not read again (a cache miss each).
        let per_pair: Vec<Vec<(i64, Side)>> = self.pairs.iter().map(|pv| self.entry_candidates(pv)).collect();
        // Every trade opens on a candidate: room for all of them at once, so the trades are
        // never copied to a bigger buffer (untouched room costs no memory).
        self.trades.reserve(per_pair.iter().map(Vec::len).sum());
        let mut cursor = vec![0usize; per_pair.len()];
        let mut events: BinaryHeap<Reverse<(i64, usize)>> =
            per_pair.iter().enumerate().filter_map(|(p, ks)| Some(Reverse((ks.first()?.0, p)))).collect();
        let k_max = self.k_max;
        let mut processed_at = vec![i64::MIN; self.pairs.len()];
        let mut snapshot: Vec<usize> = Vec::new();
        let mut k = 1i64;
        while k <= k_max {
            let next_entry = events.peek().map(|e| e.0 .0);
            let next_fill = self.open_order.iter().filter_map(|&p| self.open[p].as_ref().and_then(|tr| tr.close_k)).min();
            let kn = match (next_entry, next_fill) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(k_max + 1),
            }
            .min(k_max + 1);
            // Wallet total at the start of each candle up to this one (before anything is
            // processed), added to the positions' sum: Freqtrade's `positions + wallet`
            // (one addition, so the operand order does not matter).
            let value = self.wallet_total();
            for b in self.balance.get_mut(idx(k - 1)..idx(kn.min(k_max + 1) - 1)).unwrap_or_default() {
                b.1 += value;
            }
            if kn > k_max {
                break;
            }
            if let Some(b) = self.balance.get_mut(idx(kn - 1)) {
                b.1 += value;
            }
            let can_enter = kn != k_max;
            let t = min_date + self.step * kn;

            // Pairs with open trades first, in the order the trades opened.
            snapshot.clear();
            snapshot.extend_from_slice(&self.open_order);
            for &p in &snapshot {
                let Some(i) = self.row_at(p, kn) else { continue };
                processed_at[p] = kn;
                self.close_if_filled(p, i, kn, t, can_enter, Mode::Backtest);
            }
            // Then the entry signals, in whitelist order.
            while let Some(&Reverse((ek, p))) = events.peek() {
                if ek != kn {
                    break;
                }
                events.pop();
                let dir = per_pair[p][cursor[p]].1;
                cursor[p] += 1;
                if let Some(&(next, _)) = per_pair[p].get(cursor[p]) {
                    events.push(Reverse((next, p)));
                    self.prefetch_row(p, next);
                    // The pair's candidates are read in order but far apart in time (an
                    // index past the end is only a hint on an address, never read).
                    prefetch_index(&per_pair[p], cursor[p] + 4);
                }
                if processed_at[p] == kn {
                    continue;
                }
                processed_at[p] = kn;
                if let Some(i) = self.row_at(p, kn) {
                    self.try_enter(p, i, kn, dir, can_enter, Mode::Backtest);
                }
            }
            k = kn + 1;
        }
    }

    // ---- the candle-by-candle session ----

    /// Candle `k` of a session, without looking ahead: the wallet capture (§10), then the
    /// open trades' exits in opening order, then the entry signals in whitelist order (§3) —
    /// the backtest's order, with each trade's exits evaluated on this candle instead of
    /// scanned ahead when it opened. `processed` is per-pair scratch (the last candle each
    /// pair was handled on). Returns the pairs that opened a trade; closed trades are
    /// appended to `trades`.
    pub(crate) fn step(&mut self, k: i64, processed: &mut [i64]) -> &[usize] {
        self.entered.clear();
        // The capture of candle k: positions in opening order, the wallet total last (the
        // backtest adds them in this order too, see `Sim::balance`).
        let mut value = 0.0;
        if self.spot {
            for &p in &self.open_order {
                if let (Some(tr), Some(i)) = (&self.open[p], self.row_in_data(p, k)) {
                    value += tr.amount * self.pairs[p].open[i];
                }
            }
        }
        value += self.wallet_total();
        if let Some(b) = self.balance.get_mut(idx(k - 1)) {
            b.1 = value;
        }
        let can_enter = (k < self.k_max || self.open_end) && self.entries_allowed;
        let t = self.min_date + self.step * k;
        // The open pairs as they were before this candle (closing one changes the list).
        let mut snapshot = std::mem::take(&mut self.scratch);
        snapshot.clear();
        snapshot.extend_from_slice(&self.open_order);
        for &p in &snapshot {
            let Some(i) = self.row_at(p, k) else { continue };
            processed[p] = k;
            let Some(mut tr) = self.open[p].take() else { continue };
            tr.close_k = self.exit_on(p, &mut tr, i);
            self.open[p] = Some(tr);
            self.close_if_filled(p, i, k, t, can_enter, Mode::Stepped);
        }
        self.scratch = snapshot;
        for (p, done) in processed.iter_mut().enumerate().take(self.pairs.len()) {
            if *done == k {
                continue;
            }
            let Some(i) = self.row_at(p, k) else { continue };
            let Some(dir) = self.trade_dir(&self.pairs[p], i) else { continue };
            *done = k;
            self.try_enter(p, i, k, dir, can_enter, Mode::Stepped);
        }
        &self.entered
    }

    /// Row of pair `p` at time index `k` anywhere in its data (start-up rows included).
    fn row_in_data(&self, p: usize, k: i64) -> Option<usize> {
        let pv = &self.pairs[p];
        let i = usize::try_from(k - pv.k0).ok()?;
        (i < pv.n).then_some(i)
    }

    /// Time index of the last candle (`max_date`).
    pub(crate) fn k_max(&self) -> i64 {
        self.k_max
    }

    /// `handle_left_open` and the result, after the last candle was stepped.
    pub(crate) fn finish(mut self) -> SimOutput {
        let balance_series = std::mem::take(&mut self.balance);
        let unclosed = self.handle_left_open();
        let final_balance = self.wallet_total();
        SimOutput { trades: self.trades, unclosed, rejected: self.rejected, final_balance, balance_series }
    }

    /// The closed trades so far, in closing order.
    pub(crate) fn trades(&self) -> &[Trade] {
        &self.trades
    }

    /// The wallet capture of candles `1..=k` (complete up to the last stepped candle).
    pub(crate) fn balance_upto(&self, k: i64) -> &[(i64, f64)] {
        &self.balance[..idx(k).min(self.balance.len())]
    }

    /// Wallet figures: (closed profit, stake tied in open trades, free, total).
    pub(crate) fn wallet(&self) -> (f64, f64, f64, f64) {
        (self.closed_profit, self.tied, self.free, self.wallet_total())
    }

    /// Entry signals dropped for want of a slot.
    pub(crate) fn rejected(&self) -> u64 {
        self.rejected
    }

    /// The open trades in opening order, as plain records.
    pub(crate) fn open_trades(&self) -> Vec<OpenTradeState> {
        self.open_order
            .iter()
            .filter_map(|&p| {
                let tr = self.open[p].as_ref()?;
                Some(OpenTradeState {
                    pair: self.names[p].clone(),
                    is_short: tr.side == Side::Short,
                    open_timestamp: tr.open_ts,
                    open_raw: tr.open_raw,
                    avg_price: tr.avg_price,
                    open_rate: tr.open_rate,
                    amount: tr.amount,
                    stake: tr.stake,
                    leverage: tr.leverage,
                    tick: tr.tick.map(Tick::value),
                    open_trade_value: tr.open_trade_value,
                    open_value_raw: tr.open_value_raw,
                    stop_loss: tr.stop_loss,
                    stop_loss_pct: tr.stop_loss_pct,
                    initial_stop_loss: tr.initial_stop_loss,
                    initial_stop_loss_pct: tr.initial_stop_loss_pct,
                    is_stop_loss_trailing: tr.is_stop_loss_trailing,
                    max_rate: tr.max_rate,
                    min_rate: tr.min_rate,
                    exit_order: tr.exit_order.map(|o| ExitOrderState {
                        price: o.price,
                        amount: o.amount,
                        placed: o.placed,
                        reason: o.reason,
                    }),
                    exit_reason: tr.exit_reason,
                    enter_tag: tr.enter_tag.clone(),
                    exit_tag: tr.exit_tag.clone(),
                })
            })
            .collect()
    }

    /// Puts the state of a session back: open trades (in opening order), closed trades,
    /// profit, rejected count and the wallet capture up to candle `k`.
    pub(crate) fn restore(
        &mut self,
        open: &[OpenTradeState],
        trades: Vec<Trade>,
        closed_profit: f64,
        rejected: u64,
        balance: &[(i64, f64)],
    ) -> Result<(), SessionError> {
        self.open.iter_mut().for_each(|o| *o = None);
        self.open_order.clear();
        for o in open {
            let p = self.names.iter().position(|n| **n == o.pair).ok_or_else(|| SessionError::UnknownPair { pair: o.pair.clone() })?;
            let tick = match o.tick {
                Some(v) => Some(Tick::new(v).ok_or(SessionError::InvalidTick { pair: o.pair.clone(), tick: v })?),
                None => None,
            };
            self.open[p] = Some(OpenTrade {
                side: if o.is_short { Side::Short } else { Side::Long },
                open_ts: o.open_timestamp,
                open_raw: o.open_raw,
                avg_price: o.avg_price,
                open_rate: o.open_rate,
                amount: o.amount,
                amount_dec: dec(o.amount),
                stake: o.stake,
                leverage: o.leverage,
                tick,
                open_trade_value: o.open_trade_value,
                open_value_raw: o.open_value_raw,
                stop_loss: o.stop_loss,
                stop_loss_pct: o.stop_loss_pct,
                initial_stop_loss: o.initial_stop_loss,
                initial_stop_loss_pct: o.initial_stop_loss_pct,
                is_stop_loss_trailing: o.is_stop_loss_trailing,
                max_rate: o.max_rate,
                min_rate: o.min_rate,
                exit_order: o.exit_order.map(|e| ExitOrder { price: e.price, amount: e.amount, placed: e.placed, reason: e.reason }),
                exit_reason: o.exit_reason,
                enter_tag: o.enter_tag.clone(),
                exit_tag: o.exit_tag.clone(),
                close_k: None,
            });
            self.open_order.push(p);
        }
        self.trades = trades;
        self.closed_profit = closed_profit;
        self.rejected = rejected;
        for (slot, b) in self.balance.iter_mut().zip(balance) {
            if slot.0 != b.0 {
                return Err(SessionError::BalanceMismatch { expected_ms: slot.0, got_ms: b.0 });
            }
            slot.1 = b.1;
        }
        self.wallet_update();
        Ok(())
    }

    /// Time indices of the rows of `pv` where `check_for_trade_entry` gives a direction.
    ///
    /// The flag columns are read eight rows at a time (bools are bytes of 0 or 1, so the
    /// rule of [`Sim::trade_dir`] is a bytewise `long = el & !(xl | es)`,
    /// `short = es & !(xs | el)`), streaming every column once; entries are rare, so most
    /// words are zero.
    fn entry_candidates<'c>(&self, pv: &PairView<'c>) -> Vec<(i64, Side)> {
        let mut out = Vec::new();
        if !pv.has_window {
            return out;
        }
        if !self.shortcuts {
            return (pv.first_row..pv.n).filter_map(|i| Some((pv.k0 + i as i64, self.trade_dir(pv, i)?))).collect();
        }
        // Row i holds the signals of candle i - 1.
        let rows = pv.first_row - 1..pv.n - 1;
        let (el, xl) = (&pv.enter_long[rows.clone()], &pv.exit_long[rows.clone()]);
        // An absent (empty) short column never signals.
        let short = |c: &'c [bool]| if self.can_short && !c.is_empty() { &c[rows.clone()] } else { &[][..] };
        let (es, xs) = (short(pv.enter_short), short(pv.exit_short));
        // Flags w*8 .. w*8+8 as one word (a single 8-byte load); zero for an absent column.
        let word = |c: &[bool], w: usize| {
            let Some(c) = c.get(w * 8..w * 8 + 8) else { return 0 };
            let mut b = [0u8; 8];
            for (d, s) in b.iter_mut().zip(c) {
                *d = u8::from(*s);
            }
            u64::from_le_bytes(b)
        };
        let words = rows.len() / 8;
        for w in 0..words {
            let (wel, wes) = (word(el, w), word(es, w));
            if wel | wes == 0 {
                continue;
            }
            let (wxl, wxs) = (word(xl, w), word(xs, w));
            let (long, short) = (wel & !(wxl | wes), wes & !(wxs | wel));
            let mut entries = long | short;
            while entries != 0 {
                let j = entries.trailing_zeros() as usize / 8;
                let side = if (long >> (j * 8)) & 1 == 1 { Side::Long } else { Side::Short };
                out.push((pv.k0 + (rows.start + w * 8 + j + 1) as i64, side));
                entries &= !(0xFFu64 << (j * 8));
            }
        }
        for j in words * 8..rows.len() {
            let i = rows.start + j + 1;
            if let Some(side) = self.trade_dir(pv, i) {
                out.push((pv.k0 + i as i64, side));
            }
        }
        out
    }

    /// Adds a spot trade's `amount · open` to the wallet capture of every candle after its
    /// entry row `from` up to `last` (the fill candle, or the pair's last candle when the
    /// trade is still open at the end: it is force-exited there). Trades are scanned in
    /// opening order, so each candle's sum has Freqtrade's order: positions in opening order,
    /// the wallet total last (see [`Sim::balance`]).
    fn add_position(&mut self, p: usize, amount: f64, from: usize, last: usize) {
        if !self.spot || last <= from {
            return;
        }
        let pv = &self.pairs[p];
        // Candle k is at index k - 1; rows after an entry have k >= 2.
        let first = idx(pv.k0 + from as i64);
        // Rows end at max_date, the last candle of the capture; the cap only guards that.
        let count = (last - from).min(self.balance.len().saturating_sub(first));
        let (Some(slots), Some(opens)) = (self.balance.get_mut(first..first + count), pv.open.get(from + 1..from + 1 + count)) else {
            return;
        };
        for (slot, &o) in slots.iter_mut().zip(opens) {
            slot.1 += amount * o;
        }
    }

    /// Closes pair `p`'s trade when its exit order fills on candle `k` (row `i`, time `t`),
    /// and in futures reverses the position when the opposite signal stands (§3, §7).
    fn close_if_filled(&mut self, p: usize, i: usize, k: i64, t: i64, can_enter: bool, mode: Mode) {
        let Some(tr) = &self.open[p] else { return };
        if tr.close_k != Some(k) {
            return;
        }
        let side = tr.side;
        self.close_trade(p, t);
        // Futures: a position closed by the opposite signal reverses on this candle.
        if let Some(dir) = self.trade_dir(&self.pairs[p], i) {
            if dir != side {
                self.try_enter(p, i, k, dir, can_enter, mode);
            }
        }
    }

    /// The entry step of `backtest_loop` for a pair without an open trade (§3): enter if a
    /// slot is free, otherwise count a rejected signal. Nothing happens on the last candle.
    fn try_enter(&mut self, p: usize, i: usize, k: i64, dir: Side, can_enter: bool, mode: Mode) {
        if !can_enter || self.open[p].is_some() {
            return;
        }
        // max_open_trades <= 0 means unlimited in Freqtrade's slot test.
        let slot_free = match self.cfg.max_open_trades {
            None | Some(0) => true,
            Some(m) => self.open_order.len() < m,
        };
        if !slot_free {
            self.rejected += 1;
            return;
        }
        let t = self.pairs[p].ts0 + self.step * i as i64;
        match mode {
            Mode::Backtest => self.enter_trade(p, i, t, dir),
            Mode::Stepped => self.enter_now(p, i, t, dir),
        }
        // An exit order filled on the entry candle closes the trade right away, before the
        // next pair is processed (it frees the slot for it).
        if self.open[p].as_ref().is_some_and(|tr| tr.close_k == Some(k)) {
            self.close_trade(p, t);
        }
    }

    /// Asks the CPU to start loading what an entry on pair `p` at time index `k` reads: the
    /// row's flags and the prices of its first 32 rows (a trade of the benchmark lasts 28
    /// candles on average; its exit scan reads them). Entries land at random places in
    /// hundreds of MB of candles, and each is known about ten events before it is processed;
    /// waiting on those loads was the simulation's largest cost. A candidate that falls
    /// inside the pair's open trade, or on the candle it closes, opens nothing (the close
    /// handles that candle) and is not fetched. A prefetch reads nothing and cannot fault, so
    /// an address past a column's end would be harmless; the rows are checked anyway.
    fn prefetch_row(&self, p: usize, k: i64) {
        let pv = &self.pairs[p];
        let Ok(i) = usize::try_from(k - pv.k0) else { return };
        if i == 0 || i + 32 >= pv.n || self.open[p].as_ref().is_some_and(|tr| tr.close_k.is_none_or(|c| c >= k)) {
            return;
        }
        // Eight f64 rows to a 64-byte cache line.
        for r in (i..i + 32).step_by(8) {
            prefetch_index(pv.open, r);
            prefetch_index(pv.high, r);
            prefetch_index(pv.low, r);
        }
        // Row i holds the signals of candle i - 1.
        prefetch_index(pv.enter_long, i - 1);
        prefetch_index(pv.exit_long, i - 1);
        if self.can_short && !pv.exit_short.is_empty() {
            prefetch_index(pv.enter_short, i - 1);
            prefetch_index(pv.exit_short, i - 1);
        }
    }

    /// Index of pair `p`'s row at time index `k` (candles since `min_date`), if it has one
    /// (§3 step 3). Rows are contiguous after gap filling.
    fn row_at(&self, p: usize, k: i64) -> Option<usize> {
        let pv = &self.pairs[p];
        let i = usize::try_from(k - pv.k0).ok()?;
        (pv.has_window && i >= pv.first_row && i < pv.n).then_some(i)
    }

    /// `check_for_trade_entry` on row `i`, whose signals are those of candle `i - 1` (§3).
    fn trade_dir(&self, pv: &PairView<'_>, i: usize) -> Option<Side> {
        let s = i - 1;
        let enter_long = pv.enter_long[s];
        let exit_long = pv.exit_long[s];
        let enter_short = self.can_short && flag(pv.enter_short, s);
        let exit_short = self.can_short && flag(pv.exit_short, s);
        if enter_long && !(exit_long || enter_short) {
            Some(Side::Long)
        } else if enter_short && !(exit_short || enter_long) {
            Some(Side::Short)
        } else {
            None
        }
    }

    // ---- wallet (§4) ----

    pub(crate) fn wallet_update(&mut self) {
        // Python's sum() over the open trades in opening order.
        let mut tied = 0.0;
        for &p in &self.open_order {
            if let Some(tr) = &self.open[p] {
                tied += tr.stake;
            }
        }
        self.tied = tied;
        self.free = self.cfg.starting_balance + self.closed_profit - tied;
    }

    /// The stake-currency total: free balance in spot, free plus margins in futures.
    fn wallet_total(&self) -> f64 {
        if self.spot {
            self.free
        } else {
            self.free + self.tied
        }
    }

    fn available(&self) -> f64 {
        let a = (self.tied + self.free) * self.cfg.tradable_balance_ratio - self.tied;
        if self.free < a {
            self.free
        } else {
            a
        }
    }

    /// `get_trade_stake_amount`; `None` where Freqtrade raises `DependencyException`.
    fn stake_for_entry(&self) -> Option<f64> {
        let available = self.available();
        let stake = match self.cfg.stake_amount {
            StakeAmount::Fixed(s) => s,
            StakeAmount::Unlimited => match self.cfg.max_open_trades {
                Some(0) | None => 0.0,
                Some(m) => {
                    let possible = (available + self.tied) / m as f64;
                    if available < possible {
                        available
                    } else {
                        possible
                    }
                }
            },
        };
        if available < stake {
            return None;
        }
        Some(if stake < 0.0 { 0.0 } else { stake })
    }

    /// `get_min_pair_stake_amount(pair, price, -0.05, leverage)`, 0 without limits.
    fn min_stake(&self, p: usize, price: f64, leverage: f64) -> f64 {
        let pv = &self.pairs[p];
        let margin_reserve: f64 = 1.0 + 0.05;
        let stoploss_reserve = (margin_reserve / (1.0 - 0.05)).clamp(1.0, 1.5);
        let limits = [pv.min_notional.map(|c| c * stoploss_reserve), pv.min_amount.map(|a| a * price * margin_reserve)];
        let mut best: Option<f64> = None;
        for l in limits.into_iter().flatten() {
            if best.is_none_or(|b| l > b) {
                best = Some(l);
            }
        }
        best.map_or(0.0, |b| b / leverage)
    }

    /// `get_max_pair_stake_amount(pair, price, leverage)`: the smallest of the tiers' notional
    /// cap for `leverage` (futures), the market's maximum cost and its maximum amount at
    /// `price`, divided by the leverage; infinite when the market states none of them.
    fn max_stake(&self, p: usize, price: f64, leverage: f64) -> f64 {
        let pv = &self.pairs[p];
        // Python's `if max_from_tiers := ...`: a zero (or missing) notional cap is skipped.
        let from_tiers = pv.tiers.iter().rev().find(|t| leverage <= t.max_leverage).and_then(|t| t.max_notional).filter(|n| *n != 0.0);
        let limits = [from_tiers, pv.max_notional, pv.max_amount.map(|a| a * price)];
        // Python's min(): the first of the smallest.
        let mut best: Option<f64> = None;
        for l in limits.into_iter().flatten() {
            if best.is_none_or(|b| l < b) {
                best = Some(l);
            }
        }
        best.map_or(f64::INFINITY, |b| b / leverage)
    }

    /// `validate_stake_amount` for a new trade.
    fn validate_stake(&self, stake: f64, min_stake: f64, max_stake: f64) -> f64 {
        if stake == 0.0 {
            return 0.0;
        }
        let available = self.available();
        let max_allowed = if available < max_stake { available } else { max_stake };
        if min_stake > max_allowed {
            return 0.0;
        }
        let mut stake = stake;
        if stake < min_stake {
            if stake * 1.3 < min_stake {
                return 0.0;
            }
            stake = min_stake;
        }
        if stake > max_allowed {
            stake = max_allowed;
        }
        stake
    }

    // ---- money math (§8) ----

    fn open_value(&self, amount: Dec, rate: f64, side: Side) -> f64 {
        self.open_value_dec(amount, dec(rate), side)
    }

    /// [`Sim::open_value`] of a rate already in decimal form.
    fn open_value_dec(&self, amount: Dec, rate: Dec, side: Side) -> f64 {
        let f = if side == Side::Short { self.one_minus_fee } else { self.one_plus_fee };
        product_to_f64(&[amount, rate, f])
    }

    fn close_value(&self, amount: Dec, rate: f64, side: Side) -> f64 {
        let f = if side == Side::Short { self.one_plus_fee } else { self.one_minus_fee };
        product_to_f64(&[amount, dec(rate), f])
    }

    /// `calc_profit_ratio(rate)`, exact and rounded to 8 decimals.
    fn profit_ratio_exact(&self, tr: &OpenTrade, rate: f64) -> f64 {
        let cv = self.close_value(tr.amount_dec, rate, tr.side);
        let otv = tr.open_trade_value;
        if otv == 0.0 {
            return 0.0;
        }
        let r = match tr.side {
            Side::Long => (cv / otv - 1.0) * tr.leverage,
            Side::Short => (1.0 - cv / otv) * tr.leverage,
        };
        py_round(r, 8)
    }

    /// The profit ratio at `rate` as far as a comparison with `threshold` needs it: a float
    /// estimate when it is clearly on one side (its error is ~1e-15, the rounding 5e-9), the
    /// exact value otherwise. Comparisons with `threshold` give the exact result either way.
    fn profit_ratio_vs(&self, tr: &OpenTrade, rate: f64, threshold: f64) -> f64 {
        let otv = tr.open_trade_value;
        if otv == 0.0 {
            return 0.0;
        }
        let (f, sign) = if tr.side == Side::Short { (self.one_plus_fee_f, -1.0) } else { (self.one_minus_fee_f, 1.0) };
        let approx = sign * (tr.amount * rate * f / otv - 1.0) * tr.leverage;
        if (approx - threshold).abs() > 2e-8 + 1e-12 * approx.abs() {
            approx
        } else {
            self.profit_ratio_exact(tr, rate)
        }
    }

    /// The stop for `rate` and stop-loss ratio `sl` (§4): float `rate·(1 ∓ |sl/lev|)`, then
    /// rounded up (long) or down (short) to the tick.
    fn stop_for(rate: f64, sl: f64, leverage: f64, side: Side, tick: Option<Tick>) -> f64 {
        let (raw, mode) = match side {
            Side::Long => (rate * (1.0 - (sl / leverage).abs()), TickRounding::Up),
            Side::Short => (rate * (1.0 + (sl / leverage).abs()), TickRounding::Down),
        };
        tick.map_or(raw, |tk| to_tick(raw, tk, mode))
    }

    // ---- entry (§4) ----

    /// Opens a trade on row `i` of pair `p` (the backtest's path): the entry rules of
    /// [`Sim::new_trade`], then its exits scanned ahead over the pair's candles.
    fn enter_trade(&mut self, p: usize, i: usize, t: i64, side: Side) {
        let Some(mut tr) = self.new_trade(p, i, t, side) else { return };
        tr.close_k = self.scan_exits(p, &mut tr, i);
        let last = tr.close_k.map_or(self.pairs[p].n - 1, |k| idx(k - self.pairs[p].k0));
        self.add_position(p, tr.amount, i, last);
        self.open[p] = Some(tr);
        self.open_order.push(p);
        self.wallet_update();
    }

    /// Opens a trade on row `i` of pair `p` without looking ahead (the session's path): the
    /// same entry rules, then the exits of the entry candle only.
    fn enter_now(&mut self, p: usize, i: usize, t: i64, side: Side) {
        let Some(mut tr) = self.new_trade(p, i, t, side) else { return };
        tr.close_k = self.exit_on(p, &mut tr, i);
        self.open[p] = Some(tr);
        self.open_order.push(p);
        self.entered.push(p);
        self.wallet_update();
    }

    /// The entry rules (§4) on row `i` of pair `p` at time `t`: price, stake (slots, wallet,
    /// market limits, leverage tiers), amount on the lot step, stop. `None` where Freqtrade
    /// opens no trade. Shared by the backtest and the candle-by-candle session.
    fn new_trade(&self, p: usize, i: usize, t: i64, side: Side) -> Option<OpenTrade> {
        let pv = &self.pairs[p];
        let (o, h, l) = (pv.open[i], pv.high[i], pv.low[i]);
        let propose = match side {
            Side::Long => {
                if o <= h {
                    o
                } else {
                    h
                }
            }
            Side::Short => {
                if o >= l {
                    o
                } else {
                    l
                }
            }
        };
        let stake = self.stake_for_entry()?;
        // The strategy's leverage, capped by the tier the stake falls in (spot: 1).
        let max_leverage = max_leverage(self.pairs[p].tiers, stake)?;
        let leverage = if max_leverage < self.leverage { max_leverage } else { self.leverage };
        let min_stake = self.min_stake(p, propose, leverage);
        let max_stake = self.max_stake(p, propose, leverage);
        let stake = self.validate_stake(stake, min_stake, max_stake);
        if stake == 0.0 || (min_stake != 0.0 && stake < min_stake) {
            return None;
        }
        let pv = &self.pairs[p];
        let amount_p = (stake / propose) * leverage;
        let amount = pv.amount_step.map_or(amount_p, |s| to_tick(amount_p, s, TickRounding::Truncate));
        if amount == 0.0 {
            return None;
        }
        // The entry fills at once: the open lies inside its own candle. The trade keeps the
        // tick of the month it opened in.
        let tick = pv.ticks.asof(t).or(pv.price_tick);
        let amount_dec = dec(amount);
        let open_dec = dec(propose);
        let stake_exact = product_to_f64(&[open_dec, amount_dec]) / leverage;
        let avg_price = open_dec.trunc18().to_f64();
        let open_rate = tick.map_or(avg_price, |tk| to_tick(avg_price, tk, TickRounding::HalfUp));
        // open_rate is usually the raw open itself (prices on the tick grid): one product then.
        let open_value_raw = self.open_value_dec(amount_dec, open_dec, side);
        let open_trade_value =
            if open_rate.to_bits() == propose.to_bits() { open_value_raw } else { self.open_value(amount_dec, open_rate, side) };
        let stop = Self::stop_for(open_rate, self.st.stoploss, leverage, side, tick);
        let enter_tag = pv.tags.and_then(|tags| tags[i - 1].clone()).unwrap_or_default();
        Some(OpenTrade {
            side,
            open_ts: t,
            open_raw: propose,
            avg_price,
            open_rate,
            amount,
            amount_dec,
            stake: stake_exact,
            leverage,
            tick,
            open_trade_value,
            open_value_raw,
            stop_loss: stop,
            stop_loss_pct: -self.st.stoploss.abs(),
            initial_stop_loss: stop,
            initial_stop_loss_pct: -self.st.stoploss.abs(),
            is_stop_loss_trailing: false,
            max_rate: None,
            min_rate: None,
            exit_order: None,
            exit_reason: None,
            enter_tag,
            exit_tag: String::new(),
            close_k: None,
        })
    }

    // ---- exits (§5, §6, §7) ----

    /// Steps 4 and 5 of `backtest_loop` on every candle of the trade's pair from row `from`
    /// on: evaluate the exits, then try to fill the exit order. Returns the time index of the
    /// candle where it fills, leaving the trade in its state at that moment (or at the pair's
    /// last candle when it never fills).
    ///
    /// Most candles of a trade can produce no exit candidate at all; runs of those ("quiet"
    /// candles, see [`Quiet`]) only move the trade's min/max rates and are stepped over in a
    /// tight loop. Every other candle goes through the full evaluation.
    fn scan_exits(&self, p: usize, tr: &mut OpenTrade, from: usize) -> Option<i64> {
        let pv = &self.pairs[p];
        let mut i = from;
        while i < pv.n {
            if let Some(q) = self.quiet(pv, tr, i).filter(|_| self.shortcuts) {
                i = q.skip(pv, tr, i);
                if i >= pv.n {
                    break;
                }
            }
            if let Some(k) = self.exit_on(p, tr, i) {
                return Some(k);
            }
            i += 1;
        }
        None
    }

    /// Steps 4 and 5 of `backtest_loop` on one candle (row `i`): evaluate the exits, then try
    /// to fill the exit order. The time index of the candle when it fills.
    #[inline]
    fn exit_on(&self, p: usize, tr: &mut OpenTrade, i: usize) -> Option<i64> {
        let pv = &self.pairs[p];
        let t = pv.ts0 + self.step * i as i64;
        self.evaluate_exits(p, tr, i, t);
        tr.exit_order.is_some_and(|oo| pv.low[i] <= oo.price && oo.price <= pv.high[i]).then_some(pv.k0 + i as i64)
    }

    /// The bounds within which candles from row `i` on are quiet for `tr`, or `None` when
    /// the trade's state allows no shortcut (trailing stop, a resting exit order, a zero open
    /// value).
    fn quiet<'c>(&self, pv: &PairView<'c>, tr: &OpenTrade, i: usize) -> Option<Quiet<'c>> {
        let st = self.st;
        let otv = tr.open_trade_value;
        if st.trailing_stop || tr.exit_order.is_some() || !(otv > 0.0 && tr.amount > 0.0 && tr.open_rate != 0.0) {
            return None;
        }
        let t = pv.ts0 + self.step * i as i64;
        let dur = (t - tr.open_ts).div_euclid(60_000);
        // The ROI entry in force stays the same until the trade's age reaches the next key.
        let until = match st.minimal_roi.iter().map(|(k, _)| *k).filter(|k| *k > dur).min() {
            Some(key) => {
                let t_key = tr.open_ts + key * 60_000;
                let row = (t_key - pv.ts0 + self.step - 1).div_euclid(self.step);
                usize::try_from(row).unwrap_or(0).min(pv.n)
            }
            None => pv.n,
        };
        // `profit_ratio_vs(rate, roi) > roi` is impossible while the float estimate of the
        // ratio stays below `roi - margin`: the estimate is within ~1e-15 relative of the
        // exact ratio, which the 8-decimal rounding moves by at most 5e-9. The price bound
        // is shrunk by 1e-9 relative on top, for the float error of the bound itself.
        let (f, short) = match tr.side {
            Side::Long => (self.one_minus_fee_f, false),
            Side::Short => (self.one_plus_fee_f, true),
        };
        let roi_bound = match st.roi_at(dur) {
            None => {
                if short {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                }
            }
            Some((_, roi)) => {
                let target = (roi - 1e-6 * (1.0 + roi.abs())) / tr.leverage;
                let scale = otv / (tr.amount * f);
                if short {
                    let b = (1.0 - target) * scale;
                    b + b.abs() * 1e-9
                } else {
                    let b = (1.0 + target) * scale;
                    b - b.abs() * 1e-9
                }
            }
        };
        let exit: &'c [bool] = match (st.use_exit_signal, tr.side) {
            (false, _) => &[],
            (true, Side::Long) => pv.exit_long,
            (true, Side::Short) => pv.exit_short,
        };
        Some(Quiet { until, exit, stop: tr.stop_loss, roi_bound, short })
    }

    /// §5: adjust the trailing stop, collect the exit candidates and place the first order.
    fn evaluate_exits(&self, p: usize, tr: &mut OpenTrade, i: usize, t: i64) {
        let pv = &self.pairs[p];
        // The close is read only for an ROI exit (a cache miss saved on most exit candles).
        let (o, h, l) = (pv.open[i], pv.high[i], pv.low[i]);
        let s = i - 1;
        let (enter, exit_sig) = match tr.side {
            Side::Long => (pv.enter_long[s], pv.exit_long[s]),
            Side::Short => (flag(pv.enter_short, s), flag(pv.exit_short, s)),
        };
        let st = self.st;
        // Python's `x or current_rate`: a zero price counts as missing.
        let high = if h != 0.0 { h } else { o };
        let low = if l != 0.0 { l } else { o };
        let rate_best = if tr.side == Side::Short { low } else { high };

        // adjust_min_max_rates comes before everything else.
        let prev_max = tr.max_rate.filter(|v| *v != 0.0).unwrap_or(tr.open_rate);
        let prev_min = tr.min_rate.filter(|v| *v != 0.0).unwrap_or(tr.open_rate);
        tr.max_rate = Some(if high >= prev_max { high } else { prev_max });
        tr.min_rate = Some(if low <= prev_min { low } else { prev_min });

        // Trailing stop adjustment, judged on the candle extreme (§5.3).
        if st.trailing_stop {
            let dir_correct = match tr.side {
                Side::Long => tr.stop_loss < low,
                Side::Short => tr.stop_loss > high,
            };
            if dir_correct {
                let offset = st.trailing_stop_positive_offset;
                let bound_profit = self.profit_ratio_vs(tr, rate_best, offset);
                if !(st.trailing_only_offset_is_reached && bound_profit < offset) {
                    let mut sl = st.stoploss;
                    if let Some(tsp) = st.trailing_stop_positive {
                        if bound_profit > offset {
                            sl = tsp;
                        }
                    }
                    let new_stop = Self::stop_for(rate_best, sl, tr.leverage, tr.side, tr.tick);
                    let moves = match tr.side {
                        Side::Long => new_stop > tr.stop_loss,
                        Side::Short => new_stop < tr.stop_loss,
                    };
                    if moves {
                        tr.is_stop_loss_trailing = true;
                        tr.stop_loss = new_stop;
                        tr.stop_loss_pct = -sl.abs();
                    }
                }
            }
        }

        let stop_hit = match tr.side {
            Side::Long => tr.stop_loss >= low,
            Side::Short => tr.stop_loss <= high,
        };
        let trade_dur = (t - tr.open_ts).div_euclid(60_000);
        let roi_reached = !(enter && st.ignore_roi_if_entry_signal)
            && st.roi_at(trade_dur).is_some_and(|(_, roi)| self.profit_ratio_vs(tr, rate_best, roi) > roi);

        let mut candidates = [None; 4];
        if st.use_exit_signal
            && exit_sig
            && !enter
            && (!st.exit_profit_only || self.profit_ratio_vs(tr, o, st.exit_profit_offset) > st.exit_profit_offset)
        {
            candidates[0] = Some(Candidate::ExitSignal);
        }
        if stop_hit && !tr.is_stop_loss_trailing {
            candidates[1] = Some(Candidate::StopLoss);
        }
        if roi_reached {
            candidates[2] = Some(Candidate::Roi);
        }
        if stop_hit && tr.is_stop_loss_trailing {
            candidates[3] = Some(Candidate::TrailingStopLoss);
        }
        for cand in candidates.into_iter().flatten() {
            if self.exit_for_candidate(p, tr, cand, (o, h, l, i), t, trade_dur) {
                break;
            }
        }
    }

    /// `_get_exit_for_signal`: price the candidate and place its order. True when an order
    /// was placed (or replaced); false when the candidate was skipped or an identical order
    /// already rests, in which case the next candidate is tried.
    fn exit_for_candidate(
        &self,
        p: usize,
        tr: &mut OpenTrade,
        cand: Candidate,
        (o, h, l, i): (f64, f64, f64, usize),
        t: i64,
        trade_dur: i64,
    ) -> bool {
        let (rate, reason) = match cand {
            Candidate::StopLoss | Candidate::TrailingStopLoss => {
                let reason = if cand == Candidate::StopLoss { ExitReason::StopLoss } else { ExitReason::TrailingStopLoss };
                (self.close_rate_for_stoploss(tr, cand, (o, h, l), trade_dur), reason)
            }
            Candidate::Roi => match self.close_rate_for_roi(tr, (o, h, l, self.pairs[p].close[i]), trade_dur) {
                Some(r) => (r, ExitReason::Roi),
                None => return false,
            },
            Candidate::ExitSignal => {
                // Limit exit orders cannot be placed beyond the candle.
                let r = match tr.side {
                    Side::Long => {
                        if o >= l {
                            o
                        } else {
                            l
                        }
                    }
                    Side::Short => {
                        if o <= h {
                            o
                        } else {
                            h
                        }
                    }
                };
                (r, ExitReason::ExitSignal)
            }
        };
        // The signal acted on at this open is the previous candle's.
        tr.exit_tag = match cand {
            Candidate::ExitSignal => self.pairs[p].exit_tags.and_then(|tags| tags[i - 1].clone()).unwrap_or_default(),
            _ => String::new(),
        };
        tr.exit_reason = Some(reason);
        self.place_exit_order(p, tr, rate, reason, t)
    }

    /// `_exit_trade`: round the price half-up to the tick and the amount down to the lot
    /// step; keep an identical resting order (false), otherwise replace it (true).
    fn place_exit_order(&self, p: usize, tr: &mut OpenTrade, rate: f64, reason: ExitReason, t: i64) -> bool {
        let price = tr.tick.map_or(rate, |tk| to_tick(rate, tk, TickRounding::HalfUp));
        let amount = self.pairs[p].amount_step.map_or(tr.amount, |s| to_tick(tr.amount, s, TickRounding::Truncate));
        if let Some(oo) = &tr.exit_order {
            if oo.price == price && oo.amount == amount {
                return false;
            }
        }
        tr.exit_order = Some(ExitOrder { price, amount, placed: t, reason });
        true
    }

    /// `_get_close_rate_for_stoploss` (§6).
    fn close_rate_for_stoploss(&self, tr: &OpenTrade, cand: Candidate, (o, h, l): (f64, f64, f64), dur: i64) -> f64 {
        let stop = tr.stop_loss;
        match tr.side {
            Side::Short if stop < l => return o,
            Side::Long if stop > h => return o,
            _ => {}
        }
        if cand == Candidate::TrailingStopLoss && dur == 0 {
            let st = self.st;
            let side = if tr.side == Side::Short { -1.0 } else { 1.0 };
            let lev = tr.leverage;
            let tsp = st.trailing_stop_positive.filter(|v| *v != 0.0);
            let stop_rate = match tsp {
                Some(tsp) if st.trailing_stop && st.trailing_only_offset_is_reached => {
                    o * (1.0 + side * st.trailing_stop_positive_offset.abs() - side * (tsp / lev).abs())
                }
                _ => o * (1.0 - side * (tr.stop_loss_pct / lev).abs()),
            };
            return match tr.side {
                Side::Short => {
                    if h <= stop_rate {
                        h
                    } else {
                        stop_rate
                    }
                }
                Side::Long => {
                    if l >= stop_rate {
                        l
                    } else {
                        stop_rate
                    }
                }
            };
        }
        stop
    }

    /// `_get_close_rate_for_roi` (§6); `None` for the opening-candle ValueError case.
    fn close_rate_for_roi(&self, tr: &OpenTrade, (o, h, l, c): (f64, f64, f64, f64), dur: i64) -> Option<f64> {
        let Some((roi_entry, roi)) = self.st.roi_at(dur) else { return Some(o) };
        if roi == -1.0 && roi_entry % self.tf_minutes == 0 {
            return Some(o);
        }
        let side = if tr.side == Side::Short { -1.0 } else { 1.0 };
        let ov = tr.open_trade_value;
        let v0 = self.close_value(tr.amount_dec, 0.0, tr.side);
        let v1 = self.close_value(tr.amount_dec, 1.0, tr.side);
        let close_rate = ((1.0 + roi / tr.leverage * side) * ov - v0) / (v1 - v0);
        let is_new_roi = match tr.side {
            Side::Short => o < close_rate,
            Side::Long => o > close_rate,
        };
        if dur > 0 && dur == roi_entry && roi_entry % self.tf_minutes == 0 && is_new_roi {
            return Some(o);
        }
        let value_error = dur == 0
            && match tr.side {
                Side::Short => o < c && tr.open_rate > o && close_rate < c,
                Side::Long => o > c && tr.open_rate < o && close_rate > c,
            };
        if value_error {
            return None;
        }
        let clamped = if close_rate >= l { close_rate } else { l };
        Some(if clamped <= h { clamped } else { h })
    }

    /// Closes pair `p`'s trade at its exit order's price on candle `t` (§8).
    fn close_trade(&mut self, p: usize, t: i64) {
        let Some(tr) = self.open[p].take() else { return };
        let Some(oo) = tr.exit_order else {
            self.open[p] = Some(tr);
            return;
        };
        // The order amount is the trade's unless a lot step cut it, and the average price is
        // the raw open unless it had more than 18 decimals: then products from the entry
        // are reused.
        let same_amount = oo.amount.to_bits() == tr.amount.to_bits();
        let amount_dec = if same_amount { tr.amount_dec } else { dec(oo.amount) };
        let cv = self.close_value(amount_dec, oo.price, tr.side);
        let total_stake = if same_amount { tr.open_value_raw } else { self.open_value(amount_dec, tr.open_raw, tr.side) };
        let ov_avg =
            if tr.avg_price.to_bits() == tr.open_raw.to_bits() { total_stake } else { self.open_value(amount_dec, tr.avg_price, tr.side) };
        let raw_profit = match tr.side {
            Side::Long => cv - ov_avg,
            Side::Short => ov_avg - cv,
        };
        let profit_abs = py_round(raw_profit, 8);
        let profit_ratio = if total_stake > 0.0 { profit_abs / total_stake * tr.leverage } else { 0.0 };
        self.closed_profit += profit_abs;
        self.open_order.retain(|&q| q != p);
        self.trades.push(Trade {
            pair: self.names[p].clone(),
            open_timestamp: tr.open_ts,
            close_timestamp: t,
            open_rate: tr.open_rate,
            close_rate: oo.price,
            amount: py_round(tr.amount, 8),
            stake_amount: py_round(tr.stake, 8),
            profit_abs,
            profit_ratio,
            exit_reason: tr.exit_reason.unwrap_or(oo.reason),
            is_short: tr.side == Side::Short,
            leverage: tr.leverage,
            fee_open: self.fee,
            fee_close: self.fee,
            initial_stop_loss_abs: tr.initial_stop_loss,
            initial_stop_loss_ratio: tr.initial_stop_loss_pct,
            stop_loss_abs: tr.stop_loss,
            stop_loss_ratio: tr.stop_loss_pct,
            min_rate: tr.min_rate.unwrap_or(tr.open_rate),
            max_rate: tr.max_rate.unwrap_or(tr.open_rate),
            funding_fees: 0.0,
            exit_tag: if tr.exit_reason == Some(ExitReason::ExitSignal) { tr.exit_tag } else { String::new() },
            enter_tag: tr.enter_tag,
            exit_order_placed: oo.placed,
        });
        self.wallet_update();
    }

    /// A forced exit (a node's `/forceexit`, or its kill switch with `close_all`): pair `p`'s
    /// trade exits at the open of candle `k`, as `handle_left_open` force-exits what the
    /// backtest leaves open. `false` when the pair has no open trade or no candle at `k`.
    pub(crate) fn force_exit(&mut self, p: usize, k: i64) -> bool {
        let Some(i) = self.row_at(p, k) else { return false };
        let Some(mut tr) = self.open[p].take() else { return false };
        let t = self.min_date + self.step * k;
        let o = self.pairs[p].open[i];
        self.place_exit_order(p, &mut tr, o, ExitReason::ForceExit, t);
        tr.exit_reason = Some(ExitReason::ForceExit);
        self.open[p] = Some(tr);
        self.close_trade(p, t);
        true
    }

    /// Indices of the pairs with an open trade, in opening order.
    pub(crate) fn open_pairs(&self) -> &[usize] {
        &self.open_order
    }

    /// Index of `pair`, if the run trades it.
    pub(crate) fn pair_index(&self, pair: &Pair) -> Option<usize> {
        self.names.iter().position(|n| *n == pair)
    }

    /// `handle_left_open` (§7, §9): force-exit every trade still open at the open of its
    /// pair's last candle; a force exit that cannot fill leaves the trade open and unreported.
    fn handle_left_open(&mut self) -> Vec<UnclosedTrade> {
        // Pairs in the order they were first processed: by first row, then whitelist order.
        let mut order: Vec<usize> = (0..self.pairs.len()).filter(|&p| self.pairs[p].has_window).collect();
        order.sort_by_key(|&p| (self.pairs[p].ts0 + self.step * self.pairs[p].first_row as i64, p));
        let mut unclosed = Vec::new();
        for p in order {
            let Some(mut tr) = self.open[p].take() else { continue };
            let pv = &self.pairs[p];
            let last = pv.n - 1;
            let t = pv.ts0 + self.step * last as i64;
            let (o, h, l) = (pv.open[last], pv.high[last], pv.low[last]);
            self.place_exit_order(p, &mut tr, o, ExitReason::ForceExit, t);
            tr.exit_reason = Some(ExitReason::ForceExit);
            let fills = tr.exit_order.is_some_and(|oo| l <= oo.price && oo.price <= h);
            if fills {
                self.open[p] = Some(tr);
                self.close_trade(p, t);
            } else {
                if let Some(oo) = tr.exit_order {
                    unclosed.push(UnclosedTrade {
                        pair: self.names[p].clone(),
                        open_date: iso_ts_ms(tr.open_ts),
                        open_rate: tr.open_rate,
                        amount: tr.amount,
                        stake_amount: tr.stake,
                        open_exit_order: OpenExitOrder { price: oo.price, placed: iso_ts_ms(oo.placed), tag: oo.reason },
                    });
                }
                self.open[p] = Some(tr);
            }
        }
        unclosed
    }
}

/// `get_max_leverage(pair, stake)` in futures: the leverage of the first tier whose notional
/// range, divided by leverage, admits `stake` (Freqtrade compares the stake with each tier's
/// `min_notional` over the previous tier's leverage and `max_notional` over its own).
/// Infinite when the pair has no tiers (unknown: no cap; always so in spot, where the
/// leverage is 1 anyway); `None` for a stake beyond the last tier, where Freqtrade raises
/// `InvalidOrderException` and no trade is opened.
fn max_leverage(tiers: &[LeverageTier], stake: f64) -> Option<f64> {
    let Some(first) = tiers.first() else { return Some(f64::INFINITY) };
    if stake == 0.0 {
        return Some(first.max_leverage);
    }
    let mut prior: Option<f64> = None;
    for tier in tiers {
        // Python's `prior_max_lev or tier["maxLeverage"]`: a zero counts as missing.
        let min_stake = tier.min_notional / prior.filter(|l| *l != 0.0).unwrap_or(tier.max_leverage);
        let max_stake = tier.max_notional.map_or(f64::INFINITY, |n| n / tier.max_leverage);
        prior = Some(tier.max_leverage);
        // Freqtrade takes the tier when the stake is inside its range or below it (falling
        // back to it with a warning): together, up to its maximum, unless a bound is NaN.
        if stake <= max_stake && !min_stake.is_nan() {
            return Some(tier.max_leverage);
        }
    }
    None
}

/// A non-negative time index or row as a vector index.
fn idx(k: i64) -> usize {
    usize::try_from(k).unwrap_or(0)
}

/// A signal of a column that may be empty (never set).
fn flag(col: &[bool], i: usize) -> bool {
    col.get(i).copied().unwrap_or(false)
}

/// Candles on which `evaluate_exits` finds no exit candidate and changes nothing but the
/// trade's min/max rates, for a trade without trailing stop or resting exit order.
///
/// A candle is quiet when: no exit signal for the trade's side (a candidate needs one), the
/// stop is not touched (`low > stop` long, `high < stop` short), the ROI cannot be reached
/// (`high < roi_bound` long, `low > roi_bound` short), high and low are non-zero (so
/// they are used as they are, not replaced by the open), and the ROI entry in force does not
/// change (rows before `until`). NaN prices fail the comparisons, so they are never quiet.
struct Quiet<'c> {
    until: usize,
    exit: &'c [bool],
    stop: f64,
    roi_bound: f64,
    short: bool,
}

impl Quiet<'_> {
    /// Steps over the quiet candles from row `i` on, updating the trade's min/max rates the
    /// way `evaluate_exits` would; returns the first row that is not quiet (or `until`).
    fn skip(&self, pv: &PairView<'_>, tr: &mut OpenTrade, i: usize) -> usize {
        let end = self.until.max(i);
        let (highs, lows) = (&pv.high[i..end], &pv.low[i..end]);
        // Row j holds the signal of candle j - 1; an empty column never signals.
        let exits = if self.exit.is_empty() { &[][..] } else { &self.exit[i - 1..end - 1] };
        let mut max = tr.max_rate.filter(|v| *v != 0.0).unwrap_or(tr.open_rate);
        let mut min = tr.min_rate.filter(|v| *v != 0.0).unwrap_or(tr.open_rate);
        let mut n = 0;
        for (k, (&h, &l)) in highs.iter().zip(lows).enumerate() {
            let signal = exits.get(k).copied().unwrap_or(false);
            let calm = if self.short { h < self.stop && l > self.roi_bound } else { l > self.stop && h < self.roi_bound };
            if signal || !calm || h == 0.0 || l == 0.0 {
                break;
            }
            // adjust_min_max_rates, as in `evaluate_exits`.
            if h >= max {
                max = h;
            }
            if l <= min {
                min = l;
            }
            n += 1;
        }
        if n > 0 {
            tr.max_rate = Some(max);
            tr.min_rate = Some(min);
        }
        i + n
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::PreparedMarket;
    use crate::registry::StrategyRegistry;
    use crate::strategy::ParamValues;
    use tradai_core::{Pair, Timeframe};

    /// Synthetic pairs (gaps and zero volume included) with an 8-decimal lot step on odd ones.
    pub(crate) fn market(pairs: &[&str], seed: u64, start_price: f64, tick: Option<f64>) -> Vec<crate::data::PairData> {
        let pairs: Vec<Pair> = pairs.iter().map(|p| p.parse().unwrap()).collect();
        let mut spec = tradai_store::SynthSpec::new(pairs.clone(), Timeframe::M5, 60, seed);
        spec.start_price = start_price;
        spec.tick = tick;
        pairs
            .into_iter()
            .enumerate()
            .map(|(i, pair)| {
                let mut candles = tradai_store::synth_series(&spec, i);
                // A gap (filled with the previous close and no volume) and a late start.
                let keep: Vec<usize> = (0..candles.len()).filter(|&r| !(3000..3010).contains(&r) && r >= 40 * i).collect();
                let mut c = tradai_core::Candles::with_capacity(keep.len());
                for r in keep {
                    c.push(candles.row(r));
                }
                candles = c;
                let mut instrument = tradai_core::Instrument::unknown(pair.clone());
                if i % 2 == 1 {
                    instrument.amount_step = Some(0.001);
                }
                crate::data::PairData { pair, candles, instrument }
            })
            .collect()
    }

    /// Binance's XRP/USDT:USDT brackets (the first three and the last two).
    fn tiers() -> Vec<LeverageTier> {
        [(0.0, 40_000.0, 100.0), (40_000.0, 80_000.0, 75.0), (80_000.0, 150_000.0, 50.0), (25e6, 50e6, 2.0), (50e6, 100e6, 1.0)]
            .map(|(min_notional, max, max_leverage)| LeverageTier { min_notional, max_notional: Some(max), max_leverage })
            .to_vec()
    }

    #[test]
    fn leverage_follows_the_tier_of_the_stake() {
        let t = tiers();
        assert_eq!(max_leverage(&[], 1e12), Some(f64::INFINITY));
        assert_eq!(max_leverage(&t, 0.0), Some(100.0));
        assert_eq!(max_leverage(&t, 400.0), Some(100.0));
        // 400 < 500 < 40000/75: the second bracket's stakes start at 40000 / 100.
        assert_eq!(max_leverage(&t, 500.0), Some(75.0));
        assert_eq!(max_leverage(&t, 3e7), Some(1.0));
        assert_eq!(max_leverage(&t, 1e8), Some(1.0));
        assert_eq!(max_leverage(&t, 1e8 + 1.0), None);
        assert_eq!(max_leverage(&t, f64::NAN), None);
        let open_ended = [LeverageTier { min_notional: 0.0, max_notional: None, max_leverage: 20.0 }];
        assert_eq!(max_leverage(&open_ended, 1e15), Some(20.0));
    }

    #[test]
    fn stake_is_capped_by_market_maximums() {
        let pair: Pair = "XRP/USDT:USDT".parse().unwrap();
        let mut instrument = tradai_core::Instrument::unknown(pair.clone());
        instrument.max_amount = Some(1e6);
        instrument.leverage_tiers = tiers();
        let mut candles = tradai_core::Candles::default();
        for k in 0..3 {
            candles.push(tradai_core::CandleRow { ts: 300_000 * k, open: 1.2, high: 1.3, low: 1.1, close: 1.2, volume: 1.0 });
        }
        let data = vec![crate::data::PairData { pair: pair.clone(), candles, instrument }];
        let mut cfg = BacktestConfig::new(vec![pair], Timeframe::M5);
        cfg.trading_mode = MarketType::Futures;
        cfg.starting_balance = 1e9;
        let m = PreparedMarket::new(&cfg.pairs, cfg.timeframe, &cfg.timerange, &data, 0).unwrap();
        let view = m.view();
        let mut st = StrategyRegistry::builtin().get("EmaCrossFutures").unwrap().settings();
        st.leverage = 2.0;
        let signals = vec![Signals::default()];
        let sim = Sim::new(&cfg, &st, &view, &signals, true);
        // Amount cap at 1.2, over the leverage; the 2x tier's 50M notional does not bind.
        assert_eq!(sim.max_stake(0, 1.2, 2.0), 1.2e6 / 2.0);
        assert_eq!(sim.max_stake(0, 100.0, 2.0), 50e6 / 2.0);
        // Above every tier's leverage there is no notional cap from the tiers.
        assert_eq!(sim.max_stake(0, 100.0, 200.0), 1e8 / 200.0);
        assert_eq!(sim.validate_stake(1e6, 0.0, 6e5), 6e5);
        assert_eq!(sim.validate_stake(1e6, 7e5, 6e5), 0.0);
    }

    #[test]
    fn shortcuts_change_nothing() {
        let registry = StrategyRegistry::builtin();
        let spot = ["A/USDT", "B/USDT", "C/USDT", "D/USDT"];
        let futures = ["A/USDT:USDT", "B/USDT:USDT", "C/USDT:USDT"];
        let mut runs = 0;
        for (seed, price, tick) in [(1, 100.0, None), (2, 0.05, Some(1e-8)), (3, 3.3e-5, None)] {
            for (pairs, mode) in [(&spot[..], MarketType::Spot), (&futures[..], MarketType::Futures)] {
                let data = market(pairs, seed, price, tick);
                for info in registry.list() {
                    let strategy = registry.get(&info.name).unwrap();
                    let settings = strategy.settings();
                    if settings.can_short && mode == MarketType::Spot {
                        continue;
                    }
                    for max_open in [Some(1), Some(3), None] {
                        let mut cfg = BacktestConfig::new(data.iter().map(|d| d.pair.clone()).collect(), Timeframe::M5);
                        cfg.trading_mode = mode;
                        cfg.max_open_trades = max_open;
                        cfg.stake_amount = StakeAmount::Fixed(1.0);
                        cfg.starting_balance = 10.0;
                        let m =
                            PreparedMarket::new(&cfg.pairs, cfg.timeframe, &cfg.timerange, &data, settings.startup_candle_count).unwrap();
                        let params = ParamValues::defaults(&strategy.parameters());
                        let signals: Vec<Signals> = m.pairs.iter().map(|p| strategy.populate(&p.candles, &params)).collect();
                        let mut st = settings.clone();
                        st.leverage = if mode == MarketType::Spot { 1.0 } else { st.leverage.max(1.0) };
                        let view = m.view();
                        let fast = simulate_with(&cfg, &st, &view, &signals, true);
                        let slow = simulate_with(&cfg, &st, &view, &signals, false);
                        let what = format!("{} seed {seed} {mode:?} {max_open:?}", info.name);
                        assert!(!slow.trades.is_empty(), "{what}: no trades");
                        assert_eq!(fast.trades, slow.trades, "{what}");
                        assert_eq!(fast.unclosed, slow.unclosed, "{what}");
                        assert_eq!(fast.rejected, slow.rejected, "{what}");
                        assert_eq!(fast.final_balance.to_bits(), slow.final_balance.to_bits(), "{what}");
                        assert_eq!(fast.balance_series.len(), slow.balance_series.len(), "{what}");
                        for (a, b) in fast.balance_series.iter().zip(&slow.balance_series) {
                            assert_eq!((a.0, a.1.to_bits()), (b.0, b.1.to_bits()), "{what}");
                        }
                        runs += 1;
                    }
                }
            }
        }
        assert!(runs >= 90, "{runs}");
    }
}
