// Package faultproxy is a TCP proxy that injects network faults between
// two endpoints, for tests and the chaos harness; no production code
// imports it and it needs no root: it listens on a loopback address and
// forwards every accepted connection to one target address.
//
// # Faults
//
// A Proxy's faults apply at once to the connections it already forwards
// and to those it accepts later:
//
//   - Delay(d): every chunk read from one side is written to the other
//     no earlier than d after it was read; order is kept (one writer per
//     direction). A new connection is dialled to the target d after it
//     was accepted, as a SYN would be.
//   - Drop: a network partition. Nothing is forwarded in either
//     direction, and nothing is thrown away either: a real partition
//     loses packets, but TCP retransmits them, so what an application
//     sees is a peer that stops answering and, once the network heals,
//     the same stream carrying on without loss or reordering. The proxy
//     does exactly that: it holds what it has read (at most chunkQueue
//     chunks of chunkSize bytes per direction and connection), stops
//     reading when that is full, and the kernel's socket buffers and TCP
//     windows fill behind it, so the sender's writes block. A connection
//     accepted during a Drop is held the same way: the kernel completes
//     the handshake with the proxy (it cannot be avoided without root),
//     but the target is not dialled and nothing is forwarded until
//     Heal, as with a SYN that gets no answer until the network is back.
//     A FIN or a reset is held too: it travels in order behind the data.
//     Closing a socket, which a partition never does, is Reset's job.
//   - CutOneWay(dir): one direction is held as under Drop, the other
//     flows. A new connection is not dialled while either direction is
//     cut, since a TCP handshake needs both.
//   - Freeze: every link paused, as when the peer's process is stopped
//     (SIGSTOP): nothing is forwarded, everything is held and resumes in
//     order at Heal. Seen from the network it is the same state as Drop
//     (a stopped process and an unreachable one look alike to TCP until
//     a timeout); it is a separate fault so that a schedule says which
//     one it injects and Heal lifts both.
//   - Heal: lifts Drop, Freeze, every cut and every delay, of every
//     source.
//   - Reset: closes every forwarded connection now, both ends, with a
//     TCP reset (SO_LINGER 0), as a crashed peer's kernel would; the
//     proxy keeps accepting new connections.
//   - Refuse, Reopen: not a network fault but the target's death seen
//     through the proxy. A proxy always completes the handshake, so a
//     dial of a dead process's address would not be refused as it is
//     without the proxy; Refuse closes the listener (new connections get
//     ECONNREFUSED, whatever their source and the faults) until Reopen
//     listens again on the same address. A harness calls them when the
//     target's process exits and before it starts again.
//
// # Sources
//
// A proxy made with NewClassified names the source of every connection
// it accepts, once, from its addresses (a Classifier): ByHost maps the
// remote IP to a name; where the IP tells nothing (a process that dials
// from the kernel's default source), SocketOwner finds, on Linux, which
// of a set of processes holds the dialling end, from /proc/net/tcp and
// /proc/<pid>/fd. A fault set through For(Sources) holds only the
// connections of the sources it selects: Only(names...), AllBut(names...)
// or AllSources(), which the Proxy's own methods use. Faults add up: a
// connection is held while any fault that selects it holds it, and waits
// for the longest delay among them; Delay through the same Sources
// replaces the earlier one. Faults.Heal lifts what was set through the
// same Sources only; the Proxy's Heal lifts every fault of the proxy.
//
// # Net
//
// A Net is the proxies in front of the listeners of a set of nodes
// (Add(node, listener, listen, target): one proxy per listener, not per
// pair), all naming sources with one Classifier. It exists for a
// cluster whose membership is global: an etcd member's peer URL, a
// broker's advertised address are each one address that every other
// node dials, so a proxy per (from, to) pair cannot be named in them.
// Instead node N runs on an address of its own (127.0.0.(N+1)), dials
// every other node from it, and is told each listener's proxy address;
// a proxy tells which node a connection comes from by its remote IP
// (or, for what a node dials from the default source 127.0.0.1 anyway,
// by the process that holds it), and anything else is a client.
//
// A fault between from and to holds the connections from opened to any
// listener of to, on to's proxies:
//
//   - Partition(a, b): the connections between a node of a and a node of
//     b, whichever opened them, both ways; within a set and with other
//     sources (clients) they flow.
//   - Isolate(node), Freeze(node): every connection node is part of
//     (those it opened to any other node, and those any other source,
//     clients included, opened to it), but its connections to itself.
//     A node isolated from the other nodes but reachable by clients is
//     Partition([node], others).
//   - CutOneWay(from, to): the bytes from sends to to, over the
//     connections either of them opened (the Up direction of from's
//     connections to to, the Down direction of to's connections to
//     from).
//   - Delay(a, b, d), Reset(a, b): the connections between a and b,
//     whichever opened them.
//   - Heal: every fault of every proxy.
//
// # Lifetimes and bounds
//
// A Proxy runs one accept goroutine while it listens (Refuse ends it,
// Reopen starts another) and, per forwarded connection, one
// goroutine while it waits to dial and then four (a reader and a writer
// per direction). Close stops the listener, closes every connection and
// waits for all of them. The memory a connection holds is bounded by
// 2 × chunkQueue × chunkSize; the rest waits in the kernel.
//
// # Lock
//
// Proxy.mu guards the fault rules, the listener, the set of links and
// each link's source and target connection; it is never held across
// I/O. Net.mu guards the set
// of proxies and is never held while a proxy's method runs. No code
// holds both.
//
// # Tests
//
// The proxy's tests run over loopback echo and raw targets, the Net's
// with nodes on 127.0.0.2-4 dialling from their own address;
// broker_test.go puts a real in-process broker behind a proxy and shows
// an idempotent acks=all produce held by Drop and completed by Heal
// (skipped with -short):
//
//	go test -race -count=1 ./internal/faultproxy
package faultproxy
