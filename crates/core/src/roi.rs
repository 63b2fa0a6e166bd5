//! The ROI table (Freqtrade's `minimal_roi`) and its one JSON form: an object keyed by whole
//! minutes as strings, written in minute order (`{"0": 0.1, "30": 0.05, "120": 0.0}`; a plain
//! map would sort "120" before "30").
//!
//! Every document that carries a ROI table (the export's summary, a hyperopt best config, a
//! run's setting overrides) goes through [`minutes_map`], so they cannot drift apart.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ParseError;

/// A ROI table: (minutes since entry, minimum profit ratio), ascending by minutes, each
/// minute once, every ratio finite.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoiTable(Vec<(i64, f64)>);

impl RoiTable {
    /// A table from entries in any order.
    ///
    /// # Errors
    /// [`ParseError::Roi`] for negative minutes, a minute given twice, or a ratio that is not
    /// finite.
    pub fn new(mut entries: Vec<(i64, f64)>) -> Result<Self, ParseError> {
        entries.sort_by_key(|e| e.0);
        for (i, (m, r)) in entries.iter().enumerate() {
            if *m < 0 {
                return Err(ParseError::Roi { input: m.to_string(), reason: "minutes must not be negative" });
            }
            if !r.is_finite() {
                return Err(ParseError::Roi { input: format!("{m}: {r}"), reason: "the ratio must be a finite number" });
            }
            if i > 0 && entries[i - 1].0 == *m {
                return Err(ParseError::Roi { input: m.to_string(), reason: "minute given twice" });
            }
        }
        Ok(Self(entries))
    }

    /// The entries, ascending by minutes.
    #[must_use]
    pub fn entries(&self) -> &[(i64, f64)] {
        &self.0
    }

    /// The entries as a strategy's settings hold them.
    #[must_use]
    pub fn into_entries(self) -> Vec<(i64, f64)> {
        self.0
    }
}

impl Serialize for RoiTable {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        minutes_map::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for RoiTable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = minutes_map::deserialize(d)?;
        Self::new(entries).map_err(serde::de::Error::custom)
    }
}

/// The serde codec of a ROI table held as `Vec<(i64, f64)>`:
/// `#[serde(with = "tradai_core::minutes_map")]`.
pub mod minutes_map {
    use super::{BTreeMap, Deserialize, Deserializer, ParseError, Serializer};
    use serde::ser::SerializeMap;

    /// Writes the entries as an object in minute order.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(v: &[(i64, f64)], s: S) -> Result<S::Ok, S::Error> {
        let mut sorted = v.to_vec();
        sorted.sort_by_key(|e| e.0);
        let mut m = s.serialize_map(Some(sorted.len()))?;
        for (k, r) in sorted {
            m.serialize_entry(&k.to_string(), &r)?;
        }
        m.end()
    }

    /// Reads an object keyed by whole minutes; entries come back ascending by minutes.
    ///
    /// # Errors
    /// A key that is not whole minutes, quoting it.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(i64, f64)>, D::Error> {
        let raw = BTreeMap::<String, f64>::deserialize(d)?;
        let mut out = raw
            .into_iter()
            .map(|(k, r)| match k.trim().parse::<i64>() {
                Ok(m) if m >= 0 => Ok((m, r)),
                _ => Err(serde::de::Error::custom(ParseError::Roi { input: k, reason: "keys are whole minutes such as \"0\" or \"30\"" })),
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|e| e.0);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_written_in_minute_order_and_read_back() {
        let t = RoiTable::new(vec![(120, 0.0), (0, 0.1), (30, 0.05), (2, 0.07)]).unwrap();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"{"0":0.1,"2":0.07,"30":0.05,"120":0.0}"#);
        assert_eq!(serde_json::from_str::<RoiTable>(&json).unwrap(), t);
    }

    #[test]
    fn bad_entries_are_named() {
        let e = serde_json::from_str::<RoiTable>(r#"{"abc": 0.1}"#).unwrap_err().to_string();
        assert!(e.contains("'abc'"), "{e}");
        let e = serde_json::from_str::<RoiTable>(r#"{"-5": 0.1}"#).unwrap_err().to_string();
        assert!(e.contains("'-5'"), "{e}");
        assert!(RoiTable::new(vec![(0, f64::NAN)]).is_err());
        assert!(RoiTable::new(vec![(3, 0.1), (3, 0.2)]).is_err());
    }
}
