//! Conditions such as `ema_fast crosses_above ema_slow` or `rsi < $buy_rsi`: parsed once at
//! load, evaluated column-wise with pandas' NaN rules (every comparison with NaN is false,
//! except `!=`).

use std::str::FromStr;

use crate::error::{invalid, DeclarativeError};

/// A comparison between two operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `a[t] > b[t] and a[t-1] <= b[t-1]`
    CrossesAbove,
    /// `a[t] < b[t] and a[t-1] >= b[t-1]`
    CrossesBelow,
}

/// One side of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A candle or indicator column.
    Column(String),
    /// A literal.
    Number(f64),
    /// A parameter's value (`$name`).
    Param(String),
}

/// `left op right`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Left operand.
    pub left: Operand,
    /// Comparison.
    pub op: Op,
    /// Right operand.
    pub right: Operand,
}

fn operand(tok: &str) -> Operand {
    if let Some(p) = tok.strip_prefix('$') {
        return Operand::Param(p.to_owned());
    }
    match tok.parse::<f64>() {
        Ok(v) => Operand::Number(v),
        Err(_) => Operand::Column(tok.to_owned()),
    }
}

impl FromStr for Condition {
    type Err = DeclarativeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        let [l, op, r] = parts.as_slice() else {
            return Err(invalid("condition", s, "'left op right', e.g. 'rsi < 30' or 'ema_fast crosses_above ema_slow'"));
        };
        let op = match *op {
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "<" => Op::Lt,
            "<=" => Op::Le,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            "crosses_above" => Op::CrossesAbove,
            "crosses_below" => Op::CrossesBelow,
            other => {
                return Err(invalid(format!("operator in condition '{s}'"), other, "one of > >= < <= == != crosses_above crosses_below"))
            }
        };
        Ok(Self { left: operand(l), op, right: operand(r) })
    }
}

/// A resolved operand: a column or one value for every row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Values<'a> {
    Column(&'a [f64]),
    Scalar(f64),
}

impl Values<'_> {
    fn at(&self, t: usize) -> f64 {
        match self {
            Self::Column(c) => c[t],
            Self::Scalar(v) => *v,
        }
    }
}

fn compare(op: Op, a: f64, b: f64) -> bool {
    match op {
        Op::Gt => a > b,
        Op::Ge => a >= b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::CrossesAbove | Op::CrossesBelow => unreachable!("crossings compare two rows"),
    }
}

/// ANDs `op(left, right)` into `out` (one value per row).
pub(crate) fn and_into(out: &mut [bool], op: Op, left: Values<'_>, right: Values<'_>) {
    match op {
        Op::CrossesAbove | Op::CrossesBelow => {
            if let Some(first) = out.first_mut() {
                // The row before the first is NaN in pandas' shift: no crossing.
                *first = false;
            }
            for (t, o) in out.iter_mut().enumerate().skip(1) {
                let (a, b, pa, pb) = (left.at(t), right.at(t), left.at(t - 1), right.at(t - 1));
                let hit = if op == Op::CrossesAbove { a > b && pa <= pb } else { a < b && pa >= pb };
                *o &= hit;
            }
        }
        _ => {
            for (t, o) in out.iter_mut().enumerate() {
                *o &= compare(op, left.at(t), right.at(t));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_with_the_text() {
        let c: Condition = "ema_fast crosses_above $x".parse().unwrap();
        assert_eq!(c.left, Operand::Column("ema_fast".into()));
        assert_eq!(c.op, Op::CrossesAbove);
        assert_eq!(c.right, Operand::Param("x".into()));
        let e = "rsi <> 30".parse::<Condition>().unwrap_err().to_string();
        assert_eq!(e, "invalid operator in condition 'rsi <> 30' '<>': one of > >= < <= == != crosses_above crosses_below");
        assert!("rsi<30".parse::<Condition>().is_err());
    }

    #[test]
    fn nan_compares_false_and_crossings_need_the_previous_row() {
        let a = [1.0, 3.0, f64::NAN, 5.0];
        let b = [2.0, 2.0, 2.0, 2.0];
        let mut out = [true; 4];
        and_into(&mut out, Op::Gt, Values::Column(&a), Values::Column(&b));
        assert_eq!(out, [false, true, false, true]);
        let mut out = [true; 4];
        and_into(&mut out, Op::CrossesAbove, Values::Column(&a), Values::Scalar(2.0));
        assert_eq!(out, [false, true, false, false]);
        let mut out = [true; 4];
        and_into(&mut out, Op::Ne, Values::Column(&a), Values::Scalar(2.0));
        assert_eq!(out, [true, true, true, true]);
    }
}
