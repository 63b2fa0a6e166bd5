#!/usr/bin/env python3
"""Compare two backtest exports (conformance shape) trade by trade.

  compare.py REFERENCE.json CANDIDATE.json [--rel-trade 1e-9] [--rel-summary 1e-6]

REFERENCE is Freqtrade's export (run_freqtrade.py, a fixture, or shared/conformance/expected);
CANDIDATE is `tradai backtest --export`. Files may be gzipped (*.gz).

Rules (shared/conformance/README.md):
  * trades, in order: pair, open_date, close_date, exit_reason, is_short exactly;
    open_rate, close_rate, amount, stake_amount, profit_abs, profit_ratio within a relative
    --rel-trade (absolute 1e-12 floor for values at zero);
  * unclosed_trades: same pairs/open dates, rates/amount/stake within --rel-trade;
  * summary: every numeric key of the reference summary (top level and wallet_stats) within a
    relative --rel-summary; strings/bools exactly. Keys listed with --skip-summary are ignored.
The first differing trade is printed with both versions. Exit status 0 = conforms, 1 = not.
Only the standard library is used, so this runs without the Freqtrade venv.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
from pathlib import Path

EXACT_TRADE = ["pair", "open_date", "close_date", "exit_reason", "is_short"]
NUM_TRADE = ["open_rate", "close_rate", "amount", "stake_amount", "profit_abs", "profit_ratio"]
# Informational fields: compared and reported, but do not fail the run unless --strict.
EXTRA_TRADE = ["initial_stop_loss_abs", "stop_loss_abs", "min_rate", "max_rate", "leverage",
               "trade_duration", "exit_order_placed", "exit_order_tag"]
EXACT_UNCLOSED = ["pair", "open_date"]
NUM_UNCLOSED = ["open_rate", "amount", "stake_amount"]
# Summary entries that are lists/tables or labels rather than metrics.
NON_METRIC_SUMMARY = {"exit_reason_summary", "results_per_pair", "daily_profit", "minimal_roi"}


def load(path: str) -> dict:
    p = Path(path)
    raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
    return json.loads(raw)


def close(a, b, rel: float, abs_floor: float = 1e-18) -> bool:
    """Relative closeness; abs_floor only rescues values at (or within 1e-18 of) zero, since
    prices here go down to 1e-8 and a larger floor would hide real differences."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return a == b
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), abs_floor)


def norm_date(s):
    """'2018-01-10T08:25:00+00:00', '2018-01-10 08:25:00+00:00', '...Z' -> one form."""
    if not isinstance(s, str):
        return s
    s = s.replace(" ", "T").replace("Z", "+00:00")
    if len(s) == 19:
        s += "+00:00"
    return s


def trade_diffs(r: dict, c: dict, rel: float, fields_exact, fields_num) -> list[str]:
    out = []
    for k in fields_exact:
        rv, cv = r.get(k), c.get(k)
        if k.endswith("_date") or k == "exit_order_placed":
            rv, cv = norm_date(rv), norm_date(cv)
        if rv != cv:
            out.append(f"{k}: ref={rv!r} tradai={cv!r}")
    for k in fields_num:
        if not close(r.get(k), c.get(k), rel):
            out.append(f"{k}: ref={r.get(k)!r} tradai={c.get(k)!r}")
    return out


def show_trade(label: str, t: dict | None) -> None:
    if t is None:
        print(f"    {label}: <none>")
        return
    keys = EXACT_TRADE + NUM_TRADE + ["initial_stop_loss_abs", "stop_loss_abs", "max_rate",
                                      "min_rate", "exit_order_placed"]
    print(f"    {label}: " + json.dumps({k: t.get(k) for k in keys if k in t}))


