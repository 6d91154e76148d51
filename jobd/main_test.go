package jobd_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/jobd/jobd/store/storetest"
)

func TestMain(m *testing.M) {
	storetest.Main(&reportingM{m})
}

// reportingM runs the tests, then writes the fault report when asked.
type reportingM struct{ m *testing.M }

func (r *reportingM) Run() int {
	code := r.m.Run()
	if path := os.Getenv("JOBD_RELIABILITY_DOC"); path != "" && code == 0 {
		if err := writeFaultReport(path); err != nil {
			fmt.Fprintln(os.Stderr, "writing the reliability report:", err)
			code = 1
		}
	}
	return code
}
