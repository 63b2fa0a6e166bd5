# Hyperopt parameter declarations. tradai reads their ranges and defaults, and sets `.value`
# before each signal computation, which is all a strategy sees of them.


class BaseParameter:
    def __init__(self, *, default, space=None, optimize=True, load=True, **kwargs):
        self.value = default
        self.space = space
        self.optimize = optimize
        self.load = load
        self.category = space

    def __repr__(self):
        return f"{type(self).__name__}({self.value})"


def _range(low, high):
    if high is None:
        if not isinstance(low, (list, tuple)) or len(low) != 2:
            raise ValueError("a parameter needs low and high, or a [low, high] list")
        return low[0], low[1]
    return low, high


class IntParameter(BaseParameter):
    def __init__(self, low, high=None, *, default, space=None, optimize=True, load=True, **kwargs):
        self.low, self.high = _range(low, high)
        super().__init__(default=default, space=space, optimize=optimize, load=load, **kwargs)

    @property
    def range(self):
        return range(self.low, self.high + 1)


class RealParameter(BaseParameter):
    def __init__(self, low, high=None, *, default, space=None, optimize=True, load=True, **kwargs):
        self.low, self.high = _range(low, high)
        super().__init__(default=default, space=space, optimize=optimize, load=load, **kwargs)


class DecimalParameter(RealParameter):
    def __init__(self, low, high=None, *, default, decimals=3, space=None, optimize=True, load=True, **kwargs):
        self.decimals = decimals
        super().__init__(low, high, default=round(default, decimals), space=space, optimize=optimize, load=load, **kwargs)


class CategoricalParameter(BaseParameter):
    def __init__(self, categories, *, default=None, space=None, optimize=True, load=True, **kwargs):
        if len(categories) < 2:
            raise ValueError("CategoricalParameter needs at least 2 categories")
        self.opt_range = list(categories)
        super().__init__(default=categories[0] if default is None else default, space=space, optimize=optimize, load=load, **kwargs)


class BooleanParameter(CategoricalParameter):
    def __init__(self, *, default=None, space=None, optimize=True, load=True, **kwargs):
        super().__init__([True, False], default=default, space=space, optimize=optimize, load=load, **kwargs)
