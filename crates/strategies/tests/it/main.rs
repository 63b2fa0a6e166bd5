//! Integration tests of tradai-strategies: real strategy files from `testdata/`.

mod source;
