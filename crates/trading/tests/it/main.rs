//! Integration tests of tradai-trading (one test binary): the node's state database and its reports.

mod report;
mod state;
