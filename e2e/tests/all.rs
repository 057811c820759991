//! The e2e suite: one binary, a module per area. Each test starts the real `kcp` binary and
//! drives it with the installed kubectl over TLS.

mod smoke;
