//! Why a strategy file could not be loaded or run, grouped by what the user must fix.

use std::path::PathBuf;

/// A failure to load or run a Python strategy. Every variant names what it was about (the
/// interpreter, the file, the class, the pair); errors raised by the strategy's own code carry
/// the traceback's last line in the message and the whole traceback in `traceback`.
#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    /// The interpreter could not be started.
    #[error("cannot start the Python interpreter '{interpreter}' (install Python 3 or set TRADAI_PYTHON to one)")]
    InterpreterNotFound {
        /// The interpreter tried.
        interpreter: String,
        /// Why starting it failed.
        #[source]
        source: std::io::Error,
    },
    /// The interpreter lacks a module strategy files need.
    #[error("the Python interpreter '{interpreter}' cannot import {module} ({message}); install it with `{interpreter} -m pip install {module}`")]
    MissingModule {
        /// The interpreter.
        interpreter: String,
        /// `pandas` or `pyarrow`.
        module: String,
        /// Python's error line.
        message: String,
    },
    /// No file at the path defines the class.
    #[error("strategy '{class}' not found in '{path}': {message}")]
    ClassNotFound {
        /// The strategy path given.
        path: PathBuf,
        /// The class asked for.
        class: String,
        /// What was looked at.
        message: String,
    },
    /// Importing the strategy file raised.
    #[error("cannot import strategy '{class}' from '{path}': {message}")]
    Import {
        /// The strategy path given.
        path: PathBuf,
        /// The class asked for.
        class: String,
        /// The traceback's last line.
        message: String,
        /// The whole traceback.
        traceback: String,
    },
    /// Instantiating the class or reading its settings raised.
    #[error("cannot read the settings of strategy '{class}': {message}")]
    Describe {
        /// The class.
        class: String,
        /// The traceback's last line.
        message: String,
        /// The whole traceback.
        traceback: String,
    },
    /// The class uses features a vectorised run cannot honour.
    #[error("strategy '{class}' uses what tradai cannot run: {}", features.join(", "))]
    Unsupported {
        /// The class.
        class: String,
        /// Each feature with why (overridden callbacks by name).
        features: Vec<String>,
    },
    /// A class attribute has a value tradai cannot use.
    #[error("strategy '{class}' has an invalid {setting} {value}: {expected}")]
    InvalidSetting {
        /// The class.
        class: String,
        /// The attribute.
        setting: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// The strategy's populate functions raised for one pair.
    #[error("strategy '{class}' failed on '{pair}': {message}")]
    Populate {
        /// The class.
        class: String,
        /// The pair.
        pair: String,
        /// The traceback's last line.
        message: String,
        /// The whole traceback.
        traceback: String,
    },
    /// The worker broke the protocol or died (it is replaced on the next call).
    #[error("python worker for strategy '{class}' failed: {message}")]
    Worker {
        /// The class.
        class: String,
        /// What happened.
        message: String,
        /// The I/O error, when there was one.
        #[source]
        source: Option<std::io::Error>,
    },
    /// The columns could not be encoded or decoded as Arrow IPC.
    #[error("arrow exchange with the python worker failed: {context}")]
    Arrow {
        /// What was being done.
        context: &'static str,
        /// The Arrow error.
        #[source]
        source: arrow_schema::ArrowError,
    },
}

impl PythonError {
    /// Whether the same call may succeed when tried again (a worker that died, not an error
    /// in the strategy or the setup).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Worker { .. })
    }

    /// The whole Python traceback, for errors raised by the strategy's code.
    #[must_use]
    pub fn traceback(&self) -> Option<&str> {
        match self {
            Self::Import { traceback, .. } | Self::Describe { traceback, .. } | Self::Populate { traceback, .. } => Some(traceback),
            _ => None,
        }
    }
}
