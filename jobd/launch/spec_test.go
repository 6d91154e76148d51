package launch

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestValidateAccepts(t *testing.T) {
	t.Parallel()
	for _, spec := range []Spec{
		{Command: "php /srv/app/launcher.php {id}"},
		{Command: "php /srv/app/launcher.php {id} '--target={target}' \"{slot}\""},
		{Command: "/usr/bin/true", Env: []string{"A=1", "B=", "C=x=y"}, Timeout: time.Minute, KillGrace: time.Second, MaxOutput: 10},
		{Command: "php /srv/x.php {id} >>/var/log/x.log 2>&1; echo \"$JOBD_TARGET\"", Shell: true},
		{Command: "exec php /srv/x.php {id} {target}", Shell: true},
		{Command: "{slot} x"}, // may be empty for some jobs: Start says so then
	} {
		require.NoError(t, spec.Validate(), spec.Command)
	}
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Command: ""}, `launcher template "": empty command`},
		{Spec{Command: "   "}, `launcher template "   ": empty command`},
		{Spec{Command: "", Shell: true}, `launcher template "": empty command`},
		{Spec{Command: "php 'x.php {id}"}, `launcher template "php 'x.php {id}": 1:5: reached EOF without closing quote`},
		{Spec{Command: "echo 'x {id}", Shell: true}, `launcher template "echo 'x {id}": 1:6: reached EOF without closing quote`},
		{Spec{Command: "echo 'x", Shell: true}, `launcher template "echo 'x": 1:6: reached EOF without closing quote`},
		{Spec{Command: "php $HOME/x.php"}, `launcher template "php $HOME/x.php": 1:5: "$HOME" needs shell = true`},
		{Spec{Command: `echo "{target}"`, Shell: true}, `launcher template "echo \"{target}\"": 1:7: {target} cannot be substituted safely here`},
		{Spec{Command: "'' {id}"}, `launcher template "'' {id}": the command is an empty string`},
		{Spec{Command: "php\x00 x"}, `launcher template "php\x00 x": contains a NUL byte`},
		{Spec{Command: "true", Env: []string{"NOEQUALS"}}, `launcher env entry "NOEQUALS": want KEY=value`},
		{Spec{Command: "true", Env: []string{"=x"}}, `launcher env entry "=x": want KEY=value`},
		{Spec{Command: "true", Env: []string{"A=\x00"}}, `launcher env entry "A=\x00": contains a NUL byte`},
		{Spec{Command: "true", Timeout: -time.Second}, `launcher timeout -1s: negative`},
	} {
		err := tc.spec.Validate()
		require.Error(t, err, tc.spec.Command)
		require.Contains(t, err.Error(), tc.want, tc.spec.Command)
	}
}

func TestSpecDefaults(t *testing.T) {
	t.Parallel()
	require.Equal(t, DefaultMaxOutput, Spec{}.maxOutput())
	require.Equal(t, DefaultMaxOutput, Spec{MaxOutput: -1}.maxOutput())
	require.Equal(t, 10, Spec{MaxOutput: 10}.maxOutput())
	require.Equal(t, DefaultKillGrace, Spec{}.killGrace())
	require.Equal(t, DefaultKillGrace, Spec{KillGrace: -time.Second}.killGrace())
	require.Equal(t, time.Second, Spec{KillGrace: time.Second}.killGrace())
}

func TestEnvironOrder(t *testing.T) {
	t.Parallel()
	env := Spec{Env: []string{"A=1", "JOBD_SLOT=from-spec", "B", "A=2"}}.environ(Job{ID: 7, Target: "t", Slot: "s", Attempt: 2})
	n := len(env)
	require.Equal(t, []string{"B", "A=2", "JOBD_JOB_ID=7", "JOBD_TARGET=t", "JOBD_SLOT=s", "JOBD_ATTEMPT=2"}, env[n-6:],
		"Spec.Env, then the job's variables; one entry per name, the last one")
	require.Equal(t, os.Environ(), env[:n-6], "jobd's own environment comes first")

	// Specs with other variables, one after the other, each get their own.
	other := Spec{Env: []string{"A=3"}}.environ(Job{ID: 8, Target: "u"})
	require.Equal(t, []string{"A=3", "JOBD_JOB_ID=8", "JOBD_TARGET=u", "JOBD_SLOT=", "JOBD_ATTEMPT=0"}, other[len(other)-5:])
	require.Equal(t, os.Environ(), Spec{}.environ(Job{ID: 9})[:n-6])
	require.Equal(t, env, Spec{Env: []string{"A=1", "JOBD_SLOT=from-spec", "B", "A=2"}}.environ(Job{ID: 7, Target: "t", Slot: "s", Attempt: 2}))
}
