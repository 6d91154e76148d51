package rpc

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRoundTrip measures request/response round trips over loopback
// TCP, through the whole stack (Dial, Call, Server, Mux, a handler answering
// "ok"), against a baseline: the same bytes exchanged by a bare loop on the
// same sockets (framing only, no parsing, dispatch or goroutine per request).
//
//	go test ./rpc -run '^$' -bench RoundTrip -count 5
func BenchmarkRoundTrip(b *testing.B) {
	for _, conns := range []int{1, 16} {
		b.Run("rpc/conns="+strconv.Itoa(conns), func(b *testing.B) { benchRPC(b, conns) })
		b.Run("baseline/conns="+strconv.Itoa(conns), func(b *testing.B) { benchBaseline(b, conns) })
	}
}

func benchRPC(b *testing.B, conns int) {
	mux := NewMux()
	mux.Handle(ReqPoll, func(context.Context, *Conn, *Request) (any, error) { return OK, nil })
	s := &Server{Addr: "127.0.0.1:0", Handler: mux}
	if err := s.Listen(); err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background()) }()
	defer func() {
		_ = s.Shutdown(context.Background())
		<-served
	}()
	cs := make([]*Conn, conns)
	for i := range cs {
		c, err := Dial(context.Background(), s.ListenAddr().String(), DialOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	args := &TargetsArgs{Targets: []string{"1/low", "any"}}
	runLoops(b, conns, func(i int) error {
		var reply string
		return cs[i].Call(context.Background(), ReqPoll, args, &reply)
	})
}

func benchBaseline(b *testing.B, conns int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer nc.Close()
				dec := NewDecoder(nc, 0)
				answer := []byte("[1,{\"no\":1,\"data\":\"ok\"}]\x04")
				for {
					if _, err := dec.Next(); err != nil {
						return
					}
					if _, err := nc.Write(answer); err != nil {
						return
					}
				}
			})
		}
	})
	request := []byte("[0,{\"no\":1,\"type\":\"poll\",\"data\":{\"targets\":[\"1/low\",\"any\"]}}]\x04")
	ncs := make([]net.Conn, conns)
	decs := make([]*Decoder, conns)
	for i := range ncs {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		ncs[i], decs[i] = nc, NewDecoder(nc, 0)
	}
	runLoops(b, conns, func(i int) error {
		if _, err := ncs[i].Write(request); err != nil {
			return err
		}
		_, err := decs[i].Next()
		return err
	})
}

// runLoops runs b.N calls of one, spread over conns goroutines (one per
// connection), and reports calls per second.
func runLoops(b *testing.B, conns int, one func(conn int) error) {
	b.ReportAllocs()
	var left atomic.Int64
	left.Store(int64(b.N))
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range conns {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := one(i); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
}
