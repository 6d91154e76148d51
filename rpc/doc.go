// Package rpc is the wire vocabulary of jobd: the protocol the original
// Node.js jobd, its PHP client and its jobctl speak (shared/PROTOCOL.md),
// with framing, messages, connections usable from either end, a server, a
// client, and the typed request and answer shapes of jobd and jobd-master.
// It imports nothing of jobd, master or store.
//
// # Framing
//
// A message is a JSON array followed by one EOT byte (0x04). JSON text never
// holds a raw 0x04, so a Decoder splits the stream at each EOT, however the
// reads cut it: many messages in one read, one message over many reads. An
// unfinished message may grow to MaxMessageSize bytes (DefaultMaxMessageSize,
// 16 MiB); past that the peer gets a no:0 error and the connection closes,
// so a connection never buffers more than the limit plus one read.
//
// Each message goes out in a single Write, under a mutex, so frames never
// interleave and a reader that reads "until the buffer ends with EOT" (the
// PHP client) never sees half of one glued to the next.
//
// # Messages
//
//	[0,{"no":N,"type":"poll","data":{...},"password":"..."}]  request
//	[1,{"no":N,"data":...}] or [1,{"no":N,"error":"..."}]     response
//	[2]                                                         ping
//	[3]                                                         pong
//
// Either side sends requests at any time; responses come back in any order
// and are matched by number. Input that is not a valid message is answered
// with a response on no 0 ("malformed message: ..."), or on the request's own
// number when the request had one, and the connection stays open.
//
// # Authorisation of a connection
//
// A connection accepted by a Server starts in one of two states:
//
//	authorised    when the server has no password, or AlwaysAllowLocalhost
//	              is set and the peer's address is a loopback address;
//	unauthorised  otherwise.
//
// On an unauthorised connection, the first request decides (pings, pongs,
// responses and malformed input do not change the state):
//
//	request with the right password  -> authorised, the request is served
//	password missing or wrong        -> answered {"no":N,"error":"invalid
//	                                    password"}, then the connection closes
//
// Once authorised, a connection stays so: clients send the password with
// their first request only. Passwords are compared in constant time.
//
// A connection this side dialed (Dial, NewConn) is always authorised: a jobd
// worker dials its master, registers, and then serves the master's poll,
// status, run-manual... requests over that same connection. The dialing side
// sends its own password, if any, with its first request.
//
// # Liveness
//
// A ping is answered with a pong. Any message at all counts as a sign of
// life: with PingInterval set, a connection sends [2] that often and closes
// when nothing arrives for twice as long; with IdleTimeout set, it closes
// (after a no:0 error saying so) when nothing arrives for that long.
package rpc
