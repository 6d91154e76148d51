package rpc

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/netip"
)

// msgInvalidPassword answers a request that arrives on an unauthorised
// connection without the right password; the connection is closed after it.
const msgInvalidPassword = "invalid password"

// authPolicy decides whether requests a peer sends on a server-side
// connection are served. See doc.go for the state machine.
type authPolicy struct {
	Password             string // "" = every connection is authorised
	AlwaysAllowLocalhost bool
}

// authorizedAtStart reports whether a connection from remote is authorised
// before it has sent anything.
func (p authPolicy) authorizedAtStart(remote net.Addr) bool {
	return p.Password == "" || (p.AlwaysAllowLocalhost && isLoopback(remote))
}

// passwordMatches compares in constant time, also with respect to the
// length of the guess: both sides are hashed first.
func (p authPolicy) passwordMatches(got string) bool {
	want := sha256.Sum256([]byte(p.Password))
	have := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(want[:], have[:]) == 1
}

// isLoopback reports whether addr is a loopback address (127.0.0.0/8, ::1,
// or ::ffff:127.x.y.z).
func isLoopback(addr net.Addr) bool {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP.IsLoopback()
	}
	if addr == nil {
		return false
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return false
	}
	return ap.Addr().Unmap().IsLoopback()
}
