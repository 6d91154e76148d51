package launch

import (
	"bytes"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkStartWait runs /bin/true {id} through Start and Wait, serially and
// from 8 goroutines per CPU, next to two baselines measured in the same run:
// a bare exec.Command("/bin/true").Run() (x-exec is launch's time per job over
// it), and os/exec doing the same work as launch, stdout and stderr into
// buffers, its own process group and the job's environment (x-piped).
func BenchmarkStartWait(b *testing.B) {
	const parallelism = 8
	nsPerOp := func(b *testing.B) float64 { return float64(b.Elapsed().Nanoseconds()) / float64(b.N) }
	var id atomic.Int64

	bare := func(b *testing.B) {
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
	}
	piped := func(b *testing.B) {
		cmd := exec.Command("/bin/true", "1")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Env = append(os.Environ(), "JOBD_JOB_ID=1", "JOBD_TARGET=bench", "JOBD_SLOT=", "JOBD_ATTEMPT=1")
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
	}
	spec := Spec{Command: "/bin/true {id}"}
	launch := func(b *testing.B) {
		p, err := Start(spec, Job{ID: id.Add(1), Target: "bench", Attempt: 1})
		if err != nil {
			b.Fatal(err)
		}
		if r := p.Wait(); !r.OK() {
			b.Fatalf("exit %v signal %q stderr %q", r.ExitCode, r.Signal, r.Stderr)
		}
	}

	for _, mode := range []string{"serial", "parallel"} {
		loop := func(b *testing.B, job func(*testing.B)) {
			b.ReportAllocs()
			// What a launch costs the launching process (jobd) in CPU, apart
			// from the child's own: the part jobd can do anything about.
			// And the child's own, to compare with a bare exec's.
			before, beforeChild := rusageCPU(b, syscall.RUSAGE_SELF), rusageCPU(b, syscall.RUSAGE_CHILDREN)
			defer func() {
				b.ReportMetric(float64((rusageCPU(b, syscall.RUSAGE_SELF)-before).Microseconds())/float64(b.N), "parent-cpu-µs/op")
				b.ReportMetric(float64((rusageCPU(b, syscall.RUSAGE_CHILDREN)-beforeChild).Microseconds())/float64(b.N), "child-cpu-µs/op")
			}()
			if mode == "serial" {
				for b.Loop() {
					job(b)
				}
				return
			}
			b.SetParallelism(parallelism)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					job(b)
				}
			})
		}
		var bareNs, pipedNs float64
		b.Run("exec/"+mode, func(b *testing.B) {
			loop(b, bare)
			bareNs = nsPerOp(b)
		})
		b.Run("exec-piped/"+mode, func(b *testing.B) {
			loop(b, piped)
			pipedNs = nsPerOp(b)
		})
		b.Run("launch/"+mode, func(b *testing.B) {
			loop(b, launch)
			if bareNs > 0 && pipedNs > 0 { // (not when run alone with -bench)
				b.ReportMetric(nsPerOp(b)/bareNs, "x-exec")
				b.ReportMetric(nsPerOp(b)/pipedNs, "x-piped")
			}
		})
	}
}

// rusageCPU is the user and system CPU time this process (RUSAGE_SELF) or
// its waited-for children (RUSAGE_CHILDREN) have used.
func rusageCPU(b *testing.B, who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
