//! Integration tests of tradai-trading (one test binary): the node's state database.

mod state;
