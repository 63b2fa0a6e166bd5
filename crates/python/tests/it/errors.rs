//! Every way a strategy file can fail is a clear error naming what to fix.

use std::path::Path;

use tradai_core::Pair;
use tradai_engine::{ParamValues, Strategy};
use tradai_python::{PythonError, PythonStrategy};

use crate::{candles, python};

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

const HEAD: &str = "from pandas import DataFrame\nfrom freqtrade.strategy import IStrategy\n\n";

fn class(name: &str, body: &str) -> String {
    format!(
        "{HEAD}class {name}(IStrategy):\n    timeframe = '5m'\n    stoploss = -0.1\n    minimal_roi = {{'0': 0.1}}\n\n    def populate_indicators(self, df, metadata):\n        return df\n\n    def populate_entry_trend(self, df, metadata):\n        df.loc[df['close'] > df['open'], 'enter_long'] = 1\n        return df\n\n    def populate_exit_trend(self, df, metadata):\n        return df\n{body}"
    )
}

#[test]
fn missing_interpreter_names_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.py", &class("A", ""));
    let e = PythonStrategy::load_with("/nonexistent/python9", dir.path(), "A").unwrap_err();
    assert!(matches!(e, PythonError::InterpreterNotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("'/nonexistent/python9'") && e.to_string().contains("TRADAI_PYTHON"), "{e}");
}

#[test]
fn missing_pandas_is_named_with_the_fix() {
    // A `pandas` package that fails to import stands in for a Python without pandas.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake");
    std::fs::create_dir_all(fake.join("pandas")).unwrap();
    write(&fake.join("pandas"), "__init__.py", "raise ModuleNotFoundError(\"No module named 'pandas'\")\n");
    let wrapper = dir.path().join("py.sh");
    write(dir.path(), "py.sh", &format!("#!/bin/sh\nPYTHONPATH='{}' exec '{}' \"$@\"\n", fake.display(), python()));
    std::process::Command::new("chmod").arg("+x").arg(&wrapper).status().unwrap();
    write(dir.path(), "a.py", &class("A", ""));
    let e = PythonStrategy::load_with(wrapper.to_str().unwrap(), dir.path(), "A").unwrap_err();
    assert!(matches!(e, PythonError::MissingModule { ref module, .. } if module == "pandas"), "{e:?}");
    assert!(e.to_string().contains("pip install pandas"), "{e}");
}

#[test]
fn unknown_class_lists_the_classes_found() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.py", &class("Alpha", ""));
    write(dir.path(), "b.py", &class("Beta", ""));
    let e = PythonStrategy::load_with(&python(), dir.path(), "Gamma").unwrap_err();
    assert!(matches!(e, PythonError::ClassNotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("'Gamma'") && e.to_string().contains("Alpha, Beta"), "{e}");
    // A class in the second file is found without importing the first.
    write(dir.path(), "a.py", "import module_that_is_not_there\n");
    assert_eq!(PythonStrategy::load_with(&python(), dir.path(), "Beta").unwrap().name(), "Beta");
}

#[test]
fn import_error_carries_the_tracebacks_last_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.py", &format!("import module_that_is_not_there\n{}", class("S", "")));
    let e = PythonStrategy::load_with(&python(), dir.path(), "S").unwrap_err();
    assert!(matches!(e, PythonError::Import { .. }), "{e:?}");
    assert!(e.to_string().ends_with("ModuleNotFoundError: No module named 'module_that_is_not_there'"), "{e}");
    assert!(e.traceback().unwrap().contains("s.py"), "{:?}", e.traceback());
}

#[test]
fn per_candle_callbacks_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let body = "\n    def custom_exit(self, pair, trade, current_time, current_rate, current_profit, **kwargs):\n        return None\n\n    def confirm_trade_entry(self, *args, **kwargs):\n        return True\n\n    def custom_stoploss(self, *args, **kwargs):\n        return -0.05\n";
    write(dir.path(), "s.py", &class("S", body));
    let e = PythonStrategy::load_with(&python(), dir.path(), "S").unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, PythonError::Unsupported { .. }), "{e:?}");
    assert!(text.contains("custom_exit()") && text.contains("confirm_trade_entry()"), "{text}");
    // custom_stoploss is only called with use_custom_stoploss = True, as in Freqtrade.
    assert!(!text.contains("custom_stoploss"), "{text}");
    write(dir.path(), "s.py", &class("S", &format!("{body}\n    use_custom_stoploss = True\n")));
    assert!(PythonStrategy::load_with(&python(), dir.path(), "S").unwrap_err().to_string().contains("custom_stoploss()"));
}

#[test]
fn a_leverage_that_varies_and_a_missing_stoploss_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let body = "\n    def leverage(self, pair, current_time, current_rate, proposed_leverage, max_leverage, entry_tag, side, **kwargs):\n        return 3.0 if side == 'short' else 2.0\n";
    write(dir.path(), "s.py", &class("S", body));
    let e = PythonStrategy::load_with(&python(), dir.path(), "S").unwrap_err().to_string();
    assert!(e.contains("leverage()"), "{e}");
    write(dir.path(), "s.py", &class("S", "").replace("    stoploss = -0.1\n", ""));
    let e = PythonStrategy::load_with(&python(), dir.path(), "S").unwrap_err().to_string();
    assert!(e.contains("sets no stoploss"), "{e}");
}

#[test]
fn an_error_in_populate_names_the_pair_and_the_worker_survives() {
    let dir = tempfile::tempdir().unwrap();
    let text = class("S", "").replace(
        "    def populate_indicators(self, df, metadata):\n        return df\n",
        "    def populate_indicators(self, df, metadata):\n        if metadata['pair'] == 'LTC/BTC':\n            df['x'] = df['no_such_column']\n        return df\n",
    );
    write(dir.path(), "s.py", &text);
    let s = PythonStrategy::load_with(&python(), dir.path(), "S").unwrap();
    let c = candles("ETH_BTC-5m");
    let ltc: Pair = "LTC/BTC".parse().unwrap();
    let e = s.try_populate_pair(&ltc, &c, &ParamValues::new(), None).unwrap_err();
    assert_eq!(e.message, "KeyError: 'no_such_column'");
    assert!(!e.is_retryable());
    let eth: Pair = "ETH/BTC".parse().unwrap();
    assert!(s.try_populate_pair(&eth, &c, &ParamValues::new(), None).is_ok());
}

#[test]
fn the_same_pair_and_parameters_are_computed_once() {
    // Hyperopt epochs that search only ROI or stop-loss ask for the same signals again.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    let text = class("S", "").replace(
        "    def populate_indicators(self, df, metadata):\n        return df\n",
        &format!("    def populate_indicators(self, df, metadata):\n        open(r'{}', 'a').write(metadata['pair'] + '\\n')\n        return df\n", log.display()),
    );
    write(dir.path(), "s.py", &text);
    let s = PythonStrategy::load_with(&python(), dir.path(), "S").unwrap();
    let c = candles("ETH_BTC-5m");
    let eth: Pair = "ETH/BTC".parse().unwrap();
    let ltc: Pair = "LTC/BTC".parse().unwrap();
    let a = s.try_populate_pair(&eth, &c, &ParamValues::new(), None).unwrap();
    assert_eq!(s.try_populate_pair(&eth, &c, &ParamValues::new(), None).unwrap(), a);
    s.try_populate_pair(&ltc, &c, &ParamValues::new(), None).unwrap();
    s.try_populate_pair(&eth, &c.slice(0..100), &ParamValues::new(), None).unwrap();
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "ETH/BTC\nLTC/BTC\nETH/BTC\n");
}
