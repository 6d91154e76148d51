package rpc

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAuthPolicy(t *testing.T) {
	t.Parallel()
	v4 := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 5}
	v4other := &net.TCPAddr{IP: net.ParseIP("127.1.2.3"), Port: 5}
	v6 := &net.TCPAddr{IP: net.ParseIP("::1"), Port: 5}
	mapped := &net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 5}
	remote := &net.TCPAddr{IP: net.ParseIP("10.0.0.7"), Port: 5}
	remote6 := &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 5}

	open := authPolicy{}
	for _, a := range []net.Addr{v4, remote, nil} {
		require.True(t, open.authorizedAtStart(a), "no password: everyone is authorised")
	}
	strict := authPolicy{Password: "pw"}
	for _, a := range []net.Addr{v4, v6, remote} {
		require.False(t, strict.authorizedAtStart(a), "password without localhost exemption: %v", a)
	}
	lax := authPolicy{Password: "pw", AlwaysAllowLocalhost: true}
	for _, a := range []net.Addr{v4, v4other, v6, mapped} {
		require.True(t, lax.authorizedAtStart(a), "loopback %v", a)
	}
	for _, a := range []net.Addr{remote, remote6, nil, pipeAddr{}} {
		require.False(t, lax.authorizedAtStart(a), "not loopback %v", a)
	}

	require.True(t, strict.passwordMatches("pw"))
	for _, wrong := range []string{"", "p", "pw ", "PW", "pwpw"} {
		require.False(t, strict.passwordMatches(wrong), wrong)
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func TestIsLoopbackFromString(t *testing.T) {
	t.Parallel()
	require.True(t, isLoopback(stringAddr("127.0.0.1:80")))
	require.True(t, isLoopback(stringAddr("[::1]:80")))
	require.False(t, isLoopback(stringAddr("10.1.1.1:80")))
}

type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }

func TestServerAuthentication(t *testing.T) {
	t.Parallel()
	strict := startServer(t, &Server{Handler: okMux(), Password: "s3cret"})
	lax := startServer(t, &Server{Handler: okMux(), Password: "s3cret", AlwaysAllowLocalhost: true})
	ok := func(no int) string { return eot(`[1,{"no":` + strconv.Itoa(no) + `,"data":"ok"}]␄`) }

	t.Run("no password", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, strict.ListenAddr())
		c.send(eot(`[0,{"no":3,"type":"poll"}]␄`))
		require.Equal(t, []string{eot(`[1,{"no":3,"error":"invalid password"}]␄`)}, c.requireClosed())
	})
	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, strict.ListenAddr())
		c.send(eot(`[0,{"no":3,"type":"poll","password":"s3cre"}]␄`))
		require.Equal(t, []string{eot(`[1,{"no":3,"error":"invalid password"}]␄`)}, c.requireClosed())
	})
	t.Run("requests after the refused one are not served", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, strict.ListenAddr())
		c.send(eot(`[0,{"no":3,"type":"poll"}]␄[0,{"no":4,"type":"poll","password":"s3cret"}]␄`))
		require.Equal(t, []string{eot(`[1,{"no":3,"error":"invalid password"}]␄`)}, c.requireClosed())
	})
	t.Run("right password on the first request only", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, strict.ListenAddr())
		require.Equal(t, ok(3), c.roundTrip(eot(`[0,{"no":3,"type":"poll","password":"s3cret"}]␄`)))
		require.Equal(t, ok(4), c.roundTrip(eot(`[0,{"no":4,"type":"poll"}]␄`)))
		require.Equal(t, ok(5), c.roundTrip(eot(`[0,{"no":5,"type":"poll","password":"whatever"}]␄`)))
	})
	t.Run("pings and malformed input do not need a password", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, strict.ListenAddr())
		c.requireAlive()
		require.Equal(t, eot(`[1,{"no":0,"error":"malformed message: empty array"}]␄`), c.roundTrip(eot(`[]␄`)))
		require.Equal(t, ok(3), c.roundTrip(eot(`[0,{"no":3,"type":"poll","password":"s3cret"}]␄`)))
	})
	t.Run("localhost exemption off", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, strict.ListenAddr())
		c.send(eot(`[0,{"no":3,"type":"poll"}]␄`))
		require.Equal(t, []string{eot(`[1,{"no":3,"error":"invalid password"}]␄`)}, c.requireClosed())
	})
	t.Run("localhost exemption on", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, lax.ListenAddr())
		require.Equal(t, ok(3), c.roundTrip(eot(`[0,{"no":3,"type":"poll"}]␄`)))
	})
	t.Run("client sends the password once", func(t *testing.T) {
		t.Parallel()
		c, err := Dial(t.Context(), strict.ListenAddr().String(), DialOptions{Password: "s3cret"})
		require.NoError(t, err)
		defer c.Close()
		for range 3 {
			require.NoError(t, c.Poll(t.Context(), nil))
		}
	})
	t.Run("client with a wrong password", func(t *testing.T) {
		t.Parallel()
		c, err := Dial(t.Context(), strict.ListenAddr().String(), DialOptions{Password: "nope"})
		require.NoError(t, err)
		defer c.Close()
		err = c.Poll(t.Context(), nil)
		require.EqualError(t, err, "invalid password")
		require.IsType(t, &RemoteError{}, err)
		<-c.Done()
		require.ErrorIs(t, c.Err(), ErrPeerClosed)
	})
}

// A peer that is not on the loopback interface needs the password even with
// the localhost exemption on. It takes a non-loopback address of this host.
func TestServerAuthenticationNonLoopback(t *testing.T) {
	t.Parallel()
	ip := nonLoopbackIP(t)
	s := startServer(t, &Server{Addr: net.JoinHostPort(ip.String(), "0"), Handler: okMux(), Password: "pw", AlwaysAllowLocalhost: true})
	c := dialRaw(t, s.ListenAddr())
	require.False(t, isLoopback(c.nc.LocalAddr()))
	c.send(eot(`[0,{"no":3,"type":"poll"}]␄`))
	require.Equal(t, []string{eot(`[1,{"no":3,"error":"invalid password"}]␄`)}, c.requireClosed())

	c = dialRaw(t, s.ListenAddr())
	require.Equal(t, eot(`[1,{"no":3,"data":"ok"}]␄`), c.roundTrip(eot(`[0,{"no":3,"type":"poll","password":"pw"}]␄`)))
}

func nonLoopbackIP(t *testing.T) net.IP {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP
		}
	}
	t.Skip("this host has no non-loopback IPv4 address; TestAuthPolicy covers the rule")
	return nil
}
