# tradai's stand-in for the `freqtrade` package: only what a strategy file imports to be
# loaded and have its signals computed (IStrategy, the hyperopt parameter classes, qtpylib).
# Used only when Freqtrade itself is not installed (tradai appends this folder to sys.path).
TRADAI_SHIM = True
__version__ = "tradai-shim"
