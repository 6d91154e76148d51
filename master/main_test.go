package master_test

import (
	"testing"

	"github.com/jobd/jobd/store/storetest"
)

// TestMain runs the unit tests (in-process masters and fake workers) and the
// end-to-end tests (real jobd and jobd-master binaries, a private MariaDB,
// started only when an end-to-end test asks for a database), then checks
// that no goroutine was left running. The binaries jobdtest built are
// removed when storetest.Main ends.
func TestMain(m *testing.M) { storetest.Main(m) }
