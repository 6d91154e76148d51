package launch

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
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
// job's own variables. exec.Cmd keeps the last entry for a name.
func (s Spec) environ(job Job) []string {
	env := slices.Grow(os.Environ(), len(s.Env)+4)
	env = append(env, s.Env...)
	return append(env,
		"JOBD_JOB_ID="+strconv.FormatInt(job.ID, 10),
		"JOBD_TARGET="+job.Target,
		"JOBD_SLOT="+job.Slot,
		"JOBD_ATTEMPT="+strconv.Itoa(job.Attempt),
	)
}
