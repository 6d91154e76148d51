package rpc

import (
	"context"
	"fmt"
	"sync"
)

// Handler serves one request. The returned value is JSON-encoded as the
// response's data (nil: data omitted); a non-nil error becomes
// {"no":N,"error":err.Error()}. Each request runs in its own goroutine, so a
// slow handler never holds up other requests on the same connection. ctx is
// cancelled when the connection closes.
type Handler interface {
	ServeRPC(ctx context.Context, c *Conn, req *Request) (any, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, c *Conn, req *Request) (any, error)

// ServeRPC calls f.
func (f HandlerFunc) ServeRPC(ctx context.Context, c *Conn, req *Request) (any, error) {
	return f(ctx, c, req)
}

// Mux dispatches requests to handlers by request type, and answers a type it
// does not know with an error naming it. It is safe for concurrent use.
type Mux struct {
	mu       sync.RWMutex
	handlers map[string]Handler
}

// NewMux returns an empty Mux.
func NewMux() *Mux {
	return &Mux{handlers: make(map[string]Handler)}
}

// Handle registers h for requests of type typ. Registering an empty type, a
// nil handler or a type twice is a programming error and panics.
func (m *Mux) Handle(typ string, h HandlerFunc) {
	if typ == "" || h == nil {
		panic("rpc: Mux.Handle needs a request type and a handler")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.handlers[typ]; dup {
		panic(fmt.Sprintf("rpc: Mux.Handle: a handler for %q is already registered", typ))
	}
	m.handlers[typ] = h
}

// ServeRPC implements Handler.
func (m *Mux) ServeRPC(ctx context.Context, c *Conn, req *Request) (any, error) {
	m.mu.RLock()
	h := m.handlers[req.Type]
	m.mu.RUnlock()
	if h == nil {
		return nil, UnknownTypeError(req.Type)
	}
	return h.ServeRPC(ctx, c, req)
}

// UnknownTypeError is the answer to a request type nobody serves. Its text
// is the original jobd's: unknown request type: 'name'.
type UnknownTypeError string

func (e UnknownTypeError) Error() string {
	return fmt.Sprintf("unknown request type: '%s'", string(e))
}
