//! One `tradai` child process per job (the `subprocess` mode): both pipes drained on their own
//! threads so a chatty child never blocks on a full pipe, stderr handed over line by line as
//! it arrives (progress), and the child killed within 50 ms of a cancel.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What a finished child left.
pub(crate) struct ChildOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl ChildOutput {
    /// The child's one-line error (`error: ...` as the CLI prints it), or its last stderr line.
    pub fn error_line(&self) -> String {
        let line =
            self.stderr.lines().rev().find(|l| l.starts_with("error:")).or_else(|| self.stderr.lines().last()).unwrap_or("no message");
        line.trim_start_matches("error:").trim().to_owned()
    }
}

/// Why a child did not finish.
pub(crate) enum ChildError {
    /// It could not be started or waited for.
    Io(String),
    /// `cancel` was set; the child was killed.
    Cancelled,
}

/// Runs `bin args` with `env` added to this process's environment, calling `on_stderr_line` (on this thread) for every stderr line while it
/// runs.
///
/// The pipe readers are threads of their own that this function does not wait for after a
/// cancel: a grandchild that inherited the pipes (a shell's `sleep`) would hold them open.
pub(crate) fn run_child(
    bin: &Path,
    args: &[String],
    env: &[(String, String)],
    cancel: &AtomicBool,
    on_stderr_line: &dyn Fn(&str),
) -> Result<ChildOutput, ChildError> {
    let mut child = Command::new(bin)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ChildError::Io(format!("cannot start '{}': {e}", bin.display())))?;
    let stdout = child.stdout.take().map(|mut o| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = o.read_to_string(&mut s);
            s
        })
    });
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().map(|e| {
        std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(e).lines().map_while(Result::ok) {
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
            all
        })
    });
    let status = loop {
        if cancel.load(Ordering::Relaxed) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ChildError::Cancelled);
        }
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {
                if let Ok(line) = rx.recv_timeout(Duration::from_millis(50)) {
                    on_stderr_line(&line);
                }
            }
            Err(e) => {
                let _ = child.kill();
                return Err(ChildError::Io(format!("waiting for the child process failed: {e}")));
            }
        }
    };
    let stdout = stdout.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    for line in rx.try_iter() {
        on_stderr_line(&line);
    }
    Ok(ChildOutput { status, stdout, stderr })
}
