//! The subset of MLflow's run-search language both back ends understand: a filter of clauses
//! joined by `and`, and `order_by` clauses.
//!
//! ```text
//! metrics.sharpe > 1 and params.strategy = 'EmaCross' and tags.`mlflow.user` != 'ci'
//!   and attributes.status = 'FINISHED' and attributes.run_name LIKE 'ema-%'
//! order_by: metrics.sharpe DESC, attributes.start_time
//! ```
//!
//! Entities: `metrics.` / `metric.` (numbers: `= != > >= < <=`), `params.` / `param.` and
//! `tags.` / `tag.` (single-quoted strings: `= != LIKE ILIKE IN (…) NOT IN (…)`),
//! `attributes.` / `attribute.` / `attr.` / `run.` with `run_id`, `run_name`, `status` (strings)
//! and `start_time`, `end_time` (numbers). Keys with dots or spaces may be quoted with backticks
//! or double quotes. Anything else is an [`TrackingError::Invalid`] naming the clause.
//!
//! The embedded store evaluates a parsed filter itself; the MLflow client validates it the
//! same way and sends the canonical rendering, so a filter means the same on both.

use std::cmp::Ordering;
use std::fmt;

use crate::model::Run;
use crate::TrackingError;

/// What a clause compares.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// The latest value of a metric.
    Metric(String),
    /// A parameter.
    Param(String),
    /// A tag.
    Tag(String),
    /// A run attribute.
    Attribute(Attribute),
}

/// The run attributes a filter or ordering may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    /// `run_id`.
    RunId,
    /// `run_name`.
    RunName,
    /// `status`.
    Status,
    /// `start_time` (ms).
    StartTime,
    /// `end_time` (ms).
    EndTime,
}

impl Attribute {
    fn name(self) -> &'static str {
        match self {
            Self::RunId => "run_id",
            Self::RunName => "run_name",
            Self::Status => "status",
            Self::StartTime => "start_time",
            Self::EndTime => "end_time",
        }
    }

    fn is_numeric(self) -> bool {
        matches!(self, Self::StartTime | Self::EndTime)
    }
}

impl Key {
    fn is_numeric(&self) -> bool {
        match self {
            Self::Metric(_) => true,
            Self::Param(_) | Self::Tag(_) => false,
            Self::Attribute(a) => a.is_numeric(),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Metric(k) => write!(f, "metrics.`{k}`"),
            Self::Param(k) => write!(f, "params.`{k}`"),
            Self::Tag(k) => write!(f, "tags.`{k}`"),
            Self::Attribute(a) => write!(f, "attributes.{}", a.name()),
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `LIKE` (`%` any run of characters, `_` one character; case-sensitive)
    Like,
    /// `ILIKE` (LIKE, ignoring case)
    ILike,
    /// `IN ('a', 'b')`
    In,
    /// `NOT IN ('a', 'b')`
    NotIn,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Like => "LIKE",
            Self::ILike => "ILIKE",
            Self::In => "IN",
            Self::NotIn => "NOT IN",
        })
    }
}

/// The right-hand side of a clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number (metrics, times).
    Number(f64),
    /// A string.
    Text(String),
    /// A list of strings (`IN`).
    List(Vec<String>),
}

/// One `key op value` comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// Left side.
    pub key: Key,
    /// Operator.
    pub op: Op,
    /// Right side.
    pub value: Value,
}

/// A parsed filter: every clause must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    /// The clauses, in input order.
    pub clauses: Vec<Clause>,
}

/// One `order_by` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    /// What to sort on.
    pub key: Key,
    /// Ascending (the default) or descending.
    pub ascending: bool,
}

fn bad(input: &str, reason: impl fmt::Display) -> TrackingError {
    TrackingError::invalid("filter", format!("{reason} in '{input}'"))
}

