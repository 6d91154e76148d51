// Package master is jobd-master, the coordinator: a registry of the jobd
// workers connected to it, and the fan-out of poke, pause, continue, status,
// run-manual and send-signal to the workers that serve the targets concerned
// (the jobd-master table of PROTOCOL.md). It speaks only the wire protocol,
// through package rpc; it has no database.
//
// # A worker's life in the registry
//
// Workers hold no port the master could reach: a worker dials the master and
// everything between them goes over that one connection.
//
//	connected     a connection, not yet a worker (clients such as jobctl and
//	              the PHP library stay here; they are never pinged)
//	registered    after register-worker {targets, name}: the master pings it
//	              every ping_interval and sends it poll, pause, continue,
//	              status, run-manual and send-signal over the same connection;
//	              another register-worker replaces its target list
//	dropped       the connection closed, or nothing arrived from it for two
//	              ping intervals (the master closes it then)
//
// The registry is keyed on the connection, so two workers may share a name.
//
// # Pokes
//
// A poke marks its targets pending. The first poke of a quiet period goes
// out at once; pokes arriving within poke_throttle_interval of a burst are
// gathered into the next burst, sent when the interval ends. A burst sends
// each worker serving any pending target one poll naming just the pending
// targets it serves. Pending targets no worker serves are remembered and
// polled on the first worker that registers with them.
package master
