//! Sled backend (in progress).
