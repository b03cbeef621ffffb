//! The registry client (being written).
