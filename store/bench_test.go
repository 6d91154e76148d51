package store_test

import (
	"fmt"
	"testing"

	"github.com/jobd/jobd/store"
	"github.com/jobd/jobd/store/storetest"
)

// BenchmarkClaim measures one claim of a batch of 100 jobs (one transaction:
// select, update, commit) on tables of 1,000 and 1,000,000 waiting jobs over
// 10 targets. Claimed jobs are released between iterations, untimed, so the
// table keeps its size.
//
//	go test ./store -run '^$' -bench Claim -count 5
func BenchmarkClaim(b *testing.B) {
	for _, size := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("waiting=%d", size), func(b *testing.B) {
			s, db := storetest.NewStore(b, store.Options{})
			storetest.FillWaiting(b, db, "", size, 10)
			ctx := storetest.Context(b)
			b.ResetTimer()
			for i := range b.N {
				target := fmt.Sprintf("t%d", i%10)
				claimed, err := s.JobsClaim(ctx, store.ClaimParams{InstanceID: 1, Buckets: []store.Bucket{{Target: target, Limit: 100}}})
				if err != nil {
					b.Fatal(err)
				}
				if len(claimed.Jobs) != 100 {
					b.Fatalf("claimed %d jobs, want 100", len(claimed.Jobs))
				}
				b.StopTimer()
				if _, err := s.JobsRelease(ctx, 1, ids(claimed.Jobs)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/claim")
		})
	}
}
