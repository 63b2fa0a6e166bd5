# tradai's side of a Python strategy: loads one IStrategy class from a strategy file, describes
# it once, then computes signal columns for every request on stdin.
#
# Usage (started by the tradai-python crate, not by hand):
#   python -u tradai_runner.py SHIM_DIR STRATEGY_PATH CLASS_NAME
#
# Wire format, all lengths little-endian:
#   start-up:  u32 header length, JSON header  {"ok": true, "describe": {...}} or an error
#   request:   u32 header length, JSON header {"pair", "params", "all_columns"},
#              u64 payload length, Arrow IPC stream of the candles (date ms, open .. volume)
#   response:  u32 header length, JSON header {"ok": true, ...} or an error,
#              u64 payload length, Arrow IPC stream of the result columns (0 bytes on error)
# An error header is {"ok": false, "kind": ..., "error": <the traceback's last line>,
# "traceback": <all of it>}. A strategy's own print() goes to stderr so it cannot corrupt the
# protocol on stdout.
import ast
import importlib.util
import json
import math
import os
import struct
import sys
import traceback

PROTO_OUT = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
sys.stdout = sys.stderr
PROTO_IN = sys.stdin.buffer

# Methods Freqtrade calls once per candle or per trade during a backtest. tradai computes
# signals once per pair, so a strategy that overrides one of them is refused by name.
PER_CANDLE_CALLBACKS = [
    "custom_stoploss",
    "custom_exit",
    "custom_sell",
    "custom_roi",
    "custom_entry_price",
    "custom_exit_price",
    "custom_stake_amount",
    "confirm_trade_entry",
    "confirm_trade_exit",
    "check_entry_timeout",
    "check_exit_timeout",
    "check_buy_timeout",
    "check_sell_timeout",
    "adjust_trade_position",
    "adjust_entry_price",
    "adjust_exit_price",
    "adjust_order_price",
    "order_filled",
    "bot_loop_start",
]

SIGNALS = ["enter_long", "exit_long", "enter_short", "exit_short"]
TAGS = ["enter_tag", "exit_tag"]


def send(header, payload=b""):
    body = json.dumps(header).encode()
    PROTO_OUT.write(struct.pack("<I", len(body)))
    PROTO_OUT.write(body)
    PROTO_OUT.write(struct.pack("<Q", len(payload)))
    PROTO_OUT.write(payload)
    PROTO_OUT.flush()


def send_start(header):
    body = json.dumps(header).encode()
    PROTO_OUT.write(struct.pack("<I", len(body)))
    PROTO_OUT.write(body)
    PROTO_OUT.flush()


def failure(kind, exc):
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    last = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
    return {"ok": False, "kind": kind, "error": last[-1] if last else repr(exc), "traceback": "".join(tb)}


def read_exact(n):
    buf = bytearray()
    while len(buf) < n:
        chunk = PROTO_IN.read(n - len(buf))
        if not chunk:
            return None
        buf.extend(chunk)
    return bytes(buf)


def find_strategy_file(path, class_name):
    """The .py file defining `class_name`: `path` itself, or the first file of the folder
    (in name order) with a top-level class of that name, found without importing any file."""
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise FileNotFoundError(f"strategy path '{path}' is neither a file nor a folder")
    found = []
    for name in sorted(os.listdir(path)):
        if not name.endswith(".py") or name.startswith("__"):
            continue
        full = os.path.join(path, name)
        try:
            with open(full, encoding="utf-8") as f:
                tree = ast.parse(f.read(), filename=full)
        except (SyntaxError, UnicodeDecodeError):
            continue
        classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
        if class_name in classes:
            return full
        found.extend(classes)
    raise LookupError(
        f"no class '{class_name}' in the .py files of '{path}' (classes found: {', '.join(found) or 'none'})"
    )