// --- lexing -------------------------------------------------------------------------------------

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(input: &'a str) -> Self {
        Self { input, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.input[self.pos..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.input.len() - trimmed.len();
    }

    fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.input.len()
    }

    fn peek_char(&mut self) -> Option<char> {
        self.skip_ws();
        self.rest().chars().next()
    }

    /// A word of letters, digits and underscores (entity names, keywords).
    fn word(&mut self) -> &'a str {
        self.skip_ws();
        let rest = self.rest();
        let n = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        self.pos += n;
        &rest[..n]
    }

    /// A keyword (case-insensitive) if it comes next as a whole word.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        self.skip_ws();
        let rest = self.rest();
        if rest.len() >= kw.len()
            && rest.is_char_boundary(kw.len())
            && rest[..kw.len()].eq_ignore_ascii_case(kw)
            && !rest[kw.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    fn eat(&mut self, s: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Text up to the closing `quote`; the opening one is consumed already.
    fn quoted(&mut self, quote: char) -> Result<&'a str, TrackingError> {
        let rest = self.rest();
        let end = rest.find(quote).ok_or_else(|| bad(self.input, format!("unclosed {quote}")))?;
        self.pos += end + quote.len_utf8();
        Ok(&rest[..end])
    }

    /// `entity.key` with the key bare or quoted.
    fn key(&mut self) -> Result<Key, TrackingError> {
        let start = self.pos;
        let entity = self.word();
        if entity.is_empty() {
            let got = self.rest().chars().next().map_or_else(|| "end of input".to_owned(), |c| format!("'{c}'"));
            return Err(bad(self.input, format!("expected an identifier such as metrics.sharpe, found {got}")));
        }
        if !self.rest().starts_with('.') {
            return Err(bad(
                self.input,
                format!("'{entity}' needs an entity prefix: metrics., params., tags. or attributes. (e.g. metrics.{entity})"),
            ));
        }
        self.pos += 1;
        let name = match self.rest().chars().next() {
            Some(q @ ('`' | '"')) => {
                self.pos += 1;
                self.quoted(q)?.to_owned()
            }
            _ => {
                let rest = self.rest();
                let n = rest.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | ':'))).unwrap_or(rest.len());
                self.pos += n;
                rest[..n].to_owned()
            }
        };
        if name.is_empty() {
            return Err(bad(self.input, format!("missing key after '{}'", &self.input[start..self.pos])));
        }
        Ok(match entity.to_ascii_lowercase().as_str() {
            "metrics" | "metric" => Key::Metric(name),
            "params" | "param" | "parameters" | "parameter" => Key::Param(name),
            "tags" | "tag" => Key::Tag(name),
            "attributes" | "attribute" | "attr" | "run" => Key::Attribute(match name.as_str() {
                "run_id" => Attribute::RunId,
                "run_name" => Attribute::RunName,
                "status" => Attribute::Status,
                "start_time" | "created" => Attribute::StartTime,
                "end_time" => Attribute::EndTime,
                other => {
                    return Err(bad(
                        self.input,
                        format!("unsupported attribute '{other}' (use run_id, run_name, status, start_time or end_time)"),
                    ))
                }
            }),
            other => {
                return Err(bad(self.input, format!("unknown entity '{other}' (use metrics., params., tags. or attributes.)")));
            }
        })
    }

    fn op(&mut self) -> Result<Op, TrackingError> {
        for (s, op) in [("!=", Op::Ne), (">=", Op::Ge), ("<=", Op::Le), ("=", Op::Eq), (">", Op::Gt), ("<", Op::Lt)] {
            if self.eat(s) {
                return Ok(op);
            }
        }
        if self.eat_keyword("ILIKE") {
            return Ok(Op::ILike);
        }
        if self.eat_keyword("LIKE") {
            return Ok(Op::Like);
        }
        if self.eat_keyword("IN") {
            return Ok(Op::In);
        }
        if self.eat_keyword("NOT") {
            if self.eat_keyword("IN") {
                return Ok(Op::NotIn);
            }
            return Err(bad(self.input, "expected IN after NOT"));
        }
        let got: String = self.rest().chars().take(12).collect();
        Err(bad(self.input, format!("expected a comparison (=, !=, >, >=, <, <=, LIKE, ILIKE, IN), found '{got}'")))
    }

    fn string(&mut self) -> Result<String, TrackingError> {
        match self.peek_char() {
            Some('\'') => {
                self.pos += 1;
                Ok(self.quoted('\'')?.to_owned())
            }
            Some('"') => Err(bad(self.input, "string values take single quotes ('value'); double quotes are for keys")),
            _ => {
                let got: String = self.rest().chars().take(12).collect();
                Err(bad(self.input, format!("expected a quoted string, found '{got}'")))
            }
        }
    }

    fn number(&mut self) -> Result<f64, TrackingError> {
        self.skip_ws();
        let rest = self.rest();
        let n = rest.find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))).unwrap_or(rest.len());
        let text = &rest[..n];
        let v: f64 = text.parse().map_err(|_| {
            let got: String = rest.chars().take(12).collect();
            bad(self.input, format!("expected a number, found '{got}'"))
        })?;
        self.pos += n;
        Ok(v)
    }
}

