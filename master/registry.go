package master

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/jobd/jobd/rpc"
)

// worker is one registered worker. Its fields never change: a re-register
// replaces the whole value, so a *worker taken from the registry can be
// read without a lock.
type worker struct {
	conn    *rpc.Conn
	seq     uint64 // registration order of the connection, for a stable listing
	name    string
	host    string // peer IP address
	port    int
	targets []string        // in the worker's order, without duplicates
	serves  map[string]bool // the same, as a set

	pinging *atomic.Bool // a ping is being written; shared by re-registrations
}

// String names the worker in logs and error messages: "web-3 (10.0.0.7:40312)".
func (w *worker) String() string {
	return fmt.Sprintf("%s (%s)", w.name, net.JoinHostPort(w.host, fmt.Sprint(w.port)))
}

// servedOf returns the targets of ts that w serves, in the order of ts.
func (w *worker) servedOf(ts []string) []string {
	var out []string
	for _, t := range ts {
		if w.serves[t] {
			out = append(out, t)
		}
	}
	return out
}

// errGone refuses a register-worker whose connection closed meanwhile.
var errGone = errors.New("connection closed")

// registry is the set of registered workers, keyed on their connection, and
// the pokes no worker could take yet.
type registry struct {
	mu       sync.Mutex
	workers  map[*rpc.Conn]*worker
	seq      uint64
	waiting  map[string]bool // poked targets that no worker served
	nWaiting int             // bound on len(waiting)
}

// maxWaiting bounds the remembered pokes: a client poking ever new target
// names must not grow the master without end.
const maxWaiting = 10_000

func newRegistry() *registry {
	return &registry{workers: map[*rpc.Conn]*worker{}, waiting: map[string]bool{}, nWaiting: maxWaiting}
}

// register adds the worker on conn, or replaces its name and targets when
// it registered before. It returns the worker and the remembered pokes it
// serves, which are forgotten now: the caller polls it for them.
func (r *registry) register(conn *rpc.Conn, name string, targets []string) (w *worker, replaced bool, remembered []string, err error) {
	host, port := peer(conn)
	if name == "" {
		name = net.JoinHostPort(host, fmt.Sprint(port))
	}
	w = &worker{conn: conn, name: name, host: host, port: port, serves: map[string]bool{}}
	for _, t := range targets {
		if !w.serves[t] {
			w.serves[t] = true
			w.targets = append(w.targets, t)
		}
	}
	if w.targets == nil {
		w.targets = []string{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// OnDisconnect removes a worker only after Done is closed, and both take
	// r.mu: a register that finds Done open is removed later, one that finds
	// it closed is refused, so no closed connection stays registered.
	select {
	case <-conn.Done():
		return nil, false, nil, errGone
	default:
	}
	if old := r.workers[conn]; old != nil {
		w.seq, w.pinging, replaced = old.seq, old.pinging, true
	} else {
		r.seq++
		w.seq, w.pinging = r.seq, new(atomic.Bool)
	}
	r.workers[conn] = w
	for _, t := range w.targets {
		if r.waiting[t] {
			delete(r.waiting, t)
			remembered = append(remembered, t)
		}
	}
	return w, replaced, remembered, nil
}

// peer is the IP address and port of the connection's other end.
func peer(conn *rpc.Conn) (string, int) {
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String(), a.Port
	}
	host, port, err := net.SplitHostPort(conn.RemoteAddr().String())
	if err != nil {
		return conn.RemoteAddr().String(), 0
	}
	var p int
	_, _ = fmt.Sscan(port, &p)
	return host, p
}

// remove drops the worker on conn and returns it (nil when conn had not
// registered).
func (r *registry) remove(conn *rpc.Conn) *worker {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.workers[conn]
	delete(r.workers, conn)
	return w
}

// list returns the workers in registration order.
func (r *registry) list() []*worker {
	r.mu.Lock()
	ws := make([]*worker, 0, len(r.workers))
	for _, w := range r.workers {
		ws = append(ws, w)
	}
	r.mu.Unlock()
	sort.Slice(ws, func(i, j int) bool { return ws[i].seq < ws[j].seq })
	return ws
}

// len is the number of registered workers.
func (r *registry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.workers)
}

// serving returns the workers that serve any of targets, each with the
// targets of the list it serves; nil targets means every worker, with nil
// (all of its targets).
func (r *registry) serving(targets []string) []routed {
	var out []routed
	for _, w := range r.list() {
		if targets == nil {
			out = append(out, routed{w, nil})
		} else if ts := w.servedOf(targets); len(ts) > 0 {
			out = append(out, routed{w, ts})
		}
	}
	return out
}

// routed is a worker and the targets a request to it names.
type routed struct {
	w       *worker
	targets []string
}

// route is serving for a poke burst: it also remembers the targets that no
// worker serves, under the same lock as register, so a worker registering
// meanwhile either is routed to or finds the poke remembered.
func (r *registry) route(targets []string) (out []routed, remembered []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	served := map[string]bool{}
	for _, w := range r.workers {
		if ts := w.servedOf(targets); len(ts) > 0 {
			out = append(out, routed{w, ts})
			for _, t := range ts {
				served[t] = true
			}
		}
	}
	for _, t := range targets {
		if !served[t] && !r.waiting[t] && len(r.waiting) < r.nWaiting {
			r.waiting[t] = true
			remembered = append(remembered, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].w.seq < out[j].w.seq })
	return out, remembered
}

// waitingTargets returns the remembered pokes, sorted.
func (r *registry) waitingTargets() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.waiting))
	for t := range r.waiting {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}
