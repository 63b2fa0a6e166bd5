//! The Python worker processes: start-up (the class description), one request at a time per
//! worker, and a pool so pairs are computed in parallel without starting Python per pair.
//!
//! Starting Python and importing pandas costs about half a second, which would dominate a
//! backtest if paid per pair or per hyperopt epoch; a worker lives as long as its strategy and
//! serves request after request.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Condvar, Mutex};

use serde_json::Value;

use crate::describe::Description;
use crate::error::PythonError;

/// The runner and the stand-in packages, embedded so the binary carries them.
const FILES: &[(&str, &str)] = &[
    ("tradai_runner.py", include_str!("../python/tradai_runner.py")),
    ("shim/freqtrade/__init__.py", include_str!("../python/shim/freqtrade/__init__.py")),
    ("shim/freqtrade/strategy/__init__.py", include_str!("../python/shim/freqtrade/strategy/__init__.py")),
    ("shim/freqtrade/strategy/interface.py", include_str!("../python/shim/freqtrade/strategy/interface.py")),
    ("shim/freqtrade/strategy/parameters.py", include_str!("../python/shim/freqtrade/strategy/parameters.py")),
    ("shim/freqtrade/strategy/helpers.py", include_str!("../python/shim/freqtrade/strategy/helpers.py")),
    ("shim/freqtrade/vendor/__init__.py", include_str!("../python/shim/freqtrade/vendor/__init__.py")),
    ("shim/freqtrade/vendor/qtpylib/__init__.py", include_str!("../python/shim/freqtrade/vendor/qtpylib/__init__.py")),
    ("shim/freqtrade/vendor/qtpylib/indicators.py", include_str!("../python/shim/freqtrade/vendor/qtpylib/indicators.py")),
    ("shim/talib/__init__.py", include_str!("../python/shim/talib/__init__.py")),
    ("shim/talib/abstract.py", include_str!("../python/shim/talib/abstract.py")),
];

/// How to start a worker.
#[derive(Debug)]
pub(crate) struct Launch {
    pub interpreter: String,
    pub strategy_path: PathBuf,
    pub class: String,
    /// Holds the runner files for as long as workers may start.
    files: tempfile::TempDir,
}

impl Launch {
    pub(crate) fn new(interpreter: String, strategy_path: &Path, class: &str) -> Result<Self, PythonError> {
        let worker_io = |e: std::io::Error| PythonError::Worker {
            class: class.to_owned(),
            message: "cannot write the runner files".to_owned(),
            source: Some(e),
        };
        let files = tempfile::Builder::new().prefix("tradai-python-").tempdir().map_err(worker_io)?;
        for (rel, text) in FILES {
            let path = files.path().join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(worker_io)?;
            }
            std::fs::write(&path, text).map_err(worker_io)?;
        }
        Ok(Self { interpreter, strategy_path: strategy_path.to_owned(), class: class.to_owned(), files })
    }

    fn worker_error(&self, message: impl Into<String>, source: Option<std::io::Error>) -> PythonError {
        PythonError::Worker { class: self.class.clone(), message: message.into(), source }
    }
}

/// One running worker.
pub(crate) struct Worker {
    child: Child,
    stdin: Option<BufWriter<ChildStdin>>,
    stdout: BufReader<ChildStdout>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing stdin ends the runner's loop; kill covers a worker stuck in user code.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_header(r: &mut impl Read) -> std::io::Result<Value> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
    r.read_exact(&mut body)?;
    serde_json::from_slice(&body).map_err(std::io::Error::other)
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or("").to_owned()
}

