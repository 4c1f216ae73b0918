//! Integration test harnesses live in this crate (scripts beside it).
