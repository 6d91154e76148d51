package store_test

import (
	"testing"

	"github.com/jobd/jobd/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }
