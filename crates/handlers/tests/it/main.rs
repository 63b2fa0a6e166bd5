//! Integration tests of the handlers: each handler on a realistic event (`testdata/handlers/`)
//! with real back ends (SQLite job and state database, the embedded model registry, the real
//! strategy-service router, local HTTP servers for probes and webhooks), checked in both
//! response shapes.

mod harness;
mod lifecycle;
mod monitoring;
mod queues;
mod workflow;
