package rpc

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
)

// JobResult is the outcome of one job in a run-manual answer.
type JobResult struct {
	Result string  `json:"result"` // "ok" or "fail"
	Code   *int    `json:"code"`   // exit code; null when killed by a signal or never started
	Signal *string `json:"signal"` // "SIGTERM"…; null when it exited by itself
	Stdout string  `json:"stdout"`
	Stderr string  `json:"stderr"`
}

// RunManualReply answers run-manual: finished jobs and jobs that could not be
// run, each keyed by job id as a decimal string. Each key is present only
// when not empty.
type RunManualReply struct {
	Jobs   map[string]JobResult `json:"jobs,omitempty"`
	Errors map[string]string    `json:"errors,omitempty"`
}

// SendSignalReply answers send-signal: job id to whether the signal reached
// a running process of that job.
type SendSignalReply map[string]bool

// WorkerStatus answers a worker's status. The keys after MemoryUsage are
// extensions, left out when empty so an original jobd's answer decodes too.
type WorkerStatus struct {
	Targets          map[string]TargetStatus `json:"targets"`
	JobPromisesCount int                     `json:"jobPromisesCount"`
	MemoryUsage      MemoryUsage             `json:"memoryUsage"`

	Name          string          `json:"name,omitempty"`
	InstanceID    int64           `json:"instanceId,omitempty"`
	Version       string          `json:"version,omitempty"`
	UptimeSeconds float64         `json:"uptime,omitempty"`
	Database      *DatabaseStatus `json:"database,omitempty"`
}

// TargetStatus is one target in a worker's status. Length counts queued
// plus running jobs; Running, Queued and Slots are extensions.
type TargetStatus struct {
	Paused      bool                  `json:"paused"`
	Concurrency int                   `json:"concurrency"`
	Length      int                   `json:"length"`
	Running     *int                  `json:"running,omitempty"`
	Queued      *int                  `json:"queued,omitempty"`
	Slots       map[string]SlotStatus `json:"slots,omitempty"`
}

// SlotStatus is one slot of a target in a worker's status.
type SlotStatus struct {
	Concurrency int `json:"concurrency"`
	Running     int `json:"running"`
	Queued      int `json:"queued"`
}

// DatabaseStatus is the worker's view of its database.
type DatabaseStatus struct {
	State           string `json:"state"` // "ok" or "down"
	Error           string `json:"error,omitempty"`
	PendingOutcomes int    `json:"pendingOutcomes"` // results kept until the database is back
}

// MemoryUsage is a process's memory, in bytes, under the names the original
// (Node's process.memoryUsage) used.
type MemoryUsage struct {
	RSS       int64 `json:"rss"`
	HeapTotal int64 `json:"heapTotal"`
	HeapUsed  int64 `json:"heapUsed"`
}

// ReadMemoryUsage reports this process's memory: the resident set from
// /proc/self/statm (0 where that is not available) and the Go heap.
func ReadMemoryUsage() MemoryUsage {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return MemoryUsage{
		RSS:       readRSS(),
		HeapTotal: int64(ms.HeapSys),
		HeapUsed:  int64(ms.HeapAlloc),
	}
}

func readRSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := bytes.Fields(b)
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(string(fields[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// WorkerInfo is one registered worker in the master's status.
type WorkerInfo struct {
	Name              string        `json:"name"`
	RemoteAddr        string        `json:"remoteAddr"`
	RemotePort        int           `json:"remotePort"`
	Targets           []string      `json:"targets"`
	WorkerStatus      *WorkerStatus `json:"workerStatus,omitempty"`
	WorkerStatusError string        `json:"workerStatusError,omitempty"`
}

// MasterStatus answers the master's status.
type MasterStatus struct {
	Workers     []WorkerInfo `json:"workers"`
	MemoryUsage MemoryUsage  `json:"memoryUsage"`
}
