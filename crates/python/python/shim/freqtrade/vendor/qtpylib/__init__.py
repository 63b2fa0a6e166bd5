# qtpylib's indicator helpers as Freqtrade vendors them (`freqtrade.vendor.qtpylib.indicators`).
