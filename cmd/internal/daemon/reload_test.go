package daemon

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReloader(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	path := filepath.Join(t.TempDir(), "d.log")
	_, lf, err := NewLogger("info", "text", path)
	require.NoError(t, err)
	defer lf.Close()

	var applied []string
	load := func(p string) (string, error) {
		if p == "bad.toml" {
			return "", errors.New("bad.toml: line 1: nonsense")
		}
		return "config of " + p, nil
	}
	apply := func(c string) { applied = append(applied, c) }

	require.NoError(t, os.Rename(path, path+".1"), "logrotate moves the file")
	Reloader(log, lf, "d.toml", load, apply)()
	require.Equal(t, []string{"config of d.toml"}, applied)
	require.FileExists(t, path, "the log file is reopened")
	_, err = lf.Write([]byte("after\n"))
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "after\n", string(b))

	Reloader(log, nil, "bad.toml", load, apply)()
	require.Len(t, applied, 1, "a config that does not load is not applied")
	require.Contains(t, logs.String(), `msg="reload failed; keeping the running config" err="bad.toml: line 1: nonsense"`)
}
