//go:build race

package jobdtest

const raceEnabled = true
