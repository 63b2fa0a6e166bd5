//! Output helpers: aligned tables for people, JSON for scripts, progress bars for long work.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// How a command may talk to the user: quietly or not, with colours on stdout or not
/// (decided once from `--quiet`, `--color`, `NO_COLOR` and whether stdout is a terminal).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ui {
    /// Only warnings and errors; no progress bars.
    pub quiet: bool,
    /// ANSI colours on stdout.
    pub color: bool,
}

/// A plain aligned text table.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    right: Vec<bool>,
}

impl Table {
    /// A table with these column titles; columns whose title ends in `>` are right-aligned.
    pub fn new(header: &[&str]) -> Self {
        Self {
            right: header.iter().map(|h| h.ends_with('>')).collect(),
            header: header.iter().map(|h| h.trim_end_matches('>').to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders with two spaces between columns.
    pub fn render(&self) -> String {
        let n = self.header.len();
        let mut w: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate().take(n) {
                let pad = w[i] - c.chars().count();
                if i > 0 {
                    s.push_str("  ");
                }
                if self.right[i] {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    if i + 1 < n {
                        s.push_str(&" ".repeat(pad));
                    }
                }
            }
            s.push('\n');
            s
        };
        let mut out = line(&self.header);
        out.push_str(&line(&w.iter().map(|x| "-".repeat(*x)).collect::<Vec<_>>()));
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

/// A progress bar on stderr, hidden when stderr is not a terminal (CI logs, pipes) or `quiet`.
pub fn progress(len: u64, what: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_owned());
    pb
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}
