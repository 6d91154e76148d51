package origconf

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLevel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ALL": "debug", "trace": "debug", "Debug": "debug",
		"info": "info", "WARN": "warn", "warning": "warn",
		"error": "error", "FATAL": "error", "mark": "error", "off": "error",
		"verbose": "other",
	} {
		require.Equal(t, want, Level(in, "other"), in)
	}
}

// logOf converts the logging keys of an ini text.
func logOf(t *testing.T, ini string) string {
	t.Helper()
	f, err := Parse("old.conf", strings.NewReader(ini))
	require.NoError(t, err)
	c := New(f, "jobd")
	c.Log("info")
	return c.String()
}

func TestLog(t *testing.T) {
	t.Parallel()
	require.Equal(t, "\n[log]\nlevel = \"warn\"\n", logOf(t, ""), "the original's default level")
	require.Equal(t, "\n[log]\nlevel = \"debug\"\n", logOf(t, "log_level_console = trace\nlog_level_file = error\n"),
		"no file: the console's level")
	require.Equal(t, "\n[log]\nfile = \"/var/log/jobd.log\"\n"+
		"# log_level_console = debug: jobd logs to one place, the file above, at one level.\nlevel = \"error\"\n",
		logOf(t, "log_file = /var/log/jobd.log\nlog_level_console = debug\nlog_level_file = error\n"), "a file: the file's level")
	require.Equal(t, "\n[log]\nfile = \"f\"\nlevel = \"warn\"\n", logOf(t, "log_file = f\nlog_level_console = debug\nlog_level_console =\n"))
	require.Equal(t, "\n[log]\nlevel = \"info\"\n", logOf(t, "log_level_console = verbose\n"), "a level log4js does not know")
}
