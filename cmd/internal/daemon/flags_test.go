package daemon

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseFlags(t *testing.T) {
	t.Parallel()
	f, err := ParseFlags("jobd", "/etc/jobd.toml", "Usage: jobd\n", nil)
	require.NoError(t, err)
	require.Equal(t, Flags{Config: "/etc/jobd.toml"}, f, "the defaults")

	f, err = ParseFlags("jobd", "/etc/jobd.toml", "Usage: jobd\n", []string{"--check-config", "--config", "x.toml", "--version"})
	require.NoError(t, err)
	require.Equal(t, Flags{Config: "x.toml", Check: true, Version: true}, f)

	_, err = ParseFlags("jobd", "/etc/jobd.toml", "Usage: jobd\n", []string{"--config", "x.toml", "extra"})
	require.EqualError(t, err, `unexpected argument "extra"`)
	_, err = ParseFlags("jobd", "/etc/jobd.toml", "Usage: jobd\n", []string{"-h"})
	require.ErrorIs(t, err, flag.ErrHelp)
	_, err = ParseFlags("jobd", "/etc/jobd.toml", "Usage: jobd\n", []string{"--no-such-flag"})
	require.ErrorContains(t, err, "no-such-flag")
}
