//! Checks of the embedded dashboard as a whole: every file the page or a module refers to is
//! embedded, nothing is fetched from another origin, and nothing needs what the content
//! security policy forbids (inline scripts, inline styles, `eval`).

mod assets;