def load_class(path, class_name):
    file = find_strategy_file(path, class_name)
    # The strategy's folder is importable, as in Freqtrade, for helper modules beside it.
    sys.path.insert(0, os.path.dirname(os.path.abspath(file)))
    module_name = "tradai_user_strategy_" + os.path.splitext(os.path.basename(file))[0]
    spec = importlib.util.spec_from_file_location(module_name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise LookupError(f"'{file}' defines no class '{class_name}'")
    return file, cls


def param_space(attr_name, param):
    space = getattr(param, "space", None) or attr_name.split("_")[0]
    return {"buy": "buy", "enter": "buy", "sell": "sell", "exit": "sell"}.get(space)


def describe_parameters(strategy):
    from freqtrade.strategy import (  # noqa: PLC0415 - the real package or the shim
        BooleanParameter,
        CategoricalParameter,
        DecimalParameter,
        IntParameter,
        RealParameter,
    )

    params, skipped = [], []
    for attr_name in sorted(dir(type(strategy))):
        if attr_name.startswith("__"):
            continue
        p = getattr(type(strategy), attr_name, None)
        kind = None
        if isinstance(p, IntParameter):
            kind = {"kind": "int", "low": int(p.low), "high": int(p.high), "default": int(p.value)}
        elif isinstance(p, DecimalParameter):
            kind = {"kind": "decimal", "low": float(p.low), "high": float(p.high), "decimals": int(getattr(p, "decimals", 3)), "default": float(p.value)}
        elif isinstance(p, RealParameter):
            kind = {"kind": "decimal", "low": float(p.low), "high": float(p.high), "decimals": 6, "default": float(p.value)}
        elif isinstance(p, BooleanParameter):
            kind = {"kind": "bool", "default": bool(p.value)}
        elif isinstance(p, CategoricalParameter):
            opts = list(p.opt_range)
            if all(isinstance(o, str) for o in opts):
                kind = {"kind": "categorical", "options": opts, "default": p.value}
            else:
                skipped.append(f"{attr_name} (categories that are not strings)")
                continue
        if kind is None:
            continue
        space = param_space(attr_name, p)
        if space is None:
            skipped.append(f"{attr_name} (space '{getattr(p, 'space', None)}')")
            continue
        kind.update({"name": attr_name, "space": space, "optimize": bool(getattr(p, "optimize", True))})
        params.append(kind)
    return params, skipped


def overridden_callbacks(strategy):
    from freqtrade.strategy import IStrategy  # noqa: PLC0415

    names = []
    for name in PER_CANDLE_CALLBACKS:
        mine = getattr(type(strategy), name, None)
        base = getattr(IStrategy, name, None)
        if mine is not None and mine is not base:
            names.append(name)
    return names


def leverage_of(strategy):
    """The leverage the strategy asks for, and whether it depends on its arguments (tradai
    applies one leverage per run, so a varying one cannot be honoured)."""
    from datetime import datetime, timezone  # noqa: PLC0415

    now = datetime(2020, 1, 1, tzinfo=timezone.utc)
    values = set()
    for pair, rate, side in [("BTC/USDT:USDT", 100.0, "long"), ("ETH/USDT:USDT", 3.0, "short")]:
        v = strategy.leverage(
            pair=pair, current_time=now, current_rate=rate, proposed_leverage=1.0, max_leverage=125.0, entry_tag=None, side=side
        )
        values.add(float(v))
    return max(values), len(values) > 1


def finite_or_none(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def describe(file, strategy, using_shim):
    params, skipped = describe_parameters(strategy)
    leverage, leverage_varies = leverage_of(strategy)
    informative = []
    try:
        informative = list(strategy.informative_pairs() or [])
    except Exception:  # noqa: BLE001 - some need a data provider; treat as none
        informative = []
    protections = getattr(strategy, "protections", None)
    if isinstance(protections, property):
        protections = None
    roi = getattr(strategy, "minimal_roi", None) or {}
    if not hasattr(strategy, "stoploss") or strategy.stoploss is None:
        raise AttributeError(f"strategy '{type(strategy).__name__}' sets no stoploss (Freqtrade requires one)")
    return {
        "name": type(strategy).__name__,
        "file": os.path.abspath(file),
        "freqtrade": "shim" if using_shim else getattr(sys.modules.get("freqtrade"), "__version__", "installed"),
        "interface_version": int(getattr(strategy, "INTERFACE_VERSION", 3) or 3),
        "timeframe": getattr(strategy, "timeframe", None),
        "startup_candle_count": int(getattr(strategy, "startup_candle_count", 0) or 0),
        "minimal_roi": {str(k): float(v) for k, v in roi.items()},
        "stoploss": float(strategy.stoploss),
        "trailing_stop": bool(getattr(strategy, "trailing_stop", False)),
        "trailing_stop_positive": finite_or_none(getattr(strategy, "trailing_stop_positive", None)),
        "trailing_stop_positive_offset": float(getattr(strategy, "trailing_stop_positive_offset", 0.0) or 0.0),
        "trailing_only_offset_is_reached": bool(getattr(strategy, "trailing_only_offset_is_reached", False)),
        "use_exit_signal": bool(getattr(strategy, "use_exit_signal", getattr(strategy, "use_sell_signal", True))),
        "exit_profit_only": bool(getattr(strategy, "exit_profit_only", getattr(strategy, "sell_profit_only", False))),
        "exit_profit_offset": float(getattr(strategy, "exit_profit_offset", 0.0) or 0.0),
        "ignore_roi_if_entry_signal": bool(
            getattr(strategy, "ignore_roi_if_entry_signal", getattr(strategy, "ignore_roi_if_buy_signal", False))
        ),
        "can_short": bool(getattr(strategy, "can_short", False)),
        "use_custom_stoploss": bool(getattr(strategy, "use_custom_stoploss", False)),
        "position_adjustment_enable": bool(getattr(strategy, "position_adjustment_enable", False)),
        "order_types": {k: v for k, v in (getattr(strategy, "order_types", None) or {}).items() if isinstance(v, (str, bool, int, float))},
        "leverage": leverage,
        "leverage_varies": leverage_varies,
        "overridden": overridden_callbacks(strategy),
        "informative_pairs": [list(p) if isinstance(p, (tuple, list)) else [str(p)] for p in informative],
        "protections": len(protections or []),
        "parameters": params,
        "skipped_parameters": skipped,
    }


def set_params(strategy, values):
    for name, value in values.items():
        p = getattr(strategy, name, None)
        if p is None or not hasattr(p, "value"):
            raise AttributeError(f"strategy has no parameter '{name}'")
        p.value = value


def populate(strategy, header, payload):
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415

    table = pa.ipc.open_stream(payload).read_all()
    df = table.to_pandas()
    df["date"] = pd.to_datetime(df["date"], unit="ms", utc=True)
    n = len(df)
    set_params(strategy, header.get("params") or {})
    metadata = {"pair": header["pair"], "timeframe": header.get("timeframe")}
    df = strategy.populate_indicators(df, metadata)
    base_columns = set(df.columns)
    # As Freqtrade's advise_entry / advise_exit: tag columns exist before the strategy runs;
    # interface-2 names (buy / sell) are renamed.
    df.loc[:, "enter_tag"] = ""
    df = strategy.populate_entry_trend(df, metadata)
    if "enter_long" not in df.columns:
        df = df.rename({"buy": "enter_long", "buy_tag": "enter_tag"}, axis="columns")
    df.loc[:, "exit_tag"] = ""
    df = strategy.populate_exit_trend(df, metadata)
    if "exit_long" not in df.columns:
        df = df.rename({"sell": "exit_long"}, axis="columns")
    if len(df) != n:
        raise ValueError(f"the strategy returned {len(df)} rows for {n} candles (rows must not be dropped or added)")
    arrays, names = [], []
    for col in SIGNALS:
        # Freqtrade: NaN becomes 0, and only the value 1 is a signal.
        if col in df.columns:
            v = pd.to_numeric(df[col], errors="coerce").fillna(0).to_numpy() == 1
        else:
            v = np.zeros(n, dtype=bool)
        arrays.append(pa.array(v.astype(np.int8)))
        names.append(col)
    for col in TAGS:
        if col in df.columns:
            v = [None if (t is None or (isinstance(t, float) and math.isnan(t)) or t == "") else str(t) for t in df[col].tolist()]
        else:
            v = [None] * n
        arrays.append(pa.array(v, type=pa.string()))
        names.append(col)
    if header.get("all_columns"):
        skip = {"date", "open", "high", "low", "close", "volume", *SIGNALS, *TAGS}
        for col in df.columns:
            if col in skip or not isinstance(col, str):
                continue
            s = df[col]
            if s.dtype == bool or pd.api.types.is_numeric_dtype(s):
                arrays.append(pa.array(s.astype("float64").to_numpy()))
                names.append(col)
    sink = pa.BufferOutputStream()
    batch = pa.record_batch(arrays, names=names)
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    indicators = sorted(c for c in base_columns if isinstance(c, str))
    return {"ok": True, "rows": n, "indicators": indicators}, sink.getvalue().to_pybytes()


def main():
    shim_dir, strategy_path, class_name = sys.argv[1], sys.argv[2], sys.argv[3]
    try:
        import pandas  # noqa: F401, PLC0415
    except ImportError as e:
        send_start(failure("pandas", e))
        return 1
    try:
        import pyarrow  # noqa: F401, PLC0415
    except ImportError as e:
        send_start(failure("pyarrow", e))
        return 1
    # Appended, not prepended: an installed Freqtrade or TA-Lib wins over the shim.
    sys.path.append(shim_dir)
    try:
        import freqtrade.strategy  # noqa: F401, PLC0415

        using_shim = getattr(sys.modules["freqtrade"], "TRADAI_SHIM", False)
        file, cls = load_class(strategy_path, class_name)
    except (FileNotFoundError, LookupError) as e:
        send_start(failure("class", e))
        return 1
    except BaseException as e:  # noqa: BLE001 - any error while importing the user's file
        send_start(failure("import", e))
        return 1
    try:
        config = {"timeframe": getattr(cls, "timeframe", None), "dry_run": True, "runmode": "backtest", "stake_currency": ""}
        strategy = cls(config)
        send_start({"ok": True, "describe": describe(file, strategy, using_shim)})
    except BaseException as e:  # noqa: BLE001
        send_start(failure("describe", e))
        return 1
    while True:
        raw = read_exact(4)
        if raw is None:
            return 0
        header = json.loads(read_exact(struct.unpack("<I", raw)[0]))
        payload = read_exact(struct.unpack("<Q", read_exact(8))[0])
        try:
            reply, out = populate(strategy, header, payload)
            send(reply, out)
        except BaseException as e:  # noqa: BLE001 - reported to tradai, the worker lives on
            send(failure("populate", e))


if __name__ == "__main__":
    sys.exit(main())
