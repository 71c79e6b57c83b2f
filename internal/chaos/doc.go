// Package chaos is Parley's fault-injection suite, in the manner of Jepsen:
// real parley processes (built from cmd/parley) on SQLite, or on
// PostgreSQL and Redis, with loopback proxies (internal/faultnet) between
// clients and nodes and between nodes and their store and bus, a
// randomized workload of users and devices driven by a printed seed, faults
// injected while it runs (latency, pauses, cut connections, kill -9 of
// nodes, restarts of Redis and PostgreSQL), and a checker that proves, once
// the faults stop and everything has recovered, what the delivery model
// promises (DESIGN §2 and §7, docs/api.md "Delivery guarantees").
//
// The package has no code of its own besides this comment: the suite is
// its tests (go test ./internal/chaos). What the checker holds the server
// to, precisely:
//
//   - The log. Every conversation's seqs are dense from 1. Every
//     acknowledged send is in the log exactly once, with the id and seq of
//     its ack; no client_msg_id appears twice.
//   - Every device's history equals the log. A device's history is what
//     it received in message events (live and sync replays) plus the acks
//     of its own sends, keyed by (conversation, seq); after recovery each
//     device syncs once more, and then, for every conversation of its
//     user, it holds exactly the log's message at every seq.
//   - Order on a socket. A socket is one Socket.IO connection (a
//     reconnection is a new socket). Per socket and conversation, message
//     events arrive in strictly increasing seq, each seq at most once. The
//     one exception is a sync replay the client asked for: while a sync
//     call of the device is outstanding, a message whose seq is not above
//     the highest seen on that socket in its conversation starts a new run
//     (the replay, ascending from the requested cursor), at most once per
//     conversation for each sync call the device began since the socket
//     did (a call that timed out keeps its window open on that socket,
//     since its replay may still come); a replay may repeat no seq the
//     socket already received.
//   - Live delivery without sync. Some devices never call sync (until the
//     final catch-up, after their sockets were checked). For such a socket:
//     between the lowest and the highest seq it received in a
//     conversation, it received every seq of the log, except the device's
//     own sends, which reach the device in the answers to its sends; and,
//     authenticated at time T (Dial returned), it receives every message
//     whose send (or recall) was first issued after T, by anyone but the
//     device itself. If the socket is still up when the run ends (after
//     recovery, and after one more message in every conversation, which
//     lets a socket notice and fill a hole the bus left), it has received
//     every one of them; if it dropped earlier, every one whose seq is
//     below the highest it received. A syncing socket is not held to the
//     gap rule: its sync tells the server the device holds everything up to
//     the cursor, so the replay may rightly start above what the socket
//     received live; it is held to order, and its device to the log.
//   - Receipts never move backwards. Per observing device, per
//     (conversation, user), delivered_seq and read_seq of receipt events
//     never decrease.
//   - Outages are retryable. While a link, a node, Redis or PostgreSQL is
//     down, a send or a recall is answered with a retryable error (or not
//     at all) and never refused for good; clients retry with the same
//     client_msg_id, and after recovery every one of them is acknowledged.
//
// A violation fails the test with the seed, which replays the run's
// decisions (which operations, faults and kills, in which order; the
// timing between goroutines is the machine's).
package chaos
