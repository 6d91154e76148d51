// Package launch starts and supervises the process of one job: the launcher
// command with the job's id, target and slot substituted, in its own process
// group, with output captured and capped, a timeout, and signals to the group.
//
// It knows nothing of the store, the wire protocol or the worker: [Start]
// takes a [Spec] (how a target launches its jobs, from the config) and a
// [Job] (what to run) and returns a [Process]; [Process.Wait] returns its
// [Result].
//
// # The template
//
// {id}, {target} and {slot} in Spec.Command are replaced by the job's values
// ("" for an empty slot). Other text in braces is left alone. Values are
// substituted in one pass: a target whose name contains "{slot}" stays as it is.
//
// Direct mode (Shell false, the default) runs no shell. The template is split
// into words by the POSIX shell grammar (mvdan.cc/sh/v3/syntax), quotes and
// backslashes are removed, and only then are the placeholders replaced inside
// each word, so a value becomes part of exactly one argument whatever it holds:
// a target named `a b; rm -rf /` is one argument, literally. A template of plain
// words separated by blanks (`php /srv/app/launcher.php {id}`) splits on the
// blanks exactly as the original jobd did. Nothing is expanded: "*", "?", "["
// and "{a,b}" are literal, a "#" that starts a word starts a comment, and
// anything that only a shell could do ($VAR, $(...), `...`, a leading ~,
// ;, |, &&, redirections, VAR=value before the command) is rejected by
// [Spec.Validate] and [Start] with the position and a hint to quote it or set
// shell = true. Placeholders are replaced inside quotes too (there is no shell
// to care), so '--name={target}' is fine.
//
// Shell mode (Shell true) runs /bin/sh -c with the template, each placeholder
// replaced by its value quoted for the shell: always in quotes, by
// syntax.Quote, or in plain single quotes where syntax.Quote would leave the
// value bare or will not quote it for POSIX sh (a newline, other unprintable
// characters, invalid UTF-8); between single quotes every byte stands for
// itself. A quoted value is only safe where the shell reads a plain word, so
// a placeholder is accepted only in an unquoted part of a command's word, an
// assignment value, a redirection target, a for list or a case word or
// pattern, including inside $(...). Anywhere else (inside quotes or
// backquotes, in a comment, a here-document, ${...} or $((...)), or after a
// backslash or a $) it is an error, found by parsing the template; use the
// job's environment there ("$JOBD_TARGET"). The template is parsed as POSIX
// sh, so bash-only syntax is refused.
//
// In both modes a placeholder may be (part of) the command itself
// (/srv/launchers/{target}), which lets the job's values choose the program.
// A value holding a NUL byte cannot be passed to a process and fails Start.
//
// # Environment and directory
//
// The process gets jobd's environment (os.Environ), then Spec.Env, then
// JOBD_JOB_ID, JOBD_TARGET, JOBD_SLOT and JOBD_ATTEMPT; a later entry for the
// same name wins. It runs in Spec.Dir, or jobd's own directory when that is
// empty. Stdin is /dev/null.
//
// # Process group and the end of a job
//
// The launcher is the leader of a new process group (its pgid is its pid), and
// every signal jobd sends goes to the whole group: [Process.Signal], the
// SIGTERM and SIGKILL of a timeout and of [Process.Stop]. When the launcher
// exits, by itself or not, everything still running in its group is sent
// SIGKILL, so no job leaves orphans behind. To make that safe against pid
// reuse, the launcher is first waited for without being reaped (waitid with
// WNOWAIT, on a pidfd watched by Go's poller, so a running job holds no
// thread): as a zombie it still holds its pid and so its group's id, the
// group is killed, and only then is it reaped.
//
// A process that leaves the group (setsid, setpgid) is not killed. If it
// still holds the job's stdout or stderr open, reading stops 2s after the
// launcher has exited (a read deadline) and a note says so in stderr, so it
// cannot hold the job open either.
//
// # Timeout and Stop
//
//	running --(Timeout, or Stop)--> SIGTERM to the group
//	        --(grace, if the launcher still runs)--> SIGKILL to the group
//	launcher exits (any state) --> SIGKILL to what is left of the group,
//	        reap, drain output (at most 2s), Done is closed
//
// The grace is Spec.KillGrace (DefaultKillGrace if unset) for a timeout, and
// the argument of Stop (or Spec.KillGrace when that is not positive). A second
// Stop, or a timeout after Stop, can only bring SIGKILL closer. Result.Signal
// names the signal that ended the launcher itself, and stderr ends with a note
// on its own line saying what jobd did:
//
//	jobd: timed out after 2s; sent SIGTERM to the process group, then SIGKILL after 1s
//	jobd: stopped; sent SIGTERM to the process group
//
// # Output
//
// stdout and stderr are read concurrently, so a child filling one while jobd
// reads the other cannot deadlock. Each is kept in at most Spec.MaxOutput bytes
// of memory (DefaultMaxOutput, 1 MiB): the first half and the last half of
// the cap, with a line in between saying how much was left out:
//
//	[jobd: 208666624 bytes omitted here; 209715200 bytes of output, over the cap of 1048576; kept the first 524288 and the last 524288]
//
// The bytes are passed on raw: invalid UTF-8 and NUL bytes are kept, and
// making them fit a text column is the store's business.
package launch
