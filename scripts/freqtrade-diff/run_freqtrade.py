#!/usr/bin/env python3
"""Run a REAL Freqtrade backtest offline and write an export in the conformance shape.

This is the reference side of the differential conformance harness (see README.md next to this
file). It builds a Freqtrade configuration from command-line flags, installs a local market
table instead of loading markets from the exchange, runs Freqtrade's own `Backtesting` in-process
(the same calls `freqtrade backtesting` makes, minus printing and storing) and writes a JSON
document shaped like `shared/conformance/expected/*.json`:

  meta             the configuration actually used (incl. the market table and price ticks)
  trades           closed trades, Freqtrade's order, the field names of the expected files
  unclosed_trades  trades whose final force-exit order did not fill (still open at the end)
  summary          Freqtrade's strategy statistics (same keys as the expected files)

Offline patches (no network is reachable; everything else is Freqtrade's own code):
  Exchange._load_async_markets   -> no-op (would call ccxt load_markets)
  Exchange.reload_markets        -> installs the local market table (+ leverage tiers shipped
                                    inside freqtrade for futures, exactly as dry-run does; a
                                    pair's `leverage_tiers` in the table replace its shipped ones)
  Exchange.get_fee               -> constant (backtesting uses the config 'fee' anyway)
  Exchange.fetch_trading_fees    -> {}
  Exchange/Binance.additional_exchange_init -> no-op
  Binance.check_delisting_time   -> None (would query the delist schedule)

Needs the venv from requirements.txt (freqtrade==2026.9). Example:

  /opt/ft-venv/bin/python scripts/freqtrade-diff/run_freqtrade.py \
      --strategy EmaCross --pairs ETH/BTC,LTC/BTC --timeframe 5m --timerange 20180115-20180125 \
      --stake-amount 0.05 --wallet 1 --max-open-trades 3 --fee 0.001 \
      --markets scripts/freqtrade-diff/markets.json --out /tmp/ft.json
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

_T_PROCESS = time.perf_counter()

HERE = Path(__file__).resolve().parent
DEFAULT_STRATEGY_DIR = Path("/work/shared/conformance/strategies")
DEFAULT_DATA_DIR = Path("/work/shared/data/freqtrade")
DEFAULT_MARKETS = HERE / "markets.json"

OFFLINE_PATCHES = [
    "Exchange._load_async_markets -> no-op (would call ccxt load_markets)",
    "Exchange.reload_markets -> installs the local market table",
    "Exchange.get_fee -> constant 0.001 (backtesting uses config 'fee' anyway)",
    "Exchange.fetch_trading_fees -> {}",
    "Exchange/Binance.additional_exchange_init -> no-op",
    "Binance.check_delisting_time -> None (would query delist schedule)",
]

# Field order of a closed trade in the expected files.
TRADE_FIELDS = [
    "pair", "open_date", "close_date", "open_rate", "close_rate", "amount", "stake_amount",
    "profit_abs", "profit_ratio", "exit_reason", "is_short", "open_timestamp", "close_timestamp",
    "trade_duration", "leverage", "max_stake_amount", "fee_open", "fee_close",
    "initial_stop_loss_abs", "initial_stop_loss_ratio", "stop_loss_abs", "stop_loss_ratio",
    "min_rate", "max_rate", "funding_fees", "enter_tag", "is_open",
]

# Summary keys of the expected files (a projection of Freqtrade's strategy statistics).
SUMMARY_KEYS = [
    "total_trades", "trade_count_long", "trade_count_short", "wins", "draws", "losses", "winrate",
    "profit_total_abs", "profit_total", "profit_mean", "profit_median", "profit_factor",
    "expectancy", "expectancy_ratio", "max_drawdown_account", "max_relative_drawdown",
    "max_drawdown_abs", "max_drawdown_low", "max_drawdown_high", "drawdown_start", "drawdown_end",
    "drawdown_duration_s", "csum_min", "csum_max", "sharpe", "sortino", "calmar", "sqn", "cagr",
    "starting_balance", "final_balance", "total_volume", "avg_stake_amount", "rejected_signals",
    "timedout_entry_orders", "timedout_exit_orders", "canceled_trade_entries",
    "canceled_entry_orders", "replaced_entry_orders", "market_change", "backtest_start",
    "backtest_end", "backtest_start_ts", "backtest_end_ts", "backtest_days", "trades_per_day",
    "holding_avg_s", "winner_holding_avg_s", "loser_holding_avg_s", "max_consecutive_wins",
    "max_consecutive_losses", "backtest_best_day", "backtest_worst_day", "backtest_best_day_abs",
    "backtest_worst_day_abs", "winning_days", "draw_days", "losing_days", "max_open_trades",
    "max_open_trades_setting", "stake_amount", "stake_currency", "stoploss", "minimal_roi",
    "trailing_stop", "trailing_stop_positive", "trailing_stop_positive_offset",
    "trailing_only_offset_is_reached", "use_exit_signal", "exit_profit_only", "exit_profit_offset",
    "ignore_roi_if_entry_signal", "timeframe", "timerange", "trading_mode", "margin_mode",
    "wallet_stats", "exit_reason_summary", "results_per_pair", "daily_profit",
]
EXIT_REASON_KEYS = ["key", "trades", "profit_total_abs", "wins", "draws", "losses"]
PAIR_KEYS = ["key", "trades", "profit_total_abs", "profit_mean", "wins"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--strategy", required=True)
    p.add_argument("--strategy-path", type=Path, default=DEFAULT_STRATEGY_DIR)
    p.add_argument("--datadir", type=Path, default=DEFAULT_DATA_DIR,
                   help="Freqtrade-layout data folder (spot *.feather, futures/*-futures.feather)")
    p.add_argument("--markets", type=Path, default=DEFAULT_MARKETS,
                   help="market table shaped like meta.markets of the expected files")
    p.add_argument("--pairs", required=True, help="comma-separated, whitelist order")
    p.add_argument("--timeframe", default=None, help="default: the strategy's")
    p.add_argument("--timerange", default=None, help="YYYYMMDD-YYYYMMDD, open ends allowed")
    p.add_argument("--stake-amount", default="0.05", help="a number or 'unlimited'")
    p.add_argument("--wallet", type=float, default=1.0, help="dry_run_wallet")
    p.add_argument("--max-open-trades", type=int, default=3, help="-1 = unlimited")
    p.add_argument("--fee", type=float, default=0.001)
    p.add_argument("--tradable-balance-ratio", type=float, default=0.99)
    p.add_argument("--trading-mode", choices=["spot", "futures"], default="spot")
    p.add_argument("--leverage", type=float, default=None,
                   help="futures: sets the strategy's LEVERAGE attribute (EmaCrossFutures)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--name", default=None, help="free-form run name stored in meta")
    p.add_argument("--fixture", type=Path, default=None,
                   help="also write a trimmed reference (config, trades, unclosed_trades, "
                        "summary) here; gzipped to <path>.gz when larger than 32 KB")
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


# --------------------------------------------------------------------------------------------
# Market table
# --------------------------------------------------------------------------------------------

def ccxt_market(pair: str, spec: dict, trading_mode: str) -> dict:
    """A ccxt-style market dict from one entry of the meta.markets shape."""
    base, rest = pair.split("/", 1)
    quote, _, settle = rest.partition(":")
    futures = bool(settle)
    limits = spec.get("limits") or {}
    full_limits = {
        k: {"min": (limits.get(k) or {}).get("min"), "max": (limits.get(k) or {}).get("max")}
        for k in ("amount", "price", "cost", "leverage")
    }
    contract_size = spec.get("contractSize")
    return {
        "id": f"{base}{quote}",
        "symbol": pair,
        "base": base,
        "quote": quote,
        "settle": settle or None,
        "baseId": base,
        "quoteId": quote,
        "settleId": settle or None,
        "type": "swap" if futures else "spot",
        "spot": not futures,
        "margin": False,
        "swap": futures,
        "future": False,
        "option": False,
        "active": True,
        "contract": futures,
        "linear": True if futures else None,
        "inverse": False if futures else None,
        "contractSize": (float(contract_size) if contract_size is not None else 1.0)
        if futures else None,
        "expiry": None,
        "expiryDatetime": None,
        "strike": None,
        "optionType": None,
        "precision": {
            "amount": spec.get("amount_step"),
            "price": spec.get("price_step"),
            "base": None,
            "quote": None,
        },
        "limits": full_limits,
        "info": {},
    }


def load_market_table(path: Path, pairs: list[str], trading_mode: str) -> tuple[dict, dict]:
    raw = json.loads(path.read_text())
    raw = raw.get("markets", raw) if isinstance(raw, dict) and "markets" in raw else raw
    missing = [p for p in pairs if p not in raw]
    if missing:
        raise SystemExit(f"markets file {path} has no entry for {', '.join(missing)}")
    table = {pair: ccxt_market(pair, spec, trading_mode) for pair, spec in raw.items()}
    used = {p: raw[p] for p in pairs}
    return table, used


# --------------------------------------------------------------------------------------------
# Offline patches
# --------------------------------------------------------------------------------------------

def install_offline_patches(market_table: dict, leverage_tiers: dict | None = None) -> None:
    from freqtrade.enums import TradingMode
    from freqtrade.exchange import binance as binance_mod
    from freqtrade.exchange import exchange as exchange_mod
    from freqtrade.util import dt_ts

    Exchange = exchange_mod.Exchange
    Binance = binance_mod.Binance

    def _load_async_markets(self, reload: bool = False) -> None:
        return None

    def reload_markets(self, force: bool = False, *, load_leverage_tiers: bool = True) -> None:
        if not force and self._last_markets_refresh > 0:
            return
        self._markets = dict(market_table)
        self._last_markets_refresh = dt_ts()
        if load_leverage_tiers and self.trading_mode == TradingMode.FUTURES:
            # Binance.load_leverage_tiers reads the binance_leverage_tiers.json shipped inside
            # freqtrade when dry_run is set (backtesting always sets it).
            self.fill_leverage_tiers()
            # Tiers given in the market table (ccxt shape) win, so both sides read one file.
            for pair, tiers in (leverage_tiers or {}).items():
                self._leverage_tiers[pair] = [self.parse_leverage_tier(t) for t in tiers]

    def get_fee(self, symbol, order_type="", side="", amount=1, price=1, taker_or_maker="maker"):
        return 0.001

    def fetch_trading_fees(self):
        return {}

    def additional_exchange_init(self) -> None:
        return None

    def check_delisting_time(self, pair):
        return None

    Exchange._load_async_markets = _load_async_markets
    Exchange.reload_markets = reload_markets
    Exchange.get_fee = get_fee
    Exchange.fetch_trading_fees = fetch_trading_fees
    Exchange.additional_exchange_init = additional_exchange_init
    Binance.additional_exchange_init = additional_exchange_init
    Binance.check_delisting_time = check_delisting_time


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def iso(dt) -> str | None:
    if dt is None:
        return None
    if hasattr(dt, "to_pydatetime"):
        dt = dt.to_pydatetime()
    return dt.isoformat()


def jsonable(x):
    """Make Freqtrade's stats JSON-serialisable (numpy scalars, timestamps, timedeltas)."""
    import numpy as np
    import pandas as pd

    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        x = float(x)
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, (pd.Timedelta, timedelta)):
        return x.total_seconds()
    if isinstance(x, (pd.Timestamp, datetime)):
        return x.isoformat()
    if x is pd.NaT:
        return None
    return x