impl Worker {
    /// Starts a worker and reads the class description it sends first.
    pub(crate) fn start(launch: &Launch) -> Result<(Self, Description), PythonError> {
        let dir = launch.files.path();
        let mut child = Command::new(&launch.interpreter)
            .arg("-u")
            .arg(dir.join("tradai_runner.py"))
            .arg(dir.join("shim"))
            .arg(&launch.strategy_path)
            .arg(&launch.class)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .spawn()
            .map_err(|source| PythonError::InterpreterNotFound { interpreter: launch.interpreter.clone(), source })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(launch.worker_error("no pipes to the worker", None));
        };
        let mut worker = Self { child, stdin: Some(BufWriter::new(stdin)), stdout: BufReader::new(stdout) };
        let header = read_header(&mut worker.stdout).map_err(|e| {
            let status = worker.child.wait().map(|s| s.to_string()).unwrap_or_default();
            launch.worker_error(format!("the runner ended before describing the class ({status})"), Some(e))
        })?;
        if header["ok"].as_bool() != Some(true) {
            return Err(start_failure(launch, &header));
        }
        let description: Description = serde_json::from_value(header["describe"].clone())
            .map_err(|e| launch.worker_error(format!("unreadable class description: {e}"), None))?;
        Ok((worker, description))
    }

    /// Sends one request and returns the reply header and payload.
    pub(crate) fn call(&mut self, launch: &Launch, header: &Value, payload: &[u8]) -> Result<(Value, Vec<u8>), PythonError> {
        let io = |e: std::io::Error| launch.worker_error("the worker stopped answering", Some(e));
        let body = serde_json::to_vec(header).map_err(|e| launch.worker_error(format!("cannot encode request: {e}"), None))?;
        let stdin = self.stdin.as_mut().ok_or_else(|| launch.worker_error("worker closed", None))?;
        stdin.write_all(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes()).map_err(io)?;
        stdin.write_all(&body).map_err(io)?;
        stdin.write_all(&(payload.len() as u64).to_le_bytes()).map_err(io)?;
        stdin.write_all(payload).map_err(io)?;
        stdin.flush().map_err(io)?;
        let reply = read_header(&mut self.stdout).map_err(io)?;
        let mut len = [0u8; 8];
        self.stdout.read_exact(&mut len).map_err(io)?;
        let mut data = vec![0u8; usize::try_from(u64::from_le_bytes(len)).unwrap_or(usize::MAX)];
        self.stdout.read_exact(&mut data).map_err(io)?;
        Ok((reply, data))
    }
}

fn start_failure(launch: &Launch, h: &Value) -> PythonError {
    let message = text(h, "error");
    match h["kind"].as_str() {
        Some(m @ ("pandas" | "pyarrow")) => {
            PythonError::MissingModule { interpreter: launch.interpreter.clone(), module: m.to_owned(), message }
        }
        Some("class") => PythonError::ClassNotFound { path: launch.strategy_path.clone(), class: launch.class.clone(), message },
        Some("import") => PythonError::Import {
            path: launch.strategy_path.clone(),
            class: launch.class.clone(),
            message,
            traceback: text(h, "traceback"),
        },
        _ => PythonError::Describe { class: launch.class.clone(), message, traceback: text(h, "traceback") },
    }
}

/// Requests smaller than this (≈ 20k candles) wait for a busy worker instead of starting
/// another: an interpreter start with pandas costs ≈ 0.5 s of CPU, more than such a pair takes.
const SPAWN_PAYLOAD_BYTES: usize = 1 << 20;

/// Idle workers of one strategy, and how many are alive; a caller takes an idle one, starts
/// one, or (for a small request) waits for one to come back.
pub(crate) struct Pool {
    pub launch: Launch,
    idle: Mutex<(Vec<Worker>, usize)>,
    returned: Condvar,
}

impl Pool {
    pub(crate) fn new(launch: Launch, first: Worker) -> Self {
        Self { launch, idle: Mutex::new((vec![first], 1)), returned: Condvar::new() }
    }

    fn take(&self, payload: usize) -> Result<Worker, PythonError> {
        let mut g = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if let Some(w) = g.0.pop() {
                return Ok(w);
            }
            if g.1 == 0 || payload >= SPAWN_PAYLOAD_BYTES {
                g.1 += 1;
                drop(g);
                return Worker::start(&self.launch).map(|(w, _)| w).inspect_err(|_| {
                    self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).1 -= 1;
                    self.returned.notify_one();
                });
            }
            g = self.returned.wait(g).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Runs one request on a worker. A worker whose request failed inside the strategy's code
    /// is kept (the runner reported the error and lives on); one that broke the protocol or
    /// died is dropped and replaced on demand.
    pub(crate) fn call(&self, header: &Value, payload: &[u8]) -> Result<(Value, Vec<u8>), PythonError> {
        let mut worker = self.take(payload.len())?;
        let out = worker.call(&self.launch, header, payload);
        let mut g = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if out.is_ok() {
            g.0.push(worker);
        } else {
            g.1 -= 1;
            drop(worker);
        }
        drop(g);
        self.returned.notify_one();
        out
    }
}
