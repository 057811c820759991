//! Event window (in progress).
