//! Integration tests of tradai-hyperopt (one test binary): a planted optimum that TPE finds
//! more often than random search, determinism for a seed and job count, clear errors.

mod planted;
