// Package jobdtest runs the real jobd, jobd-master and jobctl binaries for
// end-to-end tests: it builds them once per test binary, starts them with a
// config written to a temporary directory, learns their address from their
// JSON log, and stops them when the test ends (printing their logs when it
// failed).
package jobdtest