// --- parsing ------------------------------------------------------------------------------------

impl Filter {
    /// Parses a filter; empty (or blank) input matches every run.
    ///
    /// # Errors
    /// [`TrackingError::Invalid`] quoting the filter and saying what is wrong.
    pub fn parse(input: &str) -> Result<Self, TrackingError> {
        let mut lx = Lexer::new(input);
        let mut clauses = Vec::new();
        if lx.at_end() {
            return Ok(Self { clauses });
        }
        loop {
            let key = lx.key()?;
            let op = lx.op()?;
            let value = match op {
                Op::In | Op::NotIn => {
                    if key.is_numeric() {
                        return Err(bad(input, format!("{op} works on strings, not on {key}")));
                    }
                    if !lx.eat("(") {
                        return Err(bad(input, format!("expected '(' after {op}")));
                    }
                    let mut items = vec![lx.string()?];
                    while lx.eat(",") {
                        items.push(lx.string()?);
                    }
                    if !lx.eat(")") {
                        return Err(bad(input, format!("expected ')' to close the {op} list")));
                    }
                    Value::List(items)
                }
                _ if key.is_numeric() => {
                    if matches!(op, Op::Like | Op::ILike) {
                        return Err(bad(input, format!("{op} works on strings, not on {key}")));
                    }
                    if lx.peek_char() == Some('\'') {
                        return Err(bad(input, format!("{key} compares numbers; remove the quotes")));
                    }
                    Value::Number(lx.number()?)
                }
                _ => {
                    if matches!(op, Op::Gt | Op::Ge | Op::Lt | Op::Le) {
                        return Err(bad(input, format!("{key} is a string; use =, !=, LIKE, ILIKE or IN")));
                    }
                    Value::Text(lx.string()?)
                }
            };
            if let (Key::Attribute(Attribute::Status), Value::Text(s)) = (&key, &value) {
                s.parse::<crate::RunStatus>().map_err(|_| bad(input, format!("unknown status '{s}'")))?;
            }
            clauses.push(Clause { key, op, value });
            if lx.at_end() {
                break;
            }
            if lx.eat_keyword("OR") {
                return Err(bad(input, "OR is not supported (MLflow's search has AND only)"));
            }
            if !lx.eat_keyword("AND") {
                let got: String = lx.rest().chars().take(12).collect();
                return Err(bad(input, format!("expected AND between clauses, found '{got}'")));
            }
        }
        Ok(Self { clauses })
    }

    /// Whether a run satisfies every clause. A clause on a metric, param or tag the run lacks
    /// is false (for `!=` too), as in MLflow.
    #[must_use]
    pub fn matches(&self, run: &Run) -> bool {
        self.clauses.iter().all(|c| c.matches(run))
    }
}

impl fmt::Display for Filter {
    /// The canonical rendering, in MLflow's syntax.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.clauses.iter().enumerate() {
            if i > 0 {
                f.write_str(" AND ")?;
            }
            write!(f, "{} {} ", c.key, c.op)?;
            match &c.value {
                Value::Number(v) => write!(f, "{v:?}")?,
                Value::Text(s) => write!(f, "'{s}'")?,
                Value::List(items) => {
                    f.write_str("(")?;
                    for (j, s) in items.iter().enumerate() {
                        if j > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "'{s}'")?;
                    }
                    f.write_str(")")?;
                }
            }
        }
        Ok(())
    }
}

/// A field of a run as a comparable value.
enum Field<'a> {
    Num(f64),
    Text(&'a str),
}

fn field<'a>(run: &'a Run, key: &Key) -> Option<Field<'a>> {
    match key {
        Key::Metric(k) => run.metrics.get(k).map(|m| Field::Num(m.value)),
        Key::Param(k) => run.params.get(k).map(|v| Field::Text(v)),
        Key::Tag(k) => run.tags.get(k).map(|v| Field::Text(v)),
        Key::Attribute(a) => match a {
            Attribute::RunId => Some(Field::Text(&run.info.run_id)),
            Attribute::RunName => Some(Field::Text(&run.info.run_name)),
            Attribute::Status => Some(Field::Text(run.info.status.as_str())),
            Attribute::StartTime => run.info.start_time.map(|t| Field::Num(t as f64)),
            Attribute::EndTime => run.info.end_time.map(|t| Field::Num(t as f64)),
        },
    }
}