def link_datadir(src: Path, dst: Path) -> None:
    """Freqtrade's layout via symlinks: <dst>/*.feather (spot) and <dst>/futures/*.feather."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file():
            (dst / f.name).symlink_to(f.resolve())
    fut = src / "futures"
    if fut.is_dir():
        (dst / "futures").mkdir(exist_ok=True)
        for f in fut.iterdir():
            if f.is_file():
                (dst / "futures" / f.name).symlink_to(f.resolve())


def closed_trade_row(rec: dict, trade) -> dict:
    row = {}
    for k in TRADE_FIELDS:
        v = rec.get(k)
        if k in ("open_date", "close_date"):
            v = iso(v)
        elif k == "enter_tag" and (v is None or (isinstance(v, float) and math.isnan(v))):
            v = ""
        row[k] = jsonable(v)
    exit_orders = [o for o in trade.orders if o.ft_order_side == trade.exit_side]
    last = exit_orders[-1] if exit_orders else None
    row["exit_order_placed"] = iso(last.order_date_utc) if last else None
    row["exit_order_tag"] = last.ft_order_tag if last else None
    return row


def unclosed_trade_row(trade) -> dict:
    open_exit = [o for o in trade.orders if o.ft_is_open and o.ft_order_side == trade.exit_side]
    o = open_exit[-1] if open_exit else None
    return {
        "pair": trade.pair,
        "open_date": iso(trade.open_date_utc),
        "open_rate": trade.open_rate,
        "amount": trade.amount,
        "stake_amount": trade.stake_amount,
        "open_exit_order": (
            {"price": o.price, "placed": iso(o.order_date_utc), "tag": o.ft_order_tag} if o else None
        ),
    }


def project_summary(stats: dict) -> dict:
    out = {}
    for k in SUMMARY_KEYS:
        if k not in stats:
            continue
        v = stats[k]
        if k == "exit_reason_summary":
            v = [{kk: r.get(kk) for kk in EXIT_REASON_KEYS} for r in v]
        elif k == "results_per_pair":
            v = [{kk: r.get(kk) for kk in PAIR_KEYS} for r in v]
        elif k == "daily_profit":
            v = [[str(d), p] for d, p in v]
        out[k] = jsonable(v)
    return out


def write_fixture(path: Path, args: argparse.Namespace, meta: dict, doc: dict) -> Path:
    """The CI reference: the configuration used plus Freqtrade's trades and summary."""
    import gzip

    config = {
        "name": args.name,
        "freqtrade_version": meta["freqtrade_version"],
        "strategy": meta["strategy"],
        "pairs": meta["pairs"],
        "timeframe": meta["timeframe"],
        "timerange": meta["timerange"],
        "stake_amount": meta["stake_amount"],
        "dry_run_wallet": meta["dry_run_wallet"],
        "tradable_balance_ratio": meta["tradable_balance_ratio"],
        "max_open_trades": meta["max_open_trades"],
        "fee": meta["fee"],
        "trading_mode": meta["trading_mode"],
        "margin_mode": meta["margin_mode"],
        "leverage": meta["leverage"],
        "futures_funding_rate": meta["futures_funding_rate"],
        "exchange": meta["exchange"],
        "markets": meta["markets"],
        "price_tick_by_month": meta["price_tick_by_month"],
    }
    fixture = {"config": config, "trades": doc["trades"],
               "unclosed_trades": doc["unclosed_trades"], "summary": doc["summary"]}
    text = json.dumps(fixture, separators=(",", ":"), allow_nan=False).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    gz = path.with_name(path.name + ".gz")
    for stale in (path, gz):
        if stale.exists():
            stale.unlink()
    if len(text) > 32 * 1024:
        # mtime=0: the same result gives the same bytes (no spurious diffs)
        gz.write_bytes(gzip.compress(text, compresslevel=9, mtime=0))
        return gz
    path.write_bytes(text + b"\n")
    return path


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pairs = [p.strip() for p in args.pairs.split(",") if p.strip()]
    futures = args.trading_mode == "futures"
    if args.leverage not in (None, 1.0) and not futures:
        raise SystemExit("--leverage needs --trading-mode futures")

    if not args.verbose:
        logging.disable(logging.INFO)

    import freqtrade
    from freqtrade.commands.optimize_commands import setup_optimize_configuration
    from freqtrade.enums import RunMode
    from freqtrade.optimize.backtesting import Backtesting
    from freqtrade.optimize.optimize_reports import generate_backtest_stats
    from freqtrade.persistence import LocalTrade

    t_imports = time.perf_counter()
    quote = pairs[0].split("/", 1)[1]
    stake_currency = quote.split(":")[1] if ":" in quote else quote
    market_table, markets_used = load_market_table(args.markets, pairs, args.trading_mode)
    install_offline_patches(
        market_table,
        {p: m["leverage_tiers"] for p, m in markets_used.items() if m.get("leverage_tiers")},
    )

    stake: float | str = args.stake_amount
    if stake != "unlimited":
        stake = float(stake)

    with tempfile.TemporaryDirectory(prefix="ftdiff-") as tmp:
        tmp = Path(tmp)
        datadir = tmp / "data"
        link_datadir(args.datadir, datadir)
        user_data = tmp / "user_data"
        from freqtrade.configuration.directory_operations import create_userdata_dir
        create_userdata_dir(str(user_data), create_dir=True)
        config = {
            "bot_name": "ftdiff",
            "dry_run": True,
            "dry_run_wallet": args.wallet,
            "tradable_balance_ratio": args.tradable_balance_ratio,
            "stake_currency": stake_currency,
            "stake_amount": stake,
            "max_open_trades": args.max_open_trades,
            "fee": args.fee,
            "trading_mode": args.trading_mode,
            "margin_mode": "isolated" if futures else "",
            "dataformat_ohlcv": "feather",
            "backtest_cache": "none",
            "export": "none",
            "entry_pricing": {"price_side": "same", "use_order_book": False,
                              "order_book_top": 1, "price_last_balance": 0.0,
                              "check_depth_of_market": {"enabled": False,
                                                        "bids_to_ask_delta": 1}},
            "exit_pricing": {"price_side": "same", "use_order_book": False,
                             "order_book_top": 1},
            "exchange": {
                "name": "binance",
                "key": "",
                "secret": "",
                "pair_whitelist": pairs,
                "pair_blacklist": [],
                "ccxt_config": {},
                "ccxt_async_config": {},
            },
            "pairlists": [{"method": "StaticPairList"}],
            "internals": {},
        }
        if futures:
            # Binance futures tickers carry no price: freqtrade's futures config template prices
            # from the order book (pricing is not used by backtesting, only validated).
            config["entry_pricing"]["use_order_book"] = True
            config["exit_pricing"]["use_order_book"] = True
            # No funding-rate / mark candles in the test data: fill the funding rate with 0.
            config["futures_funding_rate"] = 0
        if args.timeframe:
            config["timeframe"] = args.timeframe
        cfg_path = tmp / "config.json"
        cfg_path.write_text(json.dumps(config))

        cli_args = {
            "config": [str(cfg_path)],
            "user_data_dir": str(user_data),
            "datadir": str(datadir),
            "strategy": args.strategy,
            "strategy_path": str(args.strategy_path),
            "export": "none",
            "timerange": args.timerange,
            "fee": args.fee,
            "max_open_trades": args.max_open_trades,
            "stake_amount": args.stake_amount,
            "dry_run_wallet": args.wallet,
            "backtest_cache": "none",
        }
        if args.timeframe:
            cli_args["timeframe"] = args.timeframe
        t_cfg0 = time.perf_counter()
        ft_config = setup_optimize_configuration(cli_args, RunMode.BACKTEST)
        t_cfg1 = time.perf_counter()
        if not args.verbose:
            # freqtrade's setup_logging() installed its own handlers at INFO
            logging.disable(logging.INFO)

        bt = Backtesting(ft_config)
        strat = bt.strategylist[0]
        if args.leverage is not None and futures:
            if not hasattr(type(strat), "LEVERAGE"):
                raise SystemExit(f"strategy {args.strategy} has no LEVERAGE attribute to set")
            strat.LEVERAGE = float(args.leverage)
        t_init = time.perf_counter()

        captured: dict = {}
        orig_backtest = Backtesting.backtest

        def backtest_and_capture(self, processed, start_date, end_date):
            res = orig_backtest(self, processed, start_date, end_date)
            captured["closed"] = list(LocalTrade.bt_trades)
            captured["open"] = list(LocalTrade.bt_trades_open)
            return res

        Backtesting.backtest = backtest_and_capture

        # What Backtesting.start() does, minus printing and storing results.
        data, timerange = bt.load_bt_data()
        t_load = time.perf_counter()
        min_date, max_date = bt.backtest_one_strategy(strat, data, timerange)
        t_bt = time.perf_counter()
        results = generate_backtest_stats(data, bt.all_bt_content, min_date=min_date,
                                          max_date=max_date)
        t_stats = time.perf_counter()

        name = strat.get_strategy_name()
        stats = results["strategy"][name]
        recs = bt.all_bt_content[name]["results"].to_dict(orient="records")
        closed = captured["closed"]
        assert len(recs) == len(closed), (len(recs), len(closed))
        trades = [closed_trade_row(r, t) for r, t in zip(recs, closed)]
        unclosed = [unclosed_trade_row(t) for t in captured["open"]]

        ticks = {}
        for pair, series in bt.price_pair_prec.items():
            ticks[pair] = {str(ts.date()): float(v) for ts, v in series.items()}

        meta = {
            "generator": "scripts/freqtrade-diff/run_freqtrade.py (offline harness)",
            "name": args.name,
            "freqtrade_version": freqtrade.__version__,
            "python": platform.python_version(),
            "strategy": name,
            "strategy_file": str(Path(args.strategy_path) / f"{name}.py"),
            "pairs": pairs,
            "timeframe": bt.timeframe,
            "timerange": args.timerange,
            "datadir": str(args.datadir),
            "stake_currency": stake_currency,
            "stake_amount": stake,
            "dry_run_wallet": args.wallet,
            "tradable_balance_ratio": args.tradable_balance_ratio,
            "max_open_trades": args.max_open_trades,
            "fee": args.fee,
            "trading_mode": args.trading_mode,
            "margin_mode": "isolated" if futures else "",
            "leverage": args.leverage if futures else None,
            "futures_funding_rate": 0 if futures else None,
            "exchange": "binance",
            "precision_mode": bt.exchange.precisionMode,
            "precision_mode_note": "ccxt precision mode id (4 = TICK_SIZE)",
            "markets": markets_used,
            "price_tick_by_month": ticks,
            "strategy_params": {
                k: jsonable(getattr(strat, k, None)) for k in (
                    "minimal_roi", "stoploss", "trailing_stop", "trailing_stop_positive",
                    "trailing_stop_positive_offset", "trailing_only_offset_is_reached",
                    "use_exit_signal", "exit_profit_only", "exit_profit_offset",
                    "ignore_roi_if_entry_signal", "startup_candle_count", "can_short",
                    "order_types", "position_adjustment_enable", "use_custom_stoploss")
            },
            "offline_patches": OFFLINE_PATCHES,
            "trade_order": "freqtrade's order: trades in the order they were closed "
                           "(force-exited trades last); ties within a candle follow pair "
                           "processing order",
        }
        doc = {
            "meta": meta,
            "trades": trades,
            "unclosed_trades": unclosed,
            "summary": project_summary(stats),
            "elapsed_seconds": round(t_stats - t_cfg0, 4),
            "timings": {
                "interpreter_start_to_imports_done_s": round(t_imports - _T_PROCESS, 4),
                "config_setup_s": round(t_cfg1 - t_cfg0, 4),
                "backtesting_init_s": round(t_init - t_cfg1, 4),
                "load_data_s": round(t_load - t_init, 4),
                "backtest_s": round(t_bt - t_load, 4),
                "stats_s": round(t_stats - t_bt, 4),
            },
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1, allow_nan=False))
    if args.fixture:
        write_fixture(args.fixture, args, meta, doc)
    print(f"{name}: {len(trades)} trades, {len(unclosed)} unclosed, "
          f"profit {stats['profit_total_abs']:.8f} {stake_currency} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
