//! Amounts of money a run is configured with: the stake per trade (a number or Freqtrade's
//! `unlimited`) and the bound every configured amount must respect.
//!
//! The bound exists because an absurd amount is never a typo worth running: `1e308` as a
//! wallet makes every profit underflow to a denormal and the report meaningless, so it is
//! refused at the edge, naming the field.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ParseError;

/// Largest amount of money (stake, wallet, any configured balance) a run accepts: far above
/// any real balance, far below where f64 loses whole units.
pub const MAX_MONEY: f64 = 1e15;

/// Checks a configured amount: finite, positive and at most [`MAX_MONEY`].
///
/// # Errors
/// [`ParseError::Money`] quoting the value and naming `what`.
pub fn check_money(what: &'static str, value: f64) -> Result<f64, ParseError> {
    if value.is_finite() && value > 0.0 && value <= MAX_MONEY {
        Ok(value)
    } else {
        // Huge and tiny values in exponent form: `1e308`, not 309 digits.
        let text = if value.is_finite() && value != 0.0 && !(1e-6..1e16).contains(&value.abs()) {
            format!("{value:e}")
        } else {
            value.to_string()
        };
        Err(ParseError::Money { what, value: text })
    }
}

/// Stake per trade: a fixed amount, or Freqtrade's `unlimited` (wallet split over free slots).
///
/// Its JSON form is Freqtrade's: a number, or the string `"unlimited"`. Its text form (a flag)
/// is the same without quotes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum StakeAmount {
    /// Fixed stake in the stake currency.
    Fixed(f64),
    /// `unlimited`: available balance divided by free slots.
    #[default]
    Unlimited,
}

impl StakeAmount {
    /// The fixed amount, checked against [`check_money`]; `unlimited` passes.
    ///
    /// # Errors
    /// [`ParseError::Money`] for a fixed amount out of bounds.
    pub fn checked(self) -> Result<Self, ParseError> {
        match self {
            Self::Fixed(x) => check_money("stake amount", x).map(Self::Fixed),
            Self::Unlimited => Ok(self),
        }
    }
}

impl fmt::Display for StakeAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(x) => write!(f, "{x}"),
            Self::Unlimited => f.write_str("unlimited"),
        }
    }
}

impl FromStr for StakeAmount {
    type Err = ParseError;

    /// `unlimited` or a positive number no larger than [`MAX_MONEY`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("unlimited") {
            return Ok(Self::Unlimited);
        }
        let x: f64 = t.parse().map_err(|_| ParseError::Stake { input: s.to_owned() })?;
        Self::Fixed(x).checked()
    }
}

/// The JSON form: a number or a string.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StakeRepr {
    Fixed(f64),
    Text(String),
}

impl Serialize for StakeAmount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Fixed(x) => StakeRepr::Fixed(*x),
            Self::Unlimited => StakeRepr::Text("unlimited".to_owned()),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for StakeAmount {
    /// Reads the form as written, unchecked (a stored summary is echoed, not judged); callers
    /// that accept configuration call [`StakeAmount::checked`]. A string other than
    /// `unlimited` must be a number.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match StakeRepr::deserialize(d)? {
            StakeRepr::Fixed(x) => Ok(Self::Fixed(x)),
            StakeRepr::Text(t) if t.trim().eq_ignore_ascii_case("unlimited") => Ok(Self::Unlimited),
            StakeRepr::Text(t) => {
                t.trim().parse::<f64>().map(Self::Fixed).map_err(|_| serde::de::Error::custom(ParseError::Stake { input: t }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_forms_round_trip() {
        for (text, v) in [("unlimited", StakeAmount::Unlimited), ("0.05", StakeAmount::Fixed(0.05)), ("100", StakeAmount::Fixed(100.0))] {
            assert_eq!(text.parse::<StakeAmount>().unwrap(), v);
            assert_eq!(v.to_string(), text);
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(serde_json::from_str::<StakeAmount>(&json).unwrap(), v);
        }
        assert_eq!(serde_json::to_string(&StakeAmount::Unlimited).unwrap(), "\"unlimited\"");
        assert_eq!(serde_json::to_string(&StakeAmount::Fixed(0.5)).unwrap(), "0.5");
        assert_eq!(serde_json::from_str::<StakeAmount>("\"0.5\"").unwrap(), StakeAmount::Fixed(0.5));
    }

    #[test]
    fn absurd_amounts_are_refused_quoting_the_value() {
        for bad in ["1e308", "-1", "0", "NaN", "inf"] {
            let e = bad.parse::<StakeAmount>().unwrap_err().to_string();
            assert!(e.contains("stake amount"), "{bad}: {e}");
        }
        let e = "lots".parse::<StakeAmount>().unwrap_err().to_string();
        assert!(e.contains("'lots'") && e.contains("unlimited"), "{e}");
        assert!(serde_json::from_str::<StakeAmount>("\"lots\"").is_err());
        assert!(check_money("wallet", 1e308).unwrap_err().to_string().contains("1e308"));
        assert_eq!(check_money("wallet", 1000.0).unwrap(), 1000.0);
    }
}
