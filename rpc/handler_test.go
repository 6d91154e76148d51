package rpc

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMux(t *testing.T) {
	t.Parallel()
	m := NewMux()
	m.Handle("a", func(ctx context.Context, c *Conn, req *Request) (any, error) { return "A", nil })
	m.Handle("b", func(ctx context.Context, c *Conn, req *Request) (any, error) { return nil, errors.New("B failed") })

	v, err := m.ServeRPC(t.Context(), nil, &Request{Type: "a"})
	require.NoError(t, err)
	require.Equal(t, "A", v)
	_, err = m.ServeRPC(t.Context(), nil, &Request{Type: "b"})
	require.EqualError(t, err, "B failed")
	_, err = m.ServeRPC(t.Context(), nil, &Request{Type: "c"})
	require.EqualError(t, err, "unknown request type: 'c'")
	var unknown UnknownTypeError
	require.ErrorAs(t, err, &unknown)

	require.Panics(t, func() { m.Handle("a", func(context.Context, *Conn, *Request) (any, error) { return nil, nil }) })
	require.Panics(t, func() { m.Handle("", func(context.Context, *Conn, *Request) (any, error) { return nil, nil }) })
	require.Panics(t, func() { m.Handle("d", nil) })
}
