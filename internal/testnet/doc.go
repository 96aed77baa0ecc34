// Package testnet is the loopback plumbing tests of several packages
// share: a TCP forwarder that records where its connections come from
// and can cut them all (Forwarder), a listener that reports the source
// address of the one connection it takes (ListenOnce), and free ports
// (FreeAddr, FreePortPair). It imports nothing of Tributary, so any
// package's tests, the server's own included, can use it.
//
// Everything it starts is stopped by the test's cleanup; every failure
// to set up ends the test (t.Fatal).
package testnet
