package main

import (
	"testing"

	"github.com/jobd/jobd/store/storetest"
)

// TestMain runs the tests against a private MariaDB; the binaries jobdtest
// builds are removed when storetest.Main ends.
func TestMain(m *testing.M) { storetest.Main(m) }
