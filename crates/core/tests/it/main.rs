//! Integration tests of tradai-core: properties of the parsers every input passes through
//! (proptest, run in CI; `fuzz/` at the repository root holds cargo-fuzz targets for longer runs).

mod parse_props;
