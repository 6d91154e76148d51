package launch

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultMaxOutput is the cap on each captured stream when Spec.MaxOutput is
// not positive.
const DefaultMaxOutput = 1 << 20

// DefaultKillGrace is the time between SIGTERM and SIGKILL when
// Spec.KillGrace is not positive.
const DefaultKillGrace = 5 * time.Second

// Spec is how a target launches its jobs (from the config).
type Spec struct {
	Command   string        // template; {id}, {target}, {slot} are substituted
	Shell     bool          // run under /bin/sh -c; substituted values are shell-quoted
	Dir       string        // working directory; "" = jobd's own
	Env       []string      // extra "KEY=value" entries, added to jobd's environment (os.Environ())
	MaxOutput int           // cap per stream (stdout, stderr) in bytes; <=0 means DefaultMaxOutput (1 MiB)
	Timeout   time.Duration // 0 = no timeout
	KillGrace time.Duration // between SIGTERM and SIGKILL, for timeouts and Stop; <=0 means DefaultKillGrace (5s)
}

// Job identifies what to run.
type Job struct {
	ID      int64
	Target  string
	Slot    string // may be ""
	Attempt int    // 1 for the first run
}

// Validate checks a Spec at config time: the template (unbalanced quotes, an
// empty command, shell syntax in direct mode, a placeholder where it could not
// be substituted safely in shell mode), the Env entries and the timeout. Its
// errors quote the template or the bad value. Config loading calls it for
// every target; Start checks the template again, so an unvalidated Spec is
// never unsafe, only reported later.
func (s Spec) Validate() error {
	if strings.IndexByte(s.Command, 0) >= 0 {
		return fmt.Errorf("launcher template %q: contains a NUL byte", s.Command)
	}
	if s.Shell {
		if _, err := shellPlaceholders(s.Command); err != nil {
			return err
		}
	} else {
		words, err := splitTemplate(s.Command)
		if err != nil {
			return err
		}
		if words[0] == "" {
			return fmt.Errorf("launcher template %q: the command is an empty string", s.Command)
		}
	}
	for _, kv := range s.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("launcher env entry %q: want KEY=value", kv)
		}
		if strings.IndexByte(kv, 0) >= 0 {
			return fmt.Errorf("launcher env entry %q: contains a NUL byte", kv)
		}
	}
	if s.Timeout < 0 {
		return fmt.Errorf("launcher timeout %s: negative", s.Timeout)
	}
	return nil
}

func (s Spec) maxOutput() int {
	if s.MaxOutput <= 0 {
		return DefaultMaxOutput
	}
	return s.MaxOutput
}

func (s Spec) killGrace() time.Duration {
	if s.KillGrace <= 0 {
		return DefaultKillGrace
	}
	return s.KillGrace
}

// environ is the environment of job's process: jobd's, then s.Env, then the
// job's own variables, one entry per name: where a name is given again, the
// last value wins, as with os/exec.
func (s Spec) environ(job Job) []string {
	fixed := fixedEnv(s.Env)
	env := make([]string, 0, len(fixed)+len(jobVars))
	return append(append(env, fixed...),
		"JOBD_JOB_ID="+strconv.FormatInt(job.ID, 10),
		"JOBD_TARGET="+job.Target,
		"JOBD_SLOT="+job.Slot,
		"JOBD_ATTEMPT="+strconv.Itoa(job.Attempt),
	)
}

// jobVars names the job's own variables, which environ puts last.
var jobVars = []string{"JOBD_JOB_ID=", "JOBD_TARGET=", "JOBD_SLOT=", "JOBD_ATTEMPT="}

// appendLast appends the entries of list that neither a later entry of list
// nor an entry of later names again.
func appendLast(dst, list []string, later ...[]string) []string {
	for i, kv := range list {
		name := envName(kv)
		keep := !namedIn(list[i+1:], name)
		for _, l := range later {
			keep = keep && !namedIn(l, name)
		}
		if keep {
			dst = append(dst, kv)
		}
	}
	return dst
}

// envName is "NAME=" of a "NAME=value" entry (the whole entry if it has no
// "=", which then only matches itself).
func envName(kv string) string {
	if i := strings.IndexByte(kv, '='); i >= 0 {
		return kv[:i+1]
	}
	return kv
}

func namedIn(list []string, name string) bool {
	for _, kv := range list {
		if strings.HasPrefix(kv, name) && (len(kv) == len(name) || name[len(name)-1] == '=') {
			return true
		}
	}
	return false
}

// fixedEnv is jobd's environment, then extra (a Spec's Env), one entry per
// name, without the job's own variables: what every launch of that Spec
// shares. It is worked out again only when jobd's environment changed or for
// an extra not seen since: a launch costs a copy of the environment and a
// comparison, not a deduplication. The result is shared: not to be modified.
func fixedEnv(extra []string) []string {
	raw := os.Environ()
	envCache.mu.Lock()
	defer envCache.mu.Unlock()
	if !slices.Equal(raw, envCache.raw) {
		envCache.raw = raw
		envCache.fixed = envCache.fixed[:0]
	}
	for _, f := range envCache.fixed {
		if slices.Equal(f.extra, extra) {
			return f.env
		}
	}
	env := appendLast(nil, raw, extra, jobVars)
	env = appendLast(env, extra, jobVars)
	if len(envCache.fixed) == maxFixedEnvs {
		envCache.fixed = envCache.fixed[:0]
	}
	envCache.fixed = append(envCache.fixed, fixedEnvOf{extra: slices.Clone(extra), env: env})
	return env
}

// maxFixedEnvs bounds the cache: a jobd has a Spec per target, and the
// cache starts over when it holds this many.
const maxFixedEnvs = 64

var envCache struct {
	mu    sync.Mutex
	raw   []string // os.Environ() when fixed was worked out
	fixed []fixedEnvOf
}

type fixedEnvOf struct {
	extra, env []string
}
