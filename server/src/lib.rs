//! Volatile server.