impl Clause {
    fn matches(&self, run: &Run) -> bool {
        let Some(f) = field(run, &self.key) else { return false };
        match (f, &self.value) {
            (Field::Num(x), Value::Number(v)) => match self.op {
                Op::Eq => x == *v,
                Op::Ne => x != *v,
                Op::Gt => x > *v,
                Op::Ge => x >= *v,
                Op::Lt => x < *v,
                Op::Le => x <= *v,
                _ => false,
            },
            (Field::Text(x), Value::Text(v)) => {
                // Status is matched without regard to case, as MLflow does.
                let status = matches!(self.key, Key::Attribute(Attribute::Status));
                match self.op {
                    Op::Eq if status => x.eq_ignore_ascii_case(v),
                    Op::Ne if status => !x.eq_ignore_ascii_case(v),
                    Op::Eq => x == v,
                    Op::Ne => x != v,
                    Op::Like => like(x, v, false),
                    Op::ILike => like(x, v, true),
                    _ => false,
                }
            }
            (Field::Text(x), Value::List(items)) => {
                let found = items.iter().any(|i| i == x);
                if self.op == Op::In {
                    found
                } else {
                    !found
                }
            }
            _ => false,
        }
    }
}

/// SQL LIKE: `%` matches any run of characters, `_` exactly one.
fn like(text: &str, pattern: &str, ignore_case: bool) -> bool {
    let (t, p): (Vec<char>, Vec<char>) = if ignore_case {
        (text.to_lowercase().chars().collect(), pattern.to_lowercase().chars().collect())
    } else {
        (text.chars().collect(), pattern.chars().collect())
    };
    // Iterative wildcard matching with backtracking to the last '%'.
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || (p[pi] != '%' && p[pi] == t[ti])) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '%' {
        pi += 1;
    }
    pi == p.len()
}

impl OrderBy {
    /// Parses `order_by` entries such as `metrics.sharpe DESC`.
    ///
    /// # Errors
    /// [`TrackingError::Invalid`] quoting the entry.
    pub fn parse_all(entries: &[String]) -> Result<Vec<Self>, TrackingError> {
        entries
            .iter()
            .map(|e| {
                let bad = |reason: String| TrackingError::invalid("order_by", format!("{reason} in '{e}'"));
                let mut lx = Lexer::new(e);
                let key = lx.key().map_err(|err| match err {
                    TrackingError::Invalid { reason, .. } => TrackingError::invalid("order_by", reason),
                    other => other,
                })?;
                let ascending = if lx.eat_keyword("DESC") {
                    false
                } else {
                    lx.eat_keyword("ASC");
                    true
                };
                if !lx.at_end() {
                    return Err(bad(format!("unexpected '{}' (expected ASC or DESC)", lx.rest())));
                }
                Ok(Self { key, ascending })
            })
            .collect()
    }

    /// The canonical rendering, in MLflow's syntax.
    #[must_use]
    pub fn render(&self) -> String {
        format!("{} {}", self.key, if self.ascending { "ASC" } else { "DESC" })
    }
}

/// Sorts runs the way MLflow's SQL store does: by each `order_by` key (values first, then NaN,
/// then runs without the key, whatever the direction), then newest start first, then run id.
pub fn sort_runs(runs: &mut [Run], order: &[OrderBy]) {
    let start_time_ordered = order.iter().any(|o| o.key == Key::Attribute(Attribute::StartTime));
    runs.sort_by(|a, b| {
        for o in order {
            let c = compare_key(a, b, o);
            if c != Ordering::Equal {
                return c;
            }
        }
        if !start_time_ordered {
            let c = b.info.start_time.cmp(&a.info.start_time);
            if c != Ordering::Equal {
                return c;
            }
        }
        a.info.run_id.cmp(&b.info.run_id)
    });
}