def compare(ref: dict, cand: dict, rel_trade: float, rel_summary: float, strict: bool,
            skip_summary: set[str], max_show: int) -> bool:
    ok = True
    rt, ct = ref.get("trades", []), cand.get("trades", [])
    print(f"  trades: reference {len(rt)}, tradai {len(ct)}")
    first_bad = None
    nbad = 0
    nextra = 0
    extra_examples: list[str] = []
    for i in range(max(len(rt), len(ct))):
        r = rt[i] if i < len(rt) else None
        c = ct[i] if i < len(ct) else None
        if r is None or c is None:
            d = ["missing trade on one side"]
        else:
            d = trade_diffs(r, c, rel_trade, EXACT_TRADE, NUM_TRADE)
            ex = trade_diffs(r, c, rel_trade, [k for k in EXTRA_TRADE if k in r and k in c
                                               and isinstance(r[k], str)],
                             [k for k in EXTRA_TRADE if k in r and k in c
                              and not isinstance(r[k], str)])
            if ex:
                nextra += 1
                if len(extra_examples) < 3:
                    extra_examples.append(f"#{i} {r['pair']} {r['open_date']}: " + "; ".join(ex))
                if strict:
                    d += ex
        if d:
            nbad += 1
            if first_bad is None:
                first_bad = (i, r, c, d)
    if first_bad is not None:
        ok = False
        i, r, c, d = first_bad
        print(f"  FIRST DIFFERING TRADE #{i} ({nbad} differing trades in total):")
        for line in d:
            print(f"    - {line}")
        show_trade("reference", r)
        show_trade("tradai   ", c)
        # Context: the same trade (pair + open date) elsewhere in the other list?
        if r is not None:
            m = [j for j, t in enumerate(ct) if t.get("pair") == r.get("pair")
                 and norm_date(t.get("open_date")) == norm_date(r.get("open_date"))]
            if m and m[0] != i:
                print(f"    (the reference trade appears in tradai's list at index {m[0]})")
            elif not m:
                print("    (tradai has no trade with the reference trade's pair and open date)")
        if c is not None:
            m = [j for j, t in enumerate(rt) if t.get("pair") == c.get("pair")
                 and norm_date(t.get("open_date")) == norm_date(c.get("open_date"))]
            if not m:
                print("    (the reference has no trade with tradai's pair and open date)")
    if nextra:
        tag = "MISMATCH" if strict else "note"
        print(f"  {tag}: {nextra} trades differ in informational fields, e.g.")
        for e in extra_examples:
            print(f"    {e}")

    ru, cu = ref.get("unclosed_trades", []) or [], cand.get("unclosed_trades", []) or []
    if len(ru) != len(cu):
        ok = False
        print(f"  unclosed_trades: reference {len(ru)}, tradai {len(cu)}")
        for t in ru:
            print(f"    reference: {json.dumps(t)}")
        for t in cu:
            print(f"    tradai   : {json.dumps(t)}")
    else:
        for r, c in zip(ru, cu):
            d = trade_diffs(r, c, rel_trade, EXACT_UNCLOSED, NUM_UNCLOSED)
            if d:
                ok = False
                print("  unclosed trade differs: " + "; ".join(d))

    rs, cs = ref.get("summary", {}), cand.get("summary", {})
    sbad = []
    missing = []

    def cmp_section(prefix: str, rsec: dict, csec: dict):
        for k, rv in rsec.items():
            name = prefix + k
            if k in NON_METRIC_SUMMARY or name in skip_summary or k in skip_summary:
                continue
            if isinstance(rv, dict):
                if isinstance(csec.get(k), dict):
                    cmp_section(name + ".", rv, csec[k])
                else:
                    missing.append(name)
                continue
            if k not in csec:
                missing.append(name)
                continue
            cv = csec[k]
            if isinstance(rv, str) or isinstance(cv, str):
                if norm_date(str(rv)) != norm_date(str(cv)):
                    sbad.append(f"{name}: ref={rv!r} tradai={cv!r}")
            elif not close(rv, cv, rel_summary):
                sbad.append(f"{name}: ref={rv!r} tradai={cv!r}")

    cmp_section("", rs, cs)
    if sbad:
        ok = False
        print(f"  summary: {len(sbad)} metrics differ (rel {rel_summary:g}):")
        for line in sbad[:max_show]:
            print(f"    - {line}")
        if len(sbad) > max_show:
            print(f"    ... and {len(sbad) - max_show} more")
    if missing:
        ok = False
        print(f"  summary: {len(missing)} reference keys missing in tradai: {', '.join(missing)}")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Compare a tradai export with a Freqtrade export.")
    ap.add_argument("reference")
    ap.add_argument("candidate")
    ap.add_argument("--rel-trade", type=float, default=1e-9)
    ap.add_argument("--rel-summary", type=float, default=1e-6)
    ap.add_argument("--strict", action="store_true",
                    help="informational trade fields (stop levels, min/max rate, ...) must match")
    ap.add_argument("--skip-summary", default="",
                    help="comma-separated summary keys to ignore (e.g. wallet_stats.sharpe)")
    ap.add_argument("--max-show", type=int, default=25)
    ap.add_argument("--name", default=None)
    a = ap.parse_args(argv)
    ref, cand = load(a.reference), load(a.candidate)
    print(f"[{a.name or Path(a.candidate).name}] {a.reference} vs {a.candidate}")
    ok = compare(ref, cand, a.rel_trade, a.rel_summary, a.strict,
                 {s for s in a.skip_summary.split(",") if s}, a.max_show)
    print(f"  RESULT: {'MATCH' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
