package origconf

import "strings"

// Log writes the [log] section from the original's log_file,
// log_level_file and log_level_console. The original logged to a file and
// to the console, each at its own level; here there is one place at one
// level: the file at the file's level when there is a file (the console's
// level is noted in a comment), else stderr at the console's level.
// otherwise is the level for a level log4js does not know (see Level).
func (c *Converter) Log(otherwise string) {
	file, _ := c.Get("log_file")
	fileLevel, _ := c.Get("log_level_file")
	consoleLevel, _ := c.Get("log_level_console")
	c.Section("log")
	level := consoleLevel.Value
	if file.Value != "" {
		c.KV("file", file.Value)
		level = fileLevel.Value
		if consoleLevel.Value != "" {
			c.Comment("log_level_console = %s: %s logs to one place, the file above, at one level.", consoleLevel.Value, c.prog)
		}
	}
	if level == "" {
		level = "warn" // the original's default, for the file and the console alike
	}
	c.KV("level", Level(level, otherwise))
}

// Level maps a level of log4js, the original's logger, to slog's, in any
// case: ALL, TRACE and DEBUG are debug, INFO info, WARN warn, and ERROR,
// FATAL, MARK and OFF error. Any other level is otherwise.
func Level(l, otherwise string) string {
	switch strings.ToLower(l) {
	case "trace", "debug", "all":
		return "debug"
	case "info":
		return "info"
	case "warn", "warning":
		return "warn"
	case "error", "fatal", "mark", "off":
		return "error"
	default:
		return otherwise
	}
}