fn compare_key(a: &Run, b: &Run, o: &OrderBy) -> Ordering {
    // Rank: 0 a value, 1 NaN, 2 missing — always in that order.
    fn rank(f: Option<&Field<'_>>) -> u8 {
        match f {
            Some(Field::Num(x)) if x.is_nan() => 1,
            Some(_) => 0,
            None => 2,
        }
    }
    let (fa, fb) = (field(a, &o.key), field(b, &o.key));
    let c = rank(fa.as_ref()).cmp(&rank(fb.as_ref()));
    if c != Ordering::Equal {
        return c;
    }
    let c = match (fa, fb) {
        (Some(Field::Num(x)), Some(Field::Num(y))) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Some(Field::Text(x)), Some(Field::Text(y))) => x.cmp(y),
        _ => Ordering::Equal,
    };
    if o.ascending {
        c
    } else {
        c.reverse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_subset() {
        let f = Filter::parse(
            "metrics.sharpe > 1 and params.strategy = 'EmaCross' AND tags.`mlflow.user` != 'ci' \
             and attributes.status = 'FINISHED' and tags.tradai.record_id IN ('a', 'b') and attr.start_time >= 1.5e3",
        )
        .unwrap();
        assert_eq!(f.clauses.len(), 6);
        assert_eq!(f.clauses[0], Clause { key: Key::Metric("sharpe".into()), op: Op::Gt, value: Value::Number(1.0) });
        assert_eq!(f.clauses[2].key, Key::Tag("mlflow.user".into()));
        assert_eq!(f.clauses[4].key, Key::Tag("tradai.record_id".into()));
        assert_eq!(f.clauses[4].value, Value::List(vec!["a".into(), "b".into()]));
        assert_eq!(f.clauses[5].value, Value::Number(1500.0));
        assert_eq!(
            f.to_string(),
            "metrics.`sharpe` > 1.0 AND params.`strategy` = 'EmaCross' AND tags.`mlflow.user` != 'ci' AND \
             attributes.status = 'FINISHED' AND tags.`tradai.record_id` IN ('a', 'b') AND attributes.start_time >= 1500.0"
        );
        assert!(Filter::parse("  ").unwrap().clauses.is_empty());
        assert_eq!(Filter::parse("params.\"a b\" LIKE 'x%'").unwrap().clauses[0].key, Key::Param("a b".into()));
    }

    #[test]
    fn errors_quote_the_filter_and_say_what_is_wrong() {
        for (input, says) in [
            ("sharpe > 1", "entity prefix"),
            ("metrics.sharpe > 'x'", "remove the quotes"),
            ("params.a > 'x'", "is a string"),
            ("params.a = \"x\"", "single quotes"),
            ("params.a = x", "quoted string"),
            ("metrics.a > 1 or metrics.b < 2", "OR is not supported"),
            ("metrics.a > 1 metrics.b < 2", "expected AND"),
            ("foo.a = 'x'", "unknown entity 'foo'"),
            ("attributes.user = 'x'", "unsupported attribute 'user'"),
            ("attributes.status = 'DONE'", "unknown status"),
            ("metrics.a ~ 1", "expected a comparison"),
            ("params.a = 'x", "unclosed"),
            ("metrics.a LIKE 1", "works on strings"),
        ] {
            let e = Filter::parse(input).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains(input), "{input}: {e}");
        }
    }

    #[test]
    fn like_matches_sql_wildcards() {
        assert!(like("ema-fast", "ema-%", false));
        assert!(like("ema-fast", "%fast", false));
        assert!(like("ema-fast", "e_a%t", false));
        assert!(!like("EMA-fast", "ema%", false));
        assert!(like("EMA-fast", "ema%", true));
        assert!(like("", "%", false));
        assert!(!like("abc", "ab", false));
        assert!(like("a%c", "a%c", false));
    }

    #[test]
    fn order_by_parses_direction() {
        let o = OrderBy::parse_all(&["metrics.sharpe DESC".into(), "attributes.start_time".into(), "params.`x y` asc".into()]).unwrap();
        assert_eq!(o[0], OrderBy { key: Key::Metric("sharpe".into()), ascending: false });
        assert!(o[1].ascending && o[2].ascending);
        assert_eq!(o[0].render(), "metrics.`sharpe` DESC");
        let e = OrderBy::parse_all(&["metrics.sharpe DOWN".into()]).unwrap_err().to_string();
        assert!(e.contains("ASC or DESC"), "{e}");
    }
}
