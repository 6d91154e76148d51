package main

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"time"

	"github.com/jobd/jobd/cmd/internal/origconf"
	"github.com/jobd/jobd/master"
)

// convertConfig reads a config file of the original jobd-master (ini
// format) and returns the equivalent TOML. Keys the original does not know
// are dropped with a warning each; a value the original would refuse is an
// error naming the file, line and key.
func convertConfig(path string) (toml string, warnings []string, err error) {
	oc, err := origconf.Open(path, prog)
	if err != nil {
		return "", nil, err
	}
	c := converter{oc}
	c.Header("deploy/jobd-master.example.toml")
	if err := c.server(); err != nil {
		return "", nil, err
	}
	c.Log("warn")
	c.DropUnknown()
	for _, s := range c.File.Sections {
		c.Warn("%s: section [%s] is not read by the original jobd-master; dropped", path, s.Name)
	}
	return c.String(), c.Warnings(), nil
}

// converter converts the keys of an original jobd-master config (all
// top-level: the original master reads no section).
type converter struct {
	*origconf.Converter
}

// val returns a key's entry, and whether it has a value.
func (c converter) val(k string) (origconf.Entry, bool) {
	e, ok := c.Get(k)
	return e, ok && e.Value != ""
}

// seconds converts a number of seconds; integer: read as the original's
// parseInt did.
func (c converter) seconds(k string, integer bool) error {
	e, ok := c.val(k)
	if !ok {
		return nil
	}
	f, err := strconv.ParseFloat(e.Value, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || f > 1e6 {
		return fmt.Errorf("%s:%d: %s = %q: must be a positive number of seconds", c.File.Path, e.Line, k, e.Value)
	}
	if integer {
		f = math.Trunc(f)
		if f == 0 {
			return fmt.Errorf("%s:%d: %s = %q: must be at least 1 second", c.File.Path, e.Line, k, e.Value)
		}
	}
	c.KV(k, time.Duration(math.Round(f*float64(time.Second))).String())
	return nil
}

// server converts the top-level keys.
func (c converter) server() error {
	host := "127.0.0.1"
	if e, ok := c.val("host"); ok {
		host = e.Value
	} else {
		c.Warn("%s: no host (the original required one); listening on %s", c.File.Path, host)
	}
	port := 7081
	if e, ok := c.val("port"); ok {
		p, err := strconv.Atoi(e.Value)
		if err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("%s:%d: port = %q: must be a port number", c.File.Path, e.Line, e.Value)
		}
		port = p
	} else {
		c.Warn("%s: no port (the original required one); using %d", c.File.Path, port)
	}
	c.KV("listen", net.JoinHostPort(host, strconv.Itoa(port)))
	if e, ok := c.val("password"); ok {
		c.KV("password", e.Value)
	}
	e, _ := c.val("always_allow_localhost")
	c.KV("always_allow_localhost", origconf.Bool(e.Value))
	if err := c.seconds("ping_interval", true); err != nil {
		return err
	}
	if err := c.seconds("poke_throttle_interval", false); err != nil {
		return err
	}
	c.Comment("New here: how long the master waits for a worker's answer to poll, pause,")
	c.Comment("continue, status and send-signal.")
	c.KV("# request_timeout", master.DefaultRequestTimeout.String())
	return nil
}
